//! The supervisor: gives a program that bypasses libc (Go, static binaries: those
//! `tether_rpc_schema::linkage` does not find hookable) its target's files, DNS and outgoing
//! network, where the hook layer cannot reach.
//!
//! The program runs under a seccomp filter that sends its file and socket system calls to the
//! supervisor (seccomp user notification); the supervisor is `tether`'s own process, the
//! program's parent, so reading the program's memory needs no privilege (Yama's
//! `ptrace_scope=1` allows an ancestor). Each call is decided by the same code as the layer's
//! (`tether_hook_core`): a host call continues as the program made it, a target call is
//! answered through the session proxy. The filter is inherited by the whole process tree, and
//! the supervised tree runs without the layer, so no call is handled twice.
//!
//! # Layout
//! - [`seccomp`]: the filter and the listener's requests.
//! - [`process`]: a supervised thread's memory, descriptors, working directory.
//! - [`serve`]: the serving threads; [`files`], [`net`] and [`incoming`] answer the calls; [`placeholders`]
//!   stand for target directories; [`proxy`] connects to the session proxy.

mod files;
mod incoming;
mod net;
mod placeholders;
mod process;
mod proxy;
mod seccomp;
mod serve;

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;

use tether_hook_core::builtin::HostDirs;
use tether_hook_core::policy::Policy;
use tether_rpc_schema::policy::LayerPolicy;

/// Serving threads per supervised tree: calls in flight at once.
const THREADS: usize = 8;

/// The oldest kernel with everything the supervisor needs: handing a descriptor over as a
/// call's answer (`SECCOMP_ADDFD_FLAG_SEND`, 5.14).
const MINIMUM_KERNEL: (u32, u32) = (5, 14);
/// Since 5.19 a received call is no longer interrupted by signals (`WAIT_KILLABLE_RECV`).
const KILLABLE_WAIT_KERNEL: (u32, u32) = (5, 19);

/// Where the session is: what the launch environment names (`TETHER_PROXY`,
/// `TETHER_SESSION`, `TETHER_LAYER_LOG`).
pub struct SessionEnv {
    pub proxy: PathBuf,
    pub token: String,
    pub log: Option<PathBuf>,
}

/// A supervised program's supervision; removes its placeholder directories when dropped
/// (after the program has exited).
pub struct Supervision {
    shared: Arc<serve::Shared>,
}

impl Drop for Supervision {
    fn drop(&mut self) {
        self.shared.placeholders.remove_all();
    }
}

/// Whether this machine can supervise, and why not.
pub fn available() -> Result<(), String> {
    if !cfg!(target_arch = "x86_64") {
        return Err("the supervisor for Go and static programs supports x86_64 only".into());
    }
    match kernel() {
        Some(version) if version >= MINIMUM_KERNEL => Ok(()),
        Some((major, minor)) => Err(format!(
            "Linux {major}.{minor} cannot hand descriptors to a supervised program (seccomp's \
             SECCOMP_ADDFD_FLAG_SEND needs Linux {}.{}): Go and static programs get only the target's \
             environment, not its files or network",
            MINIMUM_KERNEL.0, MINIMUM_KERNEL.1
        )),
        None => Err("cannot read the kernel's version (uname)".into()),
    }
}

/// The running kernel's `(major, minor)`.
fn kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Spawns `command` under supervision for the session `env`. The command's own environment
/// should not load the layer (the caller removes it from `LD_PRELOAD`).
pub fn spawn(command: &mut Command, env: SessionEnv, exe: &Path) -> io::Result<(Child, Supervision)> {
    available().map_err(io::Error::other)?;
    let (session, policy, parks) = session_state(&env, exe);
    let program =
        seccomp::program(seccomp::Traps { incoming: policy.incoming.mode.is_some(), writes: policy.writes_target() });
    let killable = kernel().is_some_and(|version| version >= KILLABLE_WAIT_KERNEL);
    let (ours, theirs) = UnixStream::pair()?;
    let theirs_fd = theirs.as_raw_fd();
    // SAFETY: the closure runs in the child between fork and exec and only makes system calls
    // (prctl, seccomp, sendmsg, close) on memory prepared before the fork.
    unsafe {
        command.pre_exec(move || {
            let listener = seccomp::install(&program, killable).map_err(io::Error::from_raw_os_error)?;
            let sent = send_fd(theirs_fd, listener);
            libc::close(listener);
            sent
        });
    }
    let child = command.spawn()?;
    drop(theirs);
    let listener = receive_fd(&ours)?;
    let root = env.proxy.parent().unwrap_or(Path::new("/tmp")).join(format!("supervisor-{}", std::process::id()));
    let shared = Arc::new(serve::Shared {
        listener: seccomp::Listener::new(listener),
        policy,
        session,
        placeholders: placeholders::Placeholders::new(root),
        sockets: net::Sockets::default(),
        parks,
    });
    for index in 0..THREADS {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new().name(format!("tether-supervisor-{index}")).spawn(move || serve::serve(&shared))?;
    }
    Ok((child, Supervision { shared }))
}

/// The session's connection details, its compiled policy and its parks, asked before the
/// program starts (the policy decides which calls the filter traps).
fn session_state(env: &SessionEnv, exe: &Path) -> (proxy::Session, Policy, Vec<std::net::SocketAddr>) {
    let session = proxy::Session::new(env.proxy.clone(), env.token.clone(), env.log.as_deref());
    let (policy, parks) = match session.connect() {
        Ok((_, ok)) => (ok.policy.map(|policy| *policy), ok.park),
        Err(err) => {
            session.log(&format!("session proxy unreachable, using the default policy: {err}"));
            eprintln!("tether: the session is unreachable ({err}); the program's target calls fail");
            (None, Vec::new())
        }
    };
    let cwd = std::env::current_dir().ok().map(|dir| dir.into_os_string().into_encoded_bytes());
    let home = std::env::var_os("HOME").map(|home| home.into_encoded_bytes());
    let bytes = |path: &Path| path.as_os_str().as_encoded_bytes().to_vec();
    let files = [Some(bytes(exe)), Some(bytes(&env.proxy)), env.log.as_deref().map(bytes)];
    let files: Vec<Option<&[u8]>> = files.iter().map(|file| file.as_deref()).collect();
    let host_dirs = HostDirs::new(cwd.as_deref(), home.as_deref(), &files);
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|name| name.trim().to_string());
    let policy = Policy::compile(&policy.unwrap_or_else(LayerPolicy::default), host_dirs, host_name, &mut |line| {
        session.log(line)
    });
    (session, policy, parks)
}

/// Room for one `SCM_RIGHTS` header with one descriptor (32 bytes, aligned).
type Control = [u64; 4];

/// A one-byte message over `byte` with `control` as its control buffer: what passes the
/// listener from the child to the supervisor.
fn message(byte: &mut [u8; 1], iov: &mut libc::iovec, control: &mut Control) -> libc::msghdr {
    *iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // SAFETY: msghdr is plain data; zeroed is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of::<Control>();
    msg
}

/// Sends descriptor `fd` over the socket `over` (`SCM_RIGHTS`), in the child: no allocation.
fn send_fd(over: RawFd, fd: RawFd) -> io::Result<()> {
    let (mut byte, mut control) = ([0u8; 1], Control::default());
    let mut iov = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
    let mut msg = message(&mut byte, &mut iov, &mut control);
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: the control buffer has room for one header with one descriptor.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        libc::CMSG_DATA(header).cast::<RawFd>().write_unaligned(fd);
    }
    // SAFETY: `msg` points at live buffers.
    if unsafe { libc::sendmsg(over, &msg, 0) } != 1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives the listener the child sent.
fn receive_fd(over: &UnixStream) -> io::Result<std::os::fd::OwnedFd> {
    let (mut byte, mut control) = ([0u8; 1], Control::default());
    let mut iov = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
    let mut msg = message(&mut byte, &mut iov, &mut control);
    // SAFETY: `msg` points at live buffers; MSG_CMSG_CLOEXEC keeps the listener out of children.
    if unsafe { libc::recvmsg(over.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) } != 1 {
        return Err(io::Error::other("the program did not start under the supervisor's filter"));
    }
    // SAFETY: recvmsg filled the control buffer; the first header, when there is one, is ours.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        if header.is_null() || (*header).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("the program sent no listener"));
        }
        Ok(seccomp::adopt(libc::CMSG_DATA(header).cast::<RawFd>().read_unaligned()))
    }
}
