// Python run configurations (PyCharm, and IntelliJ IDEA with the Python plugin): the command line
// PyCharm is about to start gets the session's environment.
package dev.tether.plugin

import com.intellij.execution.configurations.GeneralCommandLine
import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.process.ProcessHandler
import com.jetbrains.python.run.AbstractPythonRunConfiguration
import com.jetbrains.python.run.PythonRunConfigurationExtension
import dev.tether.core.launch.RunKind

class PythonRunExtension : PythonRunConfigurationExtension() {
    override fun isApplicableFor(configuration: AbstractPythonRunConfiguration<*>): Boolean = true

    override fun isEnabledFor(applicableConfiguration: AbstractPythonRunConfiguration<*>, runnerSettings: RunnerSettings?): Boolean =
        TetherState.of(applicableConfiguration.project).enabled

    override fun patchCommandLine(configuration: AbstractPythonRunConfiguration<*>, runnerSettings: RunnerSettings?, cmdLine: GeneralCommandLine, runnerId: String) {
        val model = cmdLine.toRunModel(RunKind.PYTHON, configuration.name, debug = runnerId == "PyDebugRunner")
        val run = RunPreparation.prepare(configuration.project, model, configuration) ?: return
        cmdLine.apply(run.env)
    }

    override fun attachToProcess(configuration: AbstractPythonRunConfiguration<*>, handler: ProcessHandler, runnerSettings: RunnerSettings?) {
        RunPreparation.claim(configuration.project, configuration)?.let { handler.addProcessListener(endsWithProcess(it)) }
    }
}
