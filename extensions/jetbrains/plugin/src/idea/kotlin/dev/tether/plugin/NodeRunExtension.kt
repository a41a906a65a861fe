// Node.js run configurations (WebStorm, and IntelliJ IDEA Ultimate): the node process's
// command line gets the session's environment; the session ends with the process.
package dev.tether.plugin

import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.process.ProcessListener
import com.intellij.execution.executors.DefaultDebugExecutor
import com.intellij.execution.runners.ExecutionEnvironment
import com.intellij.javascript.nodejs.execution.AbstractNodeTargetRunProfile
import com.intellij.javascript.nodejs.execution.NodeTargetRun
import com.intellij.javascript.nodejs.execution.runConfiguration.AbstractNodeRunConfigurationExtension
import com.intellij.javascript.nodejs.execution.runConfiguration.NodeRunConfigurationLaunchSession
import dev.tether.core.launch.RunKind
import dev.tether.core.launch.RunModel
import dev.tether.core.session.PreparedRun

class NodeRunExtension : AbstractNodeRunConfigurationExtension() {
    override fun isApplicableFor(profile: AbstractNodeTargetRunProfile): Boolean = true

    override fun isEnabledFor(applicableConfiguration: AbstractNodeTargetRunProfile, runnerSettings: RunnerSettings?): Boolean =
        TetherState.of(applicableConfiguration.project).enabled

    override fun createLaunchSession(configuration: AbstractNodeTargetRunProfile, environment: ExecutionEnvironment): NodeRunConfigurationLaunchSession =
        object : NodeRunConfigurationLaunchSession() {
            private var run: PreparedRun? = null

            override fun addNodeOptionsTo(targetRun: NodeTargetRun) {
                val builder = targetRun.commandLineBuilder
                val line = builder.build()
                val model = RunModel(
                    kind = RunKind.NODE,
                    name = configuration.name,
                    program = line.collectCommandsSynchronously().first(),
                    args = line.collectCommandsSynchronously().drop(1),
                    cwd = line.workingDirectory,
                    env = line.environmentVariables,
                    debug = environment.executor.id == DefaultDebugExecutor.EXECUTOR_ID,
                )
                val prepared = RunPreparation.prepare(configuration.project, model, null) ?: return
                prepared.env.set.forEach(builder::addEnvironmentVariable)
                prepared.env.unset.forEach(builder::removeEnvironmentVariable)
                run = prepared
            }

            override fun getProcessListener(): ProcessListener? = run?.let(::endsWithProcess)
        }
}
