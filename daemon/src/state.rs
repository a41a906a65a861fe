//! What the running daemon holds: its paths, the agent pool, the sessions and the outgoing
//! proxy, shared by the API handlers and the session proxy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

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
}

impl Daemon {
    pub fn request_shutdown(&self) {
        let _ = self.shutdown_tx.send(true);
    }
}
