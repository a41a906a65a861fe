//! API latency benchmark (needs root and the namespace harness): `targets.list` served from the
//! daemon's cache and `session.prepare` + `session.end` with a warm agent on a stand-in pod,
//! each against `daemon.hello` (the cheapest round trip) measured in the same run.
//!
//! `cargo build --release --workspace && cargo bench -p tether-daemon --bench api`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::{json, Value};

const ROUNDS: usize = 300;

fn main() {
    assert!(nix::unistd::Uid::effective().is_root(), "the api benchmark needs root (it creates a stand-in pod)");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let tether = PathBuf::from(env!("CARGO_BIN_EXE_tether"));
    for companion in ["tether-agent", "libtether_layer.so"] {
        assert!(
            tether.with_file_name(companion).exists(),
            "{companion} missing next to {}; run cargo build --release --workspace",
            tether.display()
        );
    }
    let base = std::env::temp_dir().join(format!("tether-bench-{}", std::process::id()));
    let runtime_dir = base.join("run");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    std::fs::set_permissions(&runtime_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let tether_command = |args: &[&str]| {
        Command::new(&tether)
            .args(args)
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("XDG_STATE_HOME", base.join("state"))
            .output()
            .unwrap()
    };
    assert!(tether_command(&["rpc", "daemon.hello", r#"{"client":"bench","api_version":1}"#]).status.success());
    let pod_up = Command::new(repo.join("fixtures/harness/pod")).args(["up", "bench-api"]).output().unwrap();
    assert!(pod_up.status.success(), "{}", String::from_utf8_lossy(&pod_up.stderr));
    let pod: Value = serde_json::from_slice(&pod_up.stdout).unwrap();
    let target = format!("pid/{}", pod["pid"]);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let stream = tokio::net::UnixStream::connect(runtime_dir.join("tether/api.sock")).await.unwrap();
        let client = WsClientBuilder::default().build_with_stream("ws://localhost/", stream).await.unwrap();
        call(&client, "targets.prewarm", json!({"target": target})).await;
        let hello = measure(|| call(&client, "daemon.hello", json!({"client": "bench", "api_version": 1}))).await;
        let list = measure(|| call(&client, "targets.list", json!({"local": true}))).await;
        let launch = json!({"program": "app", "env": {"PATH": "/usr/bin"}});
        let prepare = measure(|| async {
            let prepared = call(&client, "session.prepare", json!({"target": target, "launch": launch})).await;
            call(&client, "session.end", json!({"session_id": prepared["session_id"]})).await;
        })
        .await;
        report("daemon.hello (baseline)", &hello, &hello);
        report("targets.list (cached)", &list, &hello);
        report("session.prepare+end (warm agent)", &prepare, &hello);
    });
    let _ = Command::new(repo.join("fixtures/harness/pod")).args(["down", "bench-api"]).output();
    let _ = tether_command(&["rpc", "daemon.shutdown"]);
    let _ = std::fs::remove_dir_all(base);
}

async fn call(client: &WsClient, method: &str, params: Value) -> Value {
    let mut object = ObjectParams::new();
    for (key, value) in params.as_object().unwrap().clone() {
        object.insert(&key, value).unwrap();
    }
    client.request(method, object).await.unwrap_or_else(|err| panic!("{method}: {err}"))
}

async fn measure<F, Fut, T>(mut run: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    for _ in 0..20 {
        run().await;
    }
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        run().await;
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

fn report(name: &str, samples: &[Duration], baseline: &[Duration]) {
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let ratio = at(0.5).as_secs_f64() / baseline[(baseline.len() - 1) / 2].as_secs_f64();
    println!(
        "{name:<36} p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  ({ratio:.1}x the baseline p50)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
}
