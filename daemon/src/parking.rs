//! Where a user process's non-blocking socket waits while its target side connects, so that it
//! sees the target's outcome the usual way (writable, then `SO_ERROR`) and never blocks.
//!
//! A park is a loopback listener whose accept queue is full (two connections of the daemon's
//! own that it never accepts), so the kernel drops the SYNs of sockets connecting to it: they
//! stay connecting, neither readable nor writable, as towards a slow destination. The layer
//! connects the user's socket to the park before it sends `OutgoingTcp { park }`. When
//! the target's side is connected, the daemon connects to the user's socket from the park's own
//! address (`SO_REUSEPORT`): the kernel takes that SYN for a simultaneous open, and both ends
//! are established at once. When it fails, the daemon does the same and resets the connection,
//! and the layer asks the outcome (`OutgoingOutcome`) to report the target's errno instead of
//! the reset.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tether_rpc_schema::wire::Message;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;

use crate::agent_link::AgentStream;
use crate::relay;

/// How long a parked socket's entry is kept: from parking until settled, and from then until
/// the layer asks.
const OUTCOME_TTL: Duration = Duration::from_secs(60);

/// How long `OutgoingTcp` waits for the target's side before it answers that the socket is
/// parked: a connection made or refused within it is told at once, which spares the program a
/// wakeup and the layer a round trip; a thread waits no longer than this.
const QUICK: Duration = Duration::from_millis(5);

/// How long the simultaneous open may take: both ends are on this machine's loopback.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// A full listener: it drops every SYN that reaches it.
struct Park {
    addr: SocketAddr,
    _listener: TcpListener,
    _queued: [TcpStream; 2],
}

impl Park {
    async fn bind(ip: IpAddr) -> std::io::Result<Park> {
        let socket = if ip.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseport(true)?;
        socket.bind(SocketAddr::new(ip, 0))?;
        // The queue is full when it holds more than the backlog.
        let listener = socket.listen(1)?;
        let addr = listener.local_addr()?;
        let _queued = [TcpStream::connect(addr).await?, TcpStream::connect(addr).await?];
        Ok(Park { addr, _listener: listener, _queued })
    }
}

/// What became of a parked connection's target side.
enum Outcome {
    Connecting,
    /// With the connection's own address in the target's network, when the agent said it.
    Connected(Option<SocketAddr>),
    /// The target's `Failure`, as the layer reports it.
    Failed(Message),
}

struct Parked {
    /// Which park of this port it is: the port may be another socket's by the time an earlier
    /// socket's target side settles.
    ticket: u64,
    session: String,
    outcome: Outcome,
    since: Instant,
}

pub struct Parking {
    v4: Park,
    v6: Option<Park>,
    /// By the local port of the user's socket.
    parked: Mutex<HashMap<u16, Parked>>,
    tickets: AtomicU64,
}

impl Parking {
    pub async fn start() -> std::io::Result<Parking> {
        Ok(Parking {
            v4: Park::bind(IpAddr::V4(Ipv4Addr::LOCALHOST)).await?,
            v6: Park::bind(IpAddr::V6(Ipv6Addr::LOCALHOST)).await.ok(),
            parked: Mutex::default(),
            tickets: AtomicU64::new(0),
        })
    }

    /// The parks' addresses, for the layers' `HelloOk`.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        std::iter::once(self.v4.addr).chain(self.v6.as_ref().map(|park| park.addr)).collect()
    }

    /// Follows the socket bound to `local_port`, connecting to `park`, until `connecting` (the
    /// target's side) settles; then connects or resets it. An outcome within [`QUICK`] is the
    /// answer (`OutgoingConnected` once joined, or the failure for the layer to report from
    /// `connect`); after that the answer is `Done`, and the layer asks later.
    pub async fn park(
        self: &Arc<Self>,
        session: &str,
        local_port: u16,
        park: SocketAddr,
        connecting: impl Future<Output = Result<AgentStream, Message>> + Send + 'static,
    ) -> Message {
        if !self.addresses().contains(&park) {
            return Message::failure(nix::errno::Errno::EINVAL as i32, format!("{park} is not a park of this daemon"));
        }
        let loopback: IpAddr = if park.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() };
        let user = SocketAddr::new(loopback, local_port);
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let (quick_tx, mut quick_rx) = oneshot::channel();
        let parking = self.clone();
        tokio::spawn(async move {
            let Err(opened) = quick_tx.send(connecting.await) else { return };
            let outcome = match &opened {
                Ok(stream) => Outcome::Connected(stream.local),
                Err(failure) => Outcome::Failed(failure.clone()),
            };
            if !parking.settle(local_port, ticket, outcome) {
                return tracing::debug!(local_port, "a parked socket's port was parked again meanwhile");
            }
            let Some(joined) = join(park, user).await else { return };
            match opened {
                Ok(stream) => relay::relay_tcp(joined, stream).await,
                Err(_) => relay::reset(joined),
            }
        });
        let opened = match tokio::time::timeout(QUICK, &mut quick_rx).await {
            Ok(opened) => opened,
            Err(_) => {
                // Recorded before the task can find the answer closed, so that it finds this.
                let entry = Parked {
                    ticket,
                    session: session.to_string(),
                    outcome: Outcome::Connecting,
                    since: Instant::now(),
                };
                self.parked.lock().expect("parking lock").insert(local_port, entry);
                quick_rx.close();
                match quick_rx.try_recv() {
                    Ok(opened) => {
                        self.parked.lock().expect("parking lock").remove(&local_port);
                        Ok(opened)
                    }
                    Err(_) => return Message::Done,
                }
            }
        };
        match opened {
            Ok(Ok(stream)) => match join(park, user).await {
                Some(joined) => {
                    let local = stream.local;
                    tokio::spawn(relay::relay_tcp(joined, stream));
                    Message::OutgoingConnected { local }
                }
                None => Message::failure(nix::errno::Errno::ECONNABORTED as i32, "the parked socket did not answer"),
            },
            Ok(Err(failure)) => failure,
            Err(_) => {
                Message::failure(nix::errno::Errno::EIO as i32, "the connection attempt ended without an outcome")
            }
        }
    }

    /// The answer to `OutgoingOutcome`: a settled outcome is told once.
    pub fn outcome(&self, session: &str, local_port: u16) -> Message {
        let mut parked = self.parked.lock().expect("parking lock");
        let entry = match parked.entry(local_port) {
            Entry::Occupied(entry) if entry.get().session == session => entry,
            _ => return Message::failure(nix::errno::Errno::ENOENT as i32, "no parked connection on this port"),
        };
        match &entry.get().outcome {
            Outcome::Connecting => Message::failure(nix::errno::Errno::EINPROGRESS as i32, "still connecting"),
            Outcome::Connected(local) => {
                let local = *local;
                entry.remove();
                Message::OutgoingConnected { local }
            }
            Outcome::Failed(failure) => {
                let failure = failure.clone();
                entry.remove();
                failure
            }
        }
    }

    /// Records the outcome of park `ticket`; false when its port was parked again meanwhile.
    fn settle(&self, local_port: u16, ticket: u64, outcome: Outcome) -> bool {
        let mut parked = self.parked.lock().expect("parking lock");
        // A target side connects within the agent's 10 s, so anything this old is forgotten.
        parked.retain(|_, entry| entry.since.elapsed() < OUTCOME_TTL);
        match parked.get_mut(&local_port) {
            Some(entry) if entry.ticket == ticket => {
                entry.outcome = outcome;
                entry.since = Instant::now();
                true
            }
            _ => false,
        }
    }
}

/// The parked socket `user`, joined from `park`; `None` (logged) when it is gone.
async fn join(park: SocketAddr, user: SocketAddr) -> Option<TcpStream> {
    match tokio::time::timeout(OPEN_TIMEOUT, open_towards(park, user)).await {
        Ok(Ok(joined)) => Some(joined),
        Ok(Err(err)) => {
            tracing::debug!(%user, %err, "the parked socket is gone");
            None
        }
        Err(_) => {
            tracing::debug!(%user, "the parked socket did not answer");
            None
        }
    }
}

/// Connects from the park's address to the parked socket `user`: a simultaneous open.
async fn open_towards(park: SocketAddr, user: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if park.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseport(true)?;
    socket.bind(park)?;
    let stream = socket.connect(user).await?;
    relay::reset_on_close(&stream);
    Ok(stream)
}
