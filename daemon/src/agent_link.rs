//! One connection from the daemon to an agent: requests matched to responses by id, and byte
//! streams (outgoing TCP connections, UDP flows, and incoming connections the agent opens)
//! multiplexed over it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tether_rpc_schema::codec::FrameCodec;
use tether_rpc_schema::incoming::CAPABILITY as INCOMING;
use tether_rpc_schema::wire::{Envelope, Hello, Message, Role};
use tether_rpc_schema::PROTOCOL_VERSION;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::Framed;

/// How long a request may wait for the agent's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why talking to an agent failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The agent could not be reached.
    #[error("cannot connect to the agent at {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    /// The agent refused the hello (wrong token or protocol version).
    #[error("the agent refused the connection: {0}")]
    Refused(String),
    /// The connection ended or broke.
    #[error("the connection to the agent is closed")]
    Closed,
    /// The agent did not answer in time.
    #[error("the agent did not answer within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    /// The agent answered something the protocol does not allow here.
    #[error("unexpected answer from the agent: {0}")]
    Unexpected(String),
}

/// What happens on a stream, as seen from the daemon.
#[derive(Debug)]
pub enum StreamEvent {
    Data(Vec<u8>),
    Ack(u64),
    Eof,
    Reset(i32),
}

/// A shared handle on one agent connection.
#[derive(Clone)]
pub struct AgentLink {
    inner: Arc<Inner>,
}

struct Inner {
    /// Frames to the agent; one writer task owns the socket's write half.
    outgoing_tx: mpsc::Sender<Envelope>,
    /// Requests waiting for their response, by id.
    pending: Mutex<HashMap<u64, oneshot::Sender<Message>>>,
    /// Open streams, by stream id. Unbounded: the agent respects the stream window.
    streams: Mutex<HashMap<u64, mpsc::UnboundedSender<StreamEvent>>>,
    next_id: AtomicU64,
    /// Becomes true when the connection is gone.
    closed_rx: watch::Receiver<bool>,
    /// What the agent announced in its `HelloOk`.
    capabilities: Vec<String>,
    /// Streams the agent opened for incoming connections; dropped when the connection ends.
    incoming_tx: Mutex<Option<mpsc::UnboundedSender<IncomingStream>>>,
    /// Taken once by whoever routes incoming connections ([`AgentLink::take_incoming`]).
    incoming_rx: Mutex<Option<mpsc::UnboundedReceiver<IncomingStream>>>,
}

/// A connection that arrived at the target on a subscribed port, as a stream the agent opened.
pub struct IncomingStream {
    /// The target port it arrived on.
    pub port: u16,
    /// The real client.
    pub peer: SocketAddr,
    /// A mirror copy: what the daemon sends back is discarded by the agent.
    pub mirror: bool,
    pub stream: AgentStream,
}

impl AgentLink {
    /// Connects to the agent at `addr` and authenticates with `token`.
    pub async fn connect(addr: SocketAddr, token: &str) -> Result<AgentLink, LinkError> {
        let socket = TcpStream::connect(addr).await.map_err(|source| LinkError::Connect { addr, source })?;
        socket.set_nodelay(true).map_err(|source| LinkError::Connect { addr, source })?;
        let mut framed = Framed::new(socket, FrameCodec);
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            role: Role::Daemon,
            token: token.to_string(),
            capabilities: vec![INCOMING.to_string()],
            pid: std::process::id(),
        };
        framed.send(Envelope { id: 1, message: Message::Hello(hello) }).await.map_err(|_| LinkError::Closed)?;
        let capabilities = match tokio::time::timeout(REQUEST_TIMEOUT, framed.next()).await {
            Err(_) => return Err(LinkError::Timeout),
            Ok(Some(Ok(Envelope { message: Message::HelloOk(ok), .. }))) => ok.capabilities,
            Ok(Some(Ok(Envelope { message: Message::HelloRefused { reason }, .. }))) => {
                return Err(LinkError::Refused(reason))
            }
            Ok(Some(Ok(other))) => return Err(LinkError::Unexpected(format!("{:?}", other.message))),
            Ok(_) => return Err(LinkError::Closed),
        };
        let (outgoing_tx, outgoing_rx) = mpsc::channel(1024);
        let (closed_tx, closed_rx) = watch::channel(false);
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            outgoing_tx,
            pending: Mutex::default(),
            streams: Mutex::default(),
            next_id: AtomicU64::new(2),
            closed_rx,
            capabilities,
            incoming_tx: Mutex::new(Some(incoming_tx)),
            incoming_rx: Mutex::new(Some(incoming_rx)),
        });
        let (sink, source) = framed.split();
        tokio::spawn(write_frames(sink, outgoing_rx));
        tokio::spawn(read_frames(source, Arc::downgrade(&inner), closed_tx));
        Ok(AgentLink { inner })
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        *self.inner.closed_rx.borrow()
    }

    /// Whether the agent announced `capability` (e.g. [`INCOMING`]).
    pub fn has_capability(&self, capability: &str) -> bool {
        self.inner.capabilities.iter().any(|announced| announced == capability)
    }

    /// Identifies this connection (all clones of a link share it).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// The incoming connections the agent opens; `None` once taken. The channel closes when
    /// the connection to the agent ends.
    pub fn take_incoming(&self) -> Option<mpsc::UnboundedReceiver<IncomingStream>> {
        self.inner.incoming_rx.lock().expect("incoming lock").take()
    }

    /// Sends `message` as a request and waits for its response (a `Failure` is a response).
    pub async fn request(&self, message: Message) -> Result<Message, LinkError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (response_tx, response_rx) = oneshot::channel();
        self.inner.pending.lock().expect("pending lock").insert(id, response_tx);
        let outcome = async {
            self.send(Envelope { id, message }).await?;
            match tokio::time::timeout(REQUEST_TIMEOUT, response_rx).await {
                Err(_) => Err(LinkError::Timeout),
                Ok(Err(_)) => Err(LinkError::Closed),
                Ok(Ok(response)) => Ok(response),
            }
        }
        .await;
        self.inner.pending.lock().expect("pending lock").remove(&id);
        outcome
    }

    /// Opens a stream with `open(stream_id)` (a `TcpConnect` or `UdpConnect`). Returns the
    /// agent's `Failure` message as `Err(Ok(message))`.
    pub async fn open_stream(
        &self,
        open: impl FnOnce(u64) -> Message,
    ) -> Result<AgentStream, Result<Message, LinkError>> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        self.inner.streams.lock().expect("streams lock").insert(id, events_tx);
        let stream = AgentStream { id, events: events_rx, link: self.clone() };
        match self.request(open(id)).await {
            Ok(Message::Done) => Ok(stream),
            Ok(other) => Err(Ok(other)),
            Err(err) => Err(Err(err)),
        }
    }

    async fn send(&self, envelope: Envelope) -> Result<(), LinkError> {
        self.inner.outgoing_tx.send(envelope).await.map_err(|_| LinkError::Closed)
    }
}

/// One open stream on an agent connection. Dropping it forgets the stream.
pub struct AgentStream {
    pub id: u64,
    pub events: mpsc::UnboundedReceiver<StreamEvent>,
    link: AgentLink,
}

impl AgentStream {
    /// Sends a stream message (id 0) built from this stream's id.
    pub async fn send(&self, message: impl FnOnce(u64) -> Message) -> Result<(), LinkError> {
        self.link.send(Envelope { id: 0, message: message(self.id) }).await
    }

    /// A sender usable from another task for this stream.
    pub fn sender(&self) -> StreamSender {
        StreamSender { id: self.id, link: self.link.clone() }
    }
}

impl Drop for AgentStream {
    fn drop(&mut self) {
        self.link.inner.streams.lock().expect("streams lock").remove(&self.id);
    }
}

/// The sending half of an [`AgentStream`], for the task that reads the user's socket.
#[derive(Clone)]
pub struct StreamSender {
    id: u64,
    link: AgentLink,
}

impl StreamSender {
    pub async fn send(&self, message: impl FnOnce(u64) -> Message) -> Result<(), LinkError> {
        self.link.send(Envelope { id: 0, message: message(self.id) }).await
    }
}

async fn write_frames(
    mut sink: futures::stream::SplitSink<Framed<TcpStream, FrameCodec>, Envelope>,
    mut outgoing_rx: mpsc::Receiver<Envelope>,
) {
    while let Some(envelope) = outgoing_rx.recv().await {
        if let Err(err) = sink.send(envelope).await {
            tracing::warn!(%err, "writing to the agent failed");
            break;
        }
    }
}

async fn read_frames(
    mut source: futures::stream::SplitStream<Framed<TcpStream, FrameCodec>>,
    inner: std::sync::Weak<Inner>,
    closed_tx: watch::Sender<bool>,
) {
    while let Some(frame) = source.next().await {
        let Some(inner) = inner.upgrade() else { return };
        let envelope = match frame {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(%err, "reading from the agent failed");
                break;
            }
        };
        if envelope.id != 0 {
            if let Some(response_tx) = inner.pending.lock().expect("pending lock").remove(&envelope.id) {
                let _ = response_tx.send(envelope.message);
            }
            continue;
        }
        let (stream, event) = match envelope.message {
            Message::StreamData { stream, data } => (stream, StreamEvent::Data(data)),
            Message::StreamAck { stream, bytes } => (stream, StreamEvent::Ack(bytes)),
            Message::StreamEof { stream } => (stream, StreamEvent::Eof),
            Message::StreamReset { stream, errno } => (stream, StreamEvent::Reset(errno)),
            Message::Ping | Message::Pong | Message::Bye => continue,
            Message::IncomingConnection { stream, port, peer, mirror } => {
                accept_incoming(&inner, stream, port, peer, mirror);
                continue;
            }
            other => {
                tracing::debug!(message = ?other, "ignoring an unsolicited message from the agent");
                continue;
            }
        };
        let events_tx = inner.streams.lock().expect("streams lock").get(&stream).cloned();
        if let Some(events_tx) = events_tx {
            let _ = events_tx.send(event);
        }
    }
    let _ = closed_tx.send(true);
    if let Some(inner) = inner.upgrade() {
        inner.pending.lock().expect("pending lock").clear();
        inner.streams.lock().expect("streams lock").clear();
        inner.incoming_tx.lock().expect("incoming lock").take();
    }
}

/// Registers a stream the agent opened and hands it to whoever routes incoming connections.
fn accept_incoming(inner: &Arc<Inner>, stream: u64, port: u16, peer: SocketAddr, mirror: bool) {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    inner.streams.lock().expect("streams lock").insert(stream, events_tx);
    let incoming = IncomingStream {
        port,
        peer,
        mirror,
        stream: AgentStream { id: stream, events: events_rx, link: AgentLink { inner: inner.clone() } },
    };
    let incoming_tx = inner.incoming_tx.lock().expect("incoming lock").clone();
    if let Some(Err(refused)) = incoming_tx.map(|incoming_tx| incoming_tx.send(incoming)) {
        // Nobody routes incoming connections any more: refuse it.
        let stream = refused.0.stream;
        let link = stream.link.clone();
        tokio::spawn(async move {
            let _ = link
                .send(Envelope { id: 0, message: Message::StreamReset { stream: stream.id, errno: ECONNREFUSED } })
                .await;
        });
    }
}

const ECONNREFUSED: i32 = nix::errno::Errno::ECONNREFUSED as i32;
