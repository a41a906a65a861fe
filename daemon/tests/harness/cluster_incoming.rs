//! Incoming traffic of Kubernetes workloads against the real cluster of `fixtures/cluster`
//! (tier 3): every ready replica of a deployment is intercepted, through its Service and its
//! pod IPs, a replica that appears during the session too, and nothing is left in the pods
//! afterwards. Each test makes its own deployment and Service (on a port of its own, as the
//! user processes share this machine's network), and deletes them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::incoming::{node, program, Server};
use crate::support::{eventually, kubectl, kubectl_output, require_cluster, Tether};

/// A deployment of the shop app with `replicas` pods serving HTTP on `port` (readiness probe
/// on it), and a Service of the same name; both deleted on drop.
struct Workload {
    kubeconfig: PathBuf,
    name: String,
}

impl Workload {
    fn create(kubeconfig: &Path, name: &str, replicas: u32, port: u16) -> Workload {
        let manifest = format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: localhost/tether-cluster/shop-app:dev
        imagePullPolicy: Never
        command: [/shop-app, serve]
        env: [{{name: PORT, value: "{port}"}}, {{name: SERVICE_NAME, value: replica}}]
        ports: [{{name: http, containerPort: {port}}}]
        readinessProbe: {{httpGet: {{path: /, port: http}}, periodSeconds: 2}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: {port}, targetPort: http}}]
"#
        );
        let path = std::env::temp_dir().join(format!("{name}.yaml"));
        std::fs::write(&path, manifest).unwrap();
        kubectl(kubeconfig, &["apply", "-f", &path.display().to_string()]);
        let workload = Workload { kubeconfig: kubeconfig.to_path_buf(), name: name.to_string() };
        workload.wait_ready(replicas);
        workload
    }

    fn wait_ready(&self, replicas: u32) {
        let ready = eventually(Duration::from_secs(90), || self.pod_ips().len() == replicas as usize);
        assert!(ready, "deployment {} has not {replicas} ready pods: {:?}", self.name, self.pod_ips());
    }

    /// The IPs of the ready pods.
    fn pod_ips(&self) -> Vec<String> {
        let template = r#"{range .items[*]}{.status.podIP} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}"#;
        let listing = kubectl_output(
            &self.kubeconfig,
            &["-n", "shop", "get", "pods", "-l", &format!("app={}", self.name), "-o", &format!("jsonpath={template}")],
        )
        .unwrap_or_default();
        listing
            .lines()
            .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [ip, "True"] => Some(ip.to_string()),
                _ => None,
            })
            .collect()
    }

    /// (pod IP, container id) of each pod.
    fn pods(&self) -> Vec<(String, String)> {
        let template = r#"{range .items[*]}{.status.podIP} {.status.containerStatuses[0].containerID}{"\n"}{end}"#;
        let listing = kubectl(
            &self.kubeconfig,
            &["-n", "shop", "get", "pods", "-l", &format!("app={}", self.name), "-o", &format!("jsonpath={template}")],
        );
        listing
            .lines()
            .filter_map(|line| {
                let (ip, id) = line.split_once(' ')?;
                Some((ip.to_string(), id.strip_prefix("containerd://")?.to_string()))
            })
            .collect()
    }

    /// The host pids of the pods' containers (the cluster's node is this machine).
    fn container_pids(&self) -> Vec<String> {
        let ids = kubectl(
            &self.kubeconfig,
            &[
                "-n",
                "shop",
                "get",
                "pods",
                "-l",
                &format!("app={}", self.name),
                "-o",
                "jsonpath={.items[*].status.containerStatuses[0].containerID}",
            ],
        );
        ids.split_whitespace().filter_map(|id| process_of_container(id.strip_prefix("containerd://")?)).collect()
    }
}

/// The pid of the agent serving container `id` (agent pods share the node's pid namespace).
fn agent_serving(id: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
        let serves = args.first().is_some_and(|exe| exe.ends_with(b"tether-agent"))
            && args.windows(2).any(|pair| pair[0] == b"--container-id" && pair[1] == id.as_bytes());
        serves.then_some(pid)
    })
}

/// A process of the container `id`: one whose cgroup path names it.
fn process_of_container(id: &str) -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        cgroup.contains(id).then(|| pid.to_string())
    })
}

impl Drop for Workload {
    fn drop(&mut self) {
        for kind in ["deployment", "service"] {
            let _ = kubectl_output(&self.kubeconfig, &["-n", "shop", "delete", kind, &self.name, "--wait=false"]);
        }
    }
}

/// `count` POSTs to `url`, each on a new connection, from a pod of the cluster (`payments`):
/// one line per request, the status and the first line of the body.
fn hits(kubeconfig: &Path, url: &str, count: u32) -> Vec<String> {
    hits_as(kubeconfig, url, count, "")
}

/// [`hits`] with header `X-Tether-User: user` (none when empty).
fn hits_as(kubeconfig: &Path, url: &str, count: u32, user: &str) -> Vec<String> {
    let count = count.to_string();
    let args = ["-n", "shop", "exec", "deploy/payments", "--", "/shop-app", "hits", url, &count, user];
    kubectl(kubeconfig, &args).lines().map(str::to_string).collect()
}

/// How many of `lines` each server answered, for failure messages.
fn tally(lines: &[String]) -> String {
    let (user, replica) = (answered_by_user(lines), answered_by_replica(lines));
    let other: Vec<&String> = lines.iter().filter(|line| !line.contains(r#""server":"user""#)).take(3).collect();
    format!("{user} by the user process, {replica} by a replica, of {}; others: {other:?}", lines.len())
}

fn answered_by_user(lines: &[String]) -> usize {
    lines.iter().filter(|line| line.starts_with("200 ") && line.contains(r#""server":"user""#)).count()
}

fn answered_by_replica(lines: &[String]) -> usize {
    lines.iter().filter(|line| *line == "200 replica: hello from the cluster").count()
}

fn nft_tables(pid: &str) -> String {
    let output = Command::new("nsenter").args(["-t", pid, "-n", "nft", "list", "tables"]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A session of `incoming.js http-server PORT user` (recording each request's user in `record`,
/// if given) under `tether exec --target deployment/NAME -n shop` with the incoming `mode`.
fn user_server(tether: &Tether, name: &str, port: u16, mode: &str, record: Option<&Path>) -> Server {
    let config = tether.config("incoming.json", &format!(r#"{{"incoming": {{"mode": "{mode}"}}}}"#));
    let port = port.to_string();
    let mut args = vec!["http-server", port.as_str(), "user"];
    args.extend(record.and_then(Path::to_str));
    deployment_server(tether, name, &config, &args)
}

/// `incoming.js ARGS` under `tether exec --target deployment/NAME -n shop` with `config`.
pub fn deployment_server(tether: &Tether, name: &str, config: &Path, args: &[&str]) -> Server {
    let mut command = tether.command();
    command
        .args(["exec", "--target", &format!("deployment/{name}"), "-n", "shop", "--config"])
        .arg(config)
        .args(["--", &node(), &program()])
        .args(args);
    Server::start(command)
}

/// A tether whose daemon reads the cluster's kubeconfig.
fn cluster_tether(kubeconfig: &Path) -> Tether {
    let mut tether = Tether::new();
    tether.env.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
    tether
}

#[test]
fn steal_on_a_deployment_answers_from_the_user_process_on_every_replica_and_a_new_one() {
    let kubeconfig = require_cluster();
    let tether = cluster_tether(&kubeconfig);
    let port = 18610;
    let name = format!("inc-replicas-{}", std::process::id());
    let workload = Workload::create(&kubeconfig, &name, 2, port);
    let user = user_server(&tether, &name, port, "steal", None);

    let service = format!("http://{name}.shop.svc.cluster.local:{port}/");
    let through_service = hits(&kubeconfig, &service, 200);
    assert_eq!(answered_by_user(&through_service), 200, "through the Service: {}", tally(&through_service));
    for ip in workload.pod_ips() {
        let direct = hits(&kubeconfig, &format!("http://{ip}:{port}/"), 50);
        assert_eq!(answered_by_user(&direct), 50, "to pod {ip}: {}", tally(&direct));
    }

    let before = workload.pod_ips();
    kubectl(&kubeconfig, &["-n", "shop", "scale", "deployment", &name, "--replicas", "3"]);
    workload.wait_ready(3);
    let new_ip = workload.pod_ips().into_iter().find(|ip| !before.contains(ip)).expect("a new pod");
    let new_url = format!("http://{new_ip}:{port}/");
    let stolen = eventually(Duration::from_secs(10), || answered_by_user(&hits(&kubeconfig, &new_url, 1)) == 1);
    assert!(stolen, "the new replica {new_ip} is not intercepted within 10 s");

    user.stop();
    for ip in workload.pod_ips() {
        let url = format!("http://{ip}:{port}/");
        let back = eventually(Duration::from_secs(10), || answered_by_replica(&hits(&kubeconfig, &url, 5)) == 5);
        assert!(back, "pod {ip} does not answer for itself after the session");
    }
    for pid in workload.container_pids() {
        let clean = eventually(Duration::from_secs(10), || !nft_tables(&pid).contains("tether_"));
        assert!(clean, "a tether table is left in a replica: {}", nft_tables(&pid));
    }
}

#[test]
fn mirror_on_a_deployment_copies_every_request_of_every_replica_while_the_replicas_answer() {
    let kubeconfig = require_cluster();
    let tether = cluster_tether(&kubeconfig);
    let port = 18620;
    let name = format!("inc-mirror-{}", std::process::id());
    let _workload = Workload::create(&kubeconfig, &name, 2, port);
    let record = tether.state_dir.join("copies");
    let user = user_server(&tether, &name, port, "mirror", Some(&record));

    let answers = hits_as(&kubeconfig, &format!("http://{name}.shop.svc.cluster.local:{port}/"), 200, "mirrored");
    assert_eq!(answered_by_replica(&answers), 200, "the replicas must answer: {}", tally(&answers));
    // The kubelet's probes are copied too; only the client's requests are counted.
    let copies =
        || std::fs::read_to_string(&record).unwrap_or_default().lines().filter(|user| *user == "mirrored").count();
    let all = eventually(Duration::from_secs(10), || copies() == 200);
    user.stop();
    assert!(all, "the user process saw {} of the 200 requests", copies());
}

#[test]
fn a_killed_agent_of_a_replica_leaves_no_rules_and_a_new_agent_steals_that_replica_again() {
    let kubeconfig = require_cluster();
    let tether = cluster_tether(&kubeconfig);
    let port = 18630;
    let name = format!("inc-killed-{}", std::process::id());
    let workload = Workload::create(&kubeconfig, &name, 2, port);
    let user = user_server(&tether, &name, port, "steal", None);
    let stolen_from = |ip: &str| answered_by_user(&hits(&kubeconfig, &format!("http://{ip}:{port}/"), 1)) == 1;

    for (ip, container) in workload.pods() {
        assert!(stolen_from(&ip), "pod {ip} is not stolen");
        let agent = agent_serving(&container).unwrap_or_else(|| panic!("no agent serves the container of pod {ip}"));
        let pid = process_of_container(&container).expect("a process of the container");
        let table = format!("table inet tether_{agent}");
        let has_table = || nft_tables(&pid).lines().any(|line| line.trim() == table);
        assert!(has_table(), "no table of agent {agent}: {}", nft_tables(&pid));
        kill(Pid::from_raw(agent), Signal::SIGKILL).unwrap();
        let gone = eventually(Duration::from_secs(5), || !has_table());
        assert!(gone, "the killed agent's rules are left in pod {ip}: {}", nft_tables(&pid));
        let again = eventually(Duration::from_secs(20), || stolen_from(&ip));
        assert!(again, "pod {ip} is not stolen again by a new agent");
    }
    user.stop();
}

/// A developer's session on `deployment/NAME`: `incoming.js http-server USER_PORT USER` steals
/// the requests of `X-Tether-User: USER` to the deployment's `port`.
fn developer(tether: &Tether, name: &str, port: u16, user_port: u16, user: &str) -> Server {
    let json = format!(
        r#"{{"incoming": {{"mode": "steal", "port_mapping": {{"{port}": {user_port}}}, "http_filter": {{"header": "X-Tether-User: {user}"}}}}}}"#
    );
    let config = tether.config("developer.json", &json);
    deployment_server(tether, name, &config, &["http-server", &user_port.to_string(), user])
}

#[test]
fn two_developers_steal_their_own_requests_from_every_replica_and_the_rest_reach_the_replicas() {
    let kubeconfig = require_cluster();
    let (alice, bob) = (cluster_tether(&kubeconfig), cluster_tether(&kubeconfig));
    let port = 18640;
    let name = format!("inc-devs-{}", std::process::id());
    let workload = Workload::create(&kubeconfig, &name, 2, port);
    let alice_process = developer(&alice, &name, port, 18641, "alice");
    let bob_process = developer(&bob, &name, port, 18642, "bob");

    let service = format!("http://{name}.shop.svc.cluster.local:{port}/");
    for user in ["alice", "bob"] {
        let lines = hits_as(&kubeconfig, &service, 60, user);
        let own = format!(r#""server":"{user}""#);
        let theirs = lines.iter().filter(|line| line.starts_with("200 ") && line.contains(&own)).count();
        assert_eq!(theirs, 60, "{user}'s requests: {lines:?}");
    }
    let nobodys = hits(&kubeconfig, &service, 60);
    assert_eq!(answered_by_replica(&nobodys), 60, "requests no filter matches: {nobodys:?}");
    for pid in workload.container_pids() {
        assert_eq!(nft_tables(&pid).matches("tether_").count(), 2, "a table per developer in each replica");
    }
    bob_process.stop();
    alice_process.stop();
}
