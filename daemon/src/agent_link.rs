//! One connection from the daemon to an agent: requests matched to responses by id, and byte
//! streams (outgoing TCP connections, UDP flows, and incoming connections the agent opens)
//! multiplexed over it.
//!
//! A keepalive pings the agent every [`KEEPALIVE_INTERVAL`]; a link that hears nothing for
//! [`KEEPALIVE_TIMEOUT`] is cut. Whatever ends a link — a broken connection, a hung agent, the
//! agent reporting that its target exited — fails its waiting requests and resets its streams
//! at once, and [`AgentLink::ended`] says why.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tether_rpc_schema::codec::FrameCodec;
use tether_rpc_schema::incoming::CAPABILITY as INCOMING;
use tether_rpc_schema::wire::{
    Envelope, Hello, Message, Role, KEEPALIVE_CAPABILITY, STREAM_OPENED_CAPABILITY, TARGET_GONE_CAPABILITY,
};
use tether_rpc_schema::PROTOCOL_VERSION;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// How long a request may wait for the agent's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the daemon pings the agent and checks how long it has been silent (the agent
/// drops a daemon it has not heard from for a while, so this also keeps an idle link open).
const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(500);

/// A link that hears nothing from its agent for this long is cut: the agent is dead, stopped
/// or unreachable. Several pings long, so a busy machine does not cut a healthy agent.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(4);

/// Why talking to an agent failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The agent could not be reached.
    #[error("cannot connect to the agent at {addr}: {source}")]
    Connect { addr: SocketAddr, source: std::io::Error },
    /// The agent refused the hello (wrong token or protocol version).
    #[error("the agent refused the connection: {0}")]
    Refused(String),
    /// The connection ended; the text says why.
    #[error("the connection to the agent is closed: {0}")]
    Closed(String),
    /// The agent did not answer in time.
    #[error("the agent did not answer within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    /// The agent answered something the protocol does not allow here.
    #[error("unexpected answer from the agent: {0}")]
    Unexpected(String),
}

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The agent reported that its target process exited.
    TargetGone(String),
    /// The connection broke, or the agent stopped answering; the text says which.
    Lost(String),
}

impl std::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkEnd::TargetGone(reason) | LinkEnd::Lost(reason) => f.write_str(reason),
        }
    }
}

/// What happens on a stream, as seen from the daemon.
#[derive(Debug)]
pub enum StreamEvent {
    Data(Vec<u8>),
    Ack(u64),
    Eof,
    Reset,
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
    /// Set, once, to why the connection is gone.
    ended_tx: watch::Sender<Option<LinkEnd>>,
    /// Stops the reader and the writer when the link is cut from this side.
    cut: CancellationToken,
    /// When a frame last arrived, in milliseconds since `since`.
    last_heard_ms: AtomicU64,
    since: Instant,
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
        AgentLink::over(socket, token).await
    }

    /// Authenticates with `token` over `transport`, any byte stream that reaches the agent
    /// (loopback TCP for local agents; a port-forward for agents in a cluster).
    pub async fn over<T>(transport: T, token: &str) -> Result<AgentLink, LinkError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut framed = Framed::new(transport, FrameCodec);
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            role: Role::Daemon,
            token: token.to_string(),
            capabilities: vec![
                INCOMING.to_string(),
                TARGET_GONE_CAPABILITY.to_string(),
                KEEPALIVE_CAPABILITY.to_string(),
                STREAM_OPENED_CAPABILITY.to_string(),
            ],
            pid: std::process::id(),
        };
        let unsent = |_| LinkError::Closed("the agent closed the connection during the hello".to_string());
        framed.send(Envelope { id: 1, message: Message::Hello(hello) }).await.map_err(unsent)?;
        let capabilities = match tokio::time::timeout(REQUEST_TIMEOUT, framed.next()).await {
            Err(_) => return Err(LinkError::Timeout),
            Ok(Some(Ok(Envelope { message: Message::HelloOk(ok), .. }))) => ok.capabilities,
            Ok(Some(Ok(Envelope { message: Message::HelloRefused { reason }, .. }))) => {
                return Err(LinkError::Refused(reason))
            }
            Ok(Some(Ok(other))) => return Err(LinkError::Unexpected(format!("{} to the hello", other.message.kind()))),
            Ok(_) => return Err(LinkError::Closed("the agent closed the connection during the hello".to_string())),
        };
        let (outgoing_tx, outgoing_rx) = mpsc::channel(1024);
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            outgoing_tx,
            pending: Mutex::default(),
            streams: Mutex::default(),
            next_id: AtomicU64::new(2),
            ended_tx: watch::Sender::new(None),
            cut: CancellationToken::new(),
            last_heard_ms: AtomicU64::new(0),
            since: Instant::now(),
            capabilities,
            incoming_tx: Mutex::new(Some(incoming_tx)),
            incoming_rx: Mutex::new(Some(incoming_rx)),
        });
        let (sink, source) = framed.split();
        tokio::spawn(write_frames(sink, outgoing_rx, inner.cut.clone()));
        tokio::spawn(read_frames(source, Arc::downgrade(&inner)));
        tokio::spawn(keepalive(Arc::downgrade(&inner)));
        Ok(AgentLink { inner })
    }

    /// Ends the link from the daemon's side: its agent ends too once its grace is over.
    pub fn close(&self) {
        self.inner.end(LinkEnd::Lost("the daemon closed the connection".to_string()));
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.ended_tx.borrow().is_some()
    }

    /// Why the connection is gone; `None` while it lives.
    pub fn end(&self) -> Option<LinkEnd> {
        self.inner.ended_tx.borrow().clone()
    }

    /// Waits until the connection is gone, and says why.
    pub async fn ended(&self) -> LinkEnd {
        let mut ended_rx = self.inner.ended_tx.subscribe();
        let ended = ended_rx.wait_for(Option::is_some).await;
        ended.ok().and_then(|end| end.clone()).unwrap_or_else(|| LinkEnd::Lost("the link is gone".to_string()))
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
                Ok(Err(_)) => Err(self.closed_error()),
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
        let mut stream = AgentStream { id, events: events_rx, link: self.clone(), local: None };
        match self.request(open(id)).await {
            Ok(Message::Done) => Ok(stream),
            Ok(Message::StreamOpened { local }) => {
                stream.local = Some(local);
                Ok(stream)
            }
            Ok(other) => Err(Ok(other)),
            Err(err) => Err(Err(err)),
        }
    }

    async fn send(&self, envelope: Envelope) -> Result<(), LinkError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        self.inner.outgoing_tx.send(envelope).await.map_err(|_| self.closed_error())
    }

    fn closed_error(&self) -> LinkError {
        LinkError::Closed(self.end().map_or_else(|| "the connection is closing".to_string(), |end| end.to_string()))
    }
}

impl Inner {
    /// Records why the link ended (the first reason wins) and stops its reader and writer.
    fn end(&self, end: LinkEnd) {
        self.ended_tx.send_if_modified(|ended| {
            let first = ended.is_none();
            if first {
                *ended = Some(end);
            }
            first
        });
        self.cut.cancel();
    }

    fn heard(&self) {
        self.last_heard_ms.store(self.since.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn silence(&self) -> Duration {
        self.since.elapsed().saturating_sub(Duration::from_millis(self.last_heard_ms.load(Ordering::Relaxed)))
    }
}

/// Pings the agent and cuts the link when the agent has been silent for [`KEEPALIVE_TIMEOUT`].
async fn keepalive(inner: std::sync::Weak<Inner>) {
    let mut ticks = tokio::time::interval(KEEPALIVE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.cut.is_cancelled() {
            return;
        }
        // A tick this late means the daemon itself did not get the CPU (a machine overloaded
        // by thousands of busy threads): its reader may not have read what the agent sent, so
        // the silence says nothing about the agent. Count it from now.
        if last_tick.elapsed() > 3 * KEEPALIVE_INTERVAL {
            inner.heard();
        }
        last_tick = Instant::now();
        if inner.silence() > KEEPALIVE_TIMEOUT {
            let silent = inner.silence().as_secs();
            inner.end(LinkEnd::Lost(format!(
                "the agent did not answer for {silent}s (it is hung, stopped or unreachable)"
            )));
            return;
        }
        // A full outbox means the agent is being written to anyway; the next tick pings again.
        let _ = inner.outgoing_tx.try_send(Envelope { id: 0, message: Message::Ping });
    }
}

/// One open stream on an agent connection. Dropping it forgets the stream.
pub struct AgentStream {
    pub id: u64,
    pub events: mpsc::UnboundedReceiver<StreamEvent>,
    link: AgentLink,
    /// The agent's socket's own address in the target's network, when the agent said it.
    pub local: Option<SocketAddr>,
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

async fn write_frames<T: AsyncWrite + Unpin>(
    mut sink: futures::stream::SplitSink<Framed<T, FrameCodec>, Envelope>,
    mut outgoing_rx: mpsc::Receiver<Envelope>,
    cut: CancellationToken,
) {
    loop {
        let envelope = tokio::select! {
            envelope = outgoing_rx.recv() => envelope,
            () = cut.cancelled() => return,
        };
        let Some(envelope) = envelope else { return };
        let sent = tokio::select! {
            sent = sink.send(envelope) => sent,
            () = cut.cancelled() => return,
        };
        if let Err(err) = sent {
            tracing::warn!(%err, "writing to the agent failed");
            return;
        }
    }
}

async fn read_frames<T: AsyncRead + Unpin>(
    mut source: futures::stream::SplitStream<Framed<T, FrameCodec>>,
    inner: std::sync::Weak<Inner>,
) {
    let Some(cut) = inner.upgrade().map(|inner| inner.cut.clone()) else { return };
    let end = loop {
        let frame = tokio::select! {
            frame = source.next() => frame,
            () = cut.cancelled() => break None,
        };
        let Some(inner) = inner.upgrade() else { return };
        let envelope = match frame {
            Some(Ok(envelope)) => envelope,
            Some(Err(err)) => break Some(LinkEnd::Lost(format!("reading from the agent failed: {err}"))),
            None => break Some(LinkEnd::Lost("the agent closed the connection".to_string())),
        };
        inner.heard();
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
            Message::StreamReset { stream, .. } => (stream, StreamEvent::Reset),
            Message::Ping | Message::Pong | Message::Bye => continue,
            Message::TargetGone { reason } => break Some(LinkEnd::TargetGone(reason)),
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
    };
    if let Some(inner) = inner.upgrade() {
        if let Some(end) = end {
            tracing::warn!(reason = %end, "agent connection ended");
            inner.end(end);
        }
        // Dropped senders fail the waiting requests and end the streams (their relays reset).
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
        stream: AgentStream { id: stream, events: events_rx, link: AgentLink { inner: inner.clone() }, local: None },
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

#[cfg(test)]
mod tests {
    use super::*;
    use tether_rpc_schema::wire::HelloOk;

    /// A fake agent on the other end of an in-memory stream: accepts the hello, then runs
    /// `after_hello` on its framed stream.
    async fn link_to_fake_agent<F, Fut>(after_hello: F) -> AgentLink
    where
        F: FnOnce(Framed<tokio::io::DuplexStream, FrameCodec>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (daemon_end, agent_end) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut agent = Framed::new(agent_end, FrameCodec);
            let Some(Ok(hello)) = agent.next().await else { return };
            let ok = HelloOk {
                protocol_version: PROTOCOL_VERSION,
                capabilities: Vec::new(),
                policy: None,
                park: Vec::new(),
            };
            agent.send(Envelope { id: hello.id, message: Message::HelloOk(ok) }).await.unwrap();
            after_hello(agent).await;
        });
        AgentLink::over(daemon_end, "token").await.unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn link_to_an_agent_gone_silent_is_cut_and_its_waiting_request_fails() {
        let link = link_to_fake_agent(|mut agent| async move {
            // Reads everything, answers nothing: a stopped agent.
            while agent.next().await.is_some() {}
        })
        .await;
        let started = tokio::time::Instant::now();
        let answer = link.request(Message::EnvGet).await;
        assert!(matches!(&answer, Err(LinkError::Closed(reason)) if reason.contains("did not answer")), "{answer:?}");
        assert!(started.elapsed() < REQUEST_TIMEOUT, "failed by the request timeout, not the keepalive");
        assert!(matches!(link.end(), Some(LinkEnd::Lost(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn link_to_an_agent_answering_pings_stays_open() {
        let link = link_to_fake_agent(|mut agent| async move {
            while let Some(Ok(envelope)) = agent.next().await {
                if envelope.message == Message::Ping {
                    let _ = agent.send(Envelope { id: envelope.id, message: Message::Pong }).await;
                }
            }
        })
        .await;
        tokio::time::sleep(KEEPALIVE_TIMEOUT * 5).await;
        assert!(!link.is_closed(), "cut: {:?}", link.end());
    }

    #[tokio::test(start_paused = true)]
    async fn link_ends_with_the_reason_the_agent_gives_when_its_target_is_gone() {
        let link = link_to_fake_agent(|mut agent| async move {
            let gone = Message::TargetGone { reason: "the target process 42 exited".into() };
            agent.send(Envelope { id: 0, message: gone }).await.unwrap();
            while agent.next().await.is_some() {}
        })
        .await;
        assert_eq!(link.ended().await, LinkEnd::TargetGone("the target process 42 exited".into()));
        let answer = link.request(Message::EnvGet).await;
        assert!(matches!(&answer, Err(LinkError::Closed(reason)) if reason.contains("exited")), "{answer:?}");
    }
}
