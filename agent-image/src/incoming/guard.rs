//! The guard: a child process (the agent's own binary, hidden subcommand [`GUARD_COMMAND`])
//! that removes the agent's redirect table once the agent is gone, however it ended — even
//! by SIGKILL. It holds the read end of a pipe whose write end only the agent has; when the
//! pipe reports end-of-file, the agent is dead and the guard deletes the table over netlink.
//! It is started from the target's network namespace (so its netlink socket acts there) in
//! its own process group (so a terminal's Ctrl-C to the agent does not take it down first).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};

use super::nftables::Nftables;
use crate::netns::TargetNet;

/// First argument that makes `tether-agent` run as a guard: `tether-agent incoming-guard TABLE`.
pub const GUARD_COMMAND: &str = "incoming-guard";

/// Starts the guard of `table`; the agent keeps the returned pipe open for the rest of its life.
pub async fn start(net: &TargetNet, table: &str) -> std::io::Result<ChildStdin> {
    let mut command = Command::new("/proc/self/exe");
    command.arg(GUARD_COMMAND).arg(table).stdin(Stdio::piped()).stdout(Stdio::null()).process_group(0);
    let mut child = net.spawn_process(command).await?;
    child.stdin.take().ok_or_else(|| std::io::Error::other("the guard has no stdin pipe"))
}

/// The guard's whole life: wait for the agent to go, then delete its table.
pub fn run(args: &[String]) -> std::process::ExitCode {
    let [table] = args else {
        eprintln!("usage: tether-agent {GUARD_COMMAND} TABLE");
        return std::process::ExitCode::from(2);
    };
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    // The agent never writes: any return means its end of the pipe is closed.
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    match Nftables::open().and_then(|mut nftables| nftables.delete_table(table)) {
        Ok(true) => tracing::info!(%table, "agent gone; removed its incoming redirect rules"),
        // The agent removed its table itself (nothing was subscribed any more).
        Ok(false) => tracing::debug!(%table, "agent gone; it had no incoming redirect rules"),
        Err(err) => tracing::warn!(%table, %err, "cannot remove the incoming redirect rules of the agent"),
    }
    std::process::ExitCode::SUCCESS
}
