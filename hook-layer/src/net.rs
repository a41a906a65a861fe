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
use tether_hook_core::route;
use tether_hook_core::sockaddr::{canonical, copy_out, for_family, from_storage, read_sockaddr, to_storage};
use tether_rpc_schema::wire::Message;

use crate::guard::Outcome;
use crate::{errno, fds, proxy, session};

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

pub fn sockopt(fd: c_int, option: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `value` and `len` are valid out-pointers of the right size.
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, option, (&mut value as *mut c_int).cast(), &mut len) };
    (rc == 0).then_some(value)
}

pub fn local_addr(fd: c_int) -> Result<SocketAddr, i32> {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: `storage`/`len` are valid out-pointers.
    if unsafe { libc::getsockname(fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len) } != 0 {
        return Err(errno::get());
    }
    from_storage(&storage, len).ok_or(libc::EAFNOSUPPORT)
}

/// The socket's local port, binding it to the unspecified address first when unbound.
fn bound_port(fd: c_int, family: c_int) -> Result<u16, i32> {
    let local = local_addr(fd)?;
    if local.port() != 0 {
        return Ok(local.port());
    }
    let any = if family == libc::AF_INET6 { SocketAddr::from(([0u16; 8], 0)) } else { SocketAddr::from(([0u8; 4], 0)) };
    let (storage, len) = to_storage(any);
    // SAFETY: `storage` holds a valid sockaddr of length `len`.
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(errno::get());
    }
    Ok(local_addr(fd)?.port())
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
    let transport = match sockopt(fd, libc::SO_TYPE)? {
        libc::SOCK_STREAM => Transport::Tcp,
        libc::SOCK_DGRAM => Transport::Udp,
        _ => return None,
    };
    let family = sockopt(fd, libc::SO_DOMAIN)?;
    policy.outgoing.is_target(dest, transport, &resolve_on_host).then_some((family, transport))
}

/// Asks the proxy for a relay of `fd` to `dest`; returns the relay address in the socket's
/// family, and the connection's own address in the target's network when the daemon knows it.
fn open_relay(
    fd: c_int,
    family: c_int,
    transport: Transport,
    dest: SocketAddr,
) -> Result<(SocketAddr, Option<SocketAddr>), i32> {
    let local_port = bound_port(fd, family)?;
    let addr = canonical(dest);
    let request = match transport {
        Transport::Tcp => Message::OutgoingTcp { addr, local_port, park: None },
        Transport::Udp => Message::OutgoingUdp { addr, local_port },
    };
    match proxy::call(request)? {
        Message::OutgoingReady { proxy_addr, local } => {
            let relay = for_family(proxy_addr, family).ok_or_else(|| {
                crate::log!("relay address {proxy_addr} does not fit the socket's family");
                libc::EAFNOSUPPORT
            })?;
            Ok((relay, local.and_then(|local| for_family(local, family))))
        }
        other => Err(proxy::unexpected(&other)),
    }
}

fn is_nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
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
    connect_original: impl FnOnce(*const sockaddr, socklen_t) -> c_int,
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
    if transport == Transport::Tcp && is_nonblocking(fd) {
        if let Some(park) = route::park_for(proxy::parks(), dest, family) {
            return connect_parked(fd, family, dest, park, connect_original);
        }
    }
    let (relay, local) = match open_relay(fd, family, transport, dest) {
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

/// Connects the non-blocking `fd` to `park`, where it stays connecting (the park drops its
/// SYN), and tells the daemon, which connects or resets it once the target's side settles. An
/// outcome the daemon knows at once is `connect`'s answer.
fn connect_parked(
    fd: c_int,
    family: c_int,
    dest: SocketAddr,
    park: SocketAddr,
    connect_original: impl FnOnce(*const sockaddr, socklen_t) -> c_int,
) -> Outcome<c_int> {
    let local_port = match bound_port(fd, family) {
        Ok(port) => port,
        Err(errno) => return Outcome::Error(errno),
    };
    let (storage, park_len) = to_storage(park);
    if connect_original((&storage as *const libc::sockaddr_storage).cast(), park_len) == 0 {
        crate::log!("a park accepted a connection; it must drop every SYN");
        return Outcome::Error(libc::EIO);
    }
    match errno::get() {
        libc::EINPROGRESS => {}
        code => return Outcome::Error(code),
    }
    remember(fd, |state| {
        state.peer = Some((dest, park));
        state.local = None;
        state.parked = Some(local_port);
    });
    let request = Message::OutgoingTcp { addr: canonical(dest), local_port, park: Some(canonical(park)) };
    let code = match proxy::call(request) {
        Ok(Message::Done) => return Outcome::Error(libc::EINPROGRESS),
        Ok(Message::OutgoingConnected { local }) => {
            remember(fd, |state| {
                state.parked = None;
                state.local = local.and_then(|local| for_family(local, family));
            });
            return Outcome::Handled(0);
        }
        Ok(other) => proxy::unexpected(&other),
        Err(code) => code,
    };
    abandon(fd);
    Outcome::Error(code)
}

/// Leaves a parked socket unconnected again, as a failed `connect` does.
fn abandon(fd: c_int) {
    forget(fd);
    // SAFETY: AF_UNSPEC disconnects; the sockaddr is plain data of the right size.
    let unspec = libc::sockaddr { sa_family: libc::AF_UNSPEC as libc::sa_family_t, sa_data: [0; 14] };
    // SAFETY: a valid sockaddr of its size.
    unsafe { libc::connect(fd, &unspec, std::mem::size_of::<libc::sockaddr>() as socklen_t) };
    // The disconnect leaves ECONNRESET pending; the caller reports its own errno.
    let _ = sockopt(fd, libc::SO_ERROR);
}

/// What a parked socket's `SO_ERROR` (or repeated `connect`) reports, given the kernel's
/// `real` answer: the target's errno once its side failed (the daemon reset the socket),
/// else `real`. Learning a connected outcome also learns the socket's address in the target.
fn settle(fd: c_int, real: c_int) -> c_int {
    let Some(local_port) = SOCKETS.lock().ok().and_then(|sockets| sockets.get(&fd)?.parked) else {
        return real;
    };
    let (local, reported) = match proxy::call(Message::OutgoingOutcome { local_port }) {
        Ok(Message::OutgoingConnected { local }) => (local, real),
        Ok(other) => {
            proxy::unexpected(&other);
            return real;
        }
        Err(libc::EINPROGRESS) => return real,
        // The daemon no longer knows it (it restarted, or the outcome was never asked for
        // within a minute): the kernel's answer is all there is.
        Err(libc::ENOENT) => (None, real),
        Err(target) => (None, route::settled_errno(real, target)),
    };
    let family = sockopt(fd, libc::SO_DOMAIN).unwrap_or(libc::AF_INET);
    remember(fd, |state| {
        state.parked = None;
        state.local = local.and_then(|local| for_family(local, family));
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
            match open_relay(fd, family, Transport::Udp, dest) {
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
