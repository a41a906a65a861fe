//! The redirect rules of one agent: an nftables table `tether_<agent pid>` (family `inet`) in
//! the target's network namespace. Connections to a subscribed port, from other hosts
//! (`prerouting`) and from the target's own namespace over loopback (`output`), are
//! redirected to the agent's interception listeners; packets carrying the [`mark`] of this
//! agent or of one ranked after it are left alone.
//!
//! Several agents (of several developers' daemons) may intercept one target. Each table has a
//! rank, one more than the highest of the tables it found when it was made: its chains run at
//! [`CHAIN_PRIORITY`] plus the rank, so the first nat chain to redirect a new connection is the
//! lowest-ranked agent's. An agent's own connections to the target's server carry its mark,
//! whose bits 0 to rank are set: the tables of that rank and below skip them, so they reach the
//! next agent's table, and the last agent's reach the target. Requests an agent's filter does
//! not match thus pass every later agent's filter before the target answers them. The table's
//! userdata says what it holds ([`Claims`]), so that an agent can refuse a port another agent
//! steals whole and name who does; `nft list` shows them as the table's comment.
//!
//! This module says what the table holds, as nftables expressions; `nftables` writes it to the
//! kernel, replacing the whole table in one transaction on every change. In `nft` notation,
//! rank 1:
//!
//! ```text
//! table inet tether_42 {
//!     chain prerouting {
//!         type nat hook prerouting priority -98; policy accept;
//!         meta mark & 0xffff0002 == 0x74650002 return
//!         meta nfproto ipv4 tcp dport 8080 redirect to :40001
//!         meta nfproto ipv6 tcp dport 8080 redirect to :40002
//!     }
//!     chain output {
//!         type nat hook output priority -98; policy accept;
//!         meta mark & 0xffff0002 == 0x74650002 return
//!         oifname "lo" meta nfproto ipv4 tcp dport 8080 redirect to :40001
//!         oifname "lo" meta nfproto ipv6 tcp dport 8080 redirect to :40002
//!     }
//! }
//! ```

use serde::{Deserialize, Serialize};
use tether_rpc_schema::incoming::IncomingMode;

use super::nftables::expr::{Expr, MetaKey};

/// The high half of every tether mark ("te"); the low half holds the rank bits.
const MARK_BASE: u32 = 0x7465_0000;
const MARK_BASE_MASK: u32 = 0xffff_0000;

/// Ranks run from 0 to this: one bit of a mark's low half each.
pub const MAX_RANK: u8 = 15;

/// `SO_MARK` of the connections to the target's server of the agent ranked `rank`: bits 0 to
/// `rank` set.
pub fn mark(rank: u8) -> u32 {
    MARK_BASE | ((1u32 << (u32::from(rank.min(MAX_RANK)) + 1)) - 1)
}

/// The bit of `rank` in a mark.
fn rank_bit(rank: u8) -> u32 {
    1 << rank.min(MAX_RANK)
}

/// Prefix of every tether table; the rest of the name is the agent's pid.
pub const TABLE_PREFIX: &str = "tether_";

/// Priority of both base chains of rank 0: just after destination NAT (`dstnat`,
/// `NF_IP_PRI_NAT_DST`), where iptables' nat table hooks in; rank `r` adds `r`. The first nat chain that maps a connection decides it,
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

/// A base chain of type nat, policy accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: &'static str,
    pub hook: Hook,
    pub priority: i32,
    /// Each rule's expressions, in order.
    pub rules: Vec<Vec<Expr>>,
}

/// The table name of the agent with process id `pid`.
pub fn table_name(pid: u32) -> String {
    format!("{TABLE_PREFIX}{pid}")
}

/// The chains of the table of rank `rank` holding exactly `redirects` (none: the table is
/// removed instead).
pub fn chains(rank: u8, redirects: &[Redirect]) -> [Chain; 2] {
    let skip = vec![
        Expr::Meta(MetaKey::Mark),
        Expr::And((MARK_BASE_MASK | rank_bit(rank)).to_ne_bytes().to_vec()),
        Expr::CmpEq((MARK_BASE | rank_bit(rank)).to_ne_bytes().to_vec()),
        Expr::Return,
    ];
    let chain = |name, hook, only: &[Expr]| {
        let mut rules = vec![skip.clone()];
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
        Chain { name, hook, priority: CHAIN_PRIORITY + i32::from(rank), rules }
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

/// What one subscribed port of a table is used for, for other agents to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub port: u16,
    pub mode: IncomingMode,
    pub filtered: bool,
    /// Who subscribed it, in words (a session of a daemon of a user on a machine).
    pub holder: String,
}

impl Claim {
    /// Whether this claim takes every connection to its port, leaving nothing to agents after
    /// it.
    pub fn takes_all(&self) -> bool {
        self.mode == IncomingMode::Steal && !self.filtered
    }
}

/// A table's userdata: its rank and what its ports are used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub rank: u8,
    pub ports: Vec<Claim>,
}

/// `NFT_USERDATA_MAXLEN`: the most userdata the kernel keeps for a table.
pub const USERDATA_MAX: usize = 256;

/// `NFTNL_UDATA_TABLE_COMMENT`: the userdata is libnftnl's type-length-value list, whose
/// table comment `nft list` shows; the claims are that comment, as JSON, NUL-terminated.
const UDATA_TABLE_COMMENT: u8 = 0;

/// The longest comment: its length and NUL must fit the one length byte.
const COMMENT_MAX: usize = 254;

/// How much of a holder's words a claim keeps, so that a few ports fit.
const HOLDER_MAX: usize = 64;

impl Claims {
    /// The userdata for the table: holders shortened and ports left out until it fits.
    pub fn encode(&self) -> Vec<u8> {
        let mut claims = self.clone();
        for claim in &mut claims.ports {
            if claim.holder.len() > HOLDER_MAX {
                let end = (0..=HOLDER_MAX).rev().find(|end| claim.holder.is_char_boundary(*end)).unwrap_or(0);
                claim.holder.truncate(end);
            }
        }
        let mut json = serde_json::to_vec(&claims).unwrap_or_default();
        while json.len() > COMMENT_MAX && claims.ports.pop().is_some() {
            json = serde_json::to_vec(&claims).unwrap_or_default();
        }
        let mut userdata = vec![UDATA_TABLE_COMMENT, (json.len() + 1) as u8];
        userdata.extend_from_slice(&json);
        userdata.push(0);
        userdata
    }

    /// A table's claims from its userdata; `None` for a table without them (one of an agent
    /// that wrote none).
    pub fn decode(userdata: &[u8]) -> Option<Claims> {
        let mut rest = userdata;
        while let [kind, len, tail @ ..] = rest {
            let (value, after) = tail.split_at_checked(usize::from(*len))?;
            if *kind == UDATA_TABLE_COMMENT {
                return serde_json::from_slice(value.strip_suffix(&[0])?).ok();
            }
            rest = after;
        }
        None
    }
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
        let chains = chains(1, &[Redirect { port: 8080, to_v4: 40001, to_v6: Some(40002) }]);
        assert_eq!((chains[0].hook, chains[1].hook), (Hook::Prerouting, Hook::Output));
        assert_eq!((chains[0].priority, chains[1].priority), (-98, -98));
        let expected = "inet tether_42 prerouting
  [ meta load mark => reg 1 ]
  [ bitwise reg 1 = ( reg 1 & 0xffff0002 ) ^ 0x00000000 ]
  [ cmp eq reg 1 0x74650002 ]
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
  [ bitwise reg 1 = ( reg 1 & 0xffff0002 ) ^ 0x00000000 ]
  [ cmp eq reg 1 0x74650002 ]
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
        let chains = chains(0, &[Redirect { port: 80, to_v4: 1000, to_v6: None }]);
        let rules: Vec<usize> = chains.iter().map(|chain| chain.rules.len()).collect();
        assert_eq!(rules, [2, 2], "the mark exception and one IPv4 redirect per chain");
    }

    /// The skip rule of the table of rank `table` lets a packet with `mark` through to its
    /// redirects.
    fn redirected_by(table: u8, mark: u32) -> bool {
        let [Expr::Meta(MetaKey::Mark), Expr::And(mask), Expr::CmpEq(value), Expr::Return] =
            &chains(table, &[])[0].rules[0][..]
        else {
            panic!("the first rule is the mark exception");
        };
        let word = |bytes: &[u8]| u32::from_ne_bytes(bytes.try_into().unwrap());
        mark & word(mask) != word(value)
    }

    #[test]
    fn an_agents_connections_pass_its_table_and_earlier_ones_and_meet_later_ones() {
        for agent in 0..=MAX_RANK {
            for table in 0..=MAX_RANK {
                assert_eq!(redirected_by(table, mark(agent)), table > agent, "agent {agent}, table {table}");
            }
        }
        assert!(redirected_by(0, 0), "an unmarked client's connection");
        assert!(redirected_by(0, 0x0000_0001), "another program's mark with the same low bit");
    }

    #[test]
    fn claims_fit_the_kernels_userdata_and_read_back() {
        let claim = |port| Claim { port, mode: IncomingMode::Steal, filtered: false, holder: "é".repeat(100) };
        let claims = Claims { rank: 3, ports: (1..=20).map(claim).collect() };
        let encoded = claims.encode();
        assert!(encoded.len() <= USERDATA_MAX, "{} bytes", encoded.len());
        assert_eq!((encoded[0], usize::from(encoded[1]), encoded.last()), (0, encoded.len() - 2, Some(&0)), "one TLV");
        let decoded = Claims::decode(&encoded).unwrap();
        assert_eq!(decoded.rank, 3);
        assert!(!decoded.ports.is_empty() && decoded.ports[0].holder.len() <= HOLDER_MAX, "{decoded:?}");
        assert!(decoded.ports[0].takes_all());
        assert_eq!(Claims::decode(b""), None);
        assert_eq!(Claims::decode(&[0, 200, b'{']), None, "a length past the end");
    }

    #[test]
    fn stale_tables_keeps_own_live_and_foreign_tables() {
        let tables = ["tether_1", "tether_2", "nat", "tether_x", "tether_3"].map(String::from);
        let stale = stale_tables(&tables, "tether_3", |pid| pid == 2);
        assert_eq!(stale, ["tether_1"]);
    }
}
