//! The thread-local re-entry guard, the shape every hook's logic returns, and the registry
//! locks held across a `fork` ([`hold_for_fork`], see [`crate::forks`]).
//!
//! While a thread runs layer code, every hooked symbol it calls (the layer's own `open`,
//! `connect`, `close` ...) goes straight to the original: the layer does its I/O through libc
//! without recursing into itself.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, PoisonError};

use crate::errno;

thread_local! {
    /// Set while this thread runs layer logic. `const`, without a destructor, so it is usable
    /// at any point of a thread's life (including TLS teardown).
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// What a hook's logic decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The layer answered the call; this is the return value.
    Handled(T),
    /// The call concerns the host: run the original symbol.
    Bypass,
    /// The call failed with this errno; the shim returns its failure value.
    Error(i32),
}

impl<T> Outcome<T> {
    /// Transforms a handled value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Handled(value) => Outcome::Handled(f(value)),
            Outcome::Bypass => Outcome::Bypass,
            Outcome::Error(errno) => Outcome::Error(errno),
        }
    }

    /// The handled value, if any.
    pub fn handled(self) -> Option<T> {
        match self {
            Outcome::Handled(value) => Some(value),
            _ => None,
        }
    }
}

/// Shorthand for logic that runs `?` on errno results.
impl<T> From<Result<T, i32>> for Outcome<T> {
    fn from(result: Result<T, i32>) -> Self {
        match result {
            Ok(value) => Outcome::Handled(value),
            Err(errno) => Outcome::Error(errno),
        }
    }
}

/// Runs a hook: `logic` inside the guard, `original` when the logic bypasses or when this
/// thread is already inside the layer. `fail` is returned (with errno set) on errors and
/// panics. errno is restored before a bypass and after a handled call, so the layer's own
/// failed probes never leak into the caller's errno.
pub fn run<T>(fail: T, logic: impl FnOnce() -> Outcome<T>, original: impl FnOnce() -> T) -> T {
    if INSIDE.with(|inside| inside.replace(true)) {
        return original();
    }
    let saved = errno::get();
    let result = catch_unwind(AssertUnwindSafe(logic));
    INSIDE.with(|inside| inside.set(false));
    match result {
        Ok(Outcome::Handled(value)) => {
            errno::set(saved);
            value
        }
        Ok(Outcome::Bypass) => {
            errno::set(saved);
            original()
        }
        Ok(Outcome::Error(code)) => {
            errno::set(code);
            fail
        }
        Err(_) => {
            crate::log::line(format_args!("internal error (panic) in a hook, returning EIO"));
            errno::set(libc::EIO);
            fail
        }
    }
}

/// Runs `f` (a user callback such as a `scandir` filter) with the guard released, so the
/// calls it makes are hooked like any other call of the user process.
pub fn outside<R>(f: impl FnOnce() -> R) -> R {
    let was = INSIDE.with(|inside| inside.replace(false));
    let result = f();
    INSIDE.with(|inside| inside.set(was));
    result
}

/// Whether this thread is running layer code (used by code that runs outside [`run`], such
/// as the constructor).
pub fn enter() -> bool {
    !INSIDE.with(|inside| inside.replace(true))
}

/// Leaves the guard entered by a successful [`enter`].
pub fn leave() {
    INSIDE.with(|inside| inside.set(false));
}

/// Adds a registry's lock, taken, to the guards [`crate::forks`] holds until a fork completes.
pub fn hold_for_fork<T: 'static>(registry: &'static Mutex<T>, guards: &mut Vec<Box<dyn Any>>) {
    guards.push(Box::new(registry.lock().unwrap_or_else(PoisonError::into_inner)));
}
