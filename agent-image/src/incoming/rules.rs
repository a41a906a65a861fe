//! The redirect rules of one agent: an nftables table `tether_<agent pid>` (family `inet`) in
//! the target's network namespace. Connections to a subscribed port, from other hosts
//! (`prerouting`) and from the target's own namespace over loopback (`output`), are
//! redirected to the agent's interception listeners; packets carrying [`MARK`] (the agent's
//! own connections to the target's server) are left alone.
//!
//! This module says what the table holds, as nftables expressions; `nftables` writes it to the
//! kernel, replacing the whole table in one transaction on every change. In `nft` notation:
//!
//! ```text
//! table inet tether_42 {
//!     chain prerouting {
//!         type nat hook prerouting priority -99; policy accept;
//!         meta mark 0x74657468 return
//!         meta nfproto ipv4 tcp dport 8080 redirect to :40001
//!         meta nfproto ipv6 tcp dport 8080 redirect to :40002
//!     }
//!     chain output {
//!         type nat hook output priority -99; policy accept;
//!         meta mark 0x74657468 return
//!         oifname "lo" meta nfproto ipv4 tcp dport 8080 redirect to :40001
//!         oifname "lo" meta nfproto ipv6 tcp dport 8080 redirect to :40002
//!     }
//! }
//! ```

use super::nftables::expr::{Expr, MetaKey};

/// `SO_MARK` of the agent's own connections to the target's server ("teth").
pub const MARK: u32 = 0x7465_7468;

/// Prefix of every tether table; the rest of the name is the agent's pid.
pub const TABLE_PREFIX: &str = "tether_";

/// Priority of both base chains: just after destination NAT (`dstnat`, `NF_IP_PRI_NAT_DST`),
/// where iptables' nat table hooks in. The first nat chain that maps a connection decides it,
/// so a service mesh's redirect to its sidecar (iptables nat rules in the pod's namespace) goes
/// first, always, not by the order the tables were made in; what is stolen is then the
/// sidecar's decrypted connection to the application over loopback (`output`).
pub const CHAIN_PRIORITY: i32 = -99;

/// `NFPROTO_IPV4`, `NFPROTO_IPV6` as `meta nfproto` reads them.
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
/// `IPPROTO_TCP`.
const L4PROTO_TCP: u8 = 6;
/// Interface names are compared over `IFNAMSIZ` bytes, NUL-padded.
const IFNAMSIZ: usize = 16;

/// One subscribed port and where its connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    pub port: u16,
    /// Port of the agent's IPv4 interception listener.
    pub to_v4: u16,
    /// Port of the agent's IPv6 interception listener, when it has one.
    pub to_v6: Option<u16>,
}

/// The netfilter hook of a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `NF_INET_PRE_ROUTING`: packets arriving from other hosts.
    Prerouting = 0,
    /// `NF_INET_LOCAL_OUT`: packets sent from the target's own namespace.
    Output = 3,
}

/// A base chain of type nat, policy accept, at [`CHAIN_PRIORITY`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: &'static str,
    pub hook: Hook,
    /// Each rule's expressions, in order.
    pub rules: Vec<Vec<Expr>>,
}

/// The table name of the agent with process id `pid`.
pub fn table_name(pid: u32) -> String {
    format!("{TABLE_PREFIX}{pid}")
}

/// The chains of a table holding exactly `redirects` (none: the table is removed instead).
pub fn chains(redirects: &[Redirect]) -> [Chain; 2] {
    let chain = |name, hook, only: &[Expr]| {
        let mut rules = vec![vec![Expr::Meta(MetaKey::Mark), Expr::CmpEq(MARK.to_ne_bytes().to_vec()), Expr::Return]];
        for redirect in redirects {
            let families = [(NFPROTO_IPV4, Some(redirect.to_v4)), (NFPROTO_IPV6, redirect.to_v6)];
            for (family, to) in families {
                if let Some(to) = to {
                    let mut rule = only.to_vec();
                    rule.extend(redirect_rule(family, redirect.port, to));
                    rules.push(rule);
                }
            }
        }
        Chain { name, hook, rules }
    };
    let mut loopback = [0u8; IFNAMSIZ];
    loopback[..2].copy_from_slice(b"lo");
    let only_loopback = [Expr::Meta(MetaKey::OifName), Expr::CmpEq(loopback.to_vec())];
    [chain("prerouting", Hook::Prerouting, &[]), chain("output", Hook::Output, &only_loopback)]
}

/// `meta nfproto <family> tcp dport <port> redirect to :<to>`.
fn redirect_rule(family: u8, port: u16, to: u16) -> [Expr; 8] {
    [
        Expr::Meta(MetaKey::NfProto),
        Expr::CmpEq(vec![family]),
        Expr::Meta(MetaKey::L4Proto),
        Expr::CmpEq(vec![L4PROTO_TCP]),
        // The destination port: bytes 2 and 3 of the TCP header.
        Expr::TransportHeader { offset: 2, len: 2 },
        Expr::CmpEq(port.to_be_bytes().to_vec()),
        Expr::Value(to.to_be_bytes().to_vec()),
        Expr::RedirectToPort,
    ]
}

/// The tables among `inet_tables` (the names of a namespace's `inet` tables) that belong to
/// agents no longer alive, by `alive(pid)`; never `own`, never another program's.
pub fn stale_tables(inet_tables: &[String], own: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    inet_tables
        .iter()
        .filter(|name| *name != own)
        .filter(|name| name.strip_prefix(TABLE_PREFIX).and_then(|pid| pid.parse().ok()).is_some_and(|pid| !alive(pid)))
        .cloned()
        .collect()
}

/// Whether process `pid` is a running tether agent (a reused pid does not count).
pub fn agent_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim_end() == "tether-agent")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules in the notation of `nft --debug=netlink`.
    fn netlink_notation(table: &str, chains: &[Chain]) -> String {
        let mut text = String::new();
        for chain in chains {
            for rule in &chain.rules {
                text.push_str(&format!("inet {table} {}\n", chain.name));
                for expr in rule {
                    text.push_str(&format!("  {expr}\n"));
                }
                text.push('\n');
            }
        }
        text
    }

    /// What `nft --debug=netlink -f` prints for the table in the module's documentation.
    #[test]
    fn chains_are_the_expressions_nft_makes_of_the_rules() {
        let chains = chains(&[Redirect { port: 8080, to_v4: 40001, to_v6: Some(40002) }]);
        assert_eq!((chains[0].hook, chains[1].hook), (Hook::Prerouting, Hook::Output));
        let expected = "inet tether_42 prerouting
  [ meta load mark => reg 1 ]
  [ cmp eq reg 1 0x74657468 ]
  [ immediate reg 0 return ]

inet tether_42 prerouting
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x0000901f ]
  [ immediate reg 1 0x0000419c ]
  [ redir proto_min reg 1 flags 0x2 ]

inet tether_42 prerouting
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x0000901f ]
  [ immediate reg 1 0x0000429c ]
  [ redir proto_min reg 1 flags 0x2 ]

inet tether_42 output
  [ meta load mark => reg 1 ]
  [ cmp eq reg 1 0x74657468 ]
  [ immediate reg 0 return ]

inet tether_42 output
  [ meta load oifname => reg 1 ]
  [ cmp eq reg 1 0x00006f6c 0x00000000 0x00000000 0x00000000 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x0000901f ]
  [ immediate reg 1 0x0000419c ]
  [ redir proto_min reg 1 flags 0x2 ]

inet tether_42 output
  [ meta load oifname => reg 1 ]
  [ cmp eq reg 1 0x00006f6c 0x00000000 0x00000000 0x00000000 ]
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x0000000a ]
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x0000901f ]
  [ immediate reg 1 0x0000429c ]
  [ redir proto_min reg 1 flags 0x2 ]

";
        assert_eq!(netlink_notation("tether_42", &chains), expected);
    }

    #[test]
    fn chains_without_an_ipv6_listener_redirect_ipv4_only() {
        let chains = chains(&[Redirect { port: 80, to_v4: 1000, to_v6: None }]);
        let rules: Vec<usize> = chains.iter().map(|chain| chain.rules.len()).collect();
        assert_eq!(rules, [2, 2], "the mark exception and one IPv4 redirect per chain");
    }

    #[test]
    fn stale_tables_keeps_own_live_and_foreign_tables() {
        let tables = ["tether_1", "tether_2", "nat", "tether_x", "tether_3"].map(String::from);
        let stale = stale_tables(&tables, "tether_3", |pid| pid == 2);
        assert_eq!(stale, ["tether_1"]);
    }
}
