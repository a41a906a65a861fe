//! What the running daemon holds: its paths, the agent pool, the sessions and the outgoing
//! proxy, shared by the API handlers and the session proxy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tether_rpc_schema::api::{CacheInfo, SessionEvent, TargetInfo};
use tokio::sync::{broadcast, watch};

use crate::agents::AgentPool;
use crate::paths::UserPaths;
use crate::proxy::TcpProxy;
use crate::sessions::Sessions;

pub struct Daemon {
    pub paths: UserPaths,
    pub agents: AgentPool,
    pub sessions: Arc<Sessions>,
    pub tcp_proxy: Arc<TcpProxy>,
    /// `libtether_layer.so`, put into `LD_PRELOAD` of launched processes.
    pub layer_path: PathBuf,
    pub started: Instant,
    /// Set to true to stop the daemon.
    pub shutdown_tx: watch::Sender<bool>,
    /// Session events for `session.events` subscribers.
    pub events_tx: broadcast::Sender<SessionEvent>,
    /// Told when a kubeconfig file changes.
    pub kubeconfig_changed_tx: broadcast::Sender<()>,
    /// Watches kubeconfig and session config files; set once the daemon runs.
    pub watch: std::sync::OnceLock<crate::watcher::WatchHandle>,
    /// Kubeconfig contexts and a client per context.
    pub clusters: Arc<crate::clusters::Clusters>,
    /// The local processes that can be targets, read at most every few seconds.
    pub local_targets: Cache<Vec<TargetInfo>>,
}

/// A value that is recomputed when older than the age a reader accepts.
pub struct Cache<T> {
    name: &'static str,
    slot: std::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cache<T> {
    pub fn new(name: &'static str) -> Cache<T> {
        Cache { name, slot: std::sync::Mutex::new(None) }
    }

    /// The cached value if younger than `max_age`, else a fresh one from `compute`.
    pub fn get(&self, max_age: std::time::Duration, compute: impl FnOnce() -> T) -> T {
        let mut slot = self.slot.lock().expect("cache lock");
        match &*slot {
            Some((at, value)) if at.elapsed() < max_age => value.clone(),
            _ => {
                let value = compute();
                *slot = Some((Instant::now(), value.clone()));
                value
            }
        }
    }
}

impl<T> Cache<Vec<T>> {
    /// What `daemon.status` reports about this cache.
    pub fn info(&self) -> Option<CacheInfo> {
        let slot = self.slot.lock().expect("cache lock");
        slot.as_ref().map(|(at, value)| CacheInfo {
            name: self.name.to_string(),
            entries: value.len() as u64,
            age_secs: at.elapsed().as_secs(),
        })
    }
}

impl Daemon {
    pub fn request_shutdown(&self) {
        let _ = self.shutdown_tx.send(true);
    }

    /// Tells `session.events` subscribers; nobody listening is fine.
    pub fn emit(&self, event: SessionEvent) {
        let _ = self.events_tx.send(event);
    }

    /// Today's daemon log file.
    pub fn log_path(&self) -> PathBuf {
        crate::logging::current_file(&self.paths.log_dir)
    }
}
