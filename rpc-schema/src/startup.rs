//! The agent's start-up report: the one JSON line it prints on stdout, read by whoever started
//! it (the daemon for local targets, the agent pod's log for cluster targets).

use serde::{Deserialize, Serialize};

/// First and only line an agent prints on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStartup {
    /// The agent serves the wire protocol on `listen` for the process `target_pid`.
    /// `target_id` names that very process (its pid and start time), so a reused pid or a
    /// re-created container is told apart from the process a session started with.
    Ready {
        listen: String,
        target_pid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_id: Option<String>,
    },
    /// The agent could not start; it exits non-zero after printing this.
    Failed { kind: StartupFailure, message: String },
}

/// Why an agent could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartupFailure {
    /// The target process or container does not exist.
    TargetNotFound,
    /// The agent lacks the privileges to enter the target's namespaces or read its files.
    NotPermitted,
    /// The container runtime could not be reached or answered with an error.
    Runtime,
    /// The arguments or environment given to the agent are wrong.
    Usage,
    /// Anything else; the message says what.
    Other,
}
