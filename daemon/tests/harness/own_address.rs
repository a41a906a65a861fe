//! The program's own address: `getsockname` of an outgoing TCP connection and of a connected
//! UDP socket is the pod's address, as in the pod (the idiom of finding one's own IP by
//! connecting a UDP socket).

use std::process::Command;

use crate::incoming::{node, program, Server};
use crate::support::{require_tier, Fixture, Tether};

const OWN_ADDRESSES: &str = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect((host, 9))
tcp = socket.create_connection((host, port))
print(udp.getsockname()[0], tcp.getsockname()[0], tcp.getsockname()[1] == tcp.getsockname()[1])
"#;

#[test]
fn getsockname_of_outgoing_tcp_and_connected_udp_sockets_is_the_pods_address() {
    require_tier();
    let pod = Fixture::pod("own-addr");
    let tether = Tether::new();
    // A server on a client host of the pod's network (its "cluster" namespace).
    let mut server = Command::new("ip");
    server.args(["netns", "exec", &pod.get("/cluster_netns"), &node(), &program(), "tcp-hash-server", "9580", "x"]);
    let _server = Server::start(server);
    let output = tether.exec(
        &pod.pid_target(),
        None,
        &["/usr/bin/python3", "-c", OWN_ADDRESSES, &pod.get("/cluster_ip"), "9580"],
    );
    let said = String::from_utf8_lossy(&output.stdout);
    let pod_ip = pod.get("/pod_ip");
    assert_eq!(said.trim(), format!("{pod_ip} {pod_ip} True"), "{}", String::from_utf8_lossy(&output.stderr));
}
