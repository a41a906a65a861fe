//! What the config JSON Schema says at a path: the keys an object may have (for completion) and a
//! key's documentation (for hover). `$ref`s into `$defs` and `anyOf`/`oneOf`/`allOf` are followed.

use serde_json::Value;

use super::json_path::Segment;

/// How many `$ref`/combinator levels are followed before giving up (the schema is recursive).
const MAX_DEPTH: usize = 16;

/// A key an object may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    pub name: String,
    /// The schema's description of the key (or of the type it refers to).
    pub description: Option<String>,
    /// A short type summary, e.g. `boolean` or `"read" | "write" | "local"`.
    pub detail: String,
}

/// The schema node `node` refers to, `$ref`s followed.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..MAX_DEPTH {
        let Some(target) = node.get("$ref").and_then(Value::as_str).and_then(|pointer| pointer.strip_prefix('#'))
        else {
            break;
        };
        match root.pointer(target) {
            Some(next) => node = next,
            None => break,
        }
    }
    node
}

/// `node` and every alternative it combines, each resolved.
fn variants<'a>(root: &'a Value, node: &'a Value, depth: usize, out: &mut Vec<&'a Value>) {
    let node = resolve(root, node);
    out.push(node);
    if depth >= MAX_DEPTH {
        return;
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        for alternative in node.get(combinator).and_then(Value::as_array).into_iter().flatten() {
            variants(root, alternative, depth + 1, out);
        }
    }
}

/// The schema of what `segment` reaches from `node`.
fn child<'a>(root: &'a Value, node: &'a Value, segment: &Segment) -> Option<&'a Value> {
    let mut all = Vec::new();
    variants(root, node, 0, &mut all);
    all.into_iter().find_map(|variant| match segment {
        Segment::Key(key) => variant
            .get("properties")
            .and_then(|properties| properties.get(key))
            .or_else(|| variant.get("additionalProperties").filter(|extra| extra.is_object())),
        Segment::Index(_) => variant.get("items").filter(|items| items.is_object()),
    })
}

/// The schema at `path` from the root.
fn node_at<'a>(root: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(root, |node, segment| child(root, node, segment))
}

/// The keys the object at `path` may have, in schema order.
pub fn keys_at(root: &Value, path: &[Segment]) -> Vec<KeyDoc> {
    let Some(node) = node_at(root, path) else { return Vec::new() };
    let mut all = Vec::new();
    variants(root, node, 0, &mut all);
    let mut keys: Vec<KeyDoc> = Vec::new();
    for (name, property) in all.iter().filter_map(|variant| variant.get("properties")?.as_object()).flatten() {
        if !keys.iter().any(|key| key.name == *name) {
            keys.push(KeyDoc {
                name: name.clone(),
                description: description(root, property),
                detail: type_summary(root, property),
            });
        }
    }
    keys
}

/// The values the schema allows for `key` of the object at `path`, when it lists them (`enum`).
pub fn values_at(root: &Value, path: &[Segment], key: &str) -> Vec<String> {
    let Some(property) = node_at(root, path).and_then(|parent| child(root, parent, &Segment::Key(key.to_string())))
    else {
        return Vec::new();
    };
    let mut all = Vec::new();
    variants(root, property, 0, &mut all);
    let listed = all.iter().filter_map(|variant| enum_values(variant)).flatten();
    listed.filter_map(|value| value.as_str().map(str::to_string)).collect()
}

/// The values a schema variant lists: its `enum`, or its `const` (documented enum variants
/// become a `oneOf` of `const`s).
fn enum_values(variant: &Value) -> Option<Vec<&Value>> {
    match (variant.get("enum").and_then(Value::as_array), variant.get("const")) {
        (Some(values), _) => Some(values.iter().collect()),
        (None, Some(value)) => Some(vec![value]),
        (None, None) => None,
    }
}

/// Markdown documentation of `key` in the object at `path`: description, type, default.
pub fn describe_key(root: &Value, path: &[Segment], key: &str) -> Option<String> {
    let parent = node_at(root, path)?;
    let property = child(root, parent, &Segment::Key(key.to_string()))?;
    let mut text = format!("**{key}**: `{}`", type_summary(root, property));
    if let Some(description) = description(root, property) {
        text.push_str("\n\n");
        text.push_str(&description);
    }
    if let Some(default) = property.get("default") {
        text.push_str(&format!("\n\nDefault: `{default}`"));
    }
    Some(text)
}

/// The property's own description, else the description of the type it refers to.
fn description(root: &Value, property: &Value) -> Option<String> {
    let own = property.get("description").and_then(Value::as_str);
    own.or_else(|| resolve(root, property).get("description").and_then(Value::as_str)).map(str::to_string)
}

fn type_summary(root: &Value, property: &Value) -> String {
    let mut all = Vec::new();
    variants(root, property, 0, &mut all);
    let mut parts: Vec<String> = Vec::new();
    for variant in all {
        let names: Vec<String> = if let Some(values) = enum_values(variant) {
            values.into_iter().map(Value::to_string).collect()
        } else {
            match variant.get("type") {
                Some(Value::String(name)) => vec![name.clone()],
                Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                _ => Vec::new(),
            }
        };
        for name in names {
            if !parts.contains(&name) {
                parts.push(name);
            }
        }
    }
    if parts.is_empty() {
        "any".to_string()
    } else {
        parts.join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        crate::config::json_schema().to_value()
    }

    fn path(keys: &[&str]) -> Vec<Segment> {
        keys.iter().map(|key| Segment::Key(key.to_string())).collect()
    }

    fn names(keys: &[KeyDoc]) -> Vec<&str> {
        keys.iter().map(|key| key.name.as_str()).collect()
    }

    #[test]
    fn keys_at_root_and_through_refs() {
        let schema = schema();
        let root = keys_at(&schema, &[]);
        for expected in ["env", "fs", "dns", "outgoing", "skip_processes", "incoming"] {
            assert!(names(&root).contains(&expected), "{expected} missing from {:?}", names(&root));
        }
        let env = keys_at(&schema, &path(&["env"]));
        assert_eq!(names(&env), ["allow_code_loading", "exclude", "include", "override", "unset"]);
        assert!(env[1].description.as_deref().is_some_and(|text| text.contains("leave out")), "{env:?}");
        assert_eq!(env[1].detail, "array");
    }

    #[test]
    fn keys_at_follow_any_of_one_of_and_array_items() {
        let schema = schema();
        let filter = keys_at(&schema, &path(&["incoming", "http_filter"]));
        assert_eq!(names(&filter), ["header", "path", "method", "all_of", "any_of"]);
        let mut nested = path(&["incoming", "http_filter", "any_of"]);
        nested.push(Segment::Index(0));
        assert_eq!(keys_at(&schema, &nested).len(), 5);
        assert!(keys_at(&schema, &path(&["nope"])).is_empty());
        assert!(keys_at(&schema, &path(&["env", "override"])).is_empty(), "free-form maps offer no keys");
    }

    #[test]
    fn describe_key_gives_description_type_and_default() {
        let schema = schema();
        let text = describe_key(&schema, &path(&["env"]), "include").unwrap();
        assert!(text.starts_with("**include**: `array`"), "{text}");
        assert!(text.contains("only matching target variables"), "{text}");
        let mode = describe_key(&schema, &path(&["fs"]), "mode").unwrap();
        assert!(mode.contains(r#""read" | "write" | "local""#) && mode.contains("Default: `\"read\"`"), "{mode}");
        let incoming = describe_key(&schema, &[], "incoming").unwrap();
        assert!(incoming.contains("Traffic arriving at the target"), "the property's own description: {incoming}");
        assert!(describe_key(&schema, &[], "nope").is_none());
    }

    #[test]
    fn values_at_lists_enum_strings_only() {
        let schema = schema();
        assert_eq!(values_at(&schema, &path(&["incoming"]), "mode"), ["mirror", "steal", "off"]);
        assert!(values_at(&schema, &path(&["dns"]), "enabled").is_empty());
        assert!(values_at(&schema, &[], "nope").is_empty());
    }

    #[test]
    fn resolve_stops_on_a_dangling_ref() {
        let schema = serde_json::json!({"properties": {"a": {"$ref": "#/$defs/Missing", "description": "kept"}}});
        assert_eq!(describe_key(&schema, &[], "a").unwrap(), "**a**: `any`\n\nkept");
    }
}
