//! The process sees the target's host name, as in the pod: `hostname`, `uname -n`,
//! `gethostname()`, `uname().nodename`, Python's `socket.getfqdn()`, and the name resolves as it
//! does in the target (the pod's /etc/hosts gives it the pod's address). `"hostname": "host"`
//! keeps this machine's.

use crate::support::{require_tier, Fixture, Tether};

/// What Python reports about its own name, one value a line.
const PYTHON_NAMES: &str = "import os, platform, socket
name = socket.gethostname()
print(name, os.uname().nodename, platform.node(), socket.getfqdn(), socket.gethostbyname(name), sep='\\n')";

fn run(tether: &Tether, target: &str, config: Option<&std::path::Path>, args: &[&str]) -> String {
    let output = tether.exec(target, config, args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_process_has_the_targets_host_name_and_it_resolves_in_the_target() {
    require_tier();
    let pod = Fixture::pod("l13-host");
    let tether = Tether::new();
    let target = pod.pid_target();
    let name = pod.get("/name");
    assert_eq!(run(&tether, &target, None, &["hostname"]).trim(), name);
    assert_eq!(run(&tether, &target, None, &["uname", "-n"]).trim(), name);
    assert_eq!(run(&tether, &target, None, &["cat", "/etc/hostname"]).trim(), name);
    let python = run(&tether, &target, None, &["/usr/bin/python3", "-c", PYTHON_NAMES]);
    let pod_ip = pod.get("/pod_ip");
    assert_eq!(python.lines().collect::<Vec<_>>(), [name.as_str(), &name, &name, &name, &pod_ip]);
}

#[test]
fn config_hostname_host_keeps_this_machines_name() {
    require_tier();
    let pod = Fixture::pod("l13-host-kept");
    let tether = Tether::new();
    let config = tether.config("host.json", r#"{"hostname": "host"}"#);
    let own = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    assert_ne!(own, pod.get("/name"));
    assert_eq!(run(&tether, &pod.pid_target(), Some(&config), &["hostname"]).trim(), own);
    assert_eq!(run(&tether, &pod.pid_target(), Some(&config), &["uname", "-n"]).trim(), own);
}
