//! Hostile or broken input gets nowhere: a target's start-up variables run none of its code on
//! the host, a config path naming a FIFO or a device never stalls the daemon, and malformed
//! requests get answers that say what is wrong.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonrpsee::client_transport::ws::{Url, WsTransportClientBuilder};
use jsonrpsee::core::client::{ReceivedMessage, TransportReceiverT, TransportSenderT};
use serde_json::{json, Value};

use crate::api::{call, client};
use crate::support::{require_tier, Fixture, Tether};

/// A process in `pod`'s network and mount namespaces with exactly the environment `env`, for
/// targets whose variables a test chooses; killed on drop.
struct PodProcess(Child);

impl PodProcess {
    fn start(pod: &Fixture, env: &[(&str, &str)]) -> PodProcess {
        let child = Command::new("nsenter")
            .args(["-t", &pod.get("/pid"), "-n", "-m", "--", "env", "-i"])
            .args(env.iter().map(|(name, value)| format!("{name}={value}")))
            .args(["/bin/sleep", "infinity"])
            .spawn()
            .expect("nsenter");
        // nsenter and env exec in place: the pid becomes `sleep`, with the environment above.
        let comm = format!("/proc/{}/comm", child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&comm).is_ok_and(|name| name.trim() == "sleep") {
            assert!(Instant::now() < deadline, "the pod process did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        PodProcess(child)
    }

    fn target(&self) -> String {
        format!("pid/{}", self.0.id())
    }
}

impl Drop for PodProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A target whose `BASH_ENV` names a script of its own, and which exports a bash function
/// `true`: `bash -c true` on the host runs neither, unless the config lets `BASH_ENV` in.
#[test]
fn exec_target_start_up_variables_run_no_target_code_unless_allowed() {
    require_tier();
    let pod = Fixture::pod("hostile-env");
    let tether = Tether::new();
    let marker = tether.state_dir.join("target-code-ran");
    let script = format!("echo bash-env >> {}\n", marker.display());
    std::fs::write(format!("/proc/{}/root/etc/tether-hostile.sh", pod.get("/pid")), script).unwrap();
    let function = format!("() {{ echo function >> {}; }}", marker.display());
    let target = PodProcess::start(&pod, &[("BASH_ENV", "/etc/tether-hostile.sh"), ("BASH_FUNC_true%%", &function)]);

    let output = tether.exec(&target.target(), None, &["bash", "-c", "true"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!marker.exists(), "the target's code ran on the host: {:?}", std::fs::read_to_string(&marker));
    assert!(
        stderr.contains("BASH_ENV, BASH_FUNC_true%%") && stderr.contains("env.allow_code_loading"),
        "the withheld variables and the opt-in are named: {stderr}"
    );

    let config = tether.config("allow.json", r#"{"env": {"allow_code_loading": ["BASH_ENV"]}}"#);
    let output = tether.exec(&target.target(), Some(&config), &["bash", "-c", "true"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap_or_default(), "bash-env\n", "only the opted-in one: {stderr}");
    assert!(stderr.contains("BASH_FUNC_true%%") && !stderr.contains("BASH_ENV"), "{stderr}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The diagnostics' messages of a `config.validate` result.
fn messages(result: &Value) -> String {
    let diagnostics = result["diagnostics"].as_array().cloned().unwrap_or_default();
    diagnostics.iter().map(|diagnostic| diagnostic["message"].as_str().unwrap_or_default()).collect()
}

/// More FIFO validations in flight than the daemon has threads, and `daemon.status` still
/// answers at once; each FIFO, `/dev/zero` and an oversized file get an error that says why.
#[test]
fn config_validate_of_a_fifo_or_a_device_fails_fast_and_blocks_nothing() {
    require_tier();
    let tether = Tether::new();
    let fifo = tether.state_dir.join("config.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let huge = tether.config("huge.json", &format!("{{\"skip_processes\": [\"{}\"]}}", "x".repeat(2 << 20)));
    runtime().block_on(async {
        let client = client(&tether).await;
        let threads = std::thread::available_parallelism().map_or(4, usize::from) + 1;
        let fifo_calls = (0..threads).map(|_| call(&client, "config.validate", json!({"path": fifo})));
        let started = Instant::now();
        let both =
            async { tokio::join!(futures::future::join_all(fifo_calls), call(&client, "daemon.status", json!({}))) };
        let (fifo_results, status) =
            tokio::time::timeout(Duration::from_secs(10), both).await.expect("the daemon answers within 10 s");
        assert!(status.is_ok(), "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        for result in fifo_results {
            let result = result.unwrap();
            assert!(messages(&result).contains("names a FIFO, not a regular file"), "{result}");
        }

        let zero = call(&client, "config.validate", json!({"path": "/dev/zero"})).await.unwrap();
        assert!(messages(&zero).contains("names a device, not a regular file"), "{zero}");
        let oversized = call(&client, "config.validate", json!({"path": huge})).await.unwrap();
        assert!(messages(&oversized).contains("larger than the limit of 1 MiB"), "{oversized}");
        let resolved = call(&client, "config.resolve", json!({"path": fifo})).await.unwrap_err();
        assert!(resolved.1.contains("names a FIFO"), "{resolved:?}");
    });

    let output = tether.exec("pid/1", Some(&fifo), &["true"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:1:1: the path names a FIFO", fifo.display())), "{stderr}");
}

/// `tether rpc` shows what jsonrpsee's "Invalid params" leaves out.
#[test]
fn rpc_invalid_params_show_the_servers_detail() {
    require_tier();
    let tether = Tether::new();
    let output = tether.command().args(["rpc", "session.prepare", r#"{"target": "pid/1"}"#]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Invalid params: missing field `launch`") && stderr.contains("(code -32602)"), "{stderr}");
}

/// `tether rpc … | head`: the reader goes away; tether ends as a command killed by SIGPIPE
/// would, without a panic.
#[test]
fn rpc_into_a_closed_pipe_exits_quietly() {
    require_tier();
    let tether = Tether::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = tether.command().args(["rpc", "daemon.status"]).stdout(writer).stderr(Stdio::piped()).output();
    let output = output.unwrap();
    assert_eq!(output.status.code(), Some(141), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Requests whose `id` is an object get Invalid Request with id null, alone and in a batch;
/// the connection keeps working.
#[test]
fn api_request_with_an_object_id_gets_invalid_request_with_id_null() {
    require_tier();
    let tether = Tether::new();
    runtime().block_on(async {
        drop(client(&tether).await);
        let stream = tokio::net::UnixStream::connect(tether.runtime_dir.join("tether/api.sock")).await.unwrap();
        let url = Url::parse("ws://localhost/").unwrap();
        let (mut sender, mut receiver) =
            WsTransportClientBuilder::default().build_with_stream(url, stream).await.unwrap();
        let mut exchange = async |message: Value| {
            sender.send(message.to_string()).await.unwrap();
            let answer = tokio::time::timeout(Duration::from_secs(5), receiver.receive()).await;
            match answer.expect("an answer within 5 s").unwrap() {
                ReceivedMessage::Text(text) => serde_json::from_str::<Value>(&text).unwrap(),
                other => panic!("not a text answer: {other:?}"),
            }
        };
        let single = exchange(json!({"jsonrpc": "2.0", "id": {}, "method": "daemon.status"})).await;
        assert_eq!((&single["id"], &single["error"]["code"]), (&Value::Null, &json!(-32600)), "{single}");
        assert!(single["error"]["message"].as_str().unwrap().contains("a number or a string"), "{single}");

        let batch = exchange(json!([
            {"jsonrpc": "2.0", "id": [1], "method": "daemon.status"},
            {"jsonrpc": "2.0", "id": 7, "method": "daemon.status"},
        ]))
        .await;
        let answers = batch.as_array().unwrap_or_else(|| panic!("a batch answer: {batch}"));
        assert_eq!(answers.len(), 2, "{batch}");
        assert!(answers.iter().any(|a| a["id"].is_null() && a["error"]["code"] == -32600), "{batch}");
        assert!(answers.iter().any(|a| a["id"] == 7 && a["result"].is_object()), "{batch}");
    });
}
