//! Benchmark (not a test) of stolen incoming requests: round-trip latency (p50, p99) and
//! throughput of sequential HTTP/1.1 requests on one keep-alive connection, sent to a stand-in
//! pod and stolen for a user process under `tether exec` (whole connections, then per request
//! through an HTTP filter that matches every request), against the same requests sent to the
//! user process directly, in the same run. Needs root (namespaces) and Node.js.
//!
//! `cargo build --release --workspace && cargo bench -p tether-daemon --bench incoming [-- REQUESTS]`
//! (the agent and the hook layer must sit next to the release `tether`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("daemon/ has a parent").to_path_buf()
}

fn node() -> String {
    let output = Command::new("sh").args(["-c", "command -v node"]).output().expect("sh");
    String::from_utf8(output.stdout).expect("utf-8").trim().to_string()
}

fn program() -> String {
    repo().join("fixtures/programs/node/incoming.js").display().to_string()
}

/// Removes the pod, the user process and the isolated tether on drop.
struct Setup {
    pod: String,
    base: PathBuf,
    user: Option<Child>,
}

impl Setup {
    /// Starts the user process (an HTTP server on 8080) under `tether exec` with `config`.
    fn start_user(&mut self, pid: &Value, config: &str) {
        self.stop_user();
        let path = self.base.join("config.json");
        std::fs::write(&path, config).unwrap();
        let mut user = self
            .tether()
            .args(["exec", "--target", &format!("pid/{pid}"), "--config"])
            .arg(&path)
            .args(["--", &node(), &program(), "http-server", "8080", "user"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tether exec");
        let mut line = String::new();
        BufReader::new(user.stdout.take().unwrap()).read_line(&mut line).unwrap();
        self.user = Some(user);
        assert!(line.contains("listening"), "the user process did not start: {line:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Stops the user process; `tether exec` ends its session.
    fn stop_user(&mut self) {
        if let Some(mut user) = self.user.take() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(user.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let _ = user.wait();
            // The session's unsubscribe reaches the agent asynchronously.
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn tether(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
        command.env("XDG_RUNTIME_DIR", self.base.join("run")).env("XDG_STATE_HOME", self.base.join("state"));
        command
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop_user();
        let _ = self.tether().args(["rpc", "daemon.shutdown"]).output();
        let _ = Command::new(repo().join("fixtures/harness/pod")).args(["down", &self.pod]).output();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Latency percentiles (µs) and requests per second of one `http-bench` run.
fn measure(netns: Option<&str>, url: &str, requests: usize) -> (f64, f64, f64) {
    let mut command = match netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns, &node()]);
            command
        }
        None => Command::new(node()),
    };
    let output =
        command.arg(program()).args(["http-bench", url, &requests.to_string()]).output().expect("running the client");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("bad client report ({err}): {}", String::from_utf8_lossy(&output.stdout)));
    let mut latencies: Vec<f64> =
        report["latencies_us"].as_array().expect("latencies").iter().filter_map(Value::as_f64).collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let seconds = report["seconds"].as_f64().expect("seconds");
    (percentile(0.5), percentile(0.99), latencies.len() as f64 / seconds)
}

fn main() {
    let requests: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(2000);
    assert!(nix::unistd::Uid::effective().is_root(), "the incoming benchmark needs root (namespaces)");
    let tether = Path::new(env!("CARGO_BIN_EXE_tether"));
    for companion in ["tether-agent", "libtether_layer.so"] {
        assert!(
            tether.with_file_name(companion).exists(),
            "{companion} is missing next to {}; run `cargo build --release --workspace` first",
            tether.display()
        );
    }
    let pod = format!("bench-inc-{}", std::process::id() % 10000);
    let base = std::env::temp_dir().join(format!("tether-bench-incoming-{}", std::process::id()));
    std::fs::create_dir_all(base.join("state")).unwrap();
    std::fs::create_dir_all(base.join("run")).unwrap();
    std::fs::set_permissions(base.join("run"), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut setup = Setup { pod: pod.clone(), base, user: None };

    let output =
        Command::new(repo().join("fixtures/harness/pod")).args(["up", &pod]).output().expect("fixtures/harness/pod");
    assert!(output.status.success(), "pod up failed: {}", String::from_utf8_lossy(&output.stderr));
    let info: Value = serde_json::from_slice(&output.stdout).expect("pod JSON");
    setup.start_user(&info["pid"], r#"{"incoming": {"mode": "steal"}}"#);

    let pod_ip = info["pod_ip"].as_str().unwrap();
    let cluster = info["cluster_netns"].as_str().unwrap();
    let direct_url = "http://127.0.0.1:8080/";
    let stolen_url = format!("http://{pod_ip}:8080/");
    // Warm both paths (connections, JIT), then measure them alternately.
    measure(None, direct_url, 200);
    measure(Some(cluster), &stolen_url, 200);
    let direct = measure(None, direct_url, requests);
    let stolen = measure(Some(cluster), &stolen_url, requests);
    setup.start_user(&info["pid"], r#"{"incoming": {"mode": "steal", "http_filter": {"method": "GET"}}}"#);
    measure(Some(cluster), &stolen_url, 200);
    let filtered = measure(Some(cluster), &stolen_url, requests);

    println!("incoming steal, {requests} sequential HTTP/1.1 requests on one keep-alive connection");
    println!("{:<34} {:>10} {:>10} {:>12}", "path", "p50 µs", "p99 µs", "requests/s");
    println!("{:<34} {:>10.0} {:>10.0} {:>12.0}", "direct (host → user process)", direct.0, direct.1, direct.2);
    println!("{:<34} {:>10.0} {:>10.0} {:>12.0}", "stolen (client → pod → user)", stolen.0, stolen.1, stolen.2);
    println!(
        "{:<34} {:>10.0} {:>10.0} {:>12.0}",
        "stolen per request (HTTP filter)", filtered.0, filtered.1, filtered.2
    );
    for (name, row) in [("stolen", stolen), ("filtered", filtered)] {
        println!(
            "ratio {name}/direct: p50 {:.2}x, p99 {:.2}x, throughput {:.2}x",
            row.0 / direct.0,
            row.1 / direct.1,
            row.2 / direct.2
        );
    }
}
