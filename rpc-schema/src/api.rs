//! The daemon's editor API: JSON-RPC method names, parameters, results and error codes, shared
//! by the CLI, `tether lsp` and the editor extensions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the editor API; a client with a different version gets
/// [`codes::INCOMPATIBLE_VERSION`] from `daemon.hello`.
pub const API_VERSION: u32 = 1;

/// JSON-RPC method names.
pub mod methods {
    pub const DAEMON_HELLO: &str = "daemon.hello";
    pub const DAEMON_SHUTDOWN: &str = "daemon.shutdown";
    pub const SESSION_PREPARE: &str = "session.prepare";
    pub const SESSION_END: &str = "session.end";
}

/// Stable JSON-RPC error codes of the editor API.
pub mod codes {
    /// The target does not exist (no such process, container or workload).
    pub const TARGET_NOT_FOUND: i32 = -32001;
    /// The config is invalid; `data.diagnostics` lists where and why.
    pub const CONFIG_INVALID: i32 = -32002;
    /// The agent could not start; `data.reason` says why.
    pub const AGENT_START_FAILED: i32 = -32003;
    /// The cluster could not be reached.
    pub const CLUSTER_UNREACHABLE: i32 = -32004;
    /// The caller or the agent lacks a permission.
    pub const NOT_PERMITTED: i32 = -32005;
    /// Client and daemon speak different API versions.
    pub const INCOMPATIBLE_VERSION: i32 = -32006;
    /// No session with that id.
    pub const SESSION_NOT_FOUND: i32 = -32007;
}

/// `daemon.hello` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloParams {
    /// Who is calling, e.g. `tether-cli 0.1.0` or `vscode 0.1.0`.
    pub client: String,
    pub api_version: u32,
}

/// `daemon.hello` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloResult {
    pub daemon_version: String,
    pub api_version: u32,
    pub protocol_version: u32,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub pid: u32,
}

/// How the IDE (or the CLI) is about to start the user process.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Launch {
    /// The debug adapter type (`node`, `python`, `go`, ...), when launched by an IDE debugger.
    #[serde(default)]
    pub debug_type: Option<String>,
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    /// The environment the process would get without tether.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `session.prepare` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionPrepareParams {
    /// `kind/name`, e.g. `pid/4242` or `container/orders`.
    #[serde(default)]
    pub target: Option<String>,
    /// Absolute path of a JSON config file.
    #[serde(default)]
    pub config_path: Option<String>,
    pub launch: Launch,
}

/// `session.prepare` result: all the IDE needs to start the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPrepared {
    pub session_id: String,
    /// Variables to set on top of `launch.env` (the target's env after filters, `LD_PRELOAD`,
    /// session variables).
    pub env: BTreeMap<String, String>,
    /// Variables of `launch.env` to remove.
    pub unset: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `session.end` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEndParams {
    pub session_id: String,
}

/// One problem found in a config file; lines and columns start at 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `data` of a [`codes::CONFIG_INVALID`] error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInvalidData {
    pub diagnostics: Vec<Diagnostic>,
}
