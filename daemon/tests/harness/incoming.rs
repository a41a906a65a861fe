//! Incoming traffic, end to end: the target's own server runs in the pod's network namespace,
//! clients run in the pod's "cluster" namespace (a third namespace, joined by veth), and the
//! user process is a server under `tether exec` on the host. Real nftables rules, real HTTP.
//! Programs: `fixtures/programs/node/incoming.js`. The user processes of all tests share the
//! host's network, so each test uses its own ports.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{eventually, repo, require_tier, Fixture, Tether};

pub fn node() -> String {
    let output = Command::new("sh").args(["-c", "command -v node"]).output().expect("sh");
    String::from_utf8(output.stdout).expect("utf-8 path").trim().to_string()
}

pub fn program() -> String {
    repo().join("fixtures/programs/node/incoming.js").display().to_string()
}

/// A server process, stopped (SIGTERM, then reaped) on drop.
pub struct Server(Child);

impl Server {
    /// Starts `command` and waits for its `{"listening":PORT}` line.
    pub fn start(command: Command) -> Server {
        Server::start_with_stderr(command, Stdio::inherit())
    }

    fn start_with_stderr(mut command: Command, stderr: Stdio) -> Server {
        let mut child = command.stdout(Stdio::piped()).stderr(stderr).spawn().expect("starting a server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = line_tx.send(line);
        });
        let line = line_rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let server = Server(child);
        assert!(line.contains("\"listening\""), "the server did not start: {line:?}");
        server
    }

    /// Stops the server the way a terminal would (SIGTERM); `tether exec` passes it on and
    /// ends its session.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// The target's own server: `incoming.js ARGS` inside the pod's network namespace.
pub fn target_server(pod: &Fixture, args: &[&str]) -> Server {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", &pod.get("/pod_netns"), &node(), &program()]).args(args);
    Server::start(command)
}

/// The user process: `incoming.js ARGS` under `tether exec` with `config`.
pub fn user_server(tether: &Tether, pod: &Fixture, config: &std::path::Path, args: &[&str]) -> Server {
    Server::start(user_command(tether, pod, config, args))
}

/// [`user_server`] with the stderr of `tether exec` (the session's warnings) in `stderr`.
pub fn user_server_telling(
    tether: &Tether,
    pod: &Fixture,
    config: &std::path::Path,
    args: &[&str],
    stderr: &std::path::Path,
) -> Server {
    Server::start_with_stderr(user_command(tether, pod, config, args), std::fs::File::create(stderr).unwrap().into())
}

fn user_command(tether: &Tether, pod: &Fixture, config: &std::path::Path, args: &[&str]) -> Command {
    let mut command = tether.command();
    command
        .args(["exec", "--target", &pod.pid_target(), "--config"])
        .arg(config)
        .args(["--", &node(), &program()])
        .args(args);
    command
}

/// Runs `incoming.js ARGS` in the cluster namespace (a client host) and returns its JSON.
pub fn client(pod: &Fixture, args: &[&str]) -> Value {
    let output = Command::new("ip")
        .args(["netns", "exec", &pod.get("/cluster_netns"), &node(), &program()])
        .args(args)
        .output()
        .expect("running a client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    match serde_json::from_str(stdout.trim()) {
        Ok(report) if output.status.success() => report,
        _ => {
            panic!("client {args:?} failed ({}): {stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr))
        }
    }
}

/// `(server, user header)` of each response of an `http-requests` report, and the client's
/// own address.
pub fn answered_by(report: &Value) -> (Vec<(String, String)>, String) {
    let responses = report["responses"].as_array().expect("responses");
    let servers = responses
        .iter()
        .map(|response| {
            assert_eq!(response["status"], 200, "{report}");
            let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
            (body["server"].as_str().unwrap().to_string(), body["user"].as_str().unwrap_or("-").to_string())
        })
        .collect();
    (servers, report["local"].as_str().unwrap_or_default().to_string())
}

pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(server, user)| (server.to_string(), user.to_string())).collect()
}

/// `nft list tables` in the pod's network namespace.
pub fn nft_tables(pod: &Fixture) -> String {
    let output =
        Command::new("ip").args(["netns", "exec", &pod.get("/pod_netns"), "nft", "list", "tables"]).output().unwrap();
    assert!(output.status.success(), "nft list tables: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn incoming_mirror_copies_200_connections_of_1_mib_byte_for_byte() {
    require_tier();
    let pod = Fixture::pod("inc-mirror");
    let tether = Tether::new();
    let record = tether.state_dir.join("mirrored.txt");
    let _target = target_server(&pod, &["tcp-hash-server", "9100", "target"]);
    let config = tether.config("mirror.json", r#"{"incoming": {"mode": "mirror"}}"#);
    let user = user_server(&tether, &pod, &config, &["tcp-hash-server", "9100", "user", &record.display().to_string()]);

    let report = client(&pod, &["tcp-hash-clients", &pod.get("/pod_ip"), "9100", "200", "1048576"]);
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 200);
    let mut sent: Vec<String> = Vec::new();
    for result in results {
        let hash = result["sent"].as_str().unwrap().to_string();
        assert_eq!(result["reply"], format!("target:{hash}"), "the target's server must receive every byte and answer");
        sent.push(hash);
    }
    sent.sort();
    let mut mirrored = Vec::new();
    let complete = eventually(Duration::from_secs(20), || {
        mirrored = std::fs::read_to_string(&record).unwrap_or_default().lines().map(str::to_string).collect();
        mirrored.len() >= sent.len()
    });
    user.stop();
    mirrored.sort();
    assert!(complete, "the user process got {} of {} copies", mirrored.len(), sent.len());
    assert_eq!(mirrored, sent, "the user process must receive byte-identical copies");
}

#[test]
fn incoming_mirror_to_a_user_process_that_never_reads_leaves_the_target_untouched() {
    require_tier();
    let pod = Fixture::pod("inc-mirror-stall");
    let tether = Tether::new();
    let _target = target_server(&pod, &["tcp-hash-server", "9200", "target"]);
    let config = tether.config("mirror.json", r#"{"incoming": {"mode": "mirror"}}"#);
    let user = user_server(&tether, &pod, &config, &["tcp-stall-server", "9200"]);

    // 32 MiB per connection: far more than the copy's bounded buffers can hold.
    let report = client(&pod, &["tcp-hash-clients", &pod.get("/pod_ip"), "9200", "4", "33554432"]);
    for result in report["results"].as_array().expect("results") {
        assert_eq!(result["reply"], format!("target:{}", result["sent"].as_str().unwrap()), "{report}");
    }
    user.stop();
}

#[test]
fn incoming_mirror_keeps_the_target_serving_after_the_user_process_crashed() {
    require_tier();
    let pod = Fixture::pod("inc-mirror-crash");
    let tether = Tether::new();
    let _target = target_server(&pod, &["tcp-hash-server", "9300", "target"]);
    let config = tether.config("mirror.json", r#"{"incoming": {"mode": "mirror"}}"#);
    // The session outlives its listening process: sh stays, the server dies by SIGKILL.
    let script = format!("{} {} tcp-hash-server 9300 user & sleep 1; kill -9 $!; exec sleep 120", node(), program());
    let mut command = tether.command();
    command.args(["exec", "--target", &pod.pid_target(), "--config"]).arg(&config).args(["--", "sh", "-c", &script]);
    let session = Server::start(command);
    let crashed = eventually(Duration::from_secs(10), || {
        let listeners = Command::new("ss").args(["-Hltn", "sport = :9300"]).output().unwrap();
        listeners.stdout.is_empty()
    });
    assert!(crashed, "the user process still listens");

    let report = client(&pod, &["tcp-hash-clients", &pod.get("/pod_ip"), "9300", "20", "1048576"]);
    for result in report["results"].as_array().expect("results") {
        assert_eq!(result["reply"], format!("target:{}", result["sent"].as_str().unwrap()), "{report}");
    }
    session.stop();
}

#[test]
fn incoming_never_subscribes_the_debuggers_port() {
    require_tier();
    let pod = Fixture::pod("inc-debugger");
    let tether = Tether::new();
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    // Node's inspector listens on 9229, named by --inspect on the command line; the program on
    // 9500, which the target serves too.
    let _target = target_server(&pod, &["tcp-hash-server", "9500", "target"]);
    let mut command = tether.command();
    command.args(["exec", "--target", &pod.pid_target(), "--config"]).arg(&config).args([
        "--",
        &node(),
        "--inspect=0.0.0.0:9229",
        &program(),
        "tcp-hash-server",
        "9500",
        "user",
    ]);
    let user = Server::start(command);
    let pod_ip = pod.get("/pod_ip");
    let stolen = client(&pod, &["tcp-hash-clients", &pod_ip, "9500", "1", "1024"]);
    assert!(stolen["results"][0]["reply"].as_str().unwrap_or_default().starts_with("user:"), "{stolen}");
    let debugger = client(&pod, &["tcp-hash-clients", &pod_ip, "9229", "1", "16"]);
    assert_eq!(
        debugger["results"][0]["reply"], "error: ECONNREFUSED",
        "the inspector must not be reachable through the target: {debugger}"
    );
    user.stop();
}

#[test]
fn incoming_leaves_a_port_the_target_does_not_serve_alone_unless_the_config_names_it() {
    require_tier();
    let pod = Fixture::pod("inc-unserved");
    let tether = Tether::new();
    let pod_ip = pod.get("/pod_ip");
    let reply = |port: &str| {
        let report = client(&pod, &["tcp-hash-clients", &pod_ip, port, "1", "16"]);
        report["results"][0]["reply"].as_str().unwrap_or_default().to_string()
    };
    // A server the pod does not have, as a debugger's or a tool's port of the user process is:
    // stealing it would open the developer's machine to the cluster.
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    let stderr = tether.state_dir.join("unserved.stderr");
    let mut command = tether.command();
    command.args(["exec", "--target", &pod.pid_target(), "--config"]).arg(&config).args([
        "--",
        &node(),
        &program(),
        "tcp-hash-server",
        "9520",
        "user",
    ]);
    let user = Server::start_with_stderr(command, std::fs::File::create(&stderr).unwrap().into());
    assert_eq!(reply("9520"), "error: ECONNREFUSED", "a port the target does not serve is reachable through it");
    let why = "port 9520 is not intercepted: nothing in the target listens on it; name it in incoming.ports";
    let said = || std::fs::read_to_string(&stderr).unwrap();
    assert!(eventually(Duration::from_secs(5), || said().contains(why)), "tether exec does not say why: {}", said());
    user.stop();

    let named = tether.config("named.json", r#"{"incoming": {"mode": "steal", "ports": [9521]}}"#);
    let user = user_server(&tether, &pod, &named, &["tcp-hash-server", "9521", "user"]);
    assert!(reply("9521").starts_with("user:"), "a port named in incoming.ports is not stolen");
    user.stop();
}

#[test]
fn an_ipv6_client_is_refused_by_a_user_process_listening_on_ipv4_only_as_in_the_pod() {
    require_tier();
    let pod = Fixture::pod("inc-v4-only");
    let tether = Tether::new();
    let _target = target_server(&pod, &["tcp-hash-server", "9570", "target"]);
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    let user = user_server(&tether, &pod, &config, &["tcp-hash-server", "9570", "user"]);
    let reply = |ip: &str| {
        let report = client(&pod, &["tcp-hash-clients", ip, "9570", "1", "16"]);
        report["results"][0]["reply"].as_str().unwrap_or_default().to_string()
    };
    assert!(reply(&pod.get("/pod_ip")).starts_with("user:"), "IPv4 is stolen");
    let v6 = reply(&pod.get("/pod_ip6"));
    user.stop();
    assert!(v6.starts_with("error: ECONN"), "an IPv6 client reached an IPv4-only listener: {v6}");
}

#[test]
fn incoming_steal_answers_from_the_user_process_over_ipv4_and_ipv6_until_the_session_ends() {
    require_tier();
    let pod = Fixture::pod("inc-steal");
    let tether = Tether::new();
    let _target = target_server(&pod, &["http-server", "8080", "target"]);
    let url = format!("http://{}:8080/orders", pod.get("/pod_ip"));
    // The user process listens on another port than the target's server (port_mapping), on
    // both families.
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal", "port_mapping": {"8080": 18080}}}"#);
    let mut command = tether.command();
    command
        .args(["exec", "--target", &pod.pid_target(), "--config"])
        .arg(&config)
        .args(["--", &node(), &program(), "http-server", "18080", "user"])
        .env("LISTEN_HOST", "::");
    let user = Server::start(command);

    let report = client(&pod, &["http-requests", &url, "h1", "alice", "-"]);
    let (answers, client_addr) = answered_by(&report);
    assert_eq!(answers, pairs(&[("user", "alice"), ("user", "-")]), "{report}");
    let body: Value = serde_json::from_str(report["responses"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["peer"], client_addr.as_str(), "getpeername in the user process shows the real client");
    assert!(client_addr.starts_with(&pod.get("/cluster_ip")), "{client_addr}");
    // The same over IPv6: the pod's v6 address, redirected by the rule's ipv6 half.
    let url6 = format!("http://[{}]:8080/orders", pod.get("/pod_ip6"));
    let report6 = client(&pod, &["http-requests", &url6, "h1", "alice"]);
    let (answers6, client6) = answered_by(&report6);
    assert_eq!(answers6, pairs(&[("user", "alice")]), "{report6}");
    let body6: Value = serde_json::from_str(report6["responses"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body6["peer"], client6.as_str(), "getpeername shows the real IPv6 client");
    assert!(client6.starts_with(&pod.get("/cluster_ip6")), "{client6}");

    user.stop();
    let mut last = Value::Null;
    let served = eventually(Duration::from_secs(5), || {
        last = client(&pod, &["http-requests", &url, "h1", "alice"]);
        last["responses"][0]["status"] == 200 && answered_by(&last).0 == pairs(&[("target", "alice")])
    });
    assert!(served, "after the session the target serves again: {last}");
    assert!(!nft_tables(&pod).contains("tether_"), "no rule stays while nothing is subscribed: {}", nft_tables(&pod));
}

fn filter_routes_alice(protocol: &str, port: &str) {
    require_tier();
    let pod = Fixture::pod(&format!("inc-filter-{protocol}"));
    let tether = Tether::new();
    let mut server_args = vec!["http-server", port, "target"];
    if protocol == "h2c" {
        server_args.push("h2c");
    }
    let _target = target_server(&pod, &server_args);
    let config = tether
        .config("filter.json", r#"{"incoming": {"mode": "steal", "http_filter": {"header": "X-Tether-User: alice"}}}"#);
    server_args[2] = "user";
    let user = user_server(&tether, &pod, &config, &server_args);

    let url = format!("http://{}:{port}/api", pod.get("/pod_ip"));
    let report = client(&pod, &["http-requests", &url, protocol, "alice", "bob", "-", "alice", "alicex", "bob"]);
    let (answers, client_addr) = answered_by(&report);
    // `X-Tether-User: alicex` is someone else: a header filter matches the whole line.
    let expected = [
        ("user", "alice"),
        ("target", "bob"),
        ("target", "-"),
        ("user", "alice"),
        ("target", "alicex"),
        ("target", "bob"),
    ];
    assert_eq!(answers, pairs(&expected), "{report}");
    assert!(client_addr.starts_with(&pod.get("/cluster_ip")), "every request on one connection: {report}");
    user.stop();
}

#[test]
fn incoming_filter_routes_alice_per_request_on_http1_keep_alive() {
    filter_routes_alice("h1", "8280");
}

#[test]
fn incoming_filter_routes_alice_per_request_on_h2c() {
    filter_routes_alice("h2c", "8281");
}

#[test]
fn incoming_mirror_with_filter_copies_only_matching_requests() {
    require_tier();
    let pod = Fixture::pod("inc-mirror-filter");
    let tether = Tether::new();
    let record = tether.state_dir.join("copies.txt");
    let _target = target_server(&pod, &["http-server", "8380", "target"]);
    let config = tether.config("filter.json", r#"{"incoming": {"http_filter": {"header": "X-Tether-User: alice"}}}"#);
    let user = user_server(&tether, &pod, &config, &["http-server", "8380", "user", &record.display().to_string()]);

    let url = format!("http://{}:8380/api", pod.get("/pod_ip"));
    let report = client(&pod, &["http-requests", &url, "h1", "alice", "bob", "-", "alice"]);
    let expected = [("target", "alice"), ("target", "bob"), ("target", "-"), ("target", "alice")];
    assert_eq!(answered_by(&report).0, pairs(&expected), "mirror never changes the answers: {report}");
    let mut copies = String::new();
    let both = eventually(Duration::from_secs(5), || {
        copies = std::fs::read_to_string(&record).unwrap_or_default();
        copies.lines().count() >= 2
    });
    // Give a wrongly copied request the time to show up too.
    std::thread::sleep(Duration::from_millis(300));
    copies = std::fs::read_to_string(&record).unwrap_or_default();
    user.stop();
    assert!(both, "copies: {copies:?}");
    assert_eq!(copies, "alice\nalice\n", "only alice's requests are copied");
}

#[test]
fn incoming_agent_kill_9_leaves_no_rules_and_the_session_steals_again_on_a_new_agent() {
    require_tier();
    let pod = Fixture::pod("inc-kill");
    let tether = Tether::new();
    let _target = target_server(&pod, &["http-server", "8480", "target"]);
    let url = format!("http://{}:8480/", pod.get("/pod_ip"));
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    let user = user_server(&tether, &pod, &config, &["http-server", "8480", "user"]);
    assert_eq!(answered_by(&client(&pod, &["http-requests", &url, "h1", "-"])).0, pairs(&[("user", "-")]));

    let tables = nft_tables(&pod);
    let agent_pid: i32 = tables
        .lines()
        .find_map(|line| line.trim().strip_prefix("table inet tether_"))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no tether table while stealing: {tables}"));
    kill(Pid::from_raw(agent_pid), Signal::SIGKILL).unwrap();
    let old_table = format!("tether_{agent_pid} ");
    assert!(
        eventually(Duration::from_secs(5), || !nft_tables(&pod).contains(&old_table)),
        "rules left 5 s after kill -9 of the agent: {}",
        nft_tables(&pod)
    );
    // The session moved to a new agent, which steals the port again for the same listener.
    let stolen_again = eventually(Duration::from_secs(10), || nft_tables(&pod).contains("tether_"));
    assert!(stolen_again, "the new agent does not intercept the session's listener");
    assert_eq!(answered_by(&client(&pod, &["http-requests", &url, "h1", "-"])).0, pairs(&[("user", "-")]));
    user.stop();
    assert!(
        eventually(Duration::from_secs(5), || !nft_tables(&pod).contains("tether_")),
        "rules left after the session"
    );
    assert_eq!(answered_by(&client(&pod, &["http-requests", &url, "h1", "-"])).0, pairs(&[("target", "-")]));
}

#[test]
fn incoming_steal_ends_within_seconds_when_tether_exec_is_killed_with_its_process_group() {
    require_tier();
    let pod = Fixture::pod("inc-steal-killed");
    let tether = Tether::new();
    let _target = target_server(&pod, &["tcp-hash-server", "9650", "target"]);
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    let mut command = tether.command();
    command
        .args(["exec", "--target", &pod.pid_target(), "--config"])
        .arg(&config)
        .args(["--", &node(), &program(), "tcp-hash-server", "9650", "user"])
        .process_group(0);
    let user = Server::start(command);
    let reply = |report: &Value| report["results"][0]["reply"].as_str().unwrap_or_default().to_string();
    let stolen = client(&pod, &["tcp-hash-clients", &pod.get("/pod_ip"), "9650", "1", "1024"]);
    assert!(reply(&stolen).starts_with("user:"), "the port is not stolen: {stolen}");

    // As an IDE stops a run: SIGKILL to the whole group, tether exec included.
    kill(Pid::from_raw(-(user.0.id() as i32)), Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let released = eventually(Duration::from_secs(5), || {
        let output = Command::new("ip")
            .args(["netns", "exec", &pod.get("/cluster_netns"), &node(), &program()])
            .args(["tcp-hash-clients", &pod.get("/pod_ip"), "9650", "1", "1024"])
            .output()
            .expect("running a client");
        serde_json::from_slice::<Value>(&output.stdout).is_ok_and(|report| reply(&report).starts_with("target:"))
    });
    assert!(released, "the target's port stays stolen after its session's launcher died");
    let notice_ms = killed.elapsed().as_millis() as u64;
    let clean = eventually(Duration::from_secs(15), || !nft_tables(&pod).contains("tether"));
    let left: &[&str] = if clean { &[] } else { &["nft table"] };
    let report = serde_json::json!({"fault": "tether exec SIGKILL", "notice_ms": notice_ms, "bytes_lost": 0, "left_behind": left});
    eprintln!("fault-report: {report}");
    assert!(clean, "rules left behind");
}

#[test]
fn a_second_session_on_a_stolen_port_is_told_which_session_has_it() {
    require_tier();
    let pod = Fixture::pod("inc-second");
    let tether = Tether::new();
    let _target = target_server(&pod, &["tcp-hash-server", "9540", "target"]);
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    let first = user_server(&tether, &pod, &config, &["tcp-hash-server", "9540", "first"]);
    // Both processes run on this machine, so the second listens on another port of it, mapped
    // to the same target port.
    let mapped = tether.config("mapped.json", r#"{"incoming": {"mode": "steal", "port_mapping": {"9540": 9541}}}"#);
    let stderr = tether.state_dir.join("second.stderr");
    let second = user_server_telling(&tether, &pod, &mapped, &["tcp-hash-server", "9541", "second"], &stderr);
    let said = || std::fs::read_to_string(&stderr).unwrap();
    let told = eventually(Duration::from_secs(5), || {
        said().contains("port 9540 is not intercepted: session ") && said().contains("has it already")
    });
    assert!(told, "the second session is not told why its listener gets nothing: {}", said());
    let reply = client(&pod, &["tcp-hash-clients", &pod.get("/pod_ip"), "9540", "1", "16"]);
    assert!(reply["results"][0]["reply"].as_str().unwrap_or_default().starts_with("first:"), "{reply}");
    second.stop();
    first.stop();
}

#[test]
fn flask_sees_the_real_client_though_werkzeug_accepts_on_a_dup_of_its_listener() {
    require_tier();
    let pod = Fixture::pod("inc-flask");
    let tether = Tether::new();
    let _target = target_server(&pod, &["http-server", "9560", "target"]);
    let config = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    let mut command = tether.command();
    command
        .args(["exec", "--target", &pod.pid_target(), "--config"])
        .arg(&config)
        .args(["--", "/usr/bin/python3"])
        .arg(repo().join("fixtures/programs/python/flask_app.py"))
        .arg("9560");
    let user = Server::start(command);
    let url = format!("http://{}:9560/", pod.get("/pod_ip"));
    let report = client(&pod, &["http-requests", &url, "h1", "-"]);
    let body: Value = serde_json::from_str(report["responses"][0]["body"].as_str().unwrap_or("{}")).unwrap();
    user.stop();
    assert_eq!(body["server"], "flask", "{report}");
    let client_ip = report["local"].as_str().unwrap_or_default().rsplit_once(':').map(|(ip, _)| ip.to_string());
    assert_eq!(body["remote_addr"].as_str().map(str::to_string), client_ip, "{report}");
}

#[test]
fn a_listener_that_closes_at_once_is_not_worth_a_warning() {
    require_tier();
    let pod = Fixture::pod("inc-brief");
    let tether = Tether::new();
    // As js-debug probes for a free port: listen, close, carry on.
    let brief =
        "import socket, time\ns = socket.socket()\ns.bind(('0.0.0.0', 9526))\ns.listen()\ns.close()\ntime.sleep(2)\n";
    let output = tether.exec(&pod.pid_target(), None, &["/usr/bin/python3", "-c", brief]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(!said.contains("9526"), "a listener closed at once got a warning: {said}");
}

/// A Go HTTP server (`probe-go http-server`: Go's own `net.Listen` and `accept4`, which no
/// LD_PRELOAD layer sees) as the user process under `tether exec`, with `config`, listening on
/// both families.
fn go_server(tether: &Tether, pod: &Fixture, probe: &str, config: &std::path::Path, args: &[&str]) -> Server {
    let mut command = tether.command();
    command
        .args(["exec", "--target", &pod.pid_target(), "--config"])
        .arg(config)
        .arg("--")
        .arg(repo().join("fixtures/build").join(probe))
        .arg("http-server")
        .args(args)
        .env("LISTEN_HOST", "::");
    Server::start(command)
}

/// Steal and mirror for a Go server, served by the supervisor: stolen requests reach it with
/// their real client (as `accept` and `getpeername` report it), over IPv4 and IPv6; mirrored
/// ones are answered by the target and copied to it.
fn go_server_steals_and_mirrors(probe: &str, pod_name: &str, ports: [&str; 2]) {
    require_tier();
    let pod = Fixture::pod(pod_name);
    let tether = Tether::new();
    let [stolen, mirrored] = ports;
    let _target = target_server(&pod, &["http-server", stolen, "target"]);
    let steal = tether.config("steal.json", r#"{"incoming": {"mode": "steal"}}"#);
    let user = go_server(&tether, &pod, probe, &steal, &[stolen, "user"]);
    let url = format!("http://{}:{stolen}/orders", pod.get("/pod_ip"));
    let report = client(&pod, &["http-requests", &url, "h1", "alice", "-"]);
    let (answers, client_addr) = answered_by(&report);
    assert_eq!(answers, pairs(&[("user", "alice"), ("user", "-")]), "{report}");
    let body: Value = serde_json::from_str(report["responses"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["peer"], client_addr.as_str(), "the Go server sees the real client");
    assert!(client_addr.starts_with(&pod.get("/cluster_ip")), "{client_addr}");
    let url6 = format!("http://[{}]:{stolen}/orders", pod.get("/pod_ip6"));
    let report6 = client(&pod, &["http-requests", &url6, "h1", "bob"]);
    let (answers6, client6) = answered_by(&report6);
    assert_eq!(answers6, pairs(&[("user", "bob")]), "{report6}");
    let body6: Value = serde_json::from_str(report6["responses"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body6["peer"], client6.as_str(), "the Go server sees the real IPv6 client");
    user.stop();
    let mut last = Value::Null;
    let served = eventually(Duration::from_secs(5), || {
        last = client(&pod, &["http-requests", &url, "h1", "alice"]);
        last["responses"][0]["status"] == 200 && answered_by(&last).0 == pairs(&[("target", "alice")])
    });
    assert!(served, "after the session the target serves again: {last}");

    let record = tether.state_dir.join("copies.txt");
    let _mirror_target = target_server(&pod, &["http-server", mirrored, "target"]);
    let mirror = tether.config("mirror.json", r#"{"incoming": {"mode": "mirror"}}"#);
    let copier = go_server(&tether, &pod, probe, &mirror, &[mirrored, "user", &record.display().to_string()]);
    let url = format!("http://{}:{mirrored}/api", pod.get("/pod_ip"));
    let report = client(&pod, &["http-requests", &url, "h1", "alice", "bob", "-"]);
    assert_eq!(answered_by(&report).0, pairs(&[("target", "alice"), ("target", "bob"), ("target", "-")]), "{report}");
    let mut copies = String::new();
    let all = eventually(Duration::from_secs(5), || {
        copies = std::fs::read_to_string(&record).unwrap_or_default();
        copies.lines().count() >= 3
    });
    copier.stop();
    assert!(all, "the Go server got copies: {copies:?}");
    assert_eq!(copies, "alice\nbob\n-\n", "every mirrored request, in order");
}

#[test]
fn a_go_http_server_with_cgo_steals_and_mirrors_the_targets_requests() {
    go_server_steals_and_mirrors("probe-go", "inc-go", ["9610", "9611"]);
}

#[test]
fn a_static_go_http_server_steals_and_mirrors_the_targets_requests() {
    go_server_steals_and_mirrors("probe-go-static", "inc-go-static", ["9620", "9621"]);
}
