//! The agent's nf_tables encoder against the kernel: in a network namespace of the test's own
//! (`ip netns add`), rules installed through `tether_agent::incoming::nftables` must be what
//! Debian's `nft list` reads back, replaced in one transaction, and removed completely.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
use tether_agent::incoming::nftables::Nftables;
use tether_agent::incoming::rules::{table_name, Claim, Claims, Redirect};
use tether_rpc_schema::incoming::IncomingMode;

use crate::harness::{require_root, STEP_TIMEOUT};

/// A network namespace made with `ip netns add`, deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        require_root();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("l11-nft-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let status =
            Command::new("ip").args(["netns", "add", &name]).status().expect("ip (iproute2) must be installed");
        assert!(status.success(), "ip netns add {name} failed");
        Netns { name }
    }

    /// Runs Debian's `nft` in the namespace and returns what it printed.
    pub fn nft(&self, args: &[&str]) -> String {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft"])
            .args(args)
            .output()
            .expect("nft (Debian's nftables) must be installed");
        assert!(output.status.success(), "nft {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// The agent's nf_tables connection, its socket made in this namespace.
    pub fn nftables(&self) -> Nftables {
        let netns = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    move_into_link_name_space(netns.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
                    Nftables::open().unwrap()
                })
                .join()
                .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.name]).status();
    }
}

/// What `nft list table inet <table>` prints for the one redirect of the rules module's
/// documentation (nft 1.0.6 writes the prerouting chain's priority -99 as `dstnat + 1`).
fn listing_8080(table: &str) -> String {
    format!(
        "table inet {table} {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat + 1; policy accept;
\t\tmeta mark & 0xffff0001 == 0x74650001 return
\t\tmeta nfproto ipv4 tcp dport 8080 redirect to :40001
\t\tmeta nfproto ipv6 tcp dport 8080 redirect to :40002
\t}}

\tchain output {{
\t\ttype nat hook output priority -99; policy accept;
\t\tmeta mark & 0xffff0001 == 0x74650001 return
\t\toifname \"lo\" meta nfproto ipv4 tcp dport 8080 redirect to :40001
\t\toifname \"lo\" meta nfproto ipv6 tcp dport 8080 redirect to :40002
\t}}
}}
"
    )
}

/// The listing `nft list table inet <table>` prints for `redirects` of the table an agent made
/// with `claims`, for tests whose ports the agent chooses.
pub fn nft_listing(table: &str, claims: &Claims, redirects: &[Redirect]) -> String {
    let mut rules = Vec::new();
    for redirect in redirects {
        rules.push(format!("meta nfproto ipv4 tcp dport {} redirect to :{}", redirect.port, redirect.to_v4));
        if let Some(to_v6) = redirect.to_v6 {
            rules.push(format!("meta nfproto ipv6 tcp dport {} redirect to :{to_v6}", redirect.port));
        }
    }
    let chain = |prefix: &str| rules.iter().map(|rule| format!("\t\t{prefix}{rule}\n")).collect::<String>();
    let userdata = claims.encode();
    let comment = String::from_utf8_lossy(&userdata[2..userdata.len() - 1]).into_owned();
    let (rank, bit) = (claims.rank, 1u32 << claims.rank);
    let skip = format!("meta mark & {:#010x} == {:#010x} return", 0xffff_0000 | bit, 0x7465_0000 | bit);
    format!(
        "table inet {table} {{\n\tcomment \"{comment}\"\n\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat + {}; policy accept;\n\t\t{skip}\n{}\t}}\n\n\tchain output {{\n\t\ttype nat hook output priority {}; policy accept;\n\t\t{skip}\n{}\t}}\n}}\n",
        rank + 1,
        chain(""),
        -99 + i32::from(rank),
        chain("oifname \"lo\" "),
    )
}

const REDIRECT_8080: Redirect = Redirect { port: 8080, to_v4: 40001, to_v6: Some(40002) };

#[test]
fn nftables_replace_installs_exactly_the_rules_nft_lists() {
    let netns = Netns::new();
    let table = table_name(std::process::id());
    netns.nftables().replace(&table, 0, &[REDIRECT_8080], &[]).unwrap();
    assert_eq!(netns.nft(&["list", "table", "inet", &table]), listing_8080(&table));
}

#[test]
fn nftables_replace_writes_the_rank_and_claims_that_nft_lists_and_list_tables_reads_back() {
    let netns = Netns::new();
    let table = table_name(std::process::id());
    let claim =
        Claim { port: 8080, mode: IncomingMode::Steal, filtered: true, holder: "session 1 of alice@laptop".into() };
    let claims = Claims { rank: 1, ports: vec![claim] };
    let mut nftables = netns.nftables();
    nftables.replace(&table, 1, &[REDIRECT_8080], &claims.encode()).unwrap();
    assert_eq!(netns.nft(&["list", "table", "inet", &table]), nft_listing(&table, &claims, &[REDIRECT_8080]));
    let listed = nftables.list_tables().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(Claims::decode(&listed[0].userdata), Some(claims));
}

#[test]
fn nftables_replace_with_other_redirects_changes_the_table_in_one_transaction() {
    let netns = Netns::new();
    let table = table_name(std::process::id());
    let mut nftables = netns.nftables();
    nftables.replace(&table, 0, &[REDIRECT_8080], &[]).unwrap();
    let monitor = Monitor::start(&netns);

    let other =
        [Redirect { port: 9090, to_v4: 41000, to_v6: None }, Redirect { port: 22, to_v4: 41001, to_v6: Some(41002) }];
    nftables.replace(&table, 0, &other, &[]).unwrap();
    let expected = format!(
        "table inet {table} {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat + 1; policy accept;
\t\tmeta mark & 0xffff0001 == 0x74650001 return
\t\tmeta nfproto ipv4 tcp dport 9090 redirect to :41000
\t\tmeta nfproto ipv4 tcp dport 22 redirect to :41001
\t\tmeta nfproto ipv6 tcp dport 22 redirect to :41002
\t}}

\tchain output {{
\t\ttype nat hook output priority -99; policy accept;
\t\tmeta mark & 0xffff0001 == 0x74650001 return
\t\toifname \"lo\" meta nfproto ipv4 tcp dport 9090 redirect to :41000
\t\toifname \"lo\" meta nfproto ipv4 tcp dport 22 redirect to :41001
\t\toifname \"lo\" meta nfproto ipv6 tcp dport 22 redirect to :41002
\t}}
}}
"
    );
    assert_eq!(netns.nft(&["list", "table", "inet", &table]), expected);

    // One generation: the old table's removal and the whole new one are a single commit.
    let events = monitor.generation();
    assert!(events.contains(&format!("delete table inet {table}")), "{events:?}");
    assert!(events.contains(&format!("add table inet {table}")), "{events:?}");
    let added_rules = events.iter().filter(|event| event.starts_with(&format!("add rule inet {table} "))).count();
    assert_eq!(added_rules, 8, "the mark exception and three redirects per chain: {events:?}");
}

#[test]
fn nftables_replace_without_redirects_leaves_nothing() {
    let netns = Netns::new();
    let table = table_name(std::process::id());
    let mut nftables = netns.nftables();
    nftables.replace(&table, 0, &[REDIRECT_8080], &[]).unwrap();
    nftables.replace(&table, 0, &[], &[]).unwrap();
    assert_eq!(netns.nft(&["list", "ruleset"]), "");
    // Removing what is not there is no error either.
    nftables.replace(&table, 0, &[], &[]).unwrap();
    assert!(!nftables.delete_table(&table).unwrap(), "there was no table to delete");
    assert_eq!(netns.nft(&["list", "ruleset"]), "");
}

#[test]
fn nftables_delete_table_removes_only_that_table() {
    let netns = Netns::new();
    let mut nftables = netns.nftables();
    nftables.replace("tether_1", 0, &[REDIRECT_8080], &[]).unwrap();
    nftables.replace("tether_2", 0, &[REDIRECT_8080], &[]).unwrap();
    assert!(nftables.delete_table("tether_1").unwrap());
    assert_eq!(netns.nft(&["list", "tables"]), "table inet tether_2\n");
}

#[test]
fn nftables_list_tables_names_the_inet_tables_only() {
    let netns = Netns::new();
    netns.nft(&["add", "table", "inet", "keep_me"]);
    netns.nft(&["add", "table", "ip", "tether_3"]);
    netns.nft(&["add", "table", "inet", "tether_4"]);
    let mut tables: Vec<String> = netns.nftables().list_tables().unwrap().into_iter().map(|table| table.name).collect();
    tables.sort();
    assert_eq!(tables, ["keep_me", "tether_4"]);
}

#[test]
fn nftables_refusal_names_the_step_and_the_kernels_error() {
    let netns = Netns::new();
    // Names are at most 255 bytes (NFT_NAME_MAXLEN 256 with the NUL).
    let err = netns.nftables().replace(&"t".repeat(300), 0, &[REDIRECT_8080], &[]).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("the kernel refused creating table inet ttt"), "{message}");
    // ERANGE, with the extended ack's message.
    assert!(message.contains("(os error 34): Attribute failed policy validation"), "{message}");
    assert_eq!(netns.nft(&["list", "ruleset"]), "", "a refused transaction changes nothing");
}

/// `nft monitor` in a namespace: the events of each committed transaction.
struct Monitor {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Monitor {
    /// Starts the monitor and waits until it reports changes.
    fn start(netns: &Netns) -> Monitor {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &netns.name, "nft", "monitor"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let monitor = Monitor { child, lines };
        // Until the monitor listens, probe changes go unseen; each seen one ends a generation.
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "nft monitor reported nothing");
            netns.nft(&["add", "table", "inet", "monitor_probe"]);
            netns.nft(&["delete", "table", "inet", "monitor_probe"]);
            if monitor.lines.recv_timeout(Duration::from_millis(200)).is_ok() {
                break;
            }
        }
        // Drain the probes' events; the last line is a generation mark.
        while monitor.lines.recv_timeout(Duration::from_millis(500)).is_ok() {}
        monitor
    }

    /// The events of the next committed transaction.
    fn generation(&self) -> Vec<String> {
        let mut events = Vec::new();
        loop {
            let line = self.lines.recv_timeout(STEP_TIMEOUT).expect("nft monitor saw no transaction");
            if line.starts_with("# new generation") {
                return events;
            }
            events.push(line);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
