//! Outgoing connections: TCP and UDP to target addresses go through the fake proxy's relays
//! (in a private network namespace, so nothing can leak to a real address).

use tether_rpc_schema::policy::LayerPolicy;
use tether_rpc_schema::wire::Message;

use crate::fake_proxy::Target;
use crate::harness::{private_network, Session};

#[test]
fn tcp_connect_to_target_address_reaches_the_relay_and_reports_the_real_peer() {
    private_network();
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let (code, out) = s.run("netops", &["tcp", "10.96.4.7", "5432"]);
    assert_eq!((code, out.as_str()), (0, "peer=10.96.4.7:5432\nreply=hello from 10.96.4.7:5432\n"));
    let peers = s.proxy.tcp_peers();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].0, peers[0].1, "the relay's peer is the announced local port");
}

#[test]
fn tcp_connect_with_mapped_v6_destination_counts_as_v4() {
    private_network();
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let (code, out) = s.run("netops", &["tcp", "10.96.4.7", "8080", "v6"]);
    assert_eq!((code, out.as_str()), (0, "peer=::ffff:10.96.4.7:8080\nreply=hello from 10.96.4.7:8080\n"));
}

#[test]
fn tcp_connect_refused_in_the_target_is_econnrefused() {
    private_network();
    let s = Session::start(Target::sample(), LayerPolicy::default());
    assert_eq!(s.run("netops", &["tcp", "10.96.4.7", "1"]).1, format!("connect errno={}\n", libc::ECONNREFUSED));
}

#[test]
fn udp_sendto_goes_through_the_relay_and_replies_show_the_real_source() {
    private_network();
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let (code, out) = s.run("netops", &["udp", "10.96.0.10", "53"]);
    assert_eq!((code, out.as_str()), (0, "source=10.96.0.10:53\nreply=echo ping via 10.96.0.10:53\n"));
}

#[test]
fn loopback_connections_stay_on_the_host() {
    private_network();
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        let (mut conn, _) = listener.accept().unwrap();
        let _ = writeln!(conn, "host");
    });
    let (code, out) = s.run("netops", &["tcp", "127.0.0.1", &port.to_string()]);
    assert_eq!((code, out), (0, format!("peer=127.0.0.1:{port}\nreply=host\n")));
    assert!(!s.proxy.requests().iter().any(|m| matches!(m, Message::OutgoingTcp { .. })));
}
