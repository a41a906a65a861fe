//! `tether daemon`: takes the per-user lock, binds the API and proxy sockets (0600 in the 0700
//! runtime directory) and serves until asked to stop.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::agents::AgentPool;
use crate::paths::{self, UserPaths};
use crate::proxy::{self, TcpProxy};
use crate::sessions::Sessions;
use crate::state::Daemon;

/// How long a stopping daemon waits for API calls in flight.
const API_DRAIN: Duration = Duration::from_secs(2);
/// How often idle agents and target caches are looked for.
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// How long a stopping daemon waits for its agent pods to be deleted.
const AGENT_POD_DELETION: Duration = Duration::from_secs(5);

/// Runs the daemon until `daemon.shutdown` or SIGTERM/SIGINT.
pub async fn run(paths: UserPaths) -> anyhow::Result<()> {
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock_file())
        .with_context(|| format!("opening {}", paths.lock_file().display()))?;
    let _lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err(_) => {
            bail!("another tether daemon is already running for this user (lock {})", paths.lock_file().display())
        }
    };
    raise_open_files_limit();
    let api_listener = bind_private(&paths.api_socket())?;
    let proxy_listener = bind_private(&paths.proxy_socket())?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (ended_tx, ended_rx) = tokio::sync::mpsc::unbounded_channel();
    let clusters = Arc::new(crate::clusters::Clusters::default());
    let daemon = Arc::new(Daemon {
        agents: AgentPool::new(
            paths::companion("tether-agent", "TETHER_AGENT_PATH")?,
            paths.log_dir.join("agent.log"),
            paths.agent_records(),
            clusters.clone(),
            ended_tx,
        ),
        layer_path: paths::companion("libtether_layer.so", "TETHER_LAYER_PATH")?,
        sessions: Arc::new(Sessions::default()),
        tcp_proxy: TcpProxy::start(shutdown_rx.clone()).await.context("binding the loopback proxy")?,
        paths,
        started: Instant::now(),
        shutdown_tx,
        targets: crate::target_cache::TargetCaches::default(),
        clusters,
        kubeconfig_changed_tx: tokio::sync::broadcast::channel(16).0,
        watch: std::sync::OnceLock::new(),
    });
    match crate::watcher::start(daemon.clone(), shutdown_rx.clone()) {
        Ok(handle) => {
            let _ = daemon.watch.set(handle);
        }
        Err(err) => tracing::warn!(%err, "config files are not watched; edits need a new session"),
    }
    tokio::spawn(crate::lifecycle::run(daemon.clone(), ended_rx));
    let cleaner = daemon.clone();
    tokio::spawn(async move { cleaner.agents.clean_up_leftovers().await });
    let reaper = daemon.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(IDLE_CHECK).await;
            reaper.targets.reap(crate::target_cache::IDLE_TTL);
            let sessions = reaper.sessions.list();
            let in_use = |agent: &crate::agents::Agent| {
                sessions.iter().any(|session| session.agent.current().is_some_and(|current| current.id == agent.id))
                    || reaper.sessions.incoming.serves_replica(agent.link.id())
            };
            reaper.agents.stop_idle(in_use).await;
        }
    });
    tokio::spawn(proxy::serve(proxy_listener, daemon.sessions.clone(), daemon.tcp_proxy.clone(), shutdown_rx.clone()));
    let api = tokio::spawn(serve_api(api_listener, daemon.clone(), shutdown_rx.clone()));
    if let Some((listener, token)) = crate::websocket::bind(&daemon).await? {
        tracing::info!(addr = %listener.local_addr()?, "api offered over websocket on loopback");
        tokio::spawn(crate::websocket::serve(listener, token, daemon.clone(), shutdown_rx.clone()));
    }
    tracing::info!(pid = std::process::id(), runtime_dir = %daemon.paths.runtime_dir.display(), "daemon started");
    wait_for_stop(shutdown_rx).await;
    // Calls in flight, `daemon.shutdown` among them, get their answers before the process ends.
    if tokio::time::timeout(API_DRAIN, api).await.is_err() {
        tracing::warn!("api calls still running after {}s; stopping anyway", API_DRAIN.as_secs());
    }
    daemon.agents.stop_all(AGENT_POD_DELETION).await;
    tracing::info!(
        sessions = daemon.sessions.len(),
        agents = daemon.agents.list().len(),
        uptime_secs = daemon.started.elapsed().as_secs(),
        "daemon stopping"
    );
    let _ = fs::remove_file(daemon.paths.api_socket());
    let _ = fs::remove_file(daemon.paths.proxy_socket());
    let _ = fs::remove_file(daemon.paths.runtime_dir.join("ws.token"));
    let _ = fs::remove_file(daemon.paths.runtime_dir.join("ws.addr"));
    Ok(())
}

/// Raises the soft limit on open files to the hard one. Every relayed connection costs the
/// daemon a descriptor or two, and a common soft limit of 1024 is well below what one busy user
/// process opens. Only the daemon and the agents it starts get the higher limit; user
/// processes are started by `tether exec` and keep theirs.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open files limit"),
            Err(err) => tracing::warn!(%err, soft, "cannot raise the open files limit; busy sessions may see EMFILE"),
        },
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "cannot read the open files limit"),
    }
}

/// Binds a Unix socket only this user may connect to, replacing a stale one.
fn bind_private(path: &Path) -> anyhow::Result<UnixListener> {
    let _ = fs::remove_file(path);
    let listener = UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn serve_api(listener: UnixListener, daemon: Arc<Daemon>, mut shutdown_rx: watch::Receiver<bool>) {
    let (stop_handle, server_handle) = jsonrpsee::server::stop_channel();
    let service_builder = crate::api::service_builder();
    let methods = crate::api::module(daemon.clone());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown_rx.changed() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        if !crate::peer::same_user(&stream) {
            tracing::warn!("refusing an API client of another user");
            continue;
        }
        let service = ApiConnection::attach(service_builder.clone().build(methods.clone(), stop_handle.clone()));
        let stopped = stop_handle.clone().shutdown();
        tokio::spawn(async move {
            if let Err(err) = jsonrpsee::server::serve_with_graceful_shutdown(stream, service, stopped).await {
                tracing::debug!(%err, "api connection ended");
            }
        });
    }
    let _ = server_handle.stop();
    // Resolves once every connection, each holding a clone of the stop handle, has ended.
    drop(stop_handle);
    server_handle.stopped().await;
}

/// One client connection of the API, known to the calls made on it (as a request extension),
/// so that what a call starts can be tied to the connection: a session ends when the
/// connection of the client that prepared it does. The connection's server task holds the
/// extension for as long as the connection lives, so the last clone going means it ended.
#[derive(Clone)]
pub struct ApiConnection {
    _alive: Arc<tokio_util::sync::DropGuard>,
    closed: tokio_util::sync::CancellationToken,
}

impl ApiConnection {
    /// Makes `service` hand a new connection to every call it serves.
    pub fn attach<S, B>(
        service: S,
    ) -> tower::util::MapRequest<S, impl FnMut(http::Request<B>) -> http::Request<B> + Clone>
    where
        S: tower::Service<http::Request<B>>,
    {
        let closed = tokio_util::sync::CancellationToken::new();
        let connection = ApiConnection { _alive: Arc::new(closed.clone().drop_guard()), closed };
        tower::ServiceExt::map_request(service, move |mut request: http::Request<B>| {
            request.extensions_mut().insert(connection.clone());
            request
        })
    }

    /// Cancelled once the connection has ended. Holding it does not keep the connection known
    /// as alive, unlike holding the [`ApiConnection`].
    pub fn closed(&self) -> tokio_util::sync::CancellationToken {
        self.closed.clone()
    }
}

async fn wait_for_stop(mut shutdown_rx: watch::Receiver<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        _ = shutdown_rx.wait_for(|stop| *stop) => {}
    }
}
