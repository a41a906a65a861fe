// The daemon as the plugin reaches it: `tether rpc daemon.status` makes sure the user's daemon
// runs (the CLI starts it, or replaces one of another version, exactly as for `tether exec`),
// then the plugin opens its own WebSocket on the daemon's Unix socket and says hello. The
// connection is the lease of every session prepared on it.
package dev.tether.core.daemon

import dev.tether.core.generated.API_VERSION
import dev.tether.core.generated.HelloParams
import dev.tether.core.generated.HelloResult
import dev.tether.core.generated.Methods
import dev.tether.core.generated.StatusResult
import dev.tether.core.rpc.RpcClient
import dev.tether.core.rpc.TetherError
import dev.tether.core.rpc.WebSocket
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import java.io.IOException
import java.net.StandardProtocolFamily
import java.net.UnixDomainSocketAddress
import java.nio.channels.SocketChannel
import java.util.concurrent.TimeUnit

/** A connection to the daemon after a successful hello. */
class Daemon private constructor(val client: RpcClient, val hello: HelloResult, val status: StatusResult) : AutoCloseable {
    /** The daemon's log file, for "Show logs" on a failure. */
    val logPath: String get() = status.logPath

    override fun close() = client.close()

    companion object {
        /** How long `tether rpc` may take to start (or replace) the daemon and answer. */
        private const val START_SECONDS = 30L

        /**
         * Connects to the daemon of the user whose environment is `env` (the daemon started for
         * it gets that environment: its `PATH`, `KUBECONFIG`, `XDG_RUNTIME_DIR`), starting it
         * with `tether` when none runs. `client` names the caller in the daemon's logs.
         */
        suspend fun connect(tether: String, env: Map<String, String>, client: String): Daemon = withContext(Dispatchers.IO) {
            ensureRunning(tether, env)
            val socket = apiSocket(env, currentUid())
            val channel = try {
                SocketChannel.open(StandardProtocolFamily.UNIX).apply { connect(UnixDomainSocketAddress.of(socket)) }
            } catch (err: IOException) {
                throw TetherError(TetherError.CLIENT_FAILURE, "cannot reach the tether daemon at $socket: ${err.message}")
            }
            val rpc = try {
                RpcClient(WebSocket.open(channel))
            } catch (err: IOException) {
                throw TetherError(TetherError.CLIENT_FAILURE, "cannot talk to the tether daemon at $socket: ${err.message}")
            }
            try {
                val hello = rpc.call(Methods.DAEMON_HELLO, HelloParams(apiVersion = API_VERSION, client = client))
                Daemon(rpc, hello, rpc.call(Methods.DAEMON_STATUS))
            } catch (err: Throwable) {
                rpc.close()
                throw err
            }
        }

        private fun ensureRunning(tether: String, env: Map<String, String>) {
            val process = try {
                ProcessBuilder(tether, "rpc", "daemon.status").apply {
                    environment().clear()
                    environment().putAll(env)
                    redirectInput(ProcessBuilder.Redirect.from(java.io.File("/dev/null")))
                    redirectOutput(ProcessBuilder.Redirect.DISCARD)
                }.start()
            } catch (err: IOException) {
                throw TetherError(TetherError.CLIENT_FAILURE, "cannot run $tether: ${err.message}")
            }
            val finished = process.waitFor(START_SECONDS, TimeUnit.SECONDS)
            val stderr = if (finished) process.errorStream.bufferedReader().readText().trim() else ""
            if (!finished) {
                process.destroyForcibly()
                throw TetherError(TetherError.CLIENT_FAILURE, "$tether rpc daemon.status did not answer within $START_SECONDS s")
            }
            if (process.exitValue() != 0) {
                throw TetherError(TetherError.CLIENT_FAILURE, "the tether daemon could not be started: ${stderr.ifEmpty { "exit ${process.exitValue()}" }}")
            }
        }
    }
}
