//! Completion and hover in config documents: live target, namespace and context names from the
//! daemon for the values of `target`, `namespace` and `context`; keys, their documentation and
//! enumerated values from the config JSON Schema.

use serde_json::{json, Value};
use tether_rpc_schema::api::methods;
use tower_lsp::jsonrpc::ErrorCode;
use tower_lsp::lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, Hover, HoverContents, MarkupContent,
    MarkupKind, Position, Range, TextEdit,
};

use super::daemon_link::DaemonLink;
use super::documents::{offset_of, position_of};
use super::json_path::{self, Slot, StringAt};
use super::schema_docs;

/// Completion items at `position` in config `text`.
pub async fn complete(daemon: &DaemonLink, schema: &Value, text: &str, position: Position) -> Vec<CompletionItem> {
    let location = json_path::locate(text, offset_of(text, position));
    match location.slot {
        Slot::Value { key: Some(key), string: Some(string) } => {
            let range = content_range(text, &string);
            let names = match key.as_str() {
                "target" | "namespace" | "context" => live_names(daemon, &key).await,
                _ => schema_docs::values_at(schema, &location.path, &key)
                    .into_iter()
                    .map(|value| (value, None))
                    .collect(),
            };
            names.into_iter().map(|(label, detail)| value_item(label, detail, range)).collect()
        }
        Slot::Key { string } => {
            let range = string.as_ref().map(|string| content_range(text, string));
            schema_docs::keys_at(schema, &location.path).into_iter().map(|key| key_item(key, range)).collect()
        }
        _ => Vec::new(),
    }
}

/// The schema's documentation of the key under `position`, if there is a key there.
pub fn hover(schema: &Value, text: &str, position: Position) -> Option<Hover> {
    let token = json_path::token_at(text, offset_of(text, position))?;
    if !text[token.clone()].starts_with('"') {
        return None;
    }
    let location = json_path::locate(text, token.start + 1);
    let Slot::Key { string: Some(key) } = location.slot else { return None };
    let markdown = schema_docs::describe_key(schema, &location.path, &key.text)?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: markdown }),
        range: Some(Range::new(position_of(text, token.start), position_of(text, token.end))),
    })
}

/// `(name, description)` of what the value of `key` may be, from the daemon; nothing when the
/// daemon does not know the method yet or fails.
async fn live_names(daemon: &DaemonLink, key: &str) -> Vec<(String, Option<String>)> {
    // Targets: the current context's workloads and this machine's stand-ins.
    let (calls, name_field, description_field) = match key {
        "target" => (
            vec![(methods::TARGETS_LIST, json!({})), (methods::TARGETS_LIST, json!({"local": true}))],
            "target",
            "description",
        ),
        "namespace" => (vec![(methods::NAMESPACES_LIST, json!({}))], "name", "description"),
        "context" => (vec![(methods::CONTEXTS_LIST, json!({}))], "name", "cluster"),
        _ => return Vec::new(),
    };
    let mut names = Vec::new();
    for (method, params) in calls {
        let listed = match daemon.call(method, params).await {
            Ok(listed) => listed,
            Err(err) if err.code == ErrorCode::MethodNotFound => continue,
            Err(err) => {
                tracing::warn!(method, code = err.code.code(), "no completion from the daemon: {}", err.message);
                continue;
            }
        };
        let entries = listed.as_array().cloned().unwrap_or_default();
        names.extend(entries.iter().filter_map(|entry| match entry {
            Value::String(name) => Some((name.clone(), None)),
            Value::Object(fields) => Some((
                fields.get(name_field)?.as_str()?.to_string(),
                fields.get(description_field).and_then(Value::as_str).map(str::to_string),
            )),
            _ => None,
        }));
    }
    names
}

/// LSP range of a string's content (what a completion replaces).
fn content_range(text: &str, string: &StringAt) -> Range {
    Range::new(position_of(text, string.content.start), position_of(text, string.content.end))
}

fn value_item(label: String, detail: Option<String>, range: Range) -> CompletionItem {
    CompletionItem {
        text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(range, label.clone()))),
        label,
        detail,
        kind: Some(CompletionItemKind::VALUE),
        ..CompletionItem::default()
    }
}

/// A key: replaces the typed string's content, or inserts a quoted key where none is typed yet.
fn key_item(key: schema_docs::KeyDoc, range: Option<Range>) -> CompletionItem {
    let (text_edit, insert_text) = match range {
        Some(range) => (Some(CompletionTextEdit::Edit(TextEdit::new(range, key.name.clone()))), None),
        None => (None, Some(format!("\"{}\"", key.name))),
    };
    CompletionItem {
        detail: Some(key.detail),
        documentation: key
            .description
            .map(|value| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })),
        kind: Some(CompletionItemKind::PROPERTY),
        label: key.name,
        text_edit,
        insert_text,
        ..CompletionItem::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        crate::config::json_schema().to_value()
    }

    #[test]
    fn hover_over_a_nested_key_shows_its_description_and_spans_the_key() {
        let text = "{\n  \"env\": {\"include\": [\"DB_*\"]}\n}";
        let hover = hover(&schema(), text, Position::new(1, 14)).expect("a hover");
        let HoverContents::Markup(markup) = hover.contents else { panic!("markdown expected") };
        assert!(markup.value.contains("only matching target variables"), "{}", markup.value);
        assert_eq!(hover.range, Some(Range::new(Position::new(1, 10), Position::new(1, 19))));
    }

    #[test]
    fn hover_elsewhere_shows_nothing() {
        let text = r#"{"env": {"include": ["DB_*"]}}"#;
        assert!(hover(&schema(), text, Position::new(0, 23)).is_none(), "a value");
        assert!(hover(&schema(), text, Position::new(0, 6)).is_none(), "a colon");
        assert!(hover(&schema(), r#"{"nope": 1}"#, Position::new(0, 3)).is_none(), "an unknown key");
    }

    #[test]
    fn key_item_replaces_typed_content_or_inserts_a_quoted_key() {
        let key = schema_docs::KeyDoc { name: "dns".into(), description: Some("d".into()), detail: "object".into() };
        let typed = key_item(key.clone(), Some(Range::new(Position::new(0, 2), Position::new(0, 3))));
        assert!(matches!(typed.text_edit, Some(CompletionTextEdit::Edit(ref edit)) if edit.new_text == "dns"));
        assert_eq!(key_item(key, None).insert_text.as_deref(), Some("\"dns\""));
    }
}
