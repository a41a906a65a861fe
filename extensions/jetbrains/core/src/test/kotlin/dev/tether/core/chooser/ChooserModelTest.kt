package dev.tether.core.chooser

import dev.tether.core.generated.ContextInfo
import dev.tether.core.generated.TargetInfo
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class ChooserModelTest {
    private fun workload(kind: String, name: String, ready: Long, total: Long) =
        TargetInfo(target = "$kind/$name", kind = kind, name = name, ready = ready > 0, readyCount = ready, totalCount = total, namespace = "shop")

    private val state = ChooserState(
        contexts = listOf(ContextInfo(name = "dev", cluster = "c", current = true, namespace = "shop"), ContextInfo(name = "prod", cluster = "p", current = false)),
        cluster = listOf(
            workload("pod", "orders-7f9", 1, 1),
            workload("deployment", "payments", 0, 2),
            workload("deployment", "orders", 2, 3),
            workload("statefulset", "db", 1, 1),
        ),
        host = listOf(TargetInfo(target = "pid/4242", kind = "pid", name = "4242", ready = true, description = "sleep infinity")),
    )

    private fun labels(rows: List<Row>) = rows.map {
        when (it) {
            is Row.Section -> "# ${it.label}"
            is Row.Target -> "${it.label} (${it.description})"
            is Row.SwitchContext -> it.label
            is Row.SwitchNamespace -> it.label
            is Row.Message -> "! ${it.label}"
        }
    }

    @Test
    fun rows_groupWorkloadsByKindWithReadyCounts_afterTheSwitches() {
        assertEquals(
            listOf(
                "# cluster", "Context: dev", "Namespace: shop",
                "# deployment · 1 of 2 ready", "deployment/orders (2/3 ready)", "deployment/payments (0/2 ready)",
                "# statefulset · 1 of 1 ready", "statefulset/db (1/1 ready)",
                "# pod · 1 of 1 ready", "pod/orders-7f9 (1/1 ready)",
                "# this machine", "pid/4242 (ready)",
            ),
            labels(rows(state)),
        )
    }

    @Test
    fun rows_recentTargetsComeFirst_andAreNotRepeatedBelow() {
        val recent = remember(remember(emptyList(), Choice("pid/4242", onHost = true)), Choice("deployment/orders", "dev", "shop"))
        val shown = labels(rows(state.copy(recent = recent)))
        assertEquals(listOf("# recent", "deployment/orders (2/3 ready · dev · shop)", "pid/4242 (ready · this machine)"), shown.take(3))
        assertEquals(1, shown.count { it.startsWith("deployment/orders") })
        assertEquals(listOf("# deployment · 0 of 1 ready", "deployment/payments (0/2 ready)"), shown.filter { "deployment" in it }.drop(1))
    }

    @Test
    fun rows_filter_keepsMatchingTargetsAndTheSwitches() {
        assertEquals(
            listOf("# cluster", "Context: dev", "Namespace: shop", "# deployment · 1 of 1 ready", "deployment/orders (2/3 ready)", "# pod · 1 of 1 ready", "pod/orders-7f9 (1/1 ready)"),
            labels(rows(state.copy(filter = " ORDERS "))),
        )
        assertEquals("! no workload matches \"zzz\"", labels(rows(state.copy(filter = "zzz"))).last())
    }

    @Test
    fun rows_clusterThatCannotBeListed_saysWhyAndStillOffersThisMachine() {
        val shown = labels(rows(state.copy(contexts = emptyList(), cluster = emptyList(), clusterError = "tether: the cluster cannot be reached: no kubeconfig")))
        assertEquals(listOf("# cluster", "Context: (none)", "Namespace: default", "! tether: the cluster cannot be reached: no kubeconfig", "# this machine", "pid/4242 (ready)"), shown)
    }

    @Test
    fun accept_cancelAbortsTheRun_aTargetIsPickedWithItsContextAndNamespace() {
        assertEquals(Outcome.Cancelled, accept(null))
        val row = rows(state).filterIsInstance<Row.Target>().first()
        assertEquals(Outcome.Picked(Choice("deployment/orders", "dev", "shop")), accept(row))
        assertEquals(Outcome.Stay, accept(Row.Section("cluster")))
        assertEquals(Outcome.SwitchNamespace, accept(rows(state).first { it is Row.SwitchNamespace }))
    }

    @Test
    fun switches_contextTakesItsNamespace_allNamespacesShowsEachTargetsNamespace() {
        val prod = state.withContext("prod")
        assertEquals(Triple("prod", null, true), Triple(prod.context, prod.namespace, prod.loading))
        val all = state.withNamespace(null).copy(cluster = state.cluster, loading = false)
        assertEquals("deployment/orders (2/3 ready · shop)", labels(rows(all)).first { it.startsWith("deployment/orders") })
        assertEquals(listOf("shop", "default", "kube-system", null), namespaceChoices(listOf("kube-system", "shop", "default"), "shop"))
    }

    @Test
    fun remember_keepsTheMostRecentFirstWithoutDuplicates() {
        var recent = emptyList<Choice>()
        for (i in 1..7) recent = remember(recent, Choice("pid/$i", onHost = true))
        recent = remember(recent, Choice("pid/5", onHost = true))
        assertEquals(listOf("pid/5", "pid/7", "pid/6", "pid/4", "pid/3"), recent.map { it.target })
    }
}
