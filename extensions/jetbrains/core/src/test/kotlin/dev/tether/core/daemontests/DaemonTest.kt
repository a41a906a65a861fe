// The core against the real daemon and a stand-in pod (test tier 4 of the design): listing
// targets, preparing sessions for a Java, a Python and a Rider-style .NET run, launching real
// processes with the patched environment, the session ending with the process, and the typed
// errors of a wrong target.
package dev.tether.core.daemontests

import dev.tether.core.chooser.ChooserState
import dev.tether.core.chooser.Choice
import dev.tether.core.chooser.Row
import dev.tether.core.chooser.TargetLister
import dev.tether.core.chooser.rows
import dev.tether.core.daemon.Daemon
import dev.tether.core.generated.ErrorCodes
import dev.tether.core.generated.Methods
import dev.tether.core.generated.SessionEventsParams
import dev.tether.core.launch.RunKind
import dev.tether.core.launch.RunModel
import dev.tether.core.rpc.TetherError
import dev.tether.core.session.PreparedRun
import dev.tether.core.session.RunSessions
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.nio.file.Path
import java.util.concurrent.TimeUnit

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DaemonTest {
    private val repo = Path.of(System.getProperty("tether.repo") ?: error("the tether.repo system property is not set (run through Maven)"))
    private lateinit var home: TestDaemonHome
    private lateinit var pod: StandInPod
    private lateinit var daemon: Daemon
    private lateinit var sessions: RunSessions
    private val onPod get() = Choice(pod.target, onHost = true)

    @BeforeAll
    fun start() = runBlocking {
        home = TestDaemonHome.create(repo)
        pod = StandInPod.up(repo)
        daemon = Daemon.connect(home.tether, home.env, "jetbrains-core-tests")
        sessions = RunSessions(daemon.client)
    }

    @AfterAll
    fun stop() {
        if (::sessions.isInitialized) sessions.close()
        if (::daemon.isInitialized) daemon.close()
        if (::pod.isInitialized) pod.close()
        if (::home.isInitialized) home.close()
    }

    @Test
    fun chooser_withoutACluster_listsTheStandInPodOnThisMachine() = runBlocking {
        val state = TargetLister(daemon.client).load(ChooserState())
        assertTrue(state.host.any { it.target == pod.target }, "this machine's targets: ${state.host.map { it.target }}")
        assertTrue(state.clusterError != null, "no kubeconfig: the cluster part says why it is empty")
        val shown = rows(state)
        val section = shown.indexOf(Row.Section("this machine"))
        assertTrue(section >= 0 && shown.drop(section).any { it is Row.Target && it.choice == onPod }, "rows: $shown")
    }

    @Test
    fun javaApplication_seesTheTargetsEnvFileAndService_andItsSessionEndsWithIt() = runBlocking {
        val classes = home.dir.resolve("java-classes")
        StandInPod.run(listOf(javaTool("javac"), "-d", classes.toString(), home.probe("Probe.java").toString()), 120)
        val model = RunModel(RunKind.JAVA_APPLICATION, "Probe", javaTool("java"), listOf("-cp", classes.toString(), "Probe", StandInPod.SECRET_FILE, pod.ordersUrl))
        val run = sessions.prepare(onPod, model, home.env)
        assertTargetContext(launch(run))
        assertSessionGone(run)
    }

    @Test
    fun pythonRun_seesTheTargetsEnvFileAndService_andItsSessionEndsWithIt() = runBlocking {
        val model = RunModel(RunKind.PYTHON, "probe.py", "python3", listOf(home.probe("probe.py").toString(), StandInPod.SECRET_FILE, pod.ordersUrl))
        val run = sessions.prepare(onPod, model, home.env)
        assertTargetContext(launch(run))
        assertSessionGone(run)
    }

    @Test
    fun riderDebugRun_workerIsNotHooked_theProgramItStartsIs() = runBlocking {
        val model = RunModel(
            RunKind.DOTNET,
            "Api (Rider)",
            home.debuggerWorker().toString(),
            listOf(home.probe("debugger-worker.sh").toString(), "python3", home.probe("probe.py").toString(), StandInPod.SECRET_FILE, pod.ordersUrl),
            env = mapOf("WORKER_PROBE_FILE" to StandInPod.SECRET_FILE),
            debug = true,
            debuggerPorts = listOf(40555),
        )
        val progress = mutableListOf<String>()
        val run = sessions.prepare(onPod, model, home.env) { synchronized(progress) { progress += it } }
        assertTrue(synchronized(progress) { progress.isNotEmpty() }, "the preparation's progress is reported")
        val output = launch(run)
        assertTrue("worker-file=absent" in output, "the debugger worker read the target's file: $output")
        assertTargetContext(output)
        assertSessionGone(run)
    }

    @Test
    fun wrongTarget_isTargetNotFound_aClusterTargetWithoutKubeconfigIsClusterUnreachable() = runBlocking {
        val model = RunModel(RunKind.PYTHON, "probe.py", "python3")
        val gone = assertThrows<TetherError> { runBlocking { sessions.prepare(Choice("pid/4194000", onHost = true), model, home.env) } }
        assertEquals("TARGET_NOT_FOUND", gone.codeName, gone.message)
        assertTrue(gone.describe("preparing").startsWith("tether: target not found: "), gone.describe("preparing"))
        val cluster = assertThrows<TetherError> { runBlocking { sessions.prepare(Choice("deployment/orders", namespace = "shop"), model, home.env) } }
        assertEquals(ErrorCodes.CLUSTER_UNREACHABLE, cluster.code, "${cluster.codeName}: ${cluster.message}")
        assertTrue(sessions.live().isEmpty(), "failed preparations leave no session")
    }

    @Test
    fun closingTheConnection_endsTheSessionsPreparedOnIt() = runBlocking {
        val other = Daemon.connect(home.tether, home.env, "jetbrains-core-tests (lease)")
        val run = RunSessions(other.client).prepare(onPod, RunModel(RunKind.NODE, "app.js", "node"), home.env)
        assertTrue(listedSessions().contains(run.sessionId))
        other.close()
        waitUntil("the daemon ends ${run.sessionId} with its connection") { run.sessionId !in listedSessions() }
    }

    @Test
    fun sessionEvents_subscriptionDeliversAPreparationsProgress_andCanBeCancelled() = runBlocking {
        val events = daemon.client.subscribe(Methods.SESSION_EVENTS, SessionEventsParams())
        val run = sessions.prepare(onPod, RunModel(RunKind.NODE, "app.js", "node"), home.env)
        val first = withTimeout(15_000) { events.items.receive() }
        assertEquals(pod.target, first.target, "the first event of every session's events: $first")
        assertTrue(events.cancel(), "the daemon confirms the end of the subscription")
        sessions.end(run, "the test is done")
        assertTrue(run.sessionId !in listedSessions())
    }

    /** Starts the run's process as the IDE would, with the patched environment (the IDE's own
     * switched off), binds the session to it, and returns its output once it exited. */
    private fun launch(run: PreparedRun): String {
        val model = run.model
        val builder = ProcessBuilder(listOf(model.program) + model.args).redirectErrorStream(true)
        builder.environment().apply { clear(); putAll(run.env.full) }
        val process = builder.start()
        sessions.attach(run, process.toHandle())
        val output = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "${model.name} did not exit: $output")
        assertEquals(0, process.exitValue(), "${model.name} failed: $output")
        return output
    }

    private fun assertTargetContext(output: String) {
        val lines = output.lines()
        assertTrue("env=${StandInPod.GREETING}" in lines, "the target's env: $output")
        assertTrue("file=${StandInPod.SECRET}" in lines, "the target's file: $output")
        assertTrue("http=${StandInPod.ORDERS_ANSWER}" in lines, "the target's service: $output")
    }

    private suspend fun assertSessionGone(run: PreparedRun) {
        waitUntil("the session ${run.sessionId} ends when its process exits") { run.sessionId !in listedSessions() }
        assertTrue(sessions.live().none { it.sessionId == run.sessionId })
    }

    private suspend fun listedSessions(): List<String> = daemon.client.call(Methods.SESSION_LIST).map { it.sessionId }

    private suspend fun waitUntil(what: String, condition: suspend () -> Boolean) {
        runCatching {
            withTimeout(15_000) {
                while (!condition()) delay(50)
            }
        }.onFailure { throw AssertionError("$what: not within 15 s") }
    }

    private fun javaTool(name: String): String = Path.of(System.getProperty("java.home"), "bin", name).toString()
}
