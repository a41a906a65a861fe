//! Whether the layer is active in this process, and the session's compiled policy.
//!
//! The layer starts once, from its ELF constructor ([`start`], called by [`crate::launch`]
//! with the re-entry guard held), never from a hook: until then, and for good when it is
//! inert, every hook passes straight through to the original function after one atomic load.
//! That keeps the layer out of the way of whatever runs before the constructor — above all an
//! allocator's own initialisation (jemalloc's `readlink("/etc/malloc.conf")` reaches the
//! `readlink` hook while jemalloc holds its init lock, so the hook must neither allocate nor
//! wait for anything).
//!
//! The layer is inert when `TETHER_PROXY`/`TETHER_SESSION` are missing, when the proxy refuses
//! our `Hello`, or when this program is in `skip_processes`. The policy arrives with the first
//! `HelloOk`; without one (a dead daemon) decisions use the default policy, and requests fail
//! with an errno.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use tether_rpc_schema::policy::LayerPolicy;

use crate::launch::{self, LaunchEnv};
use crate::proxy;
use tether_hook_core::builtin::HostDirs;
use tether_hook_core::policy::Policy;

/// [`STATE`] before [`start`] has decided.
const STARTING: u8 = 0;
/// [`STATE`] of a layer that enforces [`POLICY`].
const ACTIVE: u8 = 1;
/// [`STATE`] of a layer that passes everything through, for the rest of the process's life.
const INERT: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(STARTING);
static POLICY: OnceLock<Policy> = OnceLock::new();

/// The policy to enforce, or `None` while the layer has not started or is inert. One atomic
/// load: no allocation, no lock, no I/O.
pub fn active() -> Option<&'static Policy> {
    if STATE.load(Ordering::Acquire) != ACTIVE {
        return None;
    }
    POLICY.get()
}

/// Starts the layer: contacts the session proxy (fetching the policy) and becomes active,
/// unless the launch environment has no session or the proxy says no. Called once per
/// process by the constructor; forks inherit the result.
pub fn start() {
    if !launch::get().configured() {
        STATE.store(INERT, Ordering::Release);
        return;
    }
    proxy::warm_up();
    if POLICY.get().is_none() {
        let _ = POLICY.set(compile(&LayerPolicy::default()));
    }
    let _ = STATE.compare_exchange(STARTING, ACTIVE, Ordering::AcqRel, Ordering::Acquire);
}

/// Makes the layer inert for the rest of this process's life.
pub fn go_inert(reason: &str) {
    crate::log!("layer inert: {reason}");
    STATE.store(INERT, Ordering::Release);
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
