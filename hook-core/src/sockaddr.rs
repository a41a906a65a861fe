//! `struct sockaddr` of the IPv4 and IPv6 families, read from and written to C buffers, and
//! an address in a socket's family.

use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

use libc::{c_int, sockaddr, socklen_t};

/// Reads an `AF_INET`/`AF_INET6` sockaddr of `len` bytes at `addr` (null gives `None`).
///
/// # Safety
/// `addr` must be null or valid for reading `len` bytes.
pub unsafe fn read_sockaddr(addr: *const sockaddr, len: socklen_t) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: the caller's contract.
    from_bytes(unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), len as usize) })
}

/// Reads the address a call left in `storage`, `len` bytes of it.
pub fn from_storage(storage: &libc::sockaddr_storage, len: socklen_t) -> Option<SocketAddr> {
    // SAFETY: the storage is plain data, valid for its whole size.
    let bytes = unsafe {
        std::slice::from_raw_parts((storage as *const libc::sockaddr_storage).cast::<u8>(), size_of_val(storage))
    };
    from_bytes(bytes.get(..len as usize)?)
}

/// Reads an `AF_INET`/`AF_INET6` sockaddr from its bytes (as copied out of a process).
pub fn from_bytes(bytes: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
    let ptr = bytes.as_ptr();
    match c_int::from(family) {
        libc::AF_INET if bytes.len() >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the bytes hold a whole sockaddr_in; read_unaligned, as they need not be aligned.
            let sin = unsafe { ptr.cast::<libc::sockaddr_in>().read_unaligned() };
            let ip = u32::from_be(sin.sin_addr.s_addr);
            Some(SocketAddr::V4(SocketAddrV4::new(ip.into(), u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if bytes.len() >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let sin6 = unsafe { ptr.cast::<libc::sockaddr_in6>().read_unaligned() };
            let ip = sin6.sin6_addr.s6_addr.into();
            let port = u16::from_be(sin6.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id)))
        }
        _ => None,
    }
}

/// Writes `addr` to `out` (room for a `sockaddr_in6` required); returns its length.
///
/// # Safety
/// `out` must be valid for writing `size_of::<sockaddr_in6>()` bytes.
pub unsafe fn write_sockaddr(addr: SocketAddr, out: *mut sockaddr) -> socklen_t {
    let (storage, len) = to_storage(addr);
    // SAFETY: the caller guarantees room for a sockaddr_in6, the largest length produced.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&storage as *const libc::sockaddr_storage).cast::<u8>(),
            out.cast::<u8>(),
            len as usize,
        )
    };
    len
}

pub fn to_storage(addr: SocketAddr) -> (libc::sockaddr_storage, socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as socklen_t)
}

/// `addr` in the address family of a socket: v4 becomes `::ffff:a.b.c.d` on an `AF_INET6`
/// socket, a mapped v6 address becomes v4 on an `AF_INET` socket.
pub fn for_family(addr: SocketAddr, family: c_int) -> Option<SocketAddr> {
    match (family, addr) {
        (libc::AF_INET, SocketAddr::V4(_)) | (libc::AF_INET6, SocketAddr::V6(_)) => Some(addr),
        (libc::AF_INET6, SocketAddr::V4(v4)) => Some(SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())),
        (libc::AF_INET, SocketAddr::V6(v6)) => {
            v6.ip().to_ipv4_mapped().map(|ip| SocketAddr::new(IpAddr::V4(ip), v6.port()))
        }
        _ => None,
    }
}

/// Copies `addr` to a caller's `(addr, len)` pair with `getpeername`/`recvfrom` truncation
/// rules: at most `*len` bytes are written, `*len` becomes the full length.
///
/// # Safety
/// `out` must be valid for `*len` bytes and `len` valid, or either may be null.
pub unsafe fn copy_out(addr: SocketAddr, out: *mut sockaddr, len: *mut socklen_t) {
    if out.is_null() || len.is_null() {
        return;
    }
    let (storage, full) = to_storage(addr);
    // SAFETY: guaranteed by the caller; we write at most `*len` bytes.
    unsafe {
        let room = (*len).min(full) as usize;
        std::ptr::copy_nonoverlapping((&storage as *const libc::sockaddr_storage).cast::<u8>(), out.cast::<u8>(), room);
        *len = full;
    }
}

/// `addr` with an IPv4-mapped IPv6 address as IPv4.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_family_maps_between_v4_and_v6_sockets() {
        let v4: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(for_family(v4, libc::AF_INET6).unwrap().to_string(), "[::ffff:127.0.0.1]:4000");
        assert_eq!(for_family(v4, libc::AF_INET), Some(v4));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert_eq!(for_family(mapped, libc::AF_INET), Some(v4));
        assert_eq!(for_family("[::1]:1".parse().unwrap(), libc::AF_INET), None);
    }

    #[test]
    fn copy_out_truncates_but_reports_full_length() {
        let addr: SocketAddr = "[fd00::1]:443".parse().unwrap();
        let mut buf = [0u8; 8];
        let mut len = buf.len() as socklen_t;
        // SAFETY: `buf` is valid for `len` bytes.
        unsafe { copy_out(addr, buf.as_mut_ptr().cast(), &mut len) };
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in6>());
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), libc::AF_INET6 as u16);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 443);
    }

    #[test]
    fn sockaddr_round_trips() {
        for text in ["10.0.0.1:80", "[fd00::1]:53", "[::ffff:10.0.0.1]:8080"] {
            let addr: SocketAddr = text.parse().unwrap();
            let (storage, len) = to_storage(addr);
            assert_eq!(from_storage(&storage, len), Some(addr));
        }
        // SAFETY: null is allowed.
        assert_eq!(unsafe { read_sockaddr(std::ptr::null(), 16) }, None);
        assert_eq!(from_bytes(&[2]), None, "shorter than a family");
    }
}
