//! The interception listeners of a subscribed port and what happens to each redirected
//! connection: stolen (relayed to the daemon), mirrored (relayed to the target's own server
//! with a bounded copy of the client's bytes to the daemon), or routed per HTTP request: with
//! a filter, and for connections from the node on a port with kubelet probes (which then keep
//! reaching the target's server).

use std::io;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tether_rpc_schema::incoming::IncomingMode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::bytes::Bytes;

use crate::linger::ResetOnClose;
use crate::netns::TargetNet;
use crate::streams::Streams;

use super::filter::Filter;
use super::probes::Node;

/// Chunks of a mirrored connection's copy waiting for the daemon; when full, the copy is
/// dropped (the original connection never waits for it). At most 64 KiB each.
const MIRROR_QUEUE: usize = 64;

/// Bytes read from a mirrored client at a time.
const MIRROR_CHUNK: usize = 64 * 1024;

/// What the connections of one subscribed port share.
pub struct Subscription {
    pub port: u16,
    pub mode: IncomingMode,
    pub filter: Option<Filter>,
    /// Where the kubelet's probes come from, when the pod has HTTP or gRPC probes on `port`.
    pub node: Option<Node>,
    /// The streams of the daemon connection that subscribed.
    pub streams: Streams,
    pub net: TargetNet,
    /// The agent's [`super::rules::mark`]: its connections to the target's server pass its
    /// own rules and those of the agents before it, and meet those of the agents after it.
    pub mark: u32,
}

impl Subscription {
    /// Connects to the target's own server at `original`, past the redirect rules.
    pub async fn connect_original(&self, original: SocketAddr) -> io::Result<TcpStream> {
        let stream = self.net.tcp_connect_marked(original, self.mark).await?;
        TcpStream::from_std(stream)
    }
}

/// Accepts redirected connections until the subscription ends (the task is aborted).
pub async fn accept(listener: TcpListener, subscription: Arc<Subscription>) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                let _ = client.set_nodelay(true);
                tokio::spawn(handle(client, peer, subscription.clone()));
            }
            Err(err) => {
                tracing::warn!(%err, "accepting an incoming connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(client: TcpStream, peer: SocketAddr, subscription: Arc<Subscription>) {
    let original = original_destination(&client).unwrap_or_else(|| {
        let ip = client.local_addr().map_or([127, 0, 0, 1].into(), |addr| addr.ip());
        SocketAddr::new(ip, subscription.port)
    });
    let port = subscription.port;
    let armed = ResetOnClose::arm(&client);
    let from_node = subscription.node.as_ref().is_some_and(|node| node.is(peer.ip()));
    let per_request = subscription.filter.is_some() || from_node;
    let result = match (per_request, subscription.mode) {
        (true, _) => {
            super::http::serve(client, peer, original, from_node, subscription.clone()).await;
            Ok(())
        }
        (false, IncomingMode::Steal) => subscription.streams.open_incoming(port, peer, false, client).await,
        (false, IncomingMode::Mirror) => mirror(client, peer, original, &subscription).await,
    };
    match result {
        Ok(()) => {
            armed.close_normally();
        }
        Err(err) => tracing::debug!(port, %peer, %err, "incoming connection ended with an error"),
    }
}

/// Relays `client` to the target's server untouched and offers a copy of the client's bytes
/// to the daemon.
async fn mirror(
    client: TcpStream,
    peer: SocketAddr,
    original: SocketAddr,
    subscription: &Subscription,
) -> io::Result<()> {
    let server = match subscription.connect_original(original).await {
        Ok(server) => server,
        Err(err) => {
            // Without the target's server the client sees what it would have: a reset.
            let _ = client.set_zero_linger();
            return Err(err);
        }
    };
    let (mut copy, copy_io) = copy_pipe();
    let streams = subscription.streams.clone();
    let port = subscription.port;
    tokio::spawn(async move {
        if let Err(err) = streams.open_incoming(port, peer, true, copy_io).await {
            tracing::debug!(port, %err, "mirror copy ended early");
        }
    });
    let armed_server = ResetOnClose::arm(&server);
    // Not `into_split`: its write halves send a FIN when dropped, which would end a cut
    // connection cleanly before the reset armed on the socket.
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let (mut server_rx, mut server_tx) = tokio::io::split(server);
    let upstream = async {
        loop {
            // No buffer of its own per connection (see `streams`).
            let chunk = crate::streams::read_chunk(&mut client_rx, MIRROR_CHUNK).await?;
            if chunk.is_empty() {
                copy.finish();
                return server_tx.shutdown().await;
            }
            server_tx.write_all(&chunk).await?;
            copy.offer(&chunk);
        }
    };
    let downstream = async {
        tokio::io::copy(&mut server_rx, &mut client_tx).await?;
        client_tx.shutdown().await
    };
    let result = tokio::try_join!(upstream, downstream).map(|_| ());
    copy.finish();
    if result.is_ok() {
        armed_server.close_normally();
    }
    result
}

/// The sending side of a mirror copy: never waits.
pub struct CopyTx {
    tx: Option<mpsc::Sender<Bytes>>,
    overflowed: Arc<AtomicBool>,
}

impl CopyTx {
    /// Queues a copy of `data`; a full queue drops the copy for good (the daemon sees a reset).
    pub fn offer(&mut self, data: &[u8]) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Bytes::copy_from_slice(data)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!("mirror copy too slow; dropping it");
                self.overflowed.store(true, Ordering::Release);
                self.tx = None;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.tx = None,
        }
    }

    /// The original is complete: the copy ends with end-of-file.
    pub fn finish(&mut self) {
        self.tx = None;
    }
}

/// The daemon's side of a mirror copy: reads the queued bytes, discards writes.
pub struct CopyIo {
    rx: mpsc::Receiver<Bytes>,
    overflowed: Arc<AtomicBool>,
    pending: Bytes,
}

/// A bounded copy channel: [`CopyTx`] for the relay, [`CopyIo`] for the daemon stream.
pub fn copy_pipe() -> (CopyTx, CopyIo) {
    let (tx, rx) = mpsc::channel(MIRROR_QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    (CopyTx { tx: Some(tx), overflowed: overflowed.clone() }, CopyIo { rx, overflowed, pending: Bytes::new() })
}

impl AsyncRead for CopyIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_empty() {
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(data)) => self.pending = data,
                Poll::Ready(None) if self.overflowed.load(Ordering::Acquire) => {
                    return Poll::Ready(Err(io::Error::from_raw_os_error(libc::ECONNRESET)))
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        let chunk = self.pending.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for CopyIo {
    /// What the user process answers a mirrored connection is discarded.
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Where the client meant to connect before the redirect (`SO_ORIGINAL_DST`).
fn original_destination(client: &TcpStream) -> Option<SocketAddr> {
    const SO_ORIGINAL_DST: libc::c_int = 80;
    let fd = client.as_raw_fd();
    if client.local_addr().ok()?.is_ipv4() {
        // SAFETY: sockaddr_in is plain data; all-zero is valid.
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `addr`/`len` are valid out-pointers of the size given.
        let rc = unsafe {
            libc::getsockopt(fd, libc::SOL_IP, SO_ORIGINAL_DST, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len)
        };
        (rc == 0).then(|| {
            SocketAddr::V4(SocketAddrV4::new(u32::from_be(addr.sin_addr.s_addr).into(), u16::from_be(addr.sin_port)))
        })
    } else {
        // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
        let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        // SAFETY: `addr`/`len` are valid out-pointers of the size given.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_IPV6,
                SO_ORIGINAL_DST,
                (&mut addr as *mut libc::sockaddr_in6).cast(),
                &mut len,
            )
        };
        (rc == 0).then(|| {
            SocketAddr::V6(SocketAddrV6::new(
                addr.sin6_addr.s6_addr.into(),
                u16::from_be(addr.sin6_port),
                0,
                addr.sin6_scope_id,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn copy_pipe_delivers_then_ends_with_eof() {
        let (mut tx, mut io) = copy_pipe();
        tx.offer(b"hello ");
        tx.offer(b"world");
        tx.finish();
        let mut out = Vec::new();
        io.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"hello world");
    }

    #[tokio::test]
    async fn copy_pipe_overflow_drops_the_copy_with_a_reset() {
        let (mut tx, mut io) = copy_pipe();
        for _ in 0..=MIRROR_QUEUE {
            tx.offer(b"x");
        }
        tx.offer(b"after the drop");
        let mut out = Vec::new();
        let err = io.read_to_end(&mut out).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET));
        assert_eq!(out.len(), MIRROR_QUEUE);
    }
}
