// .NET run configurations in Rider. Run: the program's command line gets the session's
// environment. Debug: the debugger worker's does (it passes it to the program it starts); the
// worker itself and the build tools are in the session's skip list, its ports never intercepted.
package dev.tether.plugin

import com.intellij.execution.configurations.GeneralCommandLine
import com.intellij.execution.process.ProcessListener
import com.intellij.openapi.project.Project
import com.jetbrains.rd.util.lifetime.Lifetime
import com.jetbrains.rider.run.PatchCommandLineExtension
import com.jetbrains.rider.run.WorkerRunInfo
import com.jetbrains.rider.runtime.DotNetRuntime
import com.jetbrains.rider.model.debuggerWorker.ProcessInfo
import dev.tether.core.launch.RunKind
import org.jetbrains.concurrency.Promise
import org.jetbrains.concurrency.resolvedPromise

class RiderRunExtension : PatchCommandLineExtension {
    override fun patchRunCommandLine(commandLine: GeneralCommandLine, dotNetRuntime: DotNetRuntime, project: Project): ProcessListener? {
        val run = RunPreparation.prepare(project, commandLine.toRunModel(RunKind.DOTNET, commandLine.exePath, debug = false), null) ?: return null
        commandLine.apply(run.env)
        return endsWithProcess(run)
    }

    override fun patchDebugCommandLine(lifetime: Lifetime, workerRunInfo: WorkerRunInfo, processInfo: ProcessInfo?, project: Project): Promise<WorkerRunInfo> {
        val line = workerRunInfo.commandLine
        val run = RunPreparation.prepare(project, line.toRunModel(RunKind.DOTNET, line.exePath, debug = true), null)
        if (run != null) {
            line.apply(run.env)
            lifetime.onTermination { run.endLater("the debug session ended") }
        }
        return resolvedPromise(workerRunInfo)
    }
}
