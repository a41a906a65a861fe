//! Outgoing TCP and UDP streams of one daemon connection: sockets in the target's network,
//! relayed as `StreamData` (id 0) with `StreamAck` credit for TCP.
//!
//! Each stream is registered when the daemon opens it (before connecting, so a `StreamReset`
//! that overtakes the connect is not lost) and runs as one task that owns the socket. The
//! connection's reader routes the daemon's stream messages to it through [`Streams`]; the task
//! removes itself when both directions are done. Dropping the connection's task set ends every
//! stream of the connection.
//!
//! No stream owns a read buffer: a burst of thousands of connections would leave that many
//! 64 KiB buffers behind in the allocator's arenas once they are freed (glibc keeps freed
//! memory amid live allocations). Reads go through one buffer per thread instead
//! ([`read_chunk`]), and what is sent is a vector of exactly the bytes read. What the streams
//! of a burst still allocated (tasks, channels, messages) is handed back to the system once
//! the burst is over ([`trim_after_burst`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Poll};

use tether_rpc_schema::incoming::AGENT_STREAM_BIT;
use tether_rpc_schema::wire::{Envelope, Message, STREAM_WINDOW};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::linger::ResetOnClose;
use crate::netns::TargetNet;

/// Largest `StreamData` the agent sends for TCP.
const READ_CHUNK: usize = 64 * 1024;

/// Datagrams from the daemon waiting for a UDP socket; more are dropped, as a full socket
/// buffer would.
const UDP_QUEUE: usize = 64;

/// Largest UDP datagram.
const UDP_MAX: usize = 65_536;

/// Streams that must have ended since memory was last handed back before it is worth doing
/// again: a few streams leave little behind, and trimming walks every arena.
const TRIM_AFTER_STREAMS: usize = 256;

/// Streams ended since memory was last handed back, across connections.
static ENDED_SINCE_TRIM: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The read buffer of every stream running on this thread. It is borrowed only within one
    /// synchronous poll, never across an `await`, so streams share it safely.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK.max(UDP_MAX)]);
}

/// Reads at most `max` bytes (at most [`READ_CHUNK`]) from `io` and returns exactly what was
/// read, empty at end of file. The caller holds no buffer while `io` has nothing to read.
pub async fn read_chunk(io: &mut (impl AsyncRead + Unpin), max: usize) -> io::Result<Vec<u8>> {
    std::future::poll_fn(|cx| {
        with_scratch(max.min(READ_CHUNK), |scratch| {
            let mut buf = ReadBuf::new(scratch);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
            Poll::Ready(Ok(buf.filled().to_vec()))
        })
    })
    .await
}

/// Counts an ended stream and, when the connection has none left after many ended, hands the
/// allocator's free memory back to the system. glibc keeps what a burst of thousands of
/// streams freed in its arenas otherwise (amid a few live allocations, so the arenas never
/// shrink by themselves), and the agent would stay at its peak size.
fn trim_after_burst(burst_over: bool) {
    let ended = ENDED_SINCE_TRIM.fetch_add(1, Ordering::Relaxed) + 1;
    if !burst_over || ended < TRIM_AFTER_STREAMS || ENDED_SINCE_TRIM.swap(0, Ordering::Relaxed) < TRIM_AFTER_STREAMS {
        return;
    }
    #[cfg(target_env = "gnu")]
    tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only releases free pages of glibc's own arenas, under their locks;
        // it may be called from any thread at any time.
        unsafe { libc::malloc_trim(0) };
    });
}

/// Receives one datagram (see [`read_chunk`]).
async fn recv_datagram(socket: &UdpSocket) -> io::Result<Vec<u8>> {
    std::future::poll_fn(|cx| {
        with_scratch(UDP_MAX, |scratch| {
            let mut buf = ReadBuf::new(scratch);
            ready!(socket.poll_recv(cx, &mut buf))?;
            Poll::Ready(Ok(buf.filled().to_vec()))
        })
    })
    .await
}

/// Runs `read` on the first `len` bytes of this thread's scratch buffer, or of a buffer of its
/// own should the scratch buffer be in use (a reader that reads another stream while reading).
fn with_scratch<T>(len: usize, read: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => read(&mut scratch[..len]),
        Err(_) => read(&mut vec![0; len]),
    })
}

/// Frames for the connection's writer task.
pub type Outbox = mpsc::Sender<Envelope>;

/// Daemon → socket input of a TCP stream.
#[derive(Debug)]
enum Input {
    Data(Vec<u8>),
    Eof,
}

/// What the reader needs to reach a stream's task.
#[derive(Debug)]
struct Entry {
    /// Tells entries apart when the daemon reuses a stream id after the stream ended.
    serial: u64,
    cancel: CancellationToken,
    kind: EntryKind,
}

#[derive(Debug)]
enum EntryKind {
    Tcp {
        /// Unbounded, but a daemon that keeps to the window queues at most [`STREAM_WINDOW`]
        /// bytes: `unwritten` counts them and a daemon that overruns it gets a reset.
        input_tx: mpsc::UnboundedSender<Input>,
        unwritten: Arc<AtomicU64>,
        /// Total bytes the daemon acknowledged; the task's read side waits on it for credit.
        acked_tx: watch::Sender<u64>,
    },
    Udp {
        input_tx: mpsc::Sender<Vec<u8>>,
    },
}

impl EntryKind {
    /// A TCP entry, and the ends its relay task keeps: the daemon's input, the acknowledged
    /// byte count, and the count of queued bytes not yet written.
    fn tcp() -> (EntryKind, mpsc::UnboundedReceiver<Input>, watch::Receiver<u64>, Arc<AtomicU64>) {
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        let (acked_tx, acked_rx) = watch::channel(0);
        let unwritten = Arc::new(AtomicU64::new(0));
        let kind = EntryKind::Tcp { input_tx, unwritten: unwritten.clone(), acked_tx };
        (kind, input_rx, acked_rx, unwritten)
    }
}

/// The streams of one daemon connection.
#[derive(Debug, Clone)]
pub struct Streams {
    table: Arc<Mutex<HashMap<u64, Entry>>>,
    next_serial: Arc<AtomicU64>,
    out: Outbox,
    net: TargetNet,
    /// The daemon takes [`Message::StreamOpened`] (with the socket's own address) for `Done`.
    tells_local: bool,
}

impl Streams {
    pub fn new(out: Outbox, net: TargetNet, tells_local: bool) -> Streams {
        Streams { table: Arc::default(), next_serial: Arc::default(), out, net, tells_local }
    }

    /// The answer to a connect whose socket's own address is `local`.
    fn opened(&self, local: io::Result<SocketAddr>) -> Message {
        match local {
            Ok(local) if self.tells_local => Message::StreamOpened { local },
            _ => Message::Done,
        }
    }

    /// Registers TCP stream `stream` and returns the task that connects it to `addr`, answers
    /// request `id`, and relays it.
    pub fn open_tcp(&self, id: u64, stream: u64, addr: SocketAddr) -> impl Future<Output = ()> + Send + 'static {
        let (kind, input_rx, acked_rx, unwritten) = EntryKind::tcp();
        let registered = self.register(stream, kind);
        let streams = self.clone();
        async move {
            let (serial, cancel) = match registered {
                Ok(registered) => registered,
                Err(err) => return streams.respond(id, failure("stream open", &err)).await,
            };
            let connected = tokio::select! {
                () = cancel.cancelled() => Err(io::Error::from_raw_os_error(libc::ECANCELED)),
                connected = streams.net.tcp_connect(addr) => connected.and_then(TcpStream::from_std),
            };
            match connected {
                Ok(socket) => {
                    tracing::debug!(stream, "tcp stream connected");
                    let armed = ResetOnClose::arm(&socket);
                    streams.respond(id, streams.opened(socket.local_addr())).await;
                    let tcp = Tcp { stream, input_rx, acked_rx, unwritten };
                    let end = streams.relay(stream, &cancel, tcp.run(socket, streams.out.clone())).await;
                    tracing::debug!(stream, ?end, "tcp stream ended");
                    if end.is_ok() && !cancel.is_cancelled() {
                        armed.close_normally();
                    }
                }
                Err(err) => {
                    tracing::debug!(stream, %err, "tcp connect failed");
                    streams.respond(id, failure("connect", &err)).await;
                }
            }
            streams.forget(stream, serial);
        }
    }

    /// Registers UDP stream `stream` and returns the task that connects it to `addr`, answers
    /// request `id`, and relays datagrams.
    pub fn open_udp(&self, id: u64, stream: u64, addr: SocketAddr) -> impl Future<Output = ()> + Send + 'static {
        let (input_tx, input_rx) = mpsc::channel(UDP_QUEUE);
        let registered = self.register(stream, EntryKind::Udp { input_tx });
        let streams = self.clone();
        async move {
            let (serial, cancel) = match registered {
                Ok(registered) => registered,
                Err(err) => return streams.respond(id, failure("stream open", &err)).await,
            };
            match streams.net.udp_connect(addr).await.and_then(UdpSocket::from_std) {
                Ok(socket) => {
                    streams.respond(id, streams.opened(socket.local_addr())).await;
                    let relay = relay_udp(stream, socket, input_rx, streams.out.clone());
                    let end = streams.relay(stream, &cancel, relay).await;
                    tracing::debug!(stream, ?end, "udp stream ended");
                }
                Err(err) => streams.respond(id, failure("udp connect", &err)).await,
            }
            streams.forget(stream, serial);
        }
    }

    /// Opens a stream towards the daemon for a connection that arrived on the subscribed
    /// `port` from `peer` ([`Message::IncomingConnection`]) and relays `io` over it until both
    /// directions are done. `io` is the client's socket, or one side of an in-agent pipe.
    pub async fn open_incoming(
        &self,
        port: u16,
        peer: SocketAddr,
        mirror: bool,
        io: impl AsyncRead + AsyncWrite + Send + 'static,
    ) -> io::Result<()> {
        let (kind, input_rx, acked_rx, unwritten) = EntryKind::tcp();
        let stream = AGENT_STREAM_BIT | self.next_serial.fetch_add(1, Ordering::Relaxed);
        let (serial, cancel) = self.register(stream, kind)?;
        let announce = Message::IncomingConnection { stream, port, peer, mirror };
        let result = match send(&self.out, announce).await {
            Ok(()) => {
                let tcp = Tcp { stream, input_rx, acked_rx, unwritten };
                self.relay(stream, &cancel, tcp.run(io, self.out.clone())).await
            }
            Err(err) => Err(err),
        };
        self.forget(stream, serial);
        // Reset by the daemon (or cut with the connection): not a clean end for the client.
        if result.is_ok() && cancel.is_cancelled() {
            return Err(io::Error::from_raw_os_error(libc::ECONNRESET));
        }
        result
    }

    /// Routes a stream message from the daemon to its stream.
    pub fn deliver(&self, message: Message) {
        let mut table = self.table.lock().expect("stream table lock");
        match message {
            Message::StreamData { stream, data } => match table.get(&stream).map(|entry| &entry.kind) {
                Some(EntryKind::Tcp { input_tx, unwritten, .. }) => {
                    let queued = unwritten.fetch_add(data.len() as u64, Ordering::AcqRel) + data.len() as u64;
                    if queued > STREAM_WINDOW {
                        tracing::warn!(stream, "daemon overran the stream window; resetting the stream");
                        if let Some(entry) = table.remove(&stream) {
                            entry.cancel.cancel();
                        }
                        self.send_reset(stream, libc::EPROTO);
                    } else {
                        let _ = input_tx.send(Input::Data(data));
                    }
                }
                Some(EntryKind::Udp { input_tx }) => {
                    if input_tx.try_send(data).is_err() {
                        tracing::debug!(stream, "udp queue full; datagram dropped");
                    }
                }
                None => self.send_reset(stream, libc::ENOTCONN),
            },
            Message::StreamAck { stream, bytes } => {
                if let Some(EntryKind::Tcp { acked_tx, .. }) = table.get(&stream).map(|entry| &entry.kind) {
                    acked_tx.send_modify(|acked| *acked += bytes);
                }
            }
            Message::StreamEof { stream } => {
                if let Some(EntryKind::Tcp { input_tx, .. }) = table.get(&stream).map(|entry| &entry.kind) {
                    let _ = input_tx.send(Input::Eof);
                }
            }
            Message::StreamReset { stream, .. } => {
                if let Some(entry) = table.remove(&stream) {
                    entry.cancel.cancel();
                }
            }
            other => tracing::warn!(kind = other.kind(), "not a stream message"),
        }
    }

    /// Adds a stream to the table; a stream id still in use is refused with `EEXIST`.
    fn register(&self, stream: u64, kind: EntryKind) -> io::Result<(u64, CancellationToken)> {
        let mut table = self.table.lock().expect("stream table lock");
        if table.contains_key(&stream) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        table.insert(stream, Entry { serial, cancel: cancel.clone(), kind });
        Ok((serial, cancel))
    }

    fn forget(&self, stream: u64, serial: u64) {
        let mut table = self.table.lock().expect("stream table lock");
        if table.get(&stream).is_some_and(|entry| entry.serial == serial) {
            table.remove(&stream);
        }
        let burst_over = table.is_empty();
        drop(table);
        trim_after_burst(burst_over);
    }

    /// Runs a relay until it ends or the daemon resets the stream; a relay error becomes a
    /// `StreamReset` to the daemon.
    async fn relay(
        &self,
        stream: u64,
        cancel: &CancellationToken,
        relay: impl Future<Output = io::Result<()>>,
    ) -> io::Result<()> {
        let result = tokio::select! {
            // A reset from the daemon also closes the stream's channels; it must win over the
            // errors that causes, so no reset is echoed back.
            biased;
            () = cancel.cancelled() => return Ok(()),
            result = relay => result,
        };
        if let Err(err) = &result {
            let _ = self.out.send(stream_message(reset(stream, err))).await;
        }
        result
    }

    async fn respond(&self, id: u64, message: Message) {
        let _ = self.out.send(Envelope { id, message }).await;
    }

    /// Sends a reset from the reader, which must not wait on the writer.
    fn send_reset(&self, stream: u64, errno: i32) {
        let out = self.out.clone();
        tokio::spawn(async move {
            let _ = out.send(stream_message(Message::StreamReset { stream, errno })).await;
        });
    }
}

/// The task's side of a TCP stream.
struct Tcp {
    stream: u64,
    input_rx: mpsc::UnboundedReceiver<Input>,
    acked_rx: watch::Receiver<u64>,
    unwritten: Arc<AtomicU64>,
}

impl Tcp {
    /// Relays both directions until both are done or one fails.
    async fn run(self, socket: impl AsyncRead + AsyncWrite + Send + 'static, out: Outbox) -> io::Result<()> {
        let (read_half, write_half) = tokio::io::split(socket);
        let Tcp { stream, input_rx, acked_rx, unwritten } = self;
        let upstream = socket_to_daemon(stream, read_half, acked_rx, out.clone());
        let downstream = daemon_to_socket(stream, write_half, input_rx, unwritten, out);
        tokio::try_join!(upstream, downstream).map(|_| ())
    }
}

/// Socket → daemon, never more than [`STREAM_WINDOW`] bytes ahead of the daemon's acks.
async fn socket_to_daemon(
    stream: u64,
    mut socket: impl AsyncRead + Unpin,
    mut acked_rx: watch::Receiver<u64>,
    out: Outbox,
) -> io::Result<()> {
    let mut sent: u64 = 0;
    loop {
        let acked = *acked_rx
            .wait_for(|acked| sent < acked + STREAM_WINDOW)
            .await
            .map_err(|_| io::Error::from_raw_os_error(libc::ECONNABORTED))?;
        let room = ((acked + STREAM_WINDOW - sent) as usize).min(READ_CHUNK);
        let data = read_chunk(&mut socket, room).await?;
        if data.is_empty() {
            send(&out, Message::StreamEof { stream }).await?;
            return Ok(());
        }
        sent += data.len() as u64;
        send(&out, Message::StreamData { stream, data }).await?;
    }
}

/// Daemon → socket, acknowledging what was written.
async fn daemon_to_socket(
    stream: u64,
    mut socket: impl AsyncWrite + Unpin,
    mut input_rx: mpsc::UnboundedReceiver<Input>,
    unwritten: Arc<AtomicU64>,
    out: Outbox,
) -> io::Result<()> {
    while let Some(input) = input_rx.recv().await {
        match input {
            Input::Data(data) => {
                socket.write_all(&data).await?;
                unwritten.fetch_sub(data.len() as u64, Ordering::AcqRel);
                send(&out, Message::StreamAck { stream, bytes: data.len() as u64 }).await?;
            }
            Input::Eof => {
                socket.shutdown().await?;
                return Ok(());
            }
        }
    }
    // The entry is gone: the stream was reset and the relay is being cancelled.
    Err(io::Error::from_raw_os_error(libc::ECONNABORTED))
}

/// Datagrams both ways until the socket fails or the daemon ends the stream.
async fn relay_udp(
    stream: u64,
    socket: UdpSocket,
    mut input_rx: mpsc::Receiver<Vec<u8>>,
    out: Outbox,
) -> io::Result<()> {
    loop {
        tokio::select! {
            datagram = input_rx.recv() => {
                let Some(datagram) = datagram else { return Ok(()) };
                match socket.send(&datagram).await {
                    Err(err) if !datagram_error(&err) => return Err(err),
                    Err(err) => tracing::debug!(stream, %err, "datagram not sent"),
                    Ok(_) => {}
                }
            }
            received = recv_datagram(&socket) => match received {
                Ok(data) => {
                    let message = stream_message(Message::StreamData { stream, data });
                    if out.try_send(message).is_err() {
                        tracing::debug!(stream, "connection busy; datagram dropped");
                    }
                }
                Err(err) if datagram_error(&err) => tracing::debug!(stream, %err, "datagram error"),
                Err(err) => return Err(err),
            },
        }
    }
}

/// Errors that concern one datagram (an ICMP error for an earlier one, a datagram too big or
/// no buffer space), not the socket: they do not end the stream, as they would not end the
/// user's socket.
fn datagram_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EMSGSIZE | libc::ENOBUFS | libc::EHOSTUNREACH | libc::ENETUNREACH)
    )
}

async fn send(out: &Outbox, message: Message) -> io::Result<()> {
    out.send(stream_message(message)).await.map_err(|_| io::Error::from_raw_os_error(libc::ECONNABORTED))
}

fn stream_message(message: Message) -> Envelope {
    Envelope { id: 0, message }
}

fn reset(stream: u64, err: &io::Error) -> Message {
    Message::StreamReset { stream, errno: err.raw_os_error().unwrap_or(libc::EIO) }
}

/// A failed request, keeping the errno the user process should see.
pub fn failure(what: &str, err: &io::Error) -> Message {
    Message::failure(err.raw_os_error().unwrap_or(libc::EIO), format!("{what}: {err}"))
}
