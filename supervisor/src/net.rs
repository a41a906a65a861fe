//! Trapped socket calls: `connect` of a target destination goes through the session proxy as
//! the layer's does (`tether_hook_core::outgoing`), on a duplicate of the program's socket;
//! `getpeername`, `getsockname` and `SO_ERROR` then report the target's view. A datagram sent
//! to a target destination with `sendto` goes to its relay (sent by the supervisor, from the
//! program's socket), and `recvfrom` reports the real source of what a relay sends back. Sockets are
//! known by their inode, which every duplicate shares.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};

use tether_hook_core::outgoing::{self, Parked};
use tether_hook_core::policy::Transport;
use tether_hook_core::sockaddr::{from_bytes, to_storage};

use crate::process::Thread;
use crate::seccomp::{Answer, Notification};
use crate::serve::Served;

/// What the supervisor knows about one of the program's sockets.
#[derive(Debug, Default, Clone)]
pub struct Socket {
    /// The connected destination and what the socket is really connected to (relay or park).
    peer: Option<(SocketAddr, SocketAddr)>,
    /// The connection's own address in the target's network.
    local: Option<SocketAddr>,
    /// The local port of a socket waiting in a park, until its outcome is learnt.
    parked: Option<u16>,
    /// UDP destinations of `sendto`: `(real, relay)`.
    routes: Vec<(SocketAddr, SocketAddr)>,
}

pub type Sockets = std::sync::Mutex<HashMap<u64, Socket>>;

/// Answers a trapped socket call; `None` when `nr` is not one.
pub fn answer(served: &Served<'_>, call: &Notification) -> Option<Answer> {
    let args = call.data.args;
    let answer = match i64::from(call.data.nr) {
        libc::SYS_connect => connect(served, call, args[0] as i32, args[1], args[2] as usize),
        libc::SYS_getpeername => {
            report(served, call, args[0] as i32, args[1], args[2], |socket| socket.peer.map(|(real, _)| real))
        }
        libc::SYS_getsockname => report(served, call, args[0] as i32, args[1], args[2], |socket| socket.local),
        libc::SYS_getsockopt => so_error(served, call, args[0] as i32, args[3], args[4]),
        libc::SYS_sendto => send_to(served, call, args),
        libc::SYS_recvfrom => receive_from(served, call, args),
        _ => return None,
    };
    Some(answer)
}

fn inode(fd: &OwnedFd) -> Option<u64> {
    // SAFETY: struct stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own and a valid out-pointer.
    (unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0).then_some(st.st_ino)
}

fn resolve_on_host(name: &str) -> Vec<IpAddr> {
    (name, 0).to_socket_addrs().map(|addrs| addrs.map(|addr| addr.ip()).collect()).unwrap_or_default()
}

/// A call's destination: the address at `addr` (`len` bytes), and a duplicate of the program's
/// socket `fd` with its family, transport and inode. `None` (the host's call) for an address
/// that is not IPv4/IPv6, loopback or unspecified, or a socket tether does not redirect.
struct Destination {
    dest: SocketAddr,
    socket: OwnedFd,
    family: i32,
    transport: Transport,
    ino: u64,
}

fn destination(thread: Thread, fd: i32, addr: u64, len: usize) -> Option<Destination> {
    let dest = from_bytes(&thread.read(addr, len.min(128)).ok()?)?;
    let ip = dest.ip().to_canonical();
    if ip.is_loopback() || ip.is_unspecified() {
        return None;
    }
    let socket = thread.take_fd(fd).ok()?;
    let (family, transport) = outgoing::kind(socket.as_raw_fd())?;
    let ino = inode(&socket)?;
    Some(Destination { dest, socket, family, transport, ino })
}

fn connect(served: &Served<'_>, call: &Notification, fd: i32, addr: u64, len: usize) -> Answer {
    let Some(Destination { dest, socket, family, transport, ino }) = destination(Thread(call.pid), fd, addr, len)
    else {
        return Answer::Continue;
    };
    let known = served.sockets.lock().ok().and_then(|sockets| sockets.get(&ino).cloned());
    if let Some((_, relay)) = known.as_ref().and_then(|known| known.peer).filter(|(real, _)| *real == dest) {
        let code = outgoing::connect(socket.as_raw_fd(), relay);
        return match settle(served, &socket, ino, code) {
            0 => Answer::Value(0),
            code => Answer::Error(code),
        };
    }
    if !served.policy.outgoing.is_target(dest, transport, &resolve_on_host) || !served.listener.is_valid(call.id) {
        return Answer::Continue;
    }
    let raw = socket.as_raw_fd();
    if transport == Transport::Tcp && outgoing::is_nonblocking(raw) {
        let parked =
            outgoing::park(&served.requests, &served.parks, raw, family, dest, |park| outgoing::connect(raw, park));
        if let Some(parked) = parked {
            return match parked {
                Ok((local_port, stands)) => {
                    let park = tether_hook_core::route::park_for(&served.parks, dest, family);
                    let (parked, local, answer) = match stands {
                        Parked::InProgress => (Some(local_port), None, Answer::Error(libc::EINPROGRESS)),
                        Parked::Connected(local) => (None, local, Answer::Value(0)),
                    };
                    remember(
                        served,
                        ino,
                        Socket { peer: park.map(|park| (dest, park)), local, parked, routes: Vec::new() },
                    );
                    answer
                }
                Err(errno) => Answer::Error(errno),
            };
        }
    }
    let (relay, local) = match outgoing::open_relay(&served.requests, raw, family, transport, dest) {
        Ok(opened) => opened,
        Err(errno) => return Answer::Error(errno),
    };
    match outgoing::connect(raw, relay) {
        0 => {
            remember(served, ino, Socket { peer: Some((dest, relay)), local, parked: None, routes: Vec::new() });
            Answer::Value(0)
        }
        libc::EINPROGRESS => {
            remember(served, ino, Socket { peer: Some((dest, relay)), local, parked: None, routes: Vec::new() });
            Answer::Error(libc::EINPROGRESS)
        }
        code => Answer::Error(code),
    }
}

/// A connection the supervisor accepted for the program, relayed by the daemon from `real`:
/// `getpeername` reports `real`.
pub fn accepted(served: &Served<'_>, connection: &OwnedFd, real: SocketAddr, relay: SocketAddr) {
    if let Some(ino) = inode(connection) {
        remember(served, ino, Socket { peer: Some((real, relay)), ..Socket::default() });
    }
}

fn remember(served: &Served<'_>, ino: u64, socket: Socket) {
    if let Ok(mut sockets) = served.sockets.lock() {
        sockets.insert(ino, socket);
    }
}

/// What a parked socket reports given the kernel's `real` answer (see
/// [`outgoing::outcome`]); `real` for any other socket.
fn settle(served: &Served<'_>, socket: &OwnedFd, ino: u64, real: i32) -> i32 {
    let Some(local_port) = served.sockets.lock().ok().and_then(|sockets| sockets.get(&ino)?.parked) else {
        return real;
    };
    let family = outgoing::sockopt(socket.as_raw_fd(), libc::SO_DOMAIN).unwrap_or(libc::AF_INET);
    let Some((reported, local)) = outgoing::outcome(&served.requests, local_port, family, real) else {
        return real;
    };
    if let Ok(mut sockets) = served.sockets.lock() {
        if let Some(known) = sockets.get_mut(&ino) {
            known.parked = None;
            known.local = local;
        }
    }
    reported
}

/// A known socket of the program's descriptor `fd`, with a duplicate of it.
fn known(served: &Served<'_>, thread: Thread, fd: i32) -> Option<(OwnedFd, u64, Socket)> {
    let socket = thread.take_fd(fd).ok()?;
    let ino = inode(&socket)?;
    let known = served.sockets.lock().ok()?.get(&ino).cloned()?;
    Some((socket, ino, known))
}

/// `getpeername`/`getsockname`: the address `pick` finds for a known socket, written with the
/// kernel's truncation rules (at most `*len` bytes, `*len` set to the full length).
fn report(
    served: &Served<'_>,
    call: &Notification,
    fd: i32,
    addr: u64,
    len_addr: u64,
    pick: impl Fn(&Socket) -> Option<SocketAddr>,
) -> Answer {
    let thread = Thread(call.pid);
    let Some((socket, ino, mut state)) = known(served, thread, fd) else {
        return Answer::Continue;
    };
    if state.parked.is_some() {
        settle(served, &socket, ino, 0);
        state = served.sockets.lock().ok().and_then(|sockets| sockets.get(&ino).cloned()).unwrap_or(state);
    }
    let Some(reported) = pick(&state) else {
        return Answer::Continue;
    };
    match write_address(thread, reported, addr, len_addr) {
        Ok(()) => Answer::Value(0),
        Err(errno) => Answer::Error(errno),
    }
}

/// `getsockopt(SOL_SOCKET, SO_ERROR)` (the filter traps no other option): the target's errno
/// for a parked socket whose target side failed.
fn so_error(served: &Served<'_>, call: &Notification, fd: i32, value: u64, len_addr: u64) -> Answer {
    let thread = Thread(call.pid);
    let Some((socket, ino, state)) = known(served, thread, fd) else {
        return Answer::Continue;
    };
    if state.parked.is_none() {
        return Answer::Continue;
    }
    let real = outgoing::sockopt(socket.as_raw_fd(), libc::SO_ERROR).unwrap_or(0);
    let reported = settle(served, &socket, ino, real);
    let written = thread
        .write(value, &reported.to_ne_bytes())
        .and_then(|()| thread.write(len_addr, &(std::mem::size_of::<i32>() as u32).to_ne_bytes()));
    match written {
        Ok(()) => Answer::Value(0),
        Err(errno) => Answer::Error(errno),
    }
}

/// Largest datagram the supervisor carries (the largest UDP payload over IPv6 jumbograms aside).
const DATAGRAM_MAX: usize = 65_536;

/// `sendto` with an address: a datagram for a target destination goes to its relay (opened on
/// first use); any other continues.
fn send_to(served: &Served<'_>, call: &Notification, args: [u64; 6]) -> Answer {
    let thread = Thread(call.pid);
    let (buf, len, flags) = (args[1], args[2] as usize, args[3] as i32);
    let Some(Destination { dest, socket, family, transport: Transport::Udp, ino }) =
        destination(thread, args[0] as i32, args[4], args[5] as usize)
    else {
        return Answer::Continue;
    };
    let known =
        served.sockets.lock().ok().and_then(|sockets| {
            sockets.get(&ino)?.routes.iter().find(|(real, _)| *real == dest).map(|(_, relay)| *relay)
        });
    let relay = match known {
        Some(relay) => relay,
        None if served.policy.outgoing.is_target(dest, Transport::Udp, &resolve_on_host) => {
            // An unconnected socket's own address is one for every destination: it stays the host's.
            match outgoing::open_relay(&served.requests, socket.as_raw_fd(), family, Transport::Udp, dest) {
                Ok((relay, _)) => {
                    if let Ok(mut sockets) = served.sockets.lock() {
                        sockets.entry(ino).or_default().routes.push((dest, relay));
                    }
                    relay
                }
                Err(errno) => return Answer::Error(errno),
            }
        }
        None => return Answer::Continue,
    };
    let data = match thread.read(buf, len.min(DATAGRAM_MAX)) {
        Ok(data) => data,
        Err(errno) => return Answer::Error(errno),
    };
    let (storage, storage_len) = to_storage(relay);
    // SAFETY: `data` is valid for its length; `storage` holds a sockaddr of `storage_len` bytes.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            flags,
            (&storage as *const libc::sockaddr_storage).cast(),
            storage_len,
        )
    };
    match sent {
        -1 => Answer::Error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)),
        sent => Answer::Value(sent as i64),
    }
}

/// `recvfrom` with an address on a socket that sent to a relay: the supervisor receives (from
/// the program's socket, with the program's flags: a non-blocking socket's `EAGAIN` is its
/// answer) and reports the real source of a datagram from a relay.
fn receive_from(served: &Served<'_>, call: &Notification, args: [u64; 6]) -> Answer {
    let thread = Thread(call.pid);
    let (fd, buf, len, flags, src, src_len) =
        (args[0] as i32, args[1], args[2] as usize, args[3] as i32, args[4], args[5]);
    let Some((socket, _, state)) = known(served, thread, fd) else {
        return Answer::Continue;
    };
    if state.routes.is_empty() && state.peer.is_none() {
        return Answer::Continue;
    }
    let mut data = vec![0u8; len.min(DATAGRAM_MAX)];
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut storage_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `data` and `storage` are valid for the lengths given.
    let got = unsafe {
        libc::recvfrom(
            socket.as_raw_fd(),
            data.as_mut_ptr().cast(),
            data.len(),
            flags,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut storage_len,
        )
    };
    if got < 0 {
        return Answer::Error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    let received = &data[..(got as usize).min(data.len())];
    let source = tether_hook_core::sockaddr::from_storage(&storage, storage_len).map(|source| {
        let same = |relay: &SocketAddr| {
            relay.ip().to_canonical() == source.ip().to_canonical() && relay.port() == source.port()
        };
        state.peer.iter().chain(&state.routes).find(|(_, relay)| same(relay)).map_or(source, |(real, _)| *real)
    });
    if let Err(errno) = thread.write(buf, received) {
        return Answer::Error(errno);
    }
    if let Some(source) = source {
        if let Err(errno) = write_address(thread, source, src, src_len) {
            return Answer::Error(errno);
        }
    }
    Answer::Value(got as i64)
}

/// Writes `address` at `addr` with the kernel's truncation rules: at most the `socklen_t` at
/// `len_addr` bytes, which becomes the address's full length.
pub fn write_address(thread: Thread, address: SocketAddr, addr: u64, len_addr: u64) -> Result<(), i32> {
    let room = u32::from_ne_bytes(thread.read(len_addr, 4)?.try_into().expect("4 bytes"));
    let (storage, full) = to_storage(address);
    // SAFETY: sockaddr_storage is plain data, valid for its whole size.
    let bytes =
        unsafe { std::slice::from_raw_parts((&storage as *const libc::sockaddr_storage).cast::<u8>(), full as usize) };
    thread.write(addr, &bytes[..(room as usize).min(full as usize)])?;
    thread.write(len_addr, &full.to_ne_bytes())
}
