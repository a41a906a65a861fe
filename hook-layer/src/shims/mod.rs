//! The exported `extern "C"` symbols. Each shim: re-entry guard and panic catching
//! ([`guard::run`]), the logic (another module), and the original symbol on bypass.
//!
//! Variadic `open`-style functions are declared with their optional `mode` argument: on
//! x86_64 a variadic argument travels in the same register as a named one, and (like glibc)
//! the mode is only read when `O_CREAT`/`O_TMPFILE` says it was passed.

use std::ffi::CStr;

use libc::c_char;

use crate::guard::Outcome;

mod dirs;
mod dns;
mod exec;
mod files;
mod incoming;
mod meta;
mod net;
#[cfg(target_arch = "x86_64")]
mod syscall;
mod uts;

/// Runs `logic` on a path argument; a null path bypasses (the original reports `EFAULT`).
fn on_path<T>(path: *const c_char, logic: impl FnOnce(&CStr) -> Outcome<T>) -> Outcome<T> {
    if path.is_null() {
        return Outcome::Bypass;
    }
    // SAFETY: a non-null path argument of a libc call is a NUL-terminated string (the caller's
    // contract with libc, which we inherit).
    logic(unsafe { CStr::from_ptr(path) })
}
