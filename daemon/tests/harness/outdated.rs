//! The CLI replaces an outdated daemon: here one whose executable was replaced after it started
//! (as an upgrade or a rebuild does).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{require_tier, Tether};

#[test]
fn cli_restarts_a_daemon_whose_executable_was_replaced() {
    require_tier();
    let tether = Tether::new();
    let real = Path::new(env!("CARGO_BIN_EXE_tether"));
    let copy = tether.state_dir.join("old-bin/tether");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(real, &copy).unwrap();
    let mut old = Command::new(&copy)
        .args(["daemon", "--foreground"])
        .env("XDG_RUNTIME_DIR", &tether.runtime_dir)
        .env("XDG_STATE_HOME", &tether.state_dir)
        .env("TETHER_AGENT_PATH", real.with_file_name("tether-agent"))
        .env("TETHER_LAYER_PATH", real.with_file_name("libtether_layer.so"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = tether.runtime_dir.join("tether/api.sock");
    wait_until("the copied daemon's socket", || socket.exists());
    let untouched =
        tether.command().args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#]).output().unwrap();
    let untouched: Value = serde_json::from_slice(&untouched.stdout).unwrap();
    assert_eq!(untouched["pid"].as_u64(), Some(u64::from(old.id())), "another copy of the same version is kept");
    std::fs::remove_file(&copy).unwrap();

    let hello =
        tether.command().args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#]).output().unwrap();
    assert!(hello.status.success(), "{}", String::from_utf8_lossy(&hello.stderr));
    let hello: Value = serde_json::from_slice(&hello.stdout).unwrap();
    let new_pid = hello["pid"].as_u64().unwrap();
    assert_ne!(new_pid, u64::from(old.id()), "the old daemon answered: {hello}");
    wait_until("the old daemon's exit", || old.try_wait().unwrap().is_some());
    assert!(old.wait().unwrap().success());
    assert_eq!(std::fs::read_link(format!("/proc/{new_pid}/exe")).unwrap(), real.canonicalize().unwrap());
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within 30s");
        std::thread::sleep(Duration::from_millis(20));
    }
}
