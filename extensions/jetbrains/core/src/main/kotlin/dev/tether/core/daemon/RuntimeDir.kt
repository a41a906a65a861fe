// Where the user's daemon listens: `$XDG_RUNTIME_DIR/tether/api.sock`, or, without a runtime
// directory, `$TMPDIR/tether-<uid>/tether/api.sock` — the places the daemon itself uses
// (daemon/src/paths.rs). Pure: the environment and uid are given.
package dev.tether.core.daemon

import java.nio.file.Files
import java.nio.file.Path

/** The API socket of the daemon that a process with environment `env` and user `uid` reaches. */
fun apiSocket(env: Map<String, String>, uid: Int): Path {
    val runtime = env["XDG_RUNTIME_DIR"]?.takeIf { it.startsWith("/") }?.let(Path::of)
        ?: Path.of(env["TMPDIR"]?.takeIf { it.isNotEmpty() } ?: "/tmp", "tether-$uid")
    return runtime.resolve("tether").resolve("api.sock")
}

/** This process's user id. */
fun currentUid(): Int = Files.getAttribute(Path.of("/proc/self"), "unix:uid") as Int
