//! The order of a name's addresses as the target's own `getaddrinfo` (glibc) would give them:
//! destination address selection of RFC 3484 with glibc's default policy table, from the
//! source address the target's network would use for each (found by connecting a UDP socket,
//! which sends nothing). So a pod with a usable IPv6 address gets AAAA records first, and one
//! without gets A records first.

use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Sorts `addrs` as the target's resolver would; `source_of` tells the address the target would
/// send from to a destination, `None` when it cannot reach it.
pub fn sort(addrs: &mut [IpAddr], source_of: impl Fn(IpAddr) -> Option<IpAddr>) {
    if addrs.len() < 2 {
        return;
    }
    let mut keyed: Vec<(Key, IpAddr)> = addrs.iter().map(|addr| (key(*addr, source_of(*addr)), *addr)).collect();
    keyed.sort_by_key(|(key, _)| *key);
    for (slot, (_, addr)) in addrs.iter_mut().zip(keyed) {
        *slot = addr;
    }
}

/// The source address for `destination` in the calling thread's network namespace.
pub fn source_in_this_network(destination: IpAddr) -> Option<IpAddr> {
    let any: IpAddr = if destination.is_ipv4() { [0u8; 4].into() } else { [0u16; 8].into() };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    socket.connect(SocketAddr::new(destination, 9)).ok()?;
    socket.local_addr().ok().map(|local| local.ip())
}

/// Smaller sorts first: rule 1 (usable), rule 2 (matching scope), rule 5 (matching label),
/// rule 6 (higher precedence), rule 8 (smaller scope); the sort is stable (rule 10).
type Key = (bool, bool, bool, std::cmp::Reverse<u8>, u8);

fn key(destination: IpAddr, source: Option<IpAddr>) -> Key {
    let scope = scope(destination);
    let matching_scope = source.is_some_and(|source| self::scope(source) == scope);
    let (precedence, label) = policy(destination);
    let matching_label = source.is_some_and(|source| policy(source).1 == label);
    (source.is_none(), !matching_scope, !matching_label, std::cmp::Reverse(precedence), scope)
}

/// The address as IPv6 (IPv4 as `::ffff:a.b.c.d`), which the policy table is written for.
fn as_v6(addr: IpAddr) -> std::net::Ipv6Addr {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// glibc's default policy table as (precedence, label): `::1` (50, 0), `::/0` (40, 1),
/// `2002::/16` (30, 2), `::/96` (20, 3), `::ffff:0:0/96` (10, 4).
fn policy(addr: IpAddr) -> (u8, u8) {
    let v6 = as_v6(addr);
    let segments = v6.segments();
    if v6.is_loopback() {
        (50, 0)
    } else if segments[..5] == [0; 5] && segments[5] == 0xffff {
        (10, 4)
    } else if segments[..6] == [0; 6] {
        (20, 3)
    } else if segments[0] == 0x2002 {
        (30, 2)
    } else {
        (40, 1)
    }
}

/// Link-local (2), site-local (5) or global (14) scope; IPv4 loopback and link-local
/// addresses count as link-local, as RFC 3484 maps them.
fn scope(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(v4) if v4.is_loopback() || v4.is_link_local() => 2,
        IpAddr::V4(_) => 14,
        IpAddr::V6(v6) if v6.is_loopback() || v6.is_unicast_link_local() => 2,
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfec0 => 5,
        IpAddr::V6(_) => 14,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn sorted(addrs: &[&str], source_of: impl Fn(IpAddr) -> Option<IpAddr>) -> Vec<IpAddr> {
        let mut addrs: Vec<IpAddr> = addrs.iter().map(|addr| ip(addr)).collect();
        sort(&mut addrs, source_of);
        addrs
    }

    #[test]
    fn ipv6_first_when_the_target_has_a_route_for_it() {
        let both = |addr: IpAddr| Some(if addr.is_ipv4() { ip("10.0.0.2") } else { ip("fd74::2") });
        assert_eq!(sorted(&["10.0.0.10", "fd74:2::10"], both), [ip("fd74:2::10"), ip("10.0.0.10")]);
    }

    #[test]
    fn ipv4_first_when_ipv6_is_unreachable_from_the_target() {
        let v4_only = |addr: IpAddr| addr.is_ipv4().then(|| ip("10.0.0.2"));
        assert_eq!(sorted(&["fd74:2::10", "10.0.0.10"], v4_only), [ip("10.0.0.10"), ip("fd74:2::10")]);
    }

    #[test]
    fn a_link_local_source_does_not_make_a_global_ipv6_destination_preferred() {
        let sources = |addr: IpAddr| Some(if addr.is_ipv4() { ip("10.0.0.2") } else { ip("fe80::2") });
        assert_eq!(sorted(&["2001:db8::1", "10.0.0.10"], sources), [ip("10.0.0.10"), ip("2001:db8::1")]);
    }

    #[test]
    fn the_order_within_a_family_is_kept() {
        let both = |addr: IpAddr| Some(if addr.is_ipv4() { ip("10.0.0.2") } else { ip("fd74::2") });
        let order = sorted(&["10.0.0.11", "10.0.0.10", "fd74::11", "fd74::10"], both);
        assert_eq!(order, [ip("fd74::11"), ip("fd74::10"), ip("10.0.0.11"), ip("10.0.0.10")]);
    }
}
