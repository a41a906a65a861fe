// The daemon's typed errors as the plugin shows them: the daemon's message says what happened
// and what to do; the title says what kind of failure it is, from its code.
package dev.tether.core.rpc

import dev.tether.core.generated.ErrorCodes
import kotlinx.serialization.json.JsonElement

/** An error answered by the daemon (`code` from [ErrorCodes]), or one of the client's own
 * ([CLIENT_FAILURE]: the daemon could not be found, started or reached). */
class TetherError(val code: Int, message: String, val data: JsonElement? = null) : Exception(message) {
    /** The code's name (`TARGET_NOT_FOUND`), when it is one of the API's. */
    val codeName: String? get() = ErrorCodes.NAMES[code]

    /** One line for a notification: `tether: <kind>: <the daemon's message>`. */
    fun describe(doing: String): String = TITLES[code]?.let { "tether: $it: $message" } ?: "tether: $doing failed: $message"

    companion object {
        /** Not the daemon's answer: finding, starting or talking to it failed. */
        const val CLIENT_FAILURE: Int = -1

        private val TITLES = mapOf(
            ErrorCodes.TARGET_NOT_FOUND to "target not found",
            ErrorCodes.CONFIG_INVALID to "the config is invalid",
            ErrorCodes.AGENT_START_FAILED to "the agent could not start",
            ErrorCodes.CLUSTER_UNREACHABLE to "the cluster cannot be reached",
            ErrorCodes.NOT_PERMITTED to "not permitted",
            ErrorCodes.INCOMPATIBLE_VERSION to "this plugin and the tether daemon speak different API versions",
            ErrorCodes.SESSION_NOT_FOUND to "no such session",
            ErrorCodes.TARGET_NOT_READY to "the target is not ready",
            ErrorCodes.POD_SECURITY_REJECTED to "the namespace's pod security refused the agent pod",
            ErrorCodes.IMAGE_PULL_FAILED to "the agent image could not be pulled",
            ErrorCodes.NODE_REFUSED to "the node refused the agent pod",
            ErrorCodes.AGENT_START_TIMEOUT to "the agent pod did not start in time",
        )
    }
}
