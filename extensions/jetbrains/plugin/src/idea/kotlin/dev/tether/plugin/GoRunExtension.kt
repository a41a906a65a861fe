// Go run configurations (GoLand): only the program's own command line gets the session's
// environment — the build step (`go build`) does not, and delve and the toolchain are in the
// session's skip list for what they start themselves.
package dev.tether.plugin

import com.goide.execution.GoRunConfigurationBase
import com.goide.execution.GoRunningState
import com.goide.execution.extension.GoRunConfigurationExtension
import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.process.ProcessHandler
import com.intellij.execution.target.TargetedCommandLineBuilder
import dev.tether.core.launch.RunKind
import dev.tether.core.launch.RunModel

class GoRunExtension : GoRunConfigurationExtension() {
    override fun isApplicableFor(configuration: GoRunConfigurationBase<*>): Boolean = true

    override fun isEnabledFor(applicableConfiguration: GoRunConfigurationBase<*>, runnerSettings: RunnerSettings?): Boolean =
        TetherState.of(applicableConfiguration.project).enabled

    override fun patchCommandLine(
        configuration: GoRunConfigurationBase<*>,
        runnerSettings: RunnerSettings?,
        cmdLine: TargetedCommandLineBuilder,
        runnerId: String,
        state: GoRunningState<out GoRunConfigurationBase<*>>,
        commandLineType: GoRunningState.CommandLineType,
    ) {
        if (commandLineType != GoRunningState.CommandLineType.RUN) return
        val line = cmdLine.build()
        val model = RunModel(
            kind = RunKind.GO,
            name = configuration.name,
            program = line.collectCommandsSynchronously().first(),
            args = line.collectCommandsSynchronously().drop(1),
            cwd = line.workingDirectory,
            env = line.environmentVariables,
            debug = runnerId == "GoDebugRunner",
        )
        val run = RunPreparation.prepare(configuration.project, model, configuration) ?: return
        run.env.set.forEach(cmdLine::addEnvironmentVariable)
        run.env.unset.forEach(cmdLine::removeEnvironmentVariable)
    }

    override fun attachToProcess(configuration: GoRunConfigurationBase<*>, handler: ProcessHandler, runnerSettings: RunnerSettings?) {
        RunPreparation.claim(configuration.project, configuration)?.let { handler.addProcessListener(endsWithProcess(it)) }
    }
}
