//! Finds the target process and opens the handles the agent keeps on it: its root directory
//! (every file access is resolved inside it) and its network namespace.

use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use tether_rpc_schema::startup::StartupFailure;

use crate::cli::{RuntimeKind, TargetSpec};
use crate::runtime;

/// Why the target could not be found or opened.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The process or container does not exist (or is not running).
    #[error("{0}")]
    NotFound(String),
    /// The agent may not look into the target.
    #[error("{0}")]
    NotPermitted(String),
    /// Asking the container runtime failed.
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    /// Anything else the kernel refused.
    #[error("{0}")]
    Other(String),
}

impl TargetError {
    /// The start-up failure kind reported to whoever started the agent.
    pub fn kind(&self) -> StartupFailure {
        match self {
            TargetError::NotFound(_) => StartupFailure::TargetNotFound,
            TargetError::NotPermitted(_) => StartupFailure::NotPermitted,
            TargetError::Runtime(err) => err.kind(),
            TargetError::Other(_) => StartupFailure::Other,
        }
    }
}

/// The target process and the handles the agent keeps open on it.
#[derive(Debug)]
pub struct Target {
    /// `/proc/<pid>/root`, opened once: the target's filesystem as the target sees it.
    pub root: OwnedFd,
    /// `/proc/<pid>/ns/net`, handed to the namespace thread.
    pub netns: OwnedFd,
}

/// Finds the target's PID (asking the container runtime for containers).
pub async fn resolve_pid(spec: &TargetSpec) -> Result<u32, TargetError> {
    match spec {
        TargetSpec::Pid(pid) => Ok(*pid),
        TargetSpec::Container { name_or_id, runtime: RuntimeKind::Containerd, socket, namespace } => {
            Ok(runtime::containerd::container_pid(socket, namespace.as_deref(), name_or_id).await?)
        }
        TargetSpec::Container { name_or_id, runtime: RuntimeKind::Docker, socket, .. } => {
            Ok(runtime::docker::container_pid(socket, name_or_id).await?)
        }
    }
}

/// Opens the target's root and network namespace. Blocking: call it before serving.
pub fn open(pid: u32) -> Result<Target, TargetError> {
    if pid == 0 {
        return Err(TargetError::NotFound("pid 0 is not a process; give the target's pid".into()));
    }
    let proc_dir = format!("/proc/{pid}");
    let root = open_proc(pid, &format!("{proc_dir}/root"), OFlags::PATH | OFlags::DIRECTORY)?;
    let netns = open_proc(pid, &format!("{proc_dir}/ns/net"), OFlags::RDONLY)?;
    Ok(Target { root, netns })
}

fn open_proc(pid: u32, path: &str, flags: OFlags) -> Result<OwnedFd, TargetError> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::empty()).map_err(|errno| match errno {
        Errno::NOENT | Errno::SRCH => TargetError::NotFound(format!("process {pid} does not exist; check the pid")),
        Errno::ACCESS | Errno::PERM => TargetError::NotPermitted(not_permitted_message(path)),
        other => TargetError::Other(format!("cannot open {path}: {other}")),
    })
}

/// The advice given whenever the kernel refuses access to the target's namespaces.
pub fn not_permitted_message(what: &str) -> String {
    format!("not permitted to open {what}; run the agent as root or grant it CAP_SYS_ADMIN and CAP_SYS_PTRACE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_missing_pid_is_not_found() {
        let err = open(u32::MAX - 1).unwrap_err();
        assert_eq!(err.kind(), StartupFailure::TargetNotFound);
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn open_pid_zero_is_not_found() {
        assert_eq!(open(0).unwrap_err().kind(), StartupFailure::TargetNotFound);
    }
}
