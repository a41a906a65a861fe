//! Moving bytes between a user process's socket and an agent stream: TCP with per-stream
//! credit (at most `STREAM_WINDOW` unacknowledged bytes towards the agent), UDP as datagrams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tether_rpc_schema::wire::{Message, STREAM_WINDOW};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    if let Err(err) = socket2::SockRef::from(&user).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%err, "cannot arrange a reset; the connection closes normally");
    }
}

/// Relays a user process's TCP connection to an agent stream until both sides are done.
pub async fn relay_tcp(user: TcpStream, mut stream: AgentStream) {
    let _ = user.set_nodelay(true);
    let (mut user_rx, mut user_tx) = user.into_split();
    let window = Arc::new(Semaphore::new(STREAM_WINDOW as usize));
    let sender = stream.sender();
    let upstream_window = window.clone();
    let mut upstream = tokio::spawn(async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let read = match user_rx.read(&mut buf).await {
                Ok(0) => {
                    let _ = sender.send(|stream| Message::StreamEof { stream }).await;
                    return;
                }
                Ok(read) => read,
                Err(err) => {
                    let errno = err.raw_os_error().unwrap_or(libc_econnreset());
                    let _ = sender.send(|stream| Message::StreamReset { stream, errno }).await;
                    return;
                }
            };
            match upstream_window.acquire_many(read as u32).await {
                Ok(permit) => permit.forget(),
                Err(_) => return,
            }
            let data = buf[..read].to_vec();
            if sender.send(|stream| Message::StreamData { stream, data }).await.is_err() {
                return;
            }
        }
    });
    // The relay is done when the agent's side ended (`Eof`) and ours did too.
    let (mut agent_done, mut user_done) = (false, false);
    loop {
        let event = tokio::select! {
            event = stream.events.recv() => event,
            _ = &mut upstream, if !user_done => {
                user_done = true;
                if agent_done {
                    break;
                }
                continue;
            }
        };
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
            StreamEvent::Reset(errno) => {
                if errno != 0 {
                    // An abortive close, so the user process sees a reset as it would have.
                    let _ = user_tx.as_ref().set_zero_linger();
                }
                break;
            }
        }
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
                Some(StreamEvent::Reset(_)) | None => break,
            },
            () = tokio::time::sleep(UDP_IDLE) => break,
        }
    }
    let _ = stream.send(|stream| Message::StreamReset { stream, errno: 0 }).await;
}

fn libc_econnreset() -> i32 {
    nix::errno::Errno::ECONNRESET as i32
}
