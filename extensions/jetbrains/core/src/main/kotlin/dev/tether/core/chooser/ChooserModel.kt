// The target chooser's model (pure: no IDE, no daemon). From what the daemon listed, what the
// user picked before and the filter text, the chooser's rows: the most recent targets first,
// then the context and namespace switches, then the cluster's workloads grouped by kind with
// their ready counts, then this machine's stand-ins. And what choosing a row, or Cancel, means.
package dev.tether.core.chooser

import dev.tether.core.generated.ContextInfo
import dev.tether.core.generated.TargetInfo

/** A target as the chooser hands it to a run (and remembers it). */
data class Choice(
    val target: String,
    /** Kubernetes targets: where it was chosen (null: the kubeconfig's current context). */
    val context: String? = null,
    val namespace: String? = null,
    /** A stand-in on this machine (`pid/…`, `container/…`): no context or namespace. */
    val onHost: Boolean = false,
)

/** What the chooser shows now. */
data class ChooserState(
    /** The context and namespace the cluster listing is of (null: the kubeconfig's). */
    val context: String? = null,
    val namespace: String? = null,
    val allNamespaces: Boolean = false,
    /** The kubeconfig's contexts (empty: none, or listing them failed). */
    val contexts: List<ContextInfo> = emptyList(),
    val cluster: List<TargetInfo> = emptyList(),
    val host: List<TargetInfo> = emptyList(),
    /** Why the cluster's workloads are not listed (no kubeconfig, unreachable, …). */
    val clusterError: String? = null,
    val recent: List<Choice> = emptyList(),
    /** Still waiting for a listing. */
    val loading: Boolean = false,
    /** The filter field's text: only targets containing it (any case) are shown. */
    val filter: String = "",
)

/** One row of the chooser. */
sealed interface Row {
    data class Section(val label: String) : Row
    data class Target(val label: String, val description: String, val detail: String?, val choice: Choice, val ready: Boolean) : Row
    data class SwitchContext(val label: String) : Row
    data class SwitchNamespace(val label: String) : Row
    data class Message(val label: String, val description: String? = null) : Row
}

/** What choosing a row (or Cancel) does. */
sealed interface Outcome {
    data class Picked(val choice: Choice) : Outcome
    data object SwitchContext : Outcome
    data object SwitchNamespace : Outcome
    /** A section or message was chosen: the chooser stays open. */
    data object Stay : Outcome
    /** Cancel (or the chooser was closed): the run is aborted. */
    data object Cancelled : Outcome
}

/** How many recent targets are kept and shown. */
const val RECENT_MAX = 5

/** Kinds in the order a developer looks for them; others follow alphabetically. */
private val KIND_ORDER = listOf("deployment", "statefulset", "daemonset", "replicaset", "job", "cronjob", "service", "pod")

private val HOST_KINDS = setOf("pid", "container")

fun isHostTarget(target: String): Boolean = target.substringBefore('/') in HOST_KINDS

private fun kindRank(kind: String): Int = KIND_ORDER.indexOf(kind).let { if (it < 0) KIND_ORDER.size else it }

/** `2/3 ready` (Kubernetes counts), else `ready` / `not ready`. */
fun readiness(target: TargetInfo): String {
    val ready = target.readyCount
    val total = target.totalCount
    if (ready != null && total != null) return "$ready/$total ready"
    return if (target.ready) "ready" else "not ready"
}

private fun same(a: Choice, b: Choice): Boolean =
    a.target == b.target && a.onHost == b.onHost && (a.onHost || (a.context.orEmpty() == b.context.orEmpty() && a.namespace.orEmpty() == b.namespace.orEmpty()))

/** The context the listing is of: the chosen one, else the kubeconfig's current one. */
private fun effectiveContext(state: ChooserState): String? = state.context ?: state.contexts.firstOrNull { it.current }?.name

/** The choice a listed target makes, naming the context and namespace it was listed in. */
fun choiceOf(state: ChooserState, target: TargetInfo): Choice =
    if (isHostTarget(target.target)) Choice(target.target, onHost = true)
    else Choice(target.target, target.context ?: effectiveContext(state), target.namespace ?: state.namespace)

private fun where(choice: Choice): String =
    if (choice.onHost) "this machine" else listOfNotNull(choice.context, choice.namespace).joinToString(" · ").ifEmpty { "current context" }

private fun matches(state: ChooserState, target: String, description: String?): Boolean {
    val filter = state.filter.trim()
    return filter.isEmpty() || target.contains(filter, ignoreCase = true) || description.orEmpty().contains(filter, ignoreCase = true)
}

private fun targetRow(state: ChooserState, target: TargetInfo): Row.Target {
    val namespace = target.namespace?.takeIf { state.allNamespaces }
    return Row.Target(target.target, listOfNotNull(readiness(target), namespace).joinToString(" · "), target.description, choiceOf(state, target), target.ready)
}

/** The chooser's rows for `state`. */
fun rows(state: ChooserState): List<Row> = buildList {
    val listed = state.cluster + state.host
    val recent = state.recent.take(RECENT_MAX)
    val isRecent = { target: TargetInfo -> recent.any { same(it, choiceOf(state, target)) } }
    val recentRows = recent.filter { matches(state, it.target, null) }.map { choice ->
        val info = listed.firstOrNull { same(choice, choiceOf(state, it)) }
        Row.Target(choice.target, listOfNotNull(info?.let(::readiness), where(choice)).joinToString(" · "), info?.description, choice, info?.ready ?: true)
    }
    if (recentRows.isNotEmpty()) {
        add(Row.Section("recent"))
        addAll(recentRows)
    }
    add(Row.Section("cluster"))
    add(Row.SwitchContext("Context: ${effectiveContext(state) ?: "(none)"}"))
    val current = state.contexts.firstOrNull { it.current }
    add(Row.SwitchNamespace("Namespace: ${if (state.allNamespaces) "all namespaces" else state.namespace ?: current?.namespace ?: "default"}"))
    state.clusterError?.let { add(Row.Message(it)) }
    val shown = state.cluster.filter { !isRecent(it) && matches(state, it.target, it.description) }
    for ((kind, group) in shown.groupBy { it.kind }.toSortedMap(compareBy<String>(::kindRank).thenBy { it })) {
        add(Row.Section("$kind · ${group.count { it.ready }} of ${group.size} ready"))
        group.sortedBy { it.target }.forEach { add(targetRow(state, it)) }
    }
    if (!state.loading && state.clusterError == null && state.cluster.isEmpty()) {
        add(Row.Message("no workloads here", "switch the namespace or the context"))
    } else if (!state.loading && state.cluster.isNotEmpty() && shown.isEmpty() && state.filter.isNotBlank()) {
        add(Row.Message("no workload matches \"${state.filter.trim()}\""))
    }
    val host = state.host.filter { !isRecent(it) && matches(state, it.target, it.description) }
    if (host.isNotEmpty()) {
        add(Row.Section("this machine"))
        host.forEach { add(targetRow(state, it)) }
    }
    if (state.loading) add(Row.Message("listing targets…"))
}

/** What choosing `row` means; null is Cancel or a closed chooser. */
fun accept(row: Row?): Outcome = when (row) {
    null -> Outcome.Cancelled
    is Row.Target -> Outcome.Picked(row.choice)
    is Row.SwitchContext -> Outcome.SwitchContext
    is Row.SwitchNamespace -> Outcome.SwitchNamespace
    is Row.Section, is Row.Message -> Outcome.Stay
}

/** The state after switching to `context` (its own default namespace; the listing reloads). */
fun ChooserState.withContext(context: String): ChooserState = copy(
    context = context,
    namespace = contexts.firstOrNull { it.name == context }?.namespace,
    allNamespaces = false,
    cluster = emptyList(),
    clusterError = null,
    loading = true,
)

/** The state after switching to `namespace` (null: all namespaces). */
fun ChooserState.withNamespace(namespace: String?): ChooserState =
    copy(namespace = namespace, allNamespaces = namespace == null, cluster = emptyList(), clusterError = null, loading = true)

/** `recent` with `choice` first, without duplicates, at most [RECENT_MAX] long. */
fun remember(recent: List<Choice>, choice: Choice): List<Choice> = (listOf(choice) + recent.filterNot { same(it, choice) }).take(RECENT_MAX)

/** The namespace switch's entries: the current namespace first, then the others by name; null
 * stands for "all namespaces", last. */
fun namespaceChoices(namespaces: List<String>, current: String?): List<String?> =
    namespaces.sortedWith(compareBy<String> { it != current }.thenBy { it }) + listOf(null)
