// Application-wide settings: the path of the `tether` executable (empty: PATH, then the bundled
// one), with its page under Settings | Tools | tether.
package dev.tether.plugin

import com.intellij.openapi.components.BaseState
import com.intellij.openapi.components.Service
import com.intellij.openapi.components.SimplePersistentStateComponent
import com.intellij.openapi.components.State
import com.intellij.openapi.components.Storage
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.options.BoundConfigurable
import com.intellij.ui.dsl.builder.bindText
import com.intellij.ui.dsl.builder.panel

@Service(Service.Level.APP)
@State(name = "tether-settings", storages = [Storage("tether.xml")])
class TetherSettings : SimplePersistentStateComponent<TetherSettings.Fields>(Fields()) {
    class Fields : BaseState() {
        var tetherPath by string("")
    }

    companion object {
        fun get(): TetherSettings = ApplicationManager.getApplication().getService(TetherSettings::class.java)
    }
}

class TetherConfigurable : BoundConfigurable("tether") {
    override fun createPanel() = panel {
        val fields = TetherSettings.get().state
        row("tether executable:") {
            textField().bindText({ fields.tetherPath.orEmpty() }, { fields.tetherPath = it }).comment("Empty: tether on PATH, else the one bundled with the plugin")
        }
    }
}
