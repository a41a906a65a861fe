// Balloons of the "tether" notification group: warnings of a prepared session, and failures
// with the daemon's typed message and a link to its log.
package dev.tether.plugin

import com.intellij.notification.NotificationAction
import com.intellij.notification.NotificationGroupManager
import com.intellij.notification.NotificationType
import com.intellij.openapi.fileEditor.OpenFileDescriptor
import com.intellij.openapi.project.Project
import com.intellij.openapi.vfs.LocalFileSystem

object TetherNotifier {
    fun warning(project: Project, text: String) = notify(project, "tether: $text", NotificationType.WARNING, null)

    fun failure(project: Project, text: String, logPath: String?) = notify(project, text, NotificationType.ERROR, logPath)

    private fun notify(project: Project, text: String, type: NotificationType, logPath: String?) {
        val notification = NotificationGroupManager.getInstance().getNotificationGroup("tether").createNotification(text, type)
        if (logPath != null) {
            notification.addAction(NotificationAction.createSimple("Show logs") {
                LocalFileSystem.getInstance().refreshAndFindFileByPath(logPath)?.let { OpenFileDescriptor(project, it).navigate(true) }
            })
        }
        notification.notify(project)
    }
}
