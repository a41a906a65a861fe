//! Sessions: one per launched user process tree, tying a token to a target's agent and the
//! policy its hook layers enforce.
//!
//! A session belongs to one target process (`target_id`). When its agent dies while that
//! process lives, the session moves to a replacement agent ([`AgentSlot::replace`]); when the
//! process is gone, or another one answers for the target, the session is lost for good
//! ([`AgentSlot::lose`]) and every request fails with the reason: two targets never mix.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether_rpc_schema::api::{SessionEvent, SessionEventKind};
use tether_rpc_schema::policy::LayerPolicy;
use tokio::sync::{broadcast, watch};

use crate::agents::Agent;
use crate::incoming::Incoming;
use crate::target::Target;

/// One session: what its hook layers may ask for, and through which agent.
pub struct Session {
    pub id: String,
    /// Presented by hook layers in their hello; never logged.
    pub token: String,
    pub target: Target,
    /// The target process the session started with (`<pid>@<start time>`).
    pub target_id: String,
    pub agent: AgentSlot,
    pub policy: LayerPolicy,
    /// The target's host name as its agent told it, for the policies of edited configs.
    pub target_hostname: Option<String>,
    /// Ports of the launch's debugger: never intercepted.
    pub debugger_ports: Vec<u16>,
    /// Target ports with the kubelet's HTTP or gRPC probes: their probes stay the target's.
    pub probe_ports: Vec<u16>,
    /// The launched program, for listings.
    pub program: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    /// The config file the session was prepared with, watched for changes.
    pub config_path: Option<std::path::PathBuf>,
    /// The policy from the last valid edit of `config_path`, for processes started after it.
    pub reloaded: std::sync::RwLock<Option<LayerPolicy>>,
    /// The id the client gave its preparation, carried by the session's events.
    pub preparation: Option<String>,
}

impl Session {
    /// A `session.event` of this session.
    pub fn event(&self, kind: SessionEventKind, message: String) -> SessionEvent {
        SessionEvent {
            session_id: self.id.clone(),
            target: self.target.to_string(),
            kind,
            message,
            preparation: self.preparation.clone(),
        }
    }

    /// The policy for a hook layer connecting now.
    pub fn current_policy(&self) -> LayerPolicy {
        let reloaded = self.reloaded.read().expect("policy lock");
        reloaded.clone().unwrap_or_else(|| self.policy.clone())
    }

    /// Takes an edited config: its rules, plus what the launch's debug preset added.
    pub fn set_config(&self, config: &crate::config::Config) {
        let mut policy = config.layer_policy();
        policy.hostname = config.reported_hostname(self.target_hostname.as_deref());
        let preset_skips = self
            .policy
            .skip_processes
            .iter()
            .filter(|name| !policy.skip_processes.contains(name))
            .cloned()
            .collect::<Vec<_>>();
        policy.skip_processes.extend(preset_skips);
        *self.reloaded.write().expect("policy lock") = Some(policy);
    }
}

/// How long a request waits for a replacement agent before it fails.
const REPLACEMENT_WAIT: Duration = Duration::from_secs(10);

/// The agent a session's requests go to, or why there is none.
#[derive(Clone)]
enum AgentState {
    Serving(Arc<Agent>),
    Lost(String),
}

/// The session's agent: replaced when it dies while its target lives, lost when the target is.
pub struct AgentSlot(watch::Sender<AgentState>);

impl AgentSlot {
    pub fn new(agent: Arc<Agent>) -> AgentSlot {
        AgentSlot(watch::Sender::new(AgentState::Serving(agent)))
    }

    /// The agent to ask now. While a dead agent is being replaced, waits for the replacement
    /// (at most [`REPLACEMENT_WAIT`]); the error says why no agent serves the session.
    pub async fn get(&self) -> Result<Arc<Agent>, String> {
        // Every layer request comes here: the live agent costs one read lock, no timer.
        if let AgentState::Serving(agent) = &*self.0.borrow() {
            if !agent.link.is_closed() {
                return Ok(agent.clone());
            }
        }
        let mut state_rx = self.0.subscribe();
        let deadline = tokio::time::sleep(REPLACEMENT_WAIT);
        tokio::pin!(deadline);
        loop {
            let state = state_rx.borrow_and_update().clone();
            let dead = match state {
                AgentState::Lost(reason) => return Err(reason),
                AgentState::Serving(agent) if !agent.link.is_closed() => return Ok(agent),
                AgentState::Serving(agent) => agent,
            };
            tokio::select! {
                _ = state_rx.changed() => {}
                () = &mut deadline => {
                    let why = dead.link.end().map(|end| end.to_string()).unwrap_or_default();
                    return Err(format!("the agent for {} stopped ({why}) and no replacement is ready yet", dead.target));
                }
            }
        }
    }

    /// The agent that serves (or last served) the session; `None` once the session is lost.
    pub fn current(&self) -> Option<Arc<Agent>> {
        match &*self.0.borrow() {
            AgentState::Serving(agent) => Some(agent.clone()),
            AgentState::Lost(_) => None,
        }
    }

    /// Moves the session to `agent`, a replacement serving the same target process.
    pub fn replace(&self, agent: Arc<Agent>) {
        self.0.send_replace(AgentState::Serving(agent));
    }

    /// No agent will serve the session again; requests fail with `reason`.
    pub fn lose(&self, reason: String) {
        self.0.send_replace(AgentState::Lost(reason));
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The live sessions, by id and by token.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Arc<Session>>>,
    /// The sessions' incoming subscriptions; released when a session ends.
    pub incoming: Incoming,
    /// Session events for `session.events` subscribers.
    pub events: broadcast::Sender<SessionEvent>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions { by_id: Mutex::default(), incoming: Incoming::default(), events: broadcast::channel(256).0 }
    }
}

impl Sessions {
    /// Tells `session.events` subscribers; nobody listening is fine.
    pub fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    pub fn insert(&self, session: Session) -> Arc<Session> {
        let session = Arc::new(session);
        self.by_id.lock().expect("sessions lock").insert(session.id.clone(), session.clone());
        session
    }

    /// The session whose token is `token`.
    pub fn by_token(&self, token: &str) -> Option<Arc<Session>> {
        let sessions = self.by_id.lock().expect("sessions lock");
        sessions.values().find(|session| crate::token::same(&session.token, token)).cloned()
    }

    /// Ends the session `id`, returning it.
    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        let removed = self.by_id.lock().expect("sessions lock").remove(id);
        if removed.is_some() {
            self.incoming.end_session(id);
        }
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.lock().expect("sessions lock").len()
    }

    /// Every live session, oldest first.
    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut sessions: Vec<_> = self.by_id.lock().expect("sessions lock").values().cloned().collect();
        sessions.sort_by_key(|session| session.started_at);
        sessions
    }
}
