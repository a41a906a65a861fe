// Finding the `tether` executable (pure apart from the file checks it is given): the plugin's
// "tether path" setting, else `tether` on PATH, else the binary bundled with the plugin.
package dev.tether.core.daemon

import java.io.File

/** Where the executable was found, for the logs and error messages. */
enum class FoundIn { SETTING, PATH, BUNDLED }

data class Found(val path: String, val from: FoundIn)

/**
 * The executable to run. `isExecutable` is asked about candidate files; `searchPath` is the
 * `PATH` value; `bundled` is the plugin's own `bin/tether`, if it has one. Throws a
 * [BootstrapError] saying what to do when there is none.
 */
fun findTether(setting: String?, searchPath: String?, bundled: String?, isExecutable: (String) -> Boolean): Found {
    val configured = setting?.trim().orEmpty()
    if (configured.isNotEmpty()) {
        if (isExecutable(configured)) return Found(configured, FoundIn.SETTING)
        throw BootstrapError("the tether path setting is $configured, which is not an executable file; fix the setting or clear it")
    }
    for (dir in searchPath.orEmpty().split(File.pathSeparatorChar)) {
        if (dir.isEmpty()) continue
        val file = File(dir, "tether").path
        if (isExecutable(file)) return Found(file, FoundIn.PATH)
    }
    if (bundled != null && isExecutable(bundled)) return Found(bundled, FoundIn.BUNDLED)
    throw BootstrapError("cannot find tether: set the tether path in Settings | Tools | tether, or put tether on PATH")
}

/** The file checks [findTether] makes on this machine. */
fun isExecutableFile(path: String): Boolean = File(path).let { it.isFile && it.canExecute() }

class BootstrapError(message: String) : Exception(message)
