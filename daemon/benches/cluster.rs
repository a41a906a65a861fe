//! Benchmark (not a test) against the real cluster of `fixtures/cluster`, every figure a ratio
//! measured in the same run: `session.prepare` with a cold agent (a new agent pod) against a
//! warm one; `targets.list` of a namespace of 2,000 pods from the daemon's cache against a
//! fresh list through the API server; outgoing TCP (request RTT and download throughput) of a
//! Python client under `tether exec` against the same client through `kubectl port-forward`;
//! the daemon's RSS idle, with a target cache and per warm agent. Needs root.
//!
//! `fixtures/cluster/up && cargo build --release --workspace && cargo bench -p tether-daemon --bench cluster`

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{json, Value};

const KUBECONFIG: &str = "/var/lib/tether-cluster/admin.kubeconfig";
const KUBECTL: &str = "/var/lib/tether-cluster/bin/kubectl";
const PYTHON: &str = "/usr/bin/python3";
const PAYMENTS: &str = "deployment/payments";
const PODS: usize = 2000;

/// The client under both paths: RTT of `GET /` on one keep-alive connection, then the time to
/// download the pod's own 6 MB executable (shop-app's `/file`, its one large answer) N times.
const CLIENT: &str = r#"
import http.client, json, sys, time
host, port, requests, downloads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
connection = http.client.HTTPConnection(host, port, timeout=30)
def get(path):
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, (response.status, body[:200])
    return len(body)
for _ in range(50):
    get("/")
rtts = []
for _ in range(requests):
    start = time.perf_counter()
    get("/")
    rtts.append(time.perf_counter() - start)
get("/file?path=/shop-app")
start = time.perf_counter()
size = sum(get("/file?path=/shop-app") for _ in range(downloads))
print(json.dumps({"rtts": rtts, "bytes": size, "seconds": time.perf_counter() - start}))
"#;

/// What the run made — the isolated daemon, its directories, the namespace of pending pods —
/// removed on drop, also when a measurement panics.
struct Bench {
    base: PathBuf,
    namespace: String,
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
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.tether().args(["rpc", "daemon.shutdown"]).output();
        let _ = kubectl(&["delete", "namespace", &self.namespace, "--ignore-not-found", "--timeout=120s"]);
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A row of the final table: measure, figure, goal, and whether it is met (`None`: no goal).
struct Row(String, String, String, Option<bool>);

fn row(measure: impl Into<String>, figure: String, goal: &str, met: Option<bool>) -> Row {
    Row(measure.into(), figure, goal.into(), met)
}

/// A row for a p50 that should take at most `limit_ms`.
fn at_most(measure: impl Into<String>, samples: &[Duration], limit_ms: u64) -> Row {
    let p50 = at(samples, 0.5);
    row(measure, millis(p50), &format!("<= {limit_ms} ms"), Some(p50 <= Duration::from_millis(limit_ms)))
}

/// A row for `fast`, whose p50 should be at least `times` times shorter than `slow`'s.
fn faster(measure: &str, slow: &[Duration], fast: &[Duration], times: f64) -> Row {
    let ratio = ratio(slow, fast);
    row(measure, format!("{ratio:.1}x"), &format!(">= {times}x"), Some(ratio >= times))
}

fn main() {
    assert!(nix::unistd::Uid::effective().is_root(), "the cluster benchmark needs root (the cluster's kubeconfig)");
    let tether = PathBuf::from(env!("CARGO_BIN_EXE_tether"));
    for companion in ["tether-agent", "libtether_layer.so"] {
        assert!(
            tether.with_file_name(companion).exists(),
            "{companion} is missing next to {}; run `cargo build --release --workspace` first",
            tether.display()
        );
    }
    let ready = kubectl(&["get", "--raw", "/readyz"]);
    assert!(ready.as_deref() == Some("ok"), "the cluster does not answer ({ready:?}): run fixtures/cluster/up");

    let pid = std::process::id();
    let bench = Bench {
        base: std::env::temp_dir().join(format!("tether-bench-cluster-{pid}")),
        namespace: format!("bench-list-{pid}"),
    };
    std::fs::create_dir_all(bench.base.join("run")).unwrap();
    std::fs::set_permissions(bench.base.join("run"), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(bench.base.join("client.py"), CLIENT).unwrap();
    let hello = bench.tether().args(["rpc", "daemon.hello", r#"{"client":"bench","api_version":1}"#]).output().unwrap();
    assert!(hello.status.success(), "the daemon did not start: {}", String::from_utf8_lossy(&hello.stderr));

    let mut rows = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let stream = tokio::net::UnixStream::connect(bench.base.join("run/tether/api.sock")).await.unwrap();
        let client = WsClientBuilder::default().build_with_stream("ws://localhost/", stream).await.unwrap();
        memory(&client, &mut rows).await;
        sessions(&client, &mut rows).await;
        listing(&client, &bench.namespace, &mut rows).await;
    });
    outgoing(&bench, &mut rows);

    println!("\n{:<44} {:>36} {:>10}  met?", "measure", "figure", "goal");
    for Row(measure, figure, goal, met) in &rows {
        let met = met.map_or("-", |met| if met { "yes" } else { "NO" });
        println!("{measure:<44} {figure:>36} {goal:>10}  {met}");
    }
}

/// Daemon RSS idle, after the target cache of `shop` is filled, and per warm agent.
async fn memory(client: &WsClient, rows: &mut Vec<Row>) {
    let pid = call(client, "daemon.status", json!({})).await["pid"].as_u64().unwrap();
    let idle = rss_kib(pid);
    call(client, "targets.list", json!({"namespace": "shop"})).await;
    let cached = rss_kib(pid);
    let targets = [PAYMENTS, "deployment/orders", "statefulset/inventory"];
    for target in targets {
        call(client, "targets.prewarm", json!({"target": target, "namespace": "shop"})).await;
    }
    let per_agent = (rss_kib(pid) - cached) / targets.len() as i64;
    rows.push(row("daemon RSS idle", mib(idle), "-", None));
    rows.push(row("daemon RSS, shop target cache", format!("+{}", mib(cached - idle)), "-", None));
    rows.push(row("daemon RSS per warm agent (3 targets)", format!("+{}", mib(per_agent)), "-", None));
}

/// `session.prepare` until the env is returned, with a new agent pod each time and with a warm one.
async fn sessions(client: &WsClient, rows: &mut Vec<Row>) {
    let mut warm = Vec::new();
    for _ in 0..100 {
        warm.push(prepare(client).await);
    }
    let mut cold = Vec::new();
    for _ in 0..20 {
        let agent = call(client, "targets.prewarm", json!({"target": PAYMENTS, "namespace": "shop"})).await;
        call(client, "agents.stop", json!({"agent_id": agent["agent_id"]})).await;
        cold.push(prepare(client).await);
    }
    warm.sort();
    cold.sort();
    report("session.prepare, warm agent", &warm);
    report("session.prepare, cold agent", &cold);
    rows.push(at_most("session.prepare warm p50", &warm, 100));
    rows.push(faster("session.prepare cold / warm p50", &cold, &warm, 20.0));
}

/// Times one `session.prepare` of payments (checking its env), then ends the session.
async fn prepare(client: &WsClient) -> Duration {
    let params =
        json!({"target": PAYMENTS, "namespace": "shop", "launch": {"program": "app", "env": {"PATH": "/usr/bin"}}});
    let start = Instant::now();
    let prepared = call(client, "session.prepare", params).await;
    let elapsed = start.elapsed();
    assert_eq!(prepared["env"]["SERVICE_NAME"], "payments-service", "the target's env: {prepared}");
    call(client, "session.end", json!({"session_id": prepared["session_id"]})).await;
    elapsed
}

/// `targets.list` of a namespace of [`PODS`] pending pods from the daemon's cache against a
/// fresh list of those pods through the API server.
async fn listing(client: &WsClient, namespace: &str, rows: &mut Vec<Row>) {
    let kubeconfig = Kubeconfig::read_from(KUBECONFIG).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    let kube = kube::Client::try_from(config).unwrap();
    let object = json!({"metadata": {"name": namespace}});
    Api::<Namespace>::all(kube.clone())
        .create(&PostParams::default(), &serde_json::from_value(object).unwrap())
        .await
        .unwrap();
    // Pods are refused until the namespace's default service account exists.
    let accounts = Api::<ServiceAccount>::namespaced(kube.clone(), namespace);
    while accounts.get_opt("default").await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pods = Api::<Pod>::namespaced(kube, namespace);
    let start = Instant::now();
    futures::stream::iter(0..PODS)
        .map(|index| {
            // A scheduling gate, not a `nodeName` of a missing node: the pod garbage collector
            // deletes pods bound to a node that does not exist after 40 s. Gated pods stay
            // Pending without any scheduling attempt, costing only the API server.
            let pod = json!({
                "metadata": {"name": format!("pending-{index}")},
                "spec": {
                    "schedulingGates": [{"name": "tether.dev/bench"}],
                    "containers": [{"name": "pending", "image": "localhost/tether-cluster/pause:dev"}],
                },
            });
            let pods = &pods;
            async move { pods.create(&PostParams::default(), &serde_json::from_value(pod).unwrap()).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(pods.list(&ListParams::default()).await.unwrap().items.len(), PODS);
    println!("{PODS} pending pods created in {:.1} s", start.elapsed().as_secs_f64());

    let params = json!({"namespace": namespace});
    let listed = call(client, "targets.list", params.clone()).await;
    let listed_pods = listed.as_array().unwrap().iter().filter(|target| target["kind"] == "pod").count();
    assert_eq!(listed_pods, PODS, "the daemon's cache lists every pod");
    let cached = timed(100, || call(client, "targets.list", params.clone())).await;
    let fresh = timed(20, || async { pods.list(&ListParams::default()).await.unwrap() }).await;
    report("targets.list, daemon cache", &cached);
    report("pods list through the API server", &fresh);
    rows.push(at_most(format!("targets.list cached p50 ({PODS} pods)"), &cached, 5));
    rows.push(faster("targets.list API list / cached p50", &fresh, &cached, 20.0));
}

/// Outgoing TCP to the payments pod: the client under `tether exec` (connecting to the pod's
/// address, which the layer sends through the agent) against `kubectl port-forward`.
fn outgoing(bench: &Bench, rows: &mut Vec<Row>) {
    let pod_ip =
        kubectl(&["-n", "shop", "get", "pods", "-l", "app=payments", "-o", "jsonpath={.items[0].status.podIP}"]);
    let pod_ip = pod_ip.expect("the payments pod's address");
    let mut exec = bench.tether();
    exec.args(["exec", "--target", PAYMENTS, "-n", "shop", "--", PYTHON]);
    let through_tether = traffic(&mut exec, bench, &pod_ip, 8080);
    let forward = PortForward::start();
    let through_forward = traffic(&mut Command::new(PYTHON), bench, "127.0.0.1", forward.port);
    drop(forward);
    for (name, (rtts, throughput)) in [("tether exec", &through_tether), ("kubectl port-forward", &through_forward)] {
        report(&format!("GET / RTT, {name}"), rtts);
        println!("{:<40} {throughput:>8.1} MB/s", format!("download, {name}"));
    }
    let throughput = through_tether.1 / through_forward.1;
    let rtt = ratio(&through_tether.0, &through_forward.0);
    let figure = format!("{throughput:.2}x ({:.0} vs {:.0} MB/s)", through_tether.1, through_forward.1);
    rows.push(row("outgoing throughput tether / port-forward", figure, ">= 0.8x", Some(throughput >= 0.8)));
    let figure =
        format!("{rtt:.2}x ({} vs {})", millis(at(&through_tether.0, 0.5)), millis(at(&through_forward.0, 0.5)));
    rows.push(row("outgoing RTT p50 tether / port-forward", figure, "<= 1.3x", Some(rtt <= 1.3)));
}

/// Runs the client under `command` against `host:port`: its sorted RTTs and download MB/s.
fn traffic(command: &mut Command, bench: &Bench, host: &str, port: u16) -> (Vec<Duration>, f64) {
    let output =
        command.arg(bench.base.join("client.py")).args([host, &port.to_string(), "1000", "20"]).output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("bad client report ({err}): {}", String::from_utf8_lossy(&output.stderr)));
    let mut rtts: Vec<Duration> =
        report["rtts"].as_array().unwrap().iter().map(|rtt| Duration::from_secs_f64(rtt.as_f64().unwrap())).collect();
    rtts.sort();
    (rtts, report["bytes"].as_f64().unwrap() / report["seconds"].as_f64().unwrap() / 1e6)
}

/// `kubectl port-forward` of payments' 8080 to a free host port, stopped on drop.
struct PortForward {
    child: Child,
    port: u16,
    /// Kept open: kubectl dies of SIGPIPE when it cannot print that it handles a connection.
    _stdout: BufReader<ChildStdout>,
}

impl PortForward {
    fn start() -> PortForward {
        let mut child = Command::new(KUBECTL)
            .args(["--kubeconfig", KUBECONFIG, "-n", "shop", "port-forward", PAYMENTS, ":8080"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // "Forwarding from 127.0.0.1:PORT -> 8080"
        let port = line.split_once("127.0.0.1:").and_then(|(_, rest)| rest.split(' ').next()?.parse().ok());
        let port = port.unwrap_or_else(|| panic!("kubectl port-forward said {line:?}"));
        PortForward { child, port, _stdout: stdout }
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(client: &WsClient, method: &str, params: Value) -> Value {
    let mut object = ObjectParams::new();
    for (key, value) in params.as_object().unwrap().clone() {
        object.insert(&key, value).unwrap();
    }
    client.request(method, object).await.unwrap_or_else(|err| panic!("{method}: {err}"))
}

/// `rounds` sorted durations of `run`, after one untimed run (connections, caches).
async fn timed<F, Fut, T>(rounds: usize, mut run: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    run().await;
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        run().await;
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

fn kubectl(args: &[&str]) -> Option<String> {
    let output = Command::new(KUBECTL).arg("--kubeconfig").arg(KUBECONFIG).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn rss_kib(pid: u64) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The `q` quantile of sorted samples.
fn at(samples: &[Duration], q: f64) -> Duration {
    samples[((samples.len() - 1) as f64 * q) as usize]
}

fn ratio(numerator: &[Duration], denominator: &[Duration]) -> f64 {
    at(numerator, 0.5).as_secs_f64() / at(denominator, 0.5).as_secs_f64()
}

fn report(name: &str, samples: &[Duration]) {
    println!(
        "{name:<40} p50 {:>10}  p90 {:>10}  ({} runs)",
        millis(at(samples, 0.5)),
        millis(at(samples, 0.9)),
        samples.len()
    );
}

fn millis(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1e3)
}

fn mib(kib: i64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
