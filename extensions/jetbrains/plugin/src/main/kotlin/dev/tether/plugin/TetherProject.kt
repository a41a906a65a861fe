// A project's link to the daemon (the core's DaemonLink): started on first use with the IDE's
// environment, closed with the project.
package dev.tether.plugin

import com.intellij.ide.plugins.PluginManager
import com.intellij.openapi.application.ApplicationInfo
import com.intellij.openapi.Disposable
import com.intellij.openapi.components.Service
import com.intellij.openapi.diagnostic.logger
import com.intellij.openapi.project.Project
import com.intellij.util.EnvironmentUtil
import dev.tether.core.daemon.DaemonLink
import dev.tether.core.daemon.findTether
import dev.tether.core.daemon.isExecutableFile

@Service(Service.Level.PROJECT)
class TetherProject(private val project: Project) : Disposable {
    val link = DaemonLink(
        tether = { findTether(TetherSettings.get().state.tetherPath, hostEnv()["PATH"], bundledTether(), ::isExecutableFile).path },
        env = ::hostEnv,
        client = "jetbrains ${plugin()?.version} (${ApplicationInfo.getInstance().fullApplicationName})",
        log = { LOG.info(it) },
    )

    /** The environment the IDE gives the processes it launches. */
    fun hostEnv(): Map<String, String> = EnvironmentUtil.getEnvironmentMap()

    /** `.tether/config.json` of the project, when it has one. */
    fun configFile(): String? = project.basePath?.let { java.io.File(it, ".tether/config.json") }?.takeIf { it.isFile }?.path

    override fun dispose() = link.close()

    /** This plugin (`dev.tether`, or `dev.tether.rider` in Rider). */
    private fun plugin() = PluginManager.getPluginByClass(TetherProject::class.java)

    private fun bundledTether(): String? = plugin()?.pluginPath?.resolve("bin/tether")?.toString()

    companion object {
        private val LOG = logger<TetherProject>()

        fun of(project: Project): TetherProject = project.getService(TetherProject::class.java)
    }
}
