//! The stand-in target: a process in its own network and mount namespaces, chrooted into a
//! small tmpfs, so that what fuzzed requests write, delete or connect to stays in there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Builds the root on a size-limited tmpfs mounted over `/tmp` of the private mount
/// namespace (the host's `/tmp` is untouched), with `sleep` and its libraries copied in so
/// nothing of the host is reachable from it, then chroots into it and sleeps. The name server
/// is one the sandbox has no route to, so lookups fail at once instead of timing out; `/etc`
/// is read-only so that no input can change that for the inputs after it.
const SCRIPT: &str = r#"
set -e
ip link set lo up
mount -t tmpfs -o size=16m,nr_inodes=4096 tether-fuzz /tmp
root=/tmp/root
mkdir -p "$root/etc" "$root/data/dir" "$root/tmp"
for file in /usr/bin/sleep $(ldd /usr/bin/sleep | grep -o '/[^ ]*'); do
    mkdir -p "$root${file%/*}"
    cp "$file" "$root$file"
done
printf 'fuzz target file\n' > "$root/data/file.txt"
ln -s /data/file.txt "$root/data/link"
ln -s ../../../../etc/hosts "$root/data/up-link"
mkfifo "$root/data/fifo"
printf 'nameserver 192.0.2.53\nsearch fuzz.internal\noptions ndots:1 timeout:1 attempts:1\n' > "$root/etc/resolv.conf"
printf '127.0.0.1 localhost\n10.1.2.3 db.fuzz.internal\n' > "$root/etc/hosts"
mount --bind "$root/etc" "$root/etc"
mount -o remount,bind,ro "$root/etc"
echo ready
exec chroot "$root" /usr/bin/sleep infinity
"#;

/// Paths that exist in the sandbox's root, for the seed inputs.
pub const PATHS: [&str; 7] =
    ["/data/file.txt", "/data/link", "/data/up-link", "/data/fifo", "/data/dir", "/etc/hosts", "/etc/resolv.conf"];

/// A running sandbox. It dies with the thread that started it (`setpriv --pdeathsig`), so a
/// fuzzing run that ends, however it ends, leaves nothing behind.
pub struct Sandbox {
    /// Kept so the process is not reaped early; it is never waited for.
    _child: Child,
    pub pid: u32,
}

impl Sandbox {
    /// Starts the sandbox; call it from libFuzzer's thread, which lives as long as the run.
    /// Panics with the reason when it cannot: a fuzz target without its target is useless.
    pub fn start() -> Sandbox {
        assert!(
            rustix::process::geteuid().is_root(),
            "the connection fuzz targets need root: their target lives in its own namespaces"
        );
        let mut child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "unshare", "--net", "--mount", "--propagation", "private"])
            .args(["sh", "-c", SCRIPT, "sandbox"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("TETHER_FUZZ_GREETING", "hello from the sandbox")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("setpriv and unshare (util-linux) must be installed");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout).read_line(&mut line).expect("reading the sandbox's report");
        assert_eq!(line.trim(), "ready", "the sandbox script failed; see its stderr");
        let pid = child.id();
        // "ready" comes just before the chroot; the target's root is the one after it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() != "sleep" {
            assert!(Instant::now() < deadline, "the sandbox did not chroot into its root");
            std::thread::sleep(Duration::from_millis(10));
        }
        Sandbox { _child: child, pid }
    }
}
