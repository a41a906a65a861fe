// Per project, remembered: whether tether is on, and the most recent targets (the core's
// `Choice`s, stored as their fields).
package dev.tether.plugin

import com.intellij.openapi.components.BaseState
import com.intellij.openapi.components.Service
import com.intellij.openapi.components.SimplePersistentStateComponent
import com.intellij.openapi.components.State
import com.intellij.openapi.components.Storage
import com.intellij.openapi.components.StoragePathMacros
import com.intellij.openapi.project.Project
import dev.tether.core.chooser.Choice

@Service(Service.Level.PROJECT)
@State(name = "tether", storages = [Storage(StoragePathMacros.WORKSPACE_FILE)])
class TetherState : SimplePersistentStateComponent<TetherState.Fields>(Fields()) {
    class Fields : BaseState() {
        var enabled by property(false)
        var recent by list<String>()
    }

    var enabled: Boolean
        get() = state.enabled
        set(value) { state.enabled = value }

    var recent: List<Choice>
        get() = state.recent.mapNotNull(::decode)
        set(value) { state.recent = value.map(::encode).toMutableList() }

    private fun encode(choice: Choice) = listOf(choice.target, choice.context.orEmpty(), choice.namespace.orEmpty(), choice.onHost.toString()).joinToString("\t")

    private fun decode(text: String): Choice? = text.split('\t').takeIf { it.size == 4 }?.let { (target, context, namespace, onHost) ->
        Choice(target, context.ifEmpty { null }, namespace.ifEmpty { null }, onHost.toBooleanStrict())
    }

    companion object {
        fun of(project: Project): TetherState = project.getService(TetherState::class.java)
    }
}
