//! How the agent's TCP sockets end: with a reset unless the stream they carry ended cleanly in
//! both directions, so that a dying agent (SIGKILL included: the kernel closes the socket with
//! the zero linger set here) or a cut stream never looks like a complete transfer to the
//! target's server or client.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::net::sockopt;

/// A TCP socket armed to reset when closed, until [`ResetOnClose::close_normally`].
pub struct ResetOnClose(OwnedFd);

impl ResetOnClose {
    /// Arms `socket`. Keeps a duplicate of its descriptor, so the choice can still be revised
    /// after the socket itself was handed to a relay; `None` when the socket cannot be armed
    /// (it then closes normally).
    pub fn arm(socket: &impl AsFd) -> Option<ResetOnClose> {
        let fd = socket.as_fd();
        if let Err(err) = sockopt::set_socket_linger(fd, Some(Duration::ZERO)) {
            tracing::debug!(%err, "cannot arm a reset; the connection closes normally");
            return None;
        }
        fd.try_clone_to_owned().ok().map(ResetOnClose)
    }

    /// The stream ended cleanly both ways: the socket closes with a normal end of stream.
    pub fn close_normally(self) {
        let _ = sockopt::set_socket_linger(&self.0, None);
    }
}
