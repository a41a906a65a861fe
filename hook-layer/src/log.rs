//! The layer's log: lines appended to `TETHER_LAYER_LOG` (nothing when it is unset).
//!
//! Each line opens, appends and closes the file with raw syscalls, so logging never touches a
//! file descriptor the user process may have closed or reused. Never log file contents or
//! environment values.

use std::fmt::{Arguments, Write};

use crate::launch;

/// Appends one line, prefixed with the pid.
pub fn line(args: Arguments<'_>) {
    let Some(path) = launch::get().log_path.as_ref() else {
        return;
    };
    let mut text = String::new();
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let _ = writeln!(text, "tether-layer[{pid}]: {args}");
    // SAFETY: `path` is a NUL-terminated CString; the flags and mode are valid for openat.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return;
    }
    // SAFETY: `fd` was just opened by us; the buffer is valid for its length.
    unsafe {
        libc::syscall(libc::SYS_write, fd, text.as_ptr(), text.len());
        libc::syscall(libc::SYS_close, fd);
    }
}

/// Says on the user process's stderr, once per process, why tether stopped working for it
/// (the daemon is gone, the session ended): the process sees only errnos otherwise. Also logged.
pub fn tell_once(why: Arguments<'_>) {
    static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TOLD.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut text = String::new();
    let _ = write!(text, "tether: {why}");
    if let Some(path) = launch::get().log_path.as_ref() {
        let _ = write!(text, "; see {}", path.to_string_lossy());
    }
    text.push('\n');
    // SAFETY: the buffer is valid for its length; fd 2 may be closed or anything, and a failed
    // write changes nothing for the process.
    unsafe { libc::syscall(libc::SYS_write, 2, text.as_ptr(), text.len()) };
}

/// `log!("format", args..)`: formats lazily, only when a log file is configured.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
