//! The agent's lifetime follows its target's: a pidfd of the target tells when it exits, and
//! the agent then says so to its daemons and ends.

use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::watch;

/// Sets `gone_tx` to the reason once the target process `pid` (watched by `pidfd`) exits.
pub async fn watch_target(pidfd: OwnedFd, pid: u32, gone_tx: watch::Sender<Option<String>>) {
    // SAFETY: the AsyncFd owns `pidfd`, so the descriptor stays open for as long as it is
    // registered.
    let fd = match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
        Ok(fd) => fd,
        Err(err) => {
            tracing::warn!(%err, "the target's exit is not watched; the agent serves until idle");
            return;
        }
    };
    // A pidfd becomes readable when its process exits, and stays readable.
    if let Err(err) = fd.readable().await {
        tracing::warn!(%err, "the target's exit is not watched; the agent serves until idle");
        return;
    }
    let reason = format!("the target process {pid} exited");
    tracing::info!(%reason, "ending the agent");
    let _ = gone_tx.send(Some(reason));
}
