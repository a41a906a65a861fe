//! How the agent's TCP sockets end: with a reset unless the stream they carry ended cleanly in
//! both directions, so that a dying agent (SIGKILL included: the kernel closes the socket with
//! the zero linger set here) or a cut stream never looks like a complete transfer to the
//! target's server or client.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::net::sockopt;

/// A TCP socket armed to reset when closed, until [`ResetOnClose::close_normally`].
pub struct ResetOnClose(Option<OwnedFd>);

impl ResetOnClose {
    /// Arms `socket`. Keeps a duplicate of its descriptor, so the choice can still be revised
    /// after the socket itself was handed to a relay. A socket that cannot be armed closes
    /// normally.
    pub fn arm(socket: &impl AsFd) -> ResetOnClose {
        let fd = socket.as_fd();
        if let Err(err) = sockopt::set_socket_linger(fd, Some(Duration::ZERO)) {
            tracing::debug!(%err, "cannot arm a reset; the connection closes normally");
            return ResetOnClose(None);
        }
        match fd.try_clone_to_owned() {
            Ok(dup) => ResetOnClose(Some(dup)),
            Err(err) => {
                // Without the duplicate a clean end could not be told: better a normal close.
                tracing::debug!(%err, "cannot arm a reset; the connection closes normally");
                let _ = sockopt::set_socket_linger(fd, None);
                ResetOnClose(None)
            }
        }
    }

    /// The stream ended cleanly both ways: the socket closes with a normal end of stream.
    pub fn close_normally(self) {
        if let Some(fd) = &self.0 {
            let _ = sockopt::set_socket_linger(fd, None);
        }
    }
}
