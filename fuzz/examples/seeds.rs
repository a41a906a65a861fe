//! Writes seed inputs for the connection fuzz targets into `corpus/<target>/`: one input per
//! kind of request (with paths that exist in the sandbox), streams opened and fed, and hellos
//! a stranger might try, so fuzzing starts at the interesting paths instead of finding CBOR.
//!
//! Run from `fuzz/`: `cargo +nightly run --example seeds`.

use std::net::SocketAddr;

use tether_fuzz::frames;
use tether_fuzz::sandbox::PATHS;
use tether_rpc_schema::codec;
use tether_rpc_schema::wire::{Envelope, Family, Hello, Message, Role};
use tether_rpc_schema::PROTOCOL_VERSION;

const TARGETS: [&str; 2] = ["agent_connection", "layer_connection"];

fn main() -> std::io::Result<()> {
    let seeds = seeds();
    for target in TARGETS {
        let dir = std::path::Path::new("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        for (index, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{index:03}")), seed)?;
        }
        println!("{} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}

/// Every seed: an opening byte (1: after the harness's hello, 0: as a stranger), then frames.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = requests().into_iter().map(|message| input(1, vec![message])).collect();
    let stream = 1;
    let target: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    seeds.push(input(
        1,
        vec![
            Message::TcpConnect { stream, addr: target },
            Message::StreamData { stream, data: b"GET / HTTP/1.0\r\n\r\n".to_vec() },
            Message::StreamAck { stream, bytes: 4096 },
            Message::StreamEof { stream },
        ],
    ));
    seeds.push(input(
        1,
        vec![
            Message::UdpConnect { stream, addr: target },
            Message::StreamData { stream, data: b"datagram".to_vec() },
            Message::StreamReset { stream, errno: 104 },
        ],
    ));
    seeds.push(input(1, requests()));
    for (role, token) in [(Role::Daemon, "wrong"), (Role::Layer, "wrong"), (Role::Daemon, "")] {
        let hello =
            Hello { protocol_version: PROTOCOL_VERSION, role, token: token.into(), capabilities: Vec::new(), pid: 1 };
        seeds.push(input(0, vec![Message::Hello(hello), Message::Ping]));
    }
    seeds
}

/// One of each request a daemon or a layer sends.
fn requests() -> Vec<Message> {
    let path = |path: &str| path.as_bytes().to_vec();
    let mut requests = vec![Message::EnvGet, Message::HostnameGet, Message::Ping];
    for name in PATHS {
        requests.extend([
            Message::FileRead { path: path(name), offset: 0, len: 4096 },
            Message::FileStat { path: path(name), follow: true },
            Message::FileAccess { path: path(name), mode: 4 },
            Message::FileReadlink { path: path(name) },
            Message::FileRealpath { path: path(name) },
            Message::FileReadDir { path: path(name) },
            Message::FileWrite {
                path: path(name),
                data: b"written by the fuzzer\n".to_vec(),
                append: true,
                mode: 0o644,
            },
        ]);
    }
    requests.extend([
        Message::FileMkdir { path: path("/data/new-dir"), mode: 0o755 },
        Message::FileRename { from: path("/data/new-dir"), to: path("/data/renamed") },
        Message::FileRmdir { path: path("/data/renamed") },
        Message::FileUnlink { path: path("/data/gone") },
        Message::DnsLookup { name: "db".into(), family: Family::Any },
        Message::DnsLookup { name: "db.fuzz.internal.".into(), family: Family::V4 },
        Message::DnsLookup { name: "localhost".into(), family: Family::V6 },
        Message::DnsLookup { name: "10.1.2.3".into(), family: Family::Any },
        Message::OutgoingTcp { addr: "127.0.0.1:9".parse().expect("an address"), local_port: 40000, park: None },
        Message::OutgoingTcp {
            addr: "[::1]:9".parse().expect("an address"),
            local_port: 40001,
            park: Some("[::1]:40010".parse().expect("an address")),
        },
        Message::OutgoingOutcome { local_port: 40001 },
        Message::OutgoingUdp { addr: "127.0.0.1:53".parse().expect("an address"), local_port: 40002 },
        Message::IncomingListen { addr: "0.0.0.0:8080".parse().expect("an address") },
        Message::IncomingUnlisten { port: 8080 },
        Message::IncomingPeer { peer_port: 40003 },
        Message::IncomingUnsubscribe { port: 8080 },
    ]);
    requests
}

fn input(opening: u8, messages: Vec<Message>) -> Vec<u8> {
    let mut input = vec![opening];
    for (id, message) in (2..).zip(messages) {
        // Stream traffic goes without an id, as the daemon sends it.
        let id = if frames::is_stream_message(&message) { 0 } else { id };
        input.extend(codec::encode(&Envelope { id, message }).expect("a seed encodes"));
    }
    input
}
