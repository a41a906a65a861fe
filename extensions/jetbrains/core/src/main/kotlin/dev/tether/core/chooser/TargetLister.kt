// Filling the chooser's model from the daemon: the kubeconfig's contexts, the workloads of the
// chosen context and namespace, and this machine's stand-ins, asked at once. A cluster that
// cannot be listed becomes the state's `clusterError`, so this machine's targets still show.
package dev.tether.core.chooser

import dev.tether.core.generated.Methods
import dev.tether.core.generated.NamespacesListParams
import dev.tether.core.generated.TargetsListParams
import dev.tether.core.rpc.RpcClient
import dev.tether.core.rpc.TetherError
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope

class TargetLister(private val client: RpcClient) {
    /** `state` with fresh listings for its context and namespace. */
    suspend fun load(state: ChooserState): ChooserState = coroutineScope {
        val contexts = async { runCatching { client.call(Methods.CONTEXTS_LIST) } }
        val cluster = async {
            runCatching {
                client.call(Methods.TARGETS_LIST, TargetsListParams(context = state.context, namespace = state.namespace, allNamespaces = state.allNamespaces))
            }
        }
        val host = async { runCatching { client.call(Methods.TARGETS_LIST, TargetsListParams(local = true)) } }
        val clusterResult = cluster.await()
        state.copy(
            contexts = contexts.await().getOrDefault(emptyList()),
            cluster = clusterResult.getOrDefault(emptyList()),
            clusterError = clusterResult.exceptionOrNull()?.let(::message),
            host = host.await().getOrDefault(emptyList()),
            loading = false,
        )
    }

    /** The namespaces the namespace switch offers. */
    suspend fun namespaces(context: String?): List<String> = client.call(Methods.NAMESPACES_LIST, NamespacesListParams(context = context))

    private fun message(err: Throwable): String = (err as? TetherError)?.describe("listing the cluster") ?: "listing the cluster failed: ${err.message}"
}
