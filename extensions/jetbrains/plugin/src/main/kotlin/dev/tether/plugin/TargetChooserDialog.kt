// The target chooser: renders the core's rows (ChooserModel) in a list under a filter field;
// choosing a context or namespace switch asks for the new one and lists again. Cancel returns
// null, which aborts the run.
package dev.tether.plugin

import com.intellij.openapi.progress.ProgressManager
import com.intellij.openapi.progress.runBlockingCancellable
import com.intellij.openapi.project.Project
import com.intellij.openapi.ui.DialogWrapper
import com.intellij.openapi.ui.Messages
import com.intellij.ui.ColoredListCellRenderer
import com.intellij.ui.DocumentAdapter
import com.intellij.ui.SearchTextField
import com.intellij.ui.SimpleTextAttributes
import com.intellij.ui.components.JBList
import com.intellij.ui.components.JBScrollPane
import dev.tether.core.chooser.ChooserState
import dev.tether.core.chooser.Choice
import dev.tether.core.chooser.Outcome
import dev.tether.core.chooser.Row
import dev.tether.core.chooser.TargetLister
import dev.tether.core.chooser.accept
import dev.tether.core.chooser.namespaceChoices
import dev.tether.core.chooser.rows
import dev.tether.core.chooser.withContext
import dev.tether.core.chooser.withNamespace
import java.awt.BorderLayout
import javax.swing.JComponent
import javax.swing.JList
import javax.swing.JPanel
import javax.swing.event.DocumentEvent

class TargetChooserDialog private constructor(private val project: Project, runName: String, private var state: ChooserState) : DialogWrapper(project) {
    private val filter = SearchTextField(false)
    private val list = JBList<Row>()

    init {
        title = "tether: target of \"$runName\""
        list.cellRenderer = RowRenderer()
        filter.addDocumentListener(object : DocumentAdapter() {
            override fun textChanged(e: DocumentEvent) = display(state.copy(filter = filter.text))
        })
        display(state)
        init()
    }

    override fun createCenterPanel(): JComponent = JPanel(BorderLayout()).apply {
        add(filter, BorderLayout.NORTH)
        add(JBScrollPane(list), BorderLayout.CENTER)
    }

    override fun getPreferredFocusedComponent(): JComponent = filter

    private fun display(next: ChooserState) {
        state = next
        list.setListData(rows(state).toTypedArray())
    }

    private fun outcome(): Outcome = if (isOK) accept(list.selectedValue) else Outcome.Cancelled

    private class RowRenderer : ColoredListCellRenderer<Row>() {
        override fun customizeCellRenderer(list: JList<out Row>, row: Row?, index: Int, selected: Boolean, focused: Boolean) {
            when (row) {
                is Row.Section -> append(row.label, SimpleTextAttributes.GRAYED_BOLD_ATTRIBUTES)
                is Row.Target -> {
                    append(row.label, if (row.ready) SimpleTextAttributes.REGULAR_ATTRIBUTES else SimpleTextAttributes.GRAYED_ATTRIBUTES)
                    append("  ${row.description}", SimpleTextAttributes.GRAYED_ATTRIBUTES)
                    row.detail?.let { toolTipText = it }
                }
                is Row.SwitchContext -> append(row.label, SimpleTextAttributes.LINK_ATTRIBUTES)
                is Row.SwitchNamespace -> append(row.label, SimpleTextAttributes.LINK_ATTRIBUTES)
                is Row.Message -> append(listOfNotNull(row.label, row.description).joinToString(" — "), SimpleTextAttributes.GRAYED_ITALIC_ATTRIBUTES)
                null -> {}
            }
        }
    }

    companion object {
        /** Asks for the target of the run `runName` (on the EDT); null when cancelled. */
        fun choose(project: Project, runName: String, recent: List<Choice>): Choice? {
            val lister = TargetLister(blocking(project, "listing targets") { TetherProject.of(project).link.daemon().client })
            var state = blocking(project, "listing targets") { lister.load(ChooserState(recent = recent)) }
            while (true) {
                val dialog = TargetChooserDialog(project, runName, state)
                dialog.show()
                state = dialog.state.copy(filter = "")
                state = when (val outcome = dialog.outcome()) {
                    is Outcome.Picked -> return outcome.choice
                    Outcome.Cancelled -> return null
                    Outcome.Stay -> state
                    Outcome.SwitchContext -> {
                        val names = state.contexts.map { it.name }.toTypedArray()
                        val at = Messages.showChooseDialog(project, "Context", "tether", null, names, names.firstOrNull())
                        if (at < 0) state else blocking(project, "listing targets") { lister.load(state.withContext(names[at])) }
                    }
                    Outcome.SwitchNamespace -> {
                        val choices = namespaceChoices(blocking(project, "listing namespaces") { lister.namespaces(state.context) }, state.namespace)
                        val labels = choices.map { it ?: "all namespaces" }.toTypedArray()
                        val at = Messages.showChooseDialog(project, "Namespace", "tether", null, labels, labels.first())
                        if (at < 0) state else blocking(project, "listing targets") { lister.load(state.withNamespace(choices[at])) }
                    }
                }
            }
        }

        private fun <T> blocking(project: Project, title: String, work: suspend () -> T): T =
            ProgressManager.getInstance().runProcessWithProgressSynchronously<T, Exception>({ runBlockingCancellable { work() } }, "tether: $title", true, project)
    }
}
