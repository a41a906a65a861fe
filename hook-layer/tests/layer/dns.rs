//! DNS: target names resolve to the fake answers; host names stay on the host.

use tether_rpc_schema::policy::LayerPolicy;
use tether_rpc_schema::wire::Message;

use crate::fake_proxy::Target;
use crate::harness::{run, Session};

#[test]
fn getaddrinfo_of_target_name_returns_target_addresses() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let (code, out) = s.run("netops", &["gai", "orders.shop.svc"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "canon=orders.shop.svc.cluster.local\ntype=1 addr=10.96.4.7:80\ntype=2 addr=10.96.4.7:80\ntype=3 addr=10.96.4.7:80\n");
    let (_, out) = s.run("netops", &["gai", "dual.shop.svc", &libc::AF_INET6.to_string()]);
    assert!(out.contains("type=1 addr=fd00::8:80") && !out.contains("10.96"), "{out}");
}

#[test]
fn getaddrinfo_of_unknown_target_name_is_eai_noname() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    assert_eq!(s.run("netops", &["gai", "missing.shop.svc"]).1, format!("gai={}\n", libc::EAI_NONAME));
}

#[test]
fn localhost_resolves_on_the_host() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let (code, out) = s.run("netops", &["gai", "localhost", &libc::AF_INET.to_string()]);
    assert_eq!(code, 0);
    assert!(out.contains("addr=127.0.0.1:80"), "{out}");
    assert!(!s.proxy.requests().iter().any(|m| matches!(m, Message::DnsLookup { .. })));
}

#[test]
fn gethostbyname_and_getent_use_the_target_resolver() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    assert_eq!(s.run("netops", &["ghbn", "orders.shop.svc"]).1, "name=orders.shop.svc.cluster.local\naddr=10.96.4.7\n");
    assert_eq!(s.run("netops", &["ghbn", "nope.shop.svc"]).1, "h_errno=1\n");
    let mut getent = s.command("getent");
    getent.args(["hosts", "orders.shop.svc"]);
    let (code, out) = run(getent);
    assert_eq!(code, 0);
    assert!(out.starts_with("10.96.4.7") && out.contains("orders.shop.svc.cluster.local"), "{out}");
}
