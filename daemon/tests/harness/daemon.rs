//! The daemon's own guarantees: private sockets, one instance per user, other users refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use crate::support::{require_tier, Tether};

#[test]
fn daemon_sockets_are_private_and_a_second_daemon_is_refused() {
    require_tier();
    let tether = Tether::new();
    let hello =
        tether.command().args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#]).output().unwrap();
    assert!(hello.status.success(), "{}", String::from_utf8_lossy(&hello.stderr));
    let dir = tether.runtime_dir.join("tether");
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    for socket in ["api.sock", "proxy.sock"] {
        assert_eq!(std::fs::metadata(dir.join(socket)).unwrap().mode() & 0o777, 0o600, "{socket}");
    }
    let second = tether.command().args(["daemon", "--foreground"]).output().unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}

#[test]
fn daemon_drops_api_connections_from_another_user() {
    require_tier();
    let tether = Tether::new();
    let hello =
        tether.command().args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#]).output().unwrap();
    assert!(hello.status.success());
    let dir = tether.runtime_dir.join("tether");
    // Open the way through the file system on purpose: the peer-uid check must still refuse.
    std::fs::set_permissions(&tether.runtime_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("api.sock"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = r#"
import json, socket, sys
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "daemon.hello", "params": {"client": "x", "api_version": 1}})
request = "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
s.sendall(request.encode())
print(repr(s.recv(4096)))
"#;
    let socket = dir.join("api.sock").display().to_string();
    let as_root = Command::new("/usr/bin/python3").args(["-c", script, &socket]).output().unwrap();
    assert!(String::from_utf8_lossy(&as_root.stdout).contains("200 OK"), "the owner is served: {as_root:?}");
    let as_nobody = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "/usr/bin/python3", "-c", script, &socket])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&as_nobody.stdout);
    assert!(stdout.trim() == "b''" || !as_nobody.status.success(), "another user must get nothing: {as_nobody:?}");
    assert!(!stdout.contains("200 OK"));
    // Private again, so the test's teardown can stop this daemon.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&tether.runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn daemon_shutdown_stops_its_agents() {
    require_tier();
    let pod = crate::support::Fixture::pod("daemon-agents");
    let tether = Tether::new();
    let prewarm = tether
        .command()
        .args(["rpc", "targets.prewarm", &format!(r#"{{"target":"{}"}}"#, pod.pid_target())])
        .output()
        .unwrap();
    assert!(prewarm.status.success(), "{}", String::from_utf8_lossy(&prewarm.stderr));
    let agent_running = || {
        let pattern = format!("tether-agent --pid {} ", pod.get("/pid"));
        Command::new("pgrep").args(["-f", &pattern]).output().unwrap().status.success()
    };
    assert!(agent_running(), "the prewarmed agent runs");
    // The answer arrives before the daemon goes: a stopping daemon drains the calls in flight.
    let shutdown = tether.command().args(["rpc", "daemon.shutdown"]).output().unwrap();
    assert!(shutdown.status.success(), "{}", String::from_utf8_lossy(&shutdown.stderr));
    assert_eq!(String::from_utf8_lossy(&shutdown.stdout).trim(), "null");
    // An orphaned agent would linger for its 60 s idle timeout.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while agent_running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!agent_running(), "the agent outlived its daemon");
}
