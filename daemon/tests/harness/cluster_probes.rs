//! Kubelet probes while a port is stolen, against the real cluster of `fixtures/cluster`
//! (tier 3): the user process answers 503 to everything, so a probe diverted to it would mark
//! the pod unready (readiness) and restart its container (liveness). The pod's clients get
//! the user process; the kubelet keeps getting the pod's own server.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cluster_incoming::deployment_server;
use crate::support::{eventually, kubectl, kubectl_output, require_cluster, Tether};

/// How long the port stays stolen while the pod is watched: many probe periods (2 s).
const STOLEN_FOR: Duration = Duration::from_secs(60);

/// A one-pod deployment of the shop app on port 8080 with HTTP readiness and liveness probes
/// that give up at the first (readiness) or second (liveness) failure; deleted on drop.
struct Probed {
    kubeconfig: PathBuf,
    name: String,
}

impl Probed {
    fn create(kubeconfig: &Path, name: &str) -> Probed {
        let manifest = format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: localhost/tether-cluster/shop-app:dev
        imagePullPolicy: Never
        command: [/shop-app, serve]
        env: [{{name: PORT, value: "8080"}}, {{name: SERVICE_NAME, value: probed}}]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /, port: http}}, periodSeconds: 2, failureThreshold: 1}}
        livenessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 2, failureThreshold: 2}}
"#
        );
        let path = std::env::temp_dir().join(format!("{name}.yaml"));
        std::fs::write(&path, manifest).unwrap();
        kubectl(kubeconfig, &["apply", "-f", &path.display().to_string()]);
        let probed = Probed { kubeconfig: kubeconfig.to_path_buf(), name: name.to_string() };
        let ready = eventually(Duration::from_secs(90), || probed.state().is_some_and(|state| state.ready));
        assert!(ready, "deployment {name} has no ready pod: {:?}", probed.state());
        probed
    }

    /// The pod's name, IP, readiness and restarts, while it has exactly one.
    fn state(&self) -> Option<PodState> {
        let template = r#"{range .items[*]}{.metadata.name} {.status.podIP} {.status.conditions[?(@.type=="Ready")].status} {.status.containerStatuses[0].restartCount}{"\n"}{end}"#;
        let selector = format!("app={}", self.name);
        let args = ["-n", "shop", "get", "pods", "-l", &selector, "-o", &format!("jsonpath={template}")];
        let listing = kubectl_output(&self.kubeconfig, &args).ok()?;
        let [line] = listing.lines().collect::<Vec<_>>()[..] else { return None };
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [pod, ip, ready, restarts] => Some(PodState {
                pod: pod.to_string(),
                ip: ip.to_string(),
                ready: ready == "True",
                restarts: restarts.parse().ok()?,
            }),
            _ => None,
        }
    }
}

impl Drop for Probed {
    fn drop(&mut self) {
        let _ = kubectl_output(&self.kubeconfig, &["-n", "shop", "delete", "deployment", &self.name, "--wait=false"]);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PodState {
    pod: String,
    ip: String,
    ready: bool,
    restarts: u32,
}

/// `GET url` from another pod of the cluster: the status line and the body.
fn get_from_a_pod(kubeconfig: &Path, url: &str) -> String {
    let args = ["-n", "shop", "exec", "deploy/payments", "--", "/shop-app", "get", url];
    kubectl_output(kubeconfig, &args).unwrap_or_else(|err| format!("error: {err}"))
}

#[test]
fn steal_on_a_port_with_http_probes_keeps_the_pod_ready_and_running() {
    let kubeconfig = require_cluster();
    let mut tether = Tether::new();
    tether.env.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
    let name = format!("probes-{}", std::process::id());
    let probed = Probed::create(&kubeconfig, &name);
    let before = probed.state().expect("one pod");
    // The user process listens on a port of its own (the machine's network is shared).
    let user_port = 18_640;
    let config = tether.config(
        "steal.json",
        &format!(r#"{{"incoming": {{"mode": "steal", "port_mapping": {{"8080": {user_port}}}}}}}"#),
    );
    let user =
        deployment_server(&tether, &name, &config, &["http-status-server", &user_port.to_string(), "503", "user"]);

    let url = format!("http://{}:8080/", before.ip);
    let stolen = |answer: &str| answer.starts_with("503 ") && answer.contains("user GET / ");
    let first = eventually(Duration::from_secs(10), || stolen(&get_from_a_pod(&kubeconfig, &url)));
    assert!(first, "the port is not stolen: {}", get_from_a_pod(&kubeconfig, &url));
    let deadline = Instant::now() + STOLEN_FOR;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let answer = get_from_a_pod(&kubeconfig, &url);
        assert!(stolen(&answer), "a client of the pod was not answered by the user process: {answer}");
        let state = probed.state();
        let unharmed =
            state.as_ref().is_some_and(|state| state.pod == before.pod && state.ready && state.restarts == 0);
        assert!(unharmed, "the pod was harmed by the steal (before: {before:?}); now {state:?}; seen {seen:?}");
        seen.push(state);
        std::thread::sleep(Duration::from_secs(1));
    }
    user.stop();
    let back = eventually(Duration::from_secs(10), || get_from_a_pod(&kubeconfig, &url).starts_with("200 "));
    assert!(back, "the pod does not answer for itself after the session: {}", get_from_a_pod(&kubeconfig, &url));
    assert_eq!(probed.state(), Some(PodState { ready: true, ..before }), "the pod changed over the session");
}
