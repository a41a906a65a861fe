//! Overhead of the layer on host paths: a C program doing N `stat` and N `open`+`close` of a
//! host file, timed with and without `LD_PRELOAD` (with a session configured, so the layer is
//! active and decides every call). Prints the ratio; the goal is at most 1.15×.
//!
//! Run: `cargo bench -p tether-layer` (optionally `BENCH_N=500000`).

// The bench uses only part of the test fake (no recorded-request accessors beyond one).
#[allow(dead_code)]
#[path = "../tests/layer/fake_proxy.rs"]
mod fake_proxy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_proxy::{Behaviour, FakeProxy, Target};
use tether_rpc_schema::policy::LayerPolicy;

const ROUNDS: usize = 7;

fn main() {
    let n: u64 = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layer-bench");
    std::fs::create_dir_all(&work).unwrap();
    let program = work.join("fileops");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layer/programs/fileops.c");
    let status = Command::new("gcc").args(["-O2", "-o"]).arg(&program).arg(source).status().unwrap();
    assert!(status.success(), "gcc failed");
    let layer = layer_path();
    let proxy = FakeProxy::start(&work, Target::default(), LayerPolicy::default(), Behaviour::Normal);

    let host_file = "/usr/include/stdio.h";
    let time = |preload: bool| -> Duration {
        let mut command = Command::new(&program);
        command.args(["loop", host_file, &n.to_string()]).current_dir(&work);
        if preload {
            command.env("LD_PRELOAD", &layer).env("TETHER_PROXY", &proxy.socket).env("TETHER_SESSION", &proxy.token);
        }
        let started = Instant::now();
        let output = command.output().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "done\n", "loop failed");
        started.elapsed()
    };
    let (mut bare, mut hooked) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        bare = bare.min(time(false));
        hooked = hooked.min(time(true));
    }
    assert!(proxy.requests().is_empty(), "host paths were asked from the target");
    println!("layer overhead: {n} stat + {n} open/close of {host_file}, best of {ROUNDS}");
    println!("  without layer: {bare:?}");
    println!("  with layer:    {hooked:?}");
    println!("  ratio:         {:.3}x (goal <= 1.15x)", hooked.as_secs_f64() / bare.as_secs_f64());
}

/// `libtether_layer.so` built for this bench (in `deps/`, next to the bench binary).
fn layer_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let layer = exe.parent().unwrap().join("libtether_layer.so");
    assert!(layer.exists(), "{} missing", layer.display());
    layer
}
