// What the tests against the real daemon run on: a stand-in pod of fixtures/harness/pod (network
// and mount namespaces with the target's env, files and cluster services; needs root), and the
// daemon binaries linked into a temporary directory with a runtime directory of its own, so
// this daemon is the tests' own and a rebuild of target/debug does not stop it.
package dev.tether.core.daemontests

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.nio.file.attribute.PosixFilePermissions
import java.util.concurrent.TimeUnit

class StandInPod private constructor(val name: String, private val info: JsonObject, private val harness: Path) : AutoCloseable {
    /** The pod's process: the target `pid/<pid>`. */
    val pid: Int get() = info["pid"]!!.jsonPrimitive.int
    val target: String get() = "pid/$pid"

    /** `http://orders.shop.svc.cluster.local:8080/`: a service only the pod reaches. */
    val ordersUrl: String get() = "http://${info["names"]!!.jsonObject["orders"]!!.jsonPrimitive.content}:${info["ports"]!!.jsonObject["http"]!!.jsonPrimitive.int}/"

    override fun close() {
        run(listOf(harness.toString(), "down", name), 60)
    }

    companion object {
        /** A file only the pod has, and its content. */
        const val SECRET_FILE = "/etc/demo/secret.txt"
        const val SECRET = "s3cr3t-from-pod"
        const val GREETING = "hello-from-pod"
        const val ORDERS_ANSWER = "orders-service: hello from the cluster"

        fun up(repo: Path): StandInPod {
            require(Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0) { "the tests against the daemon need root (stand-in pods are network and mount namespaces)" }
            val harness = repo.resolve("fixtures/harness/pod")
            val name = "jb-${ProcessHandle.current().pid()}-${System.nanoTime() % 100000}"
            val out = run(listOf(harness.toString(), "up", name), 120)
            val pod = StandInPod(name, Json.parseToJsonElement(out.lines().last { it.startsWith("{") }).jsonObject, harness)
            Runtime.getRuntime().addShutdownHook(Thread { runCatching { pod.close() } })
            return pod
        }

        fun run(command: List<String>, seconds: Long, env: Map<String, String>? = null): String {
            val builder = ProcessBuilder(command).redirectErrorStream(true)
            if (env != null) builder.environment().apply { clear(); putAll(env) }
            val process = builder.start()
            val out = process.inputStream.bufferedReader().readText()
            check(process.waitFor(seconds, TimeUnit.SECONDS)) { "${command.joinToString(" ")} did not finish in $seconds s" }
            check(process.exitValue() == 0) { "${command.joinToString(" ")} failed (exit ${process.exitValue()}): $out" }
            return out
        }
    }
}

/** The tests' own daemon installation and the environment its users (the plugin, the launched
 * processes) have. */
class TestDaemonHome private constructor(val dir: Path, val tether: String, val env: Map<String, String>) : AutoCloseable {
    override fun close() {
        runCatching { StandInPod.run(listOf(tether, "rpc", "daemon.shutdown"), 30, env) }
        dir.toFile().deleteRecursively()
    }

    /** Copies a test resource under `probes/` into this home; returns its path. */
    fun probe(name: String): Path {
        val file = dir.resolve("probes").resolve(name)
        Files.createDirectories(file.parent)
        javaClass.getResourceAsStream("/probes/$name")!!.use { Files.copy(it, file, StandardCopyOption.REPLACE_EXISTING) }
        file.toFile().setExecutable(true)
        return file
    }

    /** A copy of `sh` named as Rider's debugger worker executable, which tether must not hook. */
    fun debuggerWorker(): Path {
        val file = dir.resolve("rider").resolve("JetBrains.Debugger.Worker")
        Files.createDirectories(file.parent)
        Files.copy(Path.of("/bin/sh").toRealPath(), file, StandardCopyOption.REPLACE_EXISTING)
        return file
    }

    companion object {
        fun create(repo: Path): TestDaemonHome {
            val built = repo.resolve("target/debug")
            val binaries = listOf("tether", "libtether_layer.so", "tether-agent")
            val missing = binaries.filterNot { Files.isRegularFile(built.resolve(it)) }
            require(missing.isEmpty()) { "$built lacks ${missing.joinToString()}: run `cargo build --workspace` first" }
            val dir = Files.createTempDirectory("tether-jetbrains-")
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"))
            val bin = Files.createDirectories(dir.resolve("bin"))
            for (binary in binaries) {
                val target = bin.resolve(binary)
                runCatching { Files.createLink(target, built.resolve(binary)) }.getOrElse { Files.copy(built.resolve(binary), target) }
            }
            val run = Files.createDirectories(dir.resolve("run"))
            Files.setPosixFilePermissions(run, PosixFilePermissions.fromString("rwx------"))
            val env = System.getenv() + mapOf(
                "XDG_RUNTIME_DIR" to run.toString(),
                "XDG_STATE_HOME" to Files.createDirectories(dir.resolve("state")).toString(),
                "XDG_CONFIG_HOME" to Files.createDirectories(dir.resolve("config")).toString(),
                "XDG_DATA_HOME" to Files.createDirectories(dir.resolve("data")).toString(),
                // No cluster: only this machine's stand-ins are targets.
                "KUBECONFIG" to dir.resolve("no-kubeconfig").toString(),
            )
            return TestDaemonHome(dir, bin.resolve("tether").toString(), env)
        }
    }
}
