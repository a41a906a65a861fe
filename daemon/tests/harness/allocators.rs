//! Programs that bring their own allocator start and work under `tether exec`: jemalloc-linked
//! Debian programs (`redis-cli`, `redis-server`, bind9's `dig` and `host`), and a process whose
//! allocator (jemalloc, tcmalloc, mimalloc) is preloaded next to the layer. Each `tether exec`
//! runs under `timeout` (outside the layer: a preloaded allocator would hang a `timeout` run
//! under it too), so a start-up deadlock fails the test instead of hanging it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{eventually, require_tier, Fixture, Tether};

/// How long any one program may take before it counts as hung.
const HANG_LIMIT: &str = "30";

/// `tether exec` of `args` under `timeout` (SIGTERM, which `tether exec` passes on, then
/// SIGKILL): the output, with a hang reported as one.
fn exec(tether: &Tether, pod: &Fixture, env: &[(&str, &str)], args: &[&str]) -> String {
    exec_with(tether, pod, None, env, args)
}

/// [`exec`] with a config file.
fn exec_with(tether: &Tether, pod: &Fixture, config: Option<&Path>, env: &[(&str, &str)], args: &[&str]) -> String {
    let tether_command = tether.command();
    let mut command = Command::new("timeout");
    command.current_dir(tether_command.get_current_dir().expect("tether commands run in the repository"));
    command.envs(tether_command.get_envs().filter_map(|(name, value)| Some((name, value?))));
    command.envs(env.iter().copied()).args(["-k", "5", HANG_LIMIT]).arg(tether_command.get_program());
    command.args(["exec", "--target", &pod.pid_target()]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output = command.arg("--").args(args).output().expect("running tether exec");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => stdout,
        Some(124 | 137) => panic!("{args:?} hung under tether (killed after {HANG_LIMIT} s)\n{stderr}"),
        _ => panic!("{args:?} failed under tether ({})\nstdout: {stdout}\nstderr: {stderr}", output.status),
    }
}

/// A redis-server in the pod's network namespace, on the pod's address (which the host cannot
/// reach), killed on drop.
struct TargetRedis(Child);

impl TargetRedis {
    fn start(pod: &Fixture, port: &str) -> TargetRedis {
        let netns = pod.get("/pod_netns");
        let ip = pod.get("/pod_ip");
        let child = Command::new("ip")
            .args(["netns", "exec", &netns, "redis-server", "--bind", &ip, "--port", port])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", "/tmp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server in the pod");
        let server = TargetRedis(child);
        let answers = || {
            let ping =
                Command::new("ip").args(["netns", "exec", &netns, "redis-cli", "-h", &ip, "-p", port, "ping"]).output();
            ping.is_ok_and(|output| output.stdout.starts_with(b"PONG"))
        };
        assert!(eventually(Duration::from_secs(15), answers), "redis-server did not start in the pod");
        server
    }
}

impl Drop for TargetRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// jemalloc's initialisation calls `readlink("/etc/malloc.conf")` under its own init lock; the
/// layer's hook must not allocate there. Each of these programs deadlocked before `main`.
#[test]
fn jemalloc_programs_start_and_reach_the_target() {
    require_tier();
    let pod = Fixture::pod("l13-jemalloc");
    let tether = Tether::new();
    assert!(exec(&tether, &pod, &[], &["redis-cli", "--version"]).starts_with("redis-cli 7."));
    assert!(exec(&tether, &pod, &[], &["redis-server", "--version"]).contains("malloc=jemalloc"));

    let _redis = TargetRedis::start(&pod, "6391");
    let ping = exec(&tether, &pod, &[], &["redis-cli", "-h", &pod.get("/pod_ip"), "-p", "6391", "ping"]);
    assert_eq!(ping.trim(), "PONG");
    let set = ["redis-cli", "-h", &pod.get("/pod_ip"), "-p", "6391", "set", "greeting", "hello-from-host"];
    assert_eq!(exec(&tether, &pod, &[], &set).trim(), "OK");
    let get = exec(&tether, &pod, &[], &["redis-cli", "-h", &pod.get("/pod_ip"), "-p", "6391", "get", "greeting"]);
    assert_eq!(get.trim(), "hello-from-host");

    let dns = format!("@{}", pod.get("/dns_ip"));
    let dig = exec(&tether, &pod, &[], &["dig", "+short", &dns, &pod.get("/names/orders")]);
    assert_eq!(dig.trim(), pod.get("/orders_ip"));
    let host = exec(&tether, &pod, &[], &["host", "-t", "A", "orders"]);
    assert_eq!(host.trim(), format!("{} has address {}", pod.get("/names/orders"), pod.get("/orders_ip")));
}

/// A process whose allocator is preloaded (`LD_PRELOAD` given to `tether exec`, which puts the
/// layer first) still reads the target's files and resolves its names.
#[test]
fn preloaded_allocators_start_and_see_the_target() {
    require_tier();
    let pod = Fixture::pod("l13-preload");
    let tether = Tether::new();
    let script = "import socket; print(open('/etc/demo/secret.txt').read(), socket.gethostbyname('orders'))";
    let want = format!("s3cr3t-from-pod {}", pod.get("/orders_ip"));
    for allocator in ["libjemalloc.so.2", "libtcmalloc.so.4", "libtcmalloc_minimal.so.4", "libmimalloc.so.2"] {
        let preload = format!("/usr/lib/x86_64-linux-gnu/{allocator}");
        let out = exec(&tether, &pod, &[("LD_PRELOAD", &preload)], &["/usr/bin/python3", "-c", script]);
        assert_eq!(out.trim(), want, "{allocator}");
        let dig = exec(&tether, &pod, &[("LD_PRELOAD", &preload)], &["dig", "+short", &pod.get("/names/orders")]);
        assert_eq!(dig.trim(), pod.get("/orders_ip"), "{allocator}");
    }
}

/// tcmalloc's heap profiler writes its profile holding its heap lock, which every allocation
/// of the profiled process takes: the layer's `open` hook must decide that host path without
/// allocating, also when the config has file rules (regular expressions).
#[test]
fn a_heap_profile_written_under_the_allocators_lock_does_not_hang_with_file_rules() {
    require_tier();
    let pod = Fixture::pod("l13-heapprof");
    let tether = Tether::new();
    let config = tether.config("rules.json", r#"{"fs": {"local": ["^/srv/cache/"], "read_only": ["\\.ya?ml$"]}}"#);
    let profile = tether.state_dir.join("heap");
    // The allocator is preloaded for the user process only: `tether exec` itself stays plain.
    let preload = "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4";
    let heapprofile = format!("HEAPPROFILE={}", profile.display());
    let script = "print(open('/etc/demo/secret.txt').read())";
    let out =
        exec_with(&tether, &pod, Some(&config), &[], &["env", preload, &heapprofile, "/usr/bin/python3", "-c", script]);
    assert_eq!(out.trim(), "s3cr3t-from-pod");
    let written = std::fs::read_to_string(profile.with_extension("0001.heap")).expect("the heap profile was written");
    assert!(written.starts_with("heap profile:"), "{written:.80}");
}
