//! What the harness tests stand on: an isolated tether (own runtime and log directories, so its
//! own daemon), stand-in pods and containers from `fixtures/harness`, and the probe programs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::Value;

/// The repository's root directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("daemon/ has a parent").to_path_buf()
}

/// Fails the test, with the reason, when it cannot run: this tier needs root and the
/// companion binaries next to `tether`.
pub fn require_tier() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the namespace harness tier needs root (network and mount namespaces); run the tests as root"
    );
    let tether = Path::new(env!("CARGO_BIN_EXE_tether"));
    // `cargo test -p tether-daemon` builds `tether` but not its companions: a stale agent or
    // layer would make these tests judge old code.
    for (companion, crate_dir) in [("tether-agent", "agent-image"), ("libtether_layer.so", "hook-layer")] {
        let built = std::fs::metadata(tether.with_file_name(companion)).and_then(|meta| meta.modified());
        let built = built.unwrap_or_else(|_| {
            panic!("{companion} is missing next to {}; run `cargo build --workspace` first", tether.display())
        });
        let newest =
            [crate_dir, "rpc-schema"].iter().filter_map(|dir| newest_source(&repo().join(dir).join("src"))).max();
        assert!(
            newest.is_none_or(|newest| newest <= built),
            "{companion} is older than its sources; run `cargo build --workspace` first"
        );
    }
    build_probes();
}

/// The modification time of the newest file below `dir`.
fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            if meta.is_dir() {
                newest_source(&entry.path())
            } else {
                meta.modified().ok()
            }
        })
        .max()
}

fn build_probes() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status =
            Command::new(repo().join("fixtures/programs/build")).status().expect("running fixtures/programs/build");
        assert!(status.success(), "building the probe programs failed");
    });
}

/// The languages of the probe programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    C,
    Python,
    Node,
    Go,
    /// The C probe linked statically (glibc): served by the supervisor, not the layer.
    CStatic,
    /// The Go probe built without cgo: static, Go's own resolver; served by the supervisor.
    GoStatic,
}

impl Lang {
    fn command(self) -> Vec<String> {
        let repo = repo();
        let path = |rel: &str| repo.join(rel).display().to_string();
        match self {
            Lang::C => vec![path("fixtures/build/probe-c")],
            Lang::Python => vec!["/usr/bin/python3".into(), path("fixtures/programs/python/probe.py")],
            Lang::Node => vec![which("node"), path("fixtures/programs/node/probe.js")],
            Lang::Go => vec![path("fixtures/build/probe-go")],
            Lang::CStatic => vec![path("fixtures/build/probe-c-static")],
            Lang::GoStatic => vec![path("fixtures/build/probe-go-static")],
        }
    }
}

fn which(program: &str) -> String {
    let output = Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().expect("sh");
    String::from_utf8(output.stdout).expect("utf-8 path").trim().to_string()
}

/// One user's tether: its own daemon, found through its own runtime directory.
pub struct Tether {
    pub runtime_dir: PathBuf,
    pub state_dir: PathBuf,
    /// Extra environment for every `tether` command (and so for the daemon it starts).
    pub env: Vec<(String, String)>,
}

impl Tether {
    pub fn new() -> Tether {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "tether-harness-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let runtime_dir = base.join("run");
        let state_dir = base.join("state");
        std::fs::create_dir_all(&state_dir).unwrap();
        std::fs::create_dir_all(&runtime_dir).unwrap();
        std::fs::set_permissions(&runtime_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        Tether { runtime_dir, state_dir, env: Vec::new() }
    }

    /// A `tether` command using this instance's directories.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
        // Run from the repository, as a developer runs from their project: the working
        // directory (where the probe programs live) stays on the host.
        command.current_dir(repo()).env("XDG_RUNTIME_DIR", &self.runtime_dir).env("XDG_STATE_HOME", &self.state_dir);
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// Runs `tether exec --target <target> [--config <config>] -- <args>`.
    pub fn exec(&self, target: &str, config: Option<&Path>, args: &[&str]) -> Output {
        let mut command = self.command();
        command.args(["exec", "--target", target]);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command.arg("--").args(args).output().expect("running tether exec")
    }

    /// Runs a probe check under `tether exec` and returns its JSON report.
    pub fn probe(&self, target: &str, config: Option<&Path>, lang: Lang, check: &[&str]) -> Value {
        let mut args = lang.command();
        args.extend(check.iter().map(|arg| arg.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.exec(target, config, &args);
        parse_report(&output, lang, check)
    }

    /// Writes a config file into this instance's directory.
    pub fn config(&self, name: &str, json: &str) -> PathBuf {
        let path = self.state_dir.join(name);
        std::fs::write(&path, json).unwrap();
        path
    }
}

impl Drop for Tether {
    fn drop(&mut self) {
        let _ = self.command().args(["rpc", "daemon.shutdown"]).output();
        if let Some(base) = self.runtime_dir.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// The JSON a probe printed, or a panic that shows everything the run printed.
pub fn parse_report(output: &Output, lang: Lang, check: &[&str]) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|line| line.starts_with('{'));
    match line.map(serde_json::from_str::<Value>) {
        Some(Ok(report)) if output.status.success() => report,
        _ => panic!(
            "{lang:?} probe {check:?} under tether failed ({})\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Starts the host's containerd (`fixtures/harness/container ready`) unless it answers, for
/// tests that look a container up without creating one.
pub fn containerd_ready() {
    let output =
        Command::new(repo().join("fixtures/harness/container")).arg("ready").output().expect("running the harness");
    assert!(output.status.success(), "containerd is not ready:\n{}", String::from_utf8_lossy(&output.stderr));
}

/// A stand-in pod (or container) from `fixtures/harness`, removed on drop.
pub struct Fixture {
    script: &'static str,
    pub name: String,
    pub info: Value,
}

impl Fixture {
    /// `fixtures/harness/pod up <name>`.
    pub fn pod(name: &str) -> Fixture {
        Fixture::up("pod", name)
    }

    /// `fixtures/harness/container up <name>`.
    pub fn container(name: &str) -> Fixture {
        Fixture::up("container", name)
    }

    fn up(script: &'static str, name: &str) -> Fixture {
        let name = format!("{name}-{}", std::process::id() % 10000);
        let output = Command::new(repo().join("fixtures/harness").join(script))
            .args(["up", &name])
            .output()
            .expect("running the fixture harness");
        assert!(output.status.success(), "{script} up {name} failed:\n{}", String::from_utf8_lossy(&output.stderr));
        let info = serde_json::from_slice(&output.stdout).expect("the harness prints one JSON line");
        Fixture { script, name, info }
    }

    /// The target spec for `tether exec`.
    pub fn pid_target(&self) -> String {
        format!("pid/{}", self.info["pid"])
    }

    /// A string field of the harness's description.
    pub fn get(&self, pointer: &str) -> String {
        match self.info.pointer(pointer) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => panic!("the fixture has no {pointer}: {}", self.info),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("fixtures/harness").join(self.script)).args(["down", &self.name]).output();
    }
}

/// Whether `done` becomes true within `limit`, asked every 50 ms.
pub fn eventually(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// The cluster of `fixtures/cluster` (tier 3): its admin kubeconfig, after checking that its API
/// server answers. Fails the test, with what to do, when the cluster is not up.
pub fn require_cluster() -> PathBuf {
    require_tier();
    let kubeconfig = PathBuf::from("/var/lib/tether-cluster/admin.kubeconfig");
    let ready = kubectl_output(&kubeconfig, &["get", "--raw", "/readyz"]);
    assert!(
        ready.as_deref() == Ok("ok"),
        "the cluster tier needs fixtures/cluster up (run `fixtures/cluster/up`; the README's test command \
         does): {ready:?}"
    );
    kubeconfig
}

/// Runs the cluster's kubectl and returns its trimmed stdout, or its stderr as the error.
pub fn kubectl_output(kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("/var/lib/tether-cluster/bin/kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .map_err(|err| format!("cannot run the cluster's kubectl: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Like [`kubectl_output`], panicking on failure.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    kubectl_output(kubeconfig, args).unwrap_or_else(|err| panic!("kubectl {args:?} failed: {err}"))
}
