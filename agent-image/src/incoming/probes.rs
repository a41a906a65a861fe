//! Kubelet probes on an intercepted port: which peers are the node (the kubelet probes a pod
//! from the node's network namespace) and which requests are probes (`User-Agent:
//! kube-probe/<version>`, also for gRPC probes, whose client appends its own name).
//!
//! The node's addresses depend on what the agent sees. When `/proc/1` is in another network
//! namespace than the target (local agents, and agent pods, which run with `hostPID`), it is
//! the host's or the node's init: its namespace's local addresses are the node's. Otherwise
//! (an ephemeral container sharing the pod's pid namespace) the node is seen only as the
//! gateway of the target's default routes, which is the node's address on bridge CNIs.
//! Loopback addresses never count: a loopback peer is the pod itself.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hyper::Request;

/// What a kubelet's probe request starts its `User-Agent` with.
const PROBE_AGENT: &[u8] = b"kube-probe/";

/// `RTF_GATEWAY` in the flags of `/proc/net/route` and `/proc/net/ipv6_route`.
const RTF_GATEWAY: u32 = 0x2;

/// The addresses the kubelet's probes come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    addresses: Vec<IpAddr>,
}

impl Node {
    /// Whether `peer` is one of the node's addresses.
    pub fn is(&self, peer: IpAddr) -> bool {
        self.addresses.contains(&peer.to_canonical())
    }

    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    fn new(mut addresses: Vec<IpAddr>) -> Node {
        addresses.retain(|address| !address.is_loopback() && !address.is_unspecified());
        addresses.sort();
        addresses.dedup();
        Node { addresses }
    }
}

/// Whether `request` is a kubelet probe.
pub fn is_probe<B>(request: &Request<B>) -> bool {
    request.headers().get_all(hyper::header::USER_AGENT).iter().any(|agent| agent.as_bytes().starts_with(PROBE_AGENT))
}

/// Reads the node's addresses; runs on the target's network-namespace thread (it compares
/// that thread's namespace with `/proc/1`'s and reads the target's routes through
/// `/proc/thread-self`). Reads only procfs, so it does not block.
pub fn node() -> io::Result<Node> {
    let target = namespace_id("/proc/thread-self/ns/net")?;
    // Unreadable when pid 1 is more privileged than the agent: then it is not the pod's.
    let init_is_target = namespace_id("/proc/1/ns/net").is_ok_and(|init| init == target);
    let addresses = if init_is_target {
        let mut gateways = default_gateways_v4(&std::fs::read_to_string("/proc/thread-self/net/route")?);
        gateways.extend(default_gateways_v6(&read_optional("/proc/thread-self/net/ipv6_route")?));
        gateways
    } else {
        let mut local = local_v4(&std::fs::read_to_string("/proc/1/net/fib_trie")?);
        local.extend(local_v6(&read_optional("/proc/1/net/if_inet6")?));
        local
    };
    Ok(Node::new(addresses))
}

/// The device and inode of a namespace file: equal for the same namespace.
fn namespace_id(path: &str) -> io::Result<(u64, u64)> {
    let stat = rustix::fs::stat(path)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// A procfs file that a kernel without IPv6 lacks, as empty text then.
fn read_optional(path: &str) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        read => read,
    }
}

/// The IPv4 addresses of a namespace's interfaces: the `/32 host LOCAL` entries of
/// `/proc/net/fib_trie`, each on the line after its `|-- <address>` line.
fn local_v4(fib_trie: &str) -> Vec<IpAddr> {
    let mut addresses = Vec::new();
    let mut last = None;
    for line in fib_trie.lines().map(str::trim) {
        if let Some(address) = line.strip_prefix("|-- ") {
            last = address.parse::<Ipv4Addr>().ok();
        } else if line.starts_with("/32 host LOCAL") {
            addresses.extend(last.take().map(IpAddr::V4));
        }
    }
    addresses
}

/// The IPv6 addresses of a namespace's interfaces, from `/proc/net/if_inet6` (the address in
/// 32 hex digits first on each line).
fn local_v6(if_inet6: &str) -> Vec<IpAddr> {
    if_inet6.lines().filter_map(|line| hex_v6(line.split_whitespace().next()?)).map(IpAddr::V6).collect()
}

/// The gateways of the IPv4 default routes in `/proc/net/route` (destination and mask 0).
/// Addresses are hex of the value in network order as the machine stores it.
fn default_gateways_v4(route: &str) -> Vec<IpAddr> {
    route
        .lines()
        .skip(1)
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let (destination, gateway, flags, mask) =
                (columns.get(1)?, columns.get(2)?, columns.get(3)?, columns.get(7)?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            if *destination != "00000000" || *mask != "00000000" || flags & RTF_GATEWAY == 0 {
                return None;
            }
            let gateway = u32::from_str_radix(gateway, 16).ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(gateway.to_ne_bytes())))
        })
        .collect()
}

/// The next hops of the IPv6 default routes in `/proc/net/ipv6_route` (destination `::/0`).
fn default_gateways_v6(ipv6_route: &str) -> Vec<IpAddr> {
    ipv6_route
        .lines()
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let (destination, prefix, next_hop, flags) =
                (columns.first()?, columns.get(1)?, columns.get(4)?, columns.get(8)?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            if hex_v6(destination)? != Ipv6Addr::UNSPECIFIED || *prefix != "00" || flags & RTF_GATEWAY == 0 {
                return None;
            }
            Some(IpAddr::V6(hex_v6(next_hop)?))
        })
        .collect()
}

/// An IPv6 address written as 32 hex digits.
fn hex_v6(hex: &str) -> Option<Ipv6Addr> {
    (hex.len() == 32).then(|| u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node's `/proc/net/fib_trie`: loopback, an address on `lo` (the fixture cluster's
    /// node address) and a bridge for pods.
    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     |-- 10.243.0.1
        /32 host LOCAL
     +-- 10.244.0.0/24 2 0 2
        |-- 10.244.0.0
           /24 link UNICAST
        |-- 10.244.0.1
           /32 host LOCAL
        |-- 10.244.0.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.244.0.1
        /32 host LOCAL
     |-- 127.0.0.1
        /32 host LOCAL
";

    #[test]
    fn local_v4_reads_the_host_local_entries_only() {
        let addresses = local_v4(FIB_TRIE);
        let node = Node::new(addresses);
        assert_eq!(node.addresses(), ["10.243.0.1".parse::<IpAddr>().unwrap(), "10.244.0.1".parse().unwrap()]);
        assert!(!node.is("10.244.0.255".parse().unwrap()), "a broadcast address is no host's");
        assert!(!node.is("127.0.0.1".parse().unwrap()), "loopback is the pod itself");
    }

    #[test]
    fn local_v6_reads_every_address_but_loopback_counts_for_nothing() {
        let if_inet6 = "00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 02 40 00 80     eth0
fe8000000000000000fc00fffe000001 02 40 20 80     eth0
";
        let node = Node::new(local_v6(if_inet6));
        assert_eq!(node.addresses(), ["fd00::2".parse::<IpAddr>().unwrap(), "fe80::fc:ff:fe00:1".parse().unwrap()]);
    }

    #[test]
    fn node_knows_an_ipv4_peer_of_a_dual_stack_socket() {
        let node = Node::new(vec!["10.244.0.1".parse().unwrap()]);
        assert!(node.is("::ffff:10.244.0.1".parse().unwrap()));
        assert!(!node.is("10.244.0.7".parse().unwrap()));
    }

    #[test]
    fn default_gateways_v4_skips_routes_that_are_not_default() {
        let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0100F40A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0000F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000000A\t0100000A\t0003\t0\t0\t0\t000000FF\t0\t0\t0
";
        let expected = Ipv4Addr::from(u32::from_str_radix("0100F40A", 16).unwrap().to_ne_bytes());
        assert_eq!(default_gateways_v4(route), [IpAddr::V4(expected)]);
        if cfg!(target_endian = "little") {
            assert_eq!(expected, Ipv4Addr::new(10, 244, 0, 1));
        }
    }

    #[test]
    fn default_gateways_v6_skips_unreachable_defaults_and_other_routes() {
        let route = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";
        assert_eq!(default_gateways_v6(route), ["fe80::1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn is_probe_reads_the_user_agent_of_http_and_grpc_probes() {
        let request = |agent: &str| Request::builder().header("user-agent", agent).body(()).unwrap();
        assert!(is_probe(&request("kube-probe/1.30")));
        assert!(is_probe(&request("kube-probe/1.33 grpc-go/1.68.0")));
        assert!(!is_probe(&request("curl/8.5.0 kube-probe/1.30")));
        assert!(!is_probe(&Request::builder().body(()).unwrap()));
    }
}
