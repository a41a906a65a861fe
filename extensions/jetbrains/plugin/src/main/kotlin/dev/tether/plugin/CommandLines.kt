// Between the IDE's command lines and the core: a GeneralCommandLine as a run model, a
// prepared environment put on it (the complete environment, the IDE's own switched off, so the
// daemon's unset variables are gone), and a process listener that ends the session.
package dev.tether.plugin

import com.intellij.execution.configurations.GeneralCommandLine
import com.intellij.execution.process.ProcessEvent
import com.intellij.execution.process.ProcessListener
import dev.tether.core.launch.EnvPatch
import dev.tether.core.launch.RunKind
import dev.tether.core.launch.RunModel
import dev.tether.core.session.PreparedRun

fun GeneralCommandLine.toRunModel(kind: RunKind, name: String, debug: Boolean): RunModel = RunModel(
    kind = kind,
    name = name,
    program = exePath,
    args = parametersList.list,
    cwd = workDirectory?.path,
    env = environment.toMap(),
    inheritHostEnv = parentEnvironmentType != GeneralCommandLine.ParentEnvironmentType.NONE,
    debug = debug,
)

fun GeneralCommandLine.apply(patch: EnvPatch) {
    withParentEnvironmentType(GeneralCommandLine.ParentEnvironmentType.NONE)
    environment.clear()
    environment.putAll(patch.full)
}

/** Ends `run`'s session when the process terminates. */
fun endsWithProcess(run: PreparedRun): ProcessListener = object : ProcessListener {
    override fun processTerminated(event: ProcessEvent) = run.endLater("the run ended (exit ${event.exitCode})")
}
