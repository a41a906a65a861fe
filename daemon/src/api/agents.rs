//! `agents.*`: listing and stopping the agents of the pool.

use jsonrpsee::types::Params;
use tether_rpc_schema::api::{AgentInfo, AgentPodInfo, AgentsStopParams};

use super::{not_found, RpcResult};
use crate::state::Daemon;

pub fn handle_list(daemon: &Daemon) -> RpcResult<Vec<AgentInfo>> {
    Ok(infos(daemon))
}

pub async fn handle_stop(params: Params<'static>, daemon: std::sync::Arc<Daemon>) -> RpcResult<()> {
    let params: AgentsStopParams = params.parse()?;
    if daemon.agents.stop(&params.agent_id).await {
        tracing::info!(agent = %params.agent_id, "agent stopped on request");
        Ok(())
    } else {
        Err(not_found(format!("no agent {}", params.agent_id)))
    }
}

/// The pool's running agents; agents still starting are not waited for.
pub fn infos(daemon: &Daemon) -> Vec<AgentInfo> {
    let sessions = daemon.sessions.list();
    let mut infos: Vec<AgentInfo> = daemon
        .agents
        .list()
        .iter()
        .map(|agent| AgentInfo {
            agent_id: agent.id.clone(),
            target: agent.target.to_string(),
            target_pid: agent.target_pid,
            sessions: sessions
                .iter()
                .filter(|session| session.agent.current().is_some_and(|current| current.id == agent.id))
                .count() as u32,
            started_at: agent.started_at,
            pod: agent.pod().map(|pod| AgentPodInfo {
                context: match &agent.target {
                    crate::target::Target::Pod(target) => target.context.clone(),
                    crate::target::Target::Targetless { context, .. } => context.clone(),
                    _ => String::new(),
                },
                namespace: pod.namespace.clone(),
                name: pod.pod.clone(),
                uid: pod.pod_uid.clone(),
            }),
        })
        .collect();
    infos.sort_by_key(|info| info.started_at);
    infos
}
