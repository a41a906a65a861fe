//! Target specifications as users write them (`deployment/orders`, `pod/web-0/container/app`,
//! `targetless`, `pid/4242`, `container/orders`) and the targets agents are started for.

use std::fmt;

use crate::config::ContainerConfig;

/// What a user names: a Kubernetes workload, resolved to one of its pods when a session
/// starts, or a local target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    Workload(Workload),
    Local(Target),
}

/// A Kubernetes workload by kind and name, with the container to use (else the pod's default
/// container).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// Empty for `targetless`.
    pub name: String,
    pub container: Option<String>,
}

/// The kinds of Kubernetes target, one source of truth for their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Pod,
    Deployment,
    StatefulSet,
    ReplicaSet,
    Job,
    CronJob,
    Service,
    /// No pod: the namespace's cluster DNS and network only.
    Targetless,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 8] = [
        WorkloadKind::Pod,
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::ReplicaSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
        WorkloadKind::Service,
        WorkloadKind::Targetless,
    ];

    /// The kind as written in a target (`deployment/orders`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "pod",
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::StatefulSet => "statefulset",
            WorkloadKind::ReplicaSet => "replicaset",
            WorkloadKind::Job => "job",
            WorkloadKind::CronJob => "cronjob",
            WorkloadKind::Service => "service",
            WorkloadKind::Targetless => "targetless",
        }
    }

    /// The kind named `text` (`deployment`), if tether knows it.
    pub fn parse(text: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// A target an agent is started for: the pool keeps one agent per target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A local process, typically one in its own namespaces.
    Pid(u32),
    /// A container of a local container runtime (by default the host's containerd), by name
    /// or id. The runtime is part of the identity: the same name under another socket is
    /// another container.
    Container { name: String, runtime: ContainerConfig },
    /// One container of a Kubernetes pod, as resolved from a workload.
    Pod(PodTarget),
    /// A Kubernetes namespace's network and DNS, without a pod.
    Targetless { context: String, namespace: String },
}

/// A running container of a pod, named as the API names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodTarget {
    pub context: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The runtime's id without its scheme (`containerd://`): a restarted container is another
    /// target.
    pub container_id: String,
    pub node: String,
}

/// Why a target specification cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The text is not `kind/name`.
    #[error("target {0:?} is not of the form kind/name[/container/NAME]; {HINT}")]
    Malformed(String),
    /// The kind is not one tether knows.
    #[error("unknown target kind {0:?}; {HINT}")]
    UnknownKind(String),
    /// `pid/` with something that is not a number.
    #[error("{0:?} is not a process id")]
    BadPid(String),
}

const HINT: &str = "use pod/, deployment/, statefulset/, replicaset/, job/, cronjob/ or service/<name> \
    (optionally /container/<name>), targetless, or pid/<pid> or container/<name-or-id> for local targets";

impl std::str::FromStr for TargetSpec {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<TargetSpec, TargetError> {
        if text == WorkloadKind::Targetless.as_str() {
            return Ok(TargetSpec::Workload(Workload {
                kind: WorkloadKind::Targetless,
                name: String::new(),
                container: None,
            }));
        }
        let malformed = || TargetError::Malformed(text.to_string());
        let (kind, rest) = text.split_once('/').ok_or_else(malformed)?;
        if rest.is_empty() {
            return Err(malformed());
        }
        match kind {
            "pid" => rest
                .parse()
                .map(|pid| TargetSpec::Local(Target::Pid(pid)))
                .map_err(|_| TargetError::BadPid(rest.to_string())),
            "container" => {
                Ok(TargetSpec::Local(Target::Container { name: rest.to_string(), runtime: ContainerConfig::default() }))
            }
            kind => {
                let kind = WorkloadKind::parse(kind)
                    .filter(|kind| *kind != WorkloadKind::Targetless)
                    .ok_or_else(|| TargetError::UnknownKind(kind.to_string()))?;
                let (name, container) = match rest.split_once('/') {
                    None => (rest, None),
                    Some((name, container)) => match container.strip_prefix("container/") {
                        Some(container) if !name.is_empty() && !container.is_empty() && !container.contains('/') => {
                            (name, Some(container.to_string()))
                        }
                        _ => return Err(malformed()),
                    },
                };
                Ok(TargetSpec::Workload(Workload { kind, name: name.to_string(), container }))
            }
        }
    }
}

impl TargetSpec {
    /// The same target, found through the runtime a config names (for local containers).
    pub fn with_runtime(self, runtime: &ContainerConfig) -> TargetSpec {
        match self {
            TargetSpec::Local(Target::Container { name, .. }) => {
                TargetSpec::Local(Target::Container { name, runtime: runtime.clone() })
            }
            other => other,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == WorkloadKind::Targetless {
            return f.write_str(self.kind.as_str());
        }
        write!(f, "{}/{}", self.kind.as_str(), self.name)?;
        match &self.container {
            Some(container) => write!(f, "/container/{container}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Workload(workload) => workload.fmt(f),
            TargetSpec::Local(target) => target.fmt(f),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pid(pid) => write!(f, "pid/{pid}"),
            Target::Container { name, .. } => write!(f, "container/{name}"),
            Target::Pod(pod) => write!(f, "pod/{}/container/{}", pod.pod, pod.container),
            Target::Targetless { .. } => f.write_str(WorkloadKind::Targetless.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_known_kinds_round_trip() {
        for text in [
            "pid/42",
            "container/orders",
            "container/3f2a9c",
            "deployment/orders",
            "pod/web-0/container/app",
            "statefulset/inventory",
            "replicaset/orders-5854d4685d",
            "job/migrate",
            "cronjob/report",
            "service/orders",
            "targetless",
        ] {
            assert_eq!(text.parse::<TargetSpec>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_workload_names_its_kind_and_container() {
        let spec: TargetSpec = "deployment/orders/container/app".parse().unwrap();
        assert_eq!(
            spec,
            TargetSpec::Workload(Workload {
                kind: WorkloadKind::Deployment,
                name: "orders".into(),
                container: Some("app".into())
            })
        );
    }

    #[test]
    fn parse_rejects_bad_specs_with_a_hint() {
        assert_eq!("orders".parse::<TargetSpec>(), Err(TargetError::Malformed("orders".into())));
        assert_eq!("pid/abc".parse::<TargetSpec>(), Err(TargetError::BadPid("abc".into())));
        assert!(matches!("vm/x".parse::<TargetSpec>(), Err(TargetError::UnknownKind(_))));
        assert!(matches!("targetless/x".parse::<TargetSpec>(), Err(TargetError::UnknownKind(_))));
        for bad in ["pid/", "pod/web/app", "pod/web/container/", "pod//container/app", "pod/web/container/a/b"] {
            assert!(bad.parse::<TargetSpec>().is_err(), "{bad}");
        }
        let hint = "vm/x".parse::<TargetSpec>().unwrap_err().to_string();
        assert!(hint.contains("deployment/") && hint.contains("pid/<pid>"), "{hint}");
    }

    #[test]
    fn the_runtime_is_part_of_a_containers_identity() {
        let plain: TargetSpec = "container/orders".parse().unwrap();
        let runtime =
            ContainerConfig { socket: Some("/run/k3s/containerd/containerd.sock".into()), ..Default::default() };
        let elsewhere = plain.clone().with_runtime(&runtime);
        assert_ne!(plain, elsewhere);
        assert_eq!(elsewhere.to_string(), "container/orders");
        assert_eq!("pid/7".parse::<TargetSpec>().unwrap().with_runtime(&runtime), TargetSpec::Local(Target::Pid(7)));
    }
}
