//! Several developers, each with a daemon of their own (so an agent of their own), intercept
//! one target's port at once: each steals the requests their filter matches, the requests no
//! one's filter matches reach the target, and a port someone steals whole is refused to the
//! next one with their name.

use std::time::Duration;

use crate::incoming::{answered_by, client, nft_tables, pairs, target_server, user_server, user_server_telling};
use crate::support::{eventually, require_tier, Fixture, Tether};

/// The steal config of a developer whose process listens on `user_port` of this machine for
/// the target's port 9560 (the developers share this machine, so each needs a port of it).
fn steal(tether: &Tether, user_port: u16, header: Option<&str>) -> std::path::PathBuf {
    let filter = header.map_or(String::new(), |header| format!(r#", "http_filter": {{"header": "{header}"}}"#));
    let json = format!(r#"{{"incoming": {{"mode": "steal", "port_mapping": {{"9560": {user_port}}}{filter}}}}}"#);
    tether.config("steal.json", &json)
}

#[test]
fn developers_steal_their_own_requests_of_one_port_and_a_port_stolen_whole_is_refused_by_name() {
    require_tier();
    let pod = Fixture::pod("devs");
    let _target = target_server(&pod, &["http-server", "9560", "target"]);
    let (alice, bob, carol, dave) = (Tether::new(), Tether::new(), Tether::new(), Tether::new());
    let alice_process = user_server(
        &alice,
        &pod,
        &steal(&alice, 9561, Some("X-Tether-User: alice")),
        &["http-server", "9561", "alice"],
    );
    let bob_process =
        user_server(&bob, &pod, &steal(&bob, 9562, Some("X-Tether-User: bob")), &["http-server", "9562", "bob"]);
    assert_eq!(nft_tables(&pod).matches("table inet tether_").count(), 2, "an agent's table per developer");

    let url = format!("http://{}:9560/api", pod.get("/pod_ip"));
    let report = client(&pod, &["http-requests", &url, "http1", "alice", "bob", "-", "bob", "carol", "alice"]);
    let expected =
        [("alice", "alice"), ("bob", "bob"), ("target", "-"), ("bob", "bob"), ("target", "carol"), ("alice", "alice")];
    assert_eq!(answered_by(&report).0, pairs(&expected), "{report}");

    // Stealing what no filter took is allowed; after that the port is taken whole.
    let carol_process = user_server(&carol, &pod, &steal(&carol, 9563, None), &["http-server", "9563", "carol"]);
    let report = client(&pod, &["http-requests", &url, "http1", "alice", "-", "bob", "carol"]);
    let expected = [("alice", "alice"), ("carol", "-"), ("bob", "bob"), ("carol", "carol")];
    assert_eq!(answered_by(&report).0, pairs(&expected), "{report}");

    let stderr = dave.state_dir.join("dave.stderr");
    let dave_config = steal(&dave, 9564, None);
    let dave_process = user_server_telling(&dave, &pod, &dave_config, &["http-server", "9564", "dave"], &stderr);
    let said = || std::fs::read_to_string(&stderr).unwrap();
    let told = eventually(Duration::from_secs(10), || {
        said().contains("port 9560 is stolen whole by another developer's agent, for session ") && said().contains("@")
    });
    assert!(told, "the fourth developer is not told who has the port: {}", said());
    let report = client(&pod, &["http-requests", &url, "http1", "dave"]);
    assert_eq!(answered_by(&report).0, pairs(&[("carol", "dave")]), "{report}");

    for process in [dave_process, carol_process, bob_process, alice_process] {
        process.stop();
    }
    let clean = eventually(Duration::from_secs(10), || !nft_tables(&pod).contains("tether_"));
    assert!(clean, "tables left behind: {}", nft_tables(&pod));
    let report = client(&pod, &["http-requests", &url, "http1", "alice"]);
    assert_eq!(answered_by(&report).0, pairs(&[("target", "alice")]), "{report}");
}
