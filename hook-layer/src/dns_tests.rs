//! Tests of the addrinfo and hostent layouts (freed and read back through glibc).

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn addrs() -> Vec<IpAddr> {
    vec![IpAddr::V4(Ipv4Addr::new(10, 96, 0, 7)), IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7))]
}

#[test]
fn build_addrinfo_is_freed_by_glibc_freeaddrinfo() {
    let types = socket_types(Some(c"8080"), Hints::default()).unwrap();
    assert_eq!(types.len(), 3);
    let list = build_addrinfo(&addrs(), &types, libc::AI_CANONNAME, Some("orders.shop.svc.cluster.local")).unwrap();
    let mut seen = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // SAFETY: `node` belongs to the list just built.
        let ai = unsafe { &*node };
        // SAFETY: getaddrinfo's entries carry valid addresses of their length.
        let addr = unsafe { tether_hook_core::sockaddr::read_sockaddr(ai.ai_addr, ai.ai_addrlen) }.unwrap();
        seen.push((ai.ai_family, ai.ai_socktype, ai.ai_protocol, addr.to_string()));
        node = ai.ai_next;
    }
    // SAFETY: the first node's canonname was set from a valid string.
    let canonical = unsafe { CStr::from_ptr((*list).ai_canonname) };
    assert_eq!(canonical.to_str().unwrap(), "orders.shop.svc.cluster.local");
    assert_eq!(
        seen,
        [
            (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP, "10.96.0.7:8080".to_string()),
            (libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP, "10.96.0.7:8080".to_string()),
            (libc::AF_INET, libc::SOCK_RAW, 0, "10.96.0.7:8080".to_string()),
            (libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_TCP, "[fd00::7]:8080".to_string()),
            (libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_UDP, "[fd00::7]:8080".to_string()),
            (libc::AF_INET6, libc::SOCK_RAW, 0, "[fd00::7]:8080".to_string()),
        ]
    );
    // SAFETY: the list was built to glibc's layout; freeaddrinfo must accept it.
    unsafe { libc::freeaddrinfo(list) };
}

#[test]
fn socket_types_follow_hints_and_named_services() {
    let stream = Hints { socktype: libc::SOCK_STREAM, ..Hints::default() };
    assert_eq!(socket_types(None, stream).unwrap(), [(libc::SOCK_STREAM, libc::IPPROTO_TCP, 0)]);
    let udp = Hints { protocol: libc::IPPROTO_UDP, ..Hints::default() };
    assert_eq!(socket_types(Some(c"53"), udp).unwrap(), [(libc::SOCK_DGRAM, libc::IPPROTO_UDP, 53)]);
    let named = socket_types(Some(c"domain"), Hints::default()).unwrap();
    assert_eq!(named, [(libc::SOCK_STREAM, libc::IPPROTO_TCP, 53), (libc::SOCK_DGRAM, libc::IPPROTO_UDP, 53)]);
    let numeric_only = Hints { flags: libc::AI_NUMERICSERV, ..Hints::default() };
    assert_eq!(socket_types(Some(c"http"), numeric_only), Err(libc::EAI_NONAME));
    assert_eq!(socket_types(Some(c"no-such-service"), Hints::default()), Err(libc::EAI_SERVICE));
    let bad = Hints { socktype: 99, ..Hints::default() };
    assert_eq!(socket_types(None, bad), Err(libc::EAI_SOCKTYPE));
}

#[test]
fn v4_mapped_prefers_v6_then_maps_v4() {
    assert_eq!(v4_mapped(addrs()), [addrs()[1]]);
    let mapped = v4_mapped(vec![addrs()[0]]);
    assert_eq!(mapped[0].to_string(), "::ffff:10.96.0.7");
}

#[test]
fn is_numeric_accepts_inet_aton_forms() {
    for node in [c"10.0.0.1", c"::1", c"127.1", c"0x7f000001", c"fe80::1%eth0"] {
        assert!(is_numeric(node), "{node:?}");
    }
    assert!(!is_numeric(c"orders.shop.svc"));
}

#[test]
fn hostent_fill_lays_out_addresses_and_name() {
    let v4 = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
    let mut buf = vec![0u8; 256];
    let entry = hostent::fill("db.shop", libc::AF_INET, &v4, &mut buf).unwrap();
    // SAFETY: fill NUL-terminated the name and built a NULL-terminated list inside `buf`.
    unsafe {
        assert_eq!(CStr::from_ptr(entry.h_name).to_str().unwrap(), "db.shop");
        assert!((*entry.h_aliases).is_null());
        let second = std::slice::from_raw_parts((*entry.h_addr_list.add(1)).cast::<u8>(), 4);
        assert_eq!(second, [10, 0, 0, 2]);
        assert!((*entry.h_addr_list.add(2)).is_null());
    }
    assert_eq!((entry.h_addrtype, entry.h_length), (libc::AF_INET, 4));
}

#[test]
fn hostent_fill_small_buffer_is_erange() {
    let mut buf = vec![0u8; 20];
    assert!(hostent::fill("db.shop", libc::AF_INET, &addrs()[..1], &mut buf).is_none());
}
