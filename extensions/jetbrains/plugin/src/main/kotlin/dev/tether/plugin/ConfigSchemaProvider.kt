// `.tether/*.json` validated and completed through the config's JSON Schema (rpc-schema's
// config.schema.json, bundled at build time).
package dev.tether.plugin

import com.intellij.openapi.project.Project
import com.intellij.openapi.vfs.VirtualFile
import com.jetbrains.jsonSchema.extension.JsonSchemaFileProvider
import com.jetbrains.jsonSchema.extension.JsonSchemaProviderFactory
import com.jetbrains.jsonSchema.extension.SchemaType

class ConfigSchemaProvider : JsonSchemaProviderFactory {
    override fun getProviders(project: Project): List<JsonSchemaFileProvider> = listOf(Provider)

    private object Provider : JsonSchemaFileProvider {
        override fun isAvailable(file: VirtualFile) = file.extension == "json" && file.parent?.name == ".tether"

        override fun getName() = "tether config"

        override fun getSchemaFile(): VirtualFile? = JsonSchemaProviderFactory.getResourceFile(ConfigSchemaProvider::class.java, "/dev/tether/plugin/config.schema.json")

        override fun getSchemaType() = SchemaType.embeddedSchema
    }
}
