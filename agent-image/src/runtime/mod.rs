//! Asks a container runtime for the PID of a container's main process.
//!
//! # Layout
//! - [`containerd`]: containerd's gRPC API (the runtime of Kubernetes nodes and nerdctl).
//! - [`docker`]: the Docker Engine HTTP API.
//! - [`cgroup`]: no API at all, the container's processes found by their cgroup (Kubernetes agent
//!   pods, which see the node's processes).

pub mod cgroup;
pub mod containerd;
pub mod docker;

use std::path::Path;

use tether_rpc_schema::startup::StartupFailure;

/// Why the runtime could not name the container's PID.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime's socket could not be reached.
    #[error("cannot reach {runtime} at {socket}: {reason}; check --runtime-socket and that {runtime} is running")]
    Unreachable { runtime: &'static str, socket: String, reason: String },
    /// The runtime answered a request with an error.
    #[error("{runtime} refused {request}: {reason}")]
    Api { runtime: &'static str, request: &'static str, reason: String },
    /// No container has that id, id prefix or name where the agent looked.
    #[error(
        "no container named or with id {query:?} in {searched}; check the name, and the runtime's socket and namespace"
    )]
    NotFound { query: String, searched: String },
    /// The container exists but has no running process.
    #[error("container {0} is not running; start it first")]
    NotRunning(String),
    /// An id prefix or name matches more than one container.
    #[error("{query:?} matches several containers ({matches}); give the full id")]
    Ambiguous { query: String, matches: String },
}

impl RuntimeError {
    /// The start-up failure kind reported to whoever started the agent.
    pub fn kind(&self) -> StartupFailure {
        match self {
            RuntimeError::Unreachable { .. } | RuntimeError::Api { .. } => StartupFailure::Runtime,
            RuntimeError::NotFound { .. } | RuntimeError::NotRunning(_) => StartupFailure::TargetNotFound,
            RuntimeError::Ambiguous { .. } => StartupFailure::Usage,
        }
    }

    fn unreachable(runtime: &'static str, socket: &Path, reason: impl ToString) -> RuntimeError {
        RuntimeError::Unreachable { runtime, socket: socket.display().to_string(), reason: reason.to_string() }
    }
}
