//! Fuzzes the agent's handling of a whole daemon connection, `server::handle_connection`, over
//! real loopback TCP against a sandboxed target: it must never panic, hang or leave a request
//! unanswered. The first input byte picks the opening: odd, the harness says a correct
//! `Hello` first, so the rest reaches the authenticated request and stream paths; even, the
//! input is all the agent hears, as from a stranger.
//!
//! `IncomingSubscribe` frames are dropped before sending: they write nftables rules and start a
//! guard process (a re-exec of this fuzzer), which is neither fast nor what this target is about.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use tether_agent::files::TargetFs;
use tether_agent::handlers::Agent;
use tether_agent::incoming::Incoming;
use tether_agent::netns::TargetNet;
use tether_agent::{dns, server, target};
use tether_fuzz::frames::{self, Split};
use tether_fuzz::sandbox::Sandbox;
use tether_fuzz::{runtime, CONVERSATION_TIMEOUT};
use tether_rpc_schema::codec;
use tether_rpc_schema::wire::{Envelope, Hello, Message, Role};
use tether_rpc_schema::PROTOCOL_VERSION;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Semaphore};

const TOKEN: &str = "fuzz-agent-token";

/// One agent, as `main` builds it, serving connections the harness hands it one at a time.
struct Harness {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    open: Arc<watch::Sender<usize>>,
    /// Never sent to: the sandbox outlives the run.
    _gone_tx: watch::Sender<Option<String>>,
    _sandbox: Sandbox,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| runtime().block_on(Harness::start()));

impl Harness {
    async fn start() -> Harness {
        let sandbox = Sandbox::start();
        let opened = target::open(sandbox.pid).expect("opening the sandbox as the target");
        let net = TargetNet::start(opened.netns).expect("entering the sandbox's network namespace");
        let fs = Arc::new(TargetFs::new(opened.root));
        let agent = Agent { pid: sandbox.pid, fs: fs.clone(), dns: dns::TargetResolver::new(fs, net.clone()) };
        let incoming = Incoming::new(net.clone());
        let (gone_tx, target_gone) = watch::channel(None);
        let shared = Arc::new(server::Shared { token: TOKEN.to_owned(), agent, net, incoming, target_gone });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the loopback listener");
        let addr = listener.local_addr().expect("the listener's address");
        Harness { listener, addr, shared, open: Arc::new(watch::Sender::new(0)), _gone_tx: gone_tx, _sandbox: sandbox }
    }

    /// Sends `stream` on a fresh connection and reads until the agent closes it. With
    /// `answers` set, the daemon's end of stream waits until that many answers came.
    async fn converse(&self, opening: Option<Vec<u8>>, stream: Vec<u8>, answers: Option<usize>) {
        let (connected, accepted) = tokio::join!(TcpStream::connect(self.addr), self.listener.accept());
        let client = connected.expect("connecting to the agent");
        let (socket, peer) = accepted.expect("accepting the harness");
        // Each conversation is the only one waiting for its hello.
        let hello_permit = Arc::new(Semaphore::new(1)).try_acquire_owned().expect("a fresh semaphore has a permit");
        let connection =
            tokio::spawn(server::handle_connection(socket, peer, self.shared.clone(), self.open.clone(), hello_permit));
        let (mut read_half, mut write_half) = client.into_split();
        let authenticated = opening.is_some();
        let (answered_tx, answered_rx) = oneshot::channel::<()>();
        let writer = tokio::spawn(async move {
            let mut bytes = opening.unwrap_or_default();
            bytes.extend(stream);
            // The agent may close first (a bad frame); what it did not read does not matter.
            let _ = write_half.write_all(&bytes).await;
            let _ = answered_rx.await;
            let _ = write_half.shutdown().await;
        });
        let mut answered_tx = Some(answered_tx);
        if answers.unwrap_or(0) == 0 {
            answered_tx.take();
        }
        let mut buf = Vec::new();
        let mut frames_seen = 0usize;
        let mut answered = 0usize;
        let mut chunk = vec![0u8; 64 * 1024];
        let reset = loop {
            let n = match read_half.read(&mut chunk).await {
                Ok(0) => break false,
                Ok(n) => n,
                // The agent closed with input unread (after a bad frame or `Bye`): a reset.
                Err(_) => break true,
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some((envelope, used)) = codec::decode(&buf).expect("the agent sends valid frames") {
                buf.drain(..used);
                frames_seen += 1;
                if authenticated && frames_seen == 1 {
                    assert!(matches!(envelope.message, Message::HelloOk(_)), "a correct hello must be accepted");
                    continue;
                }
                if frames::is_stream_message(&envelope.message) {
                    continue;
                }
                answered += 1;
                if let Some(expected) = answers {
                    assert!(answered <= expected, "{answered} answers to {expected} requests");
                    if answered == expected {
                        answered_tx.take();
                    }
                }
            }
        };
        if let Some(expected) = answers {
            assert!(!reset, "the agent reset a connection that ended cleanly");
            assert!(buf.is_empty(), "the agent closed in the middle of a frame");
            assert_eq!(answered, expected, "the agent closed the connection before answering every request");
        }
        writer.await.expect("the harness's writer");
        connection.await.expect("the agent's connection task");
    }
}

/// Frames the harness does not send (see the module doc).
fn allowed(message: &Message) -> bool {
    !matches!(message, Message::IncomingSubscribe { .. })
}

/// How many answers the agent owes for `split` after a correct hello, following its dispatch:
/// every request until `Bye`, pings and stream opens whatever their id, nothing for stream
/// traffic or for other messages with id 0. `None` when the connection ends before the answers
/// must have come: at `Bye`, or at a frame that does not decode.
fn expected_answers(split: &Split<'_>) -> Option<usize> {
    let mut answers = 0;
    for frame in split.frames.iter().filter(|frame| allowed(&frame.envelope.message)) {
        let Envelope { id, message } = &frame.envelope;
        match message {
            Message::Bye => return None,
            message if frames::is_stream_message(message) => {}
            Message::Ping
            | Message::TcpConnect { .. }
            | Message::UdpConnect { .. }
            | Message::IncomingUnsubscribe { .. } => answers += 1,
            _ if *id == 0 => {}
            _ => answers += 1,
        }
    }
    let ends_at_bad_frame = codec::decode(split.rest).is_err();
    (!ends_at_bad_frame).then_some(answers)
}

fn hello() -> Vec<u8> {
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        role: Role::Daemon,
        token: TOKEN.into(),
        capabilities: Vec::new(),
        pid: 1,
    };
    codec::encode(&Envelope { id: 1, message: Message::Hello(hello) }).expect("the hello encodes")
}

fuzz_target!(|input: &[u8]| {
    let Some((&opening, rest)) = input.split_first() else { return };
    let split = frames::split(rest);
    let stream = split.stream(allowed);
    let harness = &*HARNESS;
    let (opening, answers) = if opening & 1 == 1 { (Some(hello()), expected_answers(&split)) } else { (None, None) };
    runtime().block_on(async {
        let conversation = harness.converse(opening, stream, answers);
        if tokio::time::timeout(CONVERSATION_TIMEOUT, conversation).await.is_err() {
            panic!("the agent did not finish the conversation within {CONVERSATION_TIMEOUT:?}");
        }
    });
});
