//! Kubernetes targets against the real cluster of `fixtures/cluster` (tier 3): workloads by
//! name, the agent pod it starts, warm reuse, and the errors a user gets.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{eventually, kubectl, parse_report, require_cluster, Lang, Tether};

/// A tether whose daemon reads the cluster's kubeconfig.
fn cluster_tether() -> (Tether, PathBuf) {
    let kubeconfig = require_cluster();
    let mut tether = Tether::new();
    tether.env.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
    (tether, kubeconfig)
}

/// A Python probe check under `tether exec --target TARGET -n shop`.
fn probe(tether: &Tether, target: &str, check: &[&str]) -> Value {
    let mut command = tether.command();
    command.args(["exec", "--target", target, "-n", "shop", "--", "/usr/bin/python3"]);
    command.arg(crate::support::repo().join("fixtures/programs/python/probe.py")).args(check);
    parse_report(&command.output().expect("running tether exec"), Lang::Python, check)
}

fn service_ip(kubeconfig: &Path, name: &str) -> String {
    kubectl(kubeconfig, &["-n", "shop", "get", "service", name, "-o", "jsonpath={.spec.clusterIP}"])
}

#[test]
fn a_deployment_gives_its_env_files_dns_and_network() {
    let (tether, kubeconfig) = cluster_tether();
    let target = "deployment/orders";
    let env = |name: &str| probe(&tether, target, &["env", name])["value"].clone();
    assert_eq!(env("DEMO_GREETING"), "hello-from-pod", "a literal value");
    assert_eq!(env("ORDERS_MODE"), "cluster", "a value from a ConfigMap");
    assert_eq!(env("API_TOKEN"), "s3cr3t-from-secret", "a value from a Secret");
    let pods = kubectl(
        &kubeconfig,
        &["-n", "shop", "get", "pods", "-l", "app=orders", "-o", "jsonpath={.items[*].metadata.name}"],
    );
    let pod_name = env("POD_NAME");
    assert!(pods.split(' ').any(|pod| pod_name == pod), "POD_NAME {pod_name} is one of {pods}");

    let file = probe(&tether, target, &["read", "/etc/orders/app.conf"]);
    assert_eq!(file["ok"], true, "{file}");
    assert!(file["content"].as_str().unwrap_or_default().contains("name=orders"), "the ConfigMap's file: {file}");

    let resolved = probe(&tether, target, &["resolve", "payments.shop.svc.cluster.local"]);
    let payments_ip = service_ip(&kubeconfig, "payments");
    assert!(
        resolved["addresses"].as_array().is_some_and(|addrs| addrs.contains(&Value::from(payments_ip.clone()))),
        "{resolved}"
    );

    let http = probe(&tether, target, &["http", "http://payments.shop.svc.cluster.local/"]);
    assert_eq!(http["status"], 200, "{http}");
    assert!(http["body"].as_str().unwrap_or_default().contains("hello from the cluster"), "{http}");

    let dns_ip =
        kubectl(&kubeconfig, &["-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"]);
    let query = probe(&tether, target, &["dns-query", &format!("{dns_ip}:53"), "payments.shop.svc.cluster.local"]);
    assert_eq!(query["answers"], Value::from(vec![payments_ip]), "a UDP query to the cluster DNS: {query}");
}

#[test]
fn every_workload_kind_takes_the_context_of_one_of_its_pods() {
    let (tether, kubeconfig) = cluster_tether();
    let replicaset = kubectl(
        &kubeconfig,
        &["-n", "shop", "get", "rs", "-l", "app=orders", "-o", "jsonpath={.items[0].metadata.name}"],
    );
    let orders_pod = kubectl(
        &kubeconfig,
        &["-n", "shop", "get", "pods", "-l", "app=orders", "-o", "jsonpath={.items[0].metadata.name}"],
    );
    let payments_ip = service_ip(&kubeconfig, "payments");
    let dns_ip =
        kubectl(&kubeconfig, &["-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"]);
    for (target, service) in [
        ("statefulset/inventory".to_string(), "inventory-service"),
        ("service/orders".to_string(), "orders-service"),
        ("pod/inventory-0".to_string(), "inventory-service"),
        (format!("replicaset/{replicaset}"), "orders-service"),
        (format!("pod/{orders_pod}/container/orders"), "orders-service"),
    ] {
        let env = probe(&tether, &target, &["env", "SERVICE_NAME"]);
        assert_eq!(env["value"], service, "{target}: {env}");
        let file = probe(&tether, &target, &["read", "/etc/hostname"]);
        assert!(file["content"].as_str().is_some_and(|name| !name.trim().is_empty()), "{target}: {file}");
        let resolved = probe(&tether, &target, &["resolve", "payments.shop.svc.cluster.local"]);
        assert_eq!(resolved["addresses"], Value::from(vec![payments_ip.clone()]), "{target}: {resolved}");
        let http = probe(&tether, &target, &["http", "http://payments.shop.svc.cluster.local/"]);
        assert_eq!(http["status"], 200, "{target}: {http}");
        let query = probe(&tether, &target, &["dns-query", &format!("{dns_ip}:53"), "payments.shop.svc.cluster.local"]);
        assert_eq!(query["answers"], Value::from(vec![payments_ip.clone()]), "{target}: {query}");
    }
}

#[test]
fn targetless_has_the_namespaces_dns_and_network_but_no_env_or_files() {
    let (tether, kubeconfig) = cluster_tether();
    let http = probe(&tether, "targetless", &["http", "http://payments/"]);
    assert_eq!(http["status"], 200, "a short name resolves in the namespace's search path: {http}");
    let resolved = probe(&tether, "targetless", &["resolve", "orders"]);
    assert_eq!(resolved["addresses"], Value::from(vec![service_ip(&kubeconfig, "orders")]), "{resolved}");
    let env = probe(&tether, "targetless", &["env", "TETHER_AGENT_TOKEN"]);
    assert_eq!(env["value"], Value::Null, "the agent's own environment is not the process's: {env}");
}

/// `session.prepare` through `tether rpc`: the error's code and message as printed.
fn prepare_error(tether: &Tether, params: &str) -> String {
    let output = tether.command().args(["rpc", "session.prepare", params]).output().expect("tether rpc");
    assert!(!output.status.success(), "session.prepare {params} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn jobs_and_cronjobs_with_nothing_running_say_so() {
    let (tether, _) = cluster_tether();
    let job = prepare_error(&tether, r#"{"target":"job/migrate","namespace":"shop","launch":{"program":"x"}}"#);
    assert!(
        job.contains("(code -32008)")
            && job.contains("job/migrate in namespace shop has no running pod: job migrate completed"),
        "{job}"
    );
    let cron = prepare_error(&tether, r#"{"target":"cronjob/report","namespace":"shop","launch":{"program":"x"}}"#);
    assert!(
        cron.contains("(code -32008)") && cron.contains("cronjob/report in namespace shop has no job yet"),
        "{cron}"
    );
    let missing = prepare_error(&tether, r#"{"target":"deployment/nope","namespace":"shop","launch":{"program":"x"}}"#);
    assert!(
        missing.contains("(code -32001)") && missing.contains("deployment/nope in namespace shop does not exist"),
        "{missing}"
    );
}

/// The pods of `tether`'s agents.
fn agent_pod_names(tether: &Tether) -> Vec<String> {
    agents(tether).iter().filter_map(|agent| agent["pod"]["name"].as_str().map(str::to_string)).collect()
}

/// Runs a pod `name` of the shop app in `shop` with `env` (`NAME=value`) and waits until it is ready.
fn run_shop_pod(kubeconfig: &Path, name: &str, env: &[&str]) {
    let mut args = vec!["-n", "shop", "run", name, "--image", "localhost/tether-cluster/shop-app:dev"];
    args.extend(["--image-pull-policy", "Never", "--restart", "Never"]);
    for variable in env {
        args.extend(["--env", variable]);
    }
    args.extend(["--command", "--", "/shop-app", "serve"]);
    kubectl(kubeconfig, &args);
    kubectl(kubeconfig, &["-n", "shop", "wait", "--for=condition=Ready", &format!("pod/{name}"), "--timeout=60s"]);
}

fn agents(tether: &Tether) -> Vec<Value> {
    let output = tether.command().args(["rpc", "agents.list"]).output().expect("tether rpc");
    serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("agents.list prints JSON")
}

#[test]
fn a_second_launch_reuses_the_warm_agent_pod() {
    let (tether, _) = cluster_tether();
    let target = "statefulset/inventory";
    probe(&tether, target, &["env", "SERVICE_NAME"]);
    let first = agents(&tether);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0]["pod"]["uid"].as_str().is_some_and(|uid| !uid.is_empty()), "{first:?}");
    probe(&tether, target, &["env", "SERVICE_NAME"]);
    let second = agents(&tether);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(first[0]["pod"]["uid"], second[0]["pod"]["uid"], "the same agent pod serves the second launch");
}

fn sessions(tether: &Tether) -> Vec<Value> {
    let output = tether.command().args(["rpc", "session.list"]).output().expect("tether rpc");
    serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("session.list prints JSON")
}

fn daemon_pid(tether: &Tether) -> i32 {
    let output =
        tether.command().args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#]).output().expect("rpc");
    let hello: Value = serde_json::from_slice(&output.stdout).expect("daemon.hello prints JSON");
    hello["pid"].as_i64().expect("the daemon's pid") as i32
}

/// The agent Jobs and pods in `shop` whose names `tether` reports for its agents.
fn agent_objects(kubeconfig: &Path, pods: &[String]) -> Vec<String> {
    let listed = kubectl(
        kubeconfig,
        &["-n", "shop", "get", "jobs,pods", "-l", "app.kubernetes.io/managed-by=tether", "-o", "name"],
    );
    listed
        .lines()
        .filter(|object| pods.iter().any(|pod| pod.starts_with(object.rsplit('/').next().unwrap_or_default())))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_killed_tether_exec_ends_its_session_and_a_killed_daemon_leaves_no_agent_pod() {
    let (tether, kubeconfig) = cluster_tether();
    let mut command = tether.command();
    command.args(["exec", "--target", "deployment/payments", "-n", "shop", "--", "sleep", "60"]).process_group(0);
    let mut exec = command.spawn().expect("tether exec");
    assert!(eventually(Duration::from_secs(30), || sessions(&tether).len() == 1), "the session never started");
    let pods = agent_pod_names(&tether);
    assert_eq!(pods.len(), 1, "one agent pod");

    kill(Pid::from_raw(-(exec.id() as i32)), Signal::SIGKILL).unwrap();
    let _ = exec.wait();
    assert!(eventually(Duration::from_secs(5), || sessions(&tether).is_empty()), "the session outlived its launcher");
    assert_eq!(agents(&tether).len(), 1, "the agent stays warm for the next session");

    kill(Pid::from_raw(daemon_pid(&tether)), Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let gone = eventually(Duration::from_secs(15), || agent_objects(&kubeconfig, &pods).is_empty());
    assert!(gone, "left behind 15 s after the daemon was killed: {:?}", agent_objects(&kubeconfig, &pods));
    eprintln!("agent pod gone {} ms after the daemon was killed", killed.elapsed().as_millis());
    // A new daemon starts cleanly and serves the same target.
    assert_eq!(probe(&tether, "deployment/payments", &["env", "SERVICE_NAME"])["value"], "payments-service");
}

/// `session.prepare` of `deployment/payments` in `shop` with `agent` settings: the error printed.
fn prepare_with_agent(tether: &Tether, agent: &str) -> String {
    let params = format!(
        r#"{{"target":"deployment/payments","namespace":"shop","config":{{"agent":{agent}}},"launch":{{"program":"x"}}}}"#
    );
    prepare_error(tether, &params)
}

#[test]
fn an_agent_image_the_node_cannot_pull_is_an_image_error() {
    let (tether, _) = cluster_tether();
    let err = prepare_with_agent(&tether, r#"{"image":"localhost:1/tether/no-such-agent:1"}"#);
    assert!(err.contains("(code -32010)"), "{err}");
    assert!(
        err.contains("cannot pull the agent image localhost:1/tether/no-such-agent:1") && err.contains("agent.image"),
        "{err}"
    );
}

#[test]
fn agent_resources_larger_than_the_node_are_refused_by_the_node() {
    let (tether, _) = cluster_tether();
    let err = prepare_with_agent(&tether, r#"{"resources":{"requests":{"cpu":"500","memory":"16Mi"}}}"#);
    assert!(err.contains("(code -32011)"), "{err}");
    assert!(err.contains("the node refused agent pod") && err.contains("OutOfcpu"), "{err}");
}

#[test]
fn a_namespace_whose_pod_security_forbids_the_agent_says_which_policy_and_what_to_do() {
    let (tether, kubeconfig) = cluster_tether();
    let namespace = format!("psa-baseline-{}", std::process::id());
    kubectl(&kubeconfig, &["create", "namespace", &namespace]);
    kubectl(&kubeconfig, &["label", "namespace", &namespace, "pod-security.kubernetes.io/enforce=baseline"]);
    let err = prepare_with_agent(&tether, &format!(r#"{{"namespace":"{namespace}"}}"#));
    let _ = crate::support::kubectl_output(&kubeconfig, &["delete", "namespace", &namespace, "--wait=false"]);
    assert!(err.contains("(code -32009)"), "{err}");
    assert!(err.contains("baseline") && err.contains("hostPID") && err.contains("agent.namespace"), "{err}");
}

/// A kubeconfig for ServiceAccount `name` of `shop`, bound to the rules of `agent-image/rbac.yaml`
/// minus those `without` names (a resource as the Role writes it), authenticating with the
/// `user:` section `user` makes of the account's token.
fn service_account_kubeconfig(
    tether: &Tether,
    admin: &Path,
    name: &str,
    without: &str,
    user: impl Fn(&str) -> String,
) -> PathBuf {
    let manifest = std::fs::read_to_string(crate::support::repo().join("agent-image/rbac.yaml")).unwrap();
    let role = manifest
        .split("\n---\n")
        .next()
        .unwrap()
        .replace("kind: ClusterRole", "kind: Role")
        .replace("name: tether-user", &format!("name: {name}\n  namespace: shop"));
    let kept: Vec<&str> =
        role.split("\n- ").filter(|rule| !rule.contains(&format!("resources: [{without}]"))).collect();
    let path = tether.config(&format!("{name}.yaml"), &kept.join("\n- "));
    kubectl(admin, &["apply", "-f", &path.display().to_string()]);
    let _ = crate::support::kubectl_output(admin, &["-n", "shop", "create", "serviceaccount", name]);
    let _ = crate::support::kubectl_output(
        admin,
        &["-n", "shop", "create", "rolebinding", name, "--role", name, "--serviceaccount", &format!("shop:{name}")],
    );
    let token = kubectl(admin, &["-n", "shop", "create", "token", name]);
    let server = kubectl(admin, &["config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.server}"]);
    let ca = kubectl(
        admin,
        &["config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}"],
    );
    let ca = if ca.is_empty() {
        let file =
            kubectl(admin, &["config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}"]);
        format!("certificate-authority: {file}")
    } else {
        format!("certificate-authority-data: {ca}")
    };
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    {ca}\n\
         users:\n- name: {name}\n  user:\n{}\ncontexts:\n- name: restricted\n  context:\n    \
         cluster: c\n    user: {name}\n    namespace: shop\ncurrent-context: restricted\n",
        user(&token)
    );
    tether.config(&format!("{name}.kubeconfig"), &kubeconfig)
}

fn delete_service_account(admin: &Path, name: &str) {
    for object in [format!("role/{name}"), format!("rolebinding/{name}"), format!("serviceaccount/{name}")] {
        let _ = crate::support::kubectl_output(admin, &["-n", "shop", "delete", &object]);
    }
}

fn use_kubeconfig(tether: &mut Tether, kubeconfig: &Path) {
    tether.env.retain(|(key, _)| key != "KUBECONFIG");
    tether.env.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
}

#[test]
fn a_user_who_may_not_port_forward_is_told_which_permission_is_missing() {
    let (mut tether, admin) = cluster_tether();
    let name = format!("no-portforward-{}", std::process::id());
    let kubeconfig =
        service_account_kubeconfig(&tether, &admin, &name, "pods/portforward", |token| format!("    token: {token}"));
    use_kubeconfig(&mut tether, &kubeconfig);
    let err = prepare_error(&tether, r#"{"target":"deployment/payments","launch":{"program":"x"}}"#);
    delete_service_account(&admin, &name);
    assert!(err.contains("(code -32005)"), "{err}");
    assert!(err.contains("cannot reach agent pod") && err.contains("pods/portforward"), "{err}");
    assert!(err.contains(&format!("system:serviceaccount:shop:{name}")) && err.contains("rbac.yaml"), "{err}");
}

/// Kills (`ss -K`) every TCP connection of process `pid` to the cluster's API server: the
/// daemon's port-forwards with them.
fn cut_api_connections(pid: i32) -> usize {
    let listed = std::process::Command::new("ss")
        .args(["-tnpH", "state", "established", "dst", "10.243.0.1", "dport", "=", ":6443"])
        .output()
        .expect("running ss");
    let mine = format!("pid={pid},");
    let ports: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|line| line.contains(&mine))
        .filter_map(|line| line.split_whitespace().nth(2)?.rsplit_once(':').map(|(_, port)| port.to_string()))
        .collect();
    for port in &ports {
        let killed = std::process::Command::new("ss")
            .args(["-K", "dst", "10.243.0.1", "dport", "=", ":6443", "sport", "=", &format!(":{port}")])
            .output()
            .expect("running ss -K");
        assert!(killed.status.success(), "ss -K failed: {}", String::from_utf8_lossy(&killed.stderr));
    }
    ports.len()
}

#[test]
fn a_cut_port_forward_resets_open_connections_and_new_ones_work_again() {
    use std::io::{BufRead, Write};
    let (tether, _) = cluster_tether();
    let faults = crate::support::repo().join("fixtures/programs/python/faults.py");
    let mut command = tether.command();
    command.args(["exec", "--target", "deployment/payments", "-n", "shop", "--", "/usr/bin/python3"]);
    command.arg(&faults).args(["http-again", "payments.shop.svc.cluster.local", "80"]);
    let mut user =
        command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("tether exec");
    let mut lines = std::io::BufReader::new(user.stdout.take().unwrap()).lines();
    let mut next = || -> Value {
        let line = lines.next().expect("the program ended early").expect("reading its output");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a report: {line}"))
    };
    assert_eq!(next()["started"], true);
    let pod_before = agents(&tether)[0]["pod"]["uid"].clone();

    assert!(cut_api_connections(daemon_pid(&tether)) > 0, "the daemon has no connection to the API server");
    writeln!(user.stdin.as_mut().unwrap()).unwrap();
    let old = next();
    assert_eq!(old["end"], "ECONNRESET", "an open connection through the cut port-forward: {old}");
    let again = next();
    assert_eq!(again["again"], true, "no new connection worked within 10 s of the cut: {again}");
    eprintln!("new connections work {} ms after the cut", again["after_ms"]);
    assert!(user.wait().unwrap().success());
    let after = agents(&tether);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["pod"]["uid"], pod_before, "the same agent pod, reached through a new port-forward");
}

#[test]
fn tether_ls_shows_every_workload_with_its_ready_count() {
    let (tether, _) = cluster_tether();
    let output = tether.command().args(["ls", "-n", "shop"]).output().expect("tether ls");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{table}{}", String::from_utf8_lossy(&output.stderr));
    let row = |kind: &str, name: &str| {
        table.lines().find(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            cells.first() == Some(&kind) && cells.get(1) == Some(&name)
        })
    };
    assert!(table.starts_with("KIND"), "{table}");
    assert!(
        row("deployment", "orders")
            .is_some_and(|line| line.contains("shop") && line.contains("2/2") && line.contains("orders")),
        "{table}"
    );
    assert!(row("statefulset", "inventory").is_some_and(|line| line.contains("1/1")), "{table}");
    assert!(row("service", "payments").is_some_and(|line| line.contains("1/1")), "{table}");
    assert!(row("job", "migrate").is_some_and(|line| line.contains("0/1")), "{table}");
    assert!(row("cronjob", "report").is_some_and(|line| line.contains("0/0")), "{table}");

    let json = tether.command().args(["ls", "-n", "shop", "--kind", "pod", "--json"]).output().expect("tether ls");
    let pods: Vec<Value> = serde_json::from_slice(&json.stdout).expect("tether ls --json prints JSON");
    assert!(pods.iter().all(|pod| pod["kind"] == "pod" && pod["namespace"] == "shop"), "{pods:?}");
    assert!(
        pods.iter().any(|pod| pod["target"].as_str().is_some_and(|t| t.starts_with("pod/orders-"))
            && pod["node"] == "tether-node"
            && pod["containers"] == serde_json::json!(["orders"])),
        "{pods:?}"
    );
}

#[test]
fn targets_watch_tells_when_a_deployment_scales() {
    use jsonrpsee::core::client::SubscriptionClientT;
    let (tether, kubeconfig) = cluster_tether();
    let name = format!("scaled-{}", std::process::id());
    kubectl(
        &kubeconfig,
        &[
            "-n",
            "shop",
            "create",
            "deployment",
            &name,
            "--image",
            "localhost/tether-cluster/shop-app:dev",
            "--replicas",
            "1",
            "--",
            "/shop-app",
            "serve",
        ],
    );
    let counts = |changed: &Value| {
        changed["targets"].as_array().and_then(|targets| {
            let target = targets.iter().find(|target| target["target"] == format!("deployment/{name}").as_str())?;
            Some((target["ready_count"].as_u64()?, target["total_count"].as_u64()?))
        })
    };
    let outcome = crate::api::runtime().block_on(async {
        let client = crate::api::client(&tether).await;
        let params = crate::api::params(serde_json::json!({"namespace": "shop", "kind": "deployment"}));
        let mut watch = client.subscribe::<Value, _>("targets.watch", params, "targets.unwatch").await.unwrap();
        let mut seen = Vec::new();
        let mut wait_for = async |wanted: (u64, u64)| {
            tokio::time::timeout(Duration::from_secs(60), async {
                while let Some(Ok(changed)) = watch.next().await {
                    let now = counts(&changed);
                    seen.push(now);
                    if now == Some(wanted) {
                        return;
                    }
                }
            })
            .await
            .is_ok()
        };
        let one = wait_for((1, 1)).await;
        kubectl(&kubeconfig, &["-n", "shop", "scale", "deployment", &name, "--replicas", "3"]);
        let three = wait_for((3, 3)).await;
        kubectl(&kubeconfig, &["-n", "shop", "scale", "deployment", &name, "--replicas", "1"]);
        let back = wait_for((1, 1)).await;
        (one, three, back, seen)
    });
    let _ = crate::support::kubectl_output(&kubeconfig, &["-n", "shop", "delete", "deployment", &name, "--wait=false"]);
    assert!(outcome.0 && outcome.1 && outcome.2, "ready/total as notified: {:?}", outcome.3);
}

#[test]
fn an_idle_agent_pod_goes_after_agent_idle_ttl_secs() {
    let (tether, kubeconfig) = cluster_tether();
    let config = tether.config("idle.json", r#"{"namespace": "shop", "agent": {"idle_ttl_secs": 3}}"#);
    let env = tether.exec("service/payments", Some(&config), &["/bin/sh", "-c", "echo $SERVICE_NAME"]);
    assert_eq!(
        String::from_utf8_lossy(&env.stdout).trim(),
        "payments-service",
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
    let pods = agent_pod_names(&tether);
    assert_eq!(pods.len(), 1, "the agent is warm right after its session");
    let gone = eventually(Duration::from_secs(20), || {
        agents(&tether).is_empty() && agent_objects(&kubeconfig, &pods).is_empty()
    });
    assert!(gone, "an idle agent is still there: {:?} {:?}", agents(&tether), agent_objects(&kubeconfig, &pods));
}

/// A credential plugin named `command` in its own directory, put first on the daemon's `PATH`:
/// it prints `script`'s credential, after checking that its stdin is closed.
fn credential_plugin(tether: &mut Tether, command: &str, script: &str) {
    let dir = tether.state_dir.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(command);
    let body = format!("#!/bin/sh\nif read -r line; then echo \"stdin is not closed\" >&2; exit 3; fi\n{script}\n");
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path_var = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    tether.env.push(("PATH".into(), path_var));
}

fn exec_user(command: &str) -> String {
    format!("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {command}\n      interactiveMode: IfAvailable")
}

#[test]
fn a_credential_plugin_on_the_users_path_authenticates_with_its_stdin_closed() {
    let (mut tether, admin) = cluster_tether();
    let name = format!("plugin-user-{}", std::process::id());
    let kubeconfig = service_account_kubeconfig(&tether, &admin, &name, "none", |_| exec_user("tether-test-login"));
    let token = kubectl(&admin, &["-n", "shop", "create", "token", &name]);
    let credential = format!(
        r#"printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s"}}}}' '{token}'"#
    );
    credential_plugin(&mut tether, "tether-test-login", &credential);
    use_kubeconfig(&mut tether, &kubeconfig);
    let env = probe(&tether, "deployment/payments", &["env", "SERVICE_NAME"]);
    delete_service_account(&admin, &name);
    assert_eq!(env["value"], "payments-service", "{env}");
}

#[test]
fn a_failing_credential_plugin_is_shown_with_what_it_printed() {
    let (mut tether, admin) = cluster_tether();
    let kubeconfig =
        service_account_kubeconfig(&tether, &admin, &format!("plugin-fails-{}", std::process::id()), "none", |_| {
            exec_user("tether-test-expired")
        });
    delete_service_account(&admin, &format!("plugin-fails-{}", std::process::id()));
    credential_plugin(&mut tether, "tether-test-expired", "echo 'your session expired; run corp-login' >&2; exit 1");
    use_kubeconfig(&mut tether, &kubeconfig);
    let err = prepare_error(&tether, r#"{"target":"deployment/payments","launch":{"program":"x"}}"#);
    assert!(err.contains("(code -32004)") && err.contains("restricted"), "the context is named: {err}");
    assert!(err.contains("credential plugin") && err.contains("your session expired; run corp-login"), "{err}");
    let ls = tether.command().args(["ls"]).output().expect("tether ls");
    assert!(String::from_utf8_lossy(&ls.stderr).contains("run corp-login"), "{}", String::from_utf8_lossy(&ls.stderr));
}

#[test]
fn a_target_pod_deleted_during_a_session_is_reported_and_its_agent_goes() {
    use std::io::Read;
    let (tether, kubeconfig) = cluster_tether();
    let name = format!("victim-{}", std::process::id());
    run_shop_pod(&kubeconfig, &name, &[]);
    let mut command = tether.command();
    command.args(["exec", "--target", &format!("pod/{name}"), "-n", "shop", "--", "sleep", "30"]);
    let mut exec = command.stderr(std::process::Stdio::piped()).spawn().expect("tether exec");
    assert!(eventually(Duration::from_secs(30), || sessions(&tether).len() == 1), "the session never started");
    let pods = agent_pod_names(&tether);

    kubectl(&kubeconfig, &["-n", "shop", "delete", "pod", &name, "--grace-period=1", "--wait=false"]);
    let told = eventually(Duration::from_secs(30), || agents(&tether).is_empty());
    let agent_gone = eventually(Duration::from_secs(20), || agent_objects(&kubeconfig, &pods).is_empty());
    kill(Pid::from_raw(exec.id() as i32), Signal::SIGTERM).unwrap();
    let _ = exec.wait();
    let mut stderr = String::new();
    exec.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(told && agent_gone, "the agent of a deleted pod stays: {:?}", agent_objects(&kubeconfig, &pods));
    assert!(stderr.contains("tether: error:") && stderr.contains(&format!("pod/{name}")), "tether exec said: {stderr}");
    let again =
        prepare_error(&tether, &format!(r#"{{"target":"pod/{name}","namespace":"shop","launch":{{"program":"x"}}}}"#));
    assert!(again.contains("(code -32001)") || again.contains("(code -32008)"), "{again}");
}

#[test]
fn an_agent_pod_that_does_not_start_in_time_says_what_was_last_seen() {
    let (tether, _) = cluster_tether();
    let err = prepare_with_agent(&tether, r#"{"startup_timeout_secs": 0}"#);
    assert!(
        err.contains("(code -32012)") && err.contains("agent.startup_timeout_secs") && err.contains("last seen"),
        "{err}"
    );
}

#[test]
fn an_ephemeral_agent_container_serves_the_pod_without_a_pod_of_its_own() {
    let (tether, kubeconfig) = cluster_tether();
    let name = format!("ephemeral-{}", std::process::id());
    run_shop_pod(&kubeconfig, &name, &["SERVICE_NAME=ephemeral-service"]);
    let config = tether.config("ephemeral.json", r#"{"namespace": "shop", "agent": {"ephemeral": true}}"#);
    let output = tether.exec(
        &format!("pod/{name}"),
        Some(&config),
        &["/bin/sh", "-c", "echo $SERVICE_NAME; cat /etc/hostname; curl -sS http://payments/"],
    );
    let listed = agents(&tether);
    let ephemeral = kubectl(
        &kubeconfig,
        &["-n", "shop", "get", "pod", &name, "-o", "jsonpath={.status.ephemeralContainerStatuses[*].name}"],
    );
    let _ = crate::support::kubectl_output(&kubeconfig, &["-n", "shop", "delete", "pod", &name, "--wait=false"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"ephemeral-service"), "{stdout}");
    assert_eq!(lines.get(1), Some(&name.as_str()), "the pod's own files: {stdout}");
    assert!(stdout.contains("hello from the cluster"), "{stdout}");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["pod"]["name"], name.as_str(), "the agent runs in the target pod: {listed:?}");
    assert!(ephemeral.starts_with("tether-agent-"), "no ephemeral agent container: {ephemeral:?}");
}

#[test]
fn a_daemon_in_a_pod_without_a_kubeconfig_uses_its_service_account() {
    let (mut tether, admin) = cluster_tether();
    let name = format!("in-cluster-{}", std::process::id());
    service_account_kubeconfig(&tether, &admin, &name, "none", |token| format!("    token: {token}"));
    let account = tether.state_dir.join("serviceaccount");
    std::fs::create_dir_all(&account).unwrap();
    std::fs::write(account.join("token"), kubectl(&admin, &["-n", "shop", "create", "token", &name])).unwrap();
    std::fs::write(account.join("namespace"), "shop").unwrap();
    let ca = kubectl(
        &admin,
        &["config", "view", "--raw", "--flatten", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}"],
    );
    let decoded = std::process::Command::new("sh").arg("-c").arg(format!("echo {ca} | base64 -d")).output().unwrap();
    std::fs::write(account.join("ca.crt"), decoded.stdout).unwrap();
    let home = tether.state_dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    tether.env.retain(|(key, _)| key != "KUBECONFIG");
    // As in a pod: the service account's files at their fixed path (a tmpfs over /run in a mount
    // namespace of the daemon's own), the API server's address in the environment, no kubeconfig.
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs tether-test /run && \
         mkdir -p /run/secrets/kubernetes.io && cp -r {} /run/secrets/kubernetes.io/serviceaccount && \
         exec {} ls",
        account.display(),
        env!("CARGO_BIN_EXE_tether")
    );
    let command = tether.command();
    let output = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .envs(command.get_envs().filter_map(|(key, value)| Some((key, value?))))
        .env_remove("KUBECONFIG")
        .env("HOME", &home)
        .env("KUBERNETES_SERVICE_HOST", "10.243.0.1")
        .env("KUBERNETES_SERVICE_PORT", "6443")
        .current_dir(crate::support::repo())
        .output()
        .expect("running tether ls in a mount namespace");
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    // The daemon started in that namespace serves later commands from outside it too.
    let env = probe(&tether, "deployment/payments", &["env", "SERVICE_NAME"]);
    let contexts = tether.command().args(["rpc", "contexts.list"]).output().unwrap();
    delete_service_account(&admin, &name);
    assert!(output.status.success(), "{table}{}", String::from_utf8_lossy(&output.stderr));
    assert!(table.lines().any(|line| line.starts_with("deployment") && line.contains("payments")), "{table}");
    assert_eq!(env["value"], "payments-service", "{env}");
    assert!(
        String::from_utf8_lossy(&contexts.stdout).contains("\"in-cluster\""),
        "{}",
        String::from_utf8_lossy(&contexts.stdout)
    );
}

#[test]
fn tether_exec_on_a_terminal_shows_the_agent_pods_start_on_one_line() {
    let (tether, _) = cluster_tether();
    let tether_exe = env!("CARGO_BIN_EXE_tether");
    // `script` gives tether exec a terminal, as a developer's shell does.
    let output = tether
        .command()
        .get_envs()
        .fold(std::process::Command::new("script"), |mut command, (key, value)| {
            if let Some(value) = value {
                command.env(key, value);
            }
            command
        })
        .args(["-qec", &format!("{tether_exe} exec --target deployment/payments -n shop -- true"), "/dev/null"])
        .current_dir(crate::support::repo())
        .output()
        .expect("running script");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("\r\x1b[2Ktether: creating agent pod tether-agent-"), "{shown:?}");
    assert!(shown.contains("is ready; connecting through the API server"), "{shown:?}");
    assert!(
        shown.ends_with("\r\x1b[2K") || shown.trim_end_matches(['\r', '\n']).ends_with("\r\x1b[2K"),
        "the line is cleared: {shown:?}"
    );
}

#[test]
fn a_context_named_local_is_a_cluster_and_local_targets_have_their_own_marker() {
    let (mut tether, admin) = cluster_tether();
    let renamed = tether.config("local.kubeconfig", &std::fs::read_to_string(&admin).unwrap());
    let current = kubectl(&renamed, &["config", "current-context"]);
    kubectl(&renamed, &["config", "rename-context", &current, "local"]);
    use_kubeconfig(&mut tether, &renamed);
    let list = |params: &str| {
        let output = tether.command().args(["rpc", "targets.list", params]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap()
    };
    let cluster = list(r#"{"context": "local", "namespace": "shop", "kind": "deployment"}"#);
    assert!(
        cluster.iter().any(|target| target["target"] == "deployment/orders" && target["context"] == "local"),
        "{cluster:?}"
    );
    let machine = list(r#"{"local": true}"#);
    assert!(machine.iter().all(|target| target["kind"] == "pid"), "{machine:?}");
}
