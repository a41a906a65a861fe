// A WebSocket client (RFC 6455, text messages only) over a connected byte channel: the daemon
// serves JSON-RPC with WebSocket framing on its Unix socket. Blocking; one thread may read
// while others send (a SocketChannel reads and writes under separate locks).
package dev.tether.core.rpc

import java.io.Closeable
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.channels.ByteChannel
import java.security.MessageDigest
import java.security.SecureRandom
import java.util.Base64

class WebSocket private constructor(private val channel: ByteChannel, private val input: ByteBuffer) : Closeable {
    private val random = SecureRandom()
    private val sendLock = Any()

    /** Sends one text message. */
    fun send(text: String) {
        frame(OP_TEXT, text.toByteArray(Charsets.UTF_8))
    }

    /** The next text message; null once the server closed the connection. */
    fun receive(): String? {
        val message = java.io.ByteArrayOutputStream()
        while (true) {
            val head = readBytes(2)
            val fin = head[0].toInt() and 0x80 != 0
            val opcode = head[0].toInt() and 0x0f
            val masked = head[1].toInt() and 0x80 != 0
            val length = when (val short = head[1].toInt() and 0x7f) {
                126 -> readBytes(2).fold(0L) { acc, b -> (acc shl 8) or (b.toLong() and 0xff) }
                127 -> readBytes(8).fold(0L) { acc, b -> (acc shl 8) or (b.toLong() and 0xff) }
                else -> short.toLong()
            }
            if (length > MAX_MESSAGE || message.size() + length > MAX_MESSAGE) throw IOException("the daemon sent a message over $MAX_MESSAGE bytes")
            val mask = if (masked) readBytes(4) else null
            val payload = readBytes(length.toInt())
            if (mask != null) for (i in payload.indices) payload[i] = (payload[i].toInt() xor mask[i % 4].toInt()).toByte()
            when (opcode) {
                OP_CLOSE -> {
                    runCatching { frame(OP_CLOSE, payload.take(2).toByteArray()) }
                    return null
                }
                OP_PING -> frame(OP_PONG, payload)
                OP_PONG -> {}
                OP_TEXT, OP_BINARY, OP_CONTINUATION -> {
                    message.write(payload)
                    if (fin) return message.toString(Charsets.UTF_8)
                }
                else -> throw IOException("the daemon sent a WebSocket frame of unknown opcode $opcode")
            }
        }
    }

    override fun close() {
        runCatching { frame(OP_CLOSE, byteArrayOf(0x03, 0xe8.toByte())) }
        channel.close()
    }

    private fun frame(opcode: Int, payload: ByteArray) {
        val mask = ByteArray(4).also(random::nextBytes)
        val lengthBytes = when {
            payload.size < 126 -> 0
            payload.size <= 0xffff -> 2
            else -> 8
        }
        val buffer = ByteBuffer.allocate(2 + lengthBytes + 4 + payload.size)
        buffer.put((0x80 or opcode).toByte())
        when (lengthBytes) {
            0 -> buffer.put((0x80 or payload.size).toByte())
            2 -> buffer.put((0x80 or 126).toByte()).putShort(payload.size.toShort())
            else -> buffer.put((0x80 or 127).toByte()).putLong(payload.size.toLong())
        }
        buffer.put(mask)
        for (i in payload.indices) buffer.put((payload[i].toInt() xor mask[i % 4].toInt()).toByte())
        buffer.flip()
        synchronized(sendLock) {
            while (buffer.hasRemaining()) channel.write(buffer)
        }
    }

    private fun readBytes(count: Int): ByteArray {
        val out = ByteArray(count)
        var filled = 0
        while (filled < count) {
            if (!input.hasRemaining()) {
                input.clear()
                val read = channel.read(input)
                input.flip()
                if (read < 0) throw IOException("the tether daemon closed the connection")
            }
            val n = minOf(count - filled, input.remaining())
            input.get(out, filled, n)
            filled += n
        }
        return out
    }

    companion object {
        private const val OP_CONTINUATION = 0
        private const val OP_TEXT = 1
        private const val OP_BINARY = 2
        private const val OP_CLOSE = 8
        private const val OP_PING = 9
        private const val OP_PONG = 10
        private const val MAX_MESSAGE = 64L shl 20
        private const val ACCEPT_SUFFIX = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

        /** Opens the WebSocket on `channel` (already connected) with the HTTP upgrade. */
        fun open(channel: ByteChannel): WebSocket {
            val key = Base64.getEncoder().encodeToString(ByteArray(16).also(SecureRandom()::nextBytes))
            val request = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n\r\n"
            val out = ByteBuffer.wrap(request.toByteArray(Charsets.US_ASCII))
            while (out.hasRemaining()) channel.write(out)
            val input = ByteBuffer.allocate(64 * 1024)
            val head = readHead(channel, input)
            val lines = head.split("\r\n")
            if (!lines.first().matches(Regex("HTTP/1\\.1 101\\b.*"))) {
                channel.close()
                throw IOException("the tether daemon refused the WebSocket upgrade: ${lines.first()}")
            }
            val expected = Base64.getEncoder().encodeToString(
                MessageDigest.getInstance("SHA-1").digest((key + ACCEPT_SUFFIX).toByteArray(Charsets.US_ASCII)),
            )
            val accept = lines.drop(1).firstOrNull { it.startsWith("sec-websocket-accept:", ignoreCase = true) }
                ?.substringAfter(':')?.trim()
            if (accept != expected) {
                channel.close()
                throw IOException("the tether daemon answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept")
            }
            return WebSocket(channel, input)
        }

        /** Reads the HTTP response head; what follows it stays in `input` (flipped for reading). */
        private fun readHead(channel: ByteChannel, input: ByteBuffer): String {
            while (true) {
                if (channel.read(input) < 0) throw IOException("the tether daemon closed the connection during the WebSocket upgrade")
                val bytes = input.array().copyOf(input.position())
                val end = String(bytes, Charsets.ISO_8859_1).indexOf("\r\n\r\n")
                if (end >= 0) {
                    input.flip()
                    input.position(end + 4)
                    return String(bytes, 0, end, Charsets.ISO_8859_1)
                }
                if (!input.hasRemaining()) throw IOException("the tether daemon's WebSocket upgrade answer is too long")
            }
        }
    }
}
