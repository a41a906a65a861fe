//! Trapped incoming-traffic calls, trapped only when the session has incoming traffic on.
//! `listen` of a socket bound to a port the policy subscribes is made by the supervisor, on a
//! duplicate of the program's socket, and reported (`tether_hook_core::incoming`), so that the
//! daemon sends the target's connections to it. `accept`/`accept4` on such a listener are made
//! by the supervisor too: for a connection the daemon relayed, the call reports the real client,
//! as `getpeername` does later ([`net::accepted`]), and the connection is handed to the program
//! as the call's answer.
//!
//! A listener the program closes stays subscribed until the session ends (`close` is trapped
//! only in write mode): the daemon's connections to it are then refused, as the target's would
//! be by a server that stopped listening.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use tether_hook_core::{incoming, outgoing, sockaddr};

use crate::net;
use crate::process::Thread;
use crate::seccomp::{Answer, Notification};
use crate::serve::Served;

/// How long a blocking `accept` waits between looks at whether its call is still wanted.
const WAKE: Duration = Duration::from_millis(200);

/// The kernel's "restart the call" code: with it, a call interrupted by a signal handler is
/// restarted by the kernel (`SA_RESTART`) or fails with `EINTR`, exactly as an unsupervised
/// blocking call would.
const ERESTARTSYS: i32 = 512;

/// Answers a trapped incoming call; `None` when `nr` is not one.
pub fn answer(served: &Served<'_>, call: &Notification) -> Option<Answer> {
    let args = call.data.args;
    let answer = match i64::from(call.data.nr) {
        libc::SYS_listen => listen(served, call, args[0] as i32, args[1] as i32),
        libc::SYS_accept => accept(served, call, args[0] as i32, args[1], args[2], 0),
        libc::SYS_accept4 => accept(served, call, args[0] as i32, args[1], args[2], args[3] as i32),
        _ => return None,
    };
    Some(answer)
}

fn listen(served: &Served<'_>, call: &Notification, fd: i32, backlog: i32) -> Answer {
    let Ok(socket) = Thread(call.pid).take_fd(fd) else {
        return Answer::Continue;
    };
    let Some(addr) = incoming::subscribed(&served.policy.incoming, socket.as_raw_fd()) else {
        return Answer::Continue;
    };
    if !served.listener.is_valid(call.id) {
        return Answer::Continue;
    }
    // SAFETY: listen on a descriptor we own (the program's socket: it listens from now on).
    if unsafe { libc::listen(socket.as_raw_fd(), backlog) } != 0 {
        return Answer::Error(last_errno());
    }
    if let Err(errno) = incoming::listen(&served.requests, addr) {
        served.session.log(&format!("listening on {addr} without incoming traffic from the target (errno {errno})"));
    }
    Answer::Value(0)
}

/// `accept`/`accept4` on a subscribed listener. A non-blocking listener is answered at once
/// (`EAGAIN` when nothing waits); a blocking one waits on a thread of its own, so that a server
/// waiting for clients holds no serving thread.
fn accept(served: &Served<'_>, call: &Notification, fd: i32, addr: u64, len_addr: u64, flags: i32) -> Answer {
    let Ok(listener) = Thread(call.pid).take_fd(fd) else {
        return Answer::Continue;
    };
    if incoming::subscribed(&served.policy.incoming, listener.as_raw_fd()).is_none() {
        return Answer::Continue;
    }
    if outgoing::is_nonblocking(listener.as_raw_fd()) {
        return accept_now(served, call, &listener, (addr, len_addr), flags);
    }
    let (shared, call) = (Arc::clone(served.shared), *call);
    let waiting = std::thread::Builder::new().name("tether-supervisor-accept".into()).spawn(move || {
        let served = Served::new(&shared);
        let answer = match wait_for_client(&served, &call, &listener) {
            Ok(()) => accept_now(&served, &call, &listener, (addr, len_addr), flags),
            Err(errno) => Answer::Error(errno),
        };
        shared.listener.answer(call.id, answer);
    });
    match waiting {
        Ok(_) => Answer::Later,
        Err(_) => Answer::Continue,
    }
}

/// Waits until `listener` has a client, the call went away, or a signal is pending for the
/// calling thread (then the call is restarted or interrupted as the kernel would).
fn wait_for_client(served: &Served<'_>, call: &Notification, listener: &OwnedFd) -> Result<(), i32> {
    loop {
        let mut poll = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd, valid for the call.
        if unsafe { libc::poll(&mut poll, 1, WAKE.as_millis() as i32) } > 0 {
            return Ok(());
        }
        if !served.listener.is_valid(call.id) {
            return Err(libc::EINTR);
        }
        if Thread(call.pid).has_pending_signal() {
            return Err(ERESTARTSYS);
        }
    }
}

/// Accepts on `listener` with the program's `flags`, reports the client at `out` (an
/// `(addr, len)` pair of the call, which may be null) and hands the connection over.
fn accept_now(served: &Served<'_>, call: &Notification, listener: &OwnedFd, out: (u64, u64), flags: i32) -> Answer {
    let own_flags = libc::SOCK_CLOEXEC | (flags & libc::SOCK_NONBLOCK);
    // SAFETY: accept4 on a descriptor we own, without an address.
    let accepted =
        unsafe { libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), own_flags) };
    if accepted < 0 {
        return Answer::Error(last_errno());
    }
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let connection = unsafe { OwnedFd::from_raw_fd(accepted) };
    let raw = connection.as_raw_fd();
    let client = match incoming::real_peer(&served.requests, raw) {
        Some((real, relay)) => {
            net::accepted(served, &connection, real, relay);
            Some(real)
        }
        None => incoming::peer_addr(raw),
    };
    let family = outgoing::sockopt(raw, libc::SO_DOMAIN).unwrap_or(libc::AF_INET);
    if let Some(client) = client.and_then(|client| sockaddr::for_family(client, family)).filter(|_| out.0 != 0) {
        if let Err(errno) = net::write_address(Thread(call.pid), client, out.0, out.1) {
            return Answer::Error(errno);
        }
    }
    served.listener.send_fd(call.id, &connection, flags & libc::SOCK_CLOEXEC != 0)
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}
