// The tether sessions of one IDE's runs: prepared for a chosen target and a run model (the
// daemon's progress events reported while the agent starts), bound to the launched process —
// the session ends when the process exits — and ended when the run is cancelled or the plugin
// closes. If the connection to the daemon ends, the daemon has ended them all itself (the
// connection is their lease).
package dev.tether.core.session

import dev.tether.core.chooser.Choice
import dev.tether.core.generated.ConfigParams
import dev.tether.core.generated.Methods
import dev.tether.core.generated.SessionEndParams
import dev.tether.core.generated.SessionEventKind
import dev.tether.core.generated.SessionEventsParams
import dev.tether.core.generated.SessionPrepareParams
import dev.tether.core.launch.EnvPatch
import dev.tether.core.launch.RunModel
import dev.tether.core.launch.describeLaunch
import dev.tether.core.launch.envPatch
import dev.tether.core.launch.extrasOf
import dev.tether.core.launch.launchEnv
import dev.tether.core.launch.sessionConfig
import dev.tether.core.rpc.RpcClient
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.serialization.json.JsonObject
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicBoolean

/** A session prepared for one run. */
class PreparedRun(
    val sessionId: String,
    val target: String,
    val model: RunModel,
    /** What the launched process's environment becomes. */
    val env: EnvPatch,
    /** For the user: variables kept back, programs tether cannot hook, … */
    val warnings: List<String>,
    private val owner: RunSessions,
) {
    internal val ended = AtomicBoolean(false)

    /** Ends the session in the background (for IDE callbacks such as "process terminated"). */
    fun endLater(why: String) = owner.endLater(this, why)
}

class RunSessions(private val client: RpcClient, private val log: (String) -> Unit = {}) : AutoCloseable {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val live = ConcurrentHashMap<String, PreparedRun>()
    private val awaitingProcess = ConcurrentHashMap<Any, PreparedRun>()

    /** The sessions of runs that have not ended. */
    fun live(): List<PreparedRun> = live.values.sortedBy { it.sessionId }

    /**
     * Prepares a session on `choice` for the run `model`. `hostEnv` is the IDE's environment;
     * `configFile` the workspace's `.tether/config.json` (absolute), when it has one. Each
     * progress message of the preparation goes to `progress`. With `key` (the IDE's object for
     * this run) the run waits for [claim] by the code that sees its process start. A failure is
     * a `TetherError` carrying the daemon's code and message.
     */
    suspend fun prepare(
        choice: Choice,
        model: RunModel,
        hostEnv: Map<String, String>,
        configFile: String? = null,
        key: Any? = null,
        progress: (String) -> Unit = {},
    ): PreparedRun {
        val extras = extrasOf(model)
        val resolved = if (configFile != null && !extras.isEmpty) {
            client.call(Methods.CONFIG_RESOLVE, ConfigParams(path = configFile)) as? JsonObject
        } else {
            null
        }
        val config = sessionConfig(configFile, resolved, extras)
        val preparation = UUID.randomUUID().toString()
        val events = client.subscribe(Methods.SESSION_EVENTS, SessionEventsParams(preparation = preparation))
        val reporter = scope.launch {
            for (event in events.items) if (event.kind == SessionEventKind.PROGRESS || event.kind == SessionEventKind.WARNING) progress(event.message)
        }
        // In the plugin's scope, not the caller's: a run cancelled while its agent starts leaves
        // the daemon to finish (the agent stays warm), and the session it made is ended at once.
        val call = scope.async {
            client.call(
                Methods.SESSION_PREPARE,
                SessionPrepareParams(
                    target = choice.target,
                    context = choice.context.takeUnless { choice.onHost },
                    namespace = choice.namespace.takeUnless { choice.onHost },
                    preparation = preparation,
                    configPath = config.path,
                    config = config.inline,
                    launch = describeLaunch(model, hostEnv),
                ),
            )
        }
        val prepared = try {
            call.await()
        } catch (cancelled: CancellationException) {
            scope.launch { runCatching { client.call(Methods.SESSION_END, SessionEndParams(sessionId = call.await().sessionId)) } }
            throw cancelled
        } finally {
            reporter.cancel()
            scope.launch { events.cancel() }
        }
        val run = PreparedRun(prepared.sessionId, choice.target, model, envPatch(launchEnv(model, hostEnv), prepared), prepared.warnings, this)
        live[run.sessionId] = run
        if (key != null) awaitingProcess[key]?.let { scope.launch { end(it, "replaced by a new run of the same configuration") } }
        if (key != null) awaitingProcess[key] = run
        log("session ${run.sessionId} on ${run.target} for \"${model.name}\" (${model.kind})")
        return run
    }

    /** The run prepared under `key` whose process is starting now, once. */
    fun claim(key: Any): PreparedRun? = awaitingProcess.remove(key)

    /** Ends `run`'s session in the background: for IDE callbacks that must not wait. */
    fun endLater(run: PreparedRun, why: String) {
        scope.launch { end(run, why) }
    }

    /** Binds `run` to the process launched with its environment: when it exits, the session ends. */
    fun attach(run: PreparedRun, process: ProcessHandle) {
        process.onExit().thenRun { scope.launch { end(run, "its process ${process.pid()} exited") } }
    }

    /** Ends `run`'s session (once; later calls do nothing). */
    suspend fun end(run: PreparedRun, why: String) {
        if (!run.ended.compareAndSet(false, true)) return
        live.remove(run.sessionId)
        awaitingProcess.values.remove(run)
        runCatching { client.call(Methods.SESSION_END, SessionEndParams(sessionId = run.sessionId)) }
            .onSuccess { log("ended session ${run.sessionId}: $why") }
            .onFailure { log("session.end ${run.sessionId} ($why): ${it.message}") }
    }

    /** Ends every live session and stops the background work. */
    override fun close() {
        val runs = live()
        scope.launch { for (run in runs) end(run, "the plugin closed") }.invokeOnCompletion { scope.cancel() }
    }
}
