//! Test harness: locating the built layer, compiling the C programs once, and running a
//! program under the layer with a bounded wait.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tether_rpc_schema::policy::LayerPolicy;

use crate::fake_proxy::{Behaviour, FakeProxy, Target};

/// Longest a program may run before the test fails (a hang is a bug).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// `libtether_layer.so` as built by cargo for this test binary: the library target is
/// compiled (cdylib and rlib together) into `target/<profile>/deps/`, next to this binary;
/// `cargo build` also copies it to `target/<profile>/`. The newest one wins.
pub fn layer_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [deps.join("libtether_layer.so"), deps.parent().unwrap().join("libtether_layer.so")];
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let newest = candidates.iter().filter(|p| modified(p).is_some()).max_by_key(|p| modified(p));
    newest.cloned().expect("libtether_layer.so not built: cargo builds the cdylib with the tests")
}

/// Directory holding the compiled C programs.
fn programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layer-programs");
        std::fs::create_dir_all(&out).unwrap();
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layer/programs");
        for name in ["fileops", "fdops", "forkops", "listenops", "netops", "spawn"] {
            let status = Command::new("gcc")
                .args(["-O1", "-Wall", "-o"])
                .arg(out.join(name))
                .arg(sources.join(format!("{name}.c")))
                .status()
                .expect("gcc runs");
            assert!(status.success(), "gcc failed for {name}.c");
        }
        out
    })
}

/// Path of a compiled test program.
pub fn program(name: &str) -> PathBuf {
    programs().join(name)
}

/// A fake session and the environment that points programs at it.
pub struct Session {
    pub proxy: FakeProxy,
    pub dir: tempdir::TempDir,
}

impl Session {
    pub fn start(target: Target, policy: LayerPolicy) -> Session {
        Session::with_behaviour(target, policy, Behaviour::Normal)
    }

    pub fn with_behaviour(target: Target, policy: LayerPolicy, behaviour: Behaviour) -> Session {
        let dir = tempdir::TempDir::new();
        let proxy = FakeProxy::start(dir.path(), target, policy, behaviour);
        Session { proxy, dir }
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("layer.log")
    }

    /// A command for `program` under the layer, run in a host working directory.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        let workdir = self.dir.path().join("work");
        std::fs::create_dir_all(&workdir).unwrap();
        command
            .current_dir(workdir)
            .env("LD_PRELOAD", layer_path())
            .env("TETHER_PROXY", &self.proxy.socket)
            .env("TETHER_SESSION", &self.proxy.token)
            .env("TETHER_LAYER_LOG", self.log());
        command
    }

    /// Runs a test program with arguments; returns (exit code, stdout).
    pub fn run(&self, name: &str, args: &[&str]) -> (i32, String) {
        let mut command = self.command(program(name));
        command.args(args);
        run(command)
    }
}

/// Runs `command` to completion within [`RUN_LIMIT`]; returns (exit code, stdout).
pub fn run(mut command: Command) -> (i32, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("{command:?} hung for {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.code().unwrap_or(-1), reader.join().unwrap())
}

/// Moves the calling test thread (and the threads and processes it starts afterwards) into a
/// private network namespace with only loopback, so a redirect that failed can never send a
/// packet to a real address. Needs root, which the test tiers have.
pub fn private_network() {
    // SAFETY: unshare affects only the calling thread's namespaces.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "network tests need CAP_SYS_ADMIN (root) for a private network namespace: {}",
        std::io::Error::last_os_error()
    );
    let status = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("ip runs");
    assert!(status.success(), "cannot bring loopback up in the test namespace");
}

/// Minimal self-cleaning temporary directory.
pub mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> TempDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!("tl-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
            let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
