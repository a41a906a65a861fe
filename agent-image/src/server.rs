//! Serves the wire protocol on the agent's loopback listener: accepts daemon connections,
//! checks `Hello`, dispatches requests concurrently, and exits when it has nothing left to serve.
//!
//! Per connection: the reader (this module's loop) decodes frames and starts one task per
//! request or stream; a single writer task owns the socket's write half and sends whatever
//! those tasks put in the bounded outbox, so responses and stream data interleave safely.
//!
//! Until its `Hello` is accepted a connection is a stranger's: it may hold one of only
//! [`MAX_PENDING_HELLOS`] places, send a frame of at most [`HELLO_FRAME_MAX`] bytes, and take
//! [`HELLO_TIMEOUT`]; whoever lacks the token cannot make the agent (root) allocate or keep much.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;
use tether_rpc_schema::codec::{self, CodecError, HEADER_LEN, HELLO_FRAME_MAX, MAX_FRAME};
use tether_rpc_schema::wire::{
    Envelope, Hello, HelloOk, Message, Role, HOSTNAME_CAPABILITY, KEEPALIVE_CAPABILITY, KEEPALIVE_SILENCE_LIMIT,
    STREAM_OPENED_CAPABILITY, TARGET_GONE_CAPABILITY,
};
use tether_rpc_schema::PROTOCOL_VERSION;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::bytes::{Buf, BytesMut};

use crate::handlers::{self, Agent};
use crate::incoming::{Incoming, Wanted};
use crate::netns::TargetNet;
use crate::streams::Streams;

/// How long a new connection may take to say `Hello`; the daemon sends it right after
/// connecting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections at most waiting for their `Hello` at the same time; more are closed at once.
/// Authenticated connections do not count.
const MAX_PENDING_HELLOS: usize = 16;

/// Frames waiting for the writer; a full outbox slows down the tasks that fill it.
const OUTBOX_CAPACITY: usize = 256;

/// Requests of one connection handled at the same time. More wait for their turn, in order,
/// each as a task of its own: the reader never waits for them, as it also carries stream
/// traffic. What waits is bounded by what the (authenticated) daemon sends, whose own
/// callers wait for the answers.
const MAX_REQUESTS_IN_FLIGHT: usize = 256;

/// Bytes the reader asks the socket for at a time.
const READ_BUFFER: usize = 64 * 1024;

/// How long a closing connection may take to flush what it still has to send.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What connections share.
pub struct Shared {
    pub token: String,
    pub agent: Agent,
    pub net: TargetNet,
    pub incoming: Incoming,
    /// Becomes the reason once the target has exited: connections say so and end.
    pub target_gone: watch::Receiver<Option<String>>,
}

/// Accepts connections until the agent has nothing left to serve: no daemon came within
/// `idle_timeout`, its daemon's connection ended, or its target exited.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, idle_timeout: Duration, reconnect_grace: Duration) {
    let open = Arc::new(watch::Sender::new(0usize));
    let pending_hellos = Arc::new(Semaphore::new(MAX_PENDING_HELLOS));
    let accept = async {
        // Whether connections are being turned away, so that a flood logs once, not per
        // connection.
        let mut refusing = false;
        loop {
            match listener.accept().await {
                Ok((socket, peer)) => {
                    let Ok(hello_permit) = pending_hellos.clone().try_acquire_owned() else {
                        if !refusing {
                            tracing::warn!(%peer, "{MAX_PENDING_HELLOS} connections are waiting for their hello; closing new ones until they are done");
                            refusing = true;
                        }
                        drop(socket);
                        continue;
                    };
                    refusing = false;
                    tokio::spawn(handle_connection(socket, peer, shared.clone(), open.clone(), hello_permit));
                }
                Err(err) => {
                    // Usually EMFILE; accepting again at once would spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    let mut target_gone = shared.target_gone.clone();
    tokio::select! {
        () = accept => {}
        () = wait_idle(open.subscribe(), idle_timeout, reconnect_grace) => {
            tracing::info!(seconds = idle_timeout.as_secs(), "no daemon connected, or its connection ended; exiting");
        }
        _ = gone_reason(&mut target_gone) => {
            // Each connection tells its daemon and flushes; give them the time to.
            let mut open_rx = open.subscribe();
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, open_rx.wait_for(|count| *count == 0)).await;
        }
    }
}

/// Counts a connection as open while it lives.
struct OpenConnection(Arc<watch::Sender<usize>>);

impl OpenConnection {
    fn new(open: Arc<watch::Sender<usize>>) -> OpenConnection {
        open.send_modify(|count| *count += 1);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

/// Returns once no daemon connected within `timeout` of the start, or once the last connection
/// has closed and no new one came within `grace`. A local daemon never reconnects to its agent
/// (grace 0: an agent whose daemon is gone — stopped, killed or hung — has nothing left to
/// serve); a daemon reaching its agent through a cut port-forward does, within the grace.
async fn wait_idle(mut open_rx: watch::Receiver<usize>, timeout: Duration, grace: Duration) {
    let connected =
        tokio::time::timeout(timeout, open_rx.wait_for(|count| *count > 0)).await.is_ok_and(|seen| seen.is_ok());
    if !connected {
        return;
    }
    loop {
        if open_rx.wait_for(|count| *count == 0).await.is_err() {
            return;
        }
        let back = tokio::time::timeout(grace, open_rx.wait_for(|count| *count > 0)).await;
        if !back.is_ok_and(|seen| seen.is_ok()) {
            return;
        }
    }
}

/// Reads frames off the connection's read half.
struct FrameReader {
    read_half: OwnedReadHalf,
    buf: BytesMut,
    /// Largest payload accepted: [`HELLO_FRAME_MAX`] until the hello is accepted.
    limit: usize,
}

impl FrameReader {
    /// The next frame; `None` when the daemon closed the connection between frames.
    /// Cancel-safe: a partly read frame stays in the buffer.
    async fn next(&mut self) -> Option<Result<Envelope, CodecError>> {
        loop {
            match codec::decode_limited(&self.buf, self.limit) {
                Ok(Some((envelope, used))) => {
                    self.buf.advance(used);
                    return Some(Ok(envelope));
                }
                Ok(None) => {}
                Err(err) => return Some(Err(err)),
            }
            self.buf.reserve(READ_BUFFER.min(HEADER_LEN + self.limit));
            match self.read_half.read_buf(&mut self.buf).await {
                Ok(0) if self.buf.is_empty() => return None,
                Ok(0) => return Some(Err(io::Error::from(io::ErrorKind::UnexpectedEof).into())),
                Ok(_) => {}
                Err(err) => return Some(Err(err.into())),
            }
        }
    }
}

/// Serves one connection; it counts as open (for the idle exit) once its hello is accepted,
/// so connections that never authenticate cannot keep the agent up or make it exit.
pub async fn handle_connection(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    open: Arc<watch::Sender<usize>>,
    hello_permit: OwnedSemaphorePermit,
) {
    let _ = socket.set_nodelay(true);
    let (read_half, mut write_half) = socket.into_split();
    let mut frames = FrameReader { read_half, buf: BytesMut::new(), limit: HELLO_FRAME_MAX };

    let first = tokio::time::timeout(HELLO_TIMEOUT, frames.next()).await;
    let (id, hello) = match first {
        Ok(Some(Ok(Envelope { id, message: Message::Hello(hello) }))) => (id, hello),
        Ok(Some(Ok(_))) => {
            let reason = "the first message must be hello".to_owned();
            return refuse(&mut write_half, 0, peer, reason).await;
        }
        Ok(Some(Err(err))) => return tracing::warn!(%peer, %err, "unreadable first frame; closing"),
        Ok(None) => return,
        Err(_) => return tracing::warn!(%peer, "no hello within {HELLO_TIMEOUT:?}; closing"),
    };
    if let Err(reason) = check_hello(&shared.token, &hello) {
        return refuse(&mut write_half, id, peer, reason).await;
    }
    drop(hello_permit);
    frames.limit = MAX_FRAME;
    let _open = OpenConnection::new(open);
    let keepalive = hello.capabilities.iter().any(|capability| capability == KEEPALIVE_CAPABILITY);
    let tell_target_gone = hello.capabilities.iter().any(|announced| announced == TARGET_GONE_CAPABILITY);
    let tells_local = hello.capabilities.iter().any(|announced| announced == STREAM_OPENED_CAPABILITY);
    let mut target_gone = shared.target_gone.clone();
    tracing::info!(%peer, daemon_pid = hello.pid, keepalive, "daemon connected");

    let (out_tx, out_rx) = mpsc::channel(OUTBOX_CAPACITY);
    let mut writer = tokio::spawn(write_frames(write_half, out_rx));
    let ok = HelloOk {
        protocol_version: PROTOCOL_VERSION,
        capabilities: vec![
            tether_rpc_schema::incoming::CAPABILITY.to_owned(),
            tether_rpc_schema::incoming::SERVED_ONLY_CAPABILITY.to_owned(),
            KEEPALIVE_CAPABILITY.to_owned(),
            HOSTNAME_CAPABILITY.to_owned(),
        ],
        policy: None,
        park: Vec::new(),
    };
    let _ = out_tx.send(Envelope { id, message: Message::HelloOk(ok) }).await;

    static NEXT_CONNECTION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut connection = Connection {
        id: NEXT_CONNECTION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        streams: Streams::new(out_tx.clone(), shared.net.clone(), tells_local),
        shared,
        out_tx,
        tasks: JoinSet::new(),
        in_flight: Arc::new(Semaphore::new(MAX_REQUESTS_IN_FLIGHT)),
    };
    // Restarted by every frame; only a daemon that promised keepalive is held to it.
    let silence = tokio::time::sleep(KEEPALIVE_SILENCE_LIMIT);
    tokio::pin!(silence);
    let end = loop {
        tokio::select! {
            frame = frames.next() => match frame {
                None => break "closed by the daemon".to_owned(),
                Some(Err(err)) => break format!("unreadable frame: {err}"),
                Some(Ok(Envelope { message: Message::Bye, .. })) => break "the daemon said bye".to_owned(),
                Some(Ok(envelope)) => {
                    silence.as_mut().reset(tokio::time::Instant::now() + KEEPALIVE_SILENCE_LIMIT);
                    connection.dispatch(envelope);
                }
            },
            () = &mut silence, if keepalive => {
                break format!(
                    "no frame from the daemon for {}s although it promised keepalive; it is hung or gone",
                    KEEPALIVE_SILENCE_LIMIT.as_secs()
                );
            }
            Some(_) = connection.tasks.join_next(), if !connection.tasks.is_empty() => {}
            reason = gone_reason(&mut target_gone) => {
                if tell_target_gone {
                    let _ = connection.out_tx.send(Envelope { id: 0, message: Message::TargetGone { reason: reason.clone() } }).await;
                }
                break reason;
            }
        }
    };
    tracing::info!(%peer, reason = %end, "daemon connection ended");
    // Ends every request and stream of this connection, then lets the writer flush.
    connection.tasks.shutdown().await;
    connection.shared.incoming.release(connection.id).await;
    drop(connection);
    if tokio::time::timeout(FLUSH_TIMEOUT, &mut writer).await.is_err() {
        tracing::warn!(%peer, "the daemon did not read the last frames");
        writer.abort();
    }
}

/// Waits until the target has exited, and says how that was noticed.
async fn gone_reason(target_gone: &mut watch::Receiver<Option<String>>) -> String {
    let reason = target_gone.wait_for(Option::is_some).await.map(|reason| reason.clone());
    match reason {
        Ok(reason) => reason.unwrap_or_default(),
        // The watcher is gone without a verdict: the target is not watched any more.
        Err(_) => std::future::pending().await,
    }
}

/// One daemon connection after `Hello`, as seen by its reader.
struct Connection {
    /// Names the connection as the owner of its incoming subscriptions.
    id: u64,
    shared: Arc<Shared>,
    streams: Streams,
    out_tx: mpsc::Sender<Envelope>,
    /// Every request and stream task; dropping the set ends them all.
    tasks: JoinSet<()>,
    /// Limits concurrent requests (not streams) of this connection.
    in_flight: Arc<Semaphore>,
}

impl Connection {
    /// Handles one frame. Never waits, so stream traffic keeps flowing while requests are
    /// slow: stream messages are routed at once, everything else runs as a task.
    fn dispatch(&mut self, envelope: Envelope) {
        let Envelope { id, message } = envelope;
        match message {
            Message::StreamData { .. }
            | Message::StreamAck { .. }
            | Message::StreamEof { .. }
            | Message::StreamReset { .. } => self.streams.deliver(message),
            Message::TcpConnect { stream, addr } => {
                self.tasks.spawn(self.streams.open_tcp(id, stream, addr));
            }
            Message::UdpConnect { stream, addr } => {
                self.tasks.spawn(self.streams.open_udp(id, stream, addr));
            }
            Message::Ping => self.respond(id, std::future::ready(Message::Pong)),
            Message::IncomingSubscribe { port, mode, filter, served_only, http_probes, holder } => {
                let (shared, streams, owner) = (self.shared.clone(), self.streams.clone(), self.id);
                let wanted = Wanted { port, mode, filter, served_only, http_probes, holder };
                self.respond(id, async move { shared.incoming.subscribe(owner, streams, wanted).await });
            }
            Message::IncomingUnsubscribe { port } => {
                let shared = self.shared.clone();
                self.respond(id, async move { shared.incoming.unsubscribe(port).await });
            }
            message if id == 0 => {
                tracing::warn!(kind = message.kind(), "ignoring a request without id");
            }
            message => {
                let (shared, in_flight) = (self.shared.clone(), self.in_flight.clone());
                self.respond(id, async move {
                    // The semaphore is fair: requests run in the order they arrived. It is
                    // never closed, so the permit is always granted.
                    let permit = in_flight.acquire_owned().await.ok();
                    let response = handlers::handle_request(&shared.agent, message).await;
                    drop(permit);
                    response
                });
            }
        }
    }

    /// Runs `response` as a task and sends its result as the answer to request `id`.
    fn respond(&mut self, id: u64, response: impl Future<Output = Message> + Send + 'static) {
        let out_tx = self.out_tx.clone();
        self.tasks.spawn(async move {
            let message = response.await;
            let _ = out_tx.send(Envelope { id, message }).await;
        });
    }
}

/// Checks the daemon's `Hello`; the error is the reason sent back in `HelloRefused`.
fn check_hello(token: &str, hello: &Hello) -> Result<(), String> {
    if !bool::from(hello.token.as_bytes().ct_eq(token.as_bytes())) {
        return Err("wrong agent token; connect with the token the agent was started with".into());
    }
    if hello.role != Role::Daemon {
        return Err("only the tether daemon may connect to the agent".into());
    }
    if hello.protocol_version != PROTOCOL_VERSION {
        let upgrade = if hello.protocol_version < PROTOCOL_VERSION { "the daemon" } else { "the agent image" };
        return Err(format!(
            "protocol version {} is not supported by this agent (version {PROTOCOL_VERSION}); upgrade {upgrade}",
            hello.protocol_version
        ));
    }
    Ok(())
}

async fn refuse(write_half: &mut OwnedWriteHalf, id: u64, peer: SocketAddr, reason: String) {
    tracing::warn!(%peer, %reason, "refusing a connection");
    if let Ok(frame) = codec::encode(&Envelope { id, message: Message::HelloRefused { reason } }) {
        let _ = write_half.write_all(&frame).await;
        let _ = write_half.shutdown().await;
    }
}

/// The connection's only writer: sends the outbox's frames, flushing when it runs dry.
async fn write_frames(write_half: OwnedWriteHalf, mut out_rx: mpsc::Receiver<Envelope>) -> io::Result<()> {
    let mut writer = BufWriter::new(write_half);
    while let Some(envelope) = out_rx.recv().await {
        write_envelope(&mut writer, &envelope).await?;
        while let Ok(envelope) = out_rx.try_recv() {
            write_envelope(&mut writer, &envelope).await?;
        }
        writer.flush().await?;
    }
    writer.shutdown().await
}

async fn write_envelope(writer: &mut BufWriter<OwnedWriteHalf>, envelope: &Envelope) -> io::Result<()> {
    let frame = match codec::encode(envelope) {
        Ok(frame) => frame,
        Err(err) => {
            // Answer the request rather than leaving it without a response.
            tracing::warn!(%err, kind = envelope.message.kind(), "cannot encode a frame");
            let failure = Message::failure(libc::EMSGSIZE, err.to_string());
            codec::encode(&Envelope { id: envelope.id, message: failure }).map_err(io::Error::other)?
        }
    };
    writer.write_all(&frame).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn hello(token: &str, role: Role, protocol_version: u32) -> Hello {
        Hello { protocol_version, role, token: token.into(), capabilities: Vec::new(), pid: 1 }
    }

    #[test]
    fn check_hello_accepts_daemon_with_token() {
        assert_eq!(check_hello("s3cret", &hello("s3cret", Role::Daemon, PROTOCOL_VERSION)), Ok(()));
    }

    #[test]
    fn check_hello_refuses_wrong_token_layer_and_other_versions() {
        let refusal = |hello: Hello| check_hello("s3cret", &hello).unwrap_err();
        assert!(refusal(hello("s3cre", Role::Daemon, PROTOCOL_VERSION)).contains("wrong agent token"));
        assert!(refusal(hello("s3cret", Role::Layer, PROTOCOL_VERSION)).contains("only the tether daemon"));
        assert!(refusal(hello("s3cret", Role::Daemon, PROTOCOL_VERSION + 1)).ends_with("upgrade the agent image"));
        assert!(refusal(hello("s3cret", Role::Daemon, 0)).ends_with("upgrade the daemon"));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_idle_without_connections_returns_after_timeout() {
        let open = Arc::new(watch::Sender::new(0usize));
        let start = Instant::now();
        wait_idle(open.subscribe(), Duration::from_secs(60), Duration::ZERO).await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_idle_waits_the_grace_for_a_daemon_to_come_back() {
        let open = Arc::new(watch::Sender::new(0usize));
        let start = Instant::now();
        let idle = tokio::spawn(wait_idle(open.subscribe(), Duration::from_secs(60), Duration::from_secs(8)));
        let first = OpenConnection::new(open.clone());
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(first);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let again = OpenConnection::new(open.clone());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!idle.is_finished(), "exited although the daemon came back within the grace");
        drop(again);
        idle.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(53));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_idle_returns_when_the_last_connection_closes() {
        let open = Arc::new(watch::Sender::new(0usize));
        let start = Instant::now();
        let idle = tokio::spawn(wait_idle(open.subscribe(), Duration::from_secs(60), Duration::ZERO));
        tokio::time::sleep(Duration::from_secs(50)).await;
        let first = OpenConnection::new(open.clone());
        let second = OpenConnection::new(open.clone());
        tokio::time::sleep(Duration::from_secs(100)).await;
        drop(first);
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(!idle.is_finished(), "exited with a connection open");
        drop(second);
        idle.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(250));
    }
}
