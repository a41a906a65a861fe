//! Faults, end to end: agents and daemons killed or stopped in the middle of transfers,
//! targets that exit. The user process and the target's servers are real programs
//! (`fixtures/programs/python/faults.py`); what they report is how their connections ended.
//! Each test also prints one `fault-report:` JSON line on stderr (time until the user process
//! saw the error, bytes lost, what was left behind), which `fixtures/faults` collects.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{eventually, repo, require_tier, Fixture, Tether};

fn faults_py() -> String {
    repo().join("fixtures/programs/python/faults.py").display().to_string()
}

/// A process whose stdout is read line by line, killed on drop.
struct Program {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Program {
    fn start(mut command: Command) -> Program {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting a program");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Program { child, lines }
    }

    /// The next JSON line the program prints.
    fn next_report(&mut self) -> Value {
        let line = self.lines.next().and_then(Result::ok).unwrap_or_default();
        serde_json::from_str(&line).unwrap_or_else(|_| {
            let _ = self.child.kill();
            let output = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
            let stderr = output.wait_with_output().map(|out| String::from_utf8_lossy(&out.stderr).into_owned());
            panic!("expected a JSON line, got {line:?}; stderr: {}", stderr.unwrap_or_default())
        })
    }

    /// Waits for the program to exit and returns its stderr.
    fn finish(mut self) -> String {
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        let _ = self.child.wait();
        stderr
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `faults.py ARGS` in the pod's cluster namespace: a server the user process reaches at the
/// pod's `cluster_ip`.
fn cluster_server(pod: &Fixture, args: &[&str]) -> Program {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", &pod.get("/cluster_netns"), "python3", &faults_py()]).args(args);
    let mut server = Program::start(command);
    assert!(server.next_report()["listening"].is_number(), "the server did not start");
    server
}

/// `faults.py ARGS` under `tether exec` against the pod.
fn user_program(tether: &Tether, pod: &Fixture, args: &[&str]) -> Program {
    let mut command = tether.command();
    command.args(["exec", "--target", &pod.pid_target(), "--", "python3", &faults_py()]).args(args);
    Program::start(command)
}

/// The pid of the agent serving `pod`, once there is one.
fn agent_pid(pod: &Fixture) -> Option<i32> {
    let pattern = format!("tether-agent --pid {} ", pod.get("/pid"));
    let output = Command::new("pgrep").args(["-f", &pattern]).output().expect("pgrep");
    String::from_utf8_lossy(&output.stdout).lines().next().and_then(|line| line.trim().parse().ok())
}

fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process exists");
    let after_name = stat.rsplit_once(')').expect("stat has a command name").1;
    after_name.split_whitespace().nth(1).and_then(|ppid| ppid.parse().ok()).expect("a parent pid")
}

/// Starts a download from and an upload to servers in the pod's cluster, both under tether,
/// and returns them once both move bytes, with the sink's report file.
fn transfers(
    tether: &Tether,
    pod: &Fixture,
    ports: (&str, &str),
) -> (Program, Program, Program, Program, std::path::PathBuf) {
    let sink_report = tether.state_dir.join("sink.json");
    let stream_report = tether.state_dir.join("stream.json");
    let stream_server = cluster_server(pod, &["serve-stream", ports.0, &stream_report.display().to_string()]);
    let sink_server = cluster_server(pod, &["serve-sink", ports.1, &sink_report.display().to_string()]);
    let cluster_ip = pod.get("/cluster_ip");
    let mut download = user_program(tether, pod, &["download", &cluster_ip, ports.0]);
    let mut upload = user_program(tether, pod, &["upload", &cluster_ip, ports.1]);
    assert_eq!(download.next_report()["started"], true);
    assert_eq!(upload.next_report()["started"], true);
    (download, upload, stream_server, sink_server, sink_report)
}

/// The download's bytes that the stream server sent but the user process never received.
fn bytes_lost(tether: &Tether, received: &Value) -> u64 {
    let sent = sink_end(&tether.state_dir.join("stream.json"))["sent"].as_u64().unwrap_or(0);
    sent.saturating_sub(received.as_u64().unwrap_or(0))
}

/// What a fault left behind for `pod`, waiting at most 15 s for it to go: agents whose daemon
/// is gone, nftables tables in the pod's network namespace.
fn left_behind(pod: &Fixture) -> Vec<String> {
    let mut left = Vec::new();
    eventually(Duration::from_secs(15), || {
        left.clear();
        let orphan = agent_pid(pod).is_some_and(|agent| {
            let daemon = std::fs::read_to_string(format!("/proc/{}/comm", parent_of(agent))).unwrap_or_default();
            daemon.trim() != "tether"
        });
        if orphan {
            left.push("agent without a daemon".to_string());
        }
        let tables =
            Command::new("ip").args(["netns", "exec", &pod.get("/pod_netns"), "nft", "list", "tables"]).output();
        if tables.is_ok_and(|tables| String::from_utf8_lossy(&tables.stdout).contains("tether")) {
            left.push("nft table".to_string());
        }
        left.is_empty()
    });
    left
}

/// Prints the `fault-report:` line of a test.
fn report(fault: &str, notice: Option<Duration>, bytes_lost: u64, left: &[String]) {
    let report = serde_json::json!({
        "fault": fault,
        "notice_ms": notice.map(|notice| notice.as_millis() as u64),
        "bytes_lost": bytes_lost,
        "left_behind": left,
    });
    eprintln!("fault-report: {report}");
}

fn sink_end(report: &std::path::Path) -> Value {
    let mut end = Value::Null;
    eventually(Duration::from_secs(10), || {
        end =
            std::fs::read_to_string(report).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
        !end.is_null()
    });
    end
}

/// Starts a download and an upload through `pod`, SIGKILLs the process `victim` names (given
/// the agent's pid), and checks that both ends saw a reset; returns the download's report and
/// how long it took to see it.
fn cut_transfers(
    tether: &Tether,
    pod: &Fixture,
    ports: (&str, &str),
    victim: impl FnOnce(i32) -> i32,
) -> (Value, Duration) {
    let (mut download, _upload, _stream, _sink, sink_report) = transfers(tether, pod, ports);
    let agent = agent_pid(pod).expect("an agent serves the pod");
    std::thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(victim(agent)), Signal::SIGKILL).unwrap();
    let killed = Instant::now();

    let end = download.next_report();
    let notice = killed.elapsed();
    assert_eq!(end["end"], "ECONNRESET", "a cut download must not look complete: {end}");
    let sink = sink_end(&sink_report);
    assert_eq!(sink["end"], "ECONNRESET", "the server of a cut upload must see a reset: {sink}");
    (end, notice)
}

#[test]
fn transfers_cut_by_a_killed_agent_end_with_a_reset_on_both_sides() {
    require_tier();
    let pod = Fixture::pod("fault-agent-kill");
    let tether = Tether::new();
    let (end, notice) = cut_transfers(&tether, &pod, ("9710", "9711"), |agent| agent);
    report("agent SIGKILL", Some(notice), bytes_lost(&tether, &end["bytes"]), &left_behind(&pod));
}

#[test]
fn transfers_cut_by_a_killed_daemon_end_with_a_reset_on_both_sides() {
    require_tier();
    let pod = Fixture::pod("fault-daemon-kill");
    let tether = Tether::new();
    let (end, notice) = cut_transfers(&tether, &pod, ("9720", "9721"), parent_of);
    let agent_gone = eventually(Duration::from_secs(15), || agent_pid(&pod).is_none());
    assert!(agent_gone, "the agent of a killed daemon is still running");
    report("daemon SIGKILL", Some(notice), bytes_lost(&tether, &end["bytes"]), &left_behind(&pod));
}

/// What a read loop went through: its report, `tether exec`'s stderr, and what was left.
struct ReadLoop {
    outcome: Value,
    stderr: String,
    left: Vec<String>,
}

impl ReadLoop {
    /// Prints the `fault-report:` line; the longest stalled read is the time to notice.
    fn report(&self, fault: &str) {
        report(fault, self.outcome["max_ms"].as_u64().map(Duration::from_millis), 0, &self.left);
    }
}

/// Runs a loop reading a target file under tether while `fault` is done to the agent.
fn read_loop_through(pod_name: &str, fault: impl FnOnce(&Fixture, &Tether, i32)) -> ReadLoop {
    let pod = Fixture::pod(pod_name);
    let tether = Tether::new();
    let mut reader = user_program(&tether, &pod, &["read-loop", "/etc/demo/secret.txt", "12"]);
    assert!(eventually(Duration::from_secs(10), || agent_pid(&pod).is_some()), "no agent started");
    std::thread::sleep(Duration::from_secs(1));
    fault(&pod, &tether, agent_pid(&pod).unwrap());
    let outcome = reader.next_report();
    let stderr = reader.finish();
    ReadLoop { outcome, stderr, left: left_behind(&pod) }
}

#[test]
fn session_moves_to_a_new_agent_when_its_agent_is_killed() {
    require_tier();
    let run = read_loop_through("fault-agent-gone", |_, _, agent| kill(Pid::from_raw(agent), Signal::SIGKILL).unwrap());
    let (outcome, stderr) = (&run.outcome, &run.stderr);
    assert_eq!(outcome["last"], "ok", "reads must work again on the new agent: {outcome}\n{stderr}");
    assert!(outcome["failed"].as_u64().unwrap() < 20, "too many failed reads: {outcome}");
    assert!(stderr.contains("a new agent serves the session"), "tether exec must say so: {stderr}");
    run.report("agent SIGKILL (session)");
}

#[test]
fn session_moves_to_a_new_agent_when_its_agent_hangs() {
    require_tier();
    let mut stopped = 0;
    let mut launched = None;
    let run = read_loop_through("fault-agent-hung", |pod, tether, agent| {
        stopped = agent;
        kill(Pid::from_raw(agent), Signal::SIGSTOP).unwrap();
        // A new launch meanwhile gets a working agent too.
        launched = Some(tether.exec(&pod.pid_target(), None, &["cat", "/etc/demo/secret.txt"]));
    });
    let launched = launched.expect("launched during the hang");
    assert!(launched.status.success(), "a launch during the hang failed: {launched:?}");
    assert_eq!(String::from_utf8_lossy(&launched.stdout), "s3cr3t-from-pod");
    let (outcome, stderr) = (&run.outcome, &run.stderr);
    assert_eq!(outcome["last"], "ok", "reads must work again on the new agent: {outcome}\n{stderr}");
    assert!(stderr.contains("did not answer"), "tether exec must say why: {stderr}");
    assert!(!std::path::Path::new(&format!("/proc/{stopped}/stat")).exists(), "the hung agent was not killed");
    run.report("agent SIGSTOP");
}

#[test]
fn session_is_lost_when_its_target_exits_and_its_agent_goes() {
    require_tier();
    let run = read_loop_through("fault-target-exit", |pod, _, _| {
        let target: i32 = pod.get("/pid").parse().unwrap();
        kill(Pid::from_raw(target), Signal::SIGKILL).unwrap();
    });
    let (outcome, stderr) = (&run.outcome, &run.stderr);
    assert_eq!(outcome["last"], "EIO", "reads of a gone target must fail: {outcome}");
    assert!(stderr.contains("exited; start a new session"), "tether exec must say why: {stderr}");
    assert!(!stderr.contains("Failure {"), "no debug dumps: {stderr}");
    assert!(run.left.is_empty(), "left behind: {:?}", run.left);
    run.report("target exit");
}

#[test]
fn container_recreated_under_its_name_is_served_by_a_fresh_agent() {
    require_tier();
    let tether = Tether::new();
    let read_secret = |target: &str| tether.exec(target, None, &["cat", "/etc/demo/secret.txt"]);
    let agent_target_pids = || {
        let output = tether.command().args(["rpc", "agents.list"]).output().expect("tether rpc");
        let agents: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        agents.as_array().map(|agents| agents.iter().map(|agent| agent["target_pid"].clone()).collect::<Vec<_>>())
    };

    let first = Fixture::container("fault-recreate");
    let target = format!("container/{}", first.get("/id"));
    let before = read_secret(&target);
    assert_eq!(String::from_utf8_lossy(&before.stdout), "s3cr3t-from-container", "{before:?}");
    let first_pids = agent_target_pids();
    drop(first);

    let _second = Fixture::container("fault-recreate");
    let after = read_secret(&target);
    let stderr = String::from_utf8_lossy(&after.stderr);
    assert!(after.status.success(), "the re-created container is not served: {stderr}");
    assert_eq!(String::from_utf8_lossy(&after.stdout), "s3cr3t-from-container");
    assert!(!stderr.contains("Failure {"), "no debug dumps: {stderr}");
    assert_ne!(agent_target_pids(), first_pids, "the agent of the old container still serves");
}

#[test]
fn session_never_moves_to_another_process_answering_for_its_target() {
    require_tier();
    let tether = Tether::new();
    let first = Fixture::container("fault-other-process");
    let target = format!("container/{}", first.get("/id"));
    let mut command = tether.command();
    command.args([
        "exec",
        "--target",
        &target,
        "--",
        "python3",
        &faults_py(),
        "read-loop",
        "/etc/demo/secret.txt",
        "15",
    ]);
    let mut reader = Program::start(command);
    let agent = || {
        let output =
            Command::new("pgrep").args(["-f", &format!("tether-agent --container-id {} ", first.get("/id"))]).output();
        output
            .ok()
            .and_then(|output| String::from_utf8_lossy(&output.stdout).lines().next()?.trim().parse::<i32>().ok())
    };
    assert!(eventually(Duration::from_secs(10), || agent().is_some()), "no agent started");
    std::thread::sleep(Duration::from_secs(1));
    // A stopped agent cannot see its container go; by the time it is replaced, another
    // container (another process) answers for the same name. The daemon is stopped meanwhile
    // so that it cannot give the agent up before the other container exists, however long
    // creating that takes: when it goes on, the agent's keepalive has long run out.
    let status = tether.command().args(["rpc", "daemon.status"]).output().unwrap();
    let daemon: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let daemon = Pid::from_raw(daemon["pid"].as_i64().unwrap() as i32);
    kill(Pid::from_raw(agent().unwrap()), Signal::SIGSTOP).unwrap();
    kill(daemon, Signal::SIGSTOP).unwrap();
    let name = first.name.clone();
    drop(first);
    let _second = Fixture::container(name.rsplit_once('-').map_or(name.as_str(), |(base, _)| base));
    kill(daemon, Signal::SIGCONT).unwrap();

    let outcome = reader.next_report();
    let stderr = reader.finish();
    assert_eq!(outcome["last"], "EIO", "reads must not reach the other process's files: {outcome}\n{stderr}");
    assert!(stderr.contains("is now another process"), "tether exec must say why: {stderr}");
}

#[test]
fn user_process_is_told_once_on_stderr_when_its_daemon_is_gone() {
    require_tier();
    let run = read_loop_through("fault-told-once", |_, _, agent| {
        kill(Pid::from_raw(parent_of(agent)), Signal::SIGKILL).unwrap();
    });
    let (outcome, stderr) = (&run.outcome, &run.stderr);
    assert_eq!(outcome["last"], "EIO", "reads without a daemon must fail: {outcome}");
    let told = stderr.matches("tether: requests to the target fail").count();
    assert_eq!(told, 1, "the user process must be told once why: {stderr}");
}
