// generated from rpc-schema/schema/api.json by extensions/vscode/scripts/generate-api.mjs; do not edit
// (npm run generate in extensions/vscode refreshes it)

/** The editor API version these types describe; `daemon.hello` takes it. */
export const API_VERSION = 1;

/**
 * What a [`SessionEvent`] reports.
 */
export type SessionEventKind = "progress" | "warning" | "ready" | "ended" | "failed";
/**
 * The id a subscription is answered with; its notifications carry it.
 */
export type SubscriptionId = number | string;

/**
 * A running agent.
 */
export interface AgentInfo {
  agent_id: string;
  /**
   * The agent's pod, for agents in a Kubernetes cluster.
   */
  pod?: AgentPodInfo | null;
  /**
   * Sessions using this agent now.
   */
  sessions: number;
  /**
   * Seconds since the Unix epoch.
   */
  started_at: number;
  target: string;
  /**
   * Process id of the target as the agent sees it.
   */
  target_pid: number;
}
/**
 * Where a Kubernetes agent runs.
 */
export interface AgentPodInfo {
  context: string;
  name: string;
  namespace: string;
  uid: string;
}
/**
 * `agents.stop` parameters.
 */
export interface AgentsStopParams {
  agent_id: string;
}
/**
 * One cache of the daemon (targets of a context, kubeconfig contexts, ...).
 */
export interface CacheInfo {
  /**
   * Seconds since the cache was last refreshed.
   */
  age_secs: number;
  entries: number;
  name: string;
}
/**
 * `data` of a [`codes::CONFIG_INVALID`] error.
 */
export interface ConfigInvalidData {
  diagnostics: Diagnostic[];
}
/**
 * One problem found in a config file; lines and columns start at 1.
 */
export interface Diagnostic {
  column: number;
  file: string;
  line: number;
  message: string;
}
/**
 * `config.validate` and `config.resolve` parameters: a file, or text (with a name for
 * diagnostics).
 */
export interface ConfigParams {
  path?: string | null;
  /**
   * The config's text, e.g. an unsaved editor buffer; `path` then only names it.
   */
  text?: string | null;
}
/**
 * A kubeconfig context.
 */
export interface ContextInfo {
  cluster: string;
  current: boolean;
  name: string;
  namespace?: string | null;
}
/**
 * `daemon.hello` parameters.
 */
export interface HelloParams {
  api_version: number;
  /**
   * Who is calling, e.g. `tether-cli 0.1.0` or `vscode 0.1.0`.
   */
  client: string;
}
/**
 * `daemon.hello` result.
 */
export interface HelloResult {
  api_version: number;
  capabilities?: string[];
  daemon_version: string;
  pid: number;
  /**
   * Version of the wire protocol spoken with hook layers and agents.
   */
  protocol_version: number;
}
/**
 * How the IDE (or the CLI) is about to start the user process.
 */
export interface Launch {
  args?: string[];
  cwd?: string | null;
  /**
   * The debug adapter type (`node`, `pwa-node`, `python`, `debugpy`, `go`, `java`,
   * `coreclr`, `lldb`, `cppdbg`), when launched by an IDE debugger.
   */
  debug_type?: string | null;
  /**
   * The environment the process would get without tether.
   */
  env?: {
    [k: string]: string;
  };
  program: string;
}
/**
 * `namespaces.list` parameters.
 */
export interface NamespacesListParams {
  /**
   * The kubeconfig context; the current one when absent.
   */
  context?: string | null;
}
/**
 * `targets.prewarm` result.
 */
export interface PrewarmResult {
  agent_id: string;
}
/**
 * `session.end` parameters.
 */
export interface SessionEndParams {
  session_id: string;
}
/**
 * `session.event` notification.
 */
export interface SessionEvent {
  kind: SessionEventKind;
  message: string;
  /**
   * The preparation id the client gave `session.prepare`, if any.
   */
  preparation?: string | null;
  /**
   * The session, or the session being prepared (empty before it has an id).
   */
  session_id: string;
  target: string;
}
/**
 * `session.events` parameters: one session's events, or every session's.
 */
export interface SessionEventsParams {
  /**
   * Only the events of the preparation with this id (see [`SessionPrepareParams`]).
   */
  preparation?: string | null;
  session_id?: string | null;
}
/**
 * A live session.
 */
export interface SessionInfo {
  agent_id: string;
  program: string;
  session_id: string;
  /**
   * Seconds since the Unix epoch.
   */
  started_at: number;
  target: string;
}
/**
 * `session.prepare` parameters.
 */
export interface SessionPrepareParams {
  /**
   * A config given inline; wins over `config_path`.
   */
  config?: {
    [k: string]: unknown;
  };
  /**
   * Absolute path of a JSON config file.
   */
  config_path?: string | null;
  /**
   * The kubeconfig context; else the config's `context`, else the current one.
   */
  context?: string | null;
  launch: Launch;
  /**
   * The target's namespace; else the config's `namespace`, else the context's.
   */
  namespace?: string | null;
  /**
   * An id the client chose: every `session.event` of this preparation and of the session it
   * makes carries it, so a client can subscribe (`session.events` with `preparation`) before
   * the session has an id and see the agent start.
   */
  preparation?: string | null;
  /**
   * `kind/name[/container/NAME]`, e.g. `deployment/orders`, `pod/web-0/container/app`,
   * `targetless`, `pid/4242` or `container/orders`; else the config's `target`.
   */
  target?: string | null;
}
/**
 * `session.prepare` result: all the IDE needs to start the process.
 */
export interface SessionPrepared {
  /**
   * Variables to set on top of `launch.env` (the target's env after filters, `LD_PRELOAD`,
   * session variables).
   */
  env: {
    [k: string]: string;
  };
  session_id: string;
  /**
   * Variables of `launch.env` to remove.
   */
  unset: string[];
  warnings?: string[];
}
/**
 * `daemon.status` result.
 */
export interface StatusResult {
  agents: AgentInfo[];
  caches?: CacheInfo[];
  daemon_version: string;
  /**
   * The daemon's current log file.
   */
  log_path: string;
  pid: number;
  sessions: SessionInfo[];
  uptime_secs: number;
}
/**
 * One target a session can be prepared for.
 */
export interface TargetInfo {
  /**
   * Kubernetes targets: the container names a target may add (`/container/NAME`).
   */
  containers?: string[];
  context?: string | null;
  /**
   * Something a person recognises it by (a command line, an image).
   */
  description?: string | null;
  kind: string;
  name: string;
  namespace?: string | null;
  /**
   * Pods: the node it runs on.
   */
  node?: string | null;
  ready: boolean;
  /**
   * Kubernetes targets: ready pods (replicas) and how many there should be.
   */
  ready_count?: number | null;
  /**
   * What `session.prepare` takes, e.g. `pid/4242` or `deployment/orders`.
   */
  target: string;
  total_count?: number | null;
}
/**
 * `targets.changed` notification.
 */
export interface TargetsChanged {
  context?: string | null;
  namespace?: string | null;
  targets: TargetInfo[];
}
/**
 * `targets.list` and `targets.watch` parameters.
 */
export interface TargetsListParams {
  /**
   * Every namespace instead of one.
   */
  all_namespaces?: boolean;
  /**
   * The kubeconfig context (the current one when absent).
   */
  context?: string | null;
  /**
   * Only targets of this kind (`pod`, `deployment`, …).
   */
  kind?: string | null;
  /**
   * The processes of this machine in network namespaces of their own, instead of a cluster's
   * workloads.
   */
  local?: boolean;
  /**
   * The namespace (the context's when absent).
   */
  namespace?: string | null;
}
/**
 * `targets.prewarm` parameters.
 */
export interface TargetsPrewarmParams {
  /**
   * A config given inline; wins over `config_path`.
   */
  config?: {
    [k: string]: unknown;
  };
  /**
   * The config the session will use, when it says how to find the target (its `container`
   * section): the warmed agent is then the one `session.prepare` reuses.
   */
  config_path?: string | null;
  context?: string | null;
  namespace?: string | null;
  target: string;
}
/**
 * `config.validate` result.
 */
export interface ValidateResult {
  diagnostics: Diagnostic[];
}

/** Every request method: its parameters (`null`: it takes none) and its result. */
export interface Requests {
  /** The first call of every client: versions and capabilities; INCOMPATIBLE_VERSION when the API versions differ. */
  "daemon.hello": { params: HelloParams; result: HelloResult };
  /** The daemon, its sessions, agents and caches. */
  "daemon.status": { params: null; result: StatusResult };
  /** Stops the daemon; its sessions end and its agents stop. */
  "daemon.shutdown": { params: null; result: null };
  /** The kubeconfig's contexts, the current one marked. */
  "contexts.list": { params: null; result: ContextInfo[] };
  /** The namespaces of a context. */
  "namespaces.list": { params: NamespacesListParams; result: string[] };
  /** Workloads and pods of a namespace (or all), or the host's local targets; from the daemon's caches. */
  "targets.list": { params: TargetsListParams; result: TargetInfo[] };
  /** Starts (or keeps) the agent of a target so that the next session.prepare on it is fast. */
  "targets.prewarm": { params: TargetsPrewarmParams; result: PrewarmResult };
  /** A config file (or unsaved text) with every default filled in, as config.schema.json describes it. */
  "config.resolve": { params: ConfigParams; result: unknown };
  /** A config file's (or unsaved text's) diagnostics. */
  "config.validate": { params: ConfigParams; result: ValidateResult };
  /** Starts a session on a target (starting its agent if needed) and returns what to launch the program with. */
  "session.prepare": { params: SessionPrepareParams; result: SessionPrepared };
  /** The daemon's sessions. */
  "session.list": { params: null; result: SessionInfo[] };
  /** Ends a session. */
  "session.end": { params: SessionEndParams; result: null };
  /** The daemon's agents, warm ones included. */
  "agents.list": { params: null; result: AgentInfo[] };
  /** Stops an agent of the pool. */
  "agents.stop": { params: AgentsStopParams; result: null };
}

/** Every subscription: its parameters, the notification it sends and that notification's payload. */
export interface Subscriptions {
  /** The same listing as targets.list, sent again whenever it changes. */
  "targets.watch": { params: TargetsListParams; notification: "targets.changed"; item: TargetsChanged; unsubscribe: "targets.unwatch" };
  /** A session's (or every session's) progress and lifecycle events. */
  "session.events": { params: SessionEventsParams; notification: "session.event"; item: SessionEvent; unsubscribe: "session.unevents" };
}

/** Every notification by name, with its payload. */
export interface Notifications {
  "targets.changed": TargetsChanged;
  "session.event": SessionEvent;
}

export const REQUEST_METHODS = [
  "daemon.hello",
  "daemon.status",
  "daemon.shutdown",
  "contexts.list",
  "namespaces.list",
  "targets.list",
  "targets.prewarm",
  "config.resolve",
  "config.validate",
  "session.prepare",
  "session.list",
  "session.end",
  "agents.list",
  "agents.stop"
] as const;

export const NOTIFICATIONS = [
  "targets.changed",
  "session.event"
] as const;

/** The API's JSON-RPC error codes. */
export const ErrorCodes = {
  /** The target does not exist (no such process, container or workload). `data.reason`. */
  TARGET_NOT_FOUND: -32001,
  /** The config is invalid; `data` is a `ConfigInvalidData`. */
  CONFIG_INVALID: -32002,
  /** The agent could not start; `data.reason` says why. */
  AGENT_START_FAILED: -32003,
  /** The cluster could not be reached; `data.context` and `data.reason`. */
  CLUSTER_UNREACHABLE: -32004,
  /** The caller or the agent lacks a permission. `data.reason`. */
  NOT_PERMITTED: -32005,
  /** Client and daemon speak different API versions; `data.daemon_api_version`. */
  INCOMPATIBLE_VERSION: -32006,
  /** No session (or agent) with that id. */
  SESSION_NOT_FOUND: -32007,
  /** The target exists but cannot be used now: a pod not ready, a container not running, a job or cronjob with no running pod. `data.reason` names its phase or state. */
  TARGET_NOT_READY: -32008,
  /** The namespace's pod security admission refused the agent pod. `data.reason` is Kubernetes' message. */
  POD_SECURITY_REJECTED: -32009,
  /** The node could not pull the agent image. `data.reason`. */
  IMAGE_PULL_FAILED: -32010,
  /** The node refused to run the agent pod (resources, node gone). `data.reason`. */
  NODE_REFUSED: -32011,
  /** The agent pod did not report ready in time. `data.reason` has its last observed state. */
  AGENT_START_TIMEOUT: -32012,
} as const;

export type ErrorCodeName = keyof typeof ErrorCodes;
