//! Name lookups through the target's resolver: `getaddrinfo` lists that glibc's own
//! `freeaddrinfo` frees, and `hostent`s for the `gethostbyname` family.

use std::ffi::CStr;
use std::net::IpAddr;

use libc::{addrinfo, c_char, c_int};
use tether_rpc_schema::wire::{Family, Message};

use crate::guard::Outcome;
use crate::{errno, proxy, session};

/// What `getaddrinfo` was asked, from its hints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints {
    pub flags: c_int,
    pub family: c_int,
    pub socktype: c_int,
    pub protocol: c_int,
}

/// The name to look up in the target, or `None` when the host resolves it (layer inert, DNS
/// disabled, numeric address, host-only name).
fn target_name(node: &CStr, family: c_int, flags: c_int) -> Option<&str> {
    let policy = session::active()?;
    let name = node.to_str().ok()?;
    let supported = matches!(family, libc::AF_UNSPEC | libc::AF_INET | libc::AF_INET6);
    if !supported || flags & libc::AI_NUMERICHOST != 0 || is_numeric(node) {
        return None;
    }
    policy.dns.is_target_name(name).then_some(name)
}

/// Whether glibc would parse `node` as an address (`inet_aton` forms included).
fn is_numeric(node: &CStr) -> bool {
    // SAFETY: in_addr is plain data; `node` is NUL-terminated.
    let mut v4: libc::in_addr = unsafe { std::mem::zeroed() };
    // SAFETY: as above; inet_aton only writes `v4`.
    node.to_str().is_ok_and(|s| s.parse::<IpAddr>().is_ok() || s.contains('%'))
        || unsafe { inet_aton(node.as_ptr(), &mut v4) } != 0
}

extern "C" {
    fn inet_aton(cp: *const c_char, inp: *mut libc::in_addr) -> c_int;
    fn __h_errno_location() -> *mut c_int;
    fn getservbyname_r(
        name: *const c_char,
        proto: *const c_char,
        result_buf: *mut libc::servent,
        buf: *mut c_char,
        buflen: usize,
        result: *mut *mut libc::servent,
    ) -> c_int;
}

/// Sets this thread's `h_errno`.
pub fn set_h_errno(value: c_int) {
    // SAFETY: __h_errno_location returns a valid pointer to this thread's h_errno.
    unsafe { *__h_errno_location() = value };
}

/// Asks the target's resolver. `Err` is an errno (`ENOENT` for "no such name").
fn lookup(name: &str, family: Family) -> Result<(Option<String>, Vec<IpAddr>), i32> {
    match proxy::call(Message::DnsLookup { name: name.to_string(), family })? {
        Message::DnsAnswer { canonical_name, addrs } => {
            let addrs: Vec<IpAddr> = addrs
                .into_iter()
                .filter(|addr| match family {
                    Family::V4 => addr.is_ipv4(),
                    Family::V6 => addr.is_ipv6(),
                    Family::Any => true,
                })
                .collect();
            if addrs.is_empty() {
                return Err(libc::ENOENT);
            }
            Ok((canonical_name, addrs))
        }
        other => Err(proxy::unexpected(&other)),
    }
}

/// `getaddrinfo`: the return code, with `*res` set on success.
pub fn getaddrinfo(
    node: Option<&CStr>,
    service: Option<&CStr>,
    hints: Hints,
    res: *mut *mut addrinfo,
) -> Outcome<c_int> {
    let Some(name) = node.and_then(|node| target_name(node, hints.family, hints.flags)) else {
        return Outcome::Bypass;
    };
    let types = match socket_types(service, hints) {
        Ok(types) => types,
        Err(code) => return Outcome::Handled(code),
    };
    let mapped = hints.family == libc::AF_INET6 && hints.flags & libc::AI_V4MAPPED != 0;
    let family = match hints.family {
        libc::AF_INET => Family::V4,
        libc::AF_INET6 if !mapped => Family::V6,
        _ => Family::Any,
    };
    let (canonical, mut addrs) = match lookup(name, family) {
        Ok(answer) => answer,
        Err(code) => return Outcome::Handled(errno::eai_for(code)),
    };
    if mapped {
        addrs = v4_mapped(addrs);
    }
    let canonical = (hints.flags & libc::AI_CANONNAME != 0).then(|| canonical.unwrap_or_else(|| name.to_string()));
    match build_addrinfo(&addrs, &types, hints.flags, canonical.as_deref()) {
        Some(list) => {
            // SAFETY: the caller passes a valid `res` out-pointer, as getaddrinfo requires.
            unsafe { *res = list };
            Outcome::Handled(0)
        }
        None => Outcome::Handled(libc::EAI_MEMORY),
    }
}

/// With `AI_V4MAPPED` for `AF_INET6`: the IPv6 answers, or the IPv4 ones mapped when there are none.
fn v4_mapped(addrs: Vec<IpAddr>) -> Vec<IpAddr> {
    if addrs.iter().any(IpAddr::is_ipv6) {
        return addrs.into_iter().filter(IpAddr::is_ipv6).collect();
    }
    addrs
        .into_iter()
        .filter_map(|addr| match addr {
            IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V6(_) => None,
        })
        .collect()
}

/// `(socktype, protocol, port)` per node, like glibc: without hints every address gets a
/// stream/TCP, datagram/UDP and raw node; a named service drops the types it is not defined for.
fn socket_types(service: Option<&CStr>, hints: Hints) -> Result<Vec<(c_int, c_int, u16)>, c_int> {
    let all = [(libc::SOCK_STREAM, libc::IPPROTO_TCP), (libc::SOCK_DGRAM, libc::IPPROTO_UDP), (libc::SOCK_RAW, 0)];
    let mut types: Vec<(c_int, c_int)> = match (hints.socktype, hints.protocol) {
        (0, 0) => all.to_vec(),
        (0, protocol) => all.iter().copied().filter(|(_, p)| *p == protocol).collect(),
        (socktype, protocol) => {
            let default = all.iter().find(|(t, _)| *t == socktype).ok_or(libc::EAI_SOCKTYPE)?.1;
            vec![(socktype, if protocol != 0 { protocol } else { default })]
        }
    };
    let Some(service) = service else {
        return Ok(types.into_iter().map(|(t, p)| (t, p, 0)).collect());
    };
    let text = service.to_str().map_err(|_| libc::EAI_SERVICE)?;
    if let Ok(port) = text.parse::<u16>() {
        return Ok(types.into_iter().map(|(t, p)| (t, p, port)).collect());
    }
    if hints.flags & libc::AI_NUMERICSERV != 0 {
        return Err(libc::EAI_NONAME);
    }
    types.retain(|(t, _)| *t != libc::SOCK_RAW);
    let named: Vec<_> = types
        .into_iter()
        .filter_map(|(t, p)| {
            let proto: &CStr = if t == libc::SOCK_STREAM { c"tcp" } else { c"udp" };
            service_port(service, proto).map(|port| (t, p, port))
        })
        .collect();
    if named.is_empty() {
        return Err(libc::EAI_SERVICE);
    }
    Ok(named)
}

fn service_port(service: &CStr, proto: &CStr) -> Option<u16> {
    // SAFETY: servent is plain data; zeroed is valid.
    let mut entry: libc::servent = unsafe { std::mem::zeroed() };
    let mut buf = [0 as c_char; 1024];
    let mut result: *mut libc::servent = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the duration of the call; buf's length is passed.
    let rc = unsafe {
        getservbyname_r(service.as_ptr(), proto.as_ptr(), &mut entry, buf.as_mut_ptr(), buf.len(), &mut result)
    };
    (rc == 0 && !result.is_null()).then(|| u16::from_be(entry.s_port as u16))
}

/// Builds an addrinfo list glibc's `freeaddrinfo` can free: each node one malloc'd block
/// (the `addrinfo`, then its sockaddr), the canonical name (first node only) malloc'd apart.
/// One node per address and socket type, grouped by address. `None` when malloc fails.
pub fn build_addrinfo(
    addrs: &[IpAddr],
    types: &[(c_int, c_int, u16)],
    flags: c_int,
    canonical: Option<&str>,
) -> Option<*mut addrinfo> {
    let node_size = std::mem::size_of::<addrinfo>() + std::mem::size_of::<libc::sockaddr_in6>();
    let mut head: *mut addrinfo = std::ptr::null_mut();
    let mut tail: *mut *mut addrinfo = &mut head;
    for addr in addrs {
        for &(socktype, protocol, port) in types {
            // SAFETY: calloc of one node; checked for null.
            let node = unsafe { libc::calloc(1, node_size) }.cast::<addrinfo>();
            if node.is_null() {
                // SAFETY: `head` is a well-formed list built here (possibly empty).
                unsafe { free_list(head) };
                return None;
            }
            // SAFETY: `node` has room for the addrinfo and a sockaddr_in6 right after it.
            unsafe {
                let sockaddr = node.add(1).cast::<libc::sockaddr>();
                let len = tether_hook_core::sockaddr::write_sockaddr(std::net::SocketAddr::new(*addr, port), sockaddr);
                (*node).ai_flags = flags;
                (*node).ai_family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
                (*node).ai_socktype = socktype;
                (*node).ai_protocol = protocol;
                (*node).ai_addrlen = len;
                (*node).ai_addr = sockaddr;
                *tail = node;
                tail = &mut (*node).ai_next;
            }
        }
    }
    if let (Some(name), false) = (canonical, head.is_null()) {
        // SAFETY: strdup of a NUL-terminated copy; null is acceptable (no canonical name).
        let copy = std::ffi::CString::new(name).ok()?;
        // SAFETY: `head` is a node built above; strdup copies a valid C string.
        unsafe { (*head).ai_canonname = libc::strdup(copy.as_ptr()) };
    }
    Some(head)
}

/// Frees a list the way glibc's `freeaddrinfo` does.
unsafe fn free_list(mut node: *mut addrinfo) {
    while !node.is_null() {
        // SAFETY: the caller guarantees a list of malloc'd nodes.
        let next = unsafe { (*node).ai_next };
        // SAFETY: as above; canonname is malloc'd or null.
        unsafe {
            libc::free((*node).ai_canonname.cast());
            libc::free(node.cast());
        }
        node = next;
    }
}

#[path = "hostent.rs"]
pub mod hostent;

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
