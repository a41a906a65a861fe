//! The daemon's JSON-RPC API driven over its real socket: every method so far, both
//! subscriptions, and the error codes an editor relies on.

use std::time::Duration;

use jsonrpsee::core::client::{ClientT, Error as ClientError, SubscriptionClientT};
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::{json, Value};
use tether_rpc_schema::api::{codes, Method, MethodKind, METHODS};

use crate::support::{containerd_ready, require_tier, Fixture, Tether};

/// An API client of `tether`'s daemon, started on demand like editors do.
pub async fn client(tether: &Tether) -> WsClient {
    let hello =
        tether.command().args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#]).output().unwrap();
    assert!(hello.status.success(), "{}", String::from_utf8_lossy(&hello.stderr));
    let stream = tokio::net::UnixStream::connect(tether.runtime_dir.join("tether/api.sock")).await.unwrap();
    WsClientBuilder::default().build_with_stream("ws://localhost/", stream).await.unwrap()
}

pub fn params(value: Value) -> ObjectParams {
    let mut params = ObjectParams::new();
    for (key, value) in value.as_object().expect("an object").clone() {
        params.insert(&key, value).unwrap();
    }
    params
}

pub async fn call(client: &WsClient, method: &str, value: Value) -> Result<Value, (i32, String)> {
    client.request(method, params(value)).await.map_err(|err| match err {
        ClientError::Call(call) => (call.code(), call.message().to_string()),
        other => panic!("{method}: transport error {other}"),
    })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn api_lists_prewarms_and_stops_agents_and_reports_status() {
    require_tier();
    let pod = Fixture::pod("api-agents");
    let tether = Tether::new();
    runtime().block_on(async {
        let client = client(&tether).await;
        let targets = call(&client, "targets.list", json!({"local": true})).await.unwrap();
        let pod_target = pod.pid_target();
        assert!(targets.as_array().unwrap().iter().any(|t| t["target"] == pod_target.as_str()), "{targets}");

        let warmed = call(&client, "targets.prewarm", json!({"target": pod_target})).await.unwrap();
        let agent_id = warmed["agent_id"].as_str().unwrap().to_string();
        let agents = call(&client, "agents.list", json!({})).await.unwrap();
        assert_eq!(agents[0]["agent_id"], agent_id.as_str());
        assert_eq!(agents[0]["target"], pod_target.as_str());

        let status = call(&client, "daemon.status", json!({})).await.unwrap();
        assert_eq!(status["agents"].as_array().unwrap().len(), 1);
        assert!(std::path::Path::new(status["log_path"].as_str().unwrap()).exists(), "{status}");

        call(&client, "agents.stop", json!({"agent_id": agent_id})).await.unwrap();
        assert_eq!(call(&client, "agents.list", json!({})).await.unwrap(), json!([]));
        let missing = call(&client, "agents.stop", json!({"agent_id": "nope"})).await.unwrap_err();
        assert_eq!(missing.0, codes::SESSION_NOT_FOUND);
    });
}

#[test]
fn api_sessions_are_listed_streamed_and_ended() {
    require_tier();
    let pod = Fixture::pod("api-sessions");
    let tether = Tether::new();
    runtime().block_on(async {
        let client = client(&tether).await;
        let mut events = client
            .subscribe::<Value, _>("session.events", params(json!({})), "session.unevents")
            .await
            .unwrap();
        let launch = json!({"program": "/bin/true", "debug_type": "go", "args": ["dap", "--listen=127.0.0.1:4711"], "env": {"PATH": "/usr/bin"}});
        let prepared = call(&client, "session.prepare", json!({"target": pod.pid_target(), "launch": launch})).await.unwrap();
        let session_id = prepared["session_id"].as_str().unwrap().to_string();
        assert_eq!(prepared["env"]["DEMO_GREETING"], pod.get("/env/DEMO_GREETING"));
        assert!(prepared["env"]["LD_PRELOAD"].as_str().unwrap().ends_with("libtether_layer.so"));
        assert!(prepared["env"].get("PATH").is_none(), "PATH stays the launch's own");

        let mut kinds = Vec::new();
        while !kinds.contains(&"ready".to_string()) {
            let event = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap().unwrap().unwrap();
            kinds.push(event["kind"].as_str().unwrap().to_string());
        }
        assert_eq!(kinds.first().map(String::as_str), Some("progress"), "{kinds:?}");

        let sessions = call(&client, "session.list", json!({})).await.unwrap();
        assert_eq!(sessions[0]["session_id"], session_id.as_str());
        assert_eq!(sessions[0]["program"], "/bin/true");

        call(&client, "session.end", json!({"session_id": session_id})).await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap().unwrap().unwrap();
        assert_eq!((ended["kind"].as_str(), ended["session_id"].as_str()), (Some("ended"), Some(session_id.as_str())));
        assert_eq!(call(&client, "session.list", json!({})).await.unwrap(), json!([]));
        let again = call(&client, "session.end", json!({"session_id": session_id})).await.unwrap_err();
        assert_eq!(again.0, codes::SESSION_NOT_FOUND);
    });
}

#[test]
fn api_targets_watch_sends_the_list_and_its_changes() {
    require_tier();
    let tether = Tether::new();
    runtime().block_on(async {
        let client = client(&tether).await;
        let mut watch = client
            .subscribe::<Value, _>("targets.watch", params(json!({"local": true})), "targets.unwatch")
            .await
            .unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap().unwrap();
        assert!(first["targets"].is_array());
        let pod = Fixture::pod("api-watch");
        let wanted = pod.pid_target();
        let appeared = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let changed = watch.next().await.unwrap().unwrap();
                if changed["targets"].as_array().unwrap().iter().any(|t| t["target"] == wanted.as_str()) {
                    return changed;
                }
            }
        })
        .await;
        assert!(appeared.is_ok(), "the new pod never showed up in targets.watch");
    });
}

#[test]
fn api_config_methods_validate_and_resolve() {
    require_tier();
    let tether = Tether::new();
    runtime().block_on(async {
        let client = client(&tether).await;
        let bad = call(
            &client,
            "config.validate",
            json!({"path": "/ws/.tether/config.json", "text": "{\"dns\": {\"enabled\": 1}}"}),
        )
        .await
        .unwrap();
        let diagnostic = &bad["diagnostics"][0];
        assert_eq!(
            (diagnostic["file"].as_str(), diagnostic["line"].as_u64()),
            (Some("/ws/.tether/config.json"), Some(1))
        );
        assert!(diagnostic["message"].as_str().unwrap().contains("expected a boolean"), "{bad}");
        let good = call(&client, "config.validate", json!({"text": "{}"})).await.unwrap();
        assert_eq!(good["diagnostics"], json!([]));

        let resolved =
            call(&client, "config.resolve", json!({"text": "{\"fs\": {\"mode\": \"write\"}}"})).await.unwrap();
        assert_eq!(resolved["fs"]["mode"], "write");
        assert_eq!(resolved["dns"]["enabled"], true, "defaults are filled in: {resolved}");
        let invalid = call(&client, "config.resolve", json!({"text": "{\"nope\": 1}"})).await.unwrap_err();
        assert_eq!(invalid.0, codes::CONFIG_INVALID);
    });
}

/// The method table that `api.json` exports is what the daemon serves: a request with empty
/// params is answered (a result or a domain error, never "method not found"), and every
/// subscription subscribes and unsubscribes.
#[test]
fn api_serves_every_method_of_the_table() {
    require_tier();
    let tether = Tether::new();
    runtime().block_on(async {
        let client = client(&tether).await;
        let requests = METHODS.iter().filter(|method| matches!(method.kind, MethodKind::Request));
        // daemon.shutdown last: it answers, then the daemon goes.
        let (shutdown, others): (Vec<&Method>, Vec<&Method>) =
            requests.partition(|method| method.name == "daemon.shutdown");
        for method in others.iter().chain(&shutdown) {
            if let Err((code, message)) = call(&client, method.name, json!({})).await {
                assert_ne!(code, jsonrpsee::types::error::METHOD_NOT_FOUND_CODE, "{}: {message}", method.name);
            }
        }
    });
    let tether = Tether::new();
    runtime().block_on(async {
        let client = client(&tether).await;
        for method in METHODS {
            let MethodKind::Subscription { unsubscribe, .. } = method.kind else { continue };
            let subscribed = client.subscribe::<Value, _>(method.name, params(json!({})), unsubscribe).await;
            let subscription = match subscribed {
                Ok(subscription) => subscription,
                Err(ClientError::Call(call)) => {
                    assert_ne!(call.code(), jsonrpsee::types::error::METHOD_NOT_FOUND_CODE, "{}", method.name);
                    continue;
                }
                Err(other) => panic!("{}: {other}", method.name),
            };
            subscription.unsubscribe().await.unwrap_or_else(|err| panic!("{unsubscribe}: {err}"));
        }
    });
}

#[test]
fn api_errors_carry_stable_codes() {
    require_tier();
    let tether = Tether::new();
    runtime().block_on(async {
        let client = client(&tether).await;
        let launch = json!({"program": "true"});
        let missing =
            call(&client, "session.prepare", json!({"target": "pid/999999999", "launch": launch})).await.unwrap_err();
        assert_eq!(missing.0, codes::TARGET_NOT_FOUND, "{missing:?}");
        containerd_ready();
        let container =
            call(&client, "session.prepare", json!({"target": "container/nope", "launch": launch})).await.unwrap_err();
        assert_eq!(container.0, codes::TARGET_NOT_FOUND, "{container:?}");
        let no_runtime = json!({"container": {"socket": "/nonexistent/containerd.sock"}});
        let unreachable = call(
            &client,
            "session.prepare",
            json!({"target": "container/nope", "config": no_runtime, "launch": launch}),
        )
        .await
        .unwrap_err();
        assert_eq!(unreachable.0, codes::AGENT_START_FAILED, "{unreachable:?}");
        assert!(unreachable.1.contains("cannot reach containerd at /nonexistent/containerd.sock"), "{unreachable:?}");
        let bad_config = call(
            &client,
            "session.prepare",
            json!({"target": "pid/1", "config": {"fs": {"mode": "sideways"}}, "launch": launch}),
        )
        .await
        .unwrap_err();
        assert_eq!(bad_config.0, codes::CONFIG_INVALID, "{bad_config:?}");
        let version =
            call(&client, "daemon.hello", json!({"client": "old-editor", "api_version": 0})).await.unwrap_err();
        assert_eq!(version.0, codes::INCOMPATIBLE_VERSION);
        assert!(version.1.contains("old-editor speaks API 0"), "{version:?}");
    });
}

#[test]
fn api_agent_start_failure_says_why() {
    require_tier();
    let tether = Tether::new();
    let output = tether
        .command()
        .env("TETHER_AGENT_PATH", "/bin/false")
        .args(["exec", "--target", "pid/1", "--", "true"])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("exited") && message.contains("without a report"), "{message}");
}

#[test]
fn api_over_websocket_requires_the_token() {
    require_tier();
    let tether = Tether::new();
    let hello = tether
        .command()
        .env("TETHER_WEBSOCKET", "127.0.0.1:0")
        .args(["rpc", "daemon.hello", r#"{"client":"test","api_version":1}"#])
        .output()
        .unwrap();
    assert!(hello.status.success(), "{}", String::from_utf8_lossy(&hello.stderr));
    let dir = tether.runtime_dir.join("tether");
    let token_file = dir.join("ws.token");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&token_file).unwrap().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let addr = std::fs::read_to_string(dir.join("ws.addr")).unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    runtime().block_on(async {
        let url = format!("ws://{addr}/");
        let mut headers = jsonrpsee::ws_client::HeaderMap::new();
        headers.insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let client = WsClientBuilder::default().set_headers(headers).build(&url).await.unwrap();
        let status = call(&client, "daemon.status", json!({})).await.unwrap();
        assert!(status["pid"].as_u64().is_some());
        let with_query = WsClientBuilder::default().build(format!("{url}?token={token}")).await.unwrap();
        assert!(call(&with_query, "daemon.status", json!({})).await.is_ok());
        let refused = WsClientBuilder::default().build(&url).await;
        assert!(refused.is_err(), "a client without the token must not connect");
        let mut wrong = jsonrpsee::ws_client::HeaderMap::new();
        wrong.insert("Authorization", "Bearer nope".parse().unwrap());
        assert!(WsClientBuilder::default().set_headers(wrong).build(&url).await.is_err());
    });
}

#[test]
fn api_websocket_refuses_a_non_loopback_address() {
    require_tier();
    let tether = Tether::new();
    let output =
        tether.command().env("TETHER_WEBSOCKET", "0.0.0.0:0").args(["daemon", "--foreground"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a loopback address"), "{output:?}");
}
