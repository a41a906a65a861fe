//! Resolution of a Kubernetes workload to the container an agent serves: workload → its ready
//! pods (oldest first) → the container (named, the `kubectl.kubernetes.io/default-container`
//! annotation, else the first) → its runtime id and node.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kube::Client;

use crate::agents::AgentError;
use crate::target::{PodTarget, Workload, WorkloadKind};

const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// What a workload resolves to.
pub struct Resolved {
    /// The container of the chosen pod.
    pub target: PodTarget,
    /// The chosen pod as the API server gave it.
    pub pod: Pod,
    /// The label selector of the workload's replicas, for kinds whose pods serve alike
    /// (deployments, stateful sets, replica sets, services); `None` for a pod or a job.
    pub replicas: Option<String>,
}

/// The pod container `workload` names in `namespace`.
pub async fn resolve(
    client: &Client,
    context: &str,
    namespace: &str,
    workload: &Workload,
) -> Result<Resolved, AgentError> {
    let name = workload.name.as_str();
    let what = format!("{workload} in namespace {namespace}");
    let found = async {
        Ok(match workload.kind {
            WorkloadKind::Pod => {
                let pod = get::<Pod>(client, namespace, name, &what).await?;
                check_ready(&pod)?;
                (pod, None)
            }
            WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::ReplicaSet => {
                let selector = match workload.kind {
                    WorkloadKind::Deployment => get::<Deployment>(client, namespace, name, &what).await?.spec.selector,
                    WorkloadKind::StatefulSet => {
                        get::<StatefulSet>(client, namespace, name, &what).await?.spec.selector
                    }
                    _ => get::<ReplicaSet>(client, namespace, name, &what).await?.spec.selector,
                };
                let selector = selector_text(Some(&selector));
                (ready_pod(client, namespace, &selector, &what).await?, Some(selector))
            }
            WorkloadKind::Job => {
                let job = get::<Job>(client, namespace, name, &what).await?;
                (job_pod(client, namespace, &job, &what).await?, None)
            }
            WorkloadKind::CronJob => {
                get::<CronJob>(client, namespace, name, &what).await?;
                let jobs = list::<Job>(client, namespace, &ListParams::default(), &what).await?;
                let newest = jobs
                    .into_iter()
                    .filter(|job| {
                        job.metadata
                            .owner_references
                            .iter()
                            .flatten()
                            .any(|owner| owner.kind == "CronJob" && owner.name == name)
                    })
                    .max_by_key(|job| job.metadata.creation_timestamp.clone().map(|time| time.0))
                    .ok_or_else(|| {
                        AgentError::NotReady(format!(
                            "{what} has no job yet (nothing is running); wait for its schedule or create a job from it"
                        ))
                    })?;
                (job_pod(client, namespace, &newest, &what).await?, None)
            }
            WorkloadKind::Service => {
                let service = get::<Service>(client, namespace, name, &what).await?;
                let selector: BTreeMap<String, String> =
                    service.spec.and_then(|spec| spec.selector).unwrap_or_default();
                if selector.is_empty() {
                    return Err(AgentError::NotReady(format!(
                        "{what} has no pod selector, so no pod to take the context of"
                    )));
                }
                let text = selector.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(",");
                (ready_pod(client, namespace, &text, &what).await?, Some(text))
            }
            WorkloadKind::Targetless => unreachable!("a targetless session has no pod to resolve"),
        })
    };
    // The API's refusals are the user's to act on; anything else means the cluster is not there.
    let (pod, replicas) = found.await.map_err(|err| match err {
        AgentError::StartFailed(reason) => {
            AgentError::Cluster(crate::clusters::ClusterError::Unreachable { context: context.to_string(), reason })
        }
        other => other,
    })?;
    let target = pod_target(context, namespace, &pod, workload.container.as_deref())?;
    Ok(Resolved { target, pod, replicas })
}

/// The container of `pod` to serve, with its runtime id; an error names what is not running.
pub fn pod_target(context: &str, namespace: &str, pod: &Pod, container: Option<&str>) -> Result<PodTarget, AgentError> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let containers: Vec<&str> =
        pod.spec.iter().flat_map(|spec| spec.containers.iter()).map(|container| container.name.as_str()).collect();
    let annotated =
        pod.metadata.annotations.as_ref().and_then(|annotations| annotations.get(DEFAULT_CONTAINER_ANNOTATION));
    let chosen = match container.or(annotated.map(String::as_str)) {
        Some(name) if containers.contains(&name) => name.to_string(),
        Some(name) => {
            return Err(AgentError::TargetNotFound(format!(
                "pod {pod_name} has no container {name:?}; its containers: {}",
                containers.join(", ")
            )))
        }
        None => containers
            .first()
            .map(|name| name.to_string())
            .ok_or_else(|| AgentError::TargetNotFound(format!("pod {pod_name} has no containers")))?,
    };
    let status = pod
        .status
        .iter()
        .flat_map(|status| status.container_statuses.iter().flatten())
        .find(|status| status.name == chosen);
    let container_id = status
        .filter(|status| status.state.as_ref().is_some_and(|state| state.running.is_some()))
        .and_then(|status| status.container_id.clone())
        .ok_or_else(|| {
            AgentError::NotReady(format!("container {chosen} of pod {pod_name} is {}", container_state(status)))
        })?;
    let container_id = container_id.split_once("://").map(|(_, id)| id.to_string()).unwrap_or(container_id);
    let node = pod.spec.as_ref().and_then(|spec| spec.node_name.clone()).unwrap_or_default();
    Ok(PodTarget {
        context: context.to_string(),
        namespace: namespace.to_string(),
        pod: pod_name,
        container: chosen,
        container_id,
        node,
    })
}

/// The ports the kubelet probes over HTTP or gRPC (`httpGet` and `grpc` readiness, liveness and
/// startup probes, not HTTPS ones), whose probes must keep reaching the target while a port
/// is intercepted.
/// Every container's, sidecars' too: they all share the pod's network namespace, where the
/// port is intercepted. A named port is resolved against the probing container's `ports`, as
/// the kubelet does (a name that is not there but is a number counts as that number).
pub fn probe_ports(pod: &Pod) -> Vec<u16> {
    let Some(spec) = &pod.spec else { return Vec::new() };
    let sidecars =
        spec.init_containers.iter().flatten().filter(|container| container.restart_policy.as_deref() == Some("Always"));
    let mut ports: Vec<u16> = spec
        .containers
        .iter()
        .chain(sidecars)
        .flat_map(|container| {
            let probes = [&container.readiness_probe, &container.liveness_probe, &container.startup_probe];
            probes.into_iter().flatten().filter_map(|probe| {
                let port = match (&probe.http_get, &probe.grpc) {
                    // The agent cannot read the User-Agent of an HTTPS probe.
                    (Some(http), _) if http.scheme.as_deref() == Some("HTTPS") => None,
                    (Some(http), _) => match &http.port {
                        IntOrString::Int(port) => Some(*port),
                        IntOrString::String(name) => named_port(container, name),
                    },
                    (None, Some(grpc)) => Some(grpc.port),
                    (None, None) => None,
                };
                port.and_then(|port| u16::try_from(port).ok())
            })
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn named_port(container: &Container, name: &str) -> Option<i32> {
    let declared = container.ports.iter().flatten().find(|port| port.name.as_deref() == Some(name));
    declared.map(|port| port.container_port).or_else(|| name.parse().ok())
}

/// A label selector as the API's `labelSelector` parameter writes it.
pub fn selector_text(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else { return String::new() };
    let mut terms: Vec<String> =
        selector.match_labels.iter().flatten().map(|(key, value)| format!("{key}={value}")).collect();
    for expression in selector.match_expressions.iter().flatten() {
        let values = expression.values.clone().unwrap_or_default().join(",");
        terms.push(match expression.operator.as_str() {
            "In" => format!("{} in ({values})", expression.key),
            "NotIn" => format!("{} notin ({values})", expression.key),
            "Exists" => expression.key.clone(),
            _ => format!("!{}", expression.key),
        });
    }
    terms.join(",")
}

/// Whether a pod is Running with its Ready condition true.
pub fn is_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else { return false };
    status.phase.as_deref() == Some("Running")
        && pod.metadata.deletion_timestamp.is_none()
        && status.conditions.iter().flatten().any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

fn check_ready(pod: &Pod) -> Result<(), AgentError> {
    if is_ready(pod) {
        return Ok(());
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    let phase = pod.status.as_ref().and_then(|status| status.phase.clone()).unwrap_or_else(|| "Pending".to_string());
    let state = if pod.metadata.deletion_timestamp.is_some() {
        "being deleted".to_string()
    } else {
        format!("{phase}, not ready")
    };
    Err(AgentError::NotReady(format!("pod {name} is {state}")))
}

/// The oldest ready pod matching `selector`.
async fn ready_pod(client: &Client, namespace: &str, selector: &str, what: &str) -> Result<Pod, AgentError> {
    let pods = list::<Pod>(client, namespace, &ListParams::default().labels(selector), what).await?;
    let total = pods.len();
    pods.into_iter()
        .filter(is_ready)
        .min_by_key(|pod| pod.metadata.creation_timestamp.clone().map(|time| time.0))
        .ok_or_else(|| AgentError::NotReady(format!("{what} has no ready pod ({total} pods, none ready)")))
}

async fn job_pod(client: &Client, namespace: &str, job: &Job, what: &str) -> Result<Pod, AgentError> {
    let selector = selector_text(job.spec.as_ref().and_then(|spec| spec.selector.as_ref()));
    let job_name = job.metadata.name.clone().unwrap_or_default();
    let state = match job.status.as_ref() {
        Some(status) if status.succeeded.unwrap_or(0) > 0 => "completed",
        Some(status) if status.failed.unwrap_or(0) > 0 => "failed",
        _ => "has no ready pod",
    };
    ready_pod(client, namespace, &selector, what).await.map_err(|_| {
        AgentError::NotReady(format!("{what} has no running pod: job {job_name} {state}; run it again to debug it"))
    })
}

fn container_state(status: Option<&ContainerStatus>) -> String {
    let Some(state) = status.and_then(|status| status.state.as_ref()) else { return "not started".to_string() };
    if let Some(waiting) = &state.waiting {
        return format!("waiting ({})", waiting.reason.clone().unwrap_or_default());
    }
    if let Some(terminated) = &state.terminated {
        return format!(
            "terminated ({}, exit code {})",
            terminated.reason.clone().unwrap_or_default(),
            terminated.exit_code
        );
    }
    "not running".to_string()
}

async fn get<K>(client: &Client, namespace: &str, name: &str, what: &str) -> Result<K, AgentError>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name)
        .await
        .map_err(|err| api_error(err, what))?
        .ok_or_else(|| AgentError::TargetNotFound(format!("{what} does not exist")))
}

async fn list<K>(client: &Client, namespace: &str, params: &ListParams, what: &str) -> Result<Vec<K>, AgentError>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    Ok(api.list(params).await.map_err(|err| api_error(err, what))?.items)
}

/// A Kubernetes API error as the agent error a user can act on.
pub fn api_error(err: kube::Error, what: &str) -> AgentError {
    match err {
        kube::Error::Api(status) if status.is_forbidden() => {
            AgentError::NotPermitted(format!("looking up {what}: {}", status.message))
        }
        other => AgentError::StartFailed(format!("looking up {what}: {}", crate::clusters::describe(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateWaiting, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn pod(annotation: Option<&str>, running: &[&str]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("web-0".into());
        if let Some(default) = annotation {
            pod.metadata.annotations =
                Some(BTreeMap::from([(DEFAULT_CONTAINER_ANNOTATION.to_string(), default.to_string())]));
        }
        pod.spec = Some(PodSpec {
            containers: ["sidecar", "app"].map(|name| Container { name: name.into(), ..Default::default() }).to_vec(),
            node_name: Some("node-1".into()),
            ..Default::default()
        });
        let statuses = ["sidecar", "app"]
            .map(|name| ContainerStatus {
                name: name.into(),
                container_id: Some(format!("containerd://{name}-id")),
                state: Some(if running.contains(&name) {
                    ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }
                } else {
                    ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("CrashLoopBackOff".into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }
                }),
                ..Default::default()
            })
            .to_vec();
        pod.status = Some(PodStatus { container_statuses: Some(statuses), ..Default::default() });
        pod
    }

    #[test]
    fn the_first_container_unless_named_or_annotated() {
        let both = ["sidecar", "app"];
        assert_eq!(pod_target("c", "ns", &pod(None, &both), None).unwrap().container, "sidecar");
        assert_eq!(pod_target("c", "ns", &pod(Some("app"), &both), None).unwrap().container, "app");
        let named = pod_target("c", "ns", &pod(Some("app"), &both), Some("sidecar")).unwrap();
        assert_eq!(
            (named.container.as_str(), named.container_id.as_str(), named.node.as_str()),
            ("sidecar", "sidecar-id", "node-1")
        );
    }

    #[test]
    fn a_container_that_does_not_run_or_exist_is_named_in_the_error() {
        let err = pod_target("c", "ns", &pod(None, &["sidecar"]), Some("app")).unwrap_err().to_string();
        assert!(err.contains("container app of pod web-0 is waiting (CrashLoopBackOff)"), "{err}");
        let err = pod_target("c", "ns", &pod(None, &[]), Some("db")).unwrap_err().to_string();
        assert!(err.contains("no container \"db\"") && err.contains("sidecar, app"), "{err}");
    }

    #[test]
    fn selectors_are_written_as_the_api_reads_them() {
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), "orders".into())])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement { key: "canary".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        assert_eq!(selector_text(Some(&selector)), "app=orders,tier in (a,b),!canary");
    }

    #[test]
    fn probe_ports_are_the_http_and_grpc_probes_of_every_container_with_names_resolved() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "ports": [{"name": "http", "containerPort": 8080}, {"name": "admin", "containerPort": 9000}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
                        "startupProbe": {"grpc": {"port": 9090}}
                    },
                    {
                        "name": "sidecar",
                        "ports": [{"name": "http", "containerPort": 7070}],
                        "readinessProbe": {"httpGet": {"port": "http"}},
                        "livenessProbe": {"tcpSocket": {"port": 9000}}
                    },
                    {"name": "quiet", "livenessProbe": {"exec": {"command": ["true"]}}},
                    {"name": "odd", "readinessProbe": {"httpGet": {"port": "6060"}}},
                    {"name": "tls", "readinessProbe": {"httpGet": {"port": 8443, "scheme": "HTTPS"}}},
                    {"name": "missing", "readinessProbe": {"httpGet": {"port": "nope"}}}
                ],
                "initContainers": [
                    {"name": "proxy", "restartPolicy": "Always", "startupProbe": {"httpGet": {"port": 15020}}},
                    {"name": "migrate", "readinessProbe": {"httpGet": {"port": 5000}}}
                ]
            }
        }))
        .unwrap();
        // 9000 only has a TCP probe; 8443 speaks TLS; "nope" names no port; a plain init
        // container is not probed.
        assert_eq!(probe_ports(&pod), [6060, 7070, 8080, 9090, 15020]);
        assert_eq!(probe_ports(&Pod::default()), Vec::<u16>::new());
    }
}
