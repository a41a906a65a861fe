package dev.tether.core.daemon

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.nio.file.Path

class BootstrapTest {
    private val files = setOf("/opt/tether/bin/tether", "/usr/local/bin/tether", "/plugin/bin/tether")
    private val exists = { path: String -> path in files }

    @Test
    fun findTether_setting_winsOverPathAndBundled() {
        assertEquals(Found("/opt/tether/bin/tether", FoundIn.SETTING), findTether(" /opt/tether/bin/tether ", "/usr/local/bin", "/plugin/bin/tether", exists))
    }

    @Test
    fun findTether_noSetting_takesTheFirstOnPathThenTheBundledOne() {
        assertEquals(Found("/usr/local/bin/tether", FoundIn.PATH), findTether("", "/nowhere::/usr/local/bin", "/plugin/bin/tether", exists))
        assertEquals(Found("/plugin/bin/tether", FoundIn.BUNDLED), findTether(null, "/nowhere", "/plugin/bin/tether", exists))
    }

    @Test
    fun findTether_badSettingOrNothingFound_saysWhatToDo() {
        val bad = assertThrows<BootstrapError> { findTether("/tmp/missing", "/usr/local/bin", null, exists) }
        assertTrue("fix the setting" in bad.message!!, bad.message)
        val none = assertThrows<BootstrapError> { findTether(null, "/nowhere", null, exists) }
        assertTrue("put tether on PATH" in none.message!!, none.message)
    }

    @Test
    fun apiSocket_followsTheRuntimeDirectoryLikeTheDaemon() {
        assertEquals(Path.of("/run/user/1000/tether/api.sock"), apiSocket(mapOf("XDG_RUNTIME_DIR" to "/run/user/1000"), 1000))
        assertEquals(Path.of("/var/tmp/tether-1000/tether/api.sock"), apiSocket(mapOf("XDG_RUNTIME_DIR" to "relative", "TMPDIR" to "/var/tmp"), 1000))
        assertEquals(Path.of("/tmp/tether-0/tether/api.sock"), apiSocket(emptyMap(), 0))
    }
}
