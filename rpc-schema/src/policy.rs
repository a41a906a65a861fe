//! The part of a session's configuration that the hook layer enforces, as sent to it by the
//! daemon in [`crate::wire::HelloOk`]. The daemon resolves the user's config file into this;
//! rules are regex sources, compiled by the layer.

use serde::{Deserialize, Serialize};

/// Everything the hook layer needs to decide, per call, between the host and the target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LayerPolicy {
    #[serde(default)]
    pub fs: FsPolicy,
    #[serde(default)]
    pub dns: DnsPolicy,
    #[serde(default)]
    pub outgoing: OutgoingPolicy,
    /// Program names (basename of the executable or `argv[0]`) whose calls are not hooked;
    /// their children still are.
    #[serde(default)]
    pub skip_processes: Vec<String>,
}

/// Where file operations go when no rule names the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsMode {
    /// Reads come from the target; writes stay on the host.
    #[default]
    Read,
    /// Reads and writes go to the target.
    Write,
    /// Everything stays on the host.
    Local,
}

/// File rules. Precedence, first match wins: `not_found`, `local`, `read_write`, `read_only`,
/// the layer's built-in rules, then `mode`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsPolicy {
    #[serde(default)]
    pub mode: FsMode,
    /// Paths that always stay on the host.
    #[serde(default)]
    pub local: Vec<String>,
    /// Paths read from the target; writes to them stay on the host.
    #[serde(default)]
    pub read_only: Vec<String>,
    /// Paths read from and written to the target.
    #[serde(default)]
    pub read_write: Vec<String>,
    /// Paths that do not exist for the user process (`ENOENT`).
    #[serde(default)]
    pub not_found: Vec<String>,
}

/// DNS rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsPolicy {
    /// Resolve names with the target's resolver.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Names resolved on the host (exact names, or `*.suffix` patterns).
    #[serde(default)]
    pub local: Vec<String>,
}

/// Outgoing connection rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingPolicy {
    /// Send TCP connections from the target's network.
    #[serde(default = "yes")]
    pub tcp: bool,
    /// Send UDP traffic from the target's network.
    #[serde(default = "yes")]
    pub udp: bool,
    /// Destinations kept on the host: `host`, `host:port`, `ip`, `ip:port` or a CIDR.
    #[serde(default)]
    pub local: Vec<String>,
}

impl Default for DnsPolicy {
    fn default() -> Self {
        DnsPolicy { enabled: true, local: Vec::new() }
    }
}

impl Default for OutgoingPolicy {
    fn default() -> Self {
        OutgoingPolicy { tcp: true, udp: true, local: Vec::new() }
    }
}

fn yes() -> bool {
    true
}
