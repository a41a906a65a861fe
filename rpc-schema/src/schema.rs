//! JSON Schema of the editor API, exported to `rpc-schema/schema/` so the extensions can
//! generate their types from it. A test fails when the committed files are stale; run
//! `TETHER_UPDATE_SCHEMA=1 cargo test -p tether-rpc-schema schema` to refresh them.

use std::collections::BTreeMap;

use schemars::{schema_for, Schema};

use crate::api;

/// Every exported schema, by file name.
pub fn all() -> BTreeMap<&'static str, Schema> {
    BTreeMap::from([
        ("api.hello.params.json", schema_for!(api::HelloParams)),
        ("api.hello.result.json", schema_for!(api::HelloResult)),
        ("api.status.result.json", schema_for!(api::StatusResult)),
        ("api.contexts.result.json", schema_for!(Vec<api::ContextInfo>)),
        ("api.namespaces.params.json", schema_for!(api::NamespacesListParams)),
        ("api.targets.params.json", schema_for!(api::TargetsListParams)),
        ("api.targets.result.json", schema_for!(Vec<api::TargetInfo>)),
        ("api.targets.changed.json", schema_for!(api::TargetsChanged)),
        ("api.targets.prewarm.params.json", schema_for!(api::TargetsPrewarmParams)),
        ("api.targets.prewarm.result.json", schema_for!(api::PrewarmResult)),
        ("api.config.params.json", schema_for!(api::ConfigParams)),
        ("api.config.validate.result.json", schema_for!(api::ValidateResult)),
        ("api.session.prepare.params.json", schema_for!(api::SessionPrepareParams)),
        ("api.session.prepare.result.json", schema_for!(api::SessionPrepared)),
        ("api.session.list.result.json", schema_for!(Vec<api::SessionInfo>)),
        ("api.session.end.params.json", schema_for!(api::SessionEndParams)),
        ("api.session.events.params.json", schema_for!(api::SessionEventsParams)),
        ("api.session.event.json", schema_for!(api::SessionEvent)),
        ("api.agents.list.result.json", schema_for!(Vec<api::AgentInfo>)),
        ("api.agents.stop.params.json", schema_for!(api::AgentsStopParams)),
        ("api.config-invalid.data.json", schema_for!(api::ConfigInvalidData)),
    ])
}

/// A schema as it is written to disk: pretty JSON with a trailing newline.
pub fn render(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn schema_committed_files_match_the_types() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        let update = std::env::var_os("TETHER_UPDATE_SCHEMA").is_some();
        let mut stale = Vec::new();
        for (name, schema) in all() {
            let path = dir.join(name);
            let fresh = render(&schema);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &fresh).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(fresh.as_str()) {
                stale.push(name);
            }
        }
        let committed: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| entries.map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default();
        // The config file's schema comes from the daemon's config types (see its `config` module).
        let unknown: Vec<&String> = committed
            .iter()
            .filter(|name| !all().contains_key(name.as_str()) && *name != "config.schema.json")
            .collect();
        assert!(
            stale.is_empty() && unknown.is_empty(),
            "stale schema files {stale:?}, unknown files {unknown:?} in {}; run TETHER_UPDATE_SCHEMA=1 cargo test -p tether-rpc-schema schema",
            dir.display()
        );
    }
}
