//! Messages of the binary wire protocol between hook layer, daemon and agent.
//!
//! Every frame carries one [`Envelope`]: a request id and a [`Message`]. A request gets exactly
//! one response with the same id ([`Message::Failure`] when it fails). Stream traffic
//! ([`Message::StreamData`] and friends) and pings use id 0 and get no response.
//!
//! Who sends what:
//! - layer → daemon: `Hello`, file and DNS requests, `OutgoingTcp`, `OutgoingUdp`,
//!   `OutgoingOutcome`, `IncomingListen`, `IncomingUnlisten`, `IncomingPeer`, `Ping`, `Bye`;
//! - daemon → agent: `Hello`, `EnvGet`, `HostnameGet`, file and DNS requests, `TcpConnect`, `UdpConnect`,
//!   `IncomingSubscribe`, `IncomingUnsubscribe`, stream messages, `Ping`, `Bye`;
//! - agent → daemon: responses, `IncomingConnection`, stream messages, and `TargetGone`
//!   before it exits because its target did.
//!
//! The `Incoming*` messages need the [`crate::incoming::CAPABILITY`] capability of the peer,
//! `TargetGone` the [`TARGET_GONE_CAPABILITY`] of the daemon. A daemon announcing
//! [`KEEPALIVE_CAPABILITY`] promises an agent a frame at least every second, and the agent
//! drops it after [`KEEPALIVE_SILENCE_LIMIT`] without one.
//!
//! Paths, environment entries and file contents are bytes: Unix paths need not be UTF-8.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::incoming::{HttpFilter, IncomingMode};
use crate::policy::LayerPolicy;

/// Announced by an agent that answers [`Message::HostnameGet`].
pub const HOSTNAME_CAPABILITY: &str = "hostname";

/// Announced by a daemon that takes [`Message::StreamOpened`] for an answer to `TcpConnect`
/// and `UdpConnect`.
pub const STREAM_OPENED_CAPABILITY: &str = "stream-opened";

/// Announced by a daemon that understands [`Message::TargetGone`].
pub const TARGET_GONE_CAPABILITY: &str = "target-gone";

/// Capability of a daemon (in its [`Hello`] to an agent) that sends a frame, a [`Message::Ping`]
/// when it has nothing else to say, at least once a second. An agent announces it in its
/// [`HelloOk`] when it drops such a daemon's connection after [`KEEPALIVE_SILENCE_LIMIT`]
/// without any frame, releasing what the connection held (incoming subscriptions above all).
pub const KEEPALIVE_CAPABILITY: &str = "keepalive";

/// How long an agent waits for any frame from a daemon that announced
/// [`KEEPALIVE_CAPABILITY`] before it takes the daemon for hung or gone.
pub const KEEPALIVE_SILENCE_LIMIT: Duration = Duration::from_secs(10);

/// One frame's payload: a request id (0 for messages that expect no response) and a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: u64,
    pub message: Message,
}

/// Which side opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A hook layer inside a user process, talking to the daemon's session proxy.
    Layer,
    /// The daemon, talking to an agent.
    Daemon,
}

/// First message on every connection, from the side that connected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u32,
    pub role: Role,
    /// The session token (layer → daemon) or the agent token (daemon → agent).
    pub token: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Process id of the sender, for logs.
    #[serde(default)]
    pub pid: u32,
}

/// Accepting answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloOk {
    pub protocol_version: u32,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// What the layer must enforce; set by the daemon when answering a layer.
    #[serde(default)]
    pub policy: Option<Box<LayerPolicy>>,
    /// To a layer: the daemon's parks, one per address family (loopback IPv4 first), where a
    /// non-blocking socket waits while its target side connects (`OutgoingTcp { park }`).
    #[serde(default)]
    pub park: Vec<SocketAddr>,
}

/// Address family asked for in a DNS lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    Any,
    V4,
    V6,
}

/// A timestamp as seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
}

/// What `stat` tells about a file in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileMeta {
    pub dev: u64,
    pub ino: u64,
    /// File type and permission bits, as in `st_mode`.
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
}

/// One entry of a directory listing in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    pub ino: u64,
    /// File type as in `d_type` (`DT_REG`, `DT_DIR`, ...).
    pub kind: u8,
}

/// One environment variable of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

/// Every message of the protocol. Requests name their response in their doc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Opens a connection. Response: [`Message::HelloOk`] or [`Message::HelloRefused`].
    Hello(Hello),
    HelloOk(HelloOk),
    /// The connection is refused; `reason` says why and what to do. The sender then closes.
    HelloRefused {
        reason: String,
    },

    /// Keep-alive, id 0, no response expected beyond [`Message::Pong`].
    Ping,
    Pong,
    /// The sender is closing the connection on purpose.
    Bye,
    /// Agent → daemon, id 0: the target process exited (`reason` says how it was noticed);
    /// the agent closes every connection and exits. Only to a daemon that announced
    /// [`TARGET_GONE_CAPABILITY`].
    TargetGone {
        reason: String,
    },

    /// The target's environment. Response: [`Message::EnvVars`].
    EnvGet,
    EnvVars(Vec<EnvVar>),
    /// The target's host name: the node name of its UTS namespace, as `gethostname` there
    /// answers. Response: [`Message::Hostname`]. Only to an agent that announced
    /// [`HOSTNAME_CAPABILITY`].
    HostnameGet,
    Hostname {
        name: String,
    },

    /// Part of a file's content, `len` bytes from `offset`.
    /// Response: [`Message::FileData`].
    FileRead {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        offset: u64,
        len: u64,
    },
    /// `meta` describes the whole file; `eof` is set when `data` reaches its end.
    FileData {
        meta: FileMeta,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        eof: bool,
    },
    /// `stat` (`follow`) or `lstat`. Response: [`Message::FileStatus`].
    FileStat {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        follow: bool,
    },
    FileStatus(FileMeta),
    /// `access(path, mode)` with `mode` as in `R_OK|W_OK|X_OK`. Response: [`Message::Done`].
    FileAccess {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        mode: i32,
    },
    /// Response: [`Message::Path`] with the link's content.
    FileReadlink {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
    /// The absolute path with every symlink resolved inside the target's root.
    /// Response: [`Message::Path`].
    FileRealpath {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
    Path(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Response: [`Message::DirEntries`] (without `.` and `..`).
    FileReadDir {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
    DirEntries(Vec<DirEntry>),
    /// Replace (or, with `append`, extend) a file's content; creates it with `mode` if missing.
    /// Response: [`Message::Done`].
    FileWrite {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        append: bool,
        mode: u32,
    },
    /// Response: [`Message::Done`].
    FileUnlink {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
    /// Response: [`Message::Done`].
    FileMkdir {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        mode: u32,
    },
    /// Response: [`Message::Done`].
    FileRmdir {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
    },
    /// Response: [`Message::Done`].
    FileRename {
        #[serde(with = "serde_bytes")]
        from: Vec<u8>,
        #[serde(with = "serde_bytes")]
        to: Vec<u8>,
    },

    /// Resolve a name with the target's resolver (its resolv.conf and hosts).
    /// Response: [`Message::DnsAnswer`]; an empty `addrs` means the name does not exist.
    DnsLookup {
        name: String,
        family: Family,
    },
    DnsAnswer {
        canonical_name: Option<String>,
        addrs: Vec<IpAddr>,
    },

    /// Layer → daemon: connect the user process's TCP socket, bound to `local_port`, to `addr`
    /// from the target's network. Response: [`Message::OutgoingReady`] once connected (the
    /// layer then connects the socket to `proxy_addr`, where the daemon relays it) or the
    /// target's failure. For a parked socket: [`Message::OutgoingConnected`] (the daemon has
    /// joined the socket) or the failure when the target's side settles within moments, else
    /// [`Message::Done`].
    OutgoingTcp {
        addr: SocketAddr,
        local_port: u16,
        /// The park of [`HelloOk::park`] that the socket, non-blocking, is already connecting
        /// to: its thread must not wait. The daemon connects it from there when the target's
        /// side is connected, or resets it when that fails; see [`Message::OutgoingOutcome`].
        #[serde(default)]
        park: Option<SocketAddr>,
    },
    /// Layer → daemon: relay datagrams between the user process's UDP socket, bound to
    /// `local_port`, and `addr` in the target's network. Response: [`Message::OutgoingReady`];
    /// datagrams sent to `proxy_addr` reach `addr`, replies come from `proxy_addr`.
    OutgoingUdp {
        addr: SocketAddr,
        local_port: u16,
    },
    OutgoingReady {
        proxy_addr: SocketAddr,
        /// The connection's own address in the target's network (what `getsockname` says in
        /// the pod), when the daemon knows it by the time it answers.
        #[serde(default)]
        local: Option<SocketAddr>,
    },

    /// Layer → daemon: how the parked connection of the socket bound to `local_port` ended,
    /// asked when the program reads `SO_ERROR` or repeats `connect`: a failed one was reset
    /// by the daemon, and the layer reports the target's errno instead. Response: [`Message::OutgoingConnected`],
    /// the target's failure, or `Failure` with `EINPROGRESS` while it is still connecting.
    OutgoingOutcome {
        local_port: u16,
    },
    OutgoingConnected {
        /// As in [`Message::OutgoingReady`].
        #[serde(default)]
        local: Option<SocketAddr>,
    },

    /// Daemon → agent: open stream `stream` as a TCP connection to `addr` from the target's
    /// network. Response: [`Message::Done`] once connected, or [`Message::StreamOpened`] to a
    /// daemon that announced [`STREAM_OPENED_CAPABILITY`].
    TcpConnect {
        stream: u64,
        addr: SocketAddr,
    },
    /// Daemon → agent: open stream `stream` as a UDP socket connected to `addr` in the target's
    /// network; each [`Message::StreamData`] is one datagram. Response: as for `TcpConnect`.
    UdpConnect {
        stream: u64,
        addr: SocketAddr,
    },
    /// Agent → daemon: the stream of a `TcpConnect` or `UdpConnect` is open, and its socket's
    /// address in the target's network is `local`.
    StreamOpened {
        local: SocketAddr,
    },
    /// Bytes (TCP) or one datagram (UDP) on an open stream. Id 0.
    StreamData {
        stream: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The receiver wrote `bytes` more of this stream's data out: the sender may send that
    /// much more (flow control, see [`STREAM_WINDOW`]). Id 0.
    StreamAck {
        stream: u64,
        bytes: u64,
    },
    /// The sender will send no more data on this stream (TCP half-close). Id 0.
    StreamEof {
        stream: u64,
    },
    /// The stream is gone (error or abort); `errno` says why when known. Id 0.
    StreamReset {
        stream: u64,
        errno: i32,
    },

    /// Layer → daemon: the user process's TCP socket listens on `addr` (as `getsockname`
    /// reports it). Response: [`Message::Done`], also when the port is not subscribed.
    IncomingListen {
        addr: SocketAddr,
    },
    /// Layer → daemon: the listening socket on `port` was closed. Response: [`Message::Done`].
    IncomingUnlisten {
        port: u16,
    },
    /// Layer → daemon: who is really behind the loopback peer `peer_port` of a connection the
    /// user process accepted. Response: [`Message::IncomingPeerAddr`], or a `Failure` with
    /// `ENOENT` when the connection did not come from the target.
    IncomingPeer {
        peer_port: u16,
    },
    IncomingPeerAddr {
        addr: SocketAddr,
    },
    /// Daemon → agent: connections arriving at the target on TCP `port` are handled with `mode`;
    /// with a `filter`, only matching HTTP requests (the rest go to the target's server).
    /// With `served_only` (sent only to an agent announcing
    /// [`crate::incoming::SERVED_ONLY_CAPABILITY`]) the port is intercepted only if a socket of
    /// the target's network listens on it. Response: [`Message::Done`]; `EADDRINUSE` when the
    /// port is subscribed already; `ENOENT` with `served_only` when nothing listens on it.
    /// `http_probes`: the pod has HTTP or gRPC probes on this port, so the agent sends the
    /// kubelet's probe requests (from the node, `User-Agent: kube-probe/…`) to the target's
    /// server whatever the mode and filter; an agent that predates the field ignores it and
    /// handles probes like any other connection.
    IncomingSubscribe {
        port: u16,
        mode: IncomingMode,
        #[serde(default)]
        filter: Option<HttpFilter>,
        #[serde(default)]
        served_only: bool,
        #[serde(default)]
        http_probes: bool,
        /// Who subscribes, in words ("session … of user@host"): an agent of another daemon
        /// that cannot have the port names it in its refusal.
        #[serde(default)]
        holder: Option<String>,
    },
    /// Daemon → agent: stop intercepting `port`. Response: [`Message::Done`].
    IncomingUnsubscribe {
        port: u16,
    },
    /// Agent → daemon, id 0: a new stream (id with [`crate::incoming::AGENT_STREAM_BIT`] set)
    /// carrying a connection that arrived on the subscribed `port` from `peer`. With `mirror`,
    /// whatever the daemon sends back is discarded. Stream messages follow as for outgoing
    /// streams; the daemon answers `StreamReset` when it cannot take the stream.
    IncomingConnection {
        stream: u64,
        port: u16,
        peer: SocketAddr,
        #[serde(default)]
        mirror: bool,
    },

    /// Generic success for requests with nothing to return.
    Done,
    /// A request failed. `errno` is what the user process should see; `message` is for logs.
    Failure {
        errno: i32,
        message: String,
    },
}

/// Bytes of TCP stream data a sender may have in flight, unacknowledged, per stream.
pub const STREAM_WINDOW: u64 = 512 * 1024;

/// Largest `len` a [`Message::FileRead`] may ask for; larger files are read in parts.
pub const FILE_READ_CHUNK: u64 = 4 * 1024 * 1024;

impl Message {
    /// The variant's name, for logs and errors about messages that must not be shown whole
    /// (they may carry file contents or environment values).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "Hello",
            Message::HelloOk(_) => "HelloOk",
            Message::HelloRefused { .. } => "HelloRefused",
            Message::Ping => "Ping",
            Message::Pong => "Pong",
            Message::Bye => "Bye",
            Message::TargetGone { .. } => "TargetGone",
            Message::EnvGet => "EnvGet",
            Message::EnvVars(_) => "EnvVars",
            Message::HostnameGet => "HostnameGet",
            Message::Hostname { .. } => "Hostname",
            Message::FileRead { .. } => "FileRead",
            Message::FileData { .. } => "FileData",
            Message::FileStat { .. } => "FileStat",
            Message::FileStatus(_) => "FileStatus",
            Message::FileAccess { .. } => "FileAccess",
            Message::FileReadlink { .. } => "FileReadlink",
            Message::FileRealpath { .. } => "FileRealpath",
            Message::Path(_) => "Path",
            Message::FileReadDir { .. } => "FileReadDir",
            Message::DirEntries(_) => "DirEntries",
            Message::FileWrite { .. } => "FileWrite",
            Message::FileUnlink { .. } => "FileUnlink",
            Message::FileMkdir { .. } => "FileMkdir",
            Message::FileRmdir { .. } => "FileRmdir",
            Message::FileRename { .. } => "FileRename",
            Message::DnsLookup { .. } => "DnsLookup",
            Message::DnsAnswer { .. } => "DnsAnswer",
            Message::OutgoingTcp { .. } => "OutgoingTcp",
            Message::OutgoingUdp { .. } => "OutgoingUdp",
            Message::OutgoingReady { .. } => "OutgoingReady",
            Message::OutgoingOutcome { .. } => "OutgoingOutcome",
            Message::OutgoingConnected { .. } => "OutgoingConnected",
            Message::StreamOpened { .. } => "StreamOpened",
            Message::TcpConnect { .. } => "TcpConnect",
            Message::UdpConnect { .. } => "UdpConnect",
            Message::StreamData { .. } => "StreamData",
            Message::StreamAck { .. } => "StreamAck",
            Message::StreamEof { .. } => "StreamEof",
            Message::StreamReset { .. } => "StreamReset",
            Message::IncomingListen { .. } => "IncomingListen",
            Message::IncomingUnlisten { .. } => "IncomingUnlisten",
            Message::IncomingPeer { .. } => "IncomingPeer",
            Message::IncomingPeerAddr { .. } => "IncomingPeerAddr",
            Message::IncomingSubscribe { .. } => "IncomingSubscribe",
            Message::IncomingUnsubscribe { .. } => "IncomingUnsubscribe",
            Message::IncomingConnection { .. } => "IncomingConnection",
            Message::Done => "Done",
            Message::Failure { .. } => "Failure",
        }
    }

    /// A failure response carrying `errno`.
    pub fn failure(errno: i32, message: impl Into<String>) -> Message {
        Message::Failure { errno, message: message.into() }
    }
}
