//! Replays the golden editor conversations of `fixtures/rpc/` against a real daemon and a
//! stand-in pod (the format is described in `fixtures/rpc/README.md`).

use std::collections::BTreeMap;

use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::core::params::ObjectParams;
use serde_json::{json, Value};

use crate::support::{repo, require_tier, Fixture, Tether};

fn replay(name: &str) {
    require_tier();
    let pod = Fixture::pod(&format!("rpc-{}", name.trim_end_matches(".json")));
    let tether = Tether::new();
    let layer = std::path::Path::new(env!("CARGO_BIN_EXE_tether")).with_file_name("libtether_layer.so");
    let mut vars = BTreeMap::from([
        ("pod_target".to_string(), json!(pod.pid_target())),
        ("pod_pid".to_string(), pod.info["pid"].clone()),
        ("pod_greeting".to_string(), json!(pod.get("/env/DEMO_GREETING"))),
        ("layer".to_string(), json!(layer.display().to_string())),
    ]);
    let text = std::fs::read_to_string(repo().join("fixtures/rpc").join(name)).unwrap();
    let steps: Vec<Value> = serde_json::from_str(&text).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = crate::api::client(&tether).await;
        for (index, step) in steps.iter().enumerate() {
            let method = step["call"].as_str().unwrap();
            let mut params = ObjectParams::new();
            for (key, value) in substitute(&step["params"], &vars).as_object().cloned().unwrap_or_default() {
                params.insert(&key, value).unwrap();
            }
            let outcome: Result<Value, ClientError> = client.request(method, params).await;
            let (actual, expected) = match (outcome, step.get("result"), step.get("error")) {
                (Ok(result), Some(expected), None) => (result, expected),
                (Err(ClientError::Call(call)), None, Some(expected)) => {
                    (serde_json::to_value(&call).unwrap(), expected)
                }
                (outcome, _, _) => panic!("{name} step {index} ({method}): unexpected outcome {outcome:?}"),
            };
            let expected = substitute(expected, &vars);
            if let Err(mismatch) = matches(&expected, &actual, "") {
                panic!("{name} step {index} ({method}): {mismatch}\nexpected {expected:#}\nactual {actual:#}");
            }
            for (var, pointer) in step.get("save").and_then(Value::as_object).cloned().unwrap_or_default() {
                let value = actual.pointer(pointer.as_str().unwrap()).cloned().unwrap_or(Value::Null);
                vars.insert(var, value);
            }
        }
    });
}

/// `${name}` in strings replaced by the variable's value (a whole-string reference keeps the
/// value's JSON type).
fn substitute(value: &Value, vars: &BTreeMap<String, Value>) -> Value {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix("${").and_then(|rest| rest.strip_suffix('}')) {
                return vars.get(name).cloned().unwrap_or_else(|| panic!("unknown variable {name}"));
            }
            Value::String(text.clone())
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| substitute(item, vars)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(key, item)| (key.clone(), substitute(item, vars))).collect())
        }
        other => other.clone(),
    }
}

fn matches(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(pattern), _) if pattern == "<any>" => Ok(()),
        (Value::String(pattern), Value::String(_)) if pattern == "<string>" => Ok(()),
        (Value::String(pattern), Value::Number(_)) if pattern == "<number>" => Ok(()),
        (Value::String(pattern), Value::Bool(_)) if pattern == "<bool>" => Ok(()),
        (Value::Object(want), Value::Object(got)) => {
            let mut want_keys: Vec<_> = want.keys().collect();
            let mut got_keys: Vec<_> = got.keys().collect();
            want_keys.sort();
            got_keys.sort();
            if want_keys != got_keys {
                return Err(format!("at {at}: keys {got_keys:?}, expected {want_keys:?}"));
            }
            want.iter().try_for_each(|(key, value)| matches(value, &got[key], &format!("{at}/{key}")))
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            want.iter().zip(got).enumerate().try_for_each(|(i, (w, g))| matches(w, g, &format!("{at}/{i}")))
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("at {at}: {actual} does not match {expected}")),
    }
}

#[test]
fn transcript_editor_startup_replays() {
    replay("editor-startup.json");
}

#[test]
fn transcript_debug_launch_replays() {
    replay("debug-launch.json");
}

#[test]
fn transcript_errors_replay() {
    replay("errors.json");
}
