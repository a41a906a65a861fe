//! Incoming traffic: what a subscription asks the agent to do with connections that arrive at
//! the target on a port, and the HTTP filter that picks requests. Only data here: the agent
//! compiles the filter's regular expressions, the daemon validates them first.

use serde::{Deserialize, Serialize};

/// Capability string of peers that speak the incoming messages
/// ([`crate::wire::Message::IncomingSubscribe`] and the others). A daemon subscribes only on an
/// agent whose `HelloOk` announced it; a layer's listen reports are answered only by a daemon
/// whose `HelloOk` announced it.
pub const CAPABILITY: &str = "incoming";

/// Announced by an agent that honours `served_only` in
/// [`crate::wire::Message::IncomingSubscribe`]. A daemon never asks an agent without it for a
/// port the config does not name.
pub const SERVED_ONLY_CAPABILITY: &str = "incoming-served-only";

/// Bit set in the ids of streams the agent opens ([`crate::wire::Message::IncomingConnection`]),
/// so they never collide with the ids the daemon picks for its own streams.
pub const AGENT_STREAM_BIT: u64 = 1 << 63;

/// What happens to a connection that arrives at the target on a subscribed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncomingMode {
    /// The target's own server gets the connection unchanged; a copy of the client → server
    /// bytes goes to the user process, whose replies are discarded.
    Mirror,
    /// The user process gets the connection instead of the target's server.
    Steal,
}

/// Which HTTP requests a subscription concerns. Regular expressions use the syntax of the
/// Rust `regex` crate and match anywhere unless anchored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpFilter {
    /// Matches any header line `Name: value` (name as sent, one space after the colon).
    Header(String),
    /// Matches the request's path and query (`/orders?id=7`).
    Path(String),
    /// The request method, compared case-insensitively (`GET`).
    Method(String),
    /// Every filter matches (an empty list matches every request).
    AllOf(Vec<HttpFilter>),
    /// At least one filter matches (an empty list matches none).
    AnyOf(Vec<HttpFilter>),
}

/// The state column's value of a listening socket (`TCP_LISTEN`) in the kernel's socket tables.
const TCP_LISTEN: &str = "0A";

/// The local ports of the listening sockets in one of the kernel's TCP socket tables (the text
/// of `/proc/net/tcp` or `/proc/net/tcp6`), for whoever must tell whether a port is served.
pub fn listening_ports(table: &str) -> impl Iterator<Item = u16> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut columns = line.split_whitespace();
        let local = columns.nth(1)?;
        let state = columns.nth(1)?;
        let (_, port) = local.rsplit_once(':')?;
        (state == TCP_LISTEN).then(|| u16::from_str_radix(port, 16).ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listening_sockets_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1120 1
   1: 0100007F:2384 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1121 1
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1122 1";
        assert_eq!(listening_ports(table).collect::<Vec<_>>(), [8080, 80]);
    }

    #[test]
    fn an_ipv6_table_is_read_the_same_way() {
        let table = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000";
        assert_eq!(listening_ports(table).collect::<Vec<_>>(), [9000]);
    }
}
