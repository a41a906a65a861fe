//! Kubelet probes on a stolen port: a veth pair joins the host's network namespace (playing the
//! node: the agent finds its addresses through `/proc/1`, as an agent pod does on a node) to
//! the target's. Requests from the host with `User-Agent: kube-probe/…` reach the target's
//! own server when the subscription says the port has HTTP probes; every other request, and
//! any request from another source, reaches the daemon side.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;

use tether_rpc_schema::incoming::IncomingMode;
use tether_rpc_schema::wire::Message;

use crate::harness::{Agent, Client, Target, STEP_TIMEOUT};

const PORT: u16 = 8080;
const PROBE: &str = "kube-probe/1.30";

/// A veth pair: `host` in the host's namespace, `target` in the target's, a /30 between them.
struct Veth {
    name: String,
    host: Ipv4Addr,
    target: Ipv4Addr,
}

impl Veth {
    fn join(target: &Target) -> Veth {
        let pid = target.pid;
        let (name, peer) = (format!("tph{pid}"), format!("tpt{pid}"));
        // A /30 of 10.253.0.0/16 of the target's own, from its pid.
        let base = (pid % 16_384) * 4;
        let address = |host| Ipv4Addr::new(10, 253, (base >> 8) as u8, (base & 0xff) as u8 + host);
        let veth = Veth { name, host: address(1), target: address(2) };
        let netns = pid.to_string();
        let host_cidr = format!("{}/30", veth.host);
        let target_cidr = format!("{}/30", veth.target);
        run(&["ip", "link", "add", &veth.name, "type", "veth", "peer", "name", &peer, "netns", &netns]);
        run(&["ip", "addr", "add", &host_cidr, "dev", &veth.name]);
        run(&["ip", "link", "set", &veth.name, "up"]);
        run(&["nsenter", "-t", &netns, "-n", "ip", "addr", "add", &target_cidr, "dev", &peer]);
        run(&["nsenter", "-t", &netns, "-n", "ip", "link", "set", &peer, "up"]);
        veth
    }

    fn target_port(&self) -> SocketAddr {
        SocketAddr::from((self.target, PORT))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "delete", &self.name]).status();
    }
}

fn run(command: &[&str]) {
    let status = Command::new(command[0]).args(&command[1..]).status().expect("iproute2 and nsenter must be installed");
    assert!(status.success(), "{command:?} failed");
}

/// The target's own HTTP server on `PORT`: answers every request with `target`, keep-alive.
fn serve_target(target: &Target) {
    let server = target.in_netns(|| TcpListener::bind(("0.0.0.0", PORT)).unwrap());
    std::thread::spawn(move || {
        for socket in server.incoming().flatten() {
            std::thread::spawn(move || {
                let mut socket = socket;
                while read_head(&mut socket).is_some() {
                    if socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\ntarget").is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// Reads up to the end of an HTTP head; `None` at end of stream. Bodies are not expected.
fn read_head(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8(head).unwrap())
}

/// Sends `GET /` on `socket` (with `user_agent` if any) and returns the response's body.
fn get(socket: &mut TcpStream, user_agent: Option<&str>) -> String {
    socket.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
    let agent = user_agent.map(|agent| format!("User-Agent: {agent}\r\n")).unwrap_or_default();
    write!(socket, "GET / HTTP/1.1\r\nHost: pod\r\n{agent}\r\n").unwrap();
    let head = read_head(socket).expect("no response");
    let length = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ")?.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no content-length in {head:?}"));
    let mut body = vec![0u8; length];
    socket.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

/// `get` on a blocking thread, so that the test can serve the daemon side meanwhile.
async fn get_in_background(mut socket: TcpStream, user_agent: Option<&'static str>) -> (TcpStream, String) {
    tokio::task::spawn_blocking(move || {
        let body = get(&mut socket, user_agent);
        (socket, body)
    })
    .await
    .unwrap()
}

async fn subscribe(client: &mut Client, id: u64, http_probes: bool) {
    let subscribe = Message::IncomingSubscribe {
        port: PORT,
        mode: IncomingMode::Steal,
        filter: None,
        served_only: false,
        http_probes,
        holder: None,
    };
    assert_eq!(client.request(id, subscribe).await, Message::Done);
}

/// Plays the user process for the next connection the agent hands over: reads one request
/// head and answers `user`. Returns the peer the agent reported and the head.
async fn answer_as_user(client: &mut Client) -> (IpAddr, String) {
    let (stream, peer) = loop {
        match client.recv().await.map(|envelope| envelope.message) {
            Some(Message::IncomingConnection { stream, peer, mirror: false, .. }) => break (stream, peer),
            // An earlier connection's credit or end.
            Some(Message::StreamAck { .. } | Message::StreamEof { .. }) => {}
            other => panic!("expected a stolen connection, got {other:?}"),
        }
    };
    let mut head = Vec::new();
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match client.recv().await.map(|envelope| envelope.message) {
            Some(Message::StreamData { stream: id, data }) if id == stream => head.extend(data),
            // Acks, and the end of an earlier connection's stream (its client is done).
            Some(Message::StreamAck { .. }) => {}
            Some(Message::StreamEof { stream: id }) if id != stream => {}
            other => panic!("unexpected frame on the stolen connection {stream}: {other:?}"),
        }
    }
    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nuser".to_vec();
    client.send(0, Message::StreamData { stream, data: reply }).await;
    (peer.ip(), String::from_utf8(head).unwrap())
}

#[tokio::test]
async fn incoming_steal_with_http_probes_sends_the_nodes_probes_to_the_target_and_the_rest_to_the_user() {
    let target = Target::start();
    let veth = Veth::join(&target);
    serve_target(&target);
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    subscribe(&mut client, 2, true).await;

    // From the node, one keep-alive connection: the probe stays the target's, the next
    // request is stolen.
    let node = TcpStream::connect(veth.target_port()).unwrap();
    let (node, body) = get_in_background(node, Some(PROBE)).await;
    assert_eq!(body, "target", "a kubelet probe from the node was diverted");
    let request = get_in_background(node, None);
    let answer = answer_as_user(&mut client);
    let ((node, body), (peer, head)) = tokio::join!(request, answer);
    assert_eq!(body, "user");
    assert_eq!(peer, IpAddr::V4(veth.host));
    assert!(!head.to_ascii_lowercase().contains("kube-probe"), "{head}");
    // And a probe after it still reaches the target.
    let (_, body) = get_in_background(node, Some(PROBE)).await;
    assert_eq!(body, "target");

    // A probe-looking request from anywhere else (here the target's own address) is stolen
    // like any connection, as the raw bytes.
    let other = target.in_netns(|| TcpStream::connect(veth.target_port()).unwrap());
    let request = get_in_background(other, Some(PROBE));
    let answer = answer_as_user(&mut client);
    let ((_, body), (peer, head)) = tokio::join!(request, answer);
    assert_eq!(body, "user");
    assert_eq!(peer, IpAddr::V4(veth.target));
    assert!(head.contains(&format!("User-Agent: {PROBE}")), "not relayed as sent: {head}");
}

#[tokio::test]
async fn incoming_steal_without_http_probes_steals_the_nodes_probes_too() {
    let target = Target::start();
    let veth = Veth::join(&target);
    serve_target(&target);
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    subscribe(&mut client, 2, false).await;

    let node = TcpStream::connect(veth.target_port()).unwrap();
    let request = get_in_background(node, Some(PROBE));
    let answer = answer_as_user(&mut client);
    let ((_, body), (peer, head)) = tokio::join!(request, answer);
    assert_eq!(body, "user");
    assert_eq!(peer, IpAddr::V4(veth.host));
    assert!(head.contains(&format!("User-Agent: {PROBE}")), "{head}");
}
