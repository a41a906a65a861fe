//! The session proxy: serves the hook layers of every session on one Unix socket, forwarding
//! their file and DNS requests to the session's agent and relaying their outgoing connections.
//!
//! Until a connection's `Hello` is accepted it may send one frame of at most
//! [`HELLO_FRAME_MAX`] bytes, within [`HELLO_TIMEOUT`]. The number of such connections is not
//! capped: only this user can connect, and every thread of a user process that finds no idle
//! pooled connection opens one, so thousands arrive at once from one busy program.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tether_rpc_schema::api::SessionEventKind;
use tether_rpc_schema::codec::{FrameCodec, LimitedFrameCodec, HELLO_FRAME_MAX};
use tether_rpc_schema::wire::{Envelope, HelloOk, Message, Role};
use tether_rpc_schema::PROTOCOL_VERSION;
use tokio::net::{TcpListener, UdpSocket, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::codec::Framed;

use crate::agent_link::{AgentStream, LinkError};
use crate::incoming::IncomingError;
use crate::parking::Parking;
use crate::relay;
use crate::sessions::{Session, Sessions};

/// How long a new hook-layer connection may take to say `Hello`. The layer sends it right after
/// connecting, but its thread may then wait for a CPU behind thousands of others of a busy
/// program; only this user can connect, so the limit can be generous.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// What a layer connection's read and write buffers start with: most frames are small, and a
/// busy program holds a connection per thread. They grow for bigger frames.
const LAYER_BUFFER: usize = 1024;

/// How long a prepared outgoing connection waits for the user process to connect.
const PENDING_TTL: Duration = Duration::from_secs(30);

/// Loopback listeners that user sockets connect to in place of their real destination, once
/// their target side is connected; non-blocking sockets wait in [`Parking`] instead.
pub struct TcpProxy {
    v4: SocketAddr,
    v6: Option<SocketAddr>,
    /// Agent streams waiting for the user socket bound to this local port.
    pending: Mutex<HashMap<u16, (AgentStream, Instant)>>,
    parking: Arc<Parking>,
}

impl TcpProxy {
    /// Binds the loopback listeners and starts accepting.
    pub async fn start(shutdown_rx: watch::Receiver<bool>) -> std::io::Result<Arc<TcpProxy>> {
        let v4_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let v6_listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).await.ok();
        let proxy = Arc::new(TcpProxy {
            v4: v4_listener.local_addr()?,
            v6: v6_listener.as_ref().and_then(|listener| listener.local_addr().ok()),
            pending: Mutex::default(),
            parking: Arc::new(Parking::start().await?),
        });
        tokio::spawn(proxy.clone().accept(v4_listener, shutdown_rx.clone()));
        if let Some(listener) = v6_listener {
            tokio::spawn(proxy.clone().accept(listener, shutdown_rx));
        }
        Ok(proxy)
    }

    fn expect(&self, local_port: u16, upstream: AgentStream) {
        let mut pending = self.pending.lock().expect("pending lock");
        pending.retain(|_, (_, since)| since.elapsed() < PENDING_TTL);
        pending.insert(local_port, (upstream, Instant::now()));
    }

    fn address_for(&self, destination: &SocketAddr) -> SocketAddr {
        match (destination, self.v6) {
            (SocketAddr::V6(_), Some(v6)) => v6,
            _ => self.v4,
        }
    }

    async fn accept(self: Arc<Self>, listener: TcpListener, mut shutdown_rx: watch::Receiver<bool>) {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown_rx.changed() => return,
            };
            let Ok((user, peer)) = accepted else { continue };
            if !peer.ip().is_loopback() {
                continue;
            }
            // From now on the user's connection ends with a reset unless its relay ends cleanly.
            relay::reset_on_close(&user);
            let upstream = self.pending.lock().expect("pending lock").remove(&peer.port());
            match upstream {
                Some((stream, _)) => {
                    tokio::spawn(relay::relay_tcp(user, stream));
                }
                None => tracing::warn!(%peer, "refusing a loopback connection that no hook layer announced"),
            }
        }
    }
}

/// Accepts hook-layer connections until shutdown.
pub async fn serve(
    listener: UnixListener,
    sessions: Arc<Sessions>,
    tcp_proxy: Arc<TcpProxy>,
    mut shutdown_rx: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown_rx.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        if !crate::peer::same_user(&stream) {
            tracing::warn!("refusing a hook layer of another user");
            continue;
        }
        tokio::spawn(serve_layer(stream, sessions.clone(), tcp_proxy.clone()));
    }
}

pub async fn serve_layer(stream: UnixStream, sessions: Arc<Sessions>, tcp_proxy: Arc<TcpProxy>) {
    let mut unauthenticated = Framed::with_capacity(stream, LimitedFrameCodec::new(HELLO_FRAME_MAX), LAYER_BUFFER);
    let first = match tokio::time::timeout(HELLO_TIMEOUT, unauthenticated.next()).await {
        Ok(Some(Ok(first))) => first,
        Ok(Some(Err(err))) => return tracing::debug!(%err, "unreadable hello from a hook layer; closing"),
        Ok(None) => return,
        Err(_) => return tracing::debug!("no hello from a hook layer within {HELLO_TIMEOUT:?}; closing"),
    };
    let session = match first.message {
        Message::Hello(hello) if hello.role == Role::Layer => {
            let refusal = if hello.protocol_version != PROTOCOL_VERSION {
                Some(format!(
                    "hook layer speaks protocol {} but the daemon speaks {PROTOCOL_VERSION}; restart the process so it loads the current layer",
                    hello.protocol_version
                ))
            } else {
                None
            };
            match (refusal, sessions.by_token(&hello.token)) {
                (None, Some(session)) => {
                    tracing::debug!(session = %session.id, pid = hello.pid, "hook layer connected");
                    session
                }
                (refusal, _) => {
                    let reason = refusal.unwrap_or_else(|| "unknown or ended session".to_string());
                    let refused = Envelope { id: first.id, message: Message::HelloRefused { reason } };
                    let _ = unauthenticated.send(refused).await;
                    return;
                }
            }
        }
        _ => return,
    };
    let mut framed = unauthenticated.map_codec(|_| FrameCodec);
    let capabilities = vec![tether_rpc_schema::incoming::CAPABILITY.to_string()];
    let hello_ok = HelloOk {
        protocol_version: PROTOCOL_VERSION,
        capabilities,
        policy: Some(Box::new(session.current_policy())),
        park: tcp_proxy.parking.addresses(),
    };
    if framed.send(Envelope { id: first.id, message: Message::HelloOk(hello_ok) }).await.is_err() {
        return;
    }
    let mut udp_relays = JoinSet::new();
    while let Some(Ok(envelope)) = framed.next().await {
        let response = match envelope.message {
            Message::Bye => break,
            Message::Ping => Message::Pong,
            Message::OutgoingTcp { addr, local_port, park } => {
                outgoing_tcp(&session, &tcp_proxy, addr, local_port, park).await
            }
            Message::OutgoingOutcome { local_port } => tcp_proxy.parking.outcome(&session.id, local_port),
            Message::OutgoingUdp { addr, local_port } => {
                outgoing_udp(&session, &mut udp_relays, addr, local_port).await
            }
            Message::IncomingListen { addr } => incoming_listen(&sessions, &session, addr).await,
            Message::IncomingUnlisten { port } => {
                sessions.incoming.unlisten(&session.id, port);
                Message::Done
            }
            Message::IncomingPeer { peer_port } => match sessions.incoming.peer(&session.id, peer_port) {
                Some(addr) => Message::IncomingPeerAddr { addr },
                None => Message::failure(nix::errno::Errno::ENOENT as i32, "not an incoming connection"),
            },
            request @ (Message::FileRead { .. }
            | Message::FileStat { .. }
            | Message::FileAccess { .. }
            | Message::FileReadlink { .. }
            | Message::FileRealpath { .. }
            | Message::FileReadDir { .. }
            | Message::FileWrite { .. }
            | Message::FileUnlink { .. }
            | Message::FileMkdir { .. }
            | Message::FileRmdir { .. }
            | Message::FileRename { .. }
            | Message::DnsLookup { .. }) => match session.agent.get().await {
                Ok(agent) => agent.link.request(request).await.unwrap_or_else(link_failure),
                Err(reason) => no_agent(reason),
            },
            other => {
                Message::failure(nix::errno::Errno::ENOSYS as i32, format!("not a layer request: {}", other.kind()))
            }
        };
        if framed.send(Envelope { id: envelope.id, message: response }).await.is_err() {
            break;
        }
    }
    udp_relays.abort_all();
}

/// Opens the target's side of an outgoing connection. A socket waiting in the park is answered
/// at once and followed there; any other waits for the outcome and is then expected at the TCP
/// proxy.
async fn outgoing_tcp(
    session: &Arc<Session>,
    tcp_proxy: &TcpProxy,
    addr: SocketAddr,
    local_port: u16,
    park: Option<SocketAddr>,
) -> Message {
    if let Some(park) = park {
        let connecting = tcp_connect(session.clone(), addr);
        return tcp_proxy.parking.park(&session.id, local_port, park, connecting).await;
    }
    match tcp_connect(session.clone(), addr).await {
        Ok(stream) => {
            let local = stream.local;
            tcp_proxy.expect(local_port, stream);
            Message::OutgoingReady { proxy_addr: tcp_proxy.address_for(&addr), local }
        }
        Err(failure) => failure,
    }
}

/// The target's side of an outgoing TCP connection to `addr`, or the failure the user sees.
async fn tcp_connect(session: Arc<Session>, addr: SocketAddr) -> Result<AgentStream, Message> {
    let agent = session.agent.get().await.map_err(no_agent)?;
    agent.link.open_stream(|stream| Message::TcpConnect { stream, addr }).await.map_err(|err| match err {
        Ok(failure) => failure,
        Err(err) => link_failure(err),
    })
}

async fn outgoing_udp(session: &Session, relays: &mut JoinSet<()>, addr: SocketAddr, local_port: u16) -> Message {
    let loopback = match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    let relay_socket = match UdpSocket::bind((loopback, 0)).await {
        Ok(socket) => socket,
        Err(err) => {
            return Message::failure(err.raw_os_error().unwrap_or(nix::errno::Errno::EIO as i32), err.to_string())
        }
    };
    let proxy_addr = match relay_socket.local_addr() {
        Ok(proxy_addr) => proxy_addr,
        Err(err) => return Message::failure(nix::errno::Errno::EIO as i32, err.to_string()),
    };
    let agent = match session.agent.get().await {
        Ok(agent) => agent,
        Err(reason) => return no_agent(reason),
    };
    match agent.link.open_stream(|stream| Message::UdpConnect { stream, addr }).await {
        Ok(stream) => {
            let local = stream.local;
            relays.spawn(relay::relay_udp(relay_socket, SocketAddr::new(loopback, local_port), stream));
            Message::OutgoingReady { proxy_addr, local }
        }
        Err(Ok(failure)) => failure,
        Err(Err(err)) => link_failure(err),
    }
}

/// How long a listener that is not intercepted must stay open before the user is told.
const BRIEF_LISTENER: Duration = Duration::from_secs(1);

/// A listen report: subscribes the port; a failure is logged and answered, but the layer
/// never fails the user's `listen` over it.
async fn incoming_listen(sessions: &Sessions, session: &Session, addr: SocketAddr) -> Message {
    match sessions.incoming.listen(session, addr).await {
        Ok(_) => Message::Done,
        Err(err @ IncomingError::NotServed { .. }) => {
            tracing::info!(session = %session.id, %addr, %err, "incoming traffic not intercepted");
            // A loopback-only listener is a tool's (an inspector's) more often than a service's,
            // and one that closes at once a probe for a free port (js-debug's): only the log
            // says that those are left alone.
            if !addr.ip().is_loopback() {
                let (events, event) =
                    (sessions.events.clone(), session.event(SessionEventKind::Warning, err.to_string()));
                tokio::spawn(async move {
                    tokio::time::sleep(BRIEF_LISTENER).await;
                    if tokio::task::spawn_blocking(move || crate::incoming::host_listens(addr.port()))
                        .await
                        .unwrap_or(true)
                    {
                        let _ = events.send(event);
                    }
                });
            }
            Message::failure(nix::errno::Errno::ENOENT as i32, err.to_string())
        }
        Err(err) => {
            tracing::warn!(session = %session.id, %addr, %err, "incoming traffic not intercepted");
            sessions.emit(session.event(SessionEventKind::Warning, format!("listening on {addr}: {err}")));
            let errno = match &err {
                IncomingError::Refused { errno, .. } => *errno,
                _ => nix::errno::Errno::EIO as i32,
            };
            Message::failure(errno, err.to_string())
        }
    }
}

/// What the user process sees when the agent connection fails.
fn link_failure(err: LinkError) -> Message {
    let errno = match err {
        LinkError::Timeout => nix::errno::Errno::ETIMEDOUT,
        _ => nix::errno::Errno::EIO,
    };
    Message::failure(errno as i32, err.to_string())
}

/// What the user process sees when no agent serves its session (any more).
fn no_agent(reason: String) -> Message {
    Message::failure(nix::errno::Errno::EIO as i32, reason)
}
