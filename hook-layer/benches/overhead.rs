//! Overhead of the layer on host paths: a C program makes N calls of one kind on a host file,
//! timed with and without `LD_PRELOAD` (with a session configured, so the layer is active and
//! decides every call), for every path shape (absolute, relative to the working directory,
//! `*at` with a directory descriptor, a long absolute path) and every call (`stat`,
//! `open`+`close`, `access`, `readlink`). Prints a ratio per shape and call; the goal is at
//! most 1.1× for each.
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

const ROUNDS: usize = 5;
const CALLS: [&str; 4] = ["stat", "open", "access", "readlink"];

fn main() {
    let n: u64 = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layer-bench");
    std::fs::create_dir_all(&work).unwrap();
    let program = work.join("fileops");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layer/programs/fileops.c");
    let status = Command::new("gcc").args(["-O2", "-o"]).arg(&program).arg(source).status().unwrap();
    assert!(status.success(), "gcc failed");
    // A file and a link to it, next to the working directory and at the end of a long path.
    let long = (0..12).fold(work.clone(), |dir, level| dir.join(format!("a-rather-long-directory-name-{level:02}")));
    for dir in [&work, &long] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("file"), "host").unwrap();
        let _ = std::fs::remove_file(dir.join("link"));
        std::os::unix::fs::symlink("file", dir.join("link")).unwrap();
    }
    let layer = layer_path();
    let proxy = FakeProxy::start(&work, Target::default(), LayerPolicy::default(), Behaviour::Normal);

    let time = |preload: bool, args: &[String]| -> Duration {
        let mut command = Command::new(&program);
        command.args(args).current_dir(&work);
        if preload {
            command.env("LD_PRELOAD", &layer).env("TETHER_PROXY", &proxy.socket).env("TETHER_SESSION", &proxy.token);
        }
        let started = Instant::now();
        let output = command.output().unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "done\n", "{args:?} failed");
        started.elapsed()
    };
    let work_dir = work.display().to_string();
    let shapes: [(&str, String, Option<&str>); 4] = [
        ("absolute", work_dir.clone() + "/", None),
        ("relative", String::new(), None),
        ("*at", String::new(), Some(work_dir.as_str())),
        ("long", format!("{}/", long.display()), None),
    ];
    println!("layer overhead on host files: {n} calls each, best of {ROUNDS}, goal <= 1.1x");
    println!("{:<10} {:<9} {:>12} {:>12} {:>7}", "shape", "call", "without", "with", "ratio");
    let mut worst: f64 = 0.0;
    for (shape, prefix, dir) in &shapes {
        for call in CALLS {
            let name = if call == "readlink" { "link" } else { "file" };
            let mut args = vec!["bench".to_string(), format!("{prefix}{name}"), call.to_string(), n.to_string()];
            args.extend(dir.map(str::to_string));
            let (mut bare, mut hooked) = (Duration::MAX, Duration::MAX);
            for _ in 0..ROUNDS {
                bare = bare.min(time(false, &args));
                hooked = hooked.min(time(true, &args));
            }
            let ratio = hooked.as_secs_f64() / bare.as_secs_f64();
            worst = worst.max(ratio);
            let per_call = |total: Duration| format!("{:.0} ns", total.as_nanos() as f64 / n as f64);
            println!("{shape:<10} {call:<9} {:>12} {:>12} {ratio:>6.3}x", per_call(bare), per_call(hooked));
        }
    }
    assert!(proxy.requests().is_empty(), "host paths were asked from the target");
    println!("worst ratio: {worst:.3}x");
}

/// `libtether_layer.so` built for this bench (in `deps/`, next to the bench binary).
fn layer_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let layer = exe.parent().unwrap().join("libtether_layer.so");
    assert!(layer.exists(), "{} missing", layer.display());
    layer
}
