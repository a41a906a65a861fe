// The generated API and config types: fresh against rpc-schema/schema, and their unions read and
// written as the daemon does.
package dev.tether.core.generated

import dev.tether.codegen.REGENERATE
import dev.tether.codegen.staleFiles
import dev.tether.core.rpc.RpcClient.Companion.JSON
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.nio.file.Path

class GeneratedTypesTest {
    private val repo = Path.of(System.getProperty("tether.repo") ?: error("the tether.repo system property is not set (run through Maven)"))

    @Test
    fun committedTypes_matchAFreshGeneration() {
        val stale = staleFiles(repo.resolve("rpc-schema/schema"), repo.resolve("extensions/jetbrains/core/src/main/kotlin/dev/tether/core/generated"))
        assertTrue(stale.isEmpty(), "stale generated files: $stale; $REGENERATE")
    }

    @Test
    fun httpFilter_externallyTaggedUnion_roundTripsAsSealedVariants() {
        val text = """{"all_of":[{"header":"X-Tether-User: alice"},{"any_of":[{"path":"^/orders"},{"method":"POST"}]}]}"""
        val filter = JSON.decodeFromString(HttpFilterConfig.serializer(), text)
        val expected = HttpFilterConfig.AllOf(
            listOf(
                HttpFilterConfig.Header("X-Tether-User: alice"),
                HttpFilterConfig.AnyOf(listOf(HttpFilterConfig.Path("^/orders"), HttpFilterConfig.Method("POST"))),
            ),
        )
        assertEquals(expected, filter)
        assertEquals(text, JSON.encodeToString(HttpFilterConfig.serializer(), filter))
    }

    @Test
    fun subscriptionId_numberOrString_keepsItsKind() {
        assertEquals(SubscriptionId.OfInteger(7), JSON.decodeFromString(SubscriptionId.serializer(), "7"))
        assertEquals(SubscriptionId.OfString("a1"), JSON.decodeFromString(SubscriptionId.serializer(), "\"a1\""))
        assertEquals("7", JSON.encodeToString(SubscriptionId.serializer(), SubscriptionId.OfInteger(7)))
    }

    @Test
    fun config_emptyObject_hasTheSchemasDefaults() {
        val config = JSON.decodeFromString(Config.serializer(), "{}")
        assertEquals(IncomingModeConfig.MIRROR, config.incoming.mode)
        assertEquals(FsModeConfig.READ, config.fs.mode)
        assertEquals(mapOf("cpu" to "10m", "memory" to "16Mi"), config.agent.resources.requests)
        assertEquals(
            SessionEventKind.WARNING,
            JSON.decodeFromString(SessionEvent.serializer(), """{"session_id":"s","target":"pid/1","kind":"warning","message":"m"}""").kind,
        )
    }
}
