//! This thread's errno, read and set; the mapping of failures to errno values is
//! [`tether_hook_core::errno`]'s, re-exported here.

pub use tether_hook_core::errno::*;

/// This thread's errno.
pub fn get() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets this thread's errno.
pub fn set(value: i32) {
    // SAFETY: as in `get`.
    unsafe { *libc::__errno_location() = value }
}
