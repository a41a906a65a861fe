// A JSON-RPC 2.0 client on one WebSocket connection to the daemon: requests by name with
// parameters by name, answers matched by id, subscriptions' notifications routed by their
// subscription id. A reader thread owns the receiving side. The connection is the lease of the
// sessions prepared on it: when it ends, the daemon ends them.
package dev.tether.core.rpc

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.longOrNull
import kotlinx.serialization.json.put
import java.io.Closeable
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong

class RpcClient(private val socket: WebSocket) : Closeable {
    private val nextId = AtomicLong(1)
    private val pending = ConcurrentHashMap<Long, Pending>()
    private val subscriptions = ConcurrentHashMap<JsonElement, Sink>()
    private val ended = CompletableDeferred<String>()
    @Volatile private var endReason: String? = null

    /** Completes with the reason once the connection has ended (the daemon stopped, or [close]). */
    val closed: Deferred<String> get() = ended

    private class Pending(val answer: CompletableDeferred<JsonElement>, val sink: Sink?)

    /** Where a subscription's notifications go (called on the reader thread). */
    private class Sink(val deliver: (JsonElement) -> Unit, val close: () -> Unit)

    init {
        Thread({ readLoop() }, "tether-rpc-reader").apply { isDaemon = true }.start()
    }

    /** Calls `request` with `params`; an error answer is thrown as a [TetherError]. */
    suspend fun <P, R> call(request: Request<P, R>, params: P): R {
        val encoded = request.params?.let { JSON.encodeToJsonElement(it, params) }
        return JSON.decodeFromJsonElement(request.result, send(request.name, encoded, null))
    }

    /** Calls a request that takes no parameters. */
    suspend fun <R> call(request: Request<Unit, R>): R = call(request, Unit)

    /** Starts `subscription`; its items arrive on the returned handle until it is cancelled or
     * the connection ends. */
    suspend fun <P, I> subscribe(subscription: Subscription<P, I>, params: P): RpcSubscription<I> {
        val items = Channel<I>(Channel.UNLIMITED)
        val sink = Sink(
            deliver = { raw -> runCatching { JSON.decodeFromJsonElement(subscription.item, raw) }.onSuccess { items.trySend(it) } },
            close = { items.close() },
        )
        val id = send(subscription.name, JSON.encodeToJsonElement(subscription.params, params), sink)
        return RpcSubscription(items) {
            subscriptions.remove(id)?.close?.invoke()
            runCatching { send(subscription.unsubscribe, JsonArray(listOf(id)), null) }.getOrNull()?.let { (it as? JsonPrimitive)?.booleanOrNull } == true
        }
    }

    private suspend fun send(method: String, params: JsonElement?, sink: Sink?): JsonElement {
        val id = nextId.getAndIncrement()
        val answer = CompletableDeferred<JsonElement>()
        pending[id] = Pending(answer, sink)
        val message = buildJsonObject {
            put("jsonrpc", "2.0")
            put("id", id)
            put("method", method)
            if (params != null) put("params", params)
        }
        try {
            endReason?.let { throw TetherError(TetherError.CLIENT_FAILURE, it) }
            socket.send(message.toString())
            return answer.await()
        } catch (err: java.io.IOException) {
            throw TetherError(TetherError.CLIENT_FAILURE, "cannot send to the tether daemon: ${err.message}")
        } finally {
            pending.remove(id)
        }
    }

    private fun readLoop() {
        val reason = try {
            while (true) {
                val text = socket.receive() ?: break
                dispatch(JSON.parseToJsonElement(text).jsonObject)
            }
            "the tether daemon closed the connection"
        } catch (err: Exception) {
            "the connection to the tether daemon failed: ${err.message}"
        }
        endReason = reason
        ended.complete(reason)
        for (entry in pending.values) entry.answer.completeExceptionally(TetherError(TetherError.CLIENT_FAILURE, reason))
        for (sink in subscriptions.values) sink.close()
        subscriptions.clear()
    }

    private fun dispatch(message: JsonObject) {
        val id = message["id"]?.jsonPrimitive?.longOrNull
        if (id == null) {
            val params = message["params"] as? JsonObject ?: return
            val subscription = params["subscription"] ?: return
            subscriptions[subscription]?.deliver?.invoke(params["result"] ?: JsonNull)
            return
        }
        val entry = pending[id] ?: return
        val error = message["error"] as? JsonObject
        if (error != null) {
            val code = error["code"]?.jsonPrimitive?.int ?: TetherError.CLIENT_FAILURE
            val text = error["message"]?.jsonPrimitive?.content ?: "the daemon failed"
            entry.answer.completeExceptionally(TetherError(code, text, error["data"]))
            return
        }
        val result = message["result"] ?: JsonNull
        // Registered before the answer is handed on: the subscription's first notification may
        // follow at once, and this thread reads it next.
        entry.sink?.let { subscriptions[result] = it }
        entry.answer.complete(result)
    }

    override fun close() {
        runCatching { socket.close() }
    }

    companion object {
        /** How the API's JSON is read and written: unknown fields are ignored (new fields are
         * optional), defaults and nulls are left out (the daemon has the same defaults). */
        val JSON = Json {
            ignoreUnknownKeys = true
            explicitNulls = false
            encodeDefaults = false
        }
    }
}

/** A running subscription. */
class RpcSubscription<I>(val items: ReceiveChannel<I>, private val stop: suspend () -> Boolean) {
    /** Ends the subscription; whether the daemon confirmed it. */
    suspend fun cancel(): Boolean = stop()
}
