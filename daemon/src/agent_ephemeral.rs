//! `agent.ephemeral`: the agent as an ephemeral container of the target pod, sharing the target
//! container's process namespace (`targetContainerName`) and the pod's network, so it needs no
//! `hostPID` and no pod of its own. Kubernetes cannot remove an ephemeral container: the agent
//! ends when its daemon is gone and leaves a terminated container behind; its Secret, owned by
//! the pod, is deleted with the agent.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::Client;
use serde_json::json;

use crate::agent_pod::{self, AgentContainer, AgentPod, Owner, Started};
use crate::agents::{AgentError, Progress};
use crate::config::AgentConfig;
use crate::target::PodTarget;
use crate::workloads::api_error;

/// Adds the agent to `target`'s pod, waits until it reports ready and connects to it.
pub async fn start(
    client: Client,
    target: &PodTarget,
    config: &AgentConfig,
    owner: &Owner,
    token: &str,
    progress: &Progress,
) -> Result<Started, AgentError> {
    let id = crate::token::random()[..10].to_ascii_lowercase();
    let name = format!("tether-agent-{id}");
    // The pod's network is the target's: a port of its own would collide with the target's.
    let port = 20_000 + u16::from_str_radix(&id[..4], 36).unwrap_or(0) % 40_000;
    let namespace = target.namespace.as_str();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let what = format!("pod {} in namespace {namespace}", target.pod);
    let pod = pods.get(&target.pod).await.map_err(|err| api_error(err, &what))?;
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();

    progress(&format!("adding agent container {name} to pod {}", target.pod));
    let secret: Secret = agent_pod::from_json(json!({
        "metadata": {
            "name": name,
            "labels": agent_pod::labels(owner, &id),
            "ownerReferences": [{ "apiVersion": "v1", "kind": "Pod", "name": target.pod, "uid": pod_uid }],
        },
        "type": "Opaque",
        "stringData": { "token": token },
    }))?;
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .map_err(|err| agent_pod::creation_error(err, "secrets", namespace))?;
    let args: Vec<String> =
        ["--pid".to_string(), "1".to_string()].into_iter().chain(agent_pod::serving_args(port)).collect();
    let container = json!({ "spec": { "ephemeralContainers": [{
        "name": name,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy.as_str(),
        "targetContainerName": target.container,
        "args": args,
        "env": [{ "name": "TETHER_AGENT_TOKEN", "valueFrom": { "secretKeyRef": { "name": name, "key": "token" } } }],
        "securityContext": agent_pod::security_context(config),
    }]}});
    let added =
        pods.patch_ephemeral_containers(&target.pod, &PatchParams::default(), &Patch::Strategic(&container)).await;
    if let Err(err) = added {
        let _ = secrets.delete(&name, &DeleteParams::default()).await;
        return Err(agent_pod::creation_error(err, "pods/ephemeralcontainers", namespace));
    }
    let deadline = Instant::now() + Duration::from_secs(config.startup_timeout_secs);
    let connected = async {
        let watched = watcher::Config::default().fields(&format!("metadata.name={}", target.pod));
        agent_pod::running(&pods, watched, &AgentContainer::Ephemeral(name.clone()), deadline, progress).await?;
        let startup = agent_pod::startup_report(&pods, &target.pod, &name, deadline).await?;
        progress(&format!("agent container {name} is ready; connecting through the API server"));
        let link = agent_pod::forward(&pods, &target.pod, port, token).await?;
        Ok::<_, AgentError>((link, startup))
    };
    let (link, (target_pid, target_id)) = match connected.await {
        Ok(connected) => connected,
        Err(err) => {
            let _ = secrets.delete(&name, &DeleteParams::default()).await;
            return Err(err);
        }
    };
    Ok(Started {
        link,
        pod: AgentPod {
            client,
            namespace: namespace.to_string(),
            job: None,
            secret: name,
            pod: target.pod.clone(),
            pod_uid,
            port,
            token: token.to_string(),
        },
        target_pid,
        target_id,
    })
}
