//! `targets.*`: what a session can be prepared for — for now the processes of this machine that
//! run in network namespaces of their own (stand-ins for pods) — plus pre-warming an agent and
//! the `targets.watch` subscription.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::types::Params;
use jsonrpsee::PendingSubscriptionSink;
use tether_rpc_schema::api::{PrewarmResult, TargetInfo, TargetsChanged, TargetsListParams, TargetsPrewarmParams};

use super::{agent_error, invalid_params, notification, RpcResult};
use crate::state::Daemon;

/// How often the local process table is read again for `targets.watch` (the kernel offers no
/// notification for new network namespaces to an unprivileged reader).
const LOCAL_RESCAN: Duration = Duration::from_secs(2);

pub fn handle_list(params: Params, daemon: &Daemon) -> RpcResult<Vec<TargetInfo>> {
    let params: TargetsListParams = super::optional(&params)?;
    check_local(&params)?;
    Ok(daemon.local_targets.get(LOCAL_RESCAN, local_targets))
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
    .await?;
    let how = crate::agents::StartWith::quietly(config.agent.clone());
    let agent = daemon.agents.get(&target, &how).await.map_err(agent_error)?;
    Ok(PrewarmResult { agent_id: agent.id.clone() })
}

/// Sends the target list now and again whenever it changes, until the client unsubscribes.
pub async fn handle_watch(params: Params<'static>, pending: PendingSubscriptionSink, daemon: Arc<Daemon>) {
    let params =
        match super::optional::<TargetsListParams>(&params).and_then(|params| check_local(&params).map(|()| params)) {
            Ok(params) => params,
            Err(err) => {
                pending.reject(err).await;
                return;
            }
        };
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let mut kubeconfig_changed_rx = daemon.kubeconfig_changed_tx.subscribe();
    let mut last = None;
    loop {
        let cache = daemon.clone();
        let targets = tokio::task::spawn_blocking(move || cache.local_targets.get(LOCAL_RESCAN, local_targets))
            .await
            .unwrap_or_default();
        if last.as_ref() != Some(&targets) {
            let changed = TargetsChanged { context: params.context.clone(), namespace: None, targets: targets.clone() };
            if sink.send(notification(&changed)).await.is_err() {
                return;
            }
            last = Some(targets);
        }
        tokio::select! {
            () = tokio::time::sleep(LOCAL_RESCAN) => {}
            _ = kubeconfig_changed_rx.recv() => last = None,
            () = sink.closed() => return,
        }
    }
}

fn check_local(params: &TargetsListParams) -> RpcResult<()> {
    match params.context.as_deref() {
        None | Some("local") => Ok(()),
        Some(other) => Err(invalid_params(format!("unknown context {other:?}; the contexts known are: local"))),
    }
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
            context: Some("local".to_string()),
            description: command_line(pid),
            ready: true,
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
