// The run toolbar's toggle: tether on or off for this project (remembered).
package dev.tether.plugin

import com.intellij.openapi.actionSystem.ActionUpdateThread
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.project.DumbAwareToggleAction

class ToggleTetherAction : DumbAwareToggleAction("tether", "Run and debug with a target's context", null) {
    override fun isSelected(e: AnActionEvent): Boolean = e.project?.let { TetherState.of(it).enabled } ?: false

    override fun setSelected(e: AnActionEvent, state: Boolean) {
        e.project?.let { TetherState.of(it).enabled = state }
    }

    override fun getActionUpdateThread() = ActionUpdateThread.BGT
}
