package dev.tether.core.launch

import dev.tether.core.generated.SessionPrepared
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test

class LaunchRulesTest {
    private val host = mapOf("PATH" to "/usr/bin", "HOME" to "/home/dev", "JAVA_TOOL_OPTIONS" to "-Xmx1g")

    @Test
    fun envPatch_setsOverTheLaunchEnvAndRemovesUnset_keepingTheRest() {
        val model = RunModel(RunKind.JAVA_APPLICATION, "app", "java", env = mapOf("APP_MODE" to "dev", "DEMO_GREETING" to "host"))
        val launch = launchEnv(model, host)
        val patch = envPatch(launch, SessionPrepared(sessionId = "s", env = mapOf("DEMO_GREETING" to "hello-from-pod", "LD_PRELOAD" to "/l.so"), unset = listOf("JAVA_TOOL_OPTIONS")))
        assertEquals(
            mapOf("PATH" to "/usr/bin", "HOME" to "/home/dev", "APP_MODE" to "dev", "DEMO_GREETING" to "hello-from-pod", "LD_PRELOAD" to "/l.so"),
            patch.full,
        )
        assertEquals(listOf("JAVA_TOOL_OPTIONS"), patch.unset)
    }

    @Test
    fun launchEnv_withoutTheHostEnvironment_isTheConfigurationsOwn() {
        val model = RunModel(RunKind.PYTHON, "app", "python3", env = mapOf("A" to "1"), inheritHostEnv = false)
        assertEquals(mapOf("A" to "1"), launchEnv(model, host))
        assertNull(describeLaunch(model, host).debugType, "a run without the debugger names no debug type")
        assertEquals("python", describeLaunch(model.copy(debug = true), host).debugType)
    }

    @Test
    fun extras_goToolchainAndDelve_areNeverHooked() {
        val extras = extrasOf(RunModel(RunKind.GO, "svc", "/tmp/GoLand/___go_build_svc", debug = true))
        assertEquals(listOf("dlv", "go", "compile", "link", "asm", "cgo", "vet"), extras.skipProcesses)
    }

    @Test
    fun extras_riderDebugging_skipsTheWorkerAndIgnoresItsPorts() {
        val model = RunModel(RunKind.DOTNET, "Api", "/opt/rider/lib/ReSharperHost/linux-x64/JetBrains.Debugger.Worker", debug = true, debuggerPorts = listOf(40123))
        val extras = extrasOf(model)
        assertEquals(true, "JetBrains.Debugger.Worker" in extras.skipProcesses && "MSBuild" in extras.skipProcesses)
        assertEquals(listOf(40123), extras.ignorePorts)
        assertEquals(emptyList<Int>(), extrasOf(model.copy(debug = false)).ignorePorts, "a run without the debugger has no debugger ports")
    }

    @Test
    fun extras_pydevdAndIdeaRuntimePorts_areDebuggerPorts() {
        val python = RunModel(RunKind.PYTHON, "app", "python3", listOf("/opt/pycharm/helpers/pydev/pydevd.py", "--multiprocess", "--client", "127.0.0.1", "--port", "36671", "--file", "app.py", "--port", "8080"), debug = true)
        assertEquals(listOf(36671), extrasOf(python).ignorePorts, "the program's own --port after --file is not the debugger's")
        val java = RunModel(RunKind.JUNIT, "tests", "java", listOf("-ea", "-javaagent:/opt/idea/lib/idea_rt.jar=41237:/opt/idea/bin", "com.intellij.rt.junit.JUnitStarter"), debug = true)
        assertEquals(listOf(41237), extrasOf(java).ignorePorts)
    }

    @Test
    fun sessionConfig_withoutExtras_isTheFileByPath_withExtras_theResolvedFileInlineWithThemAdded() {
        assertEquals(SessionConfig("/w/.tether/config.json", null), sessionConfig("/w/.tether/config.json", null, Extras(emptyList(), emptyList())))
        val resolved = Json.parseToJsonElement("""{"target":"deployment/orders","skip_processes":["make"],"incoming":{"mode":"steal","ignore_ports":[9229]}}""").jsonObject
        val config = sessionConfig("/w/.tether/config.json", resolved, Extras(listOf("dlv", "make"), listOf(40000)))
        assertNull(config.path)
        assertEquals(
            Json.parseToJsonElement("""{"target":"deployment/orders","skip_processes":["make","dlv"],"incoming":{"mode":"steal","ignore_ports":[9229,40000]}}"""),
            config.inline,
        )
        val noFile = sessionConfig(null, null, Extras(listOf("dlv"), emptyList()))
        assertEquals(Json.parseToJsonElement("""{"skip_processes":["dlv"],"incoming":{"ignore_ports":[]}}""") as JsonObject, noFile.inline)
    }
}

class RunKindTest {
    @Test
    fun ofConfigurationType_knowsEachIdesRunConfigurations_andLeavesOthersAlone() {
        assertEquals(RunKind.JUNIT, RunKind.ofConfigurationType("JUnit"))
        assertEquals(RunKind.JAVA_APPLICATION, RunKind.ofConfigurationType("JetRunConfigurationType"))
        assertEquals(RunKind.PYTHON, RunKind.ofConfigurationType("PythonConfigurationType"))
        assertEquals(RunKind.DOTNET, RunKind.ofConfigurationType("LaunchSettings"))
        assertNull(RunKind.ofConfigurationType("Remote"), "remote debugging starts no process")
    }
}
