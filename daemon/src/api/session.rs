//! `session.*`: preparing a launch (agent, environment, policy), listing, ending, and the
//! `session.events` subscription.

use std::sync::Arc;

use jsonrpsee::types::Params;
use jsonrpsee::PendingSubscriptionSink;
use tether_rpc_schema::api::{
    SessionEndParams, SessionEvent, SessionEventKind, SessionEventsParams, SessionInfo, SessionPrepareParams,
    SessionPrepared,
};
use tether_rpc_schema::wire::{Message, HOSTNAME_CAPABILITY};

use super::{agent_error, invalid_params, not_found, notification, RpcResult};
use crate::agent_link::LinkError;
use crate::agents::{Agent, AgentError, Progress, StartWith};
use crate::config::ReplicasConfig;
use crate::launch_env::{self, SessionVars};
use crate::presets;
use crate::server::ApiConnection;
use crate::sessions::{unix_now, AgentSlot, Session};
use crate::state::Daemon;
use crate::target::Target;
use crate::token;

/// Prepares a session, leased to `connection` (the client's API connection): when that
/// connection ends — the client exited or was killed — the session ends with it.
pub async fn handle_prepare(
    params: Params<'static>,
    daemon: Arc<Daemon>,
    connection: Option<ApiConnection>,
) -> RpcResult<SessionPrepared> {
    let params: SessionPrepareParams = params.parse()?;
    let config = super::session_config(&params.config, &params.config_path).await?;
    let named = params.target.as_deref().or(config.target.as_deref()).unwrap_or_default().to_string();
    let preparation = Preparation { daemon: daemon.clone(), target: named.clone(), id: params.preparation.clone() };
    let progress = preparation.progress();
    progress(&format!("finding {named}"));
    let resolved = super::resolve_target(
        &daemon,
        params.target.as_deref(),
        params.context.as_deref(),
        params.namespace.as_deref(),
        &config,
    )
    .await
    .inspect_err(|err| preparation.failed(err.message()))?;
    let target = resolved.target.clone();
    let preset = presets::for_launch(&params.launch);
    progress("starting or reusing the agent");
    let how = StartWith { agent: config.agent.clone(), progress: progress.clone() };
    let (agent, target_env, target_hostname) = agent_with_env(&daemon, &target, &how).await.map_err(|err| {
        preparation.failed(&err.to_string());
        agent_error(err)
    })?;
    let session_token = token::random();
    let session_vars = SessionVars {
        layer_path: daemon.layer_path.display().to_string(),
        proxy_socket: daemon.paths.proxy_socket().display().to_string(),
        token: session_token.clone(),
        layer_log: daemon.paths.layer_log().display().to_string(),
    };
    let env = launch_env::compute(&params.launch.env, &target_env, &config.env, &session_vars)
        .map_err(|err| invalid_params(err.to_string()))?;
    let mut policy = config.layer_policy();
    policy.hostname = config.reported_hostname(target_hostname.as_deref());
    policy.skip_processes.extend(preset.skip_processes);
    let config_path =
        params.config.is_none().then(|| params.config_path.as_ref().map(std::path::PathBuf::from)).flatten();
    // Watched before the session is visible, so no edit made after `session.list` shows it is missed.
    if let (Some(path), Some(watch)) = (&config_path, daemon.watch.get()) {
        watch.add(path);
    }
    let session = daemon.sessions.insert(Session {
        id: token::random()[..16].to_string(),
        token: session_token,
        target: target.clone(),
        target_id: agent.target_id.clone(),
        agent: AgentSlot::new(agent.clone()),
        policy,
        target_hostname,
        debugger_ports: preset.debugger_ports,
        probe_ports: resolved.pod.as_ref().map(crate::workloads::probe_ports).unwrap_or_default(),
        program: params.launch.program.clone(),
        started_at: unix_now(),
        config_path,
        reloaded: std::sync::RwLock::new(None),
        preparation: params.preparation.clone(),
    });
    tracing::info!(
        session = %session.id,
        %target,
        target_pid = agent.target_pid,
        program = %session.program,
        debugger_ports = ?session.debugger_ports,
        "session prepared"
    );
    let every_replica = config.incoming.replicas == ReplicasConfig::All && session.policy.incoming.mode.is_some();
    if let (Some(source), true) = (resolved.replicas, every_replica) {
        crate::replicas::follow(daemon.clone(), session.clone(), source, StartWith::quietly(config.agent.clone()));
    }
    if let Some(closed) = connection.map(|connection| connection.closed()) {
        let (daemon, session_id) = (daemon.clone(), session.id.clone());
        tokio::spawn(async move {
            closed.cancelled().await;
            end_session(&daemon, &session_id, "the client that prepared it disconnected");
        });
    }
    daemon.emit(session.event(SessionEventKind::Ready, format!("session ready on {target}")));
    let launch = params.launch.clone();
    let program_warning = tokio::task::spawn_blocking(move || crate::linkage::program_warning(&launch));
    let mut warnings = env.warnings();
    warnings.extend(program_warning.await.ok().flatten());
    Ok(SessionPrepared { session_id: session.id.clone(), warnings, env: env.set, unset: env.unset })
}

pub fn handle_list(daemon: &Daemon) -> RpcResult<Vec<SessionInfo>> {
    Ok(daemon.sessions.list().iter().map(|session| session_info(session)).collect())
}

pub fn handle_end(params: Params, daemon: &Daemon) -> RpcResult<()> {
    let params: SessionEndParams = params.parse()?;
    if end_session(daemon, &params.session_id, "ended on request") {
        Ok(())
    } else {
        Err(not_found(format!("no session {}", params.session_id)))
    }
}

/// The target's agent, environment and host name. A pooled agent whose link ends while it is
/// asked (it died, or hung and was cut by the keepalive) is replaced once, so a new launch does
/// not fail on an agent that was already gone.
async fn agent_with_env(
    daemon: &Daemon,
    target: &Target,
    how: &StartWith,
) -> Result<(Arc<Agent>, Vec<(String, String)>, Option<String>), AgentError> {
    let mut retried = false;
    loop {
        let agent = daemon.agents.get(target, how).await?;
        if matches!(target, Target::Targetless { .. }) {
            // No pod, so no environment and no host name: the agent's own are not the user's
            // business.
            return Ok((agent, Vec::new(), None));
        }
        let vars = match agent.link.request(Message::EnvGet).await {
            Ok(Message::EnvVars(vars)) => vars,
            Ok(Message::Failure { message, .. }) => {
                let reason = format!("the agent could not read the target's environment: {message}");
                return Err(AgentError::StartFailed(reason));
            }
            Ok(other) => {
                let reason = format!("the agent answered {} to a request for the target's environment", other.kind());
                return Err(AgentError::StartFailed(reason));
            }
            Err(LinkError::Closed(_)) if !retried => {
                retried = true;
                continue;
            }
            Err(err) => return Err(AgentError::StartFailed(err.to_string())),
        };
        let env = vars
            .into_iter()
            .map(|var| {
                (String::from_utf8_lossy(&var.name).into_owned(), String::from_utf8_lossy(&var.value).into_owned())
            })
            .collect();
        let hostname = target_hostname(&agent).await;
        return Ok((agent, env, hostname));
    }
}

/// The target's host name, from an agent that can tell it; a failure only costs the user
/// process the target's name (it keeps the host's), so it is logged, not returned.
async fn target_hostname(agent: &Agent) -> Option<String> {
    if !agent.link.has_capability(HOSTNAME_CAPABILITY) {
        return None;
    }
    match agent.link.request(Message::HostnameGet).await {
        Ok(Message::Hostname { name }) => Some(name).filter(|name| !name.is_empty()),
        Ok(Message::Failure { message, .. }) => {
            tracing::warn!(%message, "the agent could not read the target's host name; the process keeps this machine's");
            None
        }
        Ok(other) => {
            tracing::warn!(answer = other.kind(), "unexpected answer to a request for the target's host name");
            None
        }
        Err(err) => {
            tracing::warn!(%err, "asking the agent for the target's host name failed");
            None
        }
    }
}

/// The `session.event`s of a session being prepared (no session id yet).
#[derive(Clone)]
struct Preparation {
    daemon: Arc<Daemon>,
    target: String,
    id: Option<String>,
}

impl Preparation {
    fn emit(&self, kind: SessionEventKind, message: &str) {
        self.daemon.emit(SessionEvent {
            session_id: String::new(),
            target: self.target.clone(),
            kind,
            message: message.to_string(),
            preparation: self.id.clone(),
        });
    }

    fn failed(&self, message: &str) {
        self.emit(SessionEventKind::Failed, message);
    }

    /// Progress as events, for whoever starts the agent.
    fn progress(&self) -> Progress {
        let preparation = self.clone();
        Arc::new(move |step: &str| preparation.emit(SessionEventKind::Progress, step))
    }
}

/// Ends session `id` (its subscriptions go with it) and tells the subscribers why; false
/// when there is no such session (any more).
fn end_session(daemon: &Daemon, id: &str, why: &str) -> bool {
    let Some(session) = daemon.sessions.remove(id) else { return false };
    tracing::info!(session = %session.id, target = %session.target, why, "session ended");
    daemon.emit(session.event(SessionEventKind::Ended, format!("session ended: {why}")));
    true
}

/// Streams session events (all sessions', or one's) until the client unsubscribes.
pub async fn handle_events(params: Params<'static>, pending: PendingSubscriptionSink, daemon: Arc<Daemon>) {
    let params: SessionEventsParams = match super::optional(&params) {
        Ok(params) => params,
        Err(err) => {
            pending.reject(err).await;
            return;
        }
    };
    let mut events_rx = daemon.sessions.events.subscribe();
    let Ok(sink) = pending.accept().await else {
        return;
    };
    loop {
        tokio::select! {
            event = events_rx.recv() => match event {
                Ok(event)
                    if params.session_id.as_ref().is_none_or(|id| *id == event.session_id)
                        && params.preparation.as_ref().is_none_or(|id| Some(id) == event.preparation.as_ref()) =>
                {
                    if sink.send(notification(&event)).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            () = sink.closed() => return,
        }
    }
}

pub fn session_info(session: &Session) -> SessionInfo {
    SessionInfo {
        session_id: session.id.clone(),
        target: session.target.to_string(),
        agent_id: session.agent.current().map(|agent| agent.id.clone()).unwrap_or_default(),
        program: session.program.clone(),
        started_at: session.started_at,
    }
}
