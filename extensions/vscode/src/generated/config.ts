// generated from rpc-schema/schema/config.schema.json by extensions/vscode/scripts/generate-api.mjs; do not edit

/**
 * `{"header": regex}` (matching a whole `Name: value` line: `"X-Tether-User: alice"` is not
 * `alicex`), `{"path": regex}` (searched for in path and query: `"^/orders"` for a prefix),
 * `{"method": name}`, `{"all_of": [..]}`, `{"any_of": [..]}`.
 */
export type HttpFilterConfig =
  | {
      header: string;
    }
  | {
      path: string;
    }
  | {
      method: string;
    }
  | {
      all_of: HttpFilterConfig[];
    }
  | {
      any_of: HttpFilterConfig[];
    };
/**
 * Where file operations go when no rule names the path.
 */
export type FsModeConfig = "read" | "write" | "local";
/**
 * Whose host name the process sees.
 */
export type HostnameConfig = "target" | "host";
export type IncomingModeConfig = "mirror" | "steal" | "off";
export type PullPolicy = "IfNotPresent" | "Always" | "Never";
export type ReplicasConfig = "all" | "one";
export type RuntimeConfig = "containerd" | "docker";

/**
 * A tether config file (`.tether/config.json`): which parts of the target's context the
 * process takes on. Every key is optional.
 */
export interface Config {
  /**
   * Lets editors validate the file against the published schema; otherwise unused.
   */
  $schema?: string | null;
  agent?: AgentConfig;
  container?: ContainerConfig;
  /**
   * The kubeconfig context (default: the current one).
   */
  context?: string | null;
  dns?: DnsConfig;
  env?: EnvConfig;
  fs?: FsConfig;
  /**
   * The host name the process sees (`hostname`, `gethostname()`, `uname().nodename`):
   * `target` (default), the target's, as in the pod; `host`, this machine's.
   */
  hostname?: "target" | "host";
  incoming?: IncomingConfig;
  /**
   * The target's namespace (default: the context's, else `default`).
   */
  namespace?: string | null;
  outgoing?: OutgoingConfig;
  /**
   * Programs whose calls are not hooked (their children still are).
   */
  skip_processes?: string[];
  /**
   * The target when the launch names none: `deployment/orders`, `pod/web-0/container/app`,
   * `service/orders`, `targetless`, … (or `pid/N`, `container/NAME` on this machine).
   */
  target?: string | null;
}
/**
 * How agents are started in a Kubernetes cluster.
 */
export interface AgentConfig {
  /**
   * Run the agent as an ephemeral container of the target pod (no `hostPID`, no pod of its
   * own; Kubernetes keeps the terminated container in the pod's spec afterwards).
   */
  ephemeral?: boolean;
  /**
   * Seconds an agent stays warm after its last session ended, for the next session on the
   * same target (default 600).
   */
  idle_ttl_secs?: number;
  /**
   * The agent's container image.
   */
  image?: string;
  /**
   * `IfNotPresent` (default), `Always` or `Never`.
   */
  image_pull_policy?: "IfNotPresent" | "Always" | "Never";
  /**
   * Where agent pods are created (default: the target's namespace). A namespace whose pod
   * security forbids host namespaces needs another one here.
   */
  namespace?: string | null;
  /**
   * Run the agent privileged rather than with the capabilities it needs only.
   */
  privileged?: boolean;
  resources?: AgentResources;
  /**
   * Seconds an agent pod may take to start and report ready (default 60, image pull included).
   */
  startup_timeout_secs?: number;
}
/**
 * The agent container's resource requests and limits, as in a pod spec.
 */
export interface AgentResources {
  limits?: {
    [k: string]: string;
  };
  requests?: {
    [k: string]: string;
  };
}
/**
 * How `container/` targets are found.
 */
export interface ContainerConfig {
  /**
   * The containerd namespace to search, e.g. `k8s.io` (default: every namespace).
   */
  namespace?: string | null;
  /**
   * `containerd` (default) or `docker`.
   */
  runtime?: "containerd" | "docker";
  /**
   * The runtime's Unix socket (default `/run/containerd/containerd.sock` for containerd,
   * `/var/run/docker.sock` for docker).
   */
  socket?: string | null;
}
/**
 * Name resolution with the target's resolv.conf and hosts.
 */
export interface DnsConfig {
  /**
   * Resolve names with the target's resolv.conf and hosts (default true).
   */
  enabled?: boolean;
  /**
   * Names resolved on this machine: exact names or `*.suffix` patterns.
   */
  local?: string[];
}
/**
 * Which of the target's environment variables the process gets.
 */
export interface EnvConfig {
  /**
   * Start-up and code-loading variables to take from the target anyway, by exact name (e.g.
   * `NODE_OPTIONS`, `BASH_ENV`, `BASH_FUNC_name%%`). Without this they keep this machine's
   * value, because the target's would run the target's code here, as you.
   */
  allow_code_loading?: string[];
  /**
   * Glob patterns of target variables to leave out.
   */
  exclude?: string[];
  /**
   * Glob patterns; when given, only matching target variables are taken.
   */
  include?: string[];
  /**
   * Values that win over both the target's and the host's.
   */
  override?: {
    [k: string]: string;
  };
  /**
   * Variables removed from the launched process's environment.
   */
  unset?: string[];
}
/**
 * Which files come from the target and which stay on this machine.
 */
export interface FsConfig {
  /**
   * Paths that always stay on this machine.
   */
  local?: string[];
  /**
   * Where file operations go when no rule names the path: `read` (default), `write`, `local`.
   */
  mode?: "read" | "write" | "local";
  /**
   * Paths that do not exist for the process.
   */
  not_found?: string[];
  /**
   * Paths read from the target; writes to them stay on this machine.
   */
  read_only?: string[];
  /**
   * Paths read from and written to the target.
   */
  read_write?: string[];
}
/**
 * Traffic arriving at the target on the ports the process listens on.
 */
export interface IncomingConfig {
  /**
   * Only matching HTTP requests are mirrored or stolen.
   */
  http_filter?: HttpFilterConfig | null;
  /**
   * Ports of the user process that are never subscribed.
   */
  ignore_ports?: number[];
  /**
   * `mirror` (default: the target keeps serving, the process gets a copy), `steal` (the
   * process serves instead) or `off`.
   */
  mode?: "mirror" | "steal" | "off";
  /**
   * `"<target port>": <port the user process listens on>`.
   */
  port_mapping?: {
    [k: string]: number;
  };
  /**
   * Target ports to intercept even when nothing in the target listens on them; the process's
   * other ports are then never intercepted. Without it, a port is intercepted only when the
   * target listens on it (or `port_mapping` names it), so a debugger's or tool's port that
   * the process opens is never reachable from the target's clients.
   */
  ports?: number[] | null;
  /**
   * `all` (default: every ready pod of a deployment, stateful set, replica set or service
   * is intercepted, followed as the workload scales) or `one` (only the pod whose context
   * the process has).
   */
  replicas?: "all" | "one";
}
/**
 * Outgoing connections leaving from the target's network.
 */
export interface OutgoingConfig {
  /**
   * Destinations kept on this machine: `host`, `host:port`, an address, `ip:port` or a CIDR.
   */
  local?: string[];
  /**
   * Send TCP connections from the target's network (default true).
   */
  tcp?: boolean;
  /**
   * Send UDP traffic from the target's network (default true).
   */
  udp?: boolean;
}
/**
 * The agent pod the daemon creates for a Kubernetes target.
 */
export interface AgentConfig1 {
  /**
   * Run the agent as an ephemeral container of the target pod (no `hostPID`, no pod of its
   * own; Kubernetes keeps the terminated container in the pod's spec afterwards).
   */
  ephemeral?: boolean;
  /**
   * Seconds an agent stays warm after its last session ended, for the next session on the
   * same target (default 600).
   */
  idle_ttl_secs?: number;
  /**
   * The agent's container image.
   */
  image?: string;
  /**
   * `IfNotPresent` (default), `Always` or `Never`.
   */
  image_pull_policy?: "IfNotPresent" | "Always" | "Never";
  /**
   * Where agent pods are created (default: the target's namespace). A namespace whose pod
   * security forbids host namespaces needs another one here.
   */
  namespace?: string | null;
  /**
   * Run the agent privileged rather than with the capabilities it needs only.
   */
  privileged?: boolean;
  resources?: AgentResources;
  /**
   * Seconds an agent pod may take to start and report ready (default 60, image pull included).
   */
  startup_timeout_secs?: number;
}
/**
 * Quantities by resource name (`cpu`, `memory`), e.g. `{"cpu": "100m", "memory": "64Mi"}`.
 */
export interface AgentResources1 {
  limits?: {
    [k: string]: string;
  };
  requests?: {
    [k: string]: string;
  };
}
/**
 * The container runtime that knows `container/` targets.
 */
export interface ContainerConfig1 {
  /**
   * The containerd namespace to search, e.g. `k8s.io` (default: every namespace).
   */
  namespace?: string | null;
  /**
   * `containerd` (default) or `docker`.
   */
  runtime?: "containerd" | "docker";
  /**
   * The runtime's Unix socket (default `/run/containerd/containerd.sock` for containerd,
   * `/var/run/docker.sock` for docker).
   */
  socket?: string | null;
}
/**
 * Name resolution with the target's resolver; `localhost` and this machine's own name always
 * resolve here.
 */
export interface DnsConfig1 {
  /**
   * Resolve names with the target's resolv.conf and hosts (default true).
   */
  enabled?: boolean;
  /**
   * Names resolved on this machine: exact names or `*.suffix` patterns.
   */
  local?: string[];
}
/**
 * Which of the target's variables the user process gets.
 */
export interface EnvConfig1 {
  /**
   * Start-up and code-loading variables to take from the target anyway, by exact name (e.g.
   * `NODE_OPTIONS`, `BASH_ENV`, `BASH_FUNC_name%%`). Without this they keep this machine's
   * value, because the target's would run the target's code here, as you.
   */
  allow_code_loading?: string[];
  /**
   * Glob patterns of target variables to leave out.
   */
  exclude?: string[];
  /**
   * Glob patterns; when given, only matching target variables are taken.
   */
  include?: string[];
  /**
   * Values that win over both the target's and the host's.
   */
  override?: {
    [k: string]: string;
  };
  /**
   * Variables removed from the launched process's environment.
   */
  unset?: string[];
}
/**
 * Which files come from the target. Rules are regular expressions over absolute paths;
 * precedence: `not_found`, `local`, `read_write`, `read_only`, built-in rules, `mode`.
 */
export interface FsConfig1 {
  /**
   * Paths that always stay on this machine.
   */
  local?: string[];
  /**
   * Where file operations go when no rule names the path: `read` (default), `write`, `local`.
   */
  mode?: "read" | "write" | "local";
  /**
   * Paths that do not exist for the process.
   */
  not_found?: string[];
  /**
   * Paths read from the target; writes to them stay on this machine.
   */
  read_only?: string[];
  /**
   * Paths read from and written to the target.
   */
  read_write?: string[];
}
/**
 * Traffic that arrives at the target on the ports the user process listens on.
 */
export interface IncomingConfig1 {
  /**
   * Only matching HTTP requests are mirrored or stolen.
   */
  http_filter?: HttpFilterConfig | null;
  /**
   * Ports of the user process that are never subscribed.
   */
  ignore_ports?: number[];
  /**
   * `mirror` (default: the target keeps serving, the process gets a copy), `steal` (the
   * process serves instead) or `off`.
   */
  mode?: "mirror" | "steal" | "off";
  /**
   * `"<target port>": <port the user process listens on>`.
   */
  port_mapping?: {
    [k: string]: number;
  };
  /**
   * Target ports to intercept even when nothing in the target listens on them; the process's
   * other ports are then never intercepted. Without it, a port is intercepted only when the
   * target listens on it (or `port_mapping` names it), so a debugger's or tool's port that
   * the process opens is never reachable from the target's clients.
   */
  ports?: number[] | null;
  /**
   * `all` (default: every ready pod of a deployment, stateful set, replica set or service
   * is intercepted, followed as the workload scales) or `one` (only the pod whose context
   * the process has).
   */
  replicas?: "all" | "one";
}
/**
 * Outgoing connections from the target's network; loopback always stays on this machine.
 */
export interface OutgoingConfig1 {
  /**
   * Destinations kept on this machine: `host`, `host:port`, an address, `ip:port` or a CIDR.
   */
  local?: string[];
  /**
   * Send TCP connections from the target's network (default true).
   */
  tcp?: boolean;
  /**
   * Send UDP traffic from the target's network (default true).
   */
  udp?: boolean;
}
