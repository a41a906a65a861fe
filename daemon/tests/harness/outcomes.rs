//! A connection to the target's network that takes its time ends as it would in the pod: a
//! non-blocking socket stays connecting (not writable) until the target's side settles, then
//! shows that side's outcome through `SO_ERROR` or a repeated `connect`, with event loops (Node,
//! libpq's psql, CPython's timeout sockets) never blocked meanwhile.

use std::process::Command;

use serde_json::Value;

use crate::support::{require_tier, Fixture, Lang, Tether};

/// In the pod's network namespace, drops the first SYN of every connection to `ip:port`, so
/// that the pod's own kernel answers only with its retransmission a second later: connected,
/// or refused where nothing listens.
fn delay_connections(pod: &Fixture, ip: &str, port: &str) {
    let table = format!(
        "table ip tether_test_slow_{port} {{
           set seen {{ type ipv4_addr . inet_service; flags timeout; timeout 1m; }}
           chain output {{
             type filter hook output priority 0;
             ip daddr {ip} tcp dport {port} tcp flags & (syn | ack) == syn ip saddr . tcp sport @seen accept
             ip daddr {ip} tcp dport {port} tcp flags & (syn | ack) == syn add @seen {{ ip saddr . tcp sport }} drop
           }}
         }}"
    );
    in_pod(pod, &["nft", &table]);
}

fn in_pod(pod: &Fixture, command: &[&str]) {
    let status = Command::new("ip").args(["netns", "exec", &pod.get("/pod_netns")]).args(command).status().unwrap();
    assert!(status.success(), "{command:?} in the pod's namespace");
}

/// What `connect` said and what the wait for it ended with; asserts on the way that the call
/// itself did not wait for the target's side (which takes a second or more in these tests).
fn outcome(report: &Value) -> (Option<&str>, Option<&str>) {
    let (called, settled) = (report["connect_ms"].as_u64().unwrap(), report["settled_ms"].as_u64().unwrap());
    assert!(called * 4 < settled, "connect returned only when its outcome was known: {report}");
    let waited = report.get("so_error").or_else(|| report.get("again"));
    (report["connect"].as_str(), waited.and_then(Value::as_str))
}

#[test]
fn a_slow_connection_is_writable_once_the_targets_side_is_and_has_the_pods_address() {
    require_tier();
    let pod = Fixture::pod("out-slow");
    let echo = format!("{}:9000", pod.get("/orders_ip"));
    delay_connections(&pod, &pod.get("/orders_ip"), "9000");
    let tether = Tether::new();
    for how in [&[][..], &["again"][..]] {
        let mut check = vec!["connect-nonblocking", echo.as_str()];
        check.extend_from_slice(how);
        let report = tether.probe(&pod.pid_target(), None, Lang::C, &check);
        assert_eq!(outcome(&report), (Some("EINPROGRESS"), Some("0")), "{report}");
        assert_eq!(report["reply"], "echo:ping\n", "{report}");
        let local = report["local"].as_str().unwrap_or_default();
        assert!(local.starts_with(&format!("{}:", pod.get("/pod_ip"))), "getsockname is the pod's address: {report}");
    }
    let node = tether.probe(&pod.pid_target(), None, Lang::Node, &["tcp", &echo, "hi"]);
    assert_eq!(node["reply"], "echo:hi", "{node}");
}

#[test]
fn a_slow_refusal_is_the_targets_refusal() {
    require_tier();
    let pod = Fixture::pod("out-refused");
    let db_ip = pod.get("/orders_db_ip");
    let refused = format!("{db_ip}:5432");
    delay_connections(&pod, &db_ip, "5432");
    let tether = Tether::new();
    let target = pod.pid_target();
    for how in [&[][..], &["again"][..]] {
        let mut check = vec!["connect-nonblocking", refused.as_str()];
        check.extend_from_slice(how);
        let report = tether.probe(&target, None, Lang::C, &check);
        assert_eq!(outcome(&report), (Some("EINPROGRESS"), Some("ECONNREFUSED")), "{report}");
    }
    for lang in [Lang::Node, Lang::Python] {
        let report = tether.probe(&target, None, lang, &["tcp", &refused, "hi"]);
        assert_eq!(report["code"], "ECONNREFUSED", "{lang:?}: {report}");
    }
    let psql = tether.exec(
        &target,
        None,
        &["psql", &format!("host={db_ip} port=5432 user=shop dbname=orders connect_timeout=20"), "-c", "select 1"],
    );
    let said = String::from_utf8_lossy(&psql.stderr);
    assert!(said.contains("Connection refused"), "psql reports the refusal: {said}");
}

#[test]
fn an_unreachable_host_and_a_silent_one_are_the_targets_errors() {
    require_tier();
    let pod = Fixture::pod("out-unreach");
    let pod_ip = pod.get("/pod_ip");
    let (subnet, _) = pod_ip.rsplit_once('.').unwrap();
    // No one has this address on the pod's own link: its neighbour lookup fails after ~3 s.
    let absent = format!("{subnet}.250:80");
    let tether = Tether::new();
    let target = pod.pid_target();
    let expect = |addr: &str, errno: &str| {
        let report = tether.probe(&target, None, Lang::C, &["connect-nonblocking", addr]);
        assert_eq!(outcome(&report), (Some("EINPROGRESS"), Some(errno)), "{report}");
        let node = tether.probe(&target, None, Lang::Node, &["tcp", addr, "hi"]);
        assert_eq!(node["code"], errno, "{node}");
    };
    expect(&absent, "EHOSTUNREACH");
    // SYNs to this one vanish; the pod's kernel gives up after one retransmission (3 s), set
    // only now: the neighbour lookup above fails after 3 s too.
    let silent = format!("{}:9", pod.get("/orders_ip"));
    let drop_all = format!(
        "table ip tether_test_silent {{
           chain output {{
             type filter hook output priority 0;
             ip daddr {} tcp dport 9 drop
           }}
         }}",
        pod.get("/orders_ip")
    );
    in_pod(&pod, &["nft", &drop_all]);
    in_pod(&pod, &["sysctl", "-qw", "net.ipv4.tcp_syn_retries=1"]);
    expect(&silent, "ETIMEDOUT");
}
