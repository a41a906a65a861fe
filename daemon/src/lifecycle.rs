//! What happens when an agent's connection ends: the agent is killed (a hung one too) and
//! dropped from the pool, and each session it served either moves to a replacement agent for
//! the same target process — its listeners subscribed again there — or, when that process is
//! gone or another one now answers for the target, is lost for good. Sessions are told with a
//! `session.event` either way.

use std::sync::Arc;

use tether_rpc_schema::api::SessionEventKind;
use tokio::sync::mpsc;

use crate::agent_link::LinkEnd;
use crate::agents::Agent;
use crate::state::Daemon;

/// Handles every agent the pool reports on its `ended` channel, until the channel closes.
pub async fn run(daemon: Arc<Daemon>, mut ended_rx: mpsc::UnboundedReceiver<Arc<Agent>>) {
    while let Some(agent) = ended_rx.recv().await {
        tokio::spawn(agent_ended(daemon.clone(), agent));
    }
}

async fn agent_ended(daemon: Arc<Daemon>, agent: Arc<Agent>) {
    let end = agent.link.end().unwrap_or_else(|| LinkEnd::Lost("the connection ended".to_string()));
    // A cut link to an agent pod is most often a dropped port-forward: the agent still serves
    // its target and waits for the daemon to come back.
    let reconnected = match &end {
        LinkEnd::Lost(_) if agent.pod().is_some() && !agent.was_stopped() && !*daemon.shutdown_tx.borrow() => {
            match daemon.agents.reconnect(&agent).await {
                Ok(again) => Some(again),
                Err(err) => {
                    tracing::warn!(agent = %agent.id, %err, "cannot reconnect to the agent pod; starting a new agent");
                    None
                }
            }
        }
        _ => None,
    };
    if reconnected.is_none() {
        agent.kill();
        daemon.agents.forget(&agent).await;
    }
    let sessions: Vec<_> = daemon
        .sessions
        .list()
        .into_iter()
        .filter(|session| session.agent.current().is_some_and(|current| current.id == agent.id))
        .collect();
    tracing::warn!(agent = %agent.id, target = %agent.target, reason = %end, sessions = sessions.len(), "agent ended");
    if sessions.is_empty() || *daemon.shutdown_tx.borrow() {
        return;
    }
    let replacement = match (&end, &reconnected) {
        _ if agent.was_stopped() => Err(format!("the agent for {} was stopped", agent.target)),
        (_, Some(again)) => Ok(again.clone()),
        (LinkEnd::TargetGone(reason), None) => Err(format!("{reason}; start a new session for {}", agent.target)),
        (LinkEnd::Lost(_), None) => daemon
            .agents
            .get(&agent.target, &agent.start_with)
            .await
            .map_err(|err| format!("{} is gone: {err}", agent.target)),
    };
    for session in sessions {
        // Never two targets in one session: the replacement must serve the very same process.
        let replacement = replacement.clone().and_then(|replacement| {
            if replacement.target_id == session.target_id {
                Ok(replacement)
            } else {
                Err(format!(
                    "{} is now another process than the one this session started with; start a new session for it",
                    session.target
                ))
            }
        });
        let (kind, message) = match &replacement {
            Ok(replacement) => {
                session.agent.replace(replacement.clone());
                daemon.sessions.incoming.listen_again(&session).await;
                let message = if reconnected.is_some() {
                    format!("the connection to the agent for {} was cut ({end}); connected again", agent.target)
                } else {
                    format!("the agent for {} stopped ({end}); a new agent serves the session", agent.target)
                };
                (SessionEventKind::Warning, message)
            }
            Err(reason) => {
                session.agent.lose(reason.clone());
                daemon.sessions.incoming.end_session(&session.id);
                (SessionEventKind::Failed, reason.clone())
            }
        };
        tracing::info!(session = %session.id, ?kind, %message, "session told about its agent");
        daemon.emit(session.event(kind, message));
    }
}
