//! Limits that strangers and busy programs meet: `proxy.sock` closes connections that send no
//! hello or too big a first frame, and a program whose 2,000 threads resolve, open or connect at
//! once under `tether exec` sees no failure — with the usual soft limit of 1024 open files.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{repo, require_tier, Fixture, Tether};

/// Threads of each burst.
const THREADS: &str = "2000";

/// Waits (up to a minute) until the daemon closes `socket`.
fn closed_by_daemon(mut socket: UnixStream) -> bool {
    socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut sink = [0u8; 1024];
    loop {
        match socket.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) => return err.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

#[test]
fn proxy_socket_closes_connections_without_hello_or_with_an_oversized_first_frame() {
    require_tier();
    let tether = Tether::new();
    let hello =
        tether.command().args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#]).output().unwrap();
    assert!(hello.status.success(), "{}", String::from_utf8_lossy(&hello.stderr));
    let socket = tether.runtime_dir.join("tether/proxy.sock");
    let idle: Vec<UnixStream> = (0..50).map(|_| UnixStream::connect(&socket).unwrap()).collect();
    let mut oversized = UnixStream::connect(&socket).unwrap();
    oversized.write_all(&(16u32 * 1024 * 1024).to_be_bytes()).unwrap();
    assert!(closed_by_daemon(oversized), "a first frame announcing 16 MiB is waited for");
    let threads: Vec<_> = idle.into_iter().map(|socket| std::thread::spawn(|| closed_by_daemon(socket))).collect();
    let open = threads.into_iter().map(|thread| thread.join().unwrap()).filter(|closed| !closed).count();
    assert_eq!(open, 0, "connections without hello still open after a minute");
}

/// `fixtures/build/burst-c THREADS ARGS...` under `tether exec`, started with a soft limit of
/// 1024 open files (the program raises its own; the daemon and agent must raise theirs).
fn burst(tether: &Tether, pod: &Fixture, args: &[&str]) -> Value {
    let mut command = Command::new("prlimit");
    command.arg("--nofile=1024:16384").arg("--").arg(tether.command().get_program());
    command.current_dir(repo()).envs(tether.command().get_envs().filter_map(|(name, value)| Some((name, value?))));
    command.args(["exec", "--target", &pod.pid_target(), "--"]);
    command.arg(repo().join("fixtures/build/burst-c")).arg(THREADS).args(args);
    let output = command.output().expect("running prlimit (util-linux)");
    report(&output, args)
}

fn report(output: &Output, args: &[&str]) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last().map(serde_json::from_str::<Value>) {
        Some(Ok(report)) if output.status.success() => report,
        _ => panic!(
            "burst {args:?} failed ({})\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn assert_no_failure(report: &Value) {
    assert_eq!((report["ok"].as_u64(), &report["errors"]), (Some(2000), &serde_json::json!({})), "{report}");
}

#[test]
fn burst_of_2000_threads_resolving_and_opening_target_names_and_files_never_fails() {
    require_tier();
    let pod = Fixture::pod("bounds-burst");
    let tether = Tether::new();
    assert_no_failure(&burst(&tether, &pod, &["resolve", "orders.shop.svc.cluster.local"]));
    assert_no_failure(&burst(&tether, &pod, &["open", "/etc/demo/secret.txt"]));
}

#[test]
fn burst_of_2000_concurrent_connects_never_fails_with_emfile() {
    require_tier();
    let pod = Fixture::pod("bounds-connect");
    let mut sink = Sink(
        Command::new("ip")
            .args(["netns", "exec", &pod.get("/pod_netns"), "/usr/bin/python3"])
            .arg(repo().join("fixtures/programs/python/sink.py"))
            .args(["0.0.0.0", "9100"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    BufReader::new(sink.0.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready", "the sink did not start");
    let tether = Tether::new();
    assert_no_failure(&burst(&tether, &pod, &["connect", &format!("{}:9100", pod.get("/pod_ip"))]));
}

/// `fixtures/programs/python/sink.py` in a pod, stopped when the test ends.
struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
