//! The guard: a child process (the agent's own binary, hidden subcommand [`GUARD_COMMAND`])
//! that removes the agent's redirect table once the agent is gone, however it ended — even
//! by SIGKILL. It holds the read end of a pipe whose write end only the agent has; when the
//! pipe reports end-of-file, the agent is dead and the guard deletes the table. It is started
//! from the target's network namespace (so its `nft` acts there) in its own process group (so
//! a terminal's Ctrl-C to the agent does not take it down first).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};

use crate::netns::TargetNet;

/// First argument that makes `tether-agent` run as a guard: `tether-agent incoming-guard NFT TABLE`.
pub const GUARD_COMMAND: &str = "incoming-guard";

/// Starts the guard of `table`; the agent keeps the returned pipe open for the rest of its life.
pub async fn start(net: &TargetNet, nft: &Path, table: &str) -> std::io::Result<ChildStdin> {
    let mut command = Command::new("/proc/self/exe");
    command.arg(GUARD_COMMAND).arg(nft).arg(table).stdin(Stdio::piped()).stdout(Stdio::null()).process_group(0);
    let mut child = net.spawn_process(command).await?;
    child.stdin.take().ok_or_else(|| std::io::Error::other("the guard has no stdin pipe"))
}

/// The guard's whole life: wait for the agent to go, then delete its table.
pub fn run(args: &[String]) -> std::process::ExitCode {
    let [nft, table] = args else {
        eprintln!("usage: tether-agent {GUARD_COMMAND} NFT TABLE");
        return std::process::ExitCode::from(2);
    };
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    // The agent never writes: any return means its end of the pipe is closed.
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    let deleted = Command::new(nft).args(["delete", "table", "inet", table]).stdout(Stdio::null()).output();
    match deleted {
        Ok(output) if output.status.success() => {
            tracing::info!(%table, "agent gone; removed its incoming redirect rules");
        }
        Ok(output) => {
            // Nothing to delete when the agent removed its table itself or the namespace is gone.
            tracing::debug!(%table, stderr = %String::from_utf8_lossy(&output.stderr).trim(), "nft delete failed");
        }
        Err(err) => tracing::warn!(%table, %err, "cannot run nft to remove the agent's rules"),
    }
    std::process::ExitCode::SUCCESS
}
