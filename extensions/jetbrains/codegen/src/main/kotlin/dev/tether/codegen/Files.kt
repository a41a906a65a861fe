// The two generated files: Api.kt (the editor API: types, method table, error codes) and
// Config.kt (the config file's types).
package dev.tether.codegen

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import java.nio.file.Files
import java.nio.file.Path

const val PACKAGE = "dev.tether.core.generated"
private const val GENERATOR = "extensions/jetbrains/codegen"

fun readJson(file: Path): JsonObject = Json.parseToJsonElement(Files.readString(file)).jsonObject

private fun header(source: String, imports: List<String>): String = buildString {
    append("// generated from rpc-schema/schema/$source by $GENERATOR; do not edit\n")
    append("// ($REGENERATE)\n")
    append("@file:Suppress(\"ktlint\", \"RedundantVisibilityModifier\")\n\n")
    append("package $PACKAGE\n\n")
    for (import in imports.sorted()) append("import $import\n")
    append("\n")
}

private val TYPE_IMPORTS = listOf(
    "kotlinx.serialization.DeserializationStrategy",
    "kotlinx.serialization.KSerializer",
    "kotlinx.serialization.SerialName",
    "kotlinx.serialization.Serializable",
    "kotlinx.serialization.SerializationException",
    "kotlinx.serialization.descriptors.PrimitiveKind",
    "kotlinx.serialization.descriptors.PrimitiveSerialDescriptor",
    "kotlinx.serialization.encoding.Decoder",
    "kotlinx.serialization.encoding.Encoder",
    "kotlinx.serialization.json.JsonContentPolymorphicSerializer",
    "kotlinx.serialization.json.JsonDecoder",
    "kotlinx.serialization.json.JsonElement",
    "kotlinx.serialization.json.JsonEncoder",
    "kotlinx.serialization.json.JsonObject",
    "kotlinx.serialization.json.JsonPrimitive",
    "kotlinx.serialization.json.jsonPrimitive",
    "kotlinx.serialization.json.long",
)

fun apiFile(api: JsonObject): String {
    val defs = Definitions(api["\$defs"]!!.jsonObject)
    val out = StringBuilder(header("api.json", TYPE_IMPORTS + listOf(
        "dev.tether.core.rpc.NullResult",
        "dev.tether.core.rpc.Request",
        "dev.tether.core.rpc.Subscription",
        "kotlinx.serialization.builtins.ListSerializer",
        "kotlinx.serialization.builtins.serializer",
    )))
    out.append("/** The editor API version these types describe; `daemon.hello` takes it. */\n")
    out.append("public const val API_VERSION: Long = ${api["api_version"]!!.jsonPrimitive.long}L\n\n")
    out.append(defs.emitAll())
    out.append(methods(api["methods"]!!.jsonArray.map { it.jsonObject }, defs))
    out.append(errorCodes(api["errors"]!!.jsonArray.map { it.jsonObject }))
    return out.toString()
}

fun configFile(schema: JsonObject): String {
    val defs = Definitions(schema["\$defs"]!!.jsonObject)
    val out = StringBuilder(header("config.schema.json", TYPE_IMPORTS))
    out.append(defs.emitClass("Config", schema))
    out.append(defs.emitAll())
    return out.toString()
}

private fun methods(methods: List<JsonObject>, defs: Definitions): String = buildString {
    append("/** Every method of the API, by name: its parameters and result (or, for a subscription, its\n")
    append(" * notification and item). */\n")
    append("public object Methods {\n")
    for (method in methods) {
        val name = method.text("name")
        val constant = name.replace('.', '_').uppercase()
        append(kdoc(method["doc"]?.let { it.jsonPrimitive.content }, "    "))
        when (val kind = method.text("kind")) {
            "request" -> {
                val params = method["params"] ?: JsonNull
                val paramsType = if (params is JsonNull) "Unit" else defs.typeOf(params, name).text
                val paramsSerializer = if (params is JsonNull) "null" else defs.serializerOf(params, name)
                val result = method["result"]!!
                val resultType = if (isNull(result)) "Unit" else defs.typeOf(result, name).text
                val resultSerializer = if (isNull(result)) "NullResult" else defs.serializerOf(result, name)
                append("    public val $constant: Request<$paramsType, $resultType> =\n")
                append("        Request(\"$name\", $paramsSerializer, $resultSerializer)\n")
            }
            "subscription" -> {
                val params = method["params"]!!
                val item = method["item"]!!
                append("    public val $constant: Subscription<${defs.typeOf(params, name).text}, ${defs.typeOf(item, name).text}> =\n")
                append("        Subscription(\"$name\", ${defs.serializerOf(params, name)}, \"${method.text("notification")}\", ")
                append("${defs.serializerOf(item, name)}, \"${method.text("unsubscribe")}\")\n")
            }
            else -> error("$name: unknown method kind $kind")
        }
    }
    append("}\n\n")
}

private fun isNull(schema: JsonElement): Boolean =
    schema is JsonObject && schema["type"]?.jsonPrimitive?.content == "null" && schema.size == 1

private fun errorCodes(errors: List<JsonObject>): String = buildString {
    append("/** The API's JSON-RPC error codes. */\n")
    append("public object ErrorCodes {\n")
    for (error in errors) {
        append(kdoc(error.text("doc"), "    "))
        append("    public const val ${error.text("name")}: Int = ${error["code"]!!.jsonPrimitive.int}\n")
    }
    append("\n    /** Each code's name, e.g. `TARGET_NOT_FOUND`. */\n")
    append("    public val NAMES: Map<Int, String> = mapOf(\n")
    for (error in errors) append("        ${error.text("name")} to \"${error.text("name")}\",\n")
    append("    )\n}\n")
}

fun JsonObject.text(key: String): String = this[key]?.jsonPrimitive?.content ?: error("missing \"$key\"")
