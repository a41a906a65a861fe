//! The agent's request handlers, all registered in one table, [`handle_request`]: file
//! requests map onto [`TargetFs`] methods run on the blocking pool, the others have a
//! `handle_*` function. DNS work runs on the target's network runtime (inside [`crate::dns`]).

use std::sync::Arc;

use rustix::io::Errno;
use tether_rpc_schema::wire::{Family, Message};

use crate::dns::TargetResolver;
use crate::files::{self, TargetFs};
use crate::{env, netns};

/// What every handler may use.
pub struct Agent {
    pub pid: u32,
    pub fs: Arc<TargetFs>,
    pub dns: TargetResolver,
}

/// Answers one request (stream opens and pings are handled by the connection).
pub async fn handle_request(agent: &Agent, request: Message) -> Message {
    let result = match request {
        Message::EnvGet => handle_env_get(agent).await,
        Message::HostnameGet => handle_hostname_get(agent).await,
        Message::FileRead { path, offset, len } => on_fs(agent, "read", move |fs| fs.read(&path, offset, len))
            .await
            .map(|chunk| Message::FileData { meta: chunk.meta, data: chunk.data, eof: chunk.eof }),
        Message::FileStat { path, follow } => {
            on_fs(agent, "stat", move |fs| fs.stat(&path, follow)).await.map(Message::FileStatus)
        }
        Message::FileAccess { path, mode } => on_fs(agent, "access", move |fs| fs.access(&path, mode)).await.map(done),
        Message::FileReadlink { path } => {
            on_fs(agent, "readlink", move |fs| fs.readlink(&path)).await.map(Message::Path)
        }
        Message::FileRealpath { path } => {
            on_fs(agent, "realpath", move |fs| fs.realpath(&path)).await.map(Message::Path)
        }
        Message::FileReadDir { path } => {
            on_fs(agent, "readdir", move |fs| fs.read_dir(&path)).await.map(Message::DirEntries)
        }
        Message::FileWrite { path, data, append, mode } => {
            on_fs(agent, "write", move |fs| fs.write(&path, &data, append, mode)).await.map(done)
        }
        Message::FileUnlink { path } => on_fs(agent, "unlink", move |fs| fs.unlink(&path)).await.map(done),
        Message::FileMkdir { path, mode } => on_fs(agent, "mkdir", move |fs| fs.mkdir(&path, mode)).await.map(done),
        Message::FileRmdir { path } => on_fs(agent, "rmdir", move |fs| fs.rmdir(&path)).await.map(done),
        Message::FileRename { from, to } => on_fs(agent, "rename", move |fs| fs.rename(&from, &to)).await.map(done),
        Message::DnsLookup { name, family } => Ok(handle_dns_lookup(agent, &name, family).await),
        other => Err(Message::failure(libc::ENOSYS, format!("the agent does not answer {}", other.kind()))),
    };
    result.unwrap_or_else(|failure| failure)
}

async fn handle_env_get(agent: &Agent) -> Result<Message, Message> {
    let pid = agent.pid;
    let read = tokio::task::spawn_blocking(move || env::read(pid)).await.map_err(join_failure)?;
    read.map(Message::EnvVars).map_err(|err| {
        Message::failure(err.raw_os_error().unwrap_or(libc::EIO), format!("reading the target's environment: {err}"))
    })
}

/// The target's host name from its UTS namespace; when the agent may not enter that, the
/// target's `/etc/hostname` (what a kubelet writes there is the pod's name too).
async fn handle_hostname_get(agent: &Agent) -> Result<Message, Message> {
    let (pid, fs) = (agent.pid, agent.fs.clone());
    let read = move || match netns::target_hostname(pid) {
        Ok(name) => Ok(name),
        Err(err) => {
            tracing::warn!(%err, "cannot read the host name of the target's UTS namespace; using its /etc/hostname");
            let chunk = fs.read(b"/etc/hostname", 0, 256).map_err(|errno| {
                (errno.raw_os_error(), format!("reading the target's host name: {err}; /etc/hostname: {errno}"))
            })?;
            Ok(String::from_utf8_lossy(&chunk.data).trim().to_string())
        }
    };
    let name = tokio::task::spawn_blocking(read)
        .await
        .map_err(join_failure)?
        .map_err(|(errno, message)| Message::failure(errno, message))?;
    Ok(Message::Hostname { name })
}

async fn handle_dns_lookup(agent: &Agent, name: &str, family: Family) -> Message {
    match agent.dns.lookup(name, family).await {
        Ok(answer) => Message::DnsAnswer { canonical_name: answer.canonical_name, addrs: answer.addrs },
        Err(err) => {
            tracing::warn!(%err, "dns lookup failed");
            Message::failure(libc::EAGAIN, err.to_string())
        }
    }
}

/// Runs a file operation on the blocking pool; its errno becomes a `Failure`.
async fn on_fs<T: Send + 'static>(
    agent: &Agent,
    op: &'static str,
    work: impl FnOnce(&TargetFs) -> files::Result<T> + Send + 'static,
) -> Result<T, Message> {
    let fs = agent.fs.clone();
    tokio::task::spawn_blocking(move || work(&fs))
        .await
        .map_err(join_failure)?
        .map_err(|errno: Errno| Message::failure(errno.raw_os_error(), format!("{op}: {errno}")))
}

fn done(_: ()) -> Message {
    Message::Done
}

fn join_failure(err: tokio::task::JoinError) -> Message {
    Message::failure(libc::EIO, format!("the agent's worker failed: {err}"))
}
