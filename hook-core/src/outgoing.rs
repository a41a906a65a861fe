//! The steps of an outgoing connection from the target's network, on a socket descriptor the
//! caller holds (the program's own, in the layer; a duplicate of it, in the supervisor): ask
//! the session proxy for a relay (`OutgoingTcp`, `OutgoingUdp`), or park a non-blocking socket
//! until the target's side settles (`OutgoingTcp { park }`), and learn its outcome
//! (`OutgoingOutcome`). What a caller remembers about the socket is its own.

use std::net::SocketAddr;

use libc::{c_int, socklen_t};
use tether_rpc_schema::wire::Message;

use crate::policy::Transport;
use crate::route;
use crate::sockaddr::{canonical, for_family, from_storage, to_storage};
use crate::target::{unexpected, Proxy};

/// An integer socket option of `SOL_SOCKET`.
pub fn sockopt(fd: c_int, option: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as socklen_t;
    // SAFETY: `value` and `len` are valid out-pointers of the right size.
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, option, (&mut value as *mut c_int).cast(), &mut len) };
    (rc == 0).then_some(value)
}

/// The socket's family and transport, for the sockets tether redirects (TCP and UDP).
pub fn kind(fd: c_int) -> Option<(c_int, Transport)> {
    let transport = match sockopt(fd, libc::SO_TYPE)? {
        libc::SOCK_STREAM => Transport::Tcp,
        libc::SOCK_DGRAM => Transport::Udp,
        _ => return None,
    };
    Some((sockopt(fd, libc::SO_DOMAIN)?, transport))
}

/// The socket's own address.
pub fn local_addr(fd: c_int) -> Result<SocketAddr, i32> {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: `storage`/`len` are valid out-pointers.
    if unsafe { libc::getsockname(fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len) } != 0 {
        return Err(last_errno());
    }
    from_storage(&storage, len).ok_or(libc::EAFNOSUPPORT)
}

/// The socket's local port, binding it to the unspecified address first when unbound.
pub fn bound_port(fd: c_int, family: c_int) -> Result<u16, i32> {
    let local = local_addr(fd)?;
    if local.port() != 0 {
        return Ok(local.port());
    }
    let any = if family == libc::AF_INET6 { SocketAddr::from(([0u16; 8], 0)) } else { SocketAddr::from(([0u8; 4], 0)) };
    let (storage, len) = to_storage(any);
    // SAFETY: `storage` holds a valid sockaddr of length `len`.
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(last_errno());
    }
    Ok(local_addr(fd)?.port())
}

/// Whether the socket's file description is non-blocking.
pub fn is_nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

/// Asks for a relay of `fd` to `dest`; returns the relay address in the socket's family, and
/// the connection's own address in the target's network when the daemon knows it.
pub fn open_relay(
    proxy: &dyn Proxy,
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
    match proxy.call(request)? {
        Message::OutgoingReady { proxy_addr, local } => {
            let relay = for_family(proxy_addr, family).ok_or_else(|| {
                proxy.note(&format!("relay address {proxy_addr} does not fit the socket's family"));
                libc::EAFNOSUPPORT
            })?;
            Ok((relay, local.and_then(|local| for_family(local, family))))
        }
        other => Err(unexpected(proxy, &other)),
    }
}

/// Connects `fd` to `addr` with the real `connect`: 0 or the errno.
pub fn connect(fd: c_int, addr: SocketAddr) -> c_int {
    let (storage, len) = to_storage(addr);
    // SAFETY: `storage` holds a valid sockaddr of length `len`.
    match unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } {
        0 => 0,
        _ => last_errno(),
    }
}

/// How a parked connect stands when `connect` returns.
pub enum Parked {
    /// The target's side has not settled: `connect` says `EINPROGRESS`.
    InProgress,
    /// The daemon joined the socket at once: `connect` says 0. The socket's address in the
    /// target, when known.
    Connected(Option<SocketAddr>),
}

/// Parks the non-blocking `fd`, of `family`, for `dest`: connects it (with `connect_to`, the
/// real `connect`) to the daemon's park for it (see [`route::park_for`]), where it stays
/// connecting, and asks the daemon to open the target's side. Returns the socket's local port
/// (its key for [`outcome`]) and how it stands; `None` when there is no park (the caller
/// relays instead). A failure leaves the socket unconnected again, as a failed `connect` does.
pub fn park(
    proxy: &dyn Proxy,
    parks: &[SocketAddr],
    fd: c_int,
    family: c_int,
    dest: SocketAddr,
    connect_to: impl FnOnce(SocketAddr) -> c_int,
) -> Option<Result<(u16, Parked), i32>> {
    let park = route::park_for(parks, dest, family)?;
    let local_port = match bound_port(fd, family) {
        Ok(port) => port,
        Err(errno) => return Some(Err(errno)),
    };
    match connect_to(park) {
        libc::EINPROGRESS => {}
        0 => {
            proxy.note("a park accepted a connection; it must drop every SYN");
            return Some(Err(libc::EIO));
        }
        errno => return Some(Err(errno)),
    }
    let request = Message::OutgoingTcp { addr: canonical(dest), local_port, park: Some(canonical(park)) };
    let failed = match proxy.call(request) {
        Ok(Message::Done) => return Some(Ok((local_port, Parked::InProgress))),
        Ok(Message::OutgoingConnected { local }) => {
            return Some(Ok((local_port, Parked::Connected(local.and_then(|local| for_family(local, family))))))
        }
        Ok(other) => unexpected(proxy, &other),
        Err(errno) => errno,
    };
    disconnect(fd);
    Some(Err(failed))
}

/// Leaves a socket unconnected again (`AF_UNSPEC`), with no error pending.
pub fn disconnect(fd: c_int) {
    let unspec = libc::sockaddr { sa_family: libc::AF_UNSPEC as libc::sa_family_t, sa_data: [0; 14] };
    // SAFETY: a valid sockaddr of its size.
    unsafe { libc::connect(fd, &unspec, std::mem::size_of::<libc::sockaddr>() as socklen_t) };
    // The disconnect leaves ECONNRESET pending; the caller reports its own errno.
    let _ = sockopt(fd, libc::SO_ERROR);
}

/// What a parked socket (local port `local_port`, of `family`) reports given the kernel's
/// `real` answer (`SO_ERROR`, or a repeated `connect`'s errno): `None` while the target's side
/// is still connecting; else the errno to report (the target's, once its side failed) and the
/// socket's address in the target (once connected).
pub fn outcome(proxy: &dyn Proxy, local_port: u16, family: c_int, real: c_int) -> Option<(c_int, Option<SocketAddr>)> {
    match proxy.call(Message::OutgoingOutcome { local_port }) {
        Ok(Message::OutgoingConnected { local }) => Some((real, local.and_then(|local| for_family(local, family)))),
        Ok(other) => {
            unexpected(proxy, &other);
            Some((real, None))
        }
        Err(libc::EINPROGRESS) => None,
        // The daemon no longer knows it (it restarted, or the outcome was never asked for
        // within a minute): the kernel's answer is all there is.
        Err(libc::ENOENT) => Some((real, None)),
        Err(target) => Some((route::settled_errno(real, target), None)),
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}
