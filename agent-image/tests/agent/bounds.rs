//! What the agent takes from whoever connects before authenticating (a small first frame, a
//! short wait, few such connections at once), what it takes from the daemon after (any number
//! of requests, queued; silence only up to the keepalive limit), and its open-files limit.

use std::time::Duration;

use tether_rpc_schema::incoming::IncomingMode;
use tether_rpc_schema::wire::{Message, KEEPALIVE_CAPABILITY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{agent_command, start_agent, Agent, Client, Target, STEP_TIMEOUT, TOKEN};

/// Waits until the agent closes `socket` (end of file or a reset), reading and discarding.
async fn closed_by_agent(socket: &mut TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    let closed = async {
        loop {
            match socket.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, closed).await.is_ok()
}

/// Connects as the daemon, retrying while the agent still turns connections away.
async fn daemon_client(agent: &Agent) -> Client {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        // The agent may still count the connections just closed as pending, and close this
        // one: try again rather than fail.
        let mut client = Client::connect(agent.addr).await;
        if client.offer(1, hello_message()).await {
            let answer = client.recv_within(Duration::from_secs(5)).await.map(|envelope| envelope.message);
            if let Some(Message::HelloOk(_)) = answer {
                return client;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the agent keeps refusing its daemon");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn hello_frames_announcing_16_mib_are_closed_without_the_agent_growing() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let peak_before = agent.status_kib("VmHWM");
    let mut attacks = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let addr = agent.addr;
        attacks.spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            let len: u32 = 16 * 1024 * 1024;
            // What the agent does not read fails to send once it closed the connection.
            let _ = socket.write_all(&len.to_be_bytes()).await;
            let _ = socket.write_all(&vec![0xa5; len as usize]).await;
            closed_by_agent(&mut socket).await
        });
    }
    let closed = attacks.join_all().await;
    assert!(closed.iter().all(|closed| *closed), "connections left open: {closed:?}");
    let grown_mib = (agent.status_kib("VmHWM") - peak_before) / 1024;
    assert!(grown_mib < 64, "the agent's peak memory grew by {grown_mib} MiB for unauthenticated frames");
    let mut client = daemon_client(&agent).await;
    assert_eq!(client.request(2, Message::Ping).await, Message::Pong);
}

#[tokio::test]
async fn hello_pending_beyond_the_cap_is_closed_and_the_daemon_connects_afterwards() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut silent = Vec::new();
    for _ in 0..16 {
        silent.push(TcpStream::connect(agent.addr).await.unwrap());
    }
    let mut surplus = Client::connect(agent.addr).await;
    surplus.send(1, hello_message()).await;
    assert_eq!(surplus.recv().await, None, "a 17th pending connection was served");
    drop(silent);
    let mut client = daemon_client(&agent).await;
    assert_eq!(client.request(2, Message::Ping).await, Message::Pong);
}

#[tokio::test]
async fn hello_never_sent_closes_the_connection() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut socket = TcpStream::connect(agent.addr).await.unwrap();
    assert!(closed_by_agent(&mut socket).await, "a connection without hello stays open");
}

#[tokio::test]
async fn requests_beyond_256_in_flight_wait_their_turn() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    let requests = 2_000u64;
    for id in 2..2 + requests {
        let read = Message::FileRead { path: b"/data/secret.txt".to_vec(), offset: 0, len: 1 << 20 };
        client.send(id, read).await;
    }
    let mut failures = Vec::new();
    for _ in 0..requests {
        match client.recv().await.expect("the agent closed the connection").message {
            Message::FileData { data, .. } if data == b"target secret\n" => {}
            other => failures.push(other),
        }
    }
    assert_eq!(failures.len(), 0, "{} of {requests} failed, e.g. {:?}", failures.len(), failures.first());
}

#[tokio::test]
async fn keepalive_daemon_gone_silent_is_dropped_and_its_port_released() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let port = 18_093;
    let mut silent = Client::connect(agent.addr).await;
    assert!(matches!(silent.hello_with(TOKEN, &[KEEPALIVE_CAPABILITY]).await, Message::HelloOk(_)));
    let subscribe = Message::IncomingSubscribe {
        port,
        mode: IncomingMode::Steal,
        filter: None,
        served_only: false,
        http_probes: false,
        holder: None,
    };
    assert_eq!(silent.request(2, subscribe.clone()).await, Message::Done);
    // A daemon that pings stays; the silent one is dropped once the limit has passed.
    let mut pinging = Client::connect(agent.addr).await;
    assert!(matches!(pinging.hello_with(TOKEN, &[KEEPALIVE_CAPABILITY]).await, Message::HelloOk(_)));
    let silent_closed = async { silent.recv().await.is_none() };
    let keep_pinging = async {
        for id in 2.. {
            assert_eq!(pinging.request(id, Message::Ping).await, Message::Pong);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let closed = tokio::select! {
        closed = silent_closed => closed,
        () = keep_pinging => unreachable!("pings go on until the silent daemon is dropped"),
    };
    assert!(closed, "the silent daemon got a frame instead of being dropped");
    assert_eq!(pinging.request(1_000, subscribe).await, Message::Done, "the silent daemon's port was not released");
}

#[test]
fn agent_started_with_a_low_soft_open_files_limit_raises_it_to_the_hard_one() {
    let target = Target::start();
    let agent = agent_command(&["--pid", &target.pid.to_string()]);
    let mut command = std::process::Command::new("prlimit");
    command.args(["--nofile=1024:8192", "--"]).arg(agent.get_program()).args(agent.get_args());
    command.envs(agent.get_envs().filter_map(|(name, value)| Some((name, value?))));
    command.stdout(std::process::Stdio::piped());
    let (startup, mut child) = start_agent(command);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(startup, tether_rpc_schema::startup::AgentStartup::Ready { .. }), "{startup:?}");
    let limits = limits.unwrap();
    let line = limits.lines().find(|line| line.starts_with("Max open files")).unwrap();
    let figures: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(figures, ["8192", "8192"], "{line}");
}

fn hello_message() -> Message {
    Message::Hello(tether_rpc_schema::wire::Hello {
        protocol_version: tether_rpc_schema::PROTOCOL_VERSION,
        role: tether_rpc_schema::wire::Role::Daemon,
        token: TOKEN.into(),
        capabilities: Vec::new(),
        pid: std::process::id(),
    })
}
