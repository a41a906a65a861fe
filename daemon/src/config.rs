//! The user's config file (JSON): parsing with precise diagnostics, validation of rule lists,
//! and conversion into the hook layer's policy.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tether_rpc_schema::api::Diagnostic;
use tether_rpc_schema::policy::{DnsPolicy, FsMode, FsPolicy, LayerPolicy, OutgoingPolicy};

/// A parsed, validated config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Lets editors validate the file against the published schema; otherwise unused.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub env: EnvConfig,
    #[serde(default)]
    pub fs: FsConfig,
    #[serde(default)]
    pub dns: DnsConfig,
    #[serde(default)]
    pub outgoing: OutgoingConfig,
    /// Programs whose calls are not hooked (their children still are).
    #[serde(default)]
    pub skip_processes: Vec<String>,
}

/// Which of the target's variables the user process gets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Glob patterns; when given, only matching target variables are taken.
    #[serde(default)]
    pub include: Vec<String>,
    /// Glob patterns of target variables to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Values that win over both the target's and the host's.
    #[serde(default, rename = "override")]
    pub overrides: BTreeMap<String, String>,
    /// Variables removed from the launched process's environment.
    #[serde(default)]
    pub unset: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsModeConfig {
    #[default]
    Read,
    Write,
    Local,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsConfig {
    #[serde(default)]
    pub mode: FsModeConfig,
    #[serde(default)]
    pub local: Vec<String>,
    #[serde(default)]
    pub read_only: Vec<String>,
    #[serde(default)]
    pub read_write: Vec<String>,
    #[serde(default)]
    pub not_found: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub local: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingConfig {
    #[serde(default = "yes")]
    pub tcp: bool,
    #[serde(default = "yes")]
    pub udp: bool,
    #[serde(default)]
    pub local: Vec<String>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig { enabled: true, local: Vec::new() }
    }
}

impl Default for OutgoingConfig {
    fn default() -> Self {
        OutgoingConfig { tcp: true, udp: true, local: Vec::new() }
    }
}

fn yes() -> bool {
    true
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| {
        vec![Diagnostic { file: file.clone(), line: 1, column: 1, message: format!("cannot read the config file: {err}") }]
    })?;
    parse(&file, &text)
}

/// Parses and validates config `text`; `file` names it in diagnostics.
pub fn parse(file: &str, text: &str) -> Result<Config, Vec<Diagnostic>> {
    let config: Config = serde_json::from_str(text).map_err(|err| {
        vec![Diagnostic {
            file: file.to_string(),
            line: err.line().max(1),
            column: err.column().max(1),
            message: with_fix(&err.to_string()),
        }]
    })?;
    let diagnostics = validate(file, text, &config);
    if diagnostics.is_empty() {
        Ok(config)
    } else {
        Err(diagnostics)
    }
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
    for pattern in config.env.include.iter().chain(&config.env.exclude) {
        if let Err(err) = globset::Glob::new(pattern) {
            diagnostics.push(at_value(file, text, pattern, format!("invalid glob {pattern:?}: {}", err.kind())));
        }
    }
    for entry in &config.outgoing.local {
        if entry.trim().is_empty() || entry.contains('/') && entry.parse::<IpNetCheck>().is_err() {
            let message = format!("invalid outgoing.local entry {entry:?}; use host, host:port, ip, ip:port or a CIDR like 10.0.0.0/8");
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
    let offset = text.find(&needle).unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
    Diagnostic { file: file.to_string(), line, column, message }
}

impl Config {
    /// The policy the hook layer enforces for this config.
    pub fn layer_policy(&self) -> LayerPolicy {
        LayerPolicy {
            fs: FsPolicy {
                mode: match self.fs.mode {
                    FsModeConfig::Read => FsMode::Read,
                    FsModeConfig::Write => FsMode::Write,
                    FsModeConfig::Local => FsMode::Local,
                },
                local: self.fs.local.clone(),
                read_only: self.fs.read_only.clone(),
                read_write: self.fs.read_write.clone(),
                not_found: self.fs.not_found.clone(),
            },
            dns: DnsPolicy { enabled: self.dns.enabled, local: self.dns.local.clone() },
            outgoing: OutgoingPolicy {
                tcp: self.outgoing.tcp,
                udp: self.outgoing.udp,
                local: self.outgoing.local.clone(),
            },
            skip_processes: self.skip_processes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnose(text: &str) -> Diagnostic {
        parse("c.json", text).unwrap_err().remove(0)
    }

    #[test]
    fn parse_full_config_converts_to_policy() {
        let text = r#"{
            "env": {"include": ["DB_*"], "exclude": ["DB_PASSWORD"], "override": {"A": "1"}, "unset": ["B"]},
            "fs": {"mode": "write", "local": ["^/data"], "not_found": ["^/etc/x$"]},
            "dns": {"enabled": false, "local": ["*.corp"]},
            "outgoing": {"tcp": true, "udp": false, "local": ["10.0.0.0/8", "db:5432"]},
            "skip_processes": ["make"]
        }"#;
        let policy = parse("c.json", text).unwrap().layer_policy();
        assert_eq!(policy.fs.mode, FsMode::Write);
        assert_eq!(policy.fs.not_found, ["^/etc/x$"]);
        assert!(!policy.dns.enabled);
        assert!(!policy.outgoing.udp);
        assert_eq!(policy.skip_processes, ["make"]);
    }

    #[test]
    fn parse_unknown_key_points_at_it_with_a_fix() {
        let diagnostic = diagnose("{\n  \"fs\": {\n    \"mdoe\": \"read\"\n  }\n}");
        assert_eq!((diagnostic.line, diagnostic.column), (3, 10));
        assert!(diagnostic.message.starts_with("unknown field `mdoe`"), "{}", diagnostic.message);
        assert!(diagnostic.message.contains("fix its spelling"));
    }

    #[test]
    fn parse_wrong_type_names_the_expected_type() {
        let diagnostic = diagnose("{\"dns\": {\"enabled\": \"yes\"}}");
        assert_eq!(diagnostic.line, 1);
        assert!(diagnostic.message.contains("expected a boolean"), "{}", diagnostic.message);
    }

    #[test]
    fn parse_bad_regex_points_at_the_rule() {
        let diagnostic = diagnose("{\n\"fs\": {\"local\": [\"^/ok\", \"(unclosed\"]}\n}");
        assert_eq!((diagnostic.line, diagnostic.column), (2, 26));
        assert!(diagnostic.message.contains("invalid regular expression"));
    }

    #[test]
    fn parse_bad_cidr_is_reported() {
        let diagnostic = diagnose(r#"{"outgoing": {"local": ["10.0.0.0/40"]}}"#);
        assert!(diagnostic.message.contains("CIDR"));
    }

    #[test]
    fn parse_empty_object_gives_defaults() {
        let config = parse("c.json", "{}").unwrap();
        assert!(config.dns.enabled && config.outgoing.tcp && config.outgoing.udp);
        assert_eq!(config.fs.mode, FsModeConfig::Read);
    }
}
