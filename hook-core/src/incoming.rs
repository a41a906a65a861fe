//! The steps of incoming traffic on a socket descriptor the caller holds (the program's own, in
//! the layer; a duplicate of it, in the supervisor): which listening socket is reported to the
//! session proxy (`IncomingListen`), and who is really behind a connection the daemon relayed
//! to it (`IncomingPeer`). What a caller remembers about its listeners is its own.

use std::net::SocketAddr;

use libc::c_int;
use tether_rpc_schema::policy::IncomingPolicy;
use tether_rpc_schema::wire::Message;

use crate::outgoing::{local_addr, sockopt};
use crate::sockaddr::from_storage;
use crate::target::Proxy;

/// The address of `fd` to report, when it is a TCP socket bound to a port `policy` subscribes.
pub fn subscribed(policy: &IncomingPolicy, fd: c_int) -> Option<SocketAddr> {
    if policy.mode.is_none() || sockopt(fd, libc::SO_TYPE) != Some(libc::SOCK_STREAM) {
        return None;
    }
    let addr = local_addr(fd).ok()?;
    policy.target_port(addr.port()).map(|_| addr)
}

/// Reports that the socket bound to `addr` listens, so that the daemon subscribes its port.
pub fn listen(proxy: &dyn Proxy, addr: SocketAddr) -> Result<(), i32> {
    proxy.call(Message::IncomingListen { addr }).map(|_| ())
}

/// The listener on `port` is gone.
pub fn unlisten(proxy: &dyn Proxy, port: u16) -> Result<(), i32> {
    proxy.call(Message::IncomingUnlisten { port }).map(|_| ())
}

/// The real client of the accepted connection `accepted` and its loopback peer, when the daemon
/// relayed it; `None` for any other connection (a loopback client of the host's own, too).
pub fn real_peer(proxy: &dyn Proxy, accepted: c_int) -> Option<(SocketAddr, SocketAddr)> {
    let relay = peer_addr(accepted)?;
    if !relay.ip().to_canonical().is_loopback() {
        return None;
    }
    match proxy.call(Message::IncomingPeer { peer_port: relay.port() }) {
        Ok(Message::IncomingPeerAddr { addr }) => Some((addr, relay)),
        _ => None,
    }
}

/// The socket's peer (`getpeername`).
pub fn peer_addr(fd: c_int) -> Option<SocketAddr> {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage`/`len` are valid out-pointers (in the layer, inside its guard, this is
    // the original getpeername).
    if unsafe { libc::getpeername(fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len) } != 0 {
        return None;
    }
    from_storage(&storage, len)
}
