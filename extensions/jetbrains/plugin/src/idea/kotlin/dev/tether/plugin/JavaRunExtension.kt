// Java and Kotlin applications, JUnit and TestNG (IntelliJ IDEA): the launch's JavaParameters —
// a copy made for this run, never the configuration — get the session's environment.
package dev.tether.plugin

import com.intellij.execution.Executor
import com.intellij.execution.RunConfigurationExtension
import com.intellij.execution.configurations.JavaParameters
import com.intellij.execution.configurations.RunConfigurationBase
import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.executors.DefaultDebugExecutor
import com.intellij.execution.process.ProcessHandler
import dev.tether.core.launch.RunKind

class JavaRunExtension : RunConfigurationExtension() {
    override fun isApplicableFor(configuration: RunConfigurationBase<*>): Boolean = RunKind.ofConfigurationType(configuration.type.id) != null

    override fun <T : RunConfigurationBase<*>> updateJavaParameters(configuration: T, params: JavaParameters, runnerSettings: RunnerSettings?) = Unit

    override fun <T : RunConfigurationBase<*>> updateJavaParameters(configuration: T, params: JavaParameters, runnerSettings: RunnerSettings?, executor: Executor) {
        val kind = RunKind.ofConfigurationType(configuration.type.id) ?: return
        val model = params.toCommandLine().toRunModel(kind, configuration.name, executor.id == DefaultDebugExecutor.EXECUTOR_ID)
        val run = RunPreparation.prepare(configuration.project, model, configuration) ?: return
        params.env = run.env.full
        params.isPassParentEnvs = false
    }

    override fun attachToProcess(configuration: RunConfigurationBase<*>, handler: ProcessHandler, runnerSettings: RunnerSettings?) {
        RunPreparation.claim(configuration.project, configuration)?.let { handler.addProcessListener(endsWithProcess(it)) }
    }
}
