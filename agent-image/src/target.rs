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
    /// `<pid>@<start time>`: this very process, where a pid number alone could be reused.
    pub id: String,
    /// A pidfd of the target: it becomes readable when the process exits.
    pub pidfd: OwnedFd,
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
        TargetSpec::Container { name_or_id, runtime: RuntimeKind::Cgroup, .. } => {
            let id = name_or_id.clone();
            let found = tokio::task::spawn_blocking(move || runtime::cgroup::container_pid(&id))
                .await
                .map_err(|err| TargetError::Other(format!("searching the cgroups failed: {err}")))?;
            Ok(found?)
        }
    }
}

/// Opens the target's root and network namespace. Blocking: call it before serving.
pub fn open(pid: u32) -> Result<Target, TargetError> {
    if pid == 0 {
        return Err(TargetError::NotFound("pid 0 is not a process; give the target's pid".into()));
    }
    let not_found = || TargetError::NotFound(format!("process {pid} does not exist; check the pid"));
    let raw_pid = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw).ok_or_else(not_found)?;
    // Opened first: the start time read next then belongs to the process this pidfd watches.
    let pidfd =
        rustix::process::pidfd_open(raw_pid, rustix::process::PidfdFlags::empty()).map_err(|errno| match errno {
            Errno::NOENT | Errno::SRCH | Errno::INVAL => not_found(),
            other => TargetError::Other(format!("cannot watch process {pid}: {other}")),
        })?;
    let proc_dir = format!("/proc/{pid}");
    let stat = std::fs::read_to_string(format!("{proc_dir}/stat")).map_err(|_| not_found())?;
    let start_time = start_time(&stat).ok_or_else(|| {
        TargetError::Other(format!("cannot read the start time of process {pid} from {proc_dir}/stat"))
    })?;
    let root = open_proc(pid, &format!("{proc_dir}/root"), OFlags::PATH | OFlags::DIRECTORY)?;
    let netns = open_proc(pid, &format!("{proc_dir}/ns/net"), OFlags::RDONLY)?;
    Ok(Target { id: format!("{pid}@{start_time}"), pidfd, root, netns })
}

/// Field 22 of `/proc/<pid>/stat`, the start time in clock ticks since boot. Fields are
/// counted after the command name, which is in parentheses and may itself hold any byte.
fn start_time(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_ascii_whitespace().nth(19)?.parse().ok()
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
    fn start_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time(stat), Some(987654));
        assert_eq!(start_time("4242 (short) S 1"), None);
    }

    #[test]
    fn open_names_the_process_by_pid_and_start_time() {
        let target = open(std::process::id()).unwrap();
        let (pid, start) = target.id.split_once('@').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert!(start.parse::<u64>().unwrap() > 0, "{}", target.id);
    }

    #[test]
    fn open_pid_zero_is_not_found() {
        assert_eq!(open(0).unwrap_err().kind(), StartupFailure::TargetNotFound);
    }
}
