// A run configuration as tether sees it, whatever the IDE: the process it starts and the
// environment that process would get without tether. The IDE glue fills it from a copy of the
// configuration's command line; the configuration itself is never changed.
package dev.tether.core.launch

import dev.tether.core.generated.Launch

data class RunModel(
    val kind: RunKind,
    /** The run configuration's name, for the logs. */
    val name: String,
    /** The executable the IDE starts (`java`, `python3`, `dotnet`, a path). */
    val program: String,
    val args: List<String> = emptyList(),
    val cwd: String? = null,
    /** The configuration's own variables. */
    val env: Map<String, String> = emptyMap(),
    /** Whether the process also gets the IDE's environment ("include system environment"). */
    val inheritHostEnv: Boolean = true,
    /** Run with the IDE's debugger. */
    val debug: Boolean = false,
    /** Ports the IDE's debugger uses for this run, when it knows them (Rider's worker link). */
    val debuggerPorts: List<Int> = emptyList(),
)

/** The environment the process would get without tether: the host's (when inherited), then the
 * configuration's own variables. */
fun launchEnv(model: RunModel, hostEnv: Map<String, String>): Map<String, String> =
    (if (model.inheritHostEnv) hostEnv else emptyMap()) + model.env

/** What `session.prepare` is told about the launch. */
fun describeLaunch(model: RunModel, hostEnv: Map<String, String>): Launch = Launch(
    program = model.program,
    args = model.args,
    cwd = model.cwd,
    debugType = model.kind.debugType.takeIf { model.debug },
    env = launchEnv(model, hostEnv),
)

/** The programs that must not be hooked and the ports that must never be intercepted for this
 * run, beyond what the daemon's presets find themselves. */
data class Extras(val skipProcesses: List<String>, val ignorePorts: List<Int>) {
    val isEmpty: Boolean get() = skipProcesses.isEmpty() && ignorePorts.isEmpty()
}

fun extrasOf(model: RunModel): Extras {
    val words = listOf(model.program) + model.args
    val ports = if (model.debug) (model.kind.debuggerPorts(words) + model.debuggerPorts).distinct().sorted() else emptyList()
    return Extras(model.kind.skipProcesses, ports)
}
