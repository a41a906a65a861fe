//! Incoming traffic, daemon side: subscribes the ports that user processes listen on with the
//! session's agent, relays the connections the agent opens to the user process on loopback,
//! and answers who the real client of such a connection is.
//!
//! A subscription is keyed by agent connection and target port. Each agent connection gets
//! one routing task (started with its first subscription) that ends, dropping the
//! connection's subscriptions, when the connection does. A session's subscriptions end with
//! the session. The addresses its processes listen on are kept, so that a session moved to a
//! replacement agent subscribes them there again.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tether_rpc_schema::incoming::{listening_ports, IncomingMode, CAPABILITY, SERVED_ONLY_CAPABILITY};
use tether_rpc_schema::wire::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::agent_link::{AgentLink, AgentStream, IncomingStream, LinkError, StreamEvent};
use crate::relay;
use crate::sessions::Session;

/// How long a mirror copy's connection stays open for the user process's answer after the
/// copy is complete.
const MIRROR_LINGER: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a listen report waits for the replicas that are starting.
const REPLICAS_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Why a listen report did not lead to a subscription.
#[derive(Debug, thiserror::Error)]
pub enum IncomingError {
    /// The session's agent does not handle incoming traffic.
    #[error("the agent does not support incoming traffic; update the agent")]
    Unsupported,
    /// The agent refused the subscription; `message` says why.
    #[error("port {port} is not intercepted: {message}")]
    Refused { port: u16, errno: i32, message: String },
    /// The agent could not be asked.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// No agent serves the session (any more); the text says why.
    #[error("{0}")]
    NoAgent(String),
    /// Nothing in the target listens on the port and the config does not name it.
    #[error(
        "port {port} is not intercepted: nothing in the target listens on it; name it in incoming.ports, \
         or map the target's port to it with incoming.port_mapping"
    )]
    NotServed { port: u16 },
    /// The agent cannot tell whether the target listens on the port.
    #[error("port {port} is not intercepted: the agent cannot tell whether the target listens on it; update the agent, or name the port in incoming.ports")]
    CannotTell { port: u16 },
}

/// One subscribed target port.
struct Subscription {
    session: String,
    /// Who holds the port, as a refusal names it: the session and its program.
    holder: String,
    /// Where the user process listens.
    user_addr: SocketAddr,
    link: AgentLink,
}

/// Every incoming subscription of the daemon.
#[derive(Default)]
pub struct Incoming {
    registry: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    /// By (agent connection, target port).
    subscriptions: HashMap<(usize, u16), Subscription>,
    /// Connections being relayed to user processes, by the daemon side's loopback port: the
    /// session and the real client.
    peers: HashMap<u16, (String, SocketAddr)>,
    /// Where each session's processes listen with a subscription, by session and user port:
    /// the first address reported for the port, and how many listeners have it open.
    listening: HashMap<String, HashMap<u16, (SocketAddr, u32)>>,
    /// The agent connections of each session's other replicas.
    replicas: HashMap<String, Vec<AgentLink>>,
    /// Each session's replica follower, while the session lives.
    followers: HashMap<String, Follower>,
}

/// What the replica follower of a session is told, and tells.
pub struct Follow {
    /// Becomes true with the session's first subscribed listener.
    pub activated: watch::Receiver<bool>,
    /// Set once every ready replica has had its agent asked to subscribe.
    pub settled: watch::Sender<bool>,
}

struct Follower {
    activate: watch::Sender<bool>,
    settled: watch::Receiver<bool>,
    task: Option<AbortHandle>,
}

impl Incoming {
    /// The user process of `session` listens on `addr`: subscribe the target port it stands
    /// for, on the session's agent and its replicas' agents. Returns the target port, or
    /// `None` when the port is not to be subscribed.
    pub async fn listen(&self, session: &Session, addr: SocketAddr) -> Result<Option<u16>, IncomingError> {
        let Some((port, mode)) = wanted(session, addr) else { return Ok(None) };
        {
            // Another listener of the session on the same port (SO_REUSEPORT workers, a dual-stack
            // pair): the subscription is shared, and ends with its last listener.
            let mut registry = self.registry.lock().expect("incoming lock");
            if let Some((_, count)) =
                registry.listening.get_mut(&session.id).and_then(|ports| ports.get_mut(&addr.port()))
            {
                *count += 1;
                return Ok(Some(port));
            }
        }
        let link = session.agent.get().await.map_err(IncomingError::NoAgent)?.link.clone();
        self.subscribe(session, &link, addr, port, mode).await?;
        let replicas = {
            let mut registry = self.registry.lock().expect("incoming lock");
            registry.listening.entry(session.id.clone()).or_default().insert(addr.port(), (addr, 1));
            registry.replicas.get(&session.id).cloned().unwrap_or_default()
        };
        for replica in replicas {
            if let Err(err) = self.subscribe(session, &replica, addr, port, mode).await {
                tracing::warn!(session = %session.id, port, %err, "a replica does not intercept incoming traffic");
            }
        }
        self.activate_replicas(&session.id).await;
        Ok(Some(port))
    }

    /// Subscribes `port` for the user process's `addr` on the agent connection `link`.
    async fn subscribe(
        &self,
        session: &Session,
        link: &AgentLink,
        addr: SocketAddr,
        port: u16,
        mode: IncomingMode,
    ) -> Result<(), IncomingError> {
        if !link.has_capability(CAPABILITY) {
            return Err(IncomingError::Unsupported);
        }
        let incoming = &session.policy.incoming;
        // A port the config does not name is intercepted only where the target serves it: a
        // debugger's port of the user process must never be reachable from the target's clients.
        let served_only = !incoming.named(port);
        if served_only && !link.has_capability(SERVED_ONLY_CAPABILITY) {
            return Err(IncomingError::CannotTell { port });
        }
        self.route(link);
        let key = (link.id(), port);
        let holder = format!("session {} ({} on {})", session.id, session.program, session.target);
        {
            let mut registry = self.registry.lock().expect("incoming lock");
            match registry.subscriptions.get(&key) {
                Some(subscription) if subscription.session == session.id => return Ok(()),
                Some(other) => {
                    let message = format!("{} has it already; end that session or use another port", other.holder);
                    return Err(IncomingError::Refused { port, errno: nix::errno::Errno::EADDRINUSE as i32, message });
                }
                None => {}
            }
            // Registered before the agent intercepts, so no early connection finds it missing.
            let subscription = Subscription {
                session: session.id.clone(),
                holder: holder.clone(),
                user_addr: user_addr(addr),
                link: link.clone(),
            };
            registry.subscriptions.insert(key, subscription);
        }
        let subscribe = Message::IncomingSubscribe {
            port,
            mode,
            filter: incoming.http_filter.clone(),
            served_only,
            http_probes: session.probe_ports.contains(&port),
            holder: Some(format!("{} of {}", holder, crate::peer::user_at_host())),
        };
        let refused = match link.request(subscribe).await {
            Ok(Message::Done) => None,
            Ok(Message::Failure { errno, .. }) if served_only && errno == nix::errno::Errno::ENOENT as i32 => {
                Some(IncomingError::NotServed { port })
            }
            Ok(Message::Failure { errno, message }) => Some(IncomingError::Refused { port, errno, message }),
            Ok(other) => Some(LinkError::Unexpected(format!("{} to a subscription", other.kind())).into()),
            Err(err) => Some(err.into()),
        };
        if let Some(err) = refused {
            self.registry.lock().expect("incoming lock").subscriptions.remove(&key);
            return Err(err);
        }
        tracing::info!(session = %session.id, port, user_port = addr.port(), ?mode, link = link.id(), "subscribed incoming traffic");
        Ok(())
    }

    /// `session` moved to a new agent: subscribe there what its processes listen on.
    pub async fn listen_again(&self, session: &Session) {
        let Ok(agent) = session.agent.get().await else { return };
        for reason in self.subscribe_all(session, &agent.link).await {
            tracing::warn!(session = %session.id, %reason, "incoming traffic not intercepted by the new agent");
        }
    }

    /// Subscribes on `link` every port `session`'s processes listen on; why any was refused.
    async fn subscribe_all(&self, session: &Session, link: &AgentLink) -> Vec<String> {
        let addrs: Vec<SocketAddr> = {
            let registry = self.registry.lock().expect("incoming lock");
            let ports = registry.listening.get(&session.id);
            ports.map(|ports| ports.values().map(|(addr, _)| *addr).collect()).unwrap_or_default()
        };
        let mut refused = Vec::new();
        for addr in addrs {
            let Some((port, mode)) = wanted(session, addr) else { continue };
            if let Err(err) = self.subscribe(session, link, addr, port, mode).await {
                refused.push(err.to_string());
            }
        }
        refused
    }

    /// Registers the replica follower of `session`; `None` when it has one.
    pub fn follow(&self, session: &str) -> Option<Follow> {
        let mut registry = self.registry.lock().expect("incoming lock");
        if registry.followers.contains_key(session) {
            return None;
        }
        let (activate, activated) = watch::channel(false);
        let (settled_tx, settled) = watch::channel(false);
        registry.followers.insert(session.to_string(), Follower { activate, settled, task: None });
        Some(Follow { activated, settled: settled_tx })
    }

    /// The task of `session`'s follower, aborted when the session ends (at once if it has).
    pub fn set_follower(&self, session: &str, task: AbortHandle) {
        match self.registry.lock().expect("incoming lock").followers.get_mut(session) {
            Some(follower) => follower.task = Some(task),
            None => task.abort(),
        }
    }

    /// Starts `session`'s follower if it waits, and waits (a bounded time) until the replicas
    /// it found intercept too, so that a listener is intercepted everywhere once `listen`
    /// returns.
    async fn activate_replicas(&self, session: &str) {
        let settled = {
            let registry = self.registry.lock().expect("incoming lock");
            registry.followers.get(session).map(|follower| {
                follower.activate.send_replace(true);
                follower.settled.clone()
            })
        };
        if let Some(mut settled) = settled {
            if tokio::time::timeout(REPLICAS_WAIT, settled.wait_for(|settled| *settled)).await.is_err() {
                tracing::warn!(session, "replicas still starting; they intercept when they are ready");
            }
        }
    }

    /// A replica of `session` is served by `link`: subscribe there what the session's processes
    /// listen on. Returns why any port was refused.
    pub async fn add_replica(&self, session: &Session, link: AgentLink) -> Vec<String> {
        {
            let mut registry = self.registry.lock().expect("incoming lock");
            if !registry.followers.contains_key(&session.id) {
                return Vec::new();
            }
            let links = registry.replicas.entry(session.id.clone()).or_default();
            if links.iter().any(|known| known.id() == link.id()) {
                return Vec::new();
            }
            links.push(link.clone());
        }
        self.subscribe_all(session, &link).await
    }

    /// The replica of `session` served by agent connection `link_id` is gone.
    pub fn remove_replica(&self, session: &str, link_id: usize) {
        if let Some(links) = self.registry.lock().expect("incoming lock").replicas.get_mut(session) {
            links.retain(|link| link.id() != link_id);
        }
        self.unsubscribe_where(|subscription| subscription.session == session && subscription.link.id() == link_id);
    }

    /// Whether agent connection `link_id` serves a replica of a live session.
    pub fn serves_replica(&self, link_id: usize) -> bool {
        let registry = self.registry.lock().expect("incoming lock");
        registry.replicas.values().flatten().any(|link| link.id() == link_id)
    }

    /// A listener of the user process of `session` on `user_port` was closed; the port's
    /// subscriptions end with its last listener.
    pub fn unlisten(&self, session: &str, user_port: u16) {
        {
            let mut registry = self.registry.lock().expect("incoming lock");
            let Some(ports) = registry.listening.get_mut(session) else { return };
            let Some((_, count)) = ports.get_mut(&user_port) else { return };
            *count -= 1;
            if *count > 0 {
                return;
            }
            ports.remove(&user_port);
        }
        self.unsubscribe_where(|subscription| {
            subscription.session == session && subscription.user_addr.port() == user_port
        });
    }

    /// `session` ended: every port it subscribed is released and its replicas are no longer
    /// followed.
    pub fn end_session(&self, session: &str) {
        {
            let mut registry = self.registry.lock().expect("incoming lock");
            registry.listening.remove(session);
            registry.replicas.remove(session);
            if let Some(task) = registry.followers.remove(session).and_then(|follower| follower.task) {
                task.abort();
            }
        }
        self.unsubscribe_where(|subscription| subscription.session == session);
    }

    /// The real client behind the daemon's loopback port `peer_port`, for `session`.
    pub fn peer(&self, session: &str, peer_port: u16) -> Option<SocketAddr> {
        let registry = self.registry.lock().expect("incoming lock");
        registry.peers.get(&peer_port).filter(|(owner, _)| owner == session).map(|(_, peer)| *peer)
    }

    fn unsubscribe_where(&self, matches: impl Fn(&Subscription) -> bool) {
        let mut registry = self.registry.lock().expect("incoming lock");
        let ports: Vec<(usize, u16)> = registry
            .subscriptions
            .iter()
            .filter(|(_, subscription)| matches(subscription))
            .map(|(key, _)| *key)
            .collect();
        for key in ports {
            let Some(subscription) = registry.subscriptions.remove(&key) else { continue };
            let port = key.1;
            tracing::info!(session = %subscription.session, port, "unsubscribing incoming traffic");
            tokio::spawn(async move {
                if let Err(err) = subscription.link.request(Message::IncomingUnsubscribe { port }).await {
                    tracing::debug!(port, %err, "unsubscribe not delivered; the agent drops it with the connection");
                }
            });
        }
    }

    /// Starts routing the incoming connections of `link`, once per agent connection.
    fn route(&self, link: &AgentLink) {
        let Some(mut incoming_rx) = link.take_incoming() else { return };
        let registry = self.registry.clone();
        let link_id = link.id();
        tokio::spawn(async move {
            while let Some(incoming) = incoming_rx.recv().await {
                let key = (link_id, incoming.port);
                let found = registry
                    .lock()
                    .expect("incoming lock")
                    .subscriptions
                    .get(&key)
                    .map(|s| (s.session.clone(), s.user_addr));
                match found {
                    Some((session, user_addr)) => {
                        tokio::spawn(deliver(registry.clone(), session, user_addr, incoming));
                    }
                    None => refuse(incoming.stream).await,
                }
            }
            registry.lock().expect("incoming lock").subscriptions.retain(|(id, _), _| *id != link_id);
        });
    }
}

/// Whether a TCP socket of this machine (the daemon's network namespace, where user processes
/// run) listens on `port`; true when the tables cannot be read.
pub fn host_listens(port: u16) -> bool {
    let tables = ["/proc/self/net/tcp", "/proc/self/net/tcp6"].map(std::fs::read_to_string);
    tables.iter().all(Result::is_err)
        || tables.iter().flatten().any(|table| listening_ports(table).any(|listening| listening == port))
}

/// The target port and mode for a listener of `session`'s processes on `addr`, if its
/// incoming traffic is wanted.
fn wanted(session: &Session, addr: SocketAddr) -> Option<(u16, IncomingMode)> {
    let incoming = &session.policy.incoming;
    let mode = incoming.mode?;
    if session.debugger_ports.contains(&addr.port()) {
        return None;
    }
    Some((incoming.target_port(addr.port())?, mode))
}

/// Where the daemon connects for a user process listening on `addr`.
fn user_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Connects to the user process and relays one incoming connection to it.
async fn deliver(registry: Arc<Mutex<Registry>>, session: String, user_addr: SocketAddr, incoming: IncomingStream) {
    let IncomingStream { peer, mirror, stream, .. } = incoming;
    // An IPv4-only listener never gets an IPv6 client in the pod either (nor could it be told
    // that client's address): such a client is refused, as the pod would refuse it.
    if user_addr.is_ipv4() && peer.ip().to_canonical().is_ipv6() {
        tracing::info!(%session, %peer, %user_addr, "IPv6 client refused: the user process listens on IPv4 only");
        return refuse(stream).await;
    }
    let connected = async {
        let socket = if user_addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        let loopback =
            if user_addr.is_ipv4() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { IpAddr::V6(Ipv6Addr::LOCALHOST) };
        let bind = if user_addr.ip().is_loopback() { loopback } else { user_addr.ip() };
        socket.bind(SocketAddr::new(bind, 0))?;
        let source_port = socket.local_addr()?.port();
        // Known before the user process can accept, so its `IncomingPeer` finds the client.
        registry.lock().expect("incoming lock").peers.insert(source_port, (session.clone(), peer));
        match socket.connect(user_addr).await {
            Ok(user) => Ok((user, source_port)),
            Err(err) => {
                registry.lock().expect("incoming lock").peers.remove(&source_port);
                Err(err)
            }
        }
    };
    match connected.await {
        Ok((user, source_port)) => {
            let _ = user.set_nodelay(true);
            if mirror {
                relay_mirror(user, stream).await;
            } else {
                relay::relay_tcp(user, stream).await;
            }
            registry.lock().expect("incoming lock").peers.remove(&source_port);
        }
        Err(err) => {
            tracing::debug!(%user_addr, %err, "the user process does not accept incoming connections");
            refuse(stream).await;
        }
    }
}

async fn refuse(stream: AgentStream) {
    let errno = nix::errno::Errno::ECONNREFUSED as i32;
    let _ = stream.send(|stream| Message::StreamReset { stream, errno }).await;
}

/// Relays a mirror copy to the user process; what it answers is read and discarded, so it
/// never blocks on a full socket.
async fn relay_mirror(user: TcpStream, mut stream: AgentStream) {
    relay::reset_on_close(&user);
    let (mut user_rx, mut user_tx) = user.into_split();
    let mut drain = tokio::spawn(async move {
        let mut sink = vec![0u8; 16 * 1024];
        while matches!(user_rx.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    let mut clean = false;
    while let Some(event) = stream.events.recv().await {
        match event {
            StreamEvent::Data(data) => {
                if user_tx.write_all(&data).await.is_err() {
                    let errno = nix::errno::Errno::ECONNRESET as i32;
                    let _ = stream.send(|stream| Message::StreamReset { stream, errno }).await;
                    break;
                }
                let bytes = data.len() as u64;
                let _ = stream.send(|stream| Message::StreamAck { stream, bytes }).await;
            }
            StreamEvent::Eof => {
                let _ = user_tx.shutdown().await;
                relay::close_normally(user_tx.as_ref());
                clean = true;
                // Nothing goes back on a mirror copy: end the agent's side too.
                let _ = stream.send(|stream| Message::StreamEof { stream }).await;
                break;
            }
            StreamEvent::Ack(_) => {}
            StreamEvent::Reset => break,
        }
    }
    if !clean {
        // Reset, or the agent's link is gone: dropping the write half would send a FIN first.
        user_tx.forget();
    }
    // The copy is complete once the user process has read it: give it time to answer, unread.
    if tokio::time::timeout(MIRROR_LINGER, &mut drain).await.is_err() {
        drain.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_addr_turns_wildcards_into_loopback() {
        assert_eq!(user_addr("0.0.0.0:8080".parse().unwrap()), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(user_addr("[::]:8080".parse().unwrap()), "[::1]:8080".parse().unwrap());
        assert_eq!(user_addr("127.0.0.2:80".parse().unwrap()), "127.0.0.2:80".parse().unwrap());
    }
}
