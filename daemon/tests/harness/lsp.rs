//! `tether lsp` driven the way an editor drives it: a child process spoken to in LSP frames over
//! its stdin and stdout, against a real daemon (started by the server itself) and stand-in pods.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tether_rpc_schema::api::codes;

use crate::support::{repo, require_tier, Fixture, Tether};

/// How long one expected message may take (starting the daemon or an agent included).
const WAIT: Duration = Duration::from_secs(60);

const CONFIG_URI: &str = "file:///w/.tether/config.json";

/// A running `tether lsp` and what it has sent that no test step has consumed yet.
struct Lsp {
    child: Child,
    stdin: ChildStdin,
    messages_rx: Receiver<Value>,
    unconsumed: Vec<Value>,
    stderr: Arc<Mutex<String>>,
    next_id: i64,
}

impl Lsp {
    /// Spawns `tether lsp` and completes the initialize handshake.
    fn start(tether: &Tether) -> Lsp {
        let mut child = tether
            .command()
            .arg("lsp")
            .env("TETHER_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning tether lsp");
        let (messages_tx, messages_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || read_frames(BufReader::new(stdout), messages_tx));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut child_stderr = BufReader::new(child.stderr.take().unwrap());
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while child_stderr.read_line(&mut line).is_ok_and(|read| read > 0) {
                collected.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut lsp = Lsp { child, stdin, messages_rx, unconsumed: Vec::new(), stderr, next_id: 0 };
        let initialized = lsp.request("initialize", json!({"processId": null, "rootUri": null, "capabilities": {}}));
        assert!(initialized["result"]["capabilities"]["hoverProvider"].as_bool().unwrap_or(false), "{initialized}");
        lsp.notify("initialized", json!({}));
        lsp
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("writing to tether lsp");
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its whole response (`result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        self.send(message);
        self.wait_for(&format!("the response to {method}"), |message| {
            message["id"] == id && message.get("method").is_none()
        })
    }

    /// The first message (earlier unconsumed ones first) that `wanted` accepts; others are kept.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.unconsumed.iter().position(&wanted) {
            return self.unconsumed.remove(index);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages_rx.recv_timeout(left) {
                Ok(message) if wanted(&message) => return message,
                Ok(message) => self.unconsumed.push(message),
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("no {what} within {}s", WAIT.as_secs())),
                Err(RecvTimeoutError::Disconnected) => self.fail(&format!("tether lsp closed stdout before {what}")),
            }
        }
    }

    fn notification(&mut self, method: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(method, |message| {
            message["method"] == method && message.get("id").is_none() && wanted(&message["params"])
        })
    }

    /// Drops the notifications of `method` received so far (after a short grace for ones in
    /// flight), so that a later wait sees only new ones.
    fn forget(&mut self, method: &str) {
        std::thread::sleep(Duration::from_millis(200));
        self.unconsumed.extend(self.messages_rx.try_iter());
        self.unconsumed.retain(|message| message["method"] != method);
    }

    fn fail(&self, why: &str) -> ! {
        panic!("{why}\nunconsumed: {:#?}\nstderr of tether lsp:\n{}", self.unconsumed, self.stderr.lock().unwrap());
    }

    /// `shutdown` then `exit`; the process's exit status.
    fn shutdown_and_exit(mut self) -> ExitStatus {
        let response = self.request("shutdown", Value::Null);
        assert_eq!(response["result"], Value::Null, "{response}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                self.fail("tether lsp did not exit after shutdown and exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `Content-Length` frames until the stream ends.
fn read_frames(mut stdout: impl BufRead, messages_tx: mpsc::Sender<Value>) {
    loop {
        let mut length = None;
        loop {
            let mut header = String::new();
            if stdout.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some(value) = header.strip_prefix("Content-Length:") {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.expect("every frame has a Content-Length")];
        if stdout.read_exact(&mut body).is_err() {
            return;
        }
        let message = serde_json::from_slice(&body).expect("every frame is JSON");
        if messages_tx.send(message).is_err() {
            return;
        }
    }
}

fn open(lsp: &mut Lsp, uri: &str, text: &str) {
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "json", "version": 1, "text": text}}),
    );
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

#[test]
fn lsp_forwards_requests_and_daemon_errors_and_exits_cleanly() {
    require_tier();
    let tether = Tether::new();
    let mut lsp = Lsp::start(&tether);

    // No params at all, as editors send for methods without parameters.
    let status = lsp.request("tether/daemon.status", Value::Null);
    assert!(status["result"]["pid"].as_u64().is_some_and(|pid| pid > 0), "{status}");
    assert_eq!(status["result"]["daemon_version"], env!("CARGO_PKG_VERSION"));

    let missing =
        lsp.request("tether/session.prepare", json!({"target": "pid/999999999", "launch": {"program": "/bin/true"}}));
    let error = &missing["error"];
    assert_eq!(error["code"], codes::TARGET_NOT_FOUND, "{missing}");
    assert!(error["message"].as_str().is_some_and(|message| !message.is_empty()), "{missing}");
    assert_eq!(error["data"]["reason"], error["message"], "the daemon's data passes through: {missing}");

    // The daemon goes away: the next request starts a new one and resubscribes.
    let old_pid = status["result"]["pid"].clone();
    let stopped = lsp.request("tether/daemon.shutdown", Value::Null);
    assert_eq!(stopped["result"], Value::Null, "{stopped}");
    let socket = tether.runtime_dir.join("tether/api.sock");
    let deadline = Instant::now() + WAIT;
    while socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    lsp.forget("tether/targets.changed");
    let restarted = lsp.request("tether/daemon.status", json!({}));
    assert!(restarted["result"]["pid"].is_u64() && restarted["result"]["pid"] != old_pid, "{restarted}");
    lsp.notification("tether/targets.changed", |params| params["targets"].is_array());
    let status = lsp.shutdown_and_exit();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn lsp_config_documents_get_diagnostics_hover_and_completion() {
    require_tier();
    let tether = Tether::new();
    let mut lsp = Lsp::start(&tether);
    let published = |version: i64| move |params: &Value| params["uri"] == CONFIG_URI && params["version"] == version;

    open(&mut lsp, CONFIG_URI, "{\n  \"fs\": {\n    \"mdoe\": \"read\"\n  },\n  \"dns\": {}\n}");
    let diagnostics = lsp.notification("textDocument/publishDiagnostics", published(1));
    let diagnostic = &diagnostics["params"]["diagnostics"][0];
    assert_eq!(
        diagnostic["range"],
        json!({"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 10}}),
        "{diagnostics}"
    );
    assert_eq!(
        (diagnostic["severity"].as_u64(), diagnostic["source"].as_str()),
        (Some(1), Some("tether")),
        "{diagnostic}"
    );
    assert!(diagnostic["message"].as_str().unwrap().contains("unknown field `mdoe`"), "{diagnostic}");

    let hover = lsp.request("textDocument/hover", at(CONFIG_URI, 4, 4));
    let shown =
        hover["result"]["contents"]["value"].as_str().unwrap_or_else(|| panic!("no hover: {hover}")).to_string();
    assert!(shown.starts_with("**dns**"), "{shown}");
    if let Some(description) = committed_description("dns") {
        assert!(shown.contains(&description), "the schema's description {description:?} is missing: {shown}");
    }
    assert!(shown.contains(r#""enabled":true"#), "the default is shown: {shown}");

    let keys = lsp.request("textDocument/completion", at(CONFIG_URI, 4, 10));
    let offered = labels(&keys);
    assert!(offered.contains(&"enabled".to_string()) && offered.contains(&"local".to_string()), "{keys}");

    let fixed = "{\n  \"fs\": {\n    \"mode\": \"read\"\n  },\n  \"dns\": {}\n}";
    lsp.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": CONFIG_URI, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    let cleared = lsp.notification("textDocument/publishDiagnostics", published(2));
    assert_eq!(cleared["params"]["diagnostics"], json!([]), "{cleared}");
    let modes = lsp.request("textDocument/completion", at(CONFIG_URI, 2, 14));
    assert_eq!(labels(&modes), ["read", "write", "local"], "{modes}");

    assert_eq!(lsp.shutdown_and_exit().code(), Some(0));
}

#[test]
fn lsp_completes_live_targets_and_forwards_session_events() {
    require_tier();
    let pod = Fixture::pod("lsp-complete");
    let pod_target = pod.pid_target();
    let tether = Tether::new();
    let mut lsp = Lsp::start(&tether);

    let text = "{\n  \"target\": \"pid/";
    open(&mut lsp, "file:///w/.tether/launch.json", text);
    let completion = lsp.request("textDocument/completion", at("file:///w/.tether/launch.json", 1, 17));
    let item = completion["result"]
        .as_array()
        .and_then(|items| items.iter().find(|item| item["label"] == pod_target.as_str()))
        .unwrap_or_else(|| panic!("{pod_target} is not offered: {completion}"));
    assert_eq!(
        item["textEdit"]["range"],
        json!({"start": {"line": 1, "character": 13}, "end": {"line": 1, "character": 17}})
    );
    assert!(item["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "the description: {item}");

    // Namespaces come from a method the daemon may not have yet: nothing offered, no error.
    lsp.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": "file:///w/.tether/launch.json", "version": 2}, "contentChanges": [{"text": "{\"namespace\": \""}]}),
    );
    let namespaces = lsp.request("textDocument/completion", at("file:///w/.tether/launch.json", 0, 15));
    assert!(namespaces.get("error").is_none() && namespaces["result"].is_array(), "{namespaces}");

    let listed = |params: &Value| {
        params["targets"].as_array().is_some_and(|targets| targets.iter().any(|t| t["target"] == pod_target.as_str()))
    };
    lsp.notification("tether/targets.changed", listed);

    let prepared =
        lsp.request("tether/session.prepare", json!({"target": pod_target, "launch": {"program": "/bin/true"}}));
    let session_id = prepared["result"]["session_id"].as_str().unwrap_or_else(|| panic!("{prepared}")).to_string();
    let ready = lsp.notification("tether/session.event", |event| event["session_id"] == session_id.as_str());
    assert_eq!(ready["params"]["kind"], "ready", "{ready}");
    assert_eq!(ready["params"]["target"], pod_target.as_str());

    let ended = lsp.request("tether/session.end", json!({"session_id": session_id}));
    assert_eq!(ended["result"], Value::Null, "{ended}");
    lsp.notification("tether/session.event", |event| {
        event["session_id"] == session_id.as_str() && event["kind"] == "ended"
    });

    assert_eq!(lsp.shutdown_and_exit().code(), Some(0));
}

fn labels(response: &Value) -> Vec<String> {
    let items = response["result"].as_array().cloned().unwrap_or_default();
    items.iter().filter_map(|item| item["label"].as_str().map(str::to_string)).collect()
}

/// The description the committed config schema gives a top-level key (its own or its type's).
fn committed_description(key: &str) -> Option<String> {
    let text = std::fs::read_to_string(repo().join("rpc-schema/schema/config.schema.json")).ok()?;
    let schema: Value = serde_json::from_str(&text).ok()?;
    let property = &schema["properties"][key];
    let referenced = property["$ref"].as_str().and_then(|pointer| schema.pointer(pointer.trim_start_matches('#')));
    let description = property["description"].as_str().or_else(|| referenced?["description"].as_str());
    description.map(str::to_string)
}

#[test]
fn lsp_completes_kubeconfig_contexts() {
    require_tier();
    let mut tether = Tether::new();
    let kubeconfig = tether.state_dir.join("kubeconfig.yaml");
    let contexts = ["dev-a", "dev-b"]
        .iter()
        .map(|name| format!("- name: {name}\n  context:\n    cluster: lab\n    user: dev\n"))
        .collect::<String>();
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: dev\n  user: {{}}\ncontexts:\n{contexts}current-context: dev-a\n"),
    )
    .unwrap();
    tether.env.push(("KUBECONFIG".into(), kubeconfig.display().to_string()));
    let mut lsp = Lsp::start(&tether);
    open(&mut lsp, "file:///w/.tether/cluster.json", "{\"context\": \"");
    let completion = lsp.request("textDocument/completion", at("file:///w/.tether/cluster.json", 0, 13));
    assert_eq!(labels(&completion), ["dev-a", "dev-b"], "{completion}");
    assert_eq!(completion["result"][0]["detail"], "lab", "the context's cluster: {completion}");
    assert_eq!(lsp.shutdown_and_exit().code(), Some(0));
}
