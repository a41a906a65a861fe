// generated from rpc-schema/schema/api.json by extensions/jetbrains/codegen; do not edit
// (run `mvn -q -pl codegen compile exec:java` in extensions/jetbrains and commit them)
@file:Suppress("ktlint", "RedundantVisibilityModifier")

package dev.tether.core.generated

import dev.tether.core.rpc.NullResult
import dev.tether.core.rpc.Request
import dev.tether.core.rpc.Subscription
import kotlinx.serialization.DeserializationStrategy
import kotlinx.serialization.KSerializer
import kotlinx.serialization.SerialName
import kotlinx.serialization.Serializable
import kotlinx.serialization.SerializationException
import kotlinx.serialization.builtins.ListSerializer
import kotlinx.serialization.builtins.serializer
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

/** The editor API version these types describe; `daemon.hello` takes it. */
public const val API_VERSION: Long = 1L

/** A running agent. */
@Serializable
public data class AgentInfo(
    @SerialName("agent_id")
    public val agentId: String,
    /** The agent's pod, for agents in a Kubernetes cluster. */
    @SerialName("pod")
    public val pod: AgentPodInfo? = null,
    /** Sessions using this agent now. */
    @SerialName("sessions")
    public val sessions: Long,
    /** Seconds since the Unix epoch. */
    @SerialName("started_at")
    public val startedAt: Long,
    @SerialName("target")
    public val target: String,
    /** Process id of the target as the agent sees it. */
    @SerialName("target_pid")
    public val targetPid: Long,
)

/** Where a Kubernetes agent runs. */
@Serializable
public data class AgentPodInfo(
    @SerialName("context")
    public val context: String,
    @SerialName("name")
    public val name: String,
    @SerialName("namespace")
    public val namespace: String,
    @SerialName("uid")
    public val uid: String,
)

/** `agents.stop` parameters. */
@Serializable
public data class AgentsStopParams(
    @SerialName("agent_id")
    public val agentId: String,
)

/** One cache of the daemon (targets of a context, kubeconfig contexts, ...). */
@Serializable
public data class CacheInfo(
    /** Seconds since the cache was last refreshed. */
    @SerialName("age_secs")
    public val ageSecs: Long,
    @SerialName("entries")
    public val entries: Long,
    @SerialName("name")
    public val name: String,
)

/** `data` of a [`codes::CONFIG_INVALID`] error. */
@Serializable
public data class ConfigInvalidData(
    @SerialName("diagnostics")
    public val diagnostics: List<Diagnostic>,
)

/**
 * `config.validate` and `config.resolve` parameters: a file, or text (with a name for
 * diagnostics).
 */
@Serializable
public data class ConfigParams(
    @SerialName("path")
    public val path: String? = null,
    /** The config's text, e.g. an unsaved editor buffer; `path` then only names it. */
    @SerialName("text")
    public val text: String? = null,
)

/** A kubeconfig context. */
@Serializable
public data class ContextInfo(
    @SerialName("cluster")
    public val cluster: String,
    @SerialName("current")
    public val current: Boolean,
    @SerialName("name")
    public val name: String,
    @SerialName("namespace")
    public val namespace: String? = null,
)

/** One problem found in a config file; lines and columns start at 1. */
@Serializable
public data class Diagnostic(
    @SerialName("column")
    public val column: Long,
    @SerialName("file")
    public val file: String,
    @SerialName("line")
    public val line: Long,
    @SerialName("message")
    public val message: String,
)

/** `daemon.hello` parameters. */
@Serializable
public data class HelloParams(
    @SerialName("api_version")
    public val apiVersion: Long,
    /** Who is calling, e.g. `tether-cli 0.1.0` or `vscode 0.1.0`. */
    @SerialName("client")
    public val client: String,
)

/** `daemon.hello` result. */
@Serializable
public data class HelloResult(
    @SerialName("api_version")
    public val apiVersion: Long,
    @SerialName("capabilities")
    public val capabilities: List<String> = emptyList(),
    @SerialName("daemon_version")
    public val daemonVersion: String,
    @SerialName("pid")
    public val pid: Long,
    /** Version of the wire protocol spoken with hook layers and agents. */
    @SerialName("protocol_version")
    public val protocolVersion: Long,
)

/** How the IDE (or the CLI) is about to start the user process. */
@Serializable
public data class Launch(
    @SerialName("args")
    public val args: List<String> = emptyList(),
    @SerialName("cwd")
    public val cwd: String? = null,
    /**
     * The debug adapter type (`node`, `pwa-node`, `python`, `debugpy`, `go`, `java`,
     * `coreclr`, `lldb`, `cppdbg`), when launched by an IDE debugger.
     */
    @SerialName("debug_type")
    public val debugType: String? = null,
    /** The environment the process would get without tether. */
    @SerialName("env")
    public val env: Map<String, String> = emptyMap(),
    @SerialName("program")
    public val program: String,
)

/** `namespaces.list` parameters. */
@Serializable
public data class NamespacesListParams(
    /** The kubeconfig context; the current one when absent. */
    @SerialName("context")
    public val context: String? = null,
)

/** `targets.prewarm` result. */
@Serializable
public data class PrewarmResult(
    @SerialName("agent_id")
    public val agentId: String,
)

/** `session.end` parameters. */
@Serializable
public data class SessionEndParams(
    @SerialName("session_id")
    public val sessionId: String,
)

/** `session.event` notification. */
@Serializable
public data class SessionEvent(
    @SerialName("kind")
    public val kind: SessionEventKind,
    @SerialName("message")
    public val message: String,
    /** The preparation id the client gave `session.prepare`, if any. */
    @SerialName("preparation")
    public val preparation: String? = null,
    /** The session, or the session being prepared (empty before it has an id). */
    @SerialName("session_id")
    public val sessionId: String,
    @SerialName("target")
    public val target: String,
)

/** What a [`SessionEvent`] reports. */
@Serializable
public enum class SessionEventKind {
    /** A step of preparation (starting the agent, reading the environment). */
    @SerialName("progress")
    PROGRESS,
    /** Something the user should know but that does not stop the session. */
    @SerialName("warning")
    WARNING,
    /** The session is ready. */
    @SerialName("ready")
    READY,
    /** The session ended. */
    @SerialName("ended")
    ENDED,
    /** The session failed or lost its agent. */
    @SerialName("failed")
    FAILED,
}

/** `session.events` parameters: one session's events, or every session's. */
@Serializable
public data class SessionEventsParams(
    /** Only the events of the preparation with this id (see [`SessionPrepareParams`]). */
    @SerialName("preparation")
    public val preparation: String? = null,
    @SerialName("session_id")
    public val sessionId: String? = null,
)

/** A live session. */
@Serializable
public data class SessionInfo(
    @SerialName("agent_id")
    public val agentId: String,
    @SerialName("program")
    public val program: String,
    @SerialName("session_id")
    public val sessionId: String,
    /** Seconds since the Unix epoch. */
    @SerialName("started_at")
    public val startedAt: Long,
    @SerialName("target")
    public val target: String,
)

/** `session.prepare` parameters. */
@Serializable
public data class SessionPrepareParams(
    /** A config given inline; wins over `config_path`. */
    @SerialName("config")
    public val config: JsonElement? = null,
    /** Absolute path of a JSON config file. */
    @SerialName("config_path")
    public val configPath: String? = null,
    /** The kubeconfig context; else the config's `context`, else the current one. */
    @SerialName("context")
    public val context: String? = null,
    @SerialName("launch")
    public val launch: Launch,
    /** The target's namespace; else the config's `namespace`, else the context's. */
    @SerialName("namespace")
    public val namespace: String? = null,
    /**
     * An id the client chose: every `session.event` of this preparation and of the session it
     * makes carries it, so a client can subscribe (`session.events` with `preparation`) before
     * the session has an id and see the agent start.
     */
    @SerialName("preparation")
    public val preparation: String? = null,
    /**
     * `kind/name[/container/NAME]`, e.g. `deployment/orders`, `pod/web-0/container/app`,
     * `targetless`, `pid/4242` or `container/orders`; else the config's `target`.
     */
    @SerialName("target")
    public val target: String? = null,
)

/** `session.prepare` result: all the IDE needs to start the process. */
@Serializable
public data class SessionPrepared(
    /**
     * Variables to set on top of `launch.env` (the target's env after filters, `LD_PRELOAD`,
     * session variables).
     */
    @SerialName("env")
    public val env: Map<String, String>,
    @SerialName("session_id")
    public val sessionId: String,
    /** Variables of `launch.env` to remove. */
    @SerialName("unset")
    public val unset: List<String>,
    @SerialName("warnings")
    public val warnings: List<String> = emptyList(),
)

/** `daemon.status` result. */
@Serializable
public data class StatusResult(
    @SerialName("agents")
    public val agents: List<AgentInfo>,
    @SerialName("caches")
    public val caches: List<CacheInfo> = emptyList(),
    @SerialName("daemon_version")
    public val daemonVersion: String,
    /** The daemon's current log file. */
    @SerialName("log_path")
    public val logPath: String,
    @SerialName("pid")
    public val pid: Long,
    @SerialName("sessions")
    public val sessions: List<SessionInfo>,
    @SerialName("uptime_secs")
    public val uptimeSecs: Long,
)

/** The id a subscription is answered with; its notifications carry it. */
@Serializable(with = SubscriptionId.Serializer::class)
public sealed interface SubscriptionId {
    public data class OfInteger(val value: Long) : SubscriptionId

    public data class OfString(val value: String) : SubscriptionId

    /** Reads a JSON number as [OfInteger] and a string as [OfString]. */
    public object Serializer : KSerializer<SubscriptionId> {
        override val descriptor = PrimitiveSerialDescriptor("dev.tether.core.generated.SubscriptionId", PrimitiveKind.STRING)

        override fun deserialize(decoder: Decoder): SubscriptionId {
            val value = (decoder as JsonDecoder).decodeJsonElement().jsonPrimitive
            return if (value.isString) OfString(value.content) else OfInteger(value.long)
        }

        override fun serialize(encoder: Encoder, value: SubscriptionId) {
            (encoder as JsonEncoder).encodeJsonElement(
                when (value) {
                    is OfInteger -> JsonPrimitive(value.value)
                    is OfString -> JsonPrimitive(value.value)
                },
            )
        }
    }
}

/** One target a session can be prepared for. */
@Serializable
public data class TargetInfo(
    /** Kubernetes targets: the container names a target may add (`/container/NAME`). */
    @SerialName("containers")
    public val containers: List<String> = emptyList(),
    @SerialName("context")
    public val context: String? = null,
    /** Something a person recognises it by (a command line, an image). */
    @SerialName("description")
    public val description: String? = null,
    @SerialName("kind")
    public val kind: String,
    @SerialName("name")
    public val name: String,
    @SerialName("namespace")
    public val namespace: String? = null,
    /** Pods: the node it runs on. */
    @SerialName("node")
    public val node: String? = null,
    @SerialName("ready")
    public val ready: Boolean,
    /** Kubernetes targets: ready pods (replicas) and how many there should be. */
    @SerialName("ready_count")
    public val readyCount: Long? = null,
    /** What `session.prepare` takes, e.g. `pid/4242` or `deployment/orders`. */
    @SerialName("target")
    public val target: String,
    @SerialName("total_count")
    public val totalCount: Long? = null,
)

/** `targets.changed` notification. */
@Serializable
public data class TargetsChanged(
    @SerialName("context")
    public val context: String? = null,
    @SerialName("namespace")
    public val namespace: String? = null,
    @SerialName("targets")
    public val targets: List<TargetInfo>,
)

/** `targets.list` and `targets.watch` parameters. */
@Serializable
public data class TargetsListParams(
    /** Every namespace instead of one. */
    @SerialName("all_namespaces")
    public val allNamespaces: Boolean = false,
    /** The kubeconfig context (the current one when absent). */
    @SerialName("context")
    public val context: String? = null,
    /** Only targets of this kind (`pod`, `deployment`, …). */
    @SerialName("kind")
    public val kind: String? = null,
    /**
     * The processes of this machine in network namespaces of their own, instead of a cluster's
     * workloads.
     */
    @SerialName("local")
    public val local: Boolean = false,
    /** The namespace (the context's when absent). */
    @SerialName("namespace")
    public val namespace: String? = null,
)

/** `targets.prewarm` parameters. */
@Serializable
public data class TargetsPrewarmParams(
    /** A config given inline; wins over `config_path`. */
    @SerialName("config")
    public val config: JsonElement? = null,
    /**
     * The config the session will use, when it says how to find the target (its `container`
     * section): the warmed agent is then the one `session.prepare` reuses.
     */
    @SerialName("config_path")
    public val configPath: String? = null,
    @SerialName("context")
    public val context: String? = null,
    @SerialName("namespace")
    public val namespace: String? = null,
    @SerialName("target")
    public val target: String,
)

/** `config.validate` result. */
@Serializable
public data class ValidateResult(
    @SerialName("diagnostics")
    public val diagnostics: List<Diagnostic>,
)

/** Every method of the API, by name: its parameters and result (or, for a subscription, its
 * notification and item). */
public object Methods {
    /** The first call of every client: versions and capabilities; INCOMPATIBLE_VERSION when the API versions differ. */
    public val DAEMON_HELLO: Request<HelloParams, HelloResult> =
        Request("daemon.hello", HelloParams.serializer(), HelloResult.serializer())
    /** The daemon, its sessions, agents and caches. */
    public val DAEMON_STATUS: Request<Unit, StatusResult> =
        Request("daemon.status", null, StatusResult.serializer())
    /** Stops the daemon; its sessions end and its agents stop. */
    public val DAEMON_SHUTDOWN: Request<Unit, Unit> =
        Request("daemon.shutdown", null, NullResult)
    /** The kubeconfig's contexts, the current one marked. */
    public val CONTEXTS_LIST: Request<Unit, List<ContextInfo>> =
        Request("contexts.list", null, ListSerializer(ContextInfo.serializer()))
    /** The namespaces of a context. */
    public val NAMESPACES_LIST: Request<NamespacesListParams, List<String>> =
        Request("namespaces.list", NamespacesListParams.serializer(), ListSerializer(String.serializer()))
    /** Workloads and pods of a namespace (or all), or the host's local targets; from the daemon's caches. */
    public val TARGETS_LIST: Request<TargetsListParams, List<TargetInfo>> =
        Request("targets.list", TargetsListParams.serializer(), ListSerializer(TargetInfo.serializer()))
    /** The same listing as targets.list, sent again whenever it changes. */
    public val TARGETS_WATCH: Subscription<TargetsListParams, TargetsChanged> =
        Subscription("targets.watch", TargetsListParams.serializer(), "targets.changed", TargetsChanged.serializer(), "targets.unwatch")
    /** Starts (or keeps) the agent of a target so that the next session.prepare on it is fast. */
    public val TARGETS_PREWARM: Request<TargetsPrewarmParams, PrewarmResult> =
        Request("targets.prewarm", TargetsPrewarmParams.serializer(), PrewarmResult.serializer())
    /** A config file (or unsaved text) with every default filled in, as config.schema.json describes it. */
    public val CONFIG_RESOLVE: Request<ConfigParams, JsonElement> =
        Request("config.resolve", ConfigParams.serializer(), JsonElement.serializer())
    /** A config file's (or unsaved text's) diagnostics. */
    public val CONFIG_VALIDATE: Request<ConfigParams, ValidateResult> =
        Request("config.validate", ConfigParams.serializer(), ValidateResult.serializer())
    /** Starts a session on a target (starting its agent if needed) and returns what to launch the program with. */
    public val SESSION_PREPARE: Request<SessionPrepareParams, SessionPrepared> =
        Request("session.prepare", SessionPrepareParams.serializer(), SessionPrepared.serializer())
    /** The daemon's sessions. */
    public val SESSION_LIST: Request<Unit, List<SessionInfo>> =
        Request("session.list", null, ListSerializer(SessionInfo.serializer()))
    /** Ends a session. */
    public val SESSION_END: Request<SessionEndParams, Unit> =
        Request("session.end", SessionEndParams.serializer(), NullResult)
    /** A session's (or every session's) progress and lifecycle events. */
    public val SESSION_EVENTS: Subscription<SessionEventsParams, SessionEvent> =
        Subscription("session.events", SessionEventsParams.serializer(), "session.event", SessionEvent.serializer(), "session.unevents")
    /** The daemon's agents, warm ones included. */
    public val AGENTS_LIST: Request<Unit, List<AgentInfo>> =
        Request("agents.list", null, ListSerializer(AgentInfo.serializer()))
    /** Stops an agent of the pool. */
    public val AGENTS_STOP: Request<AgentsStopParams, Unit> =
        Request("agents.stop", AgentsStopParams.serializer(), NullResult)
}

/** The API's JSON-RPC error codes. */
public object ErrorCodes {
    /** The target does not exist (no such process, container or workload). `data.reason`. */
    public const val TARGET_NOT_FOUND: Int = -32001
    /** The config is invalid; `data` is a `ConfigInvalidData`. */
    public const val CONFIG_INVALID: Int = -32002
    /** The agent could not start; `data.reason` says why. */
    public const val AGENT_START_FAILED: Int = -32003
    /** The cluster could not be reached; `data.context` and `data.reason`. */
    public const val CLUSTER_UNREACHABLE: Int = -32004
    /** The caller or the agent lacks a permission. `data.reason`. */
    public const val NOT_PERMITTED: Int = -32005
    /** Client and daemon speak different API versions; `data.daemon_api_version`. */
    public const val INCOMPATIBLE_VERSION: Int = -32006
    /** No session (or agent) with that id. */
    public const val SESSION_NOT_FOUND: Int = -32007
    /** The target exists but cannot be used now: a pod not ready, a container not running, a job or cronjob with no running pod. `data.reason` names its phase or state. */
    public const val TARGET_NOT_READY: Int = -32008
    /** The namespace's pod security admission refused the agent pod. `data.reason` is Kubernetes' message. */
    public const val POD_SECURITY_REJECTED: Int = -32009
    /** The node could not pull the agent image. `data.reason`. */
    public const val IMAGE_PULL_FAILED: Int = -32010
    /** The node refused to run the agent pod (resources, node gone). `data.reason`. */
    public const val NODE_REFUSED: Int = -32011
    /** The agent pod did not report ready in time. `data.reason` has its last observed state. */
    public const val AGENT_START_TIMEOUT: Int = -32012

    /** Each code's name, e.g. `TARGET_NOT_FOUND`. */
    public val NAMES: Map<Int, String> = mapOf(
        TARGET_NOT_FOUND to "TARGET_NOT_FOUND",
        CONFIG_INVALID to "CONFIG_INVALID",
        AGENT_START_FAILED to "AGENT_START_FAILED",
        CLUSTER_UNREACHABLE to "CLUSTER_UNREACHABLE",
        NOT_PERMITTED to "NOT_PERMITTED",
        INCOMPATIBLE_VERSION to "INCOMPATIBLE_VERSION",
        SESSION_NOT_FOUND to "SESSION_NOT_FOUND",
        TARGET_NOT_READY to "TARGET_NOT_READY",
        POD_SECURITY_REJECTED to "POD_SECURITY_REJECTED",
        IMAGE_PULL_FAILED to "IMAGE_PULL_FAILED",
        NODE_REFUSED to "NODE_REFUSED",
        AGENT_START_TIMEOUT to "AGENT_START_TIMEOUT",
    )
}
