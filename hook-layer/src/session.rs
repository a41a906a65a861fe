//! Whether the layer is active in this process, and the session's compiled policy.
//!
//! The layer is inert (every hook bypasses) when `TETHER_PROXY`/`TETHER_SESSION` are missing,
//! when the proxy refuses our `Hello`, or when this program is in `skip_processes`. The policy
//! arrives with the first `HelloOk`; until then (a dead daemon) decisions use the default
//! policy, and requests fail with an errno.

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Once, OnceLock};

use tether_rpc_schema::policy::LayerPolicy;

use crate::builtin::HostDirs;
use crate::launch::{self, LaunchEnv};
use crate::policy::Policy;
use crate::proxy;

static POLICY: OnceLock<Policy> = OnceLock::new();
static DEFAULT_POLICY: LazyLock<Policy> = LazyLock::new(|| compile(&LayerPolicy::default()));
static INERT: AtomicBool = AtomicBool::new(false);
static FIRST_CONTACT: Once = Once::new();

/// The policy to enforce, or `None` when the layer is inert. The first call contacts the
/// session proxy (once per process; forks inherit the result).
pub fn active() -> Option<&'static Policy> {
    if INERT.load(Ordering::Relaxed) {
        return None;
    }
    if let Some(policy) = POLICY.get() {
        return Some(policy);
    }
    if !launch::get().configured() {
        INERT.store(true, Ordering::Relaxed);
        return None;
    }
    FIRST_CONTACT.call_once(proxy::warm_up);
    if INERT.load(Ordering::Relaxed) {
        return None;
    }
    Some(POLICY.get().unwrap_or(&DEFAULT_POLICY))
}

/// Makes the layer inert for the rest of this process's life.
pub fn go_inert(reason: &str) {
    crate::log!("layer inert: {reason}");
    INERT.store(true, Ordering::Relaxed);
}

/// Installs the policy of the first `HelloOk` (later ones are ignored: policy is fetched once
/// per process), and goes inert when this program is to be skipped.
pub fn install(policy: &LayerPolicy) {
    if POLICY.get().is_some() {
        return;
    }
    let compiled = compile(policy);
    let launch = launch::get();
    if let Some(name) = skipped_name(launch, &compiled.skip_processes) {
        go_inert(&format!("process {name} is in skip_processes"));
    }
    let _ = POLICY.set(compiled);
}

fn compile(policy: &LayerPolicy) -> Policy {
    let launch = launch::get();
    let files = [
        Some(launch.exe.as_deref().unwrap_or_default()),
        Some(launch.layer_path.as_slice()),
        launch.proxy.as_ref().map(|p| p.to_bytes()),
        launch.log_path.as_ref().map(|p| p.to_bytes()),
    ];
    let host_dirs = HostDirs::new(launch.cwd.as_deref(), launch.home.as_deref(), &files);
    Policy::compile(policy, host_dirs, hostname(), &mut |pattern| {
        crate::log!("ignoring invalid file rule pattern {pattern:?}");
    })
}

/// The basename of the executable or of `argv[0]` when it is in `skip`.
fn skipped_name(launch: &LaunchEnv, skip: &[String]) -> Option<String> {
    let basename =
        |path: &[u8]| String::from_utf8_lossy(path.rsplit(|b| *b == b'/').next().unwrap_or(path)).into_owned();
    [launch.exe.as_deref(), launch.argv0.as_deref()]
        .into_iter()
        .flatten()
        .map(basename)
        .find(|name| skip.iter().any(|s| s == name))
}

/// The host's own name (`uname` nodename).
fn hostname() -> Option<String> {
    // SAFETY: utsname is plain data; zeroed is valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid out-pointer.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates nodename within the array.
    let name = unsafe { CStr::from_ptr(uts.nodename.as_ptr()) };
    name.to_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_name_checks_exe_and_argv0_basenames() {
        let launch = LaunchEnv {
            exe: Some(b"/usr/bin/python3.11".to_vec()),
            argv0: Some(b"./debugpy".to_vec()),
            ..LaunchEnv::default()
        };
        assert_eq!(skipped_name(&launch, &["python3.11".into()]).as_deref(), Some("python3.11"));
        assert_eq!(skipped_name(&launch, &["debugpy".into()]).as_deref(), Some("debugpy"));
        assert_eq!(skipped_name(&launch, &["node".into()]), None);
    }
}
