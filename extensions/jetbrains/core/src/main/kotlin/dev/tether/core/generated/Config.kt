// generated from rpc-schema/schema/config.schema.json by extensions/jetbrains/codegen; do not edit
// (run `mvn -q -pl codegen compile exec:java` in extensions/jetbrains and commit them)
@file:Suppress("ktlint", "RedundantVisibilityModifier")

package dev.tether.core.generated

import kotlinx.serialization.DeserializationStrategy
import kotlinx.serialization.KSerializer
import kotlinx.serialization.SerialName
import kotlinx.serialization.Serializable
import kotlinx.serialization.SerializationException
import kotlinx.serialization.descriptors.PrimitiveKind
import kotlinx.serialization.descriptors.PrimitiveSerialDescriptor
import kotlinx.serialization.encoding.Decoder
import kotlinx.serialization.encoding.Encoder
import kotlinx.serialization.json.JsonContentPolymorphicSerializer
import kotlinx.serialization.json.JsonDecoder
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonEncoder
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long

/**
 * A tether config file (`.tether/config.json`): which parts of the target's context the
 * process takes on. Every key is optional.
 */
@Serializable
public data class Config(
    /** Lets editors validate the file against the published schema; otherwise unused. */
    @SerialName("\$schema")
    public val schema: String? = null,
    /** How agents are started in a Kubernetes cluster. */
    @SerialName("agent")
    public val agent: AgentConfig = AgentConfig(ephemeral = false, idleTtlSecs = 600L, image = "ghcr.io/tether-dev/tether-agent:0.1.0", imagePullPolicy = PullPolicy.IF_NOT_PRESENT, privileged = false, resources = AgentResources(limits = emptyMap(), requests = mapOf("cpu" to "10m", "memory" to "16Mi")), startupTimeoutSecs = 60L),
    /** How `container/` targets are found. */
    @SerialName("container")
    public val container: ContainerConfig = ContainerConfig(namespace = null, runtime = RuntimeConfig.CONTAINERD, socket = null),
    /** The kubeconfig context (default: the current one). */
    @SerialName("context")
    public val context: String? = null,
    /** Name resolution with the target's resolv.conf and hosts. */
    @SerialName("dns")
    public val dns: DnsConfig = DnsConfig(enabled = true, local = emptyList()),
    /** Which of the target's environment variables the process gets. */
    @SerialName("env")
    public val env: EnvConfig = EnvConfig(allowCodeLoading = emptyList(), exclude = emptyList(), include = emptyList(), override = emptyMap(), unset = emptyList()),
    /** Which files come from the target and which stay on this machine. */
    @SerialName("fs")
    public val fs: FsConfig = FsConfig(local = emptyList(), mode = FsModeConfig.READ, notFound = emptyList(), readOnly = emptyList(), readWrite = emptyList()),
    /**
     * The host name the process sees (`hostname`, `gethostname()`, `uname().nodename`):
     * `target` (default), the target's, as in the pod; `host`, this machine's.
     */
    @SerialName("hostname")
    public val hostname: HostnameConfig = HostnameConfig.TARGET,
    /** Traffic arriving at the target on the ports the process listens on. */
    @SerialName("incoming")
    public val incoming: IncomingConfig = IncomingConfig(httpFilter = null, ignorePorts = emptyList(), mode = IncomingModeConfig.MIRROR, portMapping = emptyMap(), ports = null, replicas = ReplicasConfig.ALL),
    /** The target's namespace (default: the context's, else `default`). */
    @SerialName("namespace")
    public val namespace: String? = null,
    /** Outgoing connections leaving from the target's network. */
    @SerialName("outgoing")
    public val outgoing: OutgoingConfig = OutgoingConfig(local = emptyList(), tcp = true, udp = true),
    /** Programs whose calls are not hooked (their children still are). */
    @SerialName("skip_processes")
    public val skipProcesses: List<String> = emptyList(),
    /**
     * The target when the launch names none: `deployment/orders`, `pod/web-0/container/app`,
     * `service/orders`, `targetless`, … (or `pid/N`, `container/NAME` on this machine).
     */
    @SerialName("target")
    public val target: String? = null,
)

/** The agent pod the daemon creates for a Kubernetes target. */
@Serializable
public data class AgentConfig(
    /**
     * Run the agent as an ephemeral container of the target pod (no `hostPID`, no pod of its
     * own; Kubernetes keeps the terminated container in the pod's spec afterwards).
     */
    @SerialName("ephemeral")
    public val ephemeral: Boolean = false,
    /**
     * Seconds an agent stays warm after its last session ended, for the next session on the
     * same target (default 600).
     */
    @SerialName("idle_ttl_secs")
    public val idleTtlSecs: Long = 600L,
    /** The agent's container image. */
    @SerialName("image")
    public val image: String = "ghcr.io/tether-dev/tether-agent:0.1.0",
    /** `IfNotPresent` (default), `Always` or `Never`. */
    @SerialName("image_pull_policy")
    public val imagePullPolicy: PullPolicy = PullPolicy.IF_NOT_PRESENT,
    /**
     * Where agent pods are created (default: the target's namespace). A namespace whose pod
     * security forbids host namespaces needs another one here.
     */
    @SerialName("namespace")
    public val namespace: String? = null,
    /** Run the agent privileged rather than with the capabilities it needs only. */
    @SerialName("privileged")
    public val privileged: Boolean = false,
    /** The agent container's resource requests and limits, as in a pod spec. */
    @SerialName("resources")
    public val resources: AgentResources = AgentResources(limits = emptyMap(), requests = mapOf("cpu" to "10m", "memory" to "16Mi")),
    /** Seconds an agent pod may take to start and report ready (default 60, image pull included). */
    @SerialName("startup_timeout_secs")
    public val startupTimeoutSecs: Long = 60L,
)

/** Quantities by resource name (`cpu`, `memory`), e.g. `{"cpu": "100m", "memory": "64Mi"}`. */
@Serializable
public data class AgentResources(
    @SerialName("limits")
    public val limits: Map<String, String> = emptyMap(),
    @SerialName("requests")
    public val requests: Map<String, String> = mapOf("cpu" to "10m", "memory" to "16Mi"),
)

/** The container runtime that knows `container/` targets. */
@Serializable
public data class ContainerConfig(
    /** The containerd namespace to search, e.g. `k8s.io` (default: every namespace). */
    @SerialName("namespace")
    public val namespace: String? = null,
    /** `containerd` (default) or `docker`. */
    @SerialName("runtime")
    public val runtime: RuntimeConfig = RuntimeConfig.CONTAINERD,
    /**
     * The runtime's Unix socket (default `/run/containerd/containerd.sock` for containerd,
     * `/var/run/docker.sock` for docker).
     */
    @SerialName("socket")
    public val socket: String? = null,
)

/**
 * Name resolution with the target's resolver; `localhost` and this machine's own name always
 * resolve here.
 */
@Serializable
public data class DnsConfig(
    /** Resolve names with the target's resolv.conf and hosts (default true). */
    @SerialName("enabled")
    public val enabled: Boolean = true,
    /** Names resolved on this machine: exact names or `*.suffix` patterns. */
    @SerialName("local")
    public val local: List<String> = emptyList(),
)

/** Which of the target's variables the user process gets. */
@Serializable
public data class EnvConfig(
    /**
     * Start-up and code-loading variables to take from the target anyway, by exact name (e.g.
     * `NODE_OPTIONS`, `BASH_ENV`, `BASH_FUNC_name%%`). Without this they keep this machine's
     * value, because the target's would run the target's code here, as you.
     */
    @SerialName("allow_code_loading")
    public val allowCodeLoading: List<String> = emptyList(),
    /** Glob patterns of target variables to leave out. */
    @SerialName("exclude")
    public val exclude: List<String> = emptyList(),
    /** Glob patterns; when given, only matching target variables are taken. */
    @SerialName("include")
    public val include: List<String> = emptyList(),
    /** Values that win over both the target's and the host's. */
    @SerialName("override")
    public val override: Map<String, String> = emptyMap(),
    /** Variables removed from the launched process's environment. */
    @SerialName("unset")
    public val unset: List<String> = emptyList(),
)

/**
 * Which files come from the target. Rules are regular expressions over absolute paths;
 * precedence: `not_found`, `local`, `read_write`, `read_only`, built-in rules, `mode`.
 */
@Serializable
public data class FsConfig(
    /** Paths that always stay on this machine. */
    @SerialName("local")
    public val local: List<String> = emptyList(),
    /** Where file operations go when no rule names the path: `read` (default), `write`, `local`. */
    @SerialName("mode")
    public val mode: FsModeConfig = FsModeConfig.READ,
    /** Paths that do not exist for the process. */
    @SerialName("not_found")
    public val notFound: List<String> = emptyList(),
    /** Paths read from the target; writes to them stay on this machine. */
    @SerialName("read_only")
    public val readOnly: List<String> = emptyList(),
    /** Paths read from and written to the target. */
    @SerialName("read_write")
    public val readWrite: List<String> = emptyList(),
)

/** Where file operations go when no rule names the path. */
@Serializable
public enum class FsModeConfig {
    /** Reads come from the target; writes stay on this machine. */
    @SerialName("read")
    READ,
    /** Reads and writes go to the target. */
    @SerialName("write")
    WRITE,
    /** Everything stays on this machine. */
    @SerialName("local")
    LOCAL,
}

/** Whose host name the process sees. */
@Serializable
public enum class HostnameConfig {
    /**
     * The target's (its UTS namespace's node name: a pod's name), which then also resolves
     * as it does in the target.
     */
    @SerialName("target")
    TARGET,
    /** This machine's own. */
    @SerialName("host")
    HOST,
}

/**
 * `{"header": regex}` (matching a whole `Name: value` line: `"X-Tether-User: alice"` is not
 * `alicex`), `{"path": regex}` (searched for in path and query: `"^/orders"` for a prefix),
 * `{"method": name}`, `{"all_of": [..]}`, `{"any_of": [..]}`.
 */
@Serializable(with = HttpFilterConfig.Serializer::class)
public sealed interface HttpFilterConfig {
    @Serializable
    public data class Header(@SerialName("header") public val header: String) : HttpFilterConfig

    @Serializable
    public data class Path(@SerialName("path") public val path: String) : HttpFilterConfig

    @Serializable
    public data class Method(@SerialName("method") public val method: String) : HttpFilterConfig

    @Serializable
    public data class AllOf(@SerialName("all_of") public val allOf: List<HttpFilterConfig>) : HttpFilterConfig

    @Serializable
    public data class AnyOf(@SerialName("any_of") public val anyOf: List<HttpFilterConfig>) : HttpFilterConfig

    /** Picks the variant by the one key its JSON object has. */
    public object Serializer : JsonContentPolymorphicSerializer<HttpFilterConfig>(HttpFilterConfig::class) {
        override fun selectDeserializer(element: JsonElement): DeserializationStrategy<HttpFilterConfig> {
            val keys = (element as? JsonObject)?.keys.orEmpty()
            return when {
                "header" in keys -> Header.serializer()
                "path" in keys -> Path.serializer()
                "method" in keys -> Method.serializer()
                "all_of" in keys -> AllOf.serializer()
                "any_of" in keys -> AnyOf.serializer()
                else -> throw SerializationException("a HttpFilterConfig needs one of header, path, method, all_of, any_of, not $keys")
            }
        }
    }
}

/** Traffic that arrives at the target on the ports the user process listens on. */
@Serializable
public data class IncomingConfig(
    /** Only matching HTTP requests are mirrored or stolen. */
    @SerialName("http_filter")
    public val httpFilter: HttpFilterConfig? = null,
    /** Ports of the user process that are never subscribed. */
    @SerialName("ignore_ports")
    public val ignorePorts: List<Long> = emptyList(),
    /**
     * `mirror` (default: the target keeps serving, the process gets a copy), `steal` (the
     * process serves instead) or `off`.
     */
    @SerialName("mode")
    public val mode: IncomingModeConfig = IncomingModeConfig.MIRROR,
    /** `"<target port>": <port the user process listens on>`. */
    @SerialName("port_mapping")
    public val portMapping: Map<String, Long> = emptyMap(),
    /**
     * Target ports to intercept even when nothing in the target listens on them; the process's
     * other ports are then never intercepted. Without it, a port is intercepted only when the
     * target listens on it (or `port_mapping` names it), so a debugger's or tool's port that
     * the process opens is never reachable from the target's clients.
     */
    @SerialName("ports")
    public val ports: List<Long>? = null,
    /**
     * `all` (default: every ready pod of a deployment, stateful set, replica set or service
     * is intercepted, followed as the workload scales) or `one` (only the pod whose context
     * the process has).
     */
    @SerialName("replicas")
    public val replicas: ReplicasConfig = ReplicasConfig.ALL,
)

@Serializable
public enum class IncomingModeConfig {
    /** The target's server still gets every connection; the process gets a copy of each. */
    @SerialName("mirror")
    MIRROR,
    /** Connections (or, with a filter, matching requests) go to the process instead. */
    @SerialName("steal")
    STEAL,
    /** No incoming traffic reaches the process. */
    @SerialName("off")
    OFF,
}

/** Outgoing connections from the target's network; loopback always stays on this machine. */
@Serializable
public data class OutgoingConfig(
    /** Destinations kept on this machine: `host`, `host:port`, an address, `ip:port` or a CIDR. */
    @SerialName("local")
    public val local: List<String> = emptyList(),
    /** Send TCP connections from the target's network (default true). */
    @SerialName("tcp")
    public val tcp: Boolean = true,
    /** Send UDP traffic from the target's network (default true). */
    @SerialName("udp")
    public val udp: Boolean = true,
)

@Serializable
public enum class PullPolicy {
    @SerialName("IfNotPresent")
    IF_NOT_PRESENT,
    @SerialName("Always")
    ALWAYS,
    @SerialName("Never")
    NEVER,
}

@Serializable
public enum class ReplicasConfig {
    /** Every ready pod of the workload. */
    @SerialName("all")
    ALL,
    /** Only the pod whose context the process has. */
    @SerialName("one")
    ONE,
}

@Serializable
public enum class RuntimeConfig {
    /** containerd's API; Kubernetes nodes keep their pods in namespace `k8s.io`. */
    @SerialName("containerd")
    CONTAINERD,
    /** Docker Engine's API. */
    @SerialName("docker")
    DOCKER,
}

