//! Sessions: one per launched user process tree, tying a token to a target's agent and the
//! policy its hook layers enforce.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tether_rpc_schema::policy::LayerPolicy;

use crate::agents::Agent;
use crate::incoming::Incoming;
use crate::target::Target;

/// One session: what its hook layers may ask for, and through which agent.
pub struct Session {
    pub id: String,
    /// Presented by hook layers in their hello; never logged.
    pub token: String,
    pub target: Target,
    pub agent: Arc<Agent>,
    pub policy: LayerPolicy,
    /// Ports of the launch's debugger: never intercepted.
    pub debugger_ports: Vec<u16>,
    /// The launched program, for listings.
    pub program: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    /// The config file the session was prepared with, watched for changes.
    pub config_path: Option<std::path::PathBuf>,
    /// The policy from the last valid edit of `config_path`, for processes started after it.
    pub reloaded: std::sync::RwLock<Option<LayerPolicy>>,
}

impl Session {
    /// The policy for a hook layer connecting now.
    pub fn current_policy(&self) -> LayerPolicy {
        let reloaded = self.reloaded.read().expect("policy lock");
        reloaded.clone().unwrap_or_else(|| self.policy.clone())
    }

    /// Takes an edited config: its rules, plus what the launch's debug preset added.
    pub fn set_config(&self, config: &crate::config::Config) {
        let mut policy = config.layer_policy();
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

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The live sessions, by id and by token.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Arc<Session>>>,
    /// The sessions' incoming subscriptions; released when a session ends.
    pub incoming: Incoming,
}

impl Sessions {
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

    pub fn len(&self) -> usize {
        self.by_id.lock().expect("sessions lock").len()
    }

    /// Every live session, oldest first.
    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut sessions: Vec<_> = self.by_id.lock().expect("sessions lock").values().cloned().collect();
        sessions.sort_by_key(|session| session.started_at);
        sessions
    }
}
