//! Socket shims: `connect`, `getsockopt` (`SO_ERROR`), `getpeername`, `getsockname`, `sendto`, `sendmsg`, `recvfrom`, `recvmsg`. Only
//! `AF_INET`/`AF_INET6` sockets the policy sends to the target are touched.

use libc::{c_int, c_void, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use tether_hook_core::sockaddr as addrs;

use crate::guard::{self, Outcome};
use crate::net;

type GetsockoptFn = unsafe extern "C" fn(c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int;
type SockaddrFn = unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
type SendtoFn = unsafe extern "C" fn(c_int, *const c_void, size_t, c_int, *const sockaddr, socklen_t) -> ssize_t;
type RecvfromFn = unsafe extern "C" fn(c_int, *mut c_void, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t;

/// `connect(2)`.
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let original = original!("connect", unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int);
    let logic = || net::connect(fd, addr, len, |relay, relay_len| call_original!(original, -1, fd, relay, relay_len));
    guard::run(-1, logic, || call_original!(original, -1, fd, addr, len))
}

/// `getsockopt(2)`: `SO_ERROR` of a socket waiting for its target's side reports the target's
/// outcome.
#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let original = original!("getsockopt", GetsockoptFn);
    let call = || call_original!(original, -1, fd, level, name, value, len);
    // SAFETY: the caller's buffers, as for the real getsockopt.
    guard::run(-1, || unsafe { net::so_error(fd, level, name, value, len, call) }, call)
}

/// `getpeername(2)`.
#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let original = original!("getpeername", SockaddrFn);
    let probe = || {
        // SAFETY: sockaddr_storage is plain data; a private buffer for the real call.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut storage_len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
        call_original!(original, -1, fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut storage_len)
    };
    guard::run(-1, || net::getpeername(fd, addr, len, probe), || call_original!(original, -1, fd, addr, len))
}

/// `getsockname(2)`.
#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let original = original!("getsockname", SockaddrFn);
    let probe = || {
        // SAFETY: sockaddr_storage is plain data; a private buffer for the real call.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut storage_len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
        call_original!(original, -1, fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut storage_len)
    };
    guard::run(-1, || net::getsockname(fd, addr, len, probe), || call_original!(original, -1, fd, addr, len))
}

/// `sendto(2)`: datagrams to a target destination go to its relay.
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    dest: *const sockaddr,
    dest_len: socklen_t,
) -> ssize_t {
    let original = original!("sendto", SendtoFn);
    let logic = || {
        net::datagram_relay(fd, dest, dest_len).map(|(relay, relay_len)| {
            call_original!(original, -1, fd, buf, n, flags, (&relay as *const libc::sockaddr_storage).cast(), relay_len)
        })
    };
    guard::run(-1, || failed_as_error(logic()), || call_original!(original, -1, fd, buf, n, flags, dest, dest_len))
}

/// `sendmsg(2)`.
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let original = original!("sendmsg", unsafe extern "C" fn(c_int, *const msghdr, c_int) -> ssize_t);
    let logic = || {
        if msg.is_null() {
            return Outcome::Bypass;
        }
        // SAFETY: non-null msg is the caller's msghdr (sendmsg's contract).
        let mut copy = unsafe { *msg };
        net::datagram_relay(fd, copy.msg_name.cast(), copy.msg_namelen).map(|(mut relay, relay_len)| {
            copy.msg_name = (&mut relay as *mut libc::sockaddr_storage).cast();
            copy.msg_namelen = relay_len;
            call_original!(original, -1, fd, &copy, flags)
        })
    };
    guard::run(-1, || failed_as_error(logic()), || call_original!(original, -1, fd, msg, flags))
}

/// `recvfrom(2)`: a datagram from a relay reports the real source.
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    src: *mut sockaddr,
    src_len: *mut socklen_t,
) -> ssize_t {
    let original = original!("recvfrom", RecvfromFn);
    let logic = || {
        if src.is_null() || src_len.is_null() || !net::is_redirected(fd) {
            return Outcome::Bypass;
        }
        // SAFETY: sockaddr_storage is plain data; a private buffer for the real source.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut storage_len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
        let received = call_original!(
            original,
            -1,
            fd,
            buf,
            n,
            flags,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut storage_len
        );
        if received < 0 {
            return Outcome::Error(crate::errno::get());
        }
        let source = addrs::from_storage(&storage, storage_len);
        let reported = source.map(|source| net::real_source(fd, source).unwrap_or(source));
        match reported {
            // SAFETY: the caller's (src, src_len) pair, as for the real recvfrom.
            Some(addr) => unsafe { addrs::copy_out(addr, src, src_len) },
            // SAFETY: as above; copies what the kernel reported, truncated the same way.
            None => unsafe {
                let room = (*src_len).min(storage_len) as usize;
                std::ptr::copy_nonoverlapping(
                    (&storage as *const libc::sockaddr_storage).cast::<u8>(),
                    src.cast::<u8>(),
                    room,
                );
                *src_len = storage_len;
            },
        }
        Outcome::Handled(received)
    };
    guard::run(-1, logic, || call_original!(original, -1, fd, buf, n, flags, src, src_len))
}

/// `recvmsg(2)`.
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let original = original!("recvmsg", unsafe extern "C" fn(c_int, *mut msghdr, c_int) -> ssize_t);
    let logic = || {
        // SAFETY: non-null msg is the caller's msghdr (recvmsg's contract).
        if msg.is_null() || unsafe { (*msg).msg_name.is_null() } || !net::is_redirected(fd) {
            return Outcome::Bypass;
        }
        // SAFETY: as above.
        let room = unsafe { (*msg).msg_namelen };
        let received = call_original!(original, -1, fd, msg, flags);
        if received < 0 {
            return Outcome::Error(crate::errno::get());
        }
        // SAFETY: the kernel filled msg_name/msg_namelen; we read at most `room` bytes and
        // write back with the same truncation rules.
        unsafe {
            let name = (*msg).msg_name.cast::<sockaddr>();
            let source = addrs::read_sockaddr(name, (*msg).msg_namelen.min(room));
            if let Some(real) = source.and_then(|source| net::real_source(fd, source)) {
                let mut len = room;
                addrs::copy_out(real, name, &mut len);
                (*msg).msg_namelen = len;
            }
        }
        Outcome::Handled(received)
    };
    guard::run(-1, logic, || call_original!(original, -1, fd, msg, flags))
}

/// A send through a relay that returned -1 reports its errno.
fn failed_as_error(outcome: Outcome<ssize_t>) -> Outcome<ssize_t> {
    match outcome {
        Outcome::Handled(-1) => Outcome::Error(crate::errno::get()),
        other => other,
    }
}
