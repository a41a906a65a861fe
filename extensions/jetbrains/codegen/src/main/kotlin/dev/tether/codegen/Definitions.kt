// The classes of a schema's `$defs`: objects become data classes, string constants enums,
// externally tagged unions (`{"header": ...}` | `{"path": ...}`) and unions of primitives sealed
// interfaces with a serializer that picks the variant.
package dev.tether.codegen

import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.longOrNull

class Definitions(private val defs: JsonObject) {
    fun typeOf(schema: JsonElement, where: String): KType = dev.tether.codegen.typeOf(schema, where)

    fun serializerOf(schema: JsonElement, where: String): String = serializerOf(typeOf(schema, where))

    /** Every definition, in name order. */
    fun emitAll(): String = defs.keys.sorted().joinToString("") { name -> emitClass(name, defs[name]!!.jsonObject) }

    fun emitClass(name: String, schema: JsonObject): String {
        val doc = kdoc(schema["description"]?.jsonPrimitive?.content, "")
        val variants = (schema["oneOf"] ?: schema["anyOf"])?.jsonArray?.map { it.jsonObject }
        val body = when {
            schema["enum"] != null -> enumClass(name, schema["enum"]!!.jsonArray.map { it.jsonPrimitive.content to null })
            variants != null && variants.all { "const" in it } ->
                enumClass(name, variants.map { it["const"]!!.jsonPrimitive.content to it["description"]?.jsonPrimitive?.content })
            variants != null && variants.all { isTaggedVariant(it) } -> taggedUnion(name, variants)
            variants != null && variants.all { it.keys.all { key -> key in PRIMITIVE_KEYS } } -> primitiveUnion(name, variants)
            variants != null -> error("$name: unsupported union $schema")
            schemaTypeNames(schema) == listOf("object") -> dataClass(name, schema)
            else -> error("$name: unsupported definition $schema")
        }
        return doc + body + "\n"
    }

    private fun isTaggedVariant(variant: JsonObject): Boolean {
        val required = variant["required"]?.jsonArray ?: return false
        val properties = variant["properties"]?.jsonObject ?: return false
        return required.size == 1 && properties.size == 1 && variant["additionalProperties"]?.asBoolean() == false
    }

    private fun enumClass(name: String, entries: List<Pair<String, String?>>): String = buildString {
        append("@Serializable\npublic enum class $name {\n")
        for ((value, doc) in entries) {
            append(kdoc(doc, "    "))
            append("    @SerialName(${quote(value)})\n    ${entryName(value)},\n")
        }
        append("}\n")
    }

    private fun dataClass(name: String, schema: JsonObject): String {
        val properties = schema["properties"]?.jsonObject ?: JsonObject(emptyMap())
        require(properties.isNotEmpty()) { "$name: an object without properties" }
        val required = schema["required"]?.jsonArray?.map { it.jsonPrimitive.content }.orEmpty()
        return buildString {
            append("@Serializable\npublic data class $name(\n")
            for ((key, property) in properties) {
                val where = "$name.$key"
                val obj = property as? JsonObject
                val type = typeOf(property, where)
                append(kdoc(obj?.get("description")?.jsonPrimitive?.content, "    "))
                append("    @SerialName(${quote(key)})\n")
                append("    public val ${propertyName(key)}: ${type.text}")
                val default = obj?.get("default")
                when {
                    default != null -> append(" = ${literal(type, default, where)}")
                    key in required -> {}
                    type.nullable -> append(" = null")
                    type.shape is Shape.ListOf -> append(" = emptyList()")
                    type.shape is Shape.MapOf -> append(" = emptyMap()")
                    else -> error("$where: optional without a default")
                }
                append(",\n")
            }
            append(")\n")
        }
    }

    private fun taggedUnion(name: String, variants: List<JsonObject>): String = buildString {
        append("@Serializable(with = $name.Serializer::class)\npublic sealed interface $name {\n")
        val tags = variants.map { it["properties"]!!.jsonObject.keys.single() }
        for ((variant, tag) in variants.zip(tags)) {
            val property = variant["properties"]!!.jsonObject[tag]!!
            val type = typeOf(property, "$name.$tag")
            append(kdoc(variant["description"]?.jsonPrimitive?.content, "    "))
            append("    @Serializable\n")
            append("    public data class ${typeName(tag)}(@SerialName(${quote(tag)}) public val ${propertyName(tag)}: ${type.text}) : $name\n\n")
        }
        append("    /** Picks the variant by the one key its JSON object has. */\n")
        append("    public object Serializer : JsonContentPolymorphicSerializer<$name>($name::class) {\n")
        append("        override fun selectDeserializer(element: JsonElement): DeserializationStrategy<$name> {\n")
        append("            val keys = (element as? JsonObject)?.keys.orEmpty()\n")
        append("            return when {\n")
        for (tag in tags) append("                ${quote(tag)} in keys -> ${typeName(tag)}.serializer()\n")
        append("                else -> throw SerializationException(\"a $name needs one of ${tags.joinToString()}, not \$keys\")\n")
        append("            }\n        }\n    }\n}\n")
    }

    private fun primitiveUnion(name: String, variants: List<JsonObject>): String = buildString {
        val types = variants.map { schemaTypeNames(it).single() }
        require(types.toSet() == setOf("integer", "string")) { "$name: unsupported primitive union $types" }
        append("@Serializable(with = $name.Serializer::class)\npublic sealed interface $name {\n")
        append("    public data class OfInteger(val value: Long) : $name\n\n")
        append("    public data class OfString(val value: String) : $name\n\n")
        append("    /** Reads a JSON number as [OfInteger] and a string as [OfString]. */\n")
        append("    public object Serializer : KSerializer<$name> {\n")
        append("        override val descriptor = PrimitiveSerialDescriptor(\"$PACKAGE.$name\", PrimitiveKind.STRING)\n\n")
        append("        override fun deserialize(decoder: Decoder): $name {\n")
        append("            val value = (decoder as JsonDecoder).decodeJsonElement().jsonPrimitive\n")
        append("            return if (value.isString) OfString(value.content) else OfInteger(value.long)\n")
        append("        }\n\n")
        append("        override fun serialize(encoder: Encoder, value: $name) {\n")
        append("            (encoder as JsonEncoder).encodeJsonElement(\n")
        append("                when (value) {\n")
        append("                    is OfInteger -> JsonPrimitive(value.value)\n")
        append("                    is OfString -> JsonPrimitive(value.value)\n")
        append("                },\n            )\n        }\n    }\n}\n")
    }

    /** Kotlin source of the JSON `value` as a value of `type` (a property's default). */
    fun literal(type: KType, value: JsonElement, where: String): String {
        if (value is JsonNull) return if (type.nullable) "null" else error("$where: null default of a non-null type")
        return when (val shape = type.shape) {
            Shape.Json -> error("$where: only null defaults of untyped JSON are supported")
            Shape.Scalar -> scalar(type.base, value.jsonPrimitive, where)
            is Shape.ListOf -> value.jsonArray.let { items ->
                if (items.isEmpty()) "emptyList()" else items.joinToString(", ", "listOf(", ")") { literal(shape.item, it, where) }
            }
            is Shape.MapOf -> value.jsonObject.let { entries ->
                if (entries.isEmpty()) "emptyMap()"
                else entries.entries.joinToString(", ", "mapOf(", ")") { (k, v) -> "${quote(k)} to ${literal(shape.value, v, where)}" }
            }
            is Shape.Named -> named(shape.name, value, where)
        }
    }

    private fun scalar(base: String, value: JsonPrimitive, where: String): String = when (base) {
        "String" -> quote(value.content.also { require(value.isString) { "$where: default $value is not a string" } })
        "Boolean" -> value.booleanOrNull?.toString() ?: error("$where: default $value is not a boolean")
        "Long" -> value.longOrNull?.let { "${it}L" } ?: error("$where: default $value is not an integer")
        "Double" -> value.doubleOrNull?.toString() ?: error("$where: default $value is not a number")
        else -> error("$where: unsupported scalar $base")
    }

    private fun named(name: String, value: JsonElement, where: String): String {
        val schema = defs[name]?.jsonObject ?: error("$where: no definition $name")
        val variants = (schema["oneOf"] ?: schema["anyOf"])?.jsonArray?.map { it.jsonObject }
        val constants = schema["enum"]?.jsonArray?.map { it.jsonPrimitive.content }
            ?: variants?.mapNotNull { it["const"]?.jsonPrimitive?.content }
        if (value is JsonPrimitive && value.isString) {
            require(constants != null && value.content in constants) { "$where: default $value is not a constant of $name" }
            return "$name.${entryName(value.content)}"
        }
        require(value is JsonObject && schemaTypeNames(schema) == listOf("object")) { "$where: unsupported default $value of $name" }
        val properties = schema["properties"]!!.jsonObject
        return value.entries.joinToString(", ", "$name(", ")") { (key, v) ->
            val property = properties[key] ?: error("$where: default names $key, which $name lacks")
            "${propertyName(key)} = ${literal(typeOf(property, "$name.$key"), v, "$where.$key")}"
        }
    }

    private companion object {
        val PRIMITIVE_KEYS = setOf("type", "format", "minimum", "maximum", "description")
    }
}

private fun JsonElement.asBoolean(): Boolean? = (this as? JsonPrimitive)?.booleanOrNull
