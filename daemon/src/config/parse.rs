//! Reading a config file: JSON into [`Config`], then the checks serde cannot make (regular
//! expressions, globs, ports, CIDRs), every problem a [`Diagnostic`] at its line and column.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::value::RawValue;
use tether_rpc_schema::api::Diagnostic;

use super::Config;

/// Reads and validates the config file at `path`, on a blocking thread: a slow file, or one
/// that is not a regular file, never holds up the daemon's other requests.
pub async fn load(path: PathBuf) -> Result<Config, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let read = tokio::task::spawn_blocking(move || crate::user_file::read_text(&path)).await;
    let text = match read {
        Ok(Ok(text)) => text,
        Ok(Err(err)) => return Err(vec![file_diagnostic(&file, err.to_string())]),
        Err(err) => return Err(vec![file_diagnostic(&file, format!("reading the config file failed: {err}"))]),
    };
    parse(&file, &text)
}

fn file_diagnostic(file: &str, message: String) -> Diagnostic {
    Diagnostic { file: file.to_string(), line: 1, column: 1, message }
}

/// Parses and validates config `text`; `file` names it in diagnostics.
pub fn parse(file: &str, text: &str) -> Result<Config, Vec<Diagnostic>> {
    let config: Config = serde_json::from_str(text).map_err(|err| {
        section_errors(file, text).unwrap_or_else(|| {
            vec![Diagnostic {
                file: file.to_string(),
                line: err.line().max(1),
                column: char_column(text, err.line(), err.column()),
                message: with_fix(&err.to_string()),
            }]
        })
    })?;
    let diagnostics = validate(file, text, &config);
    if diagnostics.is_empty() {
        Ok(config)
    } else {
        Err(diagnostics)
    }
}

/// The errors of each key, each at its place in `text`, when `text` is a JSON object (a syntax
/// error has only the one, which `None` leaves to the caller). Each key is read as a config of
/// that key alone, and within an object each of its keys too, so that one wrong key does not
/// hide the others'.
fn section_errors(file: &str, text: &str) -> Option<Vec<Diagnostic>> {
    let sections: BTreeMap<&str, &RawValue> = serde_json::from_str(text).ok()?;
    let mut found = Vec::new();
    for (key, raw) in sections {
        key_errors(text, &[key], raw, &mut found);
    }
    let mut diagnostics: Vec<Diagnostic> = found
        .into_iter()
        .map(|(offset, message)| {
            let (line, column) = line_column(text, offset);
            Diagnostic { file: file.to_string(), line, column, message }
        })
        .collect();
    diagnostics.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
    (!diagnostics.is_empty()).then_some(diagnostics)
}

/// Adds to `found` (byte offset in `text`, message) the errors of the value `raw` at `path`:
/// those of its keys when it is an object whose keys can be told apart, else its own.
fn key_errors(text: &str, path: &[&str], raw: &RawValue, found: &mut Vec<(usize, String)>) {
    let offset_in_text = |part: &str| part.as_ptr() as usize - text.as_ptr() as usize;
    let mut prefix = String::new();
    for key in path {
        prefix.push('{');
        prefix.push_str(&serde_json::to_string(key).expect("a key serializes"));
        prefix.push(':');
    }
    let alone = format!("{prefix}{}{}", raw.get(), "}".repeat(path.len()));
    let Err(err) = serde_json::from_str::<Config>(&alone) else { return };
    let message = with_fix(&err.to_string());
    let members = serde_json::from_str::<BTreeMap<&str, &RawValue>>(raw.get()).ok();
    if let Some(members) = members.filter(|_| path.len() < 3 && !message.starts_with("invalid type: map")) {
        let before = found.len();
        for (key, member) in members {
            key_errors(text, &[path, &[key]].concat(), member, found);
        }
        if found.len() > before {
            return;
        }
    }
    let at = byte_offset(&alone, err.line(), err.column());
    let offset = if at < prefix.len() {
        // In the key (an unknown one): the same place in the key as written in `text`, which
        // has no escapes (a borrowed key).
        let key = path.last().expect("a path has a key");
        let quoted_key_start = prefix.len() - 1 - key.len() - 2;
        (offset_in_text(key) - 1 + at.saturating_sub(quoted_key_start)).min(text.len())
    } else {
        offset_in_text(raw.get()) + at - prefix.len()
    };
    found.push((offset, message));
}

/// The byte offset of serde_json's (1-based line, 1-based byte column) in `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// The 1-based line and character column of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// serde_json counts columns in bytes; diagnostics count characters.
fn char_column(text: &str, line: usize, byte_column: usize) -> usize {
    let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
    line_text.char_indices().take_while(|(index, _)| *index < byte_column).count().max(1)
}

/// Adds a hint on how to fix the most common serde errors, and drops serde's position suffix
/// (the diagnostic carries line and column).
fn with_fix(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    if message.starts_with("unknown field") {
        format!("{message}; remove the key or fix its spelling")
    } else if message.starts_with("invalid type") {
        format!("{message}; change the value to the expected type")
    } else {
        message.to_string()
    }
}

fn validate(file: &str, text: &str, config: &Config) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let fs = &config.fs;
    for rule in fs.local.iter().chain(&fs.read_only).chain(&fs.read_write).chain(&fs.not_found) {
        if let Err(err) = regex::Regex::new(rule) {
            let message = format!("invalid regular expression {rule:?}: {}", first_line(&err.to_string()));
            diagnostics.push(at_value(file, text, rule, message));
        }
    }
    let mut filter_regexes = Vec::new();
    if let Some(filter) = &config.incoming.http_filter {
        filter.regexes(&mut filter_regexes);
    }
    for rule in &filter_regexes {
        if let Err(err) = regex::Regex::new(rule) {
            let message = format!("invalid regular expression {rule:?}: {}", first_line(&err.to_string()));
            diagnostics.push(at_value(file, text, rule, message));
        }
    }
    for target_port in config.incoming.port_mapping.keys() {
        if !target_port.parse::<u16>().is_ok_and(|port| port != 0) {
            let message =
                format!("invalid incoming.port_mapping key {target_port:?}; use a target port number like \"80\"");
            diagnostics.push(at_value(file, text, target_port, message));
        }
    }
    for pattern in config.env.include.iter().chain(&config.env.exclude) {
        if let Err(err) = globset::Glob::new(pattern) {
            diagnostics.push(at_value(file, text, pattern, format!("invalid glob {pattern:?}: {}", err.kind())));
        }
    }
    for entry in &config.outgoing.local {
        if entry.trim().is_empty() || entry.contains('/') && entry.parse::<IpNetCheck>().is_err() {
            let message = format!(
                "invalid outgoing.local entry {entry:?}; use host, host:port, ip, ip:port or a CIDR like 10.0.0.0/8"
            );
            diagnostics.push(at_value(file, text, entry, message));
        }
    }
    diagnostics
}

/// A CIDR string, checked for shape only (the layer does the matching).
struct IpNetCheck;

impl std::str::FromStr for IpNetCheck {
    type Err = ();
    fn from_str(value: &str) -> Result<Self, ()> {
        let (ip, bits) = value.split_once('/').ok_or(())?;
        let ip: std::net::IpAddr = ip.parse().map_err(|_| ())?;
        let bits: u8 = bits.parse().map_err(|_| ())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if bits <= max {
            Ok(IpNetCheck)
        } else {
            Err(())
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().rev().find(|line| line.starts_with("error:")).unwrap_or(text.lines().next().unwrap_or(text))
}

/// A diagnostic at the first place `value` appears as a JSON string in `text`.
fn at_value(file: &str, text: &str, value: &str, message: String) -> Diagnostic {
    let needle = serde_json::to_string(value).unwrap_or_default();
    let (line, column) = line_column(text, text.find(&needle).unwrap_or(0));
    Diagnostic { file: file.to_string(), line, column, message }
}
