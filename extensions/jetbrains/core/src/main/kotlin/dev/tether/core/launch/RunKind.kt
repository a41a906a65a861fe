// The kinds of run configuration tether takes, and what each asks of a session: the debug type
// the daemon's presets know it by, the programs of the IDE's debugger and build toolchain that
// must not be hooked, and the debugger ports its command line names that the daemon's presets
// do not read (JDWP, the Node inspector and delve's --listen they do).
package dev.tether.core.launch

enum class RunKind(
    /** `Launch.debug_type` when debugging (the daemon's presets key on it). */
    val debugType: String,
    /** Programs (base names of the executable or of argv[0]) never hooked; their children are. */
    val skipProcesses: List<String>,
) {
    /** Java and Kotlin application configurations (also Spring Boot and the like). */
    JAVA_APPLICATION("java", emptyList()),

    /** JUnit (and TestNG) configurations: the forked test JVM. */
    JUNIT("java", emptyList()),

    /** A Gradle task: the build's JVM and what it forks (test JVMs, `run`, `bootRun`). The build's
     * JVM is `java` like its children, so it cannot be told apart by name and is hooked too. */
    GRADLE("java", emptyList()),

    /** A Maven goal: the Maven JVM and what it forks (surefire, `exec:exec`). */
    MAVEN("java", emptyList()),

    /** Python (PyCharm): pydevd runs inside the process itself. */
    PYTHON("python", emptyList()),

    /** Go (GoLand): delve and the go toolchain (build, compile, link, vet, cgo) are not hooked. */
    GO("go", listOf("dlv", "go", "compile", "link", "asm", "cgo", "vet")),

    /** Node.js (WebStorm). */
    NODE("node", emptyList()),

    /** .NET in Rider: the debugger worker (which starts the program under the debugger) and the
     * build tools are not hooked. */
    DOTNET("coreclr", listOf("JetBrains.Debugger.Worker", "JetBrains.Debugger.Worker.exe", "MSBuild", "MSBuild.exe", "VBCSCompiler")),
    ;

    companion object {
        /** The kind of an IDE run configuration, by its type's id; null for types tether leaves
         * alone (remote debug, compound, database, browser, …). */
        fun ofConfigurationType(typeId: String): RunKind? = CONFIGURATION_TYPES[typeId]

        private val CONFIGURATION_TYPES = mapOf(
            "Application" to JAVA_APPLICATION,
            "JetRunConfigurationType" to JAVA_APPLICATION,
            "SpringBootApplicationConfigurationType" to JAVA_APPLICATION,
            "JarApplication" to JAVA_APPLICATION,
            "JUnit" to JUNIT,
            "TestNG" to JUNIT,
            "GradleRunConfiguration" to GRADLE,
            "MavenRunConfiguration" to MAVEN,
            "PythonConfigurationType" to PYTHON,
            "tests" to PYTHON,
            "GoApplicationRunConfiguration" to GO,
            "GoTestRunConfiguration" to GO,
            "NodeJSConfigurationType" to NODE,
            "js.build_tools.npm" to NODE,
            "DotNetProject" to DOTNET,
            "LaunchSettings" to DOTNET,
            "RunExe" to DOTNET,
            "RunUnitTest" to DOTNET,
        )
    }

    /** Debugger ports named on the command line that only this plugin knows about. */
    fun debuggerPorts(words: List<String>): List<Int> = when (this) {
        PYTHON -> pydevdPorts(words)
        JAVA_APPLICATION, JUNIT, GRADLE, MAVEN -> ideaRuntimePorts(words)
        GO, NODE, DOTNET -> emptyList()
    }
}

/** PyCharm starts `python .../pydevd.py --port N --client HOST --file app.py`. */
private fun pydevdPorts(words: List<String>): List<Int> {
    val pydevd = words.indexOfFirst { it.endsWith("pydevd.py") }
    if (pydevd < 0) return emptyList()
    val rest = words.drop(pydevd + 1).takeWhile { it != "--file" }
    return rest.zipWithNext().filter { (flag, _) -> flag == "--port" }.mapNotNull { (_, port) -> port.toIntOrNull() }
}

/** IntelliJ's launcher agent, `-javaagent:…/idea_rt.jar=PORT:…/bin`, listens on PORT for the
 * IDE's "exit" and "dump threads" buttons. */
private fun ideaRuntimePorts(words: List<String>): List<Int> = words.mapNotNull { word ->
    val options = word.takeIf { it.startsWith("-javaagent:") && "idea_rt.jar=" in it }?.substringAfter("idea_rt.jar=")
    options?.substringBefore(':')?.toIntOrNull()
}
