//! Incoming traffic in the agent: the redirect rules in the target's network namespace (set
//! over netlink; an agent that finds no `nft` binary works the same), steal and mirror relays
//! over the wire, the guard that removes the rules after `kill -9`, and the start-up sweep of
//! rules left by dead agents. Debian's `nft` is only the tests' checker.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use tether_rpc_schema::incoming::IncomingMode;
use tether_rpc_schema::wire::Message;

use tether_agent::incoming::rules::{Claim, Claims, Redirect};

use crate::harness::{agent_command_under, Agent, Client, Target};
use crate::nftables::nft_listing;

/// What the table of an agent says of a steal on `port` by a daemon that gave no holder.
fn older_daemons_steal(port: u16) -> Claims {
    let claim =
        Claim { port, mode: IncomingMode::Steal, filtered: false, holder: "a session of an older daemon".into() };
    Claims { rank: 0, ports: vec![claim] }
}

/// `nft list tables` inside the target's network namespace.
fn nft_tables(target: &Target) -> String {
    let output = Command::new("nsenter")
        .args(["-t", &target.pid.to_string(), "-n", "nft", "list", "tables"])
        .output()
        .expect("nsenter and nft must be installed");
    assert!(output.status.success(), "nft list tables failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `nft list table inet <table>` inside the target's network namespace.
fn nft_table(target: &Target, table: &str) -> String {
    let output = Command::new("nsenter")
        .args(["-t", &target.pid.to_string(), "-n", "nft", "list", "table", "inet", table])
        .output()
        .unwrap();
    assert!(output.status.success(), "nft list table: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The ports of the agent's interception listeners (IPv4, IPv6): the only listeners in the
/// target's network namespace of these tests.
fn interception_ports(target: &Target) -> (u16, Option<u16>) {
    let output = Command::new("nsenter")
        .args(["-t", &target.pid.to_string(), "-n", "ss", "-ltnH"])
        .output()
        .expect("ss (iproute2) must be installed");
    let listing = String::from_utf8(output.stdout).unwrap();
    let port =
        |prefix: &str| listing.split_whitespace().find_map(|addr| addr.strip_prefix(prefix)?.parse::<u16>().ok());
    (port("0.0.0.0:").expect("no IPv4 interception listener"), port("[::]:"))
}

/// Waits up to 5 s for `done`.
fn within_5s(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

async fn subscribe(client: &mut Client, port: u16, mode: IncomingMode) {
    let answer = client
        .request(
            2,
            Message::IncomingSubscribe {
                port,
                mode,
                filter: None,
                served_only: false,
                http_probes: false,
                holder: None,
            },
        )
        .await;
    assert_eq!(answer, Message::Done);
}

/// Everything `socket` receives until the peer closes, read off the async runtime.
async fn read_to_end(mut socket: TcpStream) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let mut data = Vec::new();
        socket.read_to_end(&mut data).unwrap();
        data
    })
    .await
    .unwrap()
}

/// Stream messages from the agent until `StreamEof`: the announced connection and its bytes.
async fn incoming_stream(client: &mut Client) -> (u64, bool, Vec<u8>) {
    let (stream, mirror) = match client.recv().await.map(|envelope| envelope.message) {
        Some(Message::IncomingConnection { stream, port: _, peer, mirror }) => {
            assert!(peer.ip().is_loopback(), "the client connected over loopback: {peer}");
            (stream, mirror)
        }
        other => panic!("expected an incoming connection, got {other:?}"),
    };
    let mut data = Vec::new();
    loop {
        match client.recv().await.map(|envelope| envelope.message) {
            Some(Message::StreamData { stream: id, data: chunk }) if id == stream => {
                data.extend(chunk);
            }
            Some(Message::StreamEof { stream: id }) if id == stream => return (stream, mirror, data),
            other => panic!("unexpected frame on the incoming stream: {other:?}"),
        }
    }
}

#[tokio::test]
async fn incoming_steal_relays_loopback_clients_and_kill_9_removes_the_rules() {
    let target = Target::start();
    let mut agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    subscribe(&mut client, 8080, IncomingMode::Steal).await;
    let table = format!("tether_{}", agent.pid());
    let (to_v4, to_v6) = interception_ports(&target);
    assert_eq!(
        nft_table(&target, &table),
        nft_listing(&table, &older_daemons_steal(8080), &[Redirect { port: 8080, to_v4, to_v6 }])
    );

    // Nothing listens on 8080 in the target: the connection reaches the agent anyway.
    let mut user = target.in_netns(|| TcpStream::connect("127.0.0.1:8080").unwrap());
    user.write_all(b"ping").unwrap();
    user.shutdown(Shutdown::Write).unwrap();
    let (stream, mirror, data) = incoming_stream(&mut client).await;
    assert_eq!((mirror, data.as_slice()), (false, b"ping".as_slice()));
    client.send(0, Message::StreamData { stream, data: b"pong".to_vec() }).await;
    client.send(0, Message::StreamEof { stream }).await;
    let reply = read_to_end(user).await;
    assert_eq!(reply, b"pong");

    agent.kill();
    assert!(
        within_5s(|| !nft_tables(&target).contains("tether_")),
        "rules left after kill -9: {}",
        nft_tables(&target)
    );
}

#[tokio::test]
async fn incoming_mirror_keeps_the_original_server_and_copies_the_client_bytes() {
    let target = Target::start();
    let server = target.in_netns(|| TcpListener::bind("0.0.0.0:9090").unwrap());
    std::thread::spawn(move || {
        let (mut socket, _) = server.accept().unwrap();
        let mut request = Vec::new();
        socket.read_to_end(&mut request).unwrap();
        socket.write_all(b"original:").unwrap();
        socket.write_all(&request).unwrap();
    });
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    subscribe(&mut client, 9090, IncomingMode::Mirror).await;

    let mut user = target.in_netns(|| TcpStream::connect("127.0.0.1:9090").unwrap());
    user.write_all(b"hello").unwrap();
    user.shutdown(Shutdown::Write).unwrap();
    let reply = read_to_end(user).await;
    assert_eq!(reply, b"original:hello");
    let (_, mirror, copy) = incoming_stream(&mut client).await;
    assert_eq!((mirror, copy.as_slice()), (true, b"hello".as_slice()));
}

#[tokio::test]
async fn incoming_startup_sweeps_tables_of_dead_agents_and_keeps_the_others() {
    let target = Target::start();
    let live = Agent::for_target(&target);
    let mut client = live.client().await;
    subscribe(&mut client, 8080, IncomingMode::Steal).await;
    let live_table = format!("tether_{}", live.pid());
    // No process has this pid (above the kernel's pid_max), so its agent is surely dead.
    let stale = "tether_4194399";
    for (family, table) in [("inet", stale), ("inet", "keep_me"), ("ip", stale)] {
        let status = Command::new("nsenter")
            .args(["-t", &target.pid.to_string(), "-n", "nft", "add", "table", family, table])
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert!(nft_tables(&target).contains(&format!("table inet {stale}")));
    let _agent = Agent::for_target(&target);
    assert!(
        within_5s(|| !nft_tables(&target).contains(&format!("table inet {stale}"))),
        "stale table left: {}",
        nft_tables(&target)
    );
    let tables = nft_tables(&target);
    for kept in [format!("table inet {live_table}"), "table inet keep_me".into(), format!("table ip {stale}")] {
        assert!(tables.contains(&kept), "{kept} was swept: {tables}");
    }
}

/// Hides every `nft` from the agent: a tmpfs over `/usr/sbin` (`/sbin` is a link to it) in a
/// mount namespace of its own, and a `PATH` without it.
const WITHOUT_NFT: &str = r#"
set -e
mount -t tmpfs tether-no-nft /usr/sbin
if command -v nft || [ -e /sbin/nft ]; then echo "nft is still reachable" >&2; exit 97; fi
exec "$@"
"#;

#[tokio::test]
async fn incoming_steal_works_for_an_agent_without_an_nft_binary() {
    let target = Target::start();
    let wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", WITHOUT_NFT, "without-nft"];
    let mut command = agent_command_under(&wrapper, &["--pid", &target.pid.to_string()]);
    command.env("PATH", "/usr/bin:/bin");
    let mut agent = Agent::spawn(command);
    let mut client = agent.client().await;
    subscribe(&mut client, 7070, IncomingMode::Steal).await;
    let table = format!("tether_{}", agent.pid());
    let (to_v4, to_v6) = interception_ports(&target);
    assert_eq!(
        nft_table(&target, &table),
        nft_listing(&table, &older_daemons_steal(7070), &[Redirect { port: 7070, to_v4, to_v6 }])
    );

    let mut user = target.in_netns(|| TcpStream::connect("127.0.0.1:7070").unwrap());
    user.write_all(b"no nft").unwrap();
    user.shutdown(Shutdown::Write).unwrap();
    let (stream, _, data) = incoming_stream(&mut client).await;
    assert_eq!(data, b"no nft");
    client.send(0, Message::StreamData { stream, data: b"ok".to_vec() }).await;
    client.send(0, Message::StreamEof { stream }).await;
    assert_eq!(read_to_end(user).await, b"ok");

    agent.kill();
    assert!(within_5s(|| !nft_tables(&target).contains(&table)), "the guard left {}", nft_tables(&target));
}

#[tokio::test]
async fn incoming_served_only_intercepts_only_ports_the_target_listens_on() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    let served_only = |port| Message::IncomingSubscribe {
        port,
        mode: IncomingMode::Steal,
        filter: None,
        served_only: true,
        http_probes: false,
        holder: None,
    };
    match client.request(2, served_only(8181)).await {
        Message::Failure { errno, message } => {
            assert_eq!(errno, libc::ENOENT, "{message}");
            assert!(message.contains("nothing in the target listens on port 8181"), "{message}");
        }
        other => panic!("a port nobody serves was intercepted: {other:?}"),
    }
    assert!(!nft_tables(&target).contains("tether_"), "rules for a refused port");
    // Served over IPv6 only, and by a socket the agent did not make.
    let _server = target.in_netns(|| TcpListener::bind("[::]:8181").unwrap());
    assert_eq!(client.request(3, served_only(8181)).await, Message::Done);
    // The agent's own interception listeners do not count as the target's.
    let (to_v4, _) = interception_ports(&target);
    match client.request(4, served_only(to_v4)).await {
        Message::Failure { errno, .. } => assert_eq!(errno, libc::ENOENT),
        other => panic!("the agent's own listener counted as the target's: {other:?}"),
    }
}
