//! The redirect rules of one agent: an nftables table `tether_<agent pid>` (family `inet`) in
//! the target's network namespace. Connections to a subscribed port, from other hosts
//! (`prerouting`) and from the target's own namespace over loopback (`output`), are
//! redirected to the agent's interception listeners; packets carrying [`MARK`] (the agent's
//! own connections to the target's server) are left alone.
//!
//! The whole table is replaced in one `nft -f -` transaction on every change. The agent image
//! has no `nft`: the agent runs the host's (or its own image's) binary, found by [`nft_path`].

use std::fmt::Write as _;
use std::path::PathBuf;

/// `SO_MARK` of the agent's own connections to the target's server ("teth").
pub const MARK: u32 = 0x7465_7468;

/// Prefix of every tether table; the rest of the name is the agent's pid.
pub const TABLE_PREFIX: &str = "tether_";

/// One subscribed port and where its connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    pub port: u16,
    /// Port of the agent's IPv4 interception listener.
    pub to_v4: u16,
    /// Port of the agent's IPv6 interception listener, when it has one.
    pub to_v6: Option<u16>,
}

/// The table name of the agent with process id `pid`.
pub fn table_name(pid: u32) -> String {
    format!("{TABLE_PREFIX}{pid}")
}

/// The nft script that replaces `table` with exactly `redirects`; without redirects the table
/// is removed, so nothing of tether stays in the target while nothing is subscribed.
pub fn script(table: &str, redirects: &[Redirect]) -> String {
    let replace = format!("add table inet {table}\ndelete table inet {table}\n");
    if redirects.is_empty() {
        return replace;
    }
    let mut rules = String::new();
    for redirect in redirects {
        let _ =
            writeln!(rules, "{{prefix}}meta nfproto ipv4 tcp dport {} redirect to :{}", redirect.port, redirect.to_v4);
        if let Some(to_v6) = redirect.to_v6 {
            let _ = writeln!(rules, "{{prefix}}meta nfproto ipv6 tcp dport {} redirect to :{to_v6}", redirect.port);
        }
    }
    let chain = |name: &str, hook: &str, prefix: &str| {
        format!(
            "  chain {name} {{\n    type nat hook {hook} priority -100; policy accept;\n    meta mark {MARK:#x} return\n{}  }}\n",
            rules.replace("{prefix}", &format!("    {prefix}"))
        )
    };
    format!(
        "{replace}table inet {table} {{\n{}{}}}\n",
        chain("prerouting", "prerouting", ""),
        chain("output", "output", "oifname \"lo\" "),
    )
}

/// Tables of `nft list tables` output that belong to agents no longer alive, by `alive(pid)`.
pub fn stale_tables(listing: &str, own: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.trim().strip_prefix("table inet "))
        .filter(|name| *name != own)
        .filter_map(|name| {
            let pid: u32 = name.strip_prefix(TABLE_PREFIX)?.parse().ok()?;
            (!alive(pid)).then(|| name.to_owned())
        })
        .collect()
}

/// Whether process `pid` is a running tether agent (a reused pid does not count).
pub fn agent_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim_end() == "tether-agent")
}

/// The `nft` binary: `TETHER_NFT` when set, else the first of the usual places.
pub fn nft_path() -> PathBuf {
    if let Some(path) = std::env::var_os("TETHER_NFT") {
        return PathBuf::from(path);
    }
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("nft"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_replaces_the_table_with_both_hooks() {
        let text = script("tether_42", &[Redirect { port: 8080, to_v4: 40001, to_v6: Some(40002) }]);
        let expected = "add table inet tether_42
delete table inet tether_42
table inet tether_42 {
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    meta mark 0x74657468 return
    meta nfproto ipv4 tcp dport 8080 redirect to :40001
    meta nfproto ipv6 tcp dport 8080 redirect to :40002
  }
  chain output {
    type nat hook output priority -100; policy accept;
    meta mark 0x74657468 return
    oifname \"lo\" meta nfproto ipv4 tcp dport 8080 redirect to :40001
    oifname \"lo\" meta nfproto ipv6 tcp dport 8080 redirect to :40002
  }
}
";
        assert_eq!(text, expected);
    }

    #[test]
    fn script_without_redirects_removes_the_table() {
        assert_eq!(script("tether_42", &[]), "add table inet tether_42\ndelete table inet tether_42\n");
    }

    #[test]
    fn stale_tables_keeps_own_live_and_foreign_tables() {
        let listing =
            "table inet tether_1\ntable inet tether_2\ntable ip nat\ntable inet tether_x\ntable inet tether_3\n";
        let stale = stale_tables(listing, "tether_3", |pid| pid == 2);
        assert_eq!(stale, ["tether_1"]);
    }
}
