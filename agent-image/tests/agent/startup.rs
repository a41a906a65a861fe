//! Start-up reports, the hello handshake and the idle exit.

use std::process::{Command, Stdio};
use std::time::Duration;

use tether_rpc_schema::startup::{AgentStartup, StartupFailure};
use tether_rpc_schema::wire::{Hello, Message, Role, TARGET_GONE_CAPABILITY};
use tether_rpc_schema::PROTOCOL_VERSION;

use crate::harness::{agent_command, require_root, start_agent, Agent, Client, Target};

fn failure_of(args: &[&str], token: Option<&str>) -> (StartupFailure, String, Option<i32>) {
    let mut command = agent_command(args);
    match token {
        Some(token) => command.env("TETHER_AGENT_TOKEN", token),
        None => command.env_remove("TETHER_AGENT_TOKEN"),
    };
    let (startup, mut child) = start_agent(command);
    let code = child.wait().unwrap().code();
    match startup {
        AgentStartup::Failed { kind, message } => (kind, message, code),
        ready => panic!("expected a start-up failure, got {ready:?}"),
    }
}

#[test]
fn startup_missing_pid_reports_target_not_found() {
    require_root();
    let (kind, message, code) = failure_of(&["--pid", "99999999"], Some("t"));
    assert_eq!((kind, code), (StartupFailure::TargetNotFound, Some(1)));
    assert_eq!(message, "process 99999999 does not exist; check the pid");
}

#[test]
fn startup_unprivileged_agent_reports_not_permitted() {
    let target = Target::start();
    let binary = std::env::var_os("TETHER_AGENT_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_tether-agent").into());
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary)
        .args(["--pid", &target.pid.to_string()])
        .env("TETHER_AGENT_TOKEN", "t")
        .stdout(Stdio::piped());
    let (startup, mut child) = start_agent(command);
    assert_eq!(child.wait().unwrap().code(), Some(1));
    match startup {
        AgentStartup::Failed { kind, message } => {
            assert_eq!(kind, StartupFailure::NotPermitted);
            assert!(message.contains("CAP_SYS_ADMIN and CAP_SYS_PTRACE"), "{message}");
        }
        ready => panic!("an unprivileged agent started: {ready:?}"),
    }
}

#[test]
fn startup_without_token_reports_usage() {
    let (kind, message, code) = failure_of(&["--pid", "1"], None);
    assert_eq!((kind, code), (StartupFailure::Usage, Some(1)));
    assert!(message.contains("TETHER_AGENT_TOKEN"), "{message}");
}

#[test]
fn startup_non_loopback_listen_reports_usage() {
    let (kind, message, _) = failure_of(&["--pid", "1", "--listen", "0.0.0.0:0"], Some("t"));
    assert_eq!(kind, StartupFailure::Usage);
    assert!(message.contains("loopback"), "{message}");
}

#[test]
fn startup_bad_arguments_report_usage() {
    let (kind, message, code) = failure_of(&["--pid", "1", "--container-id", "x"], Some("t"));
    assert_eq!((kind, code), (StartupFailure::Usage, Some(1)));
    assert!(message.contains("--container-id"), "{message}");
}

#[test]
fn startup_unreachable_containerd_reports_runtime() {
    let (kind, message, _) =
        failure_of(&["--container-id", "x", "--runtime-socket", "/nonexistent/containerd.sock"], Some("t"));
    assert_eq!(kind, StartupFailure::Runtime);
    assert!(message.contains("/nonexistent/containerd.sock"), "{message}");
}

#[test]
fn startup_ready_reports_loopback_address_and_pid() {
    let target = Target::start();
    let (startup, mut child) = start_agent(agent_command(&["--pid", &target.pid.to_string()]));
    let _ = child.kill();
    let _ = child.wait();
    match startup {
        AgentStartup::Ready { listen, target_pid, target_id } => {
            assert_eq!(target_pid, target.pid);
            let target_id = target_id.expect("the agent names its target process");
            assert!(target_id.starts_with(&format!("{}@", target.pid)), "{target_id}");
            assert!(listen.parse::<std::net::SocketAddr>().unwrap().ip().is_loopback(), "{listen}");
        }
        failed => panic!("{failed:?}"),
    }
}

#[tokio::test]
async fn hello_with_wrong_token_is_refused() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = Client::connect(agent.addr).await;
    match client.hello("not-the-token").await {
        Message::HelloRefused { reason } => assert!(reason.contains("token"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(client.recv().await.is_none(), "the agent keeps a refused connection open");
}

#[tokio::test]
async fn ping_gets_pong_with_same_id() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    assert_eq!(client.request(77, Message::Ping).await, Message::Pong);
}

#[tokio::test]
async fn idle_agent_exits_after_last_connection_closes() {
    let target = Target::start();
    let agent = Agent::start(&["--pid", &target.pid.to_string(), "--idle-timeout", "1"]);
    let mut client = agent.client().await;
    // Longer than the idle timeout: an open connection keeps the agent alive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(client.request(2, Message::Ping).await, Message::Pong);
    drop(client);
    let status = tokio::task::spawn_blocking(move || agent.wait_exit(Duration::from_secs(20))).await.unwrap();
    assert!(status.expect("the idle agent did not exit").success());
}

#[tokio::test]
async fn agent_tells_its_daemon_and_exits_when_the_target_exits() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = Client::connect(agent.addr).await;
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        role: Role::Daemon,
        token: crate::harness::TOKEN.into(),
        capabilities: vec![TARGET_GONE_CAPABILITY.into()],
        pid: std::process::id(),
    };
    assert!(matches!(client.request(1, Message::Hello(hello)).await, Message::HelloOk(_)));
    drop(target);
    let told = client.recv().await.map(|envelope| envelope.message);
    assert!(matches!(&told, Some(Message::TargetGone { reason }) if reason.contains("exited")), "{told:?}");
    assert!(client.recv().await.is_none(), "the agent keeps the connection open");
    assert!(agent.wait_exit(Duration::from_secs(10)).is_some(), "the agent outlived its target");
}

#[tokio::test]
async fn agent_exits_once_its_daemon_connection_ends_but_not_for_refused_ones() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut stranger = Client::connect(agent.addr).await;
    assert!(matches!(stranger.hello("wrong-token").await, Message::HelloRefused { .. }));
    drop(stranger);
    let daemon = agent.client().await;
    assert!(matches!(daemon_ping(daemon).await, Message::Pong), "a refused stranger must not end the agent");
    assert!(agent.wait_exit(Duration::from_secs(10)).is_some(), "the agent outlived its daemon's connection");
}

/// Pings once on `client`, then closes it.
async fn daemon_ping(mut client: Client) -> Message {
    client.request(7, Message::Ping).await
}
