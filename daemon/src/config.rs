//! The user's config file (JSON): parsing with precise diagnostics, validation of rule lists,
//! and conversion into the hook layer's policy.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use std::path::PathBuf;

use serde::Deserialize;
use tether_rpc_schema::api::Diagnostic;
use tether_rpc_schema::incoming::{HttpFilter, IncomingMode};
use tether_rpc_schema::policy::{DnsPolicy, FsMode, FsPolicy, IncomingPolicy, LayerPolicy, OutgoingPolicy};

/// A tether config file (`.tether/config.json`): which parts of the target's context the
/// process takes on. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Lets editors validate the file against the published schema; otherwise unused.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The target when the launch names none: `deployment/orders`, `pod/web-0/container/app`,
    /// `service/orders`, `targetless`, … (or `pid/N`, `container/NAME` on this machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The kubeconfig context (default: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The target's namespace (default: the context's, else `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Which of the target's environment variables the process gets.
    #[serde(default)]
    pub env: EnvConfig,
    /// Which files come from the target and which stay on this machine.
    #[serde(default)]
    pub fs: FsConfig,
    /// Name resolution with the target's resolv.conf and hosts.
    #[serde(default)]
    pub dns: DnsConfig,
    /// Outgoing connections leaving from the target's network.
    #[serde(default)]
    pub outgoing: OutgoingConfig,
    /// The host name the process sees (`hostname`, `gethostname()`, `uname().nodename`):
    /// `target` (default), the target's, as in the pod; `host`, this machine's.
    #[serde(default)]
    pub hostname: HostnameConfig,
    /// Programs whose calls are not hooked (their children still are).
    #[serde(default)]
    pub skip_processes: Vec<String>,
    /// Traffic arriving at the target on the ports the process listens on.
    #[serde(default)]
    pub incoming: IncomingConfig,
    /// How `container/` targets are found.
    #[serde(default)]
    pub container: ContainerConfig,
    /// How agents are started in a Kubernetes cluster.
    #[serde(default)]
    pub agent: AgentConfig,
}

/// The agent pod the daemon creates for a Kubernetes target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent's container image.
    #[serde(default = "default_agent_image")]
    pub image: String,
    /// `IfNotPresent` (default), `Always` or `Never`.
    #[serde(default)]
    pub image_pull_policy: PullPolicy,
    /// Where agent pods are created (default: the target's namespace). A namespace whose pod
    /// security forbids host namespaces needs another one here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Run the agent privileged rather than with the capabilities it needs only.
    #[serde(default)]
    pub privileged: bool,
    /// The agent container's resource requests and limits, as in a pod spec.
    #[serde(default)]
    pub resources: AgentResources,
    /// Seconds an agent pod may take to start and report ready (default 60, image pull included).
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout_secs: u64,
    /// Seconds an agent stays warm after its last session ended, for the next session on the
    /// same target (default 600).
    #[serde(default = "default_idle_ttl")]
    pub idle_ttl_secs: u64,
    /// Run the agent as an ephemeral container of the target pod (no `hostPID`, no pod of its
    /// own; Kubernetes keeps the terminated container in the pod's spec afterwards).
    #[serde(default)]
    pub ephemeral: bool,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            image: default_agent_image(),
            image_pull_policy: PullPolicy::default(),
            namespace: None,
            privileged: false,
            resources: AgentResources::default(),
            startup_timeout_secs: default_startup_timeout(),
            idle_ttl_secs: default_idle_ttl(),
            ephemeral: false,
        }
    }
}

/// The agent image of this tether version.
pub const AGENT_IMAGE: &str = concat!("ghcr.io/tether-dev/tether-agent:", env!("CARGO_PKG_VERSION"));

fn default_agent_image() -> String {
    AGENT_IMAGE.to_string()
}

fn default_startup_timeout() -> u64 {
    60
}

fn default_idle_ttl() -> u64 {
    600
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema)]
pub enum PullPolicy {
    #[default]
    IfNotPresent,
    Always,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// Quantities by resource name (`cpu`, `memory`), e.g. `{"cpu": "100m", "memory": "64Mi"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentResources {
    #[serde(default = "default_requests")]
    pub requests: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

impl Default for AgentResources {
    fn default() -> AgentResources {
        AgentResources { requests: default_requests(), limits: BTreeMap::new() }
    }
}

fn default_requests() -> BTreeMap<String, String> {
    BTreeMap::from([("cpu".to_string(), "10m".to_string()), ("memory".to_string(), "16Mi".to_string())])
}

/// The container runtime that knows `container/` targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerConfig {
    /// `containerd` (default) or `docker`.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// The runtime's Unix socket (default `/run/containerd/containerd.sock` for containerd,
    /// `/var/run/docker.sock` for docker).
    #[serde(default)]
    pub socket: Option<std::path::PathBuf>,
    /// The containerd namespace to search, e.g. `k8s.io` (default: every namespace).
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeConfig {
    /// containerd's API; Kubernetes nodes keep their pods in namespace `k8s.io`.
    #[default]
    Containerd,
    /// Docker Engine's API.
    Docker,
}

impl RuntimeConfig {
    /// The agent's `--runtime` value.
    pub fn as_arg(self) -> &'static str {
        match self {
            RuntimeConfig::Containerd => "containerd",
            RuntimeConfig::Docker => "docker",
        }
    }
}

/// Which of the target's variables the user process gets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
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
    /// Start-up and code-loading variables to take from the target anyway, by exact name (e.g.
    /// `NODE_OPTIONS`, `BASH_ENV`, `BASH_FUNC_name%%`). Without this they keep this machine's
    /// value, because the target's would run the target's code here, as you.
    #[serde(default)]
    pub allow_code_loading: Vec<String>,
}

/// Whose host name the process sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostnameConfig {
    /// The target's (its UTS namespace's node name: a pod's name), which then also resolves
    /// as it does in the target.
    #[default]
    Target,
    /// This machine's own.
    Host,
}

/// Where file operations go when no rule names the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FsModeConfig {
    /// Reads come from the target; writes stay on this machine.
    #[default]
    Read,
    /// Reads and writes go to the target.
    Write,
    /// Everything stays on this machine.
    Local,
}

/// Which files come from the target. Rules are regular expressions over absolute paths;
/// precedence: `not_found`, `local`, `read_write`, `read_only`, built-in rules, `mode`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsConfig {
    /// Where file operations go when no rule names the path: `read` (default), `write`, `local`.
    #[serde(default)]
    pub mode: FsModeConfig,
    /// Paths that always stay on this machine.
    #[serde(default)]
    pub local: Vec<String>,
    /// Paths read from the target; writes to them stay on this machine.
    #[serde(default)]
    pub read_only: Vec<String>,
    /// Paths read from and written to the target.
    #[serde(default)]
    pub read_write: Vec<String>,
    /// Paths that do not exist for the process.
    #[serde(default)]
    pub not_found: Vec<String>,
}

/// Name resolution with the target's resolver; `localhost` and this machine's own name always
/// resolve here.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Resolve names with the target's resolv.conf and hosts (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Names resolved on this machine: exact names or `*.suffix` patterns.
    #[serde(default)]
    pub local: Vec<String>,
}

/// Outgoing connections from the target's network; loopback always stays on this machine.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutgoingConfig {
    /// Send TCP connections from the target's network (default true).
    #[serde(default = "yes")]
    pub tcp: bool,
    /// Send UDP traffic from the target's network (default true).
    #[serde(default = "yes")]
    pub udp: bool,
    /// Destinations kept on this machine: `host`, `host:port`, an address, `ip:port` or a CIDR.
    #[serde(default)]
    pub local: Vec<String>,
}

/// Traffic that arrives at the target on the ports the user process listens on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncomingConfig {
    /// `mirror` (default: the target keeps serving, the process gets a copy), `steal` (the
    /// process serves instead) or `off`.
    #[serde(default)]
    pub mode: IncomingModeConfig,
    /// Only matching HTTP requests are mirrored or stolen.
    #[serde(default)]
    pub http_filter: Option<HttpFilterConfig>,
    /// `"<target port>": <port the user process listens on>`.
    #[serde(default)]
    pub port_mapping: BTreeMap<String, u16>,
    /// Ports of the user process that are never subscribed.
    #[serde(default)]
    pub ignore_ports: Vec<u16>,
    /// Target ports to intercept even when nothing in the target listens on them; the process's
    /// other ports are then never intercepted. Without it, a port is intercepted only when the
    /// target listens on it (or `port_mapping` names it), so a debugger's or tool's port that
    /// the process opens is never reachable from the target's clients.
    #[serde(default)]
    pub ports: Option<Vec<u16>>,
    /// `all` (default: every ready pod of a deployment, stateful set, replica set or service
    /// is intercepted, followed as the workload scales) or `one` (only the pod whose context
    /// the process has).
    #[serde(default)]
    pub replicas: ReplicasConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplicasConfig {
    /// Every ready pod of the workload.
    #[default]
    All,
    /// Only the pod whose context the process has.
    One,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncomingModeConfig {
    /// The target's server still gets every connection; the process gets a copy of each.
    #[default]
    Mirror,
    /// Connections (or, with a filter, matching requests) go to the process instead.
    Steal,
    /// No incoming traffic reaches the process.
    Off,
}

/// `{"header": regex}` (matching a whole `Name: value` line: `"X-Tether-User: alice"` is not
/// `alicex`), `{"path": regex}` (searched for in path and query: `"^/orders"` for a prefix),
/// `{"method": name}`, `{"all_of": [..]}`, `{"any_of": [..]}`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpFilterConfig {
    Header(String),
    Path(String),
    Method(String),
    AllOf(Vec<HttpFilterConfig>),
    AnyOf(Vec<HttpFilterConfig>),
}

impl HttpFilterConfig {
    fn to_wire(&self) -> HttpFilter {
        match self {
            HttpFilterConfig::Header(regex) => HttpFilter::Header(regex.clone()),
            HttpFilterConfig::Path(regex) => HttpFilter::Path(regex.clone()),
            HttpFilterConfig::Method(method) => HttpFilter::Method(method.clone()),
            HttpFilterConfig::AllOf(filters) => HttpFilter::AllOf(filters.iter().map(Self::to_wire).collect()),
            HttpFilterConfig::AnyOf(filters) => HttpFilter::AnyOf(filters.iter().map(Self::to_wire).collect()),
        }
    }

    /// Every regular expression of the filter.
    fn regexes(&self, out: &mut Vec<String>) {
        match self {
            HttpFilterConfig::Header(regex) | HttpFilterConfig::Path(regex) => out.push(regex.clone()),
            HttpFilterConfig::Method(_) => {}
            HttpFilterConfig::AllOf(filters) | HttpFilterConfig::AnyOf(filters) => {
                filters.iter().for_each(|filter| filter.regexes(out))
            }
        }
    }
}

impl IncomingConfig {
    fn policy(&self) -> IncomingPolicy {
        IncomingPolicy {
            mode: match self.mode {
                IncomingModeConfig::Mirror => Some(IncomingMode::Mirror),
                IncomingModeConfig::Steal => Some(IncomingMode::Steal),
                IncomingModeConfig::Off => None,
            },
            http_filter: self.http_filter.as_ref().map(HttpFilterConfig::to_wire),
            // Keys that are not ports are reported by `validate`.
            port_mapping: self
                .port_mapping
                .iter()
                .filter_map(|(target, local)| Some((target.parse().ok()?, *local)))
                .collect(),
            ignore_ports: self.ignore_ports.clone(),
            ports: self.ports.clone(),
        }
    }
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
            incoming: self.incoming.policy(),
            hostname: None,
        }
    }

    /// The host name the layer reports, given the target's (`None` when the agent could not
    /// tell it, or for `targetless`): the target's unless the config keeps the host's.
    pub fn reported_hostname(&self, target_hostname: Option<&str>) -> Option<String> {
        match self.hostname {
            HostnameConfig::Target => target_hostname.map(str::to_string),
            HostnameConfig::Host => None,
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
    fn every_wrong_section_is_reported_at_its_place() {
        let text = "{\n  \"incoming\": {\"mode\": \"stael\", \"ports\": \"80\"},\n  \"fs\": {\"mdoe\": \"read\"},\n  \"hostnme\": \"host\",\n  \"dns\": {\"enabled\": true}\n}";
        let diagnostics = parse("c.json", text).unwrap_err();
        let found: Vec<(usize, usize, &str)> = diagnostics
            .iter()
            .map(|diagnostic| (diagnostic.line, diagnostic.column, diagnostic.message.split(',').next().unwrap()))
            .collect();
        assert_eq!(
            found,
            [
                (2, 30, "unknown variant `stael`"),
                (2, 45, "invalid type: string \"80\""),
                (3, 15, "unknown field `mdoe`"),
                (4, 11, "unknown field `hostnme`"),
            ],
            "{diagnostics:#?}"
        );
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
    fn hostname_is_the_targets_unless_the_host_is_kept() {
        let default = parse("c.json", "{}").unwrap();
        assert_eq!(default.reported_hostname(Some("orders-7d4f")), Some("orders-7d4f".to_string()));
        assert_eq!(default.reported_hostname(None), None);
        let host = parse("c.json", r#"{"hostname": "host"}"#).unwrap();
        assert_eq!(host.reported_hostname(Some("orders-7d4f")), None);
    }

    #[test]
    fn parse_unknown_key_points_at_it_with_a_fix() {
        let diagnostic = diagnose("{\n  \"fs\": {\n    \"mdoe\": \"read\"\n  }\n}");
        assert_eq!((diagnostic.line, diagnostic.column), (3, 10));
        assert!(diagnostic.message.starts_with("unknown field `mdoe`"), "{}", diagnostic.message);
        assert!(diagnostic.message.contains("fix its spelling"));
    }

    #[test]
    fn parse_error_column_counts_characters_not_bytes() {
        let diagnostic = diagnose("{\"env\": {\"override\": {\"GRÜSSE\": \"hé\"}, \"bad\": 1}}");
        assert_eq!(
            diagnostic.column, 44,
            "the closing quote of \"bad\", two two-byte letters earlier: {}",
            diagnostic.message
        );
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
    fn parse_incoming_converts_to_policy() {
        let text = r#"{"incoming": {"mode": "steal", "port_mapping": {"80": 8080}, "ignore_ports": [7000],
            "http_filter": {"any_of": [{"header": "X-Tether-User: alice"}, {"all_of": [{"method": "GET"}, {"path": "^/debug"}]}]}}}"#;
        let policy = parse("c.json", text).unwrap().layer_policy().incoming;
        assert_eq!(policy.mode, Some(IncomingMode::Steal));
        assert_eq!(policy.target_port(8080), Some(80));
        assert_eq!(policy.target_port(7000), None);
        let expected = HttpFilter::AnyOf(vec![
            HttpFilter::Header("X-Tether-User: alice".into()),
            HttpFilter::AllOf(vec![HttpFilter::Method("GET".into()), HttpFilter::Path("^/debug".into())]),
        ]);
        assert_eq!(policy.http_filter, Some(expected));
        assert_eq!(policy.ports, None);
        let ports = parse("c.json", r#"{"incoming": {"ports": [9500]}}"#).unwrap().layer_policy().incoming;
        assert_eq!((ports.target_port(9500), ports.target_port(3000)), (Some(9500), None));
    }

    #[test]
    fn parse_incoming_defaults_to_mirror_and_off_turns_it_off() {
        let config = parse("c.json", "{}").unwrap();
        assert_eq!(config.layer_policy().incoming.mode, Some(IncomingMode::Mirror));
        let off = parse("c.json", r#"{"incoming": {"mode": "off"}}"#).unwrap();
        assert_eq!(off.layer_policy().incoming.target_port(8080), None);
    }

    #[test]
    fn parse_incoming_bad_filter_regex_and_mapping_are_reported_at_their_place() {
        let text =
            "{\"incoming\": {\n  \"http_filter\": {\"path\": \"(oops\"},\n  \"port_mapping\": {\"http\": 8080}}}";
        let diagnostics = parse("c.json", text).unwrap_err();
        assert_eq!((diagnostics[0].line, diagnostics[0].column), (2, 27));
        assert!(diagnostics[0].message.contains("invalid regular expression"), "{}", diagnostics[0].message);
        assert_eq!(diagnostics[1].line, 3);
        assert!(diagnostics[1].message.contains("port_mapping"), "{}", diagnostics[1].message);
    }

    #[test]
    fn parse_incoming_unknown_filter_kind_is_reported() {
        let diagnostic = diagnose(r#"{"incoming": {"http_filter": {"query": "x"}}}"#);
        assert!(diagnostic.message.contains("unknown variant `query`"), "{}", diagnostic.message);
    }

    #[test]
    fn parse_empty_object_gives_defaults() {
        let config = parse("c.json", "{}").unwrap();
        assert!(config.dns.enabled && config.outgoing.tcp && config.outgoing.udp);
        assert_eq!(config.fs.mode, FsModeConfig::Read);
    }
}

/// The config file's JSON Schema, with the doc comments above as descriptions; editors validate
/// `.tether/*.json` against it and `tether lsp` shows its descriptions on hover.
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(Config)
}

#[cfg(test)]
mod schema_tests {
    /// The committed `rpc-schema/schema/config.schema.json` matches the config types; refresh
    /// with `TETHER_UPDATE_SCHEMA=1 cargo test -p tether-daemon config_schema`.
    #[test]
    fn config_schema_committed_file_is_fresh() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rpc-schema/schema/config.schema.json");
        let fresh = tether_rpc_schema::schema::render(&super::json_schema());
        if std::env::var_os("TETHER_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is stale; run TETHER_UPDATE_SCHEMA=1 cargo test -p tether-daemon config_schema",
            path.display()
        );
    }
}
