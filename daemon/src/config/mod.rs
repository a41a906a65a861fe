//! The user's config file (JSON): its types, read by `parse` (precise diagnostics, validation of
//! rule lists), and their conversion into the hook layer's policy.

use std::collections::BTreeMap;

use serde::Deserialize;
use tether_rpc_schema::incoming::{HttpFilter, IncomingMode};
use tether_rpc_schema::policy::{DnsPolicy, FsMode, FsPolicy, IncomingPolicy, LayerPolicy, OutgoingPolicy};

mod parse;

pub use parse::{load, parse};

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
    use tether_rpc_schema::api::Diagnostic;

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
