//! The local harness: a target process in its own network and mount namespaces (and its own
//! root), the real agent binary started against it, and a wire client.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
use tether_rpc_schema::codec;
use tether_rpc_schema::startup::AgentStartup;
use tether_rpc_schema::wire::{Envelope, Hello, Message, Role};
use tether_rpc_schema::PROTOCOL_VERSION;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::bytes::{Buf, BytesMut};

pub const TOKEN: &str = "harness-token-0123456789";

/// Environment variables the target is started with.
pub const TARGET_ENV: [(&str, &str); 2] =
    [("TETHER_TEST_GREETING", "hello from the target"), ("TETHER_TEST_URL", "db://x?a=b")];

/// How long any single step may take before the test fails instead of hanging.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Fails the test unless it runs as root: the harness creates namespaces and mounts.
pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the agent harness tests need root (they create network and mount namespaces and mount tmpfs); run cargo test as root"
    );
}

fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tether-agent-it-{}-{what}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root")).unwrap();
    dir
}

/// Builds the target's private root on a tmpfs, then chroots into it and sleeps. Everything
/// it mounts exists only in the target's mount namespace.
const TARGET_SCRIPT: &str = r#"
set -e
root="$1"
ip link set lo up
mount -t tmpfs tether-target "$root"
mkdir -p "$root/usr" "$root/etc" "$root/data" "$root/tmp"
mount --bind /usr "$root/usr"
ln -s usr/bin "$root/bin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
printf 'target secret\n' > "$root/data/secret.txt"
printf 'root:x:0:0:target root:/root:/bin/sh\n' > "$root/etc/passwd"
ln -s /etc/passwd "$root/data/abs-link"
ln -s ../../../../../../etc/passwd "$root/data/up-link"
printf 'nameserver 127.0.0.1\nsearch test.internal\noptions ndots:1 timeout:1 attempts:2\n' > "$root/etc/resolv.conf"
printf '127.0.0.1 localhost\n10.9.8.7 hosty.test.internal\n' > "$root/etc/hosts"
echo ready
exec chroot "$root" /usr/bin/sleep 600
"#;

/// A process in its own network and mount namespaces, chrooted into a private tmpfs root.
pub struct Target {
    child: Child,
    pub pid: u32,
    dir: PathBuf,
}

impl Target {
    pub fn start() -> Target {
        require_root();
        let dir = scratch_dir("target");
        let mut child = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "sh", "-c", TARGET_SCRIPT, "target"])
            .arg(dir.join("root"))
            .envs(TARGET_ENV)
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) must be installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the target script failed; see its stderr above");
        let pid = child.id();
        // "ready" comes just before the exec into the chroot; the agent must see the final root.
        let deadline = std::time::Instant::now() + STEP_TIMEOUT;
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() != "sleep" {
            assert!(std::time::Instant::now() < deadline, "the target did not exec into its root");
            std::thread::sleep(Duration::from_millis(10));
        }
        Target { child, pid, dir }
    }

    /// Runs `work` on a thread inside the target's network namespace (sockets it creates
    /// stay there).
    pub fn in_netns<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        let netns = std::fs::File::open(format!("/proc/{}/ns/net", self.pid)).unwrap();
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    move_into_link_name_space(netns.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
                    work()
                })
                .join()
                .unwrap()
        })
    }

    pub fn scratch(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The agent binary under test (`TETHER_AGENT_BIN`, e.g. the static release build, or the
/// one cargo built for the tests), started with the harness token.
pub fn agent_command(args: &[&str]) -> Command {
    agent_command_under(&[], args)
}

/// [`agent_command`] started through `wrapper`: a program and its arguments, followed by the
/// agent's binary and `args`, that ends by exec'ing the agent (so its pid is the agent's).
pub fn agent_command_under(wrapper: &[&str], args: &[&str]) -> Command {
    let binary = std::env::var_os("TETHER_AGENT_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_tether-agent").into());
    let mut command = match wrapper.split_first() {
        Some((program, wrapper_args)) => {
            let mut command = Command::new(program);
            command.args(wrapper_args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .args(args)
        .env("TETHER_AGENT_TOKEN", TOKEN)
        .env("TETHER_AGENT_LOG", std::env::var("TETHER_AGENT_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// A running agent and the address it reported.
pub struct Agent {
    child: Child,
    pub addr: SocketAddr,
}

impl Agent {
    pub fn start(args: &[&str]) -> Agent {
        Agent::spawn(agent_command(args))
    }

    /// Starts `command`, an [`agent_command`] or [`agent_command_under`].
    pub fn spawn(command: Command) -> Agent {
        let (startup, child) = start_agent(command);
        match startup {
            AgentStartup::Ready { listen, .. } => Agent { child, addr: listen.parse().unwrap() },
            failed => panic!("the agent did not start: {failed:?}"),
        }
    }

    pub fn for_target(target: &Target) -> Agent {
        Agent::start(&["--pid", &target.pid.to_string()])
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A figure of `/proc/<agent>/status` in KiB, e.g. `VmRSS` or `VmHWM` (the peak).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':'));
        line.and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in the agent's status"))
    }

    /// `kill -9` the agent and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for the agent to exit on its own.
    pub fn wait_exit(mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub async fn client(&self) -> Client {
        let mut client = Client::connect(self.addr).await;
        let answer = client.hello(TOKEN).await;
        assert!(matches!(answer, Message::HelloOk(_)), "hello refused: {answer:?}");
        client
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the agent and reads its one start-up line.
pub fn start_agent(mut command: Command) -> (AgentStartup, Child) {
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let line = line_rx.recv_timeout(STEP_TIMEOUT).expect("the agent printed no start-up line");
    let startup = serde_json::from_str(&line).unwrap_or_else(|err| panic!("bad start-up line {line:?}: {err}"));
    (startup, child)
}

/// A daemon-side wire client.
pub struct Client {
    read_half: OwnedReadHalf,
    write_half: OwnedWriteHalf,
    buf: BytesMut,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let socket = TcpStream::connect(addr).await.unwrap();
        socket.set_nodelay(true).unwrap();
        let (read_half, write_half) = socket.into_split();
        Client { read_half, write_half, buf: BytesMut::new() }
    }

    pub async fn hello(&mut self, token: &str) -> Message {
        self.hello_with(token, &[]).await
    }

    /// `Hello` announcing `capabilities`.
    pub async fn hello_with(&mut self, token: &str, capabilities: &[&str]) -> Message {
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            role: Role::Daemon,
            token: token.into(),
            capabilities: capabilities.iter().map(|capability| capability.to_string()).collect(),
            pid: std::process::id(),
        };
        self.request(1, Message::Hello(hello)).await
    }

    /// Sends a frame; false when the agent has closed the connection already.
    pub async fn offer(&mut self, id: u64, message: Message) -> bool {
        let frame = codec::encode(&Envelope { id, message }).unwrap();
        self.write_half.write_all(&frame).await.is_ok()
    }

    pub async fn send(&mut self, id: u64, message: Message) {
        let frame = codec::encode(&Envelope { id, message }).unwrap();
        self.write_half.write_all(&frame).await.unwrap();
    }

    /// The next frame, or `None` when the agent closed the connection.
    pub async fn recv(&mut self) -> Option<Envelope> {
        tokio::time::timeout(STEP_TIMEOUT, self.next_frame()).await.expect("no frame from the agent in time")
    }

    /// The next frame if one arrives within `wait`. Cancel-safe.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Envelope> {
        tokio::time::timeout(wait, self.next_frame()).await.ok().flatten()
    }

    async fn next_frame(&mut self) -> Option<Envelope> {
        loop {
            if let Some((envelope, used)) = codec::decode(&self.buf).unwrap() {
                self.buf.advance(used);
                return Some(envelope);
            }
            self.buf.reserve(64 * 1024);
            if self.read_half.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    }

    /// Sends a request and returns its response (no stream traffic may be pending).
    pub async fn request(&mut self, id: u64, message: Message) -> Message {
        self.send(id, message).await;
        let envelope = self.recv().await.expect("the agent closed the connection");
        assert_eq!(envelope.id, id, "response to another request: {envelope:?}");
        envelope.message
    }
}
