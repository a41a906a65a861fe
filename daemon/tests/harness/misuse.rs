//! Misuse gets a clear error: unknown targets, missing privileges, a runtime directory of
//! another user, a malformed config.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::support::{containerd_ready, require_tier, Fixture, Tether};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn exec_unknown_pid_says_so() {
    require_tier();
    let tether = Tether::new();
    let output = tether.exec("pid/999999999", None, &["true"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no process with pid 999999999"), "{}", stderr(&output));
}

#[test]
fn exec_unknown_container_says_so() {
    require_tier();
    containerd_ready();
    let tether = Tether::new();
    let output = tether.exec("container/no-such-container", None, &["true"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("no container named or with id \"no-such-container\""), "{message}");
}

#[test]
fn exec_with_an_unreachable_container_runtime_names_its_socket() {
    require_tier();
    let tether = Tether::new();
    let socket = tether.config("containerd.sock", "");
    let config = tether.config("runtime.json", &format!(r#"{{"container": {{"socket": "{}"}}}}"#, socket.display()));
    let output = tether.exec("container/orders", Some(&config), &["true"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains(&format!("cannot reach containerd at {}", socket.display())), "{message}");
}

#[test]
fn exec_malformed_target_and_config_point_at_the_mistake() {
    require_tier();
    let tether = Tether::new();
    let output = tether.exec("deploy", None, &["true"]);
    assert!(stderr(&output).contains("not of the form kind/name"), "{}", stderr(&output));

    let pod = Fixture::pod("misuse-cfg");
    let config = tether.config("bad.json", "{\n  \"fs\": {\n    \"mdoe\": \"read\"\n  }\n}\n");
    let output = tether.exec(&pod.pid_target(), Some(&config), &["true"]);
    assert_eq!(output.status.code(), Some(2));
    let expected = format!("{}:3:10: unknown field `mdoe`", config.display());
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
}

#[test]
fn exec_without_privileges_names_the_missing_capabilities() {
    require_tier();
    let pod = Fixture::pod("misuse-priv");
    let tether = Tether::new();
    for dir in [&tether.runtime_dir, &tether.state_dir] {
        std::process::Command::new("chown").args(["-R", "nobody:nogroup"]).arg(dir).status().unwrap();
    }
    std::fs::set_permissions(tether.runtime_dir.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_tether"))
        .args(["exec", "--target", &pod.pid_target(), "--", "true"])
        .env("XDG_RUNTIME_DIR", &tether.runtime_dir)
        .env("XDG_STATE_HOME", &tether.state_dir)
        .env("HOME", &tether.state_dir)
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("CAP_SYS_ADMIN") || message.contains("root"), "{message}");
    let _ = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_tether"))
        .args(["rpc", "daemon.shutdown"])
        .env("XDG_RUNTIME_DIR", &tether.runtime_dir)
        .env("XDG_STATE_HOME", &tether.state_dir)
        .output();
}

#[test]
fn exec_refuses_a_runtime_directory_owned_by_another_user() {
    require_tier();
    let tether = Tether::new();
    let foreign = tether.runtime_dir.join("tether");
    std::fs::create_dir_all(&foreign).unwrap();
    std::process::Command::new("chown").args(["nobody:nogroup"]).arg(&foreign).status().unwrap();
    let output = tether.exec("pid/1", None, &["true"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("is owned by uid 65534, not by you"), "{message}");
}
