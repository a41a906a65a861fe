//! Benchmark (not a test) of incoming traffic against the real cluster of `fixtures/cluster`,
//! every figure next to its baseline in the same run: a client pod's keep-alive `GET /` to a
//! replica directly, the same while a `tether exec` session mirrors that replica (the target's
//! clients must not notice: added p50, requests lost), and while it steals it (answered by the
//! user process on this machine). Needs root.
//!
//! `fixtures/cluster/up && cargo build --release --workspace && cargo bench -p tether-daemon --bench cluster_incoming`

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const KUBECONFIG: &str = "/var/lib/tether-cluster/admin.kubeconfig";
const KUBECTL: &str = "/var/lib/tether-cluster/bin/kubectl";
const PORT: u16 = 18700;
const REQUESTS: &str = "3000";

fn main() {
    assert!(nix::unistd::Uid::effective().is_root(), "the cluster benchmark needs root (the cluster's kubeconfig)");
    let ready = kubectl(&["get", "--raw", "/readyz"]);
    assert!(ready.as_deref() == Some("ok"), "the cluster does not answer ({ready:?}): run fixtures/cluster/up");
    let pid = std::process::id();
    let bench = Bench {
        base: std::env::temp_dir().join(format!("tether-bench-incoming-{pid}")),
        name: format!("bench-incoming-{pid}"),
    };
    std::fs::create_dir_all(bench.base.join("run")).unwrap();
    std::fs::set_permissions(bench.base.join("run"), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    bench.deploy();
    let url = format!("http://{}:{PORT}/", bench.pod_ip());

    let direct = client(&url);
    let mirrored = {
        let _session = bench.session("mirror");
        client(&url)
    };
    let stolen = {
        let _session = bench.session("steal");
        client(&url)
    };
    let direct_again = client(&url);
    for (name, figures) in
        [("direct", &direct), ("mirror", &mirrored), ("steal", &stolen), ("direct again", &direct_again)]
    {
        println!("{name:<14} {figures}");
    }
    let p50 = |figures: &Value| figures["p50_us"].as_f64().unwrap();
    let baseline = (p50(&direct) + p50(&direct_again)) / 2.0;
    let added = (p50(&mirrored) / baseline - 1.0) * 100.0;
    let lost = mirrored["errors"].as_u64().unwrap();
    println!("\n{:<52} {:>28} {:>10}  met?", "measure", "figure", "goal");
    let rows = [
        (
            "mirror: added p50 for the target's clients",
            format!("{added:+.1} % ({:.0} vs {baseline:.0} µs)", p50(&mirrored)),
            "<= 5 %",
            added <= 5.0,
        ),
        ("mirror: requests lost", format!("{lost} of {REQUESTS}"), "0", lost == 0),
        (
            "steal: p50 / direct",
            format!("{:.2}x ({:.0} vs {baseline:.0} µs)", p50(&stolen) / baseline, p50(&stolen)),
            "-",
            true,
        ),
        (
            "steal: p99 / direct",
            format!("{:.2}x", stolen["p99_us"].as_f64().unwrap() / direct["p99_us"].as_f64().unwrap()),
            "-",
            true,
        ),
        (
            "steal: requests/s / direct",
            format!("{:.2}x", stolen["per_second"].as_f64().unwrap() / direct["per_second"].as_f64().unwrap()),
            "-",
            true,
        ),
    ];
    for (measure, figure, goal, met) in rows {
        println!(
            "{measure:<52} {figure:>28} {goal:>10}  {}",
            if goal == "-" {
                "-"
            } else if met {
                "yes"
            } else {
                "NO"
            }
        );
    }
}

/// The run's daemon directories and deployment, removed on drop.
struct Bench {
    base: PathBuf,
    name: String,
}

impl Bench {
    fn tether(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
        command
            .env("XDG_RUNTIME_DIR", self.base.join("run"))
            .env("XDG_STATE_HOME", self.base.join("state"))
            .env("KUBECONFIG", KUBECONFIG);
        command
    }

    /// One replica of the shop app on `PORT` with a readiness probe, and waits for it.
    fn deploy(&self) {
        let name = &self.name;
        let manifest = format!(
            r#"{{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "{name}", "namespace": "shop"}},
"spec": {{"replicas": 1, "selector": {{"matchLabels": {{"app": "{name}"}}}}, "template": {{"metadata": {{"labels": {{"app": "{name}"}}}},
"spec": {{"containers": [{{"name": "app", "image": "localhost/tether-cluster/shop-app:dev", "imagePullPolicy": "Never",
"command": ["/shop-app", "serve"], "env": [{{"name": "PORT", "value": "{PORT}"}}], "ports": [{{"name": "http", "containerPort": {PORT}}}],
"readinessProbe": {{"httpGet": {{"path": "/", "port": "http"}}, "periodSeconds": 2}}}}]}}}}}}}}"#
        );
        let path = self.base.join("deployment.json");
        std::fs::write(&path, manifest).unwrap();
        kubectl(&["apply", "-f", &path.display().to_string()]).expect("creating the deployment");
        kubectl(&["-n", "shop", "rollout", "status", &format!("deployment/{name}"), "--timeout=120s"])
            .expect("rolled out");
    }

    fn pod_ip(&self) -> String {
        let selector = format!("app={}", self.name);
        kubectl(&["-n", "shop", "get", "pods", "-l", &selector, "-o", "jsonpath={.items[0].status.podIP}"]).unwrap()
    }

    /// A user process (Node's HTTP server) on `PORT` under `tether exec` with incoming `mode`.
    fn session(&self, mode: &str) -> Session {
        let config = self.base.join(format!("{mode}.json"));
        std::fs::write(&config, format!(r#"{{"incoming": {{"mode": "{mode}"}}}}"#)).unwrap();
        // Run from the repository, as a developer runs from their project: the working
        // directory (where the program lives) stays on the host.
        let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let program = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/programs/node/incoming.js");
        let mut child = self
            .tether()
            .current_dir(repo)
            .args(["exec", "--target", &format!("deployment/{}", self.name), "-n", "shop", "--config"])
            .arg(&config)
            .args(["--", "node", program, "http-server", &PORT.to_string(), "user"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.contains("listening"), "the user process did not start: {line:?}");
        Session(child)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.tether().args(["rpc", "daemon.shutdown"]).output();
        let _ = kubectl(&["-n", "shop", "delete", "deployment", &self.name, "--wait=false"]);
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A running `tether exec`, ended (SIGTERM, which it passes on) on drop.
struct Session(Child);

impl Drop for Session {
    fn drop(&mut self) {
        let _ =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        // The session's rules go with it, asynchronously.
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The client pod's figures for `REQUESTS` keep-alive GETs of `url` (after a warm-up).
fn client(url: &str) -> Value {
    kubectl(&["-n", "shop", "exec", "deploy/payments", "--", "/shop-app", "bench", url, "200"]).expect("warm-up");
    let report = kubectl(&["-n", "shop", "exec", "deploy/payments", "--", "/shop-app", "bench", url, REQUESTS]);
    serde_json::from_str(&report.expect("the client's report")).expect("a JSON report")
}

fn kubectl(args: &[&str]) -> Option<String> {
    let output = Command::new(KUBECTL).arg("--kubeconfig").arg(KUBECONFIG).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
