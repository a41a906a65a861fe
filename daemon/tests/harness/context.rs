//! Every probe program, run under `tether exec` against a stand-in pod and a containerd
//! container, sees the target's env, files, DNS and network — asserted by value. The Go probes
//! (with and without cgo) and the static C probe are served by the supervisor, the others by
//! the layer: the checks are the same.

use serde_json::Value;

use crate::support::{require_tier, Fixture, Lang, Tether};

fn pod_context(lang: Lang) {
    require_tier();
    let pod = Fixture::pod(&format!("ctx-{}", format!("{lang:?}").to_lowercase()));
    let tether = Tether::new();
    let target = pod.pid_target();
    let probe = |check: &[&str]| tether.probe(&target, None, lang, check);

    assert_env(&pod, &probe);
    assert_dns(&pod, &probe, lang);
    assert_files(&pod, &probe, "s3cr3t-from-pod");
    assert_outgoing(&pod, &probe);
    assert_children(&probe, lang, "s3cr3t-from-pod");
}

fn container_context(lang: Lang) {
    require_tier();
    let container = Fixture::container(&format!("ctr-{}", format!("{lang:?}").to_lowercase()));
    let tether = Tether::new();
    let target = format!("container/{}", container.get("/id"));
    let probe = |check: &[&str]| tether.probe(&target, None, lang, check);

    assert_eq!(probe(&["env", "DEMO_GREETING"])["value"], "hello-from-container");
    assert_dns(&container, &probe, lang);
    assert_files(&container, &probe, "s3cr3t-from-container");
    assert_outgoing(&container, &probe);
}

/// A config's `container` section chooses the runtime's socket and namespace; a namespace
/// without the container makes it unknown.
#[test]
fn container_is_found_through_the_configured_runtime() {
    require_tier();
    let container = Fixture::container("ctr-runtime");
    let tether = Tether::new();
    let target = format!("container/{}", container.get("/id"));
    let runtime = |namespace: &str| {
        let json = format!(
            r#"{{"container": {{"runtime": "containerd", "socket": "{}", "namespace": "{namespace}"}}}}"#,
            container.get("/runtime_socket")
        );
        tether.config(&format!("{namespace}.json"), &json)
    };
    let found = runtime(&container.get("/namespace"));
    let env = tether.probe(&target, Some(&found), Lang::C, &["env", "DEMO_GREETING"]);
    assert_eq!(env["value"], "hello-from-container");

    let elsewhere = tether.exec(&target, Some(&runtime("tether-elsewhere")), &["true"]);
    let message = String::from_utf8_lossy(&elsewhere.stderr);
    assert_eq!(elsewhere.status.code(), Some(2), "{message}");
    assert!(message.contains("no container named or with id"), "{message}");
}

fn assert_env(pod: &Fixture, probe: &dyn Fn(&[&str]) -> Value) {
    assert_eq!(probe(&["env", "DEMO_GREETING"])["value"], pod.get("/env/DEMO_GREETING"));
    assert_eq!(probe(&["env", "DATABASE_URL"])["value"], pod.get("/env/DATABASE_URL"));
    assert_eq!(probe(&["env", "PATH"])["value"], std::env::var("PATH").unwrap(), "PATH stays the host's");
    assert_eq!(probe(&["env", "HOME"])["value"], std::env::var("HOME").unwrap(), "HOME stays the host's");
}

fn assert_files(target: &Fixture, probe: &dyn Fn(&[&str]) -> Value, secret: &str) {
    let read = probe(&["read", "/etc/demo/secret.txt"]);
    assert_eq!(read["content"], secret, "{read}");
    let stat = probe(&["stat", "/etc/demo/secret.txt"]);
    assert_eq!((stat["size"].as_u64(), stat["is_file"].as_bool()), (Some(secret.len() as u64), Some(true)), "{stat}");
    let stat_dir = probe(&["stat", "/etc/demo/conf.d"]);
    assert_eq!(stat_dir["is_dir"], true, "{stat_dir}");
    let listing = probe(&["listdir", "/etc/demo/conf.d"]);
    let expected: Vec<String> = {
        let root = format!("/proc/{}/root/etc/demo/conf.d", target.get("/pid"));
        let mut names: Vec<String> =
            std::fs::read_dir(root).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    assert_eq!(listing["entries"], serde_json::json!(expected), "{listing}");
    if target.info.pointer("/symlinks/~1etc~1demo~1current").is_some() {
        assert_eq!(probe(&["readlink", "/etc/demo/current"])["target"], "conf.d/a.conf");
        assert_eq!(probe(&["lstat", "/etc/demo/current"])["is_symlink"], true);
    }
    let access = probe(&["access", "/etc/demo/secret.txt"]);
    assert_eq!(access["readable"], true, "{access}");
    let missing = probe(&["read", "/etc/demo/no-such-file"]);
    assert_eq!(missing["code"], "ENOENT", "{missing}");
    let hostname = probe(&["read", "/etc/hostname"]);
    let expected_hostname = std::fs::read_to_string(format!("/proc/{}/root/etc/hostname", target.get("/pid"))).unwrap();
    assert_eq!(hostname["content"], expected_hostname.as_str(), "{hostname}");
    // /var/run is an absolute symlink to /run inside the target: resolved in the target's root.
    if let Some(token) = target.info.pointer("/files/~1var~1run~1secrets~1kubernetes.io~1serviceaccount~1token") {
        let read = probe(&["read", "/var/run/secrets/kubernetes.io/serviceaccount/token"]);
        assert_eq!(&read["content"], token, "{read}");
    }
}

fn assert_dns(target: &Fixture, probe: &dyn Fn(&[&str]) -> Value, lang: Lang) {
    let orders_ip = target.get("/orders_ip");
    let short = probe(&["resolve", "orders"]);
    assert!(contains(&short["addresses"], &orders_ip), "search domains: {short}");
    let full = probe(&["resolve", "orders.shop.svc.cluster.local"]);
    assert!(contains(&full["addresses"], &orders_ip), "{full}");
    let hosts = probe(&["resolve", "legacy-billing.internal"]);
    assert!(contains(&hosts["addresses"], &target.get("/legacy_billing_ip")), "target's /etc/hosts: {hosts}");
    let unknown = probe(&["resolve", "no-such-service.shop.svc.cluster.local"]);
    assert_eq!(unknown["ok"], false, "{unknown}");
    let localhost = probe(&["resolve", "localhost"]);
    assert!(contains(&localhost["addresses"], "127.0.0.1"), "localhost stays local: {localhost}");
    if matches!(lang, Lang::C | Lang::CStatic) {
        let by_name = probe(&["resolve", "payments.shop.svc.cluster.local"]);
        assert_eq!(by_name["gethostbyname"], serde_json::json!([target.get("/payments_ip")]), "{by_name}");
    }
}

fn assert_outgoing(target: &Fixture, probe: &dyn Fn(&[&str]) -> Value) {
    let http = probe(&["http", "http://orders.shop.svc.cluster.local:8080/"]);
    assert_eq!(http["status"], 200, "{http}");
    assert!(http["body"].as_str().unwrap_or_default().contains("orders-service"), "{http}");
    // Over IPv6 as in the pod, which prefers orders' AAAA record; from the pod's address either way.
    let echo = probe(&["http", "http://orders:8080/echo"]);
    let client = echo["body"].as_str().unwrap_or_default();
    assert!(
        client.contains(&format!("[{}]", target.get("/pod_ip6"))) || client.contains(&target.get("/pod_ip")),
        "the connection must leave from the target's address: {echo}"
    );
    let refused = probe(&["tcp", &format!("{}:5432", target.get("/orders_db_ip")), "hi"]);
    assert_eq!(refused["code"], "ECONNREFUSED", "{refused}");
    let peer_addr = format!("{}:8080", target.get("/orders_ip"));
    let peer = probe(&["peer", &peer_addr]);
    assert_eq!(peer["peer"], peer_addr.as_str(), "getpeername shows the real destination: {peer}");
    let udp_addr = format!("{}:9053", target.get("/orders_ip"));
    let udp = probe(&["udp", &udp_addr, "ping"]);
    assert_eq!((udp["reply"].as_str(), udp["from"].as_str()), (Some("echo:ping"), Some(udp_addr.as_str())), "{udp}");
    let connected = probe(&["udpconnected", &udp_addr, "pong"]);
    assert_eq!((connected["reply"].as_str(), connected["peer"].as_str()), (Some("echo:pong"), Some(udp_addr.as_str())));
    let loopback = probe(&["tcp", "127.0.0.1:7070", "hi"]);
    assert_ne!(loopback["reply"], "pod-loopback", "loopback stays on the host: {loopback}");
}

fn assert_children(probe: &dyn Fn(&[&str]) -> Value, lang: Lang, secret: &str) {
    let spawned = probe(&["spawn", "read", "/etc/demo/secret.txt"]);
    assert_eq!(spawned["child"]["content"], secret, "{spawned}");
    let shell = probe(&["shell", "cat /etc/demo/secret.txt"]);
    assert_eq!(shell["stdout"], secret, "{shell}");
    if matches!(lang, Lang::C | Lang::CStatic | Lang::Python) {
        let posix = probe(&["spawn-posix", "read", "/etc/demo/secret.txt"]);
        assert_eq!(posix["child"]["content"], secret, "{posix}");
    }
}

fn contains(list: &Value, item: &str) -> bool {
    list.as_array().is_some_and(|items| items.iter().any(|value| value == item))
}

#[test]
fn c_program_sees_pod_context() {
    pod_context(Lang::C);
}

#[test]
fn python_program_sees_pod_context() {
    pod_context(Lang::Python);
}

#[test]
fn node_program_sees_pod_context() {
    pod_context(Lang::Node);
}

#[test]
fn go_program_sees_pod_context() {
    pod_context(Lang::Go);
}

#[test]
fn static_go_program_sees_pod_context() {
    pod_context(Lang::GoStatic);
}

#[test]
fn static_c_program_sees_pod_context() {
    pod_context(Lang::CStatic);
}

#[test]
fn c_program_sees_container_context() {
    container_context(Lang::C);
}

#[test]
fn python_program_sees_container_context() {
    container_context(Lang::Python);
}

#[test]
fn node_program_sees_container_context() {
    container_context(Lang::Node);
}

#[test]
fn go_program_sees_container_context() {
    container_context(Lang::Go);
}

#[test]
fn static_go_program_sees_container_context() {
    container_context(Lang::GoStatic);
}

#[test]
fn static_c_program_sees_container_context() {
    container_context(Lang::CStatic);
}

#[test]
fn everyday_tools_see_the_pod_and_the_hosts_own_name_stays_local() {
    require_tier();
    let pod = Fixture::pod("ctx-tools");
    let tether = Tether::new();
    let target = pod.pid_target();
    let run = |args: &[&str]| {
        let output = tether.exec(&target, None, args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let getent = run(&["getent", "ahosts", "orders.shop.svc.cluster.local"]);
    assert!(getent.contains(&pod.get("/orders_ip")), "{getent}");
    let curl = run(&["curl", "-sS", "--max-time", "5", "http://payments.shop.svc.cluster.local:8080/"]);
    assert!(curl.contains("payments"), "{curl}");
    assert_eq!(run(&["printenv", "DEMO_GREETING"]).trim(), pod.get("/env/DEMO_GREETING"));
    assert_eq!(run(&["cat", "/etc/demo/secret.txt"]), "s3cr3t-from-pod");

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let on_host = std::process::Command::new("getent").args(["ahosts", &hostname]).output().unwrap();
    assert_eq!(
        run(&["getent", "ahosts", &hostname]),
        String::from_utf8_lossy(&on_host.stdout),
        "the host's own name resolves on the host"
    );
}

/// A host variable that is not UTF-8 (tcmalloc's heap profiler rewrites `HEAPPROFILE` so) cannot
/// be sent to the daemon as JSON; `tether exec` leaves it out of the request and the program
/// still gets it, byte for byte.
#[test]
fn a_host_variable_that_is_not_utf8_reaches_the_program_unchanged() {
    use std::os::unix::ffi::OsStrExt;
    require_tier();
    let pod = Fixture::pod("ctx-raw-env");
    let tether = Tether::new();
    let mut command = tether.command();
    command.env("TETHER_TEST_RAW", std::ffi::OsStr::from_bytes(b"\xaf\x01raw"));
    let print = "import os, sys; sys.stdout.buffer.write(os.environb[b'TETHER_TEST_RAW'])";
    let output = command.args(["exec", "--target", &pod.pid_target(), "--", "python3", "-c", print]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, b"\xaf\x01raw");
}

#[test]
fn a_names_addresses_come_in_the_order_the_target_itself_gives_them() {
    require_tier();
    let pod = Fixture::pod("dns-order");
    let tether = Tether::new();
    let script = "import socket\nprint(' '.join(i[4][0] for i in socket.getaddrinfo('orders.shop.svc.cluster.local', 80, 0, socket.SOCK_STREAM)))";
    let in_pod = std::process::Command::new("nsenter")
        .args(["-t", &pod.get("/pid"), "-n", "-m", "/usr/bin/python3", "-c", script])
        .output()
        .unwrap();
    let in_pod = String::from_utf8_lossy(&in_pod.stdout).trim().to_string();
    let under_tether = tether.exec(&pod.pid_target(), None, &["/usr/bin/python3", "-c", script]);
    let under_tether = String::from_utf8_lossy(&under_tether.stdout).trim().to_string();
    let orders_ip6 = pod.get("/orders_ip6");
    assert!(in_pod.starts_with(&orders_ip6), "the pod itself prefers IPv6 here: {in_pod:?}");
    assert_eq!(under_tether, in_pod);
}
