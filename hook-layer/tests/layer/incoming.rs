//! Listening sockets: `listen` is reported to the proxy, connections the daemon relays report
//! their real client in `accept` and `getpeername`, and closing the listener unsubscribes it.

use tether_rpc_schema::policy::{IncomingPolicy, LayerPolicy};
use tether_rpc_schema::wire::Message;

use crate::fake_proxy::{Target, INCOMING_CLIENT};
use crate::harness::{private_network, Session};

#[test]
fn listen_reports_the_port_and_accept_shows_the_real_client() {
    private_network();
    for call in ["accept", "accept4"] {
        let s = Session::start(Target::sample(), LayerPolicy::default());
        let (code, out) = s.run("listenops", &[call]);
        assert_eq!(
            (code, out.as_str()),
            (0, format!("accept={INCOMING_CLIENT}\npeer={INCOMING_CLIENT}\n").as_str()),
            "{call}"
        );
        let requests = s.proxy.requests();
        let port = requests
            .iter()
            .find_map(|request| match request {
                Message::IncomingListen { addr } => Some(addr.port()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no listen report: {requests:?}"));
        assert!(requests.iter().any(|request| matches!(request, Message::IncomingPeer { .. })), "{requests:?}");
        assert!(
            requests.contains(&Message::IncomingUnlisten { port }),
            "closing the listener unsubscribes: {requests:?}"
        );
    }
}

#[test]
fn listen_with_incoming_off_is_not_reported_and_peers_stay_loopback() {
    private_network();
    let policy =
        LayerPolicy { incoming: IncomingPolicy { mode: None, ..IncomingPolicy::default() }, ..LayerPolicy::default() };
    let s = Session::start(Target::sample(), policy);
    let (code, out) = s.run("listenops", &["accept"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("accept=127.0.0.1:"), "{out}");
    let requests = s.proxy.requests();
    assert!(
        !requests
            .iter()
            .any(|request| matches!(request, Message::IncomingListen { .. } | Message::IncomingPeer { .. })),
        "{requests:?}"
    );
}
