// The config a run's session is prepared with. Without extras (no debugger programs or ports of
// the plugin's own) it is the workspace's config file, by path. With them it is given inline:
// the file's config as the daemon resolves it, with the extras added to `skip_processes` and
// `incoming.ignore_ports` (`session.prepare` takes one config, inline or by path, not both).
package dev.tether.core.launch

import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonPrimitive

/** Either `config_path` or `config` of `session.prepare`. */
data class SessionConfig(val path: String?, val inline: JsonObject?)

/**
 * The session's config: `configFile` (absolute; null when the workspace has none) and
 * `resolved`, that file's config as `config.resolve` returned it (needed only with extras).
 */
fun sessionConfig(configFile: String?, resolved: JsonObject?, extras: Extras): SessionConfig {
    if (extras.isEmpty) return SessionConfig(configFile, null)
    val base = resolved ?: JsonObject(emptyMap())
    val skip = union(base["skip_processes"], extras.skipProcesses.map(::JsonPrimitive))
    val incoming = base["incoming"] as? JsonObject ?: JsonObject(emptyMap())
    val ignore = union(incoming["ignore_ports"], extras.ignorePorts.map(::JsonPrimitive))
    val merged = base + mapOf("skip_processes" to skip, "incoming" to JsonObject(incoming + ("ignore_ports" to ignore)))
    return SessionConfig(null, JsonObject(merged))
}

private fun union(existing: JsonElement?, added: List<JsonPrimitive>): JsonArray {
    val items = (existing as? JsonArray).orEmpty() + added
    return JsonArray(items.distinctBy { it.jsonPrimitive.content })
}
