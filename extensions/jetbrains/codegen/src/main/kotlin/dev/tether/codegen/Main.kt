// The generator's entry point: `SCHEMA_DIR OUT_DIR` writes the generated Kotlin files into
// OUT_DIR; with `--check` it writes nothing and exits 1 when a file there differs from a fresh
// generation.
package dev.tether.codegen

import java.nio.file.Files
import java.nio.file.Path
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val check = "--check" in args
    val paths = args.filter { it != "--check" }
    if (paths.size != 2) {
        System.err.println("usage: codegen [--check] SCHEMA_DIR OUT_DIR")
        exitProcess(2)
    }
    val outDir = Path.of(paths[1])
    val stale = staleFiles(Path.of(paths[0]), outDir)
    if (check) {
        if (stale.isEmpty()) return
        System.err.println("stale generated files: ${stale.joinToString()}; $REGENERATE")
        exitProcess(1)
    }
    for ((file, text) in generate(Path.of(paths[0]))) {
        if (file !in stale) continue
        Files.createDirectories(outDir)
        Files.writeString(outDir.resolve(file), text)
        System.err.println("wrote $file")
    }
}

/** How a developer refreshes the generated files. */
const val REGENERATE = "run `mvn -q -pl codegen compile exec:java` in extensions/jetbrains and commit them"

/** The generated files (name → text) from the schemas in `schemaDir`. */
fun generate(schemaDir: Path): Map<String, String> = mapOf(
    "Api.kt" to apiFile(readJson(schemaDir.resolve("api.json"))),
    "Config.kt" to configFile(readJson(schemaDir.resolve("config.schema.json"))),
)

/** The generated files whose committed text in `outDir` is not what `generate` makes. */
fun staleFiles(schemaDir: Path, outDir: Path): List<String> = generate(schemaDir).filter { (file, text) ->
    val committed = outDir.resolve(file)
    !Files.exists(committed) || Files.readString(committed) != text
}.keys.sorted()
