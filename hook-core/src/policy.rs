//! The session's [`LayerPolicy`] compiled for fast decisions: host or target for a path, a
//! name, an outgoing destination. Pure logic; the only I/O is the resolver callback used once
//! for host names in `outgoing.local`.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use regex::bytes::Regex;
use tether_rpc_schema::policy::{FsMode, IncomingPolicy, LayerPolicy};

use crate::builtin::{self, HostDirs};
use crate::path_rules::PathRules;

/// Where a path's operations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathClass {
    /// The path does not exist for the user process (`ENOENT`).
    NotFound,
    /// Everything stays on the host.
    Host,
    /// Reads come from the target; writes stay on the host.
    TargetRead,
    /// Reads and writes go to the target.
    TargetReadWrite,
}

/// Transport of an outgoing socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// The compiled policy.
#[derive(Debug)]
pub struct Policy {
    /// The user file rules, one matcher per kind, in precedence order (the first that matches
    /// wins): `not_found`, `local`, `read_write`, `read_only`.
    rules: [(PathRules, PathClass); 4],
    mode: FsMode,
    host_dirs: HostDirs,
    pub dns: DnsRules,
    pub outgoing: OutgoingRules,
    pub skip_processes: Vec<String>,
    pub incoming: IncomingPolicy,
    /// The target's host name, reported by `gethostname` and `uname`; `None` keeps the host's.
    pub hostname: Option<String>,
}

impl Policy {
    /// Compiles `policy`; `host_name` is the host's own name (resolved on the host unless it
    /// is also the target's). Invalid patterns are skipped, and told to `note` with anything
    /// else worth a log line.
    pub fn compile(
        policy: &LayerPolicy,
        host_dirs: HostDirs,
        host_name: Option<String>,
        note: &mut dyn FnMut(&str),
    ) -> Policy {
        let fs = &policy.fs;
        let mut kind = |list: &[String], class: PathClass| {
            let valid: Vec<&str> = list
                .iter()
                .filter(|pattern| {
                    let ok = Regex::new(pattern).is_ok();
                    if !ok {
                        note(&format!("ignoring invalid file rule pattern {pattern:?}"));
                    }
                    ok
                })
                .map(String::as_str)
                .collect();
            (PathRules::new(&valid, note), class)
        };
        let rules = [
            kind(&fs.not_found, PathClass::NotFound),
            kind(&fs.local, PathClass::Host),
            kind(&fs.read_write, PathClass::TargetReadWrite),
            kind(&fs.read_only, PathClass::TargetRead),
        ];
        Policy {
            rules,
            mode: fs.mode,
            host_dirs,
            dns: DnsRules::new(
                policy.dns.enabled,
                &policy.dns.local,
                host_name.filter(|name| policy.hostname.as_ref() != Some(name)),
            ),
            outgoing: OutgoingRules::new(policy.outgoing.tcp, policy.outgoing.udp, &policy.outgoing.local),
            skip_processes: policy.skip_processes.clone(),
            incoming: policy.incoming.clone(),
            hostname: policy.hostname.clone(),
        }
    }

    /// Where operations on `path` (absolute, normalised) go. Precedence: user `not_found`,
    /// `local`, `read_write`, `read_only`, built-in target, built-in host, then the mode. In
    /// mode `local` the built-in target files stay on the host too.
    pub fn classify(&self, path: &[u8]) -> PathClass {
        if let Some((_, class)) = self.rules.iter().find(|(rules, _)| rules.matches(path)) {
            return *class;
        }
        match self.mode {
            FsMode::Local => PathClass::Host,
            _ if builtin::is_target(path) => self.by_mode(),
            _ if builtin::is_host(path, &self.host_dirs) => PathClass::Host,
            _ => self.by_mode(),
        }
    }

    /// Whether any path can be the target's to write (`fs.mode` "write", or a `read_write`
    /// rule): the supervisor traps the calls of write mode only then.
    pub fn writes_target(&self) -> bool {
        self.mode == FsMode::Write || !matches!(self.rules[2].0, PathRules::None)
    }

    fn by_mode(&self) -> PathClass {
        match self.mode {
            FsMode::Read => PathClass::TargetRead,
            FsMode::Write => PathClass::TargetReadWrite,
            FsMode::Local => PathClass::Host,
        }
    }
}

/// DNS decisions.
#[derive(Debug)]
pub struct DnsRules {
    pub enabled: bool,
    /// Lowercased exact names and `*.suffix` patterns (stored as `.suffix`).
    local: Vec<String>,
    /// The host's own name (`uname` nodename), resolved on the host; the target's host name,
    /// which `gethostname` reports instead, is the target's like any other name.
    hostname: Option<String>,
}

impl DnsRules {
    fn new(enabled: bool, local: &[String], hostname: Option<String>) -> DnsRules {
        let local = local.iter().map(|name| normalise_name(name.strip_prefix('*').unwrap_or(name))).collect();
        DnsRules { enabled, local, hostname: hostname.map(|name| normalise_name(&name)) }
    }

    /// Whether `name` (not numeric) is resolved with the target's resolver.
    pub fn is_target_name(&self, name: &str) -> bool {
        if !self.enabled || name.is_empty() {
            return false;
        }
        let name = normalise_name(name);
        let host_only = name == "localhost"
            || name.ends_with(".localhost")
            || self.hostname.as_deref() == Some(name.as_str())
            || self.local.iter().any(|rule| match rule.strip_prefix('.') {
                Some(_) => name.ends_with(rule.as_str()),
                None => *rule == name,
            });
        !host_only
    }
}

fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// One `outgoing.local` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    /// An address or network (a plain address has the full prefix length).
    Net { net: IpAddr, prefix: u8, port: Option<u16> },
    /// A host name, resolved on the host the first time it is needed.
    Name { name: String, port: Option<u16> },
}

/// Outgoing connection decisions.
#[derive(Debug)]
pub struct OutgoingRules {
    tcp: bool,
    udp: bool,
    local: Vec<Destination>,
    /// `Name` entries resolved to addresses, once.
    resolved: OnceLock<Vec<Destination>>,
}

impl OutgoingRules {
    fn new(tcp: bool, udp: bool, local: &[String]) -> OutgoingRules {
        let local = local.iter().filter_map(|entry| parse_destination(entry.trim())).collect();
        OutgoingRules { tcp, udp, local, resolved: OnceLock::new() }
    }

    /// Whether a connection to `addr` leaves from the target's network. `resolve` turns a
    /// host name of the rules into addresses (called at most once per name, ever).
    pub fn is_target(&self, addr: SocketAddr, transport: Transport, resolve: &dyn Fn(&str) -> Vec<IpAddr>) -> bool {
        let enabled = match transport {
            Transport::Tcp => self.tcp,
            Transport::Udp => self.udp,
        };
        let ip = addr.ip().to_canonical();
        if !enabled || ip.is_loopback() || ip.is_unspecified() {
            return false;
        }
        let resolved = self.resolved.get_or_init(|| {
            let names = self.local.iter().filter_map(|rule| match rule {
                Destination::Name { name, port } => Some((name, *port)),
                Destination::Net { .. } => None,
            });
            names
                .flat_map(|(name, port)| {
                    resolve(name).into_iter().map(move |ip| Destination::Net {
                        net: ip.to_canonical(),
                        prefix: full_prefix(ip.to_canonical()),
                        port,
                    })
                })
                .collect()
        });
        !self.local.iter().chain(resolved).any(|rule| matches_destination(rule, ip, addr.port()))
    }
}

fn matches_destination(rule: &Destination, ip: IpAddr, port: u16) -> bool {
    let Destination::Net { net, prefix, port: rule_port } = rule else {
        return false;
    };
    rule_port.is_none_or(|p| p == port) && in_network(ip, *net, *prefix)
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (ip, net, bits) = match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => (u128::from(ip.to_bits()), u128::from(net.to_bits()), 32),
        (IpAddr::V6(ip), IpAddr::V6(net)) => (ip.to_bits(), net.to_bits(), 128),
        _ => return false,
    };
    let prefix = u32::from(prefix).min(bits);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (ip >> shift) == (net >> shift)
}

fn full_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// Parses `ip`, `ip:port`, `[v6]:port`, `net/len`, `host`, `host:port`.
fn parse_destination(entry: &str) -> Option<Destination> {
    if entry.is_empty() {
        return None;
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        let net = ip.to_canonical();
        return Some(Destination::Net { net, prefix: full_prefix(net), port: None });
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        let net = addr.ip().to_canonical();
        return Some(Destination::Net { net, prefix: full_prefix(net), port: Some(addr.port()) });
    }
    if let Some((net, len)) = entry.split_once('/') {
        let net = net.parse::<IpAddr>().ok()?;
        let mut prefix = len.parse::<u8>().ok()?;
        if let IpAddr::V6(v6) = net {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Some(Destination::Net { net: IpAddr::V4(v4), prefix: prefix.saturating_sub(96), port: None });
            }
        }
        prefix = prefix.min(full_prefix(net));
        return Some(Destination::Net { net, prefix, port: None });
    }
    let (name, port) = match entry.rsplit_once(':') {
        Some((name, port)) => (name, Some(port.parse::<u16>().ok()?)),
        None => (entry, None),
    };
    Some(Destination::Name { name: name.to_string(), port })
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
