// How a prepared session's environment reaches the launched process: the daemon answers which
// variables to set over the launch's environment and which to remove. IDE command lines add
// variables to an inherited environment and cannot remove one, so the patch is the complete
// environment, to be given with the IDE's own environment switched off.
package dev.tether.core.launch

import dev.tether.core.generated.SessionPrepared

data class EnvPatch(
    /** Set over the launch's environment (the target's variables, `LD_PRELOAD`, the session's). */
    val set: Map<String, String>,
    /** Removed from the launch's environment. */
    val unset: List<String>,
    /** The process's whole environment: the launch's, with `set` laid over and `unset` removed. */
    val full: Map<String, String>,
)

fun envPatch(launchEnv: Map<String, String>, prepared: SessionPrepared): EnvPatch {
    val full = (launchEnv + prepared.env) - prepared.unset.toSet()
    return EnvPatch(prepared.env, prepared.unset, full)
}
