//! Whether something in the target's network listens on a TCP port, from the kernel's socket
//! tables of the namespace (`/proc/thread-self/net/tcp` and `tcp6`, read on the namespace's
//! thread).

use std::io;

/// The state column's value of a listening socket (`TCP_LISTEN`).
const LISTEN: &str = "0A";

/// Whether a socket of the calling thread's network namespace listens on TCP `port`, leaving
/// out the ports in `except` (the agent's own interception listeners).
pub fn listens(port: u16, except: &[u16]) -> io::Result<bool> {
    if except.contains(&port) {
        return Ok(false);
    }
    for table in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
        match std::fs::read_to_string(table) {
            Ok(text) if listening_ports(&text).any(|listening| listening == port) => return Ok(true),
            Ok(_) => {}
            // A kernel without IPv6 has no tcp6 table.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(false)
}

/// The local ports of the listening sockets in one socket table.
fn listening_ports(table: &str) -> impl Iterator<Item = u16> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut columns = line.split_whitespace();
        let local = columns.nth(1)?;
        let state = columns.nth(1)?;
        let (_, port) = local.rsplit_once(':')?;
        (state == LISTEN).then(|| u16::from_str_radix(port, 16).ok()).flatten()
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
