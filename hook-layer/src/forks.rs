//! Fork safety. The layer's descriptor registries are mutexes; a child forked while another
//! thread held one would inherit it locked, and its next `close` would hang forever. So, as
//! glibc does for malloc, a `pthread_atfork` prepare handler takes every registry lock before
//! the fork and the parent and child handlers release them, leaving each registry consistent
//! and unlocked on both sides. No code path holds two registry locks at once, so the fixed
//! order here cannot deadlock against one.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    /// The guards taken by `before_fork`, kept by the forking thread until the fork returns.
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

static REGISTER: Once = Once::new();

/// Installs the fork handlers (once per process; children inherit them).
pub fn register() {
    REGISTER.call_once(|| {
        // SAFETY: the handlers are `extern "C" fn()` that only lock, unlock and store atomics.
        if unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork_in_parent), Some(after_fork_in_child)) }
            != 0
        {
            crate::log!(
                "cannot register fork handlers: a fork during a hooked call on another thread may hang the child"
            );
        }
    });
}

extern "C" fn before_fork() {
    let mut guards = Vec::new();
    crate::dirs::hold_for_fork(&mut guards);
    crate::net::hold_for_fork(&mut guards);
    crate::incoming::hold_for_fork(&mut guards);
    crate::writeback::hold_for_fork(&mut guards);
    crate::memfds::hold_for_fork(&mut guards);
    HELD.with(|held| *held.borrow_mut() = guards);
}

extern "C" fn after_fork_in_parent() {
    HELD.with(|held| held.borrow_mut().clear());
}

extern "C" fn after_fork_in_child() {
    crate::writeback::forked();
    HELD.with(|held| held.borrow_mut().clear());
}
