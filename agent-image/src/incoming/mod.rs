//! Incoming traffic: connections that arrive at the target on a subscribed port are mirrored
//! to or stolen for the user process (optionally per HTTP request, by filter).
//!
//! # Layout
//! - [`rules`]: the nftables table that redirects subscribed ports to the agent.
//! - [`guard`]: the child process that removes that table when the agent dies.
//! - [`intercept`]: the interception listeners and what happens to each connection.
//! - [`http`]: per-request routing with hyper when a subscription has a filter.
//! - [`filter`]: the compiled HTTP filter.
//!
//! Subscriptions belong to the daemon connection that made them and end with it.

mod filter;
pub mod guard;
mod http;
mod intercept;
mod rules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
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
use self::rules::Redirect;

/// The incoming side of one agent.
pub struct Incoming {
    net: TargetNet,
    table: String,
    nft: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The write end of the guard's pipe, open while the agent lives; `None` until the first
    /// subscription.
    guard: Option<ChildStdin>,
    ports: BTreeMap<u16, Port>,
}

/// One subscribed port.
struct Port {
    /// The daemon connection that subscribed.
    owner: u64,
    redirect: Redirect,
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
        Incoming { net, table: rules::table_name(std::process::id()), nft: rules::nft_path(), state: Mutex::default() }
    }

    /// Removes the tables of agents that died without their guard cleaning up (a guard killed
    /// too, a machine reboot of a persistent namespace). Failures are logged.
    pub async fn sweep(&self) {
        let mut list = std::process::Command::new(&self.nft);
        list.args(["list", "tables"]);
        let listing = match self.net.run_command(list, Vec::new()).await {
            Ok(output) if output.status.success() => output.stdout,
            Ok(output) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return tracing::warn!(stderr = %stderr.trim(), "cannot list nftables tables; stale incoming rules are not swept");
            }
            Err(err) => {
                return tracing::warn!(%err, nft = %self.nft.display(), "cannot run nft; stale incoming rules are not swept")
            }
        };
        let listing = String::from_utf8_lossy(&listing);
        for table in rules::stale_tables(&listing, &self.table, rules::agent_alive) {
            let mut delete = std::process::Command::new(&self.nft);
            delete.args(["delete", "table", "inet", &table]);
            match self.net.run_command(delete, Vec::new()).await {
                Ok(output) if output.status.success() => {
                    tracing::info!(%table, "removed the incoming rules of a dead agent");
                }
                _ => tracing::warn!(%table, "cannot remove the incoming rules of a dead agent"),
            }
        }
    }

    /// Handles `IncomingSubscribe` from daemon connection `owner`, whose streams carry the
    /// connections to the daemon.
    pub async fn subscribe(
        &self,
        owner: u64,
        streams: Streams,
        port: u16,
        mode: IncomingMode,
        filter: Option<HttpFilter>,
    ) -> Message {
        let filter = match filter.as_ref().map(Filter::compile).transpose() {
            Ok(filter) => filter,
            Err(err) => return Message::failure(libc::EINVAL, format!("invalid http filter: {err}")),
        };
        let mut state = self.state.lock().await;
        if state.ports.contains_key(&port) {
            return Message::failure(libc::EADDRINUSE, format!("port {port} is subscribed already"));
        }
        if state.guard.is_none() {
            match guard::start(&self.net, &self.nft, &self.table).await {
                Ok(pipe) => state.guard = Some(pipe),
                Err(err) => {
                    return Message::failure(libc::EIO, format!("cannot start the guard of the incoming rules: {err}"))
                }
            }
        }
        let subscription = Arc::new(Subscription { port, mode, filter, streams, net: self.net.clone() });
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
        state.ports.insert(port, Port { owner, redirect, listeners });
        if let Err(message) = self.apply(&state).await {
            state.ports.remove(&port);
            return Message::failure(libc::EPERM, message);
        }
        tracing::info!(port, ?mode, filtered = subscription.filter.is_some(), "intercepting incoming connections");
        Message::Done
    }

    /// Handles `IncomingUnsubscribe`.
    pub async fn unsubscribe(&self, port: u16) -> Message {
        let mut state = self.state.lock().await;
        if state.ports.remove(&port).is_none() {
            return Message::Done;
        }
        tracing::info!(port, "no longer intercepting incoming connections");
        match self.apply(&state).await {
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
            if let Err(message) = self.apply(&state).await {
                tracing::warn!(%message, "cannot update the incoming rules");
            }
        }
    }

    /// Replaces the table with the current subscriptions; the error says what `nft` said.
    async fn apply(&self, state: &State) -> Result<(), String> {
        let redirects: Vec<Redirect> = state.ports.values().map(|port| port.redirect).collect();
        let script = rules::script(&self.table, &redirects);
        let mut command = std::process::Command::new(&self.nft);
        command.args(["-f", "-"]);
        match self.net.run_command(command, script.into_bytes()).await {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(format!(
                "nft refused the incoming redirect rules: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(err) => Err(format!(
                "cannot run {} for the incoming redirect rules: {err}; the agent needs nft and CAP_NET_ADMIN",
                self.nft.display()
            )),
        }
    }
}

fn listen_port(listener: std::net::TcpListener) -> std::io::Result<(std::net::TcpListener, u16)> {
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

fn intercept_failure(err: &std::io::Error) -> Message {
    crate::streams::failure("interception listener", err)
}
