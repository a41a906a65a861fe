//! Says on stderr, before a child starts, when the program it runs is one the layer cannot
//! hook (a static or Go program, see [`tether_rpc_schema::linkage`]), so the user learns why it
//! sees this machine's files and network instead of finding out from wrong answers.

use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;

use libc::c_char;
use tether_rpc_schema::linkage::{linkage, Linkage};

use crate::launch;

/// Warns about the program `path` (searched for in `PATH` when `search` and it has no slash,
/// as `execvp` does) if the layer cannot serve it. Only in a process with a session.
pub fn warn_if_unhookable(path: *const c_char, search: bool) {
    if path.is_null() || launch::get().proxy.is_none() {
        return;
    }
    // SAFETY: exec's contract: `path` is a NUL-terminated string.
    let path = unsafe { CStr::from_ptr(path) }.to_bytes();
    let Some(program) = resolve(path, search) else { return };
    let Some(warning) = linkage_of(&program).warning() else { return };
    let text = format!("tether: warning: {} {warning}\n", String::from_utf8_lossy(&program));
    crate::log!("{}", text.trim_end());
    // SAFETY: the buffer is valid for its length; a failed write to fd 2 changes nothing.
    unsafe { libc::syscall(libc::SYS_write, 2, text.as_ptr(), text.len()) };
}

/// The file `execvp` would run for `path`.
fn resolve(path: &[u8], search: bool) -> Option<Vec<u8>> {
    if !search || path.contains(&b'/') {
        return Some(path.to_vec());
    }
    let dirs = std::env::var_os("PATH")?;
    dirs.as_bytes().split(|byte| *byte == b':').find_map(|dir| {
        let dir = if dir.is_empty() { b".".as_slice() } else { dir };
        let candidate = [dir, b"/", path].concat();
        let c_path = std::ffi::CString::new(candidate.clone()).ok()?;
        // SAFETY: `c_path` is NUL-terminated.
        let executable = unsafe { libc::syscall(libc::SYS_faccessat, libc::AT_FDCWD, c_path.as_ptr(), libc::X_OK) };
        (executable == 0).then_some(candidate)
    })
}

/// The program's linkage, read with raw system calls (never through the layer's own hooks).
fn linkage_of(program: &[u8]) -> Linkage {
    let Ok(c_path) = std::ffi::CString::new(program) else { return Linkage::Hookable };
    // SAFETY: `c_path` is NUL-terminated; the flags are valid for openat.
    let fd = unsafe {
        libc::syscall(libc::SYS_openat, libc::AT_FDCWD, c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC, 0)
    };
    if fd < 0 {
        return Linkage::Hookable;
    }
    let found = linkage(|offset, buffer| {
        // SAFETY: `fd` is ours and open; the buffer is valid for its length.
        let read = unsafe { libc::syscall(libc::SYS_pread64, fd, buffer.as_mut_ptr(), buffer.len(), offset) };
        usize::try_from(read).unwrap_or(0)
    });
    // SAFETY: `fd` is ours.
    unsafe { libc::syscall(libc::SYS_close, fd) };
    found
}
