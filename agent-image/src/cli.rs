//! The agent's command line, as documented in `ARCHITECTURE.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Environment variable carrying the token the daemon must present in `Hello`; never argv,
/// which other users can read.
pub const TOKEN_ENV: &str = "TETHER_AGENT_TOKEN";

/// Serves the tether wire protocol for one target process or container.
#[derive(Debug, Parser)]
#[command(name = "tether-agent", version)]
pub struct Args {
    /// Process id of the target, as seen from the agent.
    #[arg(long, conflicts_with = "container_id", required_unless_present = "container_id")]
    pub pid: Option<u32>,
    /// Container of the target: exact id, unique id prefix or name.
    #[arg(long)]
    pub container_id: Option<String>,
    /// Container runtime that knows the container [default: containerd].
    #[arg(long, value_enum, conflicts_with = "pid")]
    pub runtime: Option<RuntimeKind>,
    /// Unix socket of the container runtime (default depends on --runtime).
    #[arg(long, conflicts_with = "pid")]
    pub runtime_socket: Option<PathBuf>,
    /// Containerd namespace to search (default: every namespace).
    #[arg(long, conflicts_with = "pid")]
    pub runtime_namespace: Option<String>,
    /// Loopback address to serve the wire protocol on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seconds without any connection after which the agent exits.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u64,
    /// Seconds the agent waits for its daemon to connect again after the last connection ended
    /// (a cut port-forward) before it exits.
    #[arg(long, default_value_t = 0)]
    pub reconnect_grace: u64,
}

/// Container runtimes the agent can ask for a container's PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    Containerd,
    Docker,
    /// No runtime API: the container's main process is found by the container id in the
    /// cgroups of the processes the agent sees (any runtime; needs the host's pid namespace).
    Cgroup,
}

/// What the agent works on, as named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A process id.
    Pid(u32),
    /// A container known to a container runtime.
    Container { name_or_id: String, runtime: RuntimeKind, socket: PathBuf, namespace: Option<String> },
}

impl Args {
    /// The target named by `--pid` or `--container-id` and the runtime options.
    pub fn target(&self) -> TargetSpec {
        match (&self.container_id, self.pid) {
            (Some(name_or_id), _) => {
                let runtime = self.runtime.unwrap_or(RuntimeKind::Containerd);
                TargetSpec::Container {
                    name_or_id: name_or_id.clone(),
                    runtime,
                    socket: self.runtime_socket.clone().unwrap_or_else(|| runtime.default_socket()),
                    namespace: self.runtime_namespace.clone(),
                }
            }
            // clap requires one of the two.
            (None, pid) => TargetSpec::Pid(pid.unwrap_or_default()),
        }
    }

    /// How long the agent waits without connections before exiting.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }

    /// How long the agent waits for its daemon to come back.
    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_secs(self.reconnect_grace)
    }
}

impl RuntimeKind {
    /// Where the runtime's API socket usually lives.
    pub fn default_socket(self) -> PathBuf {
        match self {
            RuntimeKind::Containerd => PathBuf::from("/run/containerd/containerd.sock"),
            RuntimeKind::Docker => PathBuf::from("/var/run/docker.sock"),
            RuntimeKind::Cgroup => PathBuf::from("/proc"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("tether-agent").chain(args.iter().copied()))
    }

    #[test]
    fn target_pid_uses_defaults() {
        let args = parse(&["--pid", "42"]).unwrap();
        assert_eq!(args.target(), TargetSpec::Pid(42));
        assert_eq!(args.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(args.idle_timeout(), Duration::from_secs(60));
    }

    #[test]
    fn target_container_defaults_to_containerd_socket() {
        let args = parse(&["--container-id", "web", "--runtime-namespace", "k8s.io"]).unwrap();
        assert_eq!(
            args.target(),
            TargetSpec::Container {
                name_or_id: "web".into(),
                runtime: RuntimeKind::Containerd,
                socket: "/run/containerd/containerd.sock".into(),
                namespace: Some("k8s.io".into()),
            }
        );
    }

    #[test]
    fn parse_pid_and_container_together_is_refused() {
        assert!(parse(&["--pid", "1", "--container-id", "web"]).is_err());
    }

    #[test]
    fn parse_without_target_is_refused() {
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn parse_runtime_options_need_a_container() {
        assert!(parse(&["--pid", "1", "--runtime", "docker"]).is_err());
    }
}
