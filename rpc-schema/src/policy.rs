//! The part of a session's configuration that the hook layer enforces, as sent to it by the
//! daemon in [`crate::wire::HelloOk`]. The daemon resolves the user's config file into this;
//! rules are regex sources, compiled by the layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::incoming::{HttpFilter, IncomingMode};

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
    #[serde(default)]
    pub incoming: IncomingPolicy,
    /// The name `gethostname` and `uname` report (the target's); `None` keeps the host's own.
    #[serde(default)]
    pub hostname: Option<String>,
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

/// Incoming traffic: what happens when the user process listens on a TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingPolicy {
    /// `None` when incoming traffic is off: listening sockets are not reported.
    #[serde(default = "mirror")]
    pub mode: Option<IncomingMode>,
    /// Only HTTP requests that match are stolen or mirrored.
    #[serde(default)]
    pub http_filter: Option<HttpFilter>,
    /// Target port → the port the user process listens on, where they differ.
    #[serde(default)]
    pub port_mapping: BTreeMap<u16, u16>,
    /// Ports of the user process that are never subscribed (debuggers' ports included).
    #[serde(default)]
    pub ignore_ports: Vec<u16>,
    /// The target ports to intercept, whether or not the target listens on them. `None`: a
    /// port is intercepted only when something in the target listens on it or `port_mapping`
    /// names it, so that a debugger's or a tool's port is never opened to the target's clients.
    #[serde(default)]
    pub ports: Option<Vec<u16>>,
}

impl IncomingPolicy {
    /// The target port whose traffic a listener on the user process's `port` receives, or
    /// `None` when that port is not subscribed (incoming off, or an ignored port).
    /// `None` when that port is not subscribed (incoming off, an ignored port, or a port that
    /// `ports` leaves out).
    pub fn target_port(&self, port: u16) -> Option<u16> {
        if self.mode.is_none() || port == 0 || self.ignore_ports.contains(&port) {
            return None;
        }
        let mapped = self.port_mapping.iter().find(|(_, local)| **local == port);
        let target = mapped.map_or(port, |(target, _)| *target);
        (self.ports.is_none() || self.named(target)).then_some(target)
    }

    /// Whether the config names `target_port` (in `ports` or as a `port_mapping` key), so that
    /// it is intercepted even when nothing in the target listens on it.
    pub fn named(&self, target_port: u16) -> bool {
        self.port_mapping.contains_key(&target_port)
            || self.ports.as_ref().is_some_and(|ports| ports.contains(&target_port))
    }
}

impl Default for IncomingPolicy {
    fn default() -> Self {
        IncomingPolicy {
            mode: mirror(),
            http_filter: None,
            port_mapping: BTreeMap::new(),
            ignore_ports: Vec::new(),
            ports: None,
        }
    }
}

fn mirror() -> Option<IncomingMode> {
    Some(IncomingMode::Mirror)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_port_maps_ignores_and_turns_off() {
        let mut policy = IncomingPolicy::default();
        policy.port_mapping.insert(80, 8080);
        policy.ignore_ports.push(9229);
        assert_eq!(policy.target_port(8080), Some(80));
        assert_eq!(policy.target_port(3000), Some(3000));
        assert_eq!(policy.target_port(9229), None);
        policy.mode = None;
        assert_eq!(policy.target_port(3000), None);
    }

    #[test]
    fn only_ports_and_mapped_ports_are_named_and_ports_leaves_out_the_rest() {
        let mut policy = IncomingPolicy::default();
        policy.port_mapping.insert(80, 8080);
        assert!(policy.named(80) && !policy.named(8080) && !policy.named(3000));
        assert_eq!(policy.target_port(3000), Some(3000), "without ports, the agent decides");
        policy.ports = Some(vec![3000]);
        assert!(policy.named(3000) && policy.named(80));
        assert_eq!(policy.target_port(3000), Some(3000));
        assert_eq!(policy.target_port(8080), Some(80));
        assert_eq!(policy.target_port(9229), None);
    }
}
