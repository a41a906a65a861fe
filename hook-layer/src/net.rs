//! Outgoing TCP and UDP from the target's network: `connect`/`sendto`/`sendmsg` to target
//! destinations are redirected to the session proxy's loopback relay (`OutgoingTcp`,
//! `OutgoingUdp`), and the real destination is reported back (`getpeername`, datagram sources).
//! A non-blocking TCP socket waits in one of the daemon's parks instead, connecting, until its
//! target side settles; its `SO_ERROR` then reports the target's outcome (see `daemon/src/parking.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{LazyLock, Mutex};

use libc::{c_int, sockaddr, socklen_t};
use tether_hook_core::policy::Transport;
use tether_hook_core::sockaddr::{copy_out, read_sockaddr, to_storage};
use tether_hook_core::{outgoing, route};

use crate::guard::Outcome;
use crate::proxy::{self, Requests};
use crate::{errno, fds, session};

/// What the layer knows about one of the user's sockets.
#[derive(Debug, Default)]
struct Redirected {
    /// The connected destination: `(real, proxy)`.
    peer: Option<(SocketAddr, SocketAddr)>,
    /// UDP destinations used with `sendto`/`sendmsg`: `(real, proxy)`.
    routes: Vec<(SocketAddr, SocketAddr)>,
    /// The connection's own address in the target's network, for `getsockname`.
    local: Option<SocketAddr>,
    /// The local port of a socket waiting in a park ([`connect_parked`]) whose outcome the layer has
    /// not learnt yet.
    parked: Option<u16>,
}

static SOCKETS: LazyLock<Mutex<HashMap<c_int, Redirected>>> = LazyLock::new(Mutex::default);

/// Takes this module's registry locks before a fork ([`crate::forks`]).
pub fn hold_for_fork(guards: &mut Vec<Box<dyn std::any::Any>>) {
    crate::guard::hold_for_fork(&SOCKETS, guards);
}

/// Resolves a host name of `outgoing.local` with the host's resolver (the original
/// `getaddrinfo`: this runs inside the guard).
fn resolve_on_host(name: &str) -> Vec<IpAddr> {
    let Ok(name) = std::ffi::CString::new(name) else {
        return Vec::new();
    };
    // SAFETY: addrinfo is plain data; zeroed hints mean "any".
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C string, hints and out-pointer.
    if unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut list) } != 0 {
        return Vec::new();
    }
    let mut addrs = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // SAFETY: `node` belongs to the list getaddrinfo returned.
        let ai = unsafe { &*node };
        // SAFETY: getaddrinfo's entries carry valid addresses of their length.
        addrs.extend(unsafe { read_sockaddr(ai.ai_addr, ai.ai_addrlen) }.map(|addr| addr.ip()));
        node = ai.ai_next;
    }
    // SAFETY: `list` came from getaddrinfo.
    unsafe { libc::freeaddrinfo(list) };
    addrs
}

/// A socket, its family and transport, when `dest` is a target destination for it.
fn target_route(fd: c_int, dest: SocketAddr) -> Option<(c_int, Transport)> {
    // Before the two getsockopt calls: most connections of most programs are to loopback.
    let ip = dest.ip().to_canonical();
    if ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    let policy = session::active()?;
    let (family, transport) = outgoing::kind(fd)?;
    policy.outgoing.is_target(dest, transport, &resolve_on_host).then_some((family, transport))
}

fn remember(fd: c_int, update: impl FnOnce(&mut Redirected)) {
    if let Ok(mut sockets) = SOCKETS.lock() {
        update(sockets.entry(fd).or_default());
        fds::mark(fd);
    }
}

/// `fd` is a connection relayed from `relay` for the real client `real` (incoming traffic):
/// `getpeername` reports `real`.
pub fn remember_peer(fd: c_int, real: SocketAddr, relay: SocketAddr) {
    remember(fd, |state| state.peer = Some((real, relay)));
}

/// `connect`: target destinations are connected to their relay instead, or, for a
/// non-blocking TCP socket, to a park until the target's side is connected.
pub fn connect(
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
    connect_original: impl Fn(*const sockaddr, socklen_t) -> c_int,
) -> Outcome<c_int> {
    // SAFETY: `(addr, len)` are the arguments of the program's `connect`, valid by its contract.
    let Some(dest) = (unsafe { read_sockaddr(addr, len) }) else {
        return Outcome::Bypass;
    };
    if let Some(relay) = connected_to(fd, dest) {
        return connect_again(fd, relay, connect_original);
    }
    let Some((family, transport)) = target_route(fd, dest) else {
        return Outcome::Bypass;
    };
    if transport == Transport::Tcp && outgoing::is_nonblocking(fd) {
        let parked = outgoing::park(&Requests, proxy::parks(), fd, family, dest, |park| {
            let (storage, len) = to_storage(park);
            match connect_original((&storage as *const libc::sockaddr_storage).cast(), len) {
                0 => 0,
                _ => errno::get(),
            }
        });
        if let Some(parked) = parked {
            return after_parking(fd, dest, parked);
        }
    }
    let (relay, local) = match outgoing::open_relay(&Requests, fd, family, transport, dest) {
        Ok(opened) => opened,
        Err(errno) => return Outcome::Error(errno),
    };
    let (storage, relay_len) = to_storage(relay);
    let rc = connect_original((&storage as *const libc::sockaddr_storage).cast(), relay_len);
    let code = errno::get();
    if rc == 0 || code == libc::EINPROGRESS {
        remember(fd, |state| {
            state.peer = Some((dest, relay));
            state.local = local;
        });
    }
    if rc == 0 {
        Outcome::Handled(0)
    } else {
        Outcome::Error(code)
    }
}

/// The relay or park `fd` was connected to for `dest` by an earlier `connect`.
fn connected_to(fd: c_int, dest: SocketAddr) -> Option<SocketAddr> {
    if !fds::is_marked(fd) {
        return None;
    }
    let sockets = SOCKETS.lock().ok()?;
    sockets.get(&fd)?.peer.filter(|(real, _)| *real == dest).map(|(_, relay)| relay)
}

/// A `connect` repeated to learn how the first one went (`EALREADY` while connecting, 0 or
/// `EISCONN` once connected): the kernel's answer, with the target's errno for a failure.
fn connect_again(
    fd: c_int,
    relay: SocketAddr,
    connect_original: impl FnOnce(*const sockaddr, socklen_t) -> c_int,
) -> Outcome<c_int> {
    let (storage, relay_len) = to_storage(relay);
    let code = match connect_original((&storage as *const libc::sockaddr_storage).cast(), relay_len) {
        0 => 0,
        _ => errno::get(),
    };
    match settle(fd, code) {
        0 => Outcome::Handled(0),
        code => Outcome::Error(code),
    }
}

/// Remembers how a parked connect of `fd` to `dest` stands and answers `connect` with it.
fn after_parking(fd: c_int, dest: SocketAddr, parked: Result<(u16, outgoing::Parked), i32>) -> Outcome<c_int> {
    let (local_port, stands) = match parked {
        Ok(parked) => parked,
        Err(errno) => {
            forget(fd);
            return Outcome::Error(errno);
        }
    };
    let (parked, local, answer) = match stands {
        outgoing::Parked::InProgress => (Some(local_port), None, Outcome::Error(libc::EINPROGRESS)),
        outgoing::Parked::Connected(local) => (None, local, Outcome::Handled(0)),
    };
    let park = route::park_for(proxy::parks(), dest, outgoing::sockopt(fd, libc::SO_DOMAIN).unwrap_or(libc::AF_INET));
    remember(fd, |state| {
        state.peer = park.map(|park| (dest, park));
        state.local = local;
        state.parked = parked;
    });
    answer
}

/// What a parked socket's `SO_ERROR` (or repeated `connect`) reports, given the kernel's
/// `real` answer: the target's errno once its side failed (the daemon reset the socket),
/// else `real`. Learning a connected outcome also learns the socket's address in the target.
fn settle(fd: c_int, real: c_int) -> c_int {
    let Some(local_port) = SOCKETS.lock().ok().and_then(|sockets| sockets.get(&fd)?.parked) else {
        return real;
    };
    let family = outgoing::sockopt(fd, libc::SO_DOMAIN).unwrap_or(libc::AF_INET);
    let Some((reported, local)) = outgoing::outcome(&Requests, local_port, family, real) else {
        return real;
    };
    remember(fd, |state| {
        state.parked = None;
        state.local = local;
    });
    reported
}

/// `getsockopt(SO_ERROR)` on a parked socket: see [`settle`]; bypass for anything else.
///
/// # Safety
/// `(value, len)` must be valid as for the real call.
pub unsafe fn so_error(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut libc::c_void,
    len: *mut socklen_t,
    original: impl FnOnce() -> c_int,
) -> Outcome<c_int> {
    if level != libc::SOL_SOCKET || name != libc::SO_ERROR || !is_parked(fd) {
        return Outcome::Bypass;
    }
    if original() != 0 {
        return Outcome::Error(errno::get());
    }
    // SAFETY: the caller's buffers, which the kernel just filled; an int only when it fits.
    unsafe {
        if value.is_null() || len.is_null() || (*len as usize) < std::mem::size_of::<c_int>() {
            return Outcome::Handled(0);
        }
        let real = value.cast::<c_int>().read_unaligned();
        value.cast::<c_int>().write_unaligned(settle(fd, real));
    }
    Outcome::Handled(0)
}

fn is_parked(fd: c_int) -> bool {
    fds::is_marked(fd)
        && SOCKETS.lock().is_ok_and(|sockets| sockets.get(&fd).is_some_and(|state| state.parked.is_some()))
}

/// `getpeername` on a redirected socket: the real destination.
pub fn getpeername(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    original: impl FnOnce() -> c_int,
) -> Outcome<c_int> {
    // SAFETY: the caller's buffers, as for the real getpeername.
    unsafe { report(fd, addr, len, original, |state| state.peer.map(|(real, _)| real)) }
}

/// `getsockname` on a redirected socket: its address in the target's network, when known.
pub fn getsockname(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    original: impl FnOnce() -> c_int,
) -> Outcome<c_int> {
    if is_parked(fd) {
        settle(fd, 0);
    }
    // SAFETY: the caller's buffers, as for the real getsockname.
    unsafe { report(fd, addr, len, original, |state| state.local) }
}

/// Answers a `get*name` call on `fd` with the address `pick` finds in its state, once the real
/// call (`original`, into a private buffer) says `fd` is still such a socket; bypass otherwise.
///
/// # Safety
/// `(addr, len)` must be valid as for the real call.
unsafe fn report(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    original: impl FnOnce() -> c_int,
    pick: impl Fn(&Redirected) -> Option<SocketAddr>,
) -> Outcome<c_int> {
    if !fds::is_marked(fd) {
        return Outcome::Bypass;
    }
    let Some(reported) = SOCKETS.lock().ok().and_then(|sockets| sockets.get(&fd).and_then(&pick)) else {
        return Outcome::Bypass;
    };
    if original() != 0 {
        return Outcome::Error(errno::get());
    }
    // SAFETY: the caller's contract.
    unsafe { copy_out(reported, addr, len) };
    Outcome::Handled(0)
}

/// The relay for datagrams from `fd` to `dest`, opened on first use; `None` for host destinations.
pub fn datagram_relay(
    fd: c_int,
    dest: *const sockaddr,
    len: socklen_t,
) -> Outcome<(libc::sockaddr_storage, socklen_t)> {
    // SAFETY: `(dest, len)` are the arguments of the program's call, valid by its contract.
    let Some(dest) = (unsafe { read_sockaddr(dest, len) }) else {
        return Outcome::Bypass;
    };
    let known = SOCKETS
        .lock()
        .ok()
        .and_then(|sockets| sockets.get(&fd)?.routes.iter().find(|(real, _)| *real == dest).map(|(_, relay)| *relay));
    let relay = match known {
        Some(relay) => relay,
        None => {
            let Some((family, Transport::Udp)) = target_route(fd, dest) else {
                return Outcome::Bypass;
            };
            // An unconnected socket's own address is one for every destination: it stays the
            // host's.
            match outgoing::open_relay(&Requests, fd, family, Transport::Udp, dest) {
                Ok((relay, _)) => {
                    remember(fd, |state| state.routes.push((dest, relay)));
                    relay
                }
                Err(errno) => return Outcome::Error(errno),
            }
        }
    };
    Outcome::Handled(to_storage(relay))
}

/// The real source for a datagram received on `fd` from `source`, when it came from a relay.
pub fn real_source(fd: c_int, source: SocketAddr) -> Option<SocketAddr> {
    let sockets = SOCKETS.lock().ok()?;
    let state = sockets.get(&fd)?;
    let same =
        |relay: &SocketAddr| relay.ip().to_canonical() == source.ip().to_canonical() && relay.port() == source.port();
    state.peer.iter().chain(&state.routes).find(|(_, relay)| same(relay)).map(|(real, _)| *real)
}

/// Whether `fd` has redirect state (checked before the slower receive paths).
pub fn is_redirected(fd: c_int) -> bool {
    fds::is_marked(fd) && SOCKETS.lock().is_ok_and(|sockets| sockets.contains_key(&fd))
}

/// `fd` is being closed or replaced.
pub fn forget(fd: c_int) {
    if let Ok(mut sockets) = SOCKETS.lock() {
        sockets.remove(&fd);
    }
}
