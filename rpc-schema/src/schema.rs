//! JSON Schema of the editor API, exported to `rpc-schema/schema/` so the extensions can
//! generate their types from it. A test fails when the committed files are stale; run
//! `TETHER_UPDATE_SCHEMA=1 cargo test -p tether-rpc-schema schema` to refresh them.

use schemars::generate::SchemaSettings;
use serde_json::{json, Value};

use crate::api::{self, MethodKind, ERROR_CODES, METHODS};

/// The exported file: `rpc-schema/schema/` holds it and `config.schema.json` (the daemon's).
pub const FILE: &str = "api.json";

/// The whole editor API as one document: every method with its parameters, result and (for a
/// subscription) notification, every error code, and every type under `$defs`.
pub fn api() -> schemars::Schema {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let methods: Vec<Value> = METHODS.iter().map(|method| method_entry(method, &mut generator)).collect();
    let errors: Vec<Value> = ERROR_CODES
        .iter()
        .map(|error| json!({"name": error.name, "code": error.code, "doc": doc_text(error.doc)}))
        .collect();
    // Error data that is more than a reason string.
    generator.subschema_for::<api::ConfigInvalidData>();
    let document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tether editor API",
        "description": "Generated from rpc-schema/src/api.rs; do not edit. `params: null`: the method takes none.",
        "api_version": api::API_VERSION,
        "methods": methods,
        "errors": errors,
        "$defs": generator.take_definitions(true),
    });
    schemars::Schema::try_from(document).expect("the API document is an object")
}

fn method_entry(method: &api::Method, generator: &mut schemars::SchemaGenerator) -> Value {
    let params = method.params.map(|schema| schema(generator).to_value()).unwrap_or(Value::Null);
    let mut entry = json!({
        "name": method.name,
        "doc": method.doc,
        "params": params,
        "result": (method.result)(generator).to_value(),
    });
    match method.kind {
        MethodKind::Request => entry["kind"] = json!("request"),
        MethodKind::Subscription { notification, item, unsubscribe } => {
            entry["kind"] = json!("subscription");
            entry["notification"] = json!(notification);
            entry["item"] = item(generator).to_value();
            entry["unsubscribe"] = json!(unsubscribe);
        }
    }
    entry
}

/// A doc comment's lines (each with its leading space) as one paragraph.
fn doc_text(doc: &str) -> String {
    doc.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// A document as it is written to disk: pretty JSON with a trailing newline (a
/// [`schemars::Schema`] puts `$schema`, `title` and `description` first).
pub fn render(document: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn schema_committed_file_matches_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        let path = dir.join(FILE);
        let fresh = render(&api());
        if std::env::var_os("TETHER_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
        // The config file's schema comes from the daemon's config types (its `config` module).
        let unknown: Vec<&String> =
            committed.iter().filter(|name| *name != FILE && *name != "config.schema.json").collect();
        assert!(
            std::fs::read_to_string(&path).ok().as_deref() == Some(fresh.as_str()) && unknown.is_empty(),
            "{} is stale or {unknown:?} are unknown; run TETHER_UPDATE_SCHEMA=1 cargo test -p tether-rpc-schema schema",
            path.display()
        );
    }

    #[test]
    fn schema_names_every_method_once_with_its_types() {
        let api = api().to_value();
        let methods = api["methods"].as_array().unwrap();
        let mut names: Vec<&str> = methods.iter().map(|method| method["name"].as_str().unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
        let prepare = methods.iter().find(|method| method["name"] == "session.prepare").unwrap();
        assert_eq!(prepare["params"], json!({"$ref": "#/$defs/SessionPrepareParams"}));
        assert!(api["$defs"]["SessionPrepared"].is_object());
        let events = methods.iter().find(|method| method["name"] == "session.events").unwrap();
        assert_eq!(events["notification"], "session.event");
        assert_eq!(events["item"], json!({"$ref": "#/$defs/SessionEvent"}));
        let status = methods.iter().find(|method| method["name"] == "daemon.status").unwrap();
        assert_eq!(status["params"], Value::Null);
        let codes: Vec<i64> =
            api["errors"].as_array().unwrap().iter().map(|error| error["code"].as_i64().unwrap()).collect();
        assert!(codes.contains(&i64::from(api::codes::POD_SECURITY_REJECTED)));
        assert!(api["$defs"]["ConfigInvalidData"].is_object());
    }
}
