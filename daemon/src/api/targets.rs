//! `targets.*`: what a session can be prepared for — a cluster's workloads (from the target
//! caches) or, when asked for, the processes of this machine that run in network namespaces of
//! their own (stand-ins for pods) — plus pre-warming an agent and the `targets.watch`
//! subscription.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::types::Params;
use jsonrpsee::PendingSubscriptionSink;
use serde_json::value::RawValue;
use tether_rpc_schema::api::{PrewarmResult, TargetInfo, TargetsChanged, TargetsListParams, TargetsPrewarmParams};

use super::{agent_error, invalid_params, notification, RpcResult};
use crate::proc_events::ProcEvents;
use crate::state::Daemon;
use crate::target::WorkloadKind;
use crate::target_cache::{Scope, ScopeCache};

/// How often the local process table is read again for `targets.watch` when the kernel's process
/// events cannot be listened to (without `CAP_NET_ADMIN`); only while watched.
const LOCAL_RESCAN: Duration = Duration::from_secs(2);
/// Changes closer together than this make one `targets.changed`.
const COALESCE: Duration = Duration::from_millis(100);

/// A `Vec<TargetInfo>`, as JSON: a cluster's listing is serialized once per change of its cache.
pub async fn handle_list(params: Params<'static>, daemon: Arc<Daemon>) -> RpcResult<Box<RawValue>> {
    let params: TargetsListParams = super::optional(&params)?;
    if params.local {
        let targets = tokio::task::spawn_blocking(local_targets).await.unwrap_or_default();
        return Ok(serde_json::value::to_raw_value(&targets).expect("targets serialize"));
    }
    let kind = kind_of(&params)?;
    let (cache, _) = scope_cache(&daemon, &params).await?;
    Ok(cache.targets_json(kind))
}

pub async fn handle_prewarm(params: Params<'static>, daemon: Arc<Daemon>) -> RpcResult<PrewarmResult> {
    let params: TargetsPrewarmParams = params.parse()?;
    let config = super::session_config(&params.config, &params.config_path).await?;
    let target = super::resolve_target(
        &daemon,
        Some(&params.target),
        params.context.as_deref(),
        params.namespace.as_deref(),
        &config,
    )
    .await?
    .target;
    let how = crate::agents::StartWith::quietly(config.agent.clone());
    let agent = daemon.agents.get(&target, &how).await.map_err(agent_error)?;
    Ok(PrewarmResult { agent_id: agent.id.clone() })
}

/// Sends the target list now and again whenever it changes, until the client unsubscribes.
pub async fn handle_watch(params: Params<'static>, pending: PendingSubscriptionSink, daemon: Arc<Daemon>) {
    let params = match super::optional::<TargetsListParams>(&params) {
        Ok(params) => params,
        Err(err) => {
            pending.reject(err).await;
            return;
        }
    };
    let cluster = if params.local {
        None
    } else {
        match kind_of(&params) {
            Ok(kind) => match scope_cache(&daemon, &params).await {
                Ok((cache, namespace)) => Some((cache, namespace, kind)),
                Err(err) => {
                    pending.reject(err).await;
                    return;
                }
            },
            Err(err) => {
                pending.reject(err).await;
                return;
            }
        }
    };
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let mut kubeconfig_changed_rx = daemon.kubeconfig_changed_tx.subscribe();
    let mut changed_rx = cluster.as_ref().map(|(cache, ..)| cache.subscribe());
    // Local targets are listed again when a process execs or exits, else on a timer.
    let mut proc_events = cluster.is_none().then(ProcEvents::listen).and_then(|listened| {
        listened.map_err(|err| tracing::info!(%err, "no process events; local targets are rescanned every 2 s")).ok()
    });
    let mut last = None;
    loop {
        let targets = match &cluster {
            Some((cache, _, kind)) => cache.targets(*kind),
            None => tokio::task::spawn_blocking(local_targets).await.unwrap_or_default(),
        };
        if last.as_ref() != Some(&targets) {
            let changed = TargetsChanged {
                context: cluster.as_ref().map(|_| params.context.clone()).unwrap_or_default(),
                namespace: cluster.as_ref().and_then(|(_, namespace, _)| namespace.clone()),
                targets: targets.clone(),
            };
            if sink.send(notification(&changed)).await.is_err() {
                return;
            }
            last = Some(targets);
        }
        let next_change = async {
            match changed_rx.as_mut() {
                Some(changed) => {
                    if changed.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    tokio::time::sleep(COALESCE).await;
                }
                None => match proc_events.as_mut() {
                    Some(events) => {
                        if let Err(err) = events.changed().await {
                            tracing::warn!(%err, "process events failed; local targets are rescanned every 2 s");
                            proc_events = None;
                        }
                        tokio::time::sleep(COALESCE).await;
                    }
                    None => tokio::time::sleep(LOCAL_RESCAN).await,
                },
            }
        };
        tokio::select! {
            () = next_change => {}
            _ = kubeconfig_changed_rx.recv() => last = None,
            () = sink.closed() => return,
        }
    }
}

fn kind_of(params: &TargetsListParams) -> RpcResult<Option<WorkloadKind>> {
    params
        .kind
        .as_deref()
        .map(|kind| {
            WorkloadKind::parse(kind).filter(|kind| *kind != WorkloadKind::Targetless).ok_or_else(|| {
                let known: Vec<&str> = WorkloadKind::ALL[..7].iter().map(|kind| kind.as_str()).collect();
                invalid_params(format!("unknown kind {kind:?}; the kinds are {}", known.join(", ")))
            })
        })
        .transpose()
}

/// The cache for the parameters' context and namespace (or all namespaces), and that namespace.
async fn scope_cache(daemon: &Daemon, params: &TargetsListParams) -> RpcResult<(Arc<ScopeCache>, Option<String>)> {
    let (context, client) = daemon
        .clusters
        .client(params.context.as_deref())
        .await
        .map_err(crate::agents::AgentError::from)
        .map_err(agent_error)?;
    let namespace = (!params.all_namespaces)
        .then(|| params.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string()));
    let scope = Scope { context, namespace: namespace.clone() };
    let cache = daemon.targets.get(&client, scope).await.map_err(agent_error)?;
    Ok((cache, namespace))
}

/// Processes whose network namespace differs from the daemon's, by pid.
fn local_targets() -> Vec<TargetInfo> {
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    let mut targets: Vec<TargetInfo> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let netns = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
            netns.is_some() && netns != own
        })
        .map(|pid| TargetInfo {
            target: format!("pid/{pid}"),
            kind: "pid".to_string(),
            name: pid.to_string(),
            namespace: None,
            context: None,
            description: command_line(pid),
            ready: true,
            ready_count: None,
            total_count: None,
            containers: Vec::new(),
            node: None,
        })
        .collect();
    targets.sort_by_key(|target| target.name.parse::<u32>().unwrap_or(u32::MAX));
    targets
}

fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|byte| *byte == 0)
        .filter(|word| !word.is_empty())
        .map(|word| String::from_utf8_lossy(word).into_owned())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}
