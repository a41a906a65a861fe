// JSON Schema (the subset schemars emits) to Kotlin types, serializer expressions and default
// values. A shape outside the subset fails the generation, so a new one is noticed.
package dev.tether.codegen

import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive

/** A Kotlin type: its text (`List<String>?`) and, without the `?`, what it is. */
data class KType(val base: String, val nullable: Boolean, val shape: Shape) {
    val text: String get() = if (nullable) "$base?" else base
}

sealed interface Shape {
    data object Scalar : Shape
    data object Json : Shape
    data class ListOf(val item: KType) : Shape
    data class MapOf(val value: KType) : Shape
    data class Named(val name: String) : Shape
}

fun schemaTypeNames(schema: JsonObject): List<String> = when (val type = schema["type"]) {
    null -> emptyList()
    is JsonArray -> type.map { it.jsonPrimitive.content }
    else -> listOf(type.jsonPrimitive.content)
}

fun refName(ref: String, where: String): String =
    ref.removePrefix("#/\$defs/").also { require(it != ref) { "$where: unsupported \$ref $ref" } }

/** The Kotlin type of `schema` (a property's or a method's), `where` naming it in errors. */
fun typeOf(schema: JsonElement, where: String): KType {
    if (schema is JsonPrimitive && schema.booleanOrNull == true) return KType("JsonElement", false, Shape.Json)
    val obj = schema.jsonObject
    obj["\$ref"]?.let { val name = refName(it.jsonPrimitive.content, where); return KType(name, false, Shape.Named(name)) }
    obj["anyOf"]?.let { variants ->
        val (nulls, others) = variants.jsonArray.map { it.jsonObject }.partition { schemaTypeNames(it) == listOf("null") }
        require(nulls.size == 1 && others.size == 1) { "$where: unsupported anyOf ${obj}" }
        return typeOf(others.single(), where).copy(nullable = true)
    }
    val types = schemaTypeNames(obj)
    if (types.isEmpty()) {
        require(obj.keys.all { it == "description" || it == "default" }) { "$where: unsupported schema $obj" }
        return KType("JsonElement", true, Shape.Json)
    }
    val nonNull = types.filter { it != "null" }
    require(nonNull.size == 1) { "$where: unsupported type list $types" }
    val nullable = "null" in types
    return when (val type = nonNull.single()) {
        "string" -> KType("String", nullable, Shape.Scalar)
        "boolean" -> KType("Boolean", nullable, Shape.Scalar)
        "integer" -> KType("Long", nullable, Shape.Scalar)
        "number" -> KType("Double", nullable, Shape.Scalar)
        "array" -> {
            val item = typeOf(obj["items"] ?: JsonPrimitive(true), "$where[]")
            KType("List<${item.text}>", nullable, Shape.ListOf(item))
        }
        "object" -> {
            require("properties" !in obj) { "$where: inline object types are not supported; give it a \$defs entry" }
            val value = typeOf(obj["additionalProperties"] ?: JsonPrimitive(true), "$where{}")
            KType("Map<String, ${value.text}>", nullable, Shape.MapOf(value))
        }
        else -> error("$where: unsupported type $type")
    }
}

/** The serializer expression of a method's parameters, result or item type. */
fun serializerOf(type: KType): String {
    val base = when (val shape = type.shape) {
        Shape.Json -> "JsonElement.serializer()"
        Shape.Scalar -> "${type.base}.serializer()"
        is Shape.Named -> "${shape.name}.serializer()"
        is Shape.ListOf -> "ListSerializer(${serializerOf(shape.item)})"
        is Shape.MapOf -> error("maps as method types are not supported")
    }
    return if (type.nullable) "$base.nullable" else base
}

/** Kotlin source text of a string. */
fun quote(text: String): String = buildString {
    append('"')
    for (c in text) when (c) {
        '"' -> append("\\\"")
        '\\' -> append("\\\\")
        '\n' -> append("\\n")
        '$' -> append("\\$")
        else -> append(c)
    }
    append('"')
}

/** A KDoc comment of `text` (nothing when there is none), indented by `indent`. */
fun kdoc(text: String?, indent: String): String {
    if (text.isNullOrBlank()) return ""
    val lines = text.replace("*/", "* /").trim().lines()
    if (lines.size == 1) return "$indent/** ${lines[0]} */\n"
    return buildString {
        append("$indent/**\n")
        for (line in lines) append(if (line.isBlank()) "$indent *\n" else "$indent * $line\n")
        append("$indent */\n")
    }
}

/** `snake_case` (or a `$schema` key) as a Kotlin property name. */
fun propertyName(key: String): String {
    val parts = key.removePrefix("$").split('_').filter { it.isNotEmpty() }
    val name = parts.first() + parts.drop(1).joinToString("") { it.replaceFirstChar(Char::uppercase) }
    return if (name in KEYWORDS) "`$name`" else name
}

/** A constant or key as a type name: `all_of` → `AllOf`. */
fun typeName(key: String): String =
    key.split('_', '-').filter { it.isNotEmpty() }.joinToString("") { it.replaceFirstChar(Char::uppercase) }

/** A string constant as an enum entry: `IfNotPresent` → `IF_NOT_PRESENT`. */
fun entryName(value: String): String =
    value.replace(Regex("([a-z0-9])([A-Z])"), "$1_$2").replace(Regex("[^A-Za-z0-9]+"), "_").uppercase()

private val KEYWORDS = setOf("in", "is", "as", "fun", "object", "val", "var", "when", "class", "interface", "package", "return", "throw", "try", "typealias", "typeof", "null", "true", "false", "do", "if", "else", "for", "while", "break", "continue", "this", "super")
