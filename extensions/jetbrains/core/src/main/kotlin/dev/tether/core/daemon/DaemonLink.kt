// The plugin's one connection to the daemon, made on first use and made again after it ended
// (the daemon restarted or was upgraded). Each connection has its own sessions: when it ends,
// the daemon has ended them (they were leased to it).
package dev.tether.core.daemon

import dev.tether.core.session.RunSessions
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock

class DaemonLink(
    /** The executable to run ([findTether]), asked at each connection so a changed setting counts. */
    private val tether: () -> String,
    /** The environment the daemon is started with (the IDE's). */
    private val env: () -> Map<String, String>,
    /** Names the plugin in the daemon's logs, e.g. `jetbrains 0.1.0 (IntelliJ IDEA 2025.1)`. */
    private val client: String,
    private val log: (String) -> Unit = {},
) : AutoCloseable {
    private val lock = Mutex()
    private var current: Pair<Daemon, RunSessions>? = null

    /** The log file of the daemon last connected to, for "Show logs". */
    val logPath: String? get() = current?.first?.logPath

    /** The connected daemon, connecting (and starting it) when needed. */
    suspend fun daemon(): Daemon = connected().first

    /** The sessions of the current connection. */
    suspend fun sessions(): RunSessions = connected().second

    private suspend fun connected(): Pair<Daemon, RunSessions> = lock.withLock {
        current?.takeUnless { it.first.client.closed.isCompleted }?.let { return it }
        current?.let { log("the connection to the daemon ended (${it.first.client.closed.await()}); its runs lost their sessions") }
        val daemon = Daemon.connect(tether(), env(), client)
        log("daemon ${daemon.hello.daemonVersion} (pid ${daemon.hello.pid}, API ${daemon.hello.apiVersion}); log ${daemon.logPath}")
        (daemon to RunSessions(daemon.client, log)).also { current = it }
    }

    override fun close() {
        current?.let { (daemon, sessions) ->
            sessions.close()
            daemon.close()
        }
        current = null
    }
}
