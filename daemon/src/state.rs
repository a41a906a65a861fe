//! What the running daemon holds: its paths, the agent pool, the sessions and the outgoing
//! proxy, shared by the API handlers and the session proxy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tether_rpc_schema::api::SessionEvent;
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
    /// Told when a kubeconfig file changes.
    pub kubeconfig_changed_tx: broadcast::Sender<()>,
    /// Watches kubeconfig and session config files; set once the daemon runs.
    pub watch: std::sync::OnceLock<crate::watcher::WatchHandle>,
    /// Kubeconfig contexts and a client per context.
    pub clusters: Arc<crate::clusters::Clusters>,
    /// Kubernetes targets by context and namespace.
    pub targets: crate::target_cache::TargetCaches,
}

impl Daemon {
    pub fn request_shutdown(&self) {
        let _ = self.shutdown_tx.send(true);
    }

    /// Tells `session.events` subscribers; nobody listening is fine.
    pub fn emit(&self, event: SessionEvent) {
        self.sessions.emit(event);
    }

    /// Today's daemon log file.
    pub fn log_path(&self) -> PathBuf {
        crate::logging::current_file(&self.paths.log_dir)
    }
}
