//! Edits take effect without a restart: kubeconfig files (every file of `$KUBECONFIG`) and the
//! config file of a live session; unreachable clusters are typed errors naming the context.

use std::time::Duration;

use serde_json::{json, Value};
use tether_rpc_schema::api::codes;

use crate::api::{call, client};
use crate::support::{require_tier, Fixture, Tether};

fn kubeconfig(contexts: &[&str]) -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:1\n",
    );
    text.push_str("users:\n- name: dev\n  user:\n    token: not-a-secret\ncontexts:\n");
    for name in contexts {
        text.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: nowhere\n    user: dev\n    namespace: shop\n"
        ));
    }
    text.push_str(&format!("current-context: {}\n", contexts[0]));
    text
}

#[test]
fn kubeconfig_edits_reach_contexts_list_and_unreachable_clusters_say_which_and_why() {
    require_tier();
    let mut tether = Tether::new();
    let first = tether.state_dir.join("kube-a.yaml");
    let second = tether.state_dir.join("kube-b.yaml");
    std::fs::write(&first, kubeconfig(&["dev-a"])).unwrap();
    std::fs::write(&second, kubeconfig(&["dev-b"])).unwrap();
    tether.env.push(("KUBECONFIG".into(), format!("{}:{}", first.display(), second.display())));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = client(&tether).await;
        let names = |contexts: &Value| {
            contexts.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        };
        let contexts = call(&client, "contexts.list", json!({})).await.unwrap();
        assert_eq!(names(&contexts), ["dev-a", "dev-b"], "every file of KUBECONFIG is merged");
        assert_eq!(contexts[0]["current"], true);
        assert_eq!(contexts[0]["namespace"], "shop");

        std::fs::write(&second, kubeconfig(&["dev-b", "dev-c"])).unwrap();
        let noticed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let contexts = call(&client, "contexts.list", json!({})).await.unwrap();
                if names(&contexts).contains(&"dev-c".to_string()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(noticed.is_ok(), "the edit of the second kubeconfig file was not picked up");

        let (code, message) = call(&client, "namespaces.list", json!({"context": "dev-a"})).await.unwrap_err();
        assert_eq!(code, codes::CLUSTER_UNREACHABLE);
        assert!(message.contains("context dev-a is unreachable"), "{message}");
        let (code, message) = call(&client, "namespaces.list", json!({"context": "nope"})).await.unwrap_err();
        assert_eq!(code, codes::CLUSTER_UNREACHABLE);
        assert!(message.contains("no context \"nope\""), "{message}");
    });
}

#[test]
fn session_config_edits_apply_to_processes_started_afterwards() {
    require_tier();
    let pod = Fixture::pod("watch-config");
    let tether = Tether::new();
    let config = tether.config("live.json", "{}");
    let go = tether.state_dir.join("go");
    let script = format!(
        "cat /etc/demo/secret.txt; echo; while [ ! -e {go} ]; do sleep 0.05; done; cat /etc/demo/secret.txt || echo hidden",
        go = go.display()
    );
    let child = tether
        .command()
        .args(["exec", "--target", &pod.pid_target(), "--config"])
        .arg(&config)
        .args(["--", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = client(&tether).await;
        let mut events = jsonrpsee::core::client::SubscriptionClientT::subscribe::<Value, _>(
            &client,
            "session.events",
            jsonrpsee::core::params::ObjectParams::new(),
            "session.unevents",
        )
        .await
        .unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while call(&client, "session.list", json!({})).await.unwrap().as_array().unwrap().is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the session never started");
        std::fs::write(&config, r#"{"fs": {"not_found": ["^/etc/demo/secret\\.txt$"]}}"#).unwrap();
        let reloaded = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let event = events.next().await.unwrap().unwrap();
                if event["message"].as_str().unwrap_or_default().contains("processes started from now on use it") {
                    return event;
                }
            }
        })
        .await
        .expect("no reload event");
        assert_eq!(reloaded["kind"], "progress");
    });
    std::fs::write(&go, "").unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["s3cr3t-from-pod", "hidden"], "{stdout}");
}
