// What every IDE's run extension calls as its run is about to start: with tether on, the target
// chooser, then the session prepared under a cancellable progress showing the daemon's steps.
// Cancel, or a failure (shown with the daemon's typed message), aborts the run.
package dev.tether.plugin

import com.intellij.execution.ExecutionException
import com.intellij.openapi.application.invokeAndWaitIfNeeded
import com.intellij.openapi.progress.ProgressManager
import com.intellij.openapi.progress.runBlockingCancellable
import com.intellij.openapi.project.Project
import dev.tether.core.chooser.remember
import dev.tether.core.launch.RunModel
import dev.tether.core.rpc.TetherError
import dev.tether.core.session.PreparedRun
import kotlinx.coroutines.runBlocking

object RunPreparation {
    /** The session for the run `model` (`key`: the IDE's object for it, for [claim]); null when
     * tether is off. */
    fun prepare(project: Project, model: RunModel, key: Any?): PreparedRun? {
        val state = TetherState.of(project)
        if (!state.enabled) return null
        val tether = TetherProject.of(project)
        val run = invokeAndWaitIfNeeded {
            val choice = TargetChooserDialog.choose(project, model.name, state.recent)
                ?: throw ExecutionException("tether: the run of \"${model.name}\" was cancelled in the target chooser")
            state.recent = remember(state.recent, choice)
            try {
                ProgressManager.getInstance().runProcessWithProgressSynchronously<PreparedRun, Exception>({
                    val indicator = ProgressManager.getInstance().progressIndicator
                    runBlockingCancellable {
                        tether.link.sessions().prepare(choice, model, tether.hostEnv(), tether.configFile(), key) { indicator?.text2 = it }
                    }
                }, "tether: ${choice.target}", true, project)
            } catch (err: TetherError) {
                val text = err.describe("preparing \"${model.name}\"")
                TetherNotifier.failure(project, text, tether.link.logPath)
                throw ExecutionException(text, err)
            }
        }
        run.warnings.forEach { TetherNotifier.warning(project, it) }
        return run
    }

    /** The run prepared under `key` whose process is starting now. */
    fun claim(project: Project, key: Any): PreparedRun? =
        if (TetherState.of(project).enabled) runBlocking { TetherProject.of(project).link.sessions() }.claim(key) else null
}
