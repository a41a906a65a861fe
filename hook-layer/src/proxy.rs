//! Requests to the session proxy: a per-process pool of Unix socket connections, each opened
//! with `Hello`, each carrying one synchronous request/response at a time.
//!
//! After `fork` the pool belongs to the parent: the child detects the pid change and starts
//! a new pool without touching (locking, closing or using) the parent's connections, which
//! it simply forgets (they are close-on-exec).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tether_hook_core::{client, target};
use tether_rpc_schema::wire::Message;

use crate::errno::{self, TransportError};
use crate::{fds, launch, session};

/// Idle connections kept per process.
const MAX_IDLE: usize = 4;

/// The connections of one process.
struct Pool {
    pid: u32,
    idle: Mutex<Vec<UnixStream>>,
}

static POOL: AtomicPtr<Pool> = AtomicPtr::new(std::ptr::null_mut());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static PARKS: OnceLock<Vec<SocketAddr>> = OnceLock::new();

/// The daemon's parks for non-blocking sockets (`HelloOk::park`); empty before the first hello.
pub fn parks() -> &'static [SocketAddr] {
    PARKS.get().map_or(&[], Vec::as_slice)
}

/// This process's pool; a new one after a fork (the old one is leaked on purpose).
fn pool() -> &'static Pool {
    let pid = std::process::id();
    let current = POOL.load(Ordering::Acquire);
    // SAFETY: POOL only ever holds pointers from Box::into_raw that are never freed.
    if let Some(pool) = unsafe { current.as_ref() } {
        if pool.pid == pid {
            return pool;
        }
    }
    let fresh = Box::into_raw(Box::new(Pool { pid, idle: Mutex::new(Vec::new()) }));
    match POOL.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` was just leaked from a Box and is never freed.
        Ok(_) => unsafe { &*fresh },
        Err(winner) => {
            // SAFETY: `fresh` lost the race and was never shared: we still own it.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: as for `current`.
            unsafe { &*winner }
        }
    }
}

/// Sends `message` and returns the response: `Ok` for any response but `Failure`, whose
/// errno becomes `Err`. Transport failures are logged and become `EIO`/`ETIMEDOUT`.
pub fn call(message: Message) -> Result<Message, i32> {
    match request(message) {
        Ok(Message::Failure { errno, .. }) => Err(errno::for_failure(errno)),
        Ok(response) => Ok(response),
        Err(err) => {
            crate::log!("request failed: {err}");
            crate::log::tell_once(format_args!("requests to the target fail ({err})"));
            Err(errno::for_transport(&err))
        }
    }
}

/// Opens the first connection (fetching the policy); called once per process.
pub fn warm_up() {
    match connect() {
        Ok(stream) => release(stream, true),
        Err(TransportError::Refused(reason)) => session::go_inert(&format!("hello refused: {reason}")),
        Err(err) => crate::log!("session proxy unreachable, using the default policy: {err}"),
    }
}

fn request(message: Message) -> Result<Message, TransportError> {
    let mut stream = match pool().idle.lock().ok().and_then(|mut idle| idle.pop()) {
        Some(stream) => stream,
        None => connect()?,
    };
    let result = exchange(&mut stream, message);
    release(stream, result.is_ok());
    result
}

fn exchange(stream: &mut UnixStream, message: Message) -> Result<Message, TransportError> {
    client::exchange(stream, NEXT_ID.fetch_add(1, Ordering::Relaxed), message)
}

/// Connects and says hello; installs the policy from the answer.
fn connect() -> Result<UnixStream, TransportError> {
    let launch = launch::get();
    let (Some(path), Some(token)) = (&launch.proxy, &launch.session) else {
        return Err(TransportError::Connect(io::Error::from(io::ErrorKind::NotFound)));
    };
    let mut stream =
        UnixStream::connect(std::ffi::OsStr::from_bytes(path.to_bytes())).map_err(TransportError::Connect)?;
    stream.set_read_timeout(Some(launch.timeout)).map_err(TransportError::Connect)?;
    stream.set_write_timeout(Some(launch.timeout)).map_err(TransportError::Connect)?;
    fds::mark(stream.as_raw_fd());
    match client::hello(&mut stream, NEXT_ID.fetch_add(1, Ordering::Relaxed), token, std::process::id()) {
        Ok(ok) => {
            if let Some(policy) = &ok.policy {
                session::install(policy);
            }
            let _ = PARKS.set(ok.park);
            Ok(stream)
        }
        Err(err) => {
            discard(stream);
            Err(err)
        }
    }
}

/// Returns a connection after use. A connection whose fd the user process closed meanwhile
/// (see [`forget_fd`]) is forgotten, never closed: its number may belong to the user now.
fn release(stream: UnixStream, healthy: bool) {
    let fd = stream.as_raw_fd();
    if !fds::is_marked(fd) {
        std::mem::forget(stream);
        return;
    }
    if healthy {
        if let Ok(mut idle) = pool().idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(stream);
                return;
            }
        }
    }
    discard(stream);
}

fn discard(stream: UnixStream) {
    fds::unmark(stream.as_raw_fd());
    drop(stream);
}

/// The user process is closing (or `dup2`-ing over) `fd`: if it is an idle connection of ours,
/// drop it from the pool without closing it (the caller's close does that).
pub fn forget_fd(fd: i32) {
    let pool = pool();
    if let Ok(mut idle) = pool.idle.lock() {
        if let Some(index) = idle.iter().position(|stream| stream.as_raw_fd() == fd) {
            std::mem::forget(idle.swap_remove(index));
        }
    }
}

/// The error for a response of the wrong kind, logged.
pub fn unexpected(response: &Message) -> i32 {
    target::unexpected(&Requests, response)
}

/// This process's requests to the session proxy, for the target-side logic of
/// [`tether_hook_core::target`].
pub struct Requests;

impl target::Proxy for Requests {
    fn call(&self, request: Message) -> Result<Message, i32> {
        call(request)
    }

    fn note(&self, line: &str) {
        crate::log!("{line}");
    }
}
