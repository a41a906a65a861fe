//! Incoming traffic: a TCP socket that starts listening is reported to the session proxy
//! (`IncomingListen`), which subscribes the target's port; connections the daemon relays to it
//! come from loopback, so `accept` asks who the real client is (`IncomingPeer`) and reports
//! that address, as does `getpeername` later. Closing the listener unsubscribes it.
//!
//! Nothing here may fail the user's call: a report that fails is logged and the listener works
//! as it would without tether. With incoming traffic on, a socket this process did not report
//! costs `accept` a `getsockname`; only a loopback peer on a subscribed port costs a round trip.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use libc::{c_int, sockaddr, socklen_t};
use tether_hook_core::sockaddr as addrs;
use tether_hook_core::{incoming, outgoing};

use crate::guard::Outcome;
use crate::proxy::Requests;
use crate::{errno, fds, net, session};

/// A listening socket the daemon subscribed.
#[derive(Debug, Clone, Copy)]
struct Listener {
    port: u16,
    /// The process that reported it: only it unsubscribes on close (a forked worker closing
    /// its inherited copy does not).
    pid: u32,
}

static LISTENERS: LazyLock<Mutex<HashMap<c_int, Listener>>> = LazyLock::new(Mutex::default);

/// Takes this module's registry locks before a fork ([`crate::forks`]).
pub fn hold_for_fork(guards: &mut Vec<Box<dyn std::any::Any>>) {
    crate::guard::hold_for_fork(&LISTENERS, guards);
}

/// `fd` just started listening (the original `listen` succeeded).
pub fn listening(fd: c_int) {
    let Some(policy) = session::active() else { return };
    let Some(addr) = incoming::subscribed(&policy.incoming, fd) else { return };
    if is_listener(fd) {
        return;
    }
    match incoming::listen(&Requests, addr) {
        Ok(()) => {
            if let Ok(mut listeners) = LISTENERS.lock() {
                listeners.insert(fd, Listener { port: addr.port(), pid: std::process::id() });
                fds::mark(fd);
            }
        }
        Err(errno) => crate::log!("listening on {addr} without incoming traffic from the target (errno {errno})"),
    }
}

fn is_listener(fd: c_int) -> bool {
    fds::is_marked(fd) && LISTENERS.lock().is_ok_and(|listeners| listeners.contains_key(&fd))
}

/// `accept`/`accept4` on `fd`: on a subscribed listener, a connection relayed by the daemon
/// reports its real client in `addr` and, later, in `getpeername`. A listener this process did
/// not report itself — a `dup` of one (`socket.fromfd`), or one inherited across `execve` or
/// passed over a socket — counts when its port is one the policy subscribes, so the real client
/// is asked for there too, for loopback peers only.
pub fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    accept_original: impl FnOnce() -> c_int,
) -> Outcome<c_int> {
    let reported = is_listener(fd);
    if !reported && session::active().is_none_or(|policy| policy.incoming.mode.is_none()) {
        return Outcome::Bypass;
    }
    let accepted = accept_original();
    if accepted < 0 {
        return Outcome::Error(errno::get());
    }
    if !reported && session::active().and_then(|policy| incoming::subscribed(&policy.incoming, fd)).is_none() {
        return Outcome::Handled(accepted);
    }
    if let Some((real, relay)) = incoming::real_peer(&Requests, accepted) {
        net::remember_peer(accepted, real, relay);
        let family = outgoing::sockopt(accepted, libc::SO_DOMAIN).unwrap_or(libc::AF_INET);
        if let Some(real) = addrs::for_family(real, family) {
            // SAFETY: the caller's (addr, len) pair of accept; copy_out accepts nulls.
            unsafe { addrs::copy_out(real, addr, len) };
        }
    }
    Outcome::Handled(accepted)
}

/// `fd` is being closed or replaced: a subscribed listener of this process is unsubscribed.
pub fn forget(fd: c_int) {
    let removed = LISTENERS.lock().ok().and_then(|mut listeners| listeners.remove(&fd));
    if let Some(listener) = removed.filter(|listener| listener.pid == std::process::id()) {
        if let Err(errno) = incoming::unlisten(&Requests, listener.port) {
            crate::log!("unsubscribing port {} failed (errno {errno})", listener.port);
        }
    }
}
