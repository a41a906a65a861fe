//! `agents.*`: listing and stopping the agents of the pool.

use std::sync::Arc;

use jsonrpsee::types::Params;
use tether_rpc_schema::api::{AgentInfo, AgentsStopParams};

use super::{not_found, RpcResult};
use crate::state::Daemon;

pub async fn handle_list(daemon: Arc<Daemon>) -> RpcResult<Vec<AgentInfo>> {
    Ok(infos(&daemon).await)
}

pub async fn handle_stop(params: Params<'static>, daemon: Arc<Daemon>) -> RpcResult<()> {
    let params: AgentsStopParams = params.parse()?;
    if daemon.agents.stop(&params.agent_id).await {
        tracing::info!(agent = %params.agent_id, "agent stopped on request");
        Ok(())
    } else {
        Err(not_found(format!("no agent {}", params.agent_id)))
    }
}

pub async fn infos(daemon: &Daemon) -> Vec<AgentInfo> {
    let sessions = daemon.sessions.list();
    let mut infos: Vec<AgentInfo> = daemon
        .agents
        .list()
        .await
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
        })
        .collect();
    infos.sort_by_key(|info| info.started_at);
    infos
}
