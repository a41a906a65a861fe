//! Who is on the other end of a Unix socket.

use tokio::net::UnixStream;

/// Whether the peer process runs as the same user as this one (`SO_PEERCRED`).
pub fn same_user(stream: &UnixStream) -> bool {
    stream.peer_cred().is_ok_and(|cred| cred.uid() == nix::unistd::Uid::effective().as_raw())
}
