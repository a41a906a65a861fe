//! Moving bytes between a user process's socket and an agent stream: TCP with per-stream
//! credit (at most `STREAM_WINDOW` unacknowledged bytes towards the agent), UDP as datagrams.
//!
//! A relayed TCP socket ends with a reset unless both directions ended cleanly: it is armed
//! (zero linger) from the moment the daemon holds it, so a stream the agent cuts, an agent
//! link that dies, or the daemon itself being killed shows the user process `ECONNRESET`,
//! never an end of stream that a truncated transfer could be mistaken for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tether_rpc_schema::wire::{Message, STREAM_WINDOW};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::agent_link::{AgentStream, StreamEvent};

/// Largest read from the user's socket per `StreamData`.
const CHUNK: usize = 64 * 1024;

/// A UDP relay with no datagram either way for this long is closed.
const UDP_IDLE: Duration = Duration::from_secs(300);

/// Ends a user process's TCP connection with a reset, as a refused or failed connection would
/// end: its target side could not be connected.
pub fn reset(user: TcpStream) {
    reset_on_close(&user);
}

/// Makes closing `socket` (by the daemon, or by the kernel when the daemon dies) send a reset.
pub fn reset_on_close(socket: &TcpStream) {
    if let Err(err) = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%err, "cannot arrange a reset; the connection closes normally");
    }
}

/// The relay ended cleanly both ways: closing `socket` ends it normally.
pub fn close_normally(socket: &TcpStream) {
    let _ = socket2::SockRef::from(socket).set_linger(None);
}

/// Relays a user process's TCP connection to an agent stream until both sides are done.
pub async fn relay_tcp(user: TcpStream, mut stream: AgentStream) {
    let _relayed = crate::memory::Relayed::start();
    let _ = user.set_nodelay(true);
    reset_on_close(&user);
    let (user_rx, mut user_tx) = user.into_split();
    let window = Arc::new(Semaphore::new(STREAM_WINDOW as usize));
    let sender = stream.sender();
    let upstream_window = window.clone();
    // True when the user's side ended with an end of stream that reached the agent.
    let mut upstream = tokio::spawn(async move {
        loop {
            let data = match read_chunk(&user_rx).await {
                Ok(data) if data.is_empty() => {
                    return sender.send(|stream| Message::StreamEof { stream }).await.is_ok()
                }
                Ok(data) => data,
                Err(err) => {
                    let errno = err.raw_os_error().unwrap_or(libc_econnreset());
                    let _ = sender.send(|stream| Message::StreamReset { stream, errno }).await;
                    return false;
                }
            };
            match upstream_window.acquire_many(data.len() as u32).await {
                Ok(permit) => permit.forget(),
                Err(_) => return false,
            }
            if sender.send(|stream| Message::StreamData { stream, data }).await.is_err() {
                return false;
            }
        }
    });
    // The relay is done when the agent's side ended (`Eof`) and ours did too; it ended
    // cleanly when both did without an error. Anything else (a reset either way, the agent's
    // link gone) leaves the socket armed to reset.
    let (mut agent_done, mut user_done, mut user_clean) = (false, false, false);
    loop {
        let event = tokio::select! {
            event = stream.events.recv() => event,
            ended = &mut upstream, if !user_done => {
                user_done = true;
                user_clean = ended.unwrap_or(false);
                if agent_done {
                    break;
                }
                continue;
            }
        };
        // `None`: the stream was forgotten because the agent's link ended.
        let Some(event) = event else { break };
        match event {
            StreamEvent::Data(data) => {
                let len = data.len() as u64;
                if user_tx.write_all(&data).await.is_err() {
                    let _ = stream.send(|stream| Message::StreamReset { stream, errno: libc_econnreset() }).await;
                    break;
                }
                let _ = stream.send(|stream| Message::StreamAck { stream, bytes: len }).await;
            }
            StreamEvent::Ack(bytes) => window.add_permits(bytes as usize),
            StreamEvent::Eof => {
                let _ = user_tx.shutdown().await;
                agent_done = true;
                if user_done {
                    break;
                }
            }
            StreamEvent::Reset => break,
        }
    }
    if agent_done && user_done && user_clean {
        close_normally(user_tx.as_ref());
    } else {
        // Dropping a write half would send a FIN ahead of the reset.
        user_tx.forget();
    }
    window.close();
    upstream.abort();
}

/// Relays datagrams between the user's UDP socket at `user_addr` and an agent UDP stream, via
/// the loopback socket `relay` that the user's socket sends to.
pub async fn relay_udp(relay: UdpSocket, user_addr: SocketAddr, mut stream: AgentStream) {
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            received = relay.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { break };
                if from != user_addr {
                    tracing::debug!(%from, "dropping a datagram from a stranger on a udp relay");
                    continue;
                }
                let data = buf[..len].to_vec();
                if stream.send(|stream| Message::StreamData { stream, data }).await.is_err() {
                    break;
                }
            }
            event = stream.events.recv() => match event {
                Some(StreamEvent::Data(data)) => {
                    let _ = relay.send_to(&data, user_addr).await;
                }
                Some(StreamEvent::Ack(_) | StreamEvent::Eof) => {}
                Some(StreamEvent::Reset) | None => break,
            },
            () = tokio::time::sleep(UDP_IDLE) => break,
        }
    }
    let _ = stream.send(|stream| Message::StreamReset { stream, errno: 0 }).await;
}

thread_local! {
    /// The read buffer of every relay on this thread, borrowed only within one non-blocking
    /// read: thousands of relays waiting on their sockets hold no buffers of their own.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; CHUNK]);
}

/// Reads at most [`CHUNK`] bytes from the user's socket and returns exactly what was read
/// (nothing at its end).
async fn read_chunk(user_rx: &tokio::net::tcp::OwnedReadHalf) -> std::io::Result<Vec<u8>> {
    loop {
        user_rx.readable().await?;
        let read = SCRATCH.with_borrow_mut(|scratch| user_rx.try_read(scratch).map(|read| scratch[..read].to_vec()));
        match read {
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            read => return read,
        }
    }
}

fn libc_econnreset() -> i32 {
    nix::errno::Errno::ECONNRESET as i32
}
