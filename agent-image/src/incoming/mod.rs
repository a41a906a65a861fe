//! Incoming traffic: connections that arrive at the target on a subscribed port are mirrored
//! to or stolen for the user process (optionally per HTTP request, by filter).
//!
//! # Layout
//! - [`rules`]: the nftables table that redirects subscribed ports to the agent.
//! - [`nftables`]: writes that table to the kernel over netlink (no `nft` binary).
//! - [`guard`]: the child process that removes that table when the agent dies.
//! - [`intercept`]: the interception listeners and what happens to each connection.
//! - [`http`]: per-request routing with hyper, with a filter and for the node's connections
//!   on a port with probes.
//! - [`filter`]: the compiled HTTP filter.
//! - [`probes`]: the node's addresses and the kubelet's probe requests, which keep reaching
//!   the target's server on a port with HTTP or gRPC probes.
//! - [`listening`]: whether the target listens on a port.
//!
//! Subscriptions belong to the daemon connection that made them and end with it.

mod filter;
pub mod guard;
mod http;
mod intercept;
mod listening;
pub mod nftables;
mod probes;
pub mod rules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ChildStdin;
use std::sync::Arc;

use tether_rpc_schema::incoming::{HttpFilter, IncomingMode};
use tether_rpc_schema::wire::Message;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::netns::TargetNet;
use crate::streams::Streams;

use self::filter::Filter;
use self::intercept::Subscription;
use self::nftables::{NftError, Nftables};
use self::rules::{Claim, Claims, Redirect};

/// What an `IncomingSubscribe` asks for.
pub struct Wanted {
    pub port: u16,
    pub mode: IncomingMode,
    pub filter: Option<HttpFilter>,
    /// Only if a socket of the target's network listens on `port`.
    pub served_only: bool,
    /// The pod has HTTP or gRPC probes on `port`: the kubelet's stay the target's.
    pub http_probes: bool,
    /// Who subscribes, in words, for other agents' refusals.
    pub holder: Option<String>,
}

/// The incoming side of one agent.
pub struct Incoming {
    net: TargetNet,
    table: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The write end of the guard's pipe, open while the agent lives; `None` until the first
    /// subscription.
    guard: Option<ChildStdin>,
    /// The table's rank among the agents of the target ([`rules`]), while it exists.
    rank: Option<u8>,
    ports: BTreeMap<u16, Port>,
}

/// One subscribed port.
struct Port {
    /// The daemon connection that subscribed.
    owner: u64,
    redirect: Redirect,
    claim: Claim,
    /// The accept loops of the interception listeners.
    listeners: Vec<JoinHandle<()>>,
}

impl Drop for Port {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
    }
}

impl Incoming {
    pub fn new(net: TargetNet) -> Incoming {
        Incoming { net, table: rules::table_name(std::process::id()), state: Mutex::default() }
    }

    /// Removes the tables of agents that died without their guard cleaning up (a guard killed
    /// too, a machine reboot of a persistent namespace). Failures are logged.
    pub async fn sweep(&self) {
        let own = self.table.clone();
        let swept = self
            .nftables(move |nftables| {
                let names: Vec<String> = nftables.list_tables()?.into_iter().map(|table| table.name).collect();
                let stale = rules::stale_tables(&names, &own, rules::agent_alive);
                Ok(stale.into_iter().map(|table| (nftables.delete_table(&table), table)).collect::<Vec<_>>())
            })
            .await;
        let swept = match swept {
            Ok(swept) => swept,
            Err(err) => {
                return tracing::warn!(%err, "cannot list the nftables tables; stale incoming rules are not swept")
            }
        };
        for (deleted, table) in swept {
            match deleted {
                Ok(true) => tracing::info!(%table, "removed the incoming rules of a dead agent"),
                // Another agent swept it first.
                Ok(false) => {}
                Err(err) => tracing::warn!(%table, %err, "cannot remove the incoming rules of a dead agent"),
            }
        }
    }

    /// Handles `IncomingSubscribe` from daemon connection `owner`, whose streams carry the
    /// connections to the daemon.
    pub async fn subscribe(&self, owner: u64, streams: Streams, wanted: Wanted) -> Message {
        let Wanted { port, mode, filter, served_only, http_probes, holder } = wanted;
        let filter = match filter.as_ref().map(Filter::compile).transpose() {
            Ok(filter) => filter,
            Err(err) => return Message::failure(libc::EINVAL, format!("invalid http filter: {err}")),
        };
        let mut state = self.state.lock().await;
        if state.ports.contains_key(&port) {
            return Message::failure(libc::EADDRINUSE, format!("port {port} is subscribed already"));
        }
        if served_only {
            let own: Vec<u16> = state
                .ports
                .values()
                .flat_map(|port| [Some(port.redirect.to_v4), port.redirect.to_v6])
                .flatten()
                .collect();
            match self.net.create(move || listening::listens(port, &own)).await {
                Ok(true) => {}
                Ok(false) => {
                    return Message::failure(libc::ENOENT, format!("nothing in the target listens on port {port}"))
                }
                Err(err) => return crate::streams::failure("the target's socket table", &err),
            }
        }
        let others = match self.other_claims().await {
            Ok(others) => others,
            Err(err) => {
                return Message::failure(libc::EIO, format!("cannot read the other agents' incoming rules: {err}"))
            }
        };
        if let Some(taken) =
            others.iter().flat_map(|claims| &claims.ports).find(|claim| claim.port == port && claim.takes_all())
        {
            let message = format!(
                "port {port} is stolen whole by another developer's agent, for {}; ask them to end it or to steal with an http_filter, or use another port",
                taken.holder
            );
            return Message::failure(libc::EADDRINUSE, message);
        }
        let rank = match state.rank {
            Some(rank) => rank,
            None => match others.iter().map(|claims| claims.rank).max().map_or(Some(0), |rank| rank.checked_add(1)) {
                Some(rank) if rank <= rules::MAX_RANK => rank,
                _ => {
                    let message = format!("{} agents intercept this target already", rules::MAX_RANK + 1);
                    return Message::failure(libc::EUSERS, message);
                }
            },
        };
        if state.guard.is_none() {
            match guard::start(&self.net, &self.table).await {
                Ok(pipe) => state.guard = Some(pipe),
                Err(err) => {
                    return Message::failure(libc::EIO, format!("cannot start the guard of the incoming rules: {err}"))
                }
            }
        }
        let node = if http_probes { Some(self.node(port).await) } else { None };
        let claim = Claim {
            port,
            mode,
            filtered: filter.is_some(),
            holder: holder.unwrap_or_else(|| "a session of an older daemon".to_string()),
        };
        let mark = rules::mark(rank);
        let subscription = Arc::new(Subscription { port, mode, filter, node, streams, net: self.net.clone(), mark });
        let v4 = self.net.tcp_listen(SocketAddr::from(([0u8; 4], 0))).await;
        let v6 = self.net.tcp_listen(SocketAddr::from(([0u16; 8], 0))).await;
        let v4 = match v4.and_then(listen_port) {
            Ok(v4) => v4,
            Err(err) => return intercept_failure(&err),
        };
        let v6 = v6.and_then(listen_port).ok();
        let redirect = Redirect { port, to_v4: v4.1, to_v6: v6.as_ref().map(|(_, port)| *port) };
        let listeners = [Some(v4.0), v6.map(|(listener, _)| listener)]
            .into_iter()
            .flatten()
            .filter_map(|listener| tokio::net::TcpListener::from_std(listener).ok())
            .map(|listener| tokio::spawn(intercept::accept(listener, subscription.clone())))
            .collect();
        state.ports.insert(port, Port { owner, redirect, claim, listeners });
        state.rank = Some(rank);
        if let Err(message) = self.apply(&mut state).await {
            state.ports.remove(&port);
            if state.ports.is_empty() {
                state.rank = None;
            }
            return Message::failure(libc::EPERM, message);
        }
        tracing::info!(
            port,
            ?mode,
            rank,
            filtered = subscription.filter.is_some(),
            kubelet_probes_from = ?subscription.node.as_ref().map(probes::Node::addresses),
            "intercepting incoming connections"
        );
        Message::Done
    }

    /// Handles `IncomingUnsubscribe`.
    pub async fn unsubscribe(&self, port: u16) -> Message {
        let mut state = self.state.lock().await;
        if state.ports.remove(&port).is_none() {
            return Message::Done;
        }
        tracing::info!(port, "no longer intercepting incoming connections");
        match self.apply(&mut state).await {
            Ok(()) => Message::Done,
            Err(message) => Message::failure(libc::EIO, message),
        }
    }

    /// Ends every subscription of daemon connection `owner` (it closed).
    pub async fn release(&self, owner: u64) {
        let mut state = self.state.lock().await;
        let before = state.ports.len();
        state.ports.retain(|_, port| port.owner != owner);
        if state.ports.len() != before {
            tracing::info!(
                ports = before - state.ports.len(),
                "daemon connection gone; its incoming subscriptions ended"
            );
            if let Err(message) = self.apply(&mut state).await {
                tracing::warn!(%message, "cannot update the incoming rules");
            }
        }
    }

    /// The node's addresses, read once per subscription of a port with probes. Without them
    /// the port is still intercepted: the kubelet's probes are then handled like any client's.
    async fn node(&self, port: u16) -> probes::Node {
        self.net.create(probes::node).await.unwrap_or_else(|err| {
            tracing::warn!(port, %err, "cannot read the node's addresses; kubelet probes on this port may reach the user process");
            probes::Node::default()
        })
    }

    /// Replaces the table with the current subscriptions (none: removes it, and its rank with
    /// it); the error says what the kernel said.
    async fn apply(&self, state: &mut State) -> Result<(), String> {
        if state.ports.is_empty() {
            state.rank = None;
        }
        let redirects: Vec<Redirect> = state.ports.values().map(|port| port.redirect).collect();
        let rank = state.rank.unwrap_or(0);
        let claims = Claims { rank, ports: state.ports.values().map(|port| port.claim.clone()).collect() };
        let (table, userdata) = (self.table.clone(), claims.encode());
        self.nftables(move |nftables| nftables.replace(&table, rank, &redirects, &userdata))
            .await
            .map_err(|err| format!("cannot set the incoming redirect rules: {err}"))
    }

    /// What the tables of the other live agents of the target's network hold.
    async fn other_claims(&self) -> Result<Vec<Claims>, NftError> {
        let own = self.table.clone();
        let tables = self.nftables(|nftables| nftables.list_tables()).await?;
        Ok(tables
            .into_iter()
            .filter(|table| table.name != own)
            .filter(|table| {
                table
                    .name
                    .strip_prefix(rules::TABLE_PREFIX)
                    .and_then(|pid| pid.parse().ok())
                    .is_some_and(rules::agent_alive)
            })
            .filter_map(|table| Claims::decode(&table.userdata))
            .collect())
    }

    /// Runs `work` on a blocking thread with nf_tables of the target's network namespace.
    async fn nftables<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Nftables) -> Result<T, NftError> + Send + 'static,
    ) -> Result<T, NftError> {
        let socket = self.net.create(nftables::open_socket).await.map_err(NftError::socket)?;
        let done = tokio::task::spawn_blocking(move || work(&mut Nftables::new(socket)?)).await;
        done.map_err(|err| NftError::Io(std::io::Error::other(format!("nftables task failed: {err}"))))?
    }
}

fn listen_port(listener: std::net::TcpListener) -> std::io::Result<(std::net::TcpListener, u16)> {
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

fn intercept_failure(err: &std::io::Error) -> Message {
    crate::streams::failure("interception listener", err)
}
