//! The daemon's editor API: JSON-RPC method names, parameters, results, notifications and error
//! codes, shared by the CLI, `tether lsp` and the editor extensions. The JSON Schema of every
//! type here is exported to `rpc-schema/schema/` (see [`crate::schema`]); the extensions' types
//! are generated from it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the editor API; a client with a different version gets
/// [`codes::INCOMPATIBLE_VERSION`] from `daemon.hello`.
pub const API_VERSION: u32 = 1;

/// JSON-RPC method, subscription and notification names; what each one is and takes is in
/// [`METHODS`].
pub mod methods {
    pub const DAEMON_HELLO: &str = "daemon.hello";
    pub const DAEMON_STATUS: &str = "daemon.status";
    pub const DAEMON_SHUTDOWN: &str = "daemon.shutdown";
    pub const CONTEXTS_LIST: &str = "contexts.list";
    pub const NAMESPACES_LIST: &str = "namespaces.list";
    pub const TARGETS_LIST: &str = "targets.list";
    pub const TARGETS_WATCH: &str = "targets.watch";
    pub const TARGETS_UNWATCH: &str = "targets.unwatch";
    pub const TARGETS_CHANGED: &str = "targets.changed";
    pub const TARGETS_PREWARM: &str = "targets.prewarm";
    pub const CONFIG_RESOLVE: &str = "config.resolve";
    pub const CONFIG_VALIDATE: &str = "config.validate";
    pub const SESSION_PREPARE: &str = "session.prepare";
    pub const SESSION_LIST: &str = "session.list";
    pub const SESSION_END: &str = "session.end";
    pub const SESSION_EVENTS: &str = "session.events";
    pub const SESSION_UNEVENTS: &str = "session.unevents";
    pub const SESSION_EVENT: &str = "session.event";
    pub const AGENTS_LIST: &str = "agents.list";
    pub const AGENTS_STOP: &str = "agents.stop";
}

/// Writes the schema of one type into a generator (a `$ref` to its definition).
pub type SchemaOf = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// One method of the API.
#[derive(Clone, Copy)]
pub struct Method {
    pub name: &'static str,
    pub doc: &'static str,
    /// `None`: the method takes no parameters.
    pub params: Option<SchemaOf>,
    pub result: SchemaOf,
    pub kind: MethodKind,
}

/// The id a subscription is answered with; its notifications carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SubscriptionId {
    Number(u64),
    Text(String),
}

/// How a method answers.
#[derive(Clone, Copy)]
pub enum MethodKind {
    /// One response, `result`.
    Request,
    /// The response is a subscription id; then `notification`s carry `item`s until the client
    /// calls `unsubscribe` or disconnects.
    Subscription { notification: &'static str, item: SchemaOf, unsubscribe: &'static str },
}

/// Every method the daemon serves: the one list that the daemon registers, `tether lsp`
/// forwards and `rpc-schema/schema/api.json` exports (a test of each checks it).
pub const METHODS: &[Method] = &[
    Method {
        name: methods::DAEMON_HELLO,
        doc: "The first call of every client: versions and capabilities; INCOMPATIBLE_VERSION when the API versions differ.",
        params: Some(schema::<HelloParams>),
        result: schema::<HelloResult>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::DAEMON_STATUS,
        doc: "The daemon, its sessions, agents and caches.",
        params: None,
        result: schema::<StatusResult>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::DAEMON_SHUTDOWN,
        doc: "Stops the daemon; its sessions end and its agents stop.",
        params: None,
        result: schema::<()>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::CONTEXTS_LIST,
        doc: "The kubeconfig's contexts, the current one marked.",
        params: None,
        result: schema::<Vec<ContextInfo>>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::NAMESPACES_LIST,
        doc: "The namespaces of a context.",
        params: Some(schema::<NamespacesListParams>),
        result: schema::<Vec<String>>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::TARGETS_LIST,
        doc: "Workloads and pods of a namespace (or all), or the host's local targets; from the daemon's caches.",
        params: Some(schema::<TargetsListParams>),
        result: schema::<Vec<TargetInfo>>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::TARGETS_WATCH,
        doc: "The same listing as targets.list, sent again whenever it changes.",
        params: Some(schema::<TargetsListParams>),
        result: schema::<SubscriptionId>,
        kind: MethodKind::Subscription {
            notification: methods::TARGETS_CHANGED,
            item: schema::<TargetsChanged>,
            unsubscribe: methods::TARGETS_UNWATCH,
        },
    },
    Method {
        name: methods::TARGETS_PREWARM,
        doc: "Starts (or keeps) the agent of a target so that the next session.prepare on it is fast.",
        params: Some(schema::<TargetsPrewarmParams>),
        result: schema::<PrewarmResult>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::CONFIG_RESOLVE,
        doc: "A config file (or unsaved text) with every default filled in, as config.schema.json describes it.",
        params: Some(schema::<ConfigParams>),
        result: schema::<serde_json::Value>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::CONFIG_VALIDATE,
        doc: "A config file's (or unsaved text's) diagnostics.",
        params: Some(schema::<ConfigParams>),
        result: schema::<ValidateResult>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::SESSION_PREPARE,
        doc: "Starts a session on a target (starting its agent if needed) and returns what to launch the program with.",
        params: Some(schema::<SessionPrepareParams>),
        result: schema::<SessionPrepared>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::SESSION_LIST,
        doc: "The daemon's sessions.",
        params: None,
        result: schema::<Vec<SessionInfo>>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::SESSION_END,
        doc: "Ends a session.",
        params: Some(schema::<SessionEndParams>),
        result: schema::<()>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::SESSION_EVENTS,
        doc: "A session's (or every session's) progress and lifecycle events.",
        params: Some(schema::<SessionEventsParams>),
        result: schema::<SubscriptionId>,
        kind: MethodKind::Subscription {
            notification: methods::SESSION_EVENT,
            item: schema::<SessionEvent>,
            unsubscribe: methods::SESSION_UNEVENTS,
        },
    },
    Method {
        name: methods::AGENTS_LIST,
        doc: "The daemon's agents, warm ones included.",
        params: None,
        result: schema::<Vec<AgentInfo>>,
        kind: MethodKind::Request,
    },
    Method {
        name: methods::AGENTS_STOP,
        doc: "Stops an agent of the pool.",
        params: Some(schema::<AgentsStopParams>),
        result: schema::<()>,
        kind: MethodKind::Request,
    },
];

/// Declares the error codes once: a constant per code in [`codes`] and the table
/// [`ERROR_CODES`] (what `rpc-schema/schema/api.json` exports), with the same doc text.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $code:literal;)+) => {
        /// Stable JSON-RPC error codes of the editor API. `data` is described per code.
        pub mod codes {
            $($(#[doc = $doc])+ pub const $name: i32 = $code;)+
        }
        /// Every error code, in the order declared.
        pub const ERROR_CODES: &[ErrorCode] =
            &[$(ErrorCode { name: stringify!($name), code: $code, doc: concat!($($doc, "\n"),+) }),+];
    };
}

/// One entry of [`ERROR_CODES`].
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode {
    pub name: &'static str,
    pub code: i32,
    /// The constant's doc comment, one line per doc line.
    pub doc: &'static str,
}

error_codes! {
    /// The target does not exist (no such process, container or workload). `data.reason`.
    TARGET_NOT_FOUND = -32001;
    /// The config is invalid; `data` is a `ConfigInvalidData`.
    CONFIG_INVALID = -32002;
    /// The agent could not start; `data.reason` says why.
    AGENT_START_FAILED = -32003;
    /// The cluster could not be reached; `data.context` and `data.reason`.
    CLUSTER_UNREACHABLE = -32004;
    /// The caller or the agent lacks a permission. `data.reason`.
    NOT_PERMITTED = -32005;
    /// Client and daemon speak different API versions; `data.daemon_api_version`.
    INCOMPATIBLE_VERSION = -32006;
    /// No session (or agent) with that id.
    SESSION_NOT_FOUND = -32007;
    /// The target exists but cannot be used now: a pod not ready, a container not running, a
    /// job or cronjob with no running pod. `data.reason` names its phase or state.
    TARGET_NOT_READY = -32008;
    /// The namespace's pod security admission refused the agent pod. `data.reason` is
    /// Kubernetes' message.
    POD_SECURITY_REJECTED = -32009;
    /// The node could not pull the agent image. `data.reason`.
    IMAGE_PULL_FAILED = -32010;
    /// The node refused to run the agent pod (resources, node gone). `data.reason`.
    NODE_REFUSED = -32011;
    /// The agent pod did not report ready in time. `data.reason` has its last observed state.
    AGENT_START_TIMEOUT = -32012;
}

/// `daemon.hello` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HelloParams {
    /// Who is calling, e.g. `tether-cli 0.1.0` or `vscode 0.1.0`.
    pub client: String,
    pub api_version: u32,
}

/// `daemon.hello` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HelloResult {
    pub daemon_version: String,
    pub api_version: u32,
    /// Version of the wire protocol spoken with hook layers and agents.
    pub protocol_version: u32,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub pid: u32,
}

/// `daemon.status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusResult {
    pub daemon_version: String,
    pub pid: u32,
    pub uptime_secs: u64,
    /// The daemon's current log file.
    pub log_path: String,
    pub sessions: Vec<SessionInfo>,
    pub agents: Vec<AgentInfo>,
    #[serde(default)]
    pub caches: Vec<CacheInfo>,
}

/// One cache of the daemon (targets of a context, kubeconfig contexts, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CacheInfo {
    pub name: String,
    pub entries: u64,
    /// Seconds since the cache was last refreshed.
    pub age_secs: u64,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    pub session_id: String,
    pub target: String,
    pub agent_id: String,
    pub program: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
}

/// A running agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentInfo {
    pub agent_id: String,
    pub target: String,
    /// Process id of the target as the agent sees it.
    pub target_pid: u32,
    /// Sessions using this agent now.
    pub sessions: u32,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    /// The agent's pod, for agents in a Kubernetes cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<AgentPodInfo>,
}

/// Where a Kubernetes agent runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentPodInfo {
    pub context: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// `agents.stop` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgentsStopParams {
    pub agent_id: String,
}

/// A kubeconfig context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContextInfo {
    pub name: String,
    pub cluster: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub current: bool,
}

/// `namespaces.list` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct NamespacesListParams {
    /// The kubeconfig context; the current one when absent.
    #[serde(default)]
    pub context: Option<String>,
}

/// `targets.list` and `targets.watch` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct TargetsListParams {
    /// The processes of this machine in network namespaces of their own, instead of a cluster's
    /// workloads.
    #[serde(default)]
    pub local: bool,
    /// The kubeconfig context (the current one when absent).
    #[serde(default)]
    pub context: Option<String>,
    /// The namespace (the context's when absent).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Every namespace instead of one.
    #[serde(default)]
    pub all_namespaces: bool,
    /// Only targets of this kind (`pod`, `deployment`, …).
    #[serde(default)]
    pub kind: Option<String>,
}

/// One target a session can be prepared for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetInfo {
    /// What `session.prepare` takes, e.g. `pid/4242` or `deployment/orders`.
    pub target: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    /// Something a person recognises it by (a command line, an image).
    #[serde(default)]
    pub description: Option<String>,
    pub ready: bool,
    /// Kubernetes targets: ready pods (replicas) and how many there should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u32>,
    /// Kubernetes targets: the container names a target may add (`/container/NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// Pods: the node it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// `targets.changed` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetsChanged {
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub targets: Vec<TargetInfo>,
}

/// `targets.prewarm` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetsPrewarmParams {
    pub target: String,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// The config the session will use, when it says how to find the target (its `container`
    /// section): the warmed agent is then the one `session.prepare` reuses.
    #[serde(default)]
    pub config_path: Option<String>,
    /// A config given inline; wins over `config_path`.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// `targets.prewarm` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PrewarmResult {
    pub agent_id: String,
}

/// `config.validate` and `config.resolve` parameters: a file, or text (with a name for
/// diagnostics).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ConfigParams {
    #[serde(default)]
    pub path: Option<String>,
    /// The config's text, e.g. an unsaved editor buffer; `path` then only names it.
    #[serde(default)]
    pub text: Option<String>,
}

/// `config.validate` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ValidateResult {
    pub diagnostics: Vec<Diagnostic>,
}

/// How the IDE (or the CLI) is about to start the user process.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Launch {
    /// The debug adapter type (`node`, `pwa-node`, `python`, `debugpy`, `go`, `java`,
    /// `coreclr`, `lldb`, `cppdbg`), when launched by an IDE debugger.
    #[serde(default)]
    pub debug_type: Option<String>,
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    /// The environment the process would get without tether.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `session.prepare` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SessionPrepareParams {
    /// `kind/name[/container/NAME]`, e.g. `deployment/orders`, `pod/web-0/container/app`,
    /// `targetless`, `pid/4242` or `container/orders`; else the config's `target`.
    #[serde(default)]
    pub target: Option<String>,
    /// The kubeconfig context; else the config's `context`, else the current one.
    #[serde(default)]
    pub context: Option<String>,
    /// The target's namespace; else the config's `namespace`, else the context's.
    #[serde(default)]
    pub namespace: Option<String>,
    /// An id the client chose: every `session.event` of this preparation and of the session it
    /// makes carries it, so a client can subscribe (`session.events` with `preparation`) before
    /// the session has an id and see the agent start.
    #[serde(default)]
    pub preparation: Option<String>,
    /// Absolute path of a JSON config file.
    #[serde(default)]
    pub config_path: Option<String>,
    /// A config given inline; wins over `config_path`.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    pub launch: Launch,
}

/// `session.prepare` result: all the IDE needs to start the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionPrepared {
    pub session_id: String,
    /// Variables to set on top of `launch.env` (the target's env after filters, `LD_PRELOAD`,
    /// session variables).
    pub env: BTreeMap<String, String>,
    /// Variables of `launch.env` to remove.
    pub unset: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `session.end` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionEndParams {
    pub session_id: String,
}

/// `session.events` parameters: one session's events, or every session's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SessionEventsParams {
    #[serde(default)]
    pub session_id: Option<String>,
    /// Only the events of the preparation with this id (see [`SessionPrepareParams`]).
    #[serde(default)]
    pub preparation: Option<String>,
}

/// `session.event` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionEvent {
    /// The session, or the session being prepared (empty before it has an id).
    pub session_id: String,
    pub target: String,
    pub kind: SessionEventKind,
    pub message: String,
    /// The preparation id the client gave `session.prepare`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preparation: Option<String>,
}

/// What a [`SessionEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionEventKind {
    /// A step of preparation (starting the agent, reading the environment).
    Progress,
    /// Something the user should know but that does not stop the session.
    Warning,
    /// The session is ready.
    Ready,
    /// The session ended.
    Ended,
    /// The session failed or lost its agent.
    Failed,
}

/// One problem found in a config file; lines and columns start at 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    /// `file:line:column: message`, as compilers print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

/// `data` of a [`codes::CONFIG_INVALID`] error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigInvalidData {
    pub diagnostics: Vec<Diagnostic>,
}
