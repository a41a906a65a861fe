//! Who is on the other end of a Unix socket.

use tokio::net::UnixStream;

/// Whether the peer process runs as the same user as this one (`SO_PEERCRED`).
pub fn same_user(stream: &UnixStream) -> bool {
    stream.peer_cred().is_ok_and(|cred| cred.uid() == nix::unistd::Uid::effective().as_raw())
}

/// This user and machine in words (`user@host`), for refusals other developers read.
pub fn user_at_host() -> String {
    let uid = nix::unistd::Uid::effective();
    let user = nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| format!("uid {uid}"), |user| user.name);
    let host = nix::unistd::gethostname().map_or_else(|_| "?".into(), |host| host.to_string_lossy().into_owned());
    format!("{user}@{host}")
}
