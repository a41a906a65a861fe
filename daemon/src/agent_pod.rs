//! Agents in a Kubernetes cluster: a Job (one pod, pinned to the target's node) per target
//! container, its token in a Secret the Job owns, reached through a port-forward of the API
//! server to the agent's loopback port. Start-up is reported as progress and every failure
//! Kubernetes explains becomes a typed error with its message.

use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, LogParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use serde_json::json;
use tether_rpc_schema::startup::{AgentStartup, StartupFailure};

use crate::agent_link::AgentLink;
use crate::agents::{AgentError, Progress};
use crate::config::AgentConfig;
use crate::target::PodTarget;
use crate::workloads::api_error;

/// Labels every agent object carries; the owner label tells whose daemon made it.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "tether");
pub const OWNER_LABEL: &str = "tether.dev/owner";
/// Which of the owner's tether installations (state directories) made it: a daemon cleans up
/// after its own predecessors only, never after another daemon of the same user that runs.
pub const INSTALL_LABEL: &str = "tether.dev/install";
/// Which daemon process made it: cleaning up after its predecessors, a daemon leaves the agent
/// pods it starts meanwhile alone.
const DAEMON_LABEL: &str = "tether.dev/daemon";
const AGENT_LABEL: &str = "tether.dev/agent";
const CONTAINER: &str = "agent";
/// The agent's port inside its pod's own network namespace.
const AGENT_PORT: u16 = 47_431;
/// A backstop should a daemon and its agent both fail to end the pod.
const ACTIVE_DEADLINE_SECS: i64 = 24 * 3600;
/// Seconds the agent waits for the daemon's first connection.
const AGENT_IDLE_SECS: u32 = 60;
/// Seconds the agent waits for its daemon to come back through a new port-forward. With the
/// Job's deletion after it ends, an agent whose daemon died is gone within about 10 s.
pub const RECONNECT_GRACE_SECS: u32 = 6;

/// Where and for what an agent pod runs.
pub enum Place<'a> {
    /// Next to a container of a pod, on its node, seeing the node's processes.
    Container(&'a PodTarget),
    /// In a namespace of its own choosing, serving its own network and DNS.
    Targetless { namespace: &'a str },
}

/// An agent the daemon made in a cluster: a Job's pod, or an ephemeral container of the target
/// pod (`agent_ephemeral`). Deleting it deletes the Job (its pod and Secret go with it), or the
/// Secret of an ephemeral container (which Kubernetes cannot remove; it ends with its agent).
#[derive(Clone)]
pub struct AgentPod {
    pub client: Client,
    pub namespace: String,
    /// The agent's Job; `None` for an ephemeral container.
    pub job: Option<String>,
    /// The Secret with the agent's token.
    pub secret: String,
    /// The pod the agent runs in (for an ephemeral container, the target pod).
    pub pod: String,
    pub pod_uid: String,
    /// The agent's loopback port in that pod.
    pub port: u16,
    /// The agent's token, for connecting again (never logged).
    pub token: String,
}

impl AgentPod {
    /// A new link to this agent, after its port-forward was cut: the agent waits
    /// [`RECONNECT_GRACE_SECS`] for it.
    pub async fn reconnect(&self) -> Result<AgentLink, AgentError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        forward(&pods, &self.pod, self.port, &self.token).await
    }

    /// Deletes the agent's Job (its pod and Secret go with it), in the background.
    pub fn delete(&self) -> tokio::task::JoinHandle<()> {
        let (client, namespace, job, secret) =
            (self.client.clone(), self.namespace.clone(), self.job.clone(), self.secret.clone());
        tokio::spawn(async move {
            match job {
                Some(job) => delete_job(client, &namespace, &job).await,
                None => {
                    let secrets: Api<Secret> = Api::namespaced(client, &namespace);
                    if let Err(err) = secrets.delete(&secret, &DeleteParams::default()).await {
                        tracing::debug!(%err, %secret, "deleting the agent's secret");
                    }
                }
            }
        })
    }
}

/// A started agent pod: its link and what it reported.
pub struct Started {
    pub link: AgentLink,
    pub pod: AgentPod,
    pub target_pid: u32,
    pub target_id: String,
}

/// Creates the agent pod for `place`, waits until it reports ready and connects to it.
pub async fn start(
    client: Client,
    place: Place<'_>,
    config: &AgentConfig,
    owner: &Owner,
    token: &str,
    progress: &Progress,
) -> Result<Started, AgentError> {
    let id = crate::token::random()[..10].to_ascii_lowercase();
    let name = format!("tether-agent-{id}");
    let namespace = match &place {
        Place::Container(target) => config.namespace.clone().unwrap_or_else(|| target.namespace.clone()),
        Place::Targetless { namespace } => (*namespace).to_string(),
    };
    let labels = labels(owner, &id);
    let pod_spec = pod_spec(&place, config, &name);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);

    // A dry run of the pod meets admission (pod security, quotas, RBAC) with nothing created,
    // so its refusal is Kubernetes' own message rather than a Job that never gets a pod.
    let dry_pod: Pod = from_json(json!({ "metadata": { "name": name, "labels": labels }, "spec": pod_spec }))?;
    pods.create(&PostParams { dry_run: true, ..PostParams::default() }, &dry_pod)
        .await
        .map_err(|err| creation_error(err, "pods", &namespace))?;

    progress(&format!("creating agent pod {name} in namespace {namespace}"));
    let secret: Secret = from_json(json!({
        "metadata": { "name": name, "labels": labels },
        "type": "Opaque",
        "stringData": { "token": token },
    }))?;
    secrets.create(&PostParams::default(), &secret).await.map_err(|err| creation_error(err, "secrets", &namespace))?;
    let job: Job = from_json(json!({
        "metadata": { "name": name, "labels": labels },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 0,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECS,
            "template": { "metadata": { "labels": labels }, "spec": pod_spec },
        },
    }))?;
    let created = match jobs.create(&PostParams::default(), &job).await {
        Ok(created) => created,
        Err(err) => {
            let _ = secrets.delete(&name, &DeleteParams::default()).await;
            return Err(creation_error(err, "jobs", &namespace));
        }
    };
    // Owned by the Job, the Secret goes with it, whoever deletes the Job (the TTL controller too).
    let owner_patch = json!({ "metadata": { "ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": name,
        "uid": created.metadata.uid.clone().unwrap_or_default(), "blockOwnerDeletion": false,
    }]}});
    if let Err(err) = secrets.patch(&name, &PatchParams::default(), &Patch::Merge(&owner_patch)).await {
        tracing::warn!(%err, secret = %name, "the agent's secret is not owned by its job; it is deleted with the agent");
    }
    let deadline = Instant::now() + Duration::from_secs(config.startup_timeout_secs);
    let outcome = connect(&pods, &id, token, deadline, progress).await;
    match outcome {
        Ok((link, pod, startup)) => {
            let (target_pid, target_id) = startup;
            Ok(Started {
                link,
                pod: AgentPod {
                    client,
                    namespace,
                    job: Some(name.clone()),
                    secret: name,
                    pod: pod.metadata.name.unwrap_or_default(),
                    pod_uid: pod.metadata.uid.unwrap_or_default(),
                    port: AGENT_PORT,
                    token: token.to_string(),
                },
                target_pid,
                target_id,
            })
        }
        Err(err) => {
            delete_job(client, &namespace, &name).await;
            Err(err)
        }
    }
}

async fn connect(
    pods: &Api<Pod>,
    id: &str,
    token: &str,
    deadline: Instant,
    progress: &Progress,
) -> Result<(AgentLink, Pod, (u32, String)), AgentError> {
    let watched = watcher::Config::default().labels(&format!("{AGENT_LABEL}={id}"));
    let pod = running(pods, watched, &AgentContainer::Job, deadline, progress).await?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let startup = startup_report(pods, &pod_name, CONTAINER, deadline).await?;
    progress(&format!("agent pod {pod_name} is ready; connecting through the API server"));
    let link = forward(pods, &pod_name, AGENT_PORT, token).await?;
    Ok((link, pod, startup))
}

/// Where in a pod the agent's container is.
pub enum AgentContainer {
    /// The one container of an agent Job's pod.
    Job,
    /// An ephemeral container of that name in the target pod.
    Ephemeral(String),
}

/// A link to the agent on `port` of `pod` through a new port-forward, which lives as long as the
/// link.
pub async fn forward(pods: &Api<Pod>, pod: &str, port: u16, token: &str) -> Result<AgentLink, AgentError> {
    let mut forwarder = pods.portforward(pod, &[port]).await.map_err(|err| match err {
        kube::Error::Api(status) if status.is_forbidden() => AgentError::NotPermitted(format!(
            "cannot reach agent pod {pod} through a port-forward: {}; see agent-image/rbac.yaml for what tether needs",
            status.message
        )),
        other => {
            AgentError::StartFailed(format!("port-forward to agent pod {pod}: {}", crate::clusters::describe(&other)))
        }
    })?;
    let stream = forwarder
        .take_stream(port)
        .ok_or_else(|| AgentError::StartFailed("the port-forward offered no stream".to_string()))?;
    let forward_errors = forwarder.take_error(port);
    let link = AgentLink::over(stream, token)
        .await
        .map_err(|err| AgentError::StartFailed(format!("connecting to agent pod {pod}: {err}")))?;
    let ended = link.clone();
    tokio::spawn(async move {
        if let Some(errors) = forward_errors {
            tokio::spawn(async move {
                if let Some(error) = errors.await {
                    tracing::warn!(%error, "the agent's port-forward reported an error");
                }
            });
        }
        ended.ended().await;
        drop(forwarder);
    });
    Ok(link)
}

/// Waits until the agent's container in the pod `watched` selects runs, reporting each step;
/// Kubernetes' reasons become errors.
pub async fn running(
    pods: &Api<Pod>,
    watched: watcher::Config,
    container: &AgentContainer,
    deadline: Instant,
    progress: &Progress,
) -> Result<Pod, AgentError> {
    let mut events = std::pin::pin!(watcher::watcher(pods.clone(), watched).default_backoff());
    let mut last = "no pod yet".to_string();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(remaining, events.try_next()).await {
            Err(_) => {
                return Err(AgentError::StartTimeout(format!(
                    "the agent pod did not start in time (agent.startup_timeout_secs); last seen: {last}"
                )))
            }
            Ok(Err(err)) => {
                tracing::debug!(%err, "watching the agent pod");
                continue;
            }
            Ok(Ok(None)) => return Err(AgentError::StartFailed("the watch of the agent pod ended".to_string())),
            Ok(Ok(Some(event))) => event,
        };
        let (watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event else { continue };
        match pod_state(&pod, container) {
            PodState::Waiting(state) => {
                if state != last {
                    progress(&state);
                    last = state;
                }
            }
            PodState::Running => return Ok(pod),
            PodState::Failed(err) => return Err(err),
        }
    }
}

enum PodState {
    Waiting(String),
    Running,
    Failed(AgentError),
}

/// What a pod's status says about the start of the agent's container in it.
fn pod_state(pod: &Pod, agent: &AgentContainer) -> PodState {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(status) = &pod.status else { return PodState::Waiting(format!("agent pod {name} created")) };
    if status.phase.as_deref() == Some("Failed") && matches!(agent, AgentContainer::Job) {
        let reason = status.reason.clone().unwrap_or_default();
        let message = status.message.clone().unwrap_or_default();
        if !reason.is_empty() {
            return PodState::Failed(AgentError::NodeRefused(format!(
                "the node refused agent pod {name} ({reason}): {message}; lower agent.resources or pick another target"
            )));
        }
    }
    let container = match agent {
        AgentContainer::Job => status.container_statuses.iter().flatten().find(|status| status.name == CONTAINER),
        AgentContainer::Ephemeral(container) => {
            status.ephemeral_container_statuses.iter().flatten().find(|status| status.name == *container)
        }
    };
    let state = container.and_then(|container| container.state.as_ref());
    if let Some(waiting) = state.and_then(|state| state.waiting.as_ref()) {
        let reason = waiting.reason.clone().unwrap_or_default();
        let message = waiting.message.clone().unwrap_or_default();
        if matches!(reason.as_str(), "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull") {
            let image = container.map(|container| container.image.clone()).unwrap_or_default();
            return PodState::Failed(AgentError::ImagePull(format!(
                "the node cannot pull the agent image {image} ({reason}): {message}; check agent.image and agent.image_pull_policy"
            )));
        }
        return PodState::Waiting(format!("agent pod {name}: {reason}"));
    }
    if state.is_some_and(|state| state.running.is_some() || state.terminated.is_some()) {
        return PodState::Running;
    }
    let scheduled = status.conditions.iter().flatten().any(|c| c.type_ == "PodScheduled" && c.status == "True");
    PodState::Waiting(if scheduled {
        format!(
            "agent pod {name} scheduled on {}",
            pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default()
        )
    } else {
        format!("agent pod {name} pending")
    })
}

/// The agent's start-up report: the first line of its log that is one. Logs of stdout and
/// stderr are merged by the node, so every other line is skipped.
pub async fn startup_report(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    deadline: Instant,
) -> Result<(u32, String), AgentError> {
    let params = LogParams { container: Some(container.to_string()), follow: true, ..LogParams::default() };
    let read = async {
        let mut lines =
            pods.log_stream(pod, &params).await.map_err(|err| api_error(err, &format!("the log of {pod}")))?.lines();
        while let Some(line) = lines.next().await {
            let line = line.map_err(|err| AgentError::StartFailed(format!("reading the log of {pod}: {err}")))?;
            if let Ok(report) = serde_json::from_str::<AgentStartup>(&line) {
                return Ok(report);
            }
        }
        Err(AgentError::StartFailed(format!("agent pod {pod} exited without a start-up report; see its log")))
    };
    let report = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), read)
        .await
        .map_err(|_| AgentError::StartTimeout(format!("agent pod {pod} runs but did not report ready in time")))??;
    match report {
        AgentStartup::Ready { target_pid, target_id, .. } => {
            Ok((target_pid, target_id.unwrap_or_else(|| target_pid.to_string())))
        }
        AgentStartup::Failed { kind, message } => Err(match kind {
            StartupFailure::TargetNotFound => AgentError::TargetNotFound(message),
            StartupFailure::NotPermitted => AgentError::NotPermitted(message),
            _ => AgentError::StartFailed(message),
        }),
    }
}

fn pod_spec(place: &Place<'_>, config: &AgentConfig, secret: &str) -> serde_json::Value {
    let (target, node, host_pid) = match place {
        Place::Container(target) => (
            vec!["--container-id".to_string(), target.container_id.clone(), "--runtime".into(), "cgroup".into()],
            Some(target.node.clone()),
            true,
        ),
        Place::Targetless { .. } => (vec!["--pid".to_string(), "1".into()], None, false),
    };
    let args: Vec<String> = target.into_iter().chain(serving_args(AGENT_PORT)).collect();
    let security = security_context(config);
    json!({
        "restartPolicy": "Never",
        "nodeName": node,
        "hostPID": host_pid,
        "enableServiceLinks": false,
        "automountServiceAccountToken": false,
        "terminationGracePeriodSeconds": 1,
        "tolerations": [{ "operator": "Exists" }],
        "containers": [{
            "name": CONTAINER,
            "image": config.image,
            "imagePullPolicy": config.image_pull_policy.as_str(),
            "args": args,
            "env": [{ "name": "TETHER_AGENT_TOKEN", "valueFrom": { "secretKeyRef": { "name": secret, "key": "token" } } }],
            "securityContext": security,
            "resources": { "requests": config.resources.requests, "limits": config.resources.limits },
        }],
    })
}

/// Deletes an agent Job with its pod and Secret; a Job already gone is fine.
pub async fn delete_job(client: Client, namespace: &str, job: &str) {
    let jobs: Api<Job> = Api::namespaced(client, namespace);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    match jobs.delete(job, &params).await {
        Ok(_) => tracing::info!(%namespace, %job, "agent pod deleted"),
        Err(kube::Error::Api(status)) if status.is_not_found() => {}
        Err(err) => tracing::warn!(%namespace, %job, %err, "cannot delete the agent pod"),
    }
}

/// Deletes every agent Job of `owner` in `namespace` (leftovers of an earlier daemon).
pub async fn delete_owned(client: Client, namespace: &str, owner: &Owner) {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    match jobs.list(&kube::api::ListParams::default().labels(&leftovers(owner))).await {
        Ok(list) => {
            for job in list.items {
                delete_job(client.clone(), namespace, &job.metadata.name.unwrap_or_default()).await;
            }
        }
        Err(err) => tracing::warn!(%namespace, %err, "cannot list leftover agent pods"),
    }
}

/// The label selector of the agent Jobs that earlier daemons of `owner`'s installation made:
/// never this daemon's own (it may be starting one while it cleans up).
fn leftovers(owner: &Owner) -> String {
    let (user, install, daemon) = (&owner.user, &owner.install, &owner.daemon);
    format!("{}={},{OWNER_LABEL}={user},{INSTALL_LABEL}={install},{DAEMON_LABEL}!={daemon}", MANAGED_BY.0, MANAGED_BY.1)
}

/// The refusal of a create call as what to do about it.
/// The agent container's security context: the capabilities it needs, or privileged.
pub fn security_context(config: &AgentConfig) -> serde_json::Value {
    if config.privileged {
        json!({ "privileged": true, "runAsUser": 0 })
    } else {
        json!({ "runAsUser": 0, "capabilities": { "add": ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"] } })
    }
}

/// The labels of every object made for agent `id`.
pub fn labels(owner: &Owner, id: &str) -> serde_json::Value {
    json!({
        MANAGED_BY.0: MANAGED_BY.1,
        OWNER_LABEL: owner.user,
        INSTALL_LABEL: owner.install,
        DAEMON_LABEL: owner.daemon,
        AGENT_LABEL: id,
        "app.kubernetes.io/name": "tether-agent",
    })
}

/// The agent's arguments after its target's.
pub fn serving_args(port: u16) -> Vec<String> {
    vec![
        "--listen".to_string(),
        format!("127.0.0.1:{port}"),
        "--idle-timeout".to_string(),
        AGENT_IDLE_SECS.to_string(),
        "--reconnect-grace".to_string(),
        RECONNECT_GRACE_SECS.to_string(),
    ]
}

pub fn creation_error(err: kube::Error, resource: &str, namespace: &str) -> AgentError {
    match err {
        kube::Error::Api(status) if status.is_forbidden() && status.message.contains("PodSecurity") => {
            AgentError::PodSecurity(format!(
                "{}; set agent.namespace to a namespace that allows it, or ask for the policy to be relaxed",
                status.message
            ))
        }
        kube::Error::Api(status) if status.is_forbidden() => AgentError::NotPermitted(format!(
            "cannot create {resource} in namespace {namespace}: {}; see agent-image/rbac.yaml for what tether needs",
            status.message
        )),
        other => AgentError::StartFailed(format!(
            "creating the agent's {resource} in namespace {namespace}: {}",
            crate::clusters::describe(&other)
        )),
    }
}

pub fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, AgentError> {
    serde_json::from_value(value).map_err(|err| AgentError::StartFailed(format!("building the agent pod: {err}")))
}

/// Whose agent pods these are.
#[derive(Debug, Clone)]
pub struct Owner {
    /// User and machine, as a label value allows.
    pub user: String,
    /// A digest of the installation's state directory.
    pub install: String,
    /// This daemon process, at random.
    pub daemon: String,
}

impl Owner {
    /// This user on this machine, with the installation whose state lives at `state`.
    pub fn of_this_user(state: &std::path::Path) -> Owner {
        let user = std::env::var("USER").unwrap_or_else(|_| nix::unistd::Uid::effective().to_string());
        let host = nix::unistd::gethostname().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let digest = state
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
        let daemon = crate::token::random()[..12].to_string();
        Owner { user: label_value(&format!("{user}.{host}")), install: format!("{digest:016x}"), daemon }
    }
}

fn label_value(text: &str) -> String {
    let cleaned: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).take(63).collect();
    cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_labels_are_valid_label_values() {
        assert_eq!(label_value("root.dev box"), "root.dev-box");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn a_daemon_cleans_up_after_its_predecessors_but_never_its_own_agents() {
        let owner = Owner::of_this_user(std::path::Path::new("/state"));
        let labels = labels(&owner, "agent-1");
        let selector = leftovers(&owner);
        assert!(selector.contains(&format!("{INSTALL_LABEL}={}", owner.install)), "{selector}");
        assert!(
            selector.ends_with(&format!("{DAEMON_LABEL}!={}", labels[DAEMON_LABEL].as_str().unwrap())),
            "{selector}"
        );
        assert_ne!(Owner::of_this_user(std::path::Path::new("/state")).daemon, owner.daemon);
    }

    #[test]
    fn agent_pods_see_the_node_with_the_capabilities_they_need_and_no_more() {
        let target = PodTarget {
            context: "c".into(),
            namespace: "shop".into(),
            pod: "orders-1".into(),
            container: "app".into(),
            container_id: "abc123abc123".into(),
            node: "node-1".into(),
        };
        let spec = pod_spec(&Place::Container(&target), &AgentConfig::default(), "s");
        assert_eq!(spec["hostPID"], true);
        assert_eq!(spec["nodeName"], "node-1");
        let container = &spec["containers"][0];
        assert_eq!(
            container["securityContext"]["capabilities"]["add"],
            json!(["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"])
        );
        assert!(container["securityContext"].get("privileged").is_none());
        assert_eq!(container["env"][0]["valueFrom"]["secretKeyRef"]["name"], "s");
        assert!(!container["args"].to_string().contains("TOKEN"));
        let targetless = pod_spec(&Place::Targetless { namespace: "shop" }, &AgentConfig::default(), "s");
        assert_eq!(targetless["hostPID"], false);
        assert!(targetless["nodeName"].is_null());
    }

    #[test]
    fn a_failed_image_pull_is_an_image_error_with_what_to_change() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": "tether-agent-x" },
            "status": { "phase": "Pending", "containerStatuses": [{
                "name": CONTAINER, "image": "nope:1", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "waiting": { "reason": "ErrImagePull", "message": "not found" } },
            }]},
        }))
        .unwrap();
        let PodState::Failed(AgentError::ImagePull(message)) = pod_state(&pod, &AgentContainer::Job) else {
            panic!("not an image error")
        };
        assert!(message.contains("nope:1") && message.contains("agent.image"), "{message}");
    }
}
