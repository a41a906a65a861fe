//! Kubernetes targets against the real cluster of `fixtures/cluster` (tier 3): workloads by
//! name, the agent pod it starts, warm reuse, and the errors a user gets.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{kubectl, parse_report, require_cluster, Lang, Tether};

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
    for (target, service) in [
        ("statefulset/inventory".to_string(), "inventory-service"),
        ("service/orders".to_string(), "orders-service"),
        ("pod/inventory-0".to_string(), "inventory-service"),
        (format!("replicaset/{replicaset}"), "orders-service"),
        (format!("pod/{orders_pod}/container/orders"), "orders-service"),
    ] {
        let env = probe(&tether, &target, &["env", "SERVICE_NAME"]);
        assert_eq!(env["value"], service, "{target}: {env}");
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
