// What the generated method table (generated/Api.kt) is made of: a request's name with the
// serializers of its parameters and result, and a subscription's names and item serializer.
package dev.tether.core.rpc

import kotlinx.serialization.KSerializer
import kotlinx.serialization.descriptors.PrimitiveKind
import kotlinx.serialization.descriptors.PrimitiveSerialDescriptor
import kotlinx.serialization.encoding.Decoder
import kotlinx.serialization.encoding.Encoder
import kotlinx.serialization.json.JsonDecoder
import kotlinx.serialization.json.JsonEncoder
import kotlinx.serialization.json.JsonNull

/** A request method; `params` is null for a method that takes none (then `P` is `Unit`). */
class Request<P, R>(val name: String, val params: KSerializer<P>?, val result: KSerializer<R>)

/** A subscription: the request that starts it, the notification that carries its items, and
 * the request that ends it. */
class Subscription<P, I>(
    val name: String,
    val params: KSerializer<P>,
    val notification: String,
    val item: KSerializer<I>,
    val unsubscribe: String,
)

/** The result of a method that answers `null`. */
object NullResult : KSerializer<Unit> {
    override val descriptor = PrimitiveSerialDescriptor("dev.tether.core.rpc.NullResult", PrimitiveKind.STRING)

    override fun deserialize(decoder: Decoder) {
        (decoder as JsonDecoder).decodeJsonElement()
    }

    override fun serialize(encoder: Encoder, value: Unit) {
        (encoder as JsonEncoder).encodeJsonElement(JsonNull)
    }
}
