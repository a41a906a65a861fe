//! Failure paths: a dead or silent proxy gives an errno (never a crash or a hang); a refused
//! hello makes the layer inert.

use tether_rpc_schema::policy::{FsMode, FsPolicy, LayerPolicy};

use crate::fake_proxy::{Behaviour, Target};
use crate::harness::{program, run, Session};

#[test]
fn unreachable_proxy_gives_eio_and_a_log_line() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let mut command = s.command(program("fileops"));
    command.env("TETHER_PROXY", s.dir.path().join("nobody-listens.sock")).args(["cat", "/etc/app/config.yaml"]);
    assert_eq!(run(command), (1, format!("errno={}\n", libc::EIO)));
    let log = std::fs::read_to_string(s.log()).unwrap();
    assert!(log.contains("session proxy unreachable"), "{log}");
}

#[test]
fn silent_proxy_times_out_with_an_errno() {
    let s = Session::with_behaviour(Target::sample(), LayerPolicy::default(), Behaviour::Silent);
    let mut command = s.command(program("fileops"));
    command.env("TETHER_TIMEOUT_MS", "300").args(["cat", "/etc/app/config.yaml"]);
    let (code, out) = run(command);
    assert_eq!(code, 1);
    assert!(out == format!("errno={}\n", libc::ETIMEDOUT) || out == format!("errno={}\n", libc::EIO), "{out}");
}

#[test]
fn refused_hello_makes_the_layer_inert() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let mut command = s.command(program("fileops"));
    command.env("TETHER_SESSION", "wrong-token").args(["cat", "/etc/app/config.yaml"]);
    assert_eq!(run(command), (1, format!("errno={}\n", libc::ENOENT)));
    assert!(std::fs::read_to_string(s.log()).unwrap().contains("hello refused"));
}

#[test]
fn fork_while_another_thread_uses_tracked_descriptors_never_hangs_the_child() {
    let policy = LayerPolicy { fs: FsPolicy { mode: FsMode::Write, ..FsPolicy::default() }, ..LayerPolicy::default() };
    let s = Session::start(Target::sample(), policy);
    let (code, out) = s.run("forkops", &["busy-fork", "/etc/demo/forked.txt", "100"]);
    assert_eq!((code, out.as_str()), (0, "forked 100, hung 0\n"));
}
