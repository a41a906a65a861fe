//! Fuzzes the daemon's handling of a whole hook-layer connection, `proxy::serve_layer`, over
//! a Unix socket pair: it must never panic or hang, and answers every request, in order, until
//! `Bye` or a frame that does not decode. The first input byte picks the opening: odd, the
//! harness says a correct `Hello` (the session's token) first, so the rest reaches the request
//! paths; even, the input is all the daemon hears.
//!
//! The session is served by a real agent: the pool starts the `tether-agent` binary
//! (`TETHER_AGENT_BIN`, by default the workspace's debug build) against a sandboxed target,
//! so file, DNS and connection requests go all the way, and an agent that dies fails the run.
#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, RwLock};

use libfuzzer_sys::fuzz_target;
use tether_daemon::agents::{Agent, AgentPool, StartWith};
use tether_daemon::clusters::Clusters;
use tether_daemon::config::AgentConfig;
use tether_daemon::proxy::{self, TcpProxy};
use tether_daemon::sessions::{AgentSlot, Session, Sessions};
use tether_daemon::target::Target;
use tether_fuzz::frames::{self, Split};
use tether_fuzz::sandbox::Sandbox;
use tether_fuzz::{runtime, CONVERSATION_TIMEOUT};
use tether_rpc_schema::codec;
use tether_rpc_schema::policy::LayerPolicy;
use tether_rpc_schema::wire::{Envelope, Hello, Message, Role};
use tether_rpc_schema::PROTOCOL_VERSION;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

const SESSION_TOKEN: &str = "fuzz-session-token";

/// The daemon's side of one session, as `session.prepare` leaves it.
struct Harness {
    sessions: Arc<Sessions>,
    tcp_proxy: Arc<TcpProxy>,
    session: Arc<Session>,
    /// Kept so the agent and the proxy's listeners live for the whole run.
    _pool: AgentPool,
    _ended_rx: mpsc::UnboundedReceiver<Arc<Agent>>,
    _shutdown_tx: watch::Sender<bool>,
    _sandbox: Sandbox,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| runtime().block_on(Harness::start()));

impl Harness {
    async fn start() -> Harness {
        let sandbox = Sandbox::start();
        let agent_path = std::env::var_os("TETHER_AGENT_BIN").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug/tether-agent")),
            PathBuf::from,
        );
        assert!(
            agent_path.is_file(),
            "no agent at {}; build it with `cargo build -p tether-agent` or set TETHER_AGENT_BIN",
            agent_path.display()
        );
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        let records = std::env::temp_dir().join(format!("tether-fuzz-agent-records-{}.json", std::process::id()));
        let clusters = Arc::new(Clusters::default());
        let pool = AgentPool::new(agent_path, PathBuf::from("/dev/null"), records, clusters, ended_tx);
        let target = Target::Pid(sandbox.pid);
        let how = StartWith::quietly(AgentConfig::default());
        let agent = pool.get(&target, &how).await.expect("starting the agent for the sandbox");
        let sessions = Arc::new(Sessions::default());
        let session = sessions.insert(Session {
            id: "fuzz".into(),
            token: SESSION_TOKEN.into(),
            target,
            target_id: agent.target_id.clone(),
            agent: AgentSlot::new(agent),
            policy: LayerPolicy::default(),
            target_hostname: None,
            debugger_ports: Vec::new(),
            probe_ports: Vec::new(),
            program: "fuzz".into(),
            started_at: 0,
            config_path: None,
            reloaded: RwLock::new(None),
            preparation: None,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tcp_proxy = TcpProxy::start(shutdown_rx).await.expect("starting the loopback proxy");
        Harness {
            sessions,
            tcp_proxy,
            session,
            _pool: pool,
            _ended_rx: ended_rx,
            _shutdown_tx: shutdown_tx,
            _sandbox: sandbox,
        }
    }

    /// Sends `bytes` on a fresh connection, closes it for writing and returns the ids of the
    /// answers, in order, once the daemon has closed its side.
    async fn converse(&self, bytes: Vec<u8>) -> Vec<u64> {
        let (harness_end, daemon_end) = UnixStream::pair().expect("a socket pair");
        let serving = tokio::spawn(proxy::serve_layer(daemon_end, self.sessions.clone(), self.tcp_proxy.clone()));
        let (mut read_half, mut write_half) = harness_end.into_split();
        let writer = tokio::spawn(async move {
            // The daemon may stop reading first (`Bye`, a bad frame); the rest does not matter.
            let _ = write_half.write_all(&bytes).await;
            let _ = write_half.shutdown().await;
        });
        let mut buf = Vec::new();
        let mut ids = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        // A read error is the reset of a daemon that closed with input unread.
        while let Ok(n @ 1..) = read_half.read(&mut chunk).await {
            buf.extend_from_slice(&chunk[..n]);
            while let Some((envelope, used)) = codec::decode(&buf).expect("the daemon sends valid frames") {
                buf.drain(..used);
                assert!(!frames::is_stream_message(&envelope.message), "stream traffic on a layer connection");
                ids.push(envelope.id);
            }
        }
        assert!(buf.is_empty(), "the daemon closed in the middle of a frame");
        writer.await.expect("the harness's writer");
        serving.await.expect("the daemon's layer task");
        ids
    }
}

/// The ids the daemon must answer after a correct hello: every frame's until `Bye`.
fn expected_ids(split: &Split<'_>) -> Vec<u64> {
    split
        .frames
        .iter()
        .map(|frame| &frame.envelope)
        .take_while(|envelope| envelope.message != Message::Bye)
        .map(|envelope| envelope.id)
        .collect()
}

fn hello() -> Vec<u8> {
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        role: Role::Layer,
        token: SESSION_TOKEN.into(),
        capabilities: Vec::new(),
        pid: 1,
    };
    codec::encode(&Envelope { id: 7, message: Message::Hello(hello) }).expect("the hello encodes")
}

fuzz_target!(|input: &[u8]| {
    let Some((&opening, rest)) = input.split_first() else { return };
    let harness = &*HARNESS;
    let authenticated = opening & 1 == 1;
    let mut bytes = if authenticated { hello() } else { Vec::new() };
    bytes.extend_from_slice(rest);
    let answered = runtime().block_on(async {
        match tokio::time::timeout(CONVERSATION_TIMEOUT, harness.converse(bytes)).await {
            Ok(answered) => answered,
            Err(_) => panic!("the daemon did not finish the conversation within {CONVERSATION_TIMEOUT:?}"),
        }
    });
    if authenticated {
        let mut expected = vec![7];
        expected.extend(expected_ids(&frames::split(rest)));
        assert_eq!(answered, expected, "answers (by id) to a hello and its requests");
    } else {
        assert!(answered.len() <= 1, "{} answers to a connection without a valid hello", answered.len());
    }
    if let Some(end) = harness.session.agent.current().and_then(|agent| agent.link.end()) {
        panic!("the agent connection ended: {end}");
    }
});
