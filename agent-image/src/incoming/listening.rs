//! Whether something in the target's network listens on a TCP port, from the kernel's socket
//! tables of the namespace (`/proc/thread-self/net/tcp` and `tcp6`, read on the namespace's
//! thread).

use std::io;

use tether_rpc_schema::incoming::listening_ports;

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
