//! Watches the kubeconfig files and the config files of live sessions, so that edits take effect
//! without a restart: a changed kubeconfig drops the cached contexts and clients and tells
//! `targets.watch` subscribers; a changed session config becomes the policy of the session's
//! processes started from then on, or a warning event when it is invalid.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher};
use tether_rpc_schema::api::SessionEventKind;
use tokio::sync::{mpsc, watch};

use crate::clusters::Clusters;
use crate::state::Daemon;

/// Starts watching; returns the handle that keeps the watch alive and a sender for config
/// files to add (one per prepared session).
pub fn start(daemon: Arc<Daemon>, shutdown_rx: watch::Receiver<bool>) -> notify::Result<WatchHandle> {
    let (changed_tx, changed_rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove() {
                for path in event.paths {
                    let _ = changed_tx.send(path);
                }
            }
        }
    })?;
    let kubeconfigs: BTreeSet<PathBuf> = Clusters::kubeconfig_paths().into_iter().collect();
    let mut watched_dirs = BTreeSet::new();
    for path in &kubeconfigs {
        watch_dir(&mut watcher, &mut watched_dirs, path);
    }
    let handle = WatchHandle { watcher: Arc::new(std::sync::Mutex::new((watcher, watched_dirs))) };
    tokio::spawn(dispatch(daemon, kubeconfigs, changed_rx, shutdown_rx));
    Ok(handle)
}

/// Keeps the watcher alive; adds directories to it.
#[derive(Clone)]
pub struct WatchHandle {
    watcher: Arc<std::sync::Mutex<(notify::RecommendedWatcher, BTreeSet<PathBuf>)>>,
}

impl WatchHandle {
    /// Watches `file` (a session's config file) from now on.
    pub fn add(&self, file: &Path) {
        let mut guard = self.watcher.lock().expect("watcher lock");
        let (watcher, dirs) = &mut *guard;
        watch_dir(watcher, dirs, file);
    }
}

/// Watches the directory of `file` (editors and kubectl replace files rather than write them).
fn watch_dir(watcher: &mut notify::RecommendedWatcher, dirs: &mut BTreeSet<PathBuf>, file: &Path) {
    let Some(dir) = file.parent().filter(|dir| dir.is_dir()) else { return };
    if dirs.insert(dir.to_path_buf()) {
        if let Err(err) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), %err, "cannot watch for config changes");
        }
    }
}

async fn dispatch(
    daemon: Arc<Daemon>,
    kubeconfigs: BTreeSet<PathBuf>,
    mut changed_rx: mpsc::UnboundedReceiver<PathBuf>,
    mut shutdown_rx: watch::Receiver<bool>,
) {
    loop {
        let path = tokio::select! {
            path = changed_rx.recv() => match path { Some(path) => path, None => return },
            _ = shutdown_rx.changed() => return,
        };
        if kubeconfigs.contains(&path) {
            tracing::info!(path = %path.display(), "kubeconfig changed; contexts and clients refresh");
            daemon.clusters.forget().await;
            daemon.targets.clear();
            let _ = daemon.kubeconfig_changed_tx.send(());
        }
        for session in daemon.sessions.list() {
            if session.config_path.as_deref() == Some(path.as_path()) {
                reload(&daemon, &session, &path).await;
            }
        }
    }
}

async fn reload(daemon: &Daemon, session: &crate::sessions::Session, path: &Path) {
    let (kind, message) = match crate::config::load(path.to_path_buf()).await {
        Ok(config) => {
            session.set_config(&config);
            (SessionEventKind::Progress, format!("{} changed; processes started from now on use it", path.display()))
        }
        Err(diagnostics) => {
            let summary: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            (
                SessionEventKind::Warning,
                format!(
                    "{} changed but is invalid, the session keeps the previous config: {}",
                    path.display(),
                    summary.join("; ")
                ),
            )
        }
    };
    tracing::info!(session = %session.id, %message, "session config changed");
    daemon.emit(session.event(kind, message));
}
