//! The only place that switches namespaces: a dedicated OS thread joins the target's network
//! namespace and runs a current-thread tokio runtime there. Everything that must create sockets
//! in the target's network (outgoing TCP and UDP, the DNS resolver) is spawned onto it.
//!
//! Namespaces belong to threads, so the rest of the agent (its listener, file work on the
//! blocking pool) stays in the agent's own namespaces. A socket keeps the namespace it was
//! created in, so sockets are created here and may then be driven from any runtime. Nothing on
//! this runtime may use `spawn_blocking`: the blocking pool's threads would be created from
//! whichever thread first needs one. Child processes started from this thread (the
//! incoming-rules guard) are born in the target's network namespace and the agent's mount
//! namespace, so they run the agent's own binary.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::target::not_permitted_message;

/// How long a TCP connect may take before it fails with `ETIMEDOUT`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the namespace thread could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// `setns` was refused: the agent lacks CAP_SYS_ADMIN over the target's namespace.
    #[error("{}", not_permitted_message("the target's network namespace"))]
    NotPermitted,
    /// `setns` or the runtime failed for another reason.
    #[error("cannot enter the target's network namespace: {0}")]
    Enter(String),
}

/// A handle to the runtime that lives in the target's network namespace.
#[derive(Debug, Clone)]
pub struct TargetNet {
    handle: Handle,
}

impl TargetNet {
    /// Starts the namespace thread and waits until it has joined the namespace of `netns`.
    pub fn start(netns: OwnedFd) -> Result<TargetNet, NetnsError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("target-netns".into())
            .spawn(move || run_thread(netns, ready_tx))
            .map_err(|err| NetnsError::Enter(err.to_string()))?;
        let handle = ready_rx.recv().map_err(|_| NetnsError::Enter("the namespace thread ended early".into()))??;
        Ok(TargetNet { handle })
    }

    /// Runs `work` in the target's network namespace.
    pub fn spawn<F>(&self, work: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(work)
    }

    /// Connects to `addr` from the target's network, with `TCP_NODELAY`. The returned stream
    /// is not yet registered with any runtime.
    pub async fn tcp_connect(&self, addr: SocketAddr) -> std::io::Result<std::net::TcpStream> {
        self.run(async move {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| std::io::Error::from_raw_os_error(libc::ETIMEDOUT))??;
            stream.set_nodelay(true)?;
            stream.into_std()
        })
        .await
    }

    /// A UDP socket in the target's network, connected to `addr`, not yet registered with any
    /// runtime.
    pub async fn udp_connect(&self, addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
        self.run(async move {
            let any: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
            let socket = std::net::UdpSocket::bind(any)?;
            socket.connect(addr)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .await
    }

    /// A listening TCP socket on `addr` in the target's network (non-blocking, not yet
    /// registered with any runtime).
    pub async fn tcp_listen(&self, addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
        self.run(async move {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                let socket = tokio::net::TcpSocket::new_v6()?;
                rustix::net::sockopt::set_ipv6_v6only(&socket, true)?;
                socket
            };
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(1024)?.into_std()
        })
        .await
    }

    /// Connects to `addr` from the target's network with `SO_MARK` set to `mark`, so the
    /// incoming redirect rules (which skip marked packets) let it reach the target's own
    /// server; with `TCP_NODELAY`, not yet registered with any runtime.
    pub async fn tcp_connect_marked(&self, addr: SocketAddr, mark: u32) -> std::io::Result<std::net::TcpStream> {
        self.run(async move {
            let socket =
                if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
            set_mark(&socket, mark)?;
            socket.set_nodelay(true)?;
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr))
                .await
                .map_err(|_| std::io::Error::from_raw_os_error(libc::ETIMEDOUT))??;
            stream.into_std()
        })
        .await
    }

    /// Runs `make` on the namespace thread, for what keeps the namespace it is made in (a
    /// netlink socket); `make` must not block.
    pub async fn create<T: Send + 'static>(
        &self,
        make: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        self.run(async move { make() }).await
    }

    /// Starts `command` in the target's network namespace and leaves it running.
    pub async fn spawn_process(&self, mut command: std::process::Command) -> std::io::Result<std::process::Child> {
        self.run(async move { command.spawn() }).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = std::io::Result<T>> + Send + 'static,
    ) -> std::io::Result<T> {
        self.spawn(work).await.map_err(|err| std::io::Error::other(format!("network task failed: {err}")))?
    }
}

fn set_mark(socket: &impl std::os::fd::AsRawFd, mark: u32) -> std::io::Result<()> {
    // SAFETY: `socket` is an open socket and the option value is a u32 of the given length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn run_thread(netns: OwnedFd, ready_tx: mpsc::Sender<Result<Handle, NetnsError>>) {
    let entered = move_into_link_name_space(std::os::fd::AsFd::as_fd(&netns), Some(LinkNameSpaceType::Network))
        .map_err(|errno| match errno {
            Errno::PERM | Errno::ACCESS => NetnsError::NotPermitted,
            other => NetnsError::Enter(other.to_string()),
        });
    drop(netns);
    let runtime = entered.and_then(|()| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| NetnsError::Enter(err.to_string()))
    });
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready_tx.send(Err(err));
            return;
        }
    };
    if ready_tx.send(Ok(runtime.handle().clone())).is_err() {
        return;
    }
    // Tasks spawned through the handle only run while this thread drives the runtime; the
    // thread lives as long as the process.
    runtime.block_on(std::future::pending::<()>());
}

/// The host name of process `pid`: the node name of its UTS namespace, read on a short-lived
/// thread that joins that namespace (namespaces belong to threads: every other thread of the
/// agent keeps its own). `/proc/sys/kernel/hostname` answers for the reading thread's UTS
/// namespace. Blocking.
pub fn target_hostname(pid: u32) -> std::io::Result<String> {
    let uts = rustix::fs::open(
        format!("/proc/{pid}/ns/uts"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let read = move || {
        move_into_link_name_space(std::os::fd::AsFd::as_fd(&uts), Some(LinkNameSpaceType::HostNameAndNISDomainName))?;
        Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim_end().to_string())
    };
    std::thread::Builder::new()
        .name("target-uts".into())
        .spawn(read)?
        .join()
        .map_err(|_| std::io::Error::other("the thread reading the target's host name panicked"))?
}
