//! Per-user places on disk: the runtime directory holding the daemon's sockets (0700, owned by
//! the user), the log directory, and where the companion binaries live.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

/// Why a per-user path cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The runtime directory belongs to someone else: using it would talk to their daemon.
    #[error("{path} is owned by uid {owner}, not by you (uid {me}); remove it or set XDG_RUNTIME_DIR to a directory of yours")]
    NotOwned { path: PathBuf, owner: u32, me: u32 },
    /// The runtime directory is open to other users.
    #[error(
        "{path} has mode {mode:o}; it must be 0700 so other users cannot reach your daemon: run `chmod 700 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    /// A directory could not be created or inspected.
    #[error("cannot prepare {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// No home directory to put logs in.
    #[error("cannot find a home directory for the log files; set HOME")]
    NoHome,
}

/// The paths one user's daemon uses.
#[derive(Debug, Clone)]
pub struct UserPaths {
    /// 0700 directory holding the sockets and the lock file.
    pub runtime_dir: PathBuf,
    /// Directory of the daemon's and hook layers' log files.
    pub log_dir: PathBuf,
}

impl UserPaths {
    /// Finds (and creates, private) this user's directories.
    pub fn for_current_user() -> Result<UserPaths, PathError> {
        let runtime_base = directories::BaseDirs::new()
            .and_then(|dirs| dirs.runtime_dir().map(Path::to_path_buf))
            .unwrap_or_else(|| std::env::temp_dir().join(format!("tether-{}", Uid::effective())));
        let runtime_dir = runtime_base.join("tether");
        ensure_private_dir(&runtime_base, true)?;
        ensure_private_dir(&runtime_dir, true)?;
        let dirs = directories::ProjectDirs::from("dev", "tether", "tether").ok_or(PathError::NoHome)?;
        let log_dir = dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir()).join("logs");
        fs::create_dir_all(&log_dir).map_err(|source| PathError::Io { path: log_dir.clone(), source })?;
        Ok(UserPaths { runtime_dir, log_dir })
    }

    /// Unix socket of the JSON-RPC API.
    pub fn api_socket(&self) -> PathBuf {
        self.runtime_dir.join("api.sock")
    }

    /// Unix socket of the session proxy that hook layers connect to.
    pub fn proxy_socket(&self) -> PathBuf {
        self.runtime_dir.join("proxy.sock")
    }

    /// Lock file held by the running daemon.
    pub fn lock_file(&self) -> PathBuf {
        self.runtime_dir.join("daemon.lock")
    }

    /// Where agent pods were made (`agent_records`), next to the log directory.
    pub fn agent_records(&self) -> PathBuf {
        self.log_dir.parent().unwrap_or(&self.log_dir).join("agent-namespaces.json")
    }

    /// Log file of the hook layers.
    pub fn layer_log(&self) -> PathBuf {
        self.log_dir.join("layer.log")
    }
}

/// Creates `dir` if missing and checks that only the current user can use it. With `strict`,
/// the mode must also deny group and others.
fn ensure_private_dir(dir: &Path, strict: bool) -> Result<(), PathError> {
    let io_err = |source| PathError::Io { path: dir.to_path_buf(), source };
    match fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io_err(err)),
    }
    let meta = fs::metadata(dir).map_err(io_err)?;
    let me = Uid::effective().as_raw();
    if meta.uid() != me {
        return Err(PathError::NotOwned { path: dir.to_path_buf(), owner: meta.uid(), me });
    }
    let mode = meta.permissions().mode() & 0o777;
    if strict && mode & 0o077 != 0 {
        return Err(PathError::TooOpen { path: dir.to_path_buf(), mode });
    }
    Ok(())
}

/// A companion binary (`tether-agent`, `libtether_layer.so`): `$override_var` if set, else next
/// to the running `tether` executable.
pub fn companion(file_name: &str, override_var: &str) -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(override_var) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(file_name);
    if path.exists() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found next to {}; build the whole workspace or set {override_var}",
                file_name,
                exe.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_private_dir_refuses_group_readable_dir() {
        let dir = std::env::temp_dir().join(format!("tether-paths-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&dir, true).unwrap_err();
        assert!(matches!(err, PathError::TooOpen { mode: 0o755, .. }), "{err}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        ensure_private_dir(&dir, true).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
