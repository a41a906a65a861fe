//! Outgoing TCP and UDP from the target's network namespace.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use tether_rpc_schema::wire::{Message, STREAM_WINDOW};

use crate::harness::{Agent, Client, Target};

/// Bytes sent through the echo server: several times the window, so flow control must work.
const PAYLOAD_LEN: usize = 6 * 1024 * 1024;

const CHUNK: usize = 64 * 1024;

/// A TCP echo server on the target's own loopback, which exists only in its namespace.
fn start_echo_server(target: &Target) -> SocketAddr {
    let listener = target.in_netns(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = socket.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            socket.write_all(&buf[..n]).unwrap();
        }
        socket.shutdown(Shutdown::Write).unwrap();
    });
    addr
}

fn payload() -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..PAYLOAD_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn tcp_connect_relays_megabytes_both_ways_within_the_window() {
    let target = Target::start();
    let echo = start_echo_server(&target);
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    assert_eq!(client.request(2, Message::TcpConnect { stream: 5, addr: echo }).await, Message::Done);

    let sent_payload = payload();
    let (mut sent, mut acked_by_agent, mut eof_sent) = (0usize, 0u64, false);
    let (mut received, mut acked_to_agent, mut eof_received) = (Vec::new(), 0u64, false);
    let mut saw_agent_wait = false;
    while !(eof_received && received.len() == PAYLOAD_LEN) {
        while sent < PAYLOAD_LEN && ((sent as u64) - acked_by_agent) < STREAM_WINDOW {
            let room = (STREAM_WINDOW - (sent as u64 - acked_by_agent)) as usize;
            let n = CHUNK.min(PAYLOAD_LEN - sent).min(room);
            client.send(0, Message::StreamData { stream: 5, data: sent_payload[sent..sent + n].to_vec() }).await;
            sent += n;
        }
        if sent == PAYLOAD_LEN && !eof_sent {
            client.send(0, Message::StreamEof { stream: 5 }).await;
            eof_sent = true;
        }
        let envelope = client.recv().await.expect("the agent closed the connection");
        assert_eq!(envelope.id, 0);
        match envelope.message {
            Message::StreamAck { stream: 5, bytes } => acked_by_agent += bytes,
            Message::StreamData { stream: 5, data } => {
                received.extend_from_slice(&data);
                let unacked = received.len() as u64 - acked_to_agent;
                assert!(unacked <= STREAM_WINDOW, "the agent sent {unacked} unacknowledged bytes");
                // Acknowledge only a full window, so the agent has to stop and wait for credit.
                if unacked == STREAM_WINDOW {
                    if !saw_agent_wait {
                        saw_agent_wait = no_data_within(&mut client, &mut acked_by_agent).await;
                        assert!(saw_agent_wait, "the agent sent data beyond the window");
                    }
                    client.send(0, Message::StreamAck { stream: 5, bytes: unacked }).await;
                    acked_to_agent += unacked;
                }
            }
            Message::StreamEof { stream: 5 } => eof_received = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(received == sent_payload, "the echoed bytes differ from the sent bytes");
}

/// Reads frames for a moment; false if stream data arrives (acks are counted).
async fn no_data_within(client: &mut Client, acked_by_agent: &mut u64) -> bool {
    while let Some(envelope) = client.recv_within(Duration::from_millis(300)).await {
        match envelope.message {
            Message::StreamAck { bytes, .. } => *acked_by_agent += bytes,
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn tcp_connect_to_closed_port_fails_with_econnrefused() {
    let target = Target::start();
    // A port that is free in the target's namespace (its loopback has no listeners).
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    match client.request(2, Message::TcpConnect { stream: 1, addr }).await {
        Message::Failure { errno, .. } => assert_eq!(errno, libc::ECONNREFUSED),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tcp_stream_reset_by_daemon_closes_the_socket() {
    let target = Target::start();
    let listener = target.in_netns(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    assert_eq!(client.request(2, Message::TcpConnect { stream: 9, addr }).await, Message::Done);
    let (mut server_side, _) = listener.accept().unwrap();
    client.send(0, Message::StreamReset { stream: 9, errno: libc::ECONNRESET }).await;
    let closed = tokio::task::spawn_blocking(move || {
        server_side.set_read_timeout(Some(crate::harness::STEP_TIMEOUT)).unwrap();
        let mut buf = [0u8; 16];
        matches!(server_side.read(&mut buf), Ok(0) | Err(_))
    })
    .await
    .unwrap();
    assert!(closed, "the target-side socket stayed open after the reset");
}

#[tokio::test]
async fn udp_connect_round_trips_a_datagram_in_the_target_netns() {
    let target = Target::start();
    let socket = target.in_netns(|| UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&buf[..n]);
        socket.send_to(&reply, from).unwrap();
    });
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    assert_eq!(client.request(2, Message::UdpConnect { stream: 3, addr }).await, Message::Done);
    client.send(0, Message::StreamData { stream: 3, data: b"ping".to_vec() }).await;
    let envelope = client.recv().await.expect("no datagram back");
    assert_eq!(envelope.message, Message::StreamData { stream: 3, data: b"echo:ping".to_vec() });
}
