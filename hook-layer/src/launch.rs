//! The environment this process started with, captured once by the library's constructor
//! ([`crate::start`], before `main` can change anything).
//!
//! Children get these values back (see [`crate::exec`]) even when the user process clears
//! its environment, and the built-in host paths (cwd, `$HOME`, executable, layer) come from
//! here.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;
use std::time::Duration;

/// Default read/write timeout on the session proxy's socket.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the process started with.
#[derive(Debug, Default)]
pub struct LaunchEnv {
    /// `TETHER_PROXY`: the session proxy's socket. `None` makes the layer inert.
    pub proxy: Option<CString>,
    /// `TETHER_SESSION`: the token presented in `Hello`. `None` makes the layer inert.
    pub session: Option<String>,
    /// `TETHER_LAYER_LOG`: where log lines go.
    pub log_path: Option<CString>,
    /// `LD_PRELOAD` as started, handed on to children that lost it.
    pub ld_preload: Option<Vec<u8>>,
    /// Absolute path of this library (from `dladdr`).
    pub layer_path: Vec<u8>,
    /// Working directory at start: it and everything below stay on the host.
    pub cwd: Option<Vec<u8>>,
    /// `$HOME`: stays on the host.
    pub home: Option<Vec<u8>>,
    /// Target of `/proc/self/exe`.
    pub exe: Option<Vec<u8>>,
    /// `argv[0]`.
    pub argv0: Option<Vec<u8>>,
    /// Socket timeout (`TETHER_TIMEOUT_MS`, default 30 s).
    pub timeout: Duration,
}

impl LaunchEnv {
    /// Whether a session is configured at all.
    pub fn configured(&self) -> bool {
        self.proxy.is_some() && self.session.is_some()
    }
}

static LAUNCH: OnceLock<LaunchEnv> = OnceLock::new();
static ARGV0: OnceLock<Vec<u8>> = OnceLock::new();

/// What [`get`] answers before the constructor has captured anything: no session, no log.
static NOT_CAPTURED: LaunchEnv = LaunchEnv {
    proxy: None,
    session: None,
    log_path: None,
    ld_preload: None,
    layer_path: Vec::new(),
    cwd: None,
    home: None,
    exe: None,
    argv0: None,
    timeout: DEFAULT_TIMEOUT,
};

/// The captured environment, or an empty one before the constructor ran. Never captures
/// itself: capturing allocates, and this is reachable from hooks that run before the
/// constructor (an allocator initialising itself, say).
pub fn get() -> &'static LaunchEnv {
    LAUNCH.get().unwrap_or(&NOT_CAPTURED)
}

/// Records `argv[0]` and captures the environment (the first call only; the constructor's).
pub fn capture_once(argv0: Option<&CStr>) -> &'static LaunchEnv {
    if let Some(argv0) = argv0 {
        let _ = ARGV0.set(argv0.to_bytes().to_vec());
    }
    LAUNCH.get_or_init(capture)
}

fn capture() -> LaunchEnv {
    let var = |name: &str| std::env::var_os(name).map(|value| value.into_encoded_bytes());
    let timeout = var("TETHER_TIMEOUT_MS")
        .and_then(|ms| std::str::from_utf8(&ms).ok()?.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    LaunchEnv {
        proxy: var("TETHER_PROXY").and_then(|p| CString::new(p).ok()),
        session: var("TETHER_SESSION").and_then(|s| String::from_utf8(s).ok()),
        log_path: var("TETHER_LAYER_LOG").and_then(|p| CString::new(p).ok()),
        ld_preload: var("LD_PRELOAD"),
        layer_path: layer_path(),
        cwd: std::env::current_dir().ok().map(|d| d.into_os_string().into_encoded_bytes()),
        home: var("HOME").filter(|h| h.starts_with(b"/")),
        exe: std::fs::read_link("/proc/self/exe").ok().map(|p| p.into_os_string().into_encoded_bytes()),
        argv0: ARGV0.get().cloned(),
        timeout,
    }
}

/// Path of the object that contains this function, i.e. `libtether_layer.so`.
fn layer_path() -> Vec<u8> {
    // SAFETY: Dl_info is plain data; zeroed is a valid value for it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `layer_path` is a function of this object; `info` is a valid out-pointer.
    let found = unsafe { libc::dladdr(layer_path as *const libc::c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Vec::new();
    }
    // SAFETY: dladdr set dli_fname to a NUL-terminated string owned by the dynamic linker.
    let name = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes().to_vec();
    use std::os::unix::ffi::OsStrExt;
    std::fs::canonicalize(std::ffi::OsStr::from_bytes(&name))
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or(name)
}
