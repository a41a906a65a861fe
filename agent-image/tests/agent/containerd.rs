//! `--container-id` against a real containerd (its own root, state and socket under a scratch
//! directory) running a FROM-scratch container built with buildah.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tether_rpc_schema::startup::{AgentStartup, StartupFailure};
use tether_rpc_schema::wire::{EnvVar, Message};

use crate::harness::{agent_command, require_root, start_agent, Client, TOKEN};

const NAMESPACE: &str = "tether-test";
const IMAGE: &str = "localhost/tether-sleeper:test";

/// A containerd of the test's own, stopped (with its containers) on drop.
struct Containerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    containers: Vec<String>,
}

impl Containerd {
    fn start() -> Containerd {
        require_root();
        let dir = std::env::temp_dir().join(format!("tether-agent-containerd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n",
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            socket = socket.display(),
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start containerd ({err}); this test needs containerd, ctr and runc"));
        let containerd = Containerd { child, dir, socket, containers: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not come up; see {}",
                containerd.dir.join("containerd.log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        containerd
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", NAMESPACE])
            .args(args)
            .output()
            .unwrap()
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let output = self.ctr(args);
        assert!(output.status.success(), "ctr {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Builds a FROM-scratch image holding a static program that sleeps, and imports it.
    fn import_sleeper_image(&self) {
        let build = self.dir.join("build");
        std::fs::create_dir_all(&build).unwrap();
        std::fs::write(build.join("sleeper.c"), "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n").unwrap();
        run(Command::new("gcc").args(["-static", "-O2", "-o"]).arg(build.join("sleeper")).arg(build.join("sleeper.c")));
        std::fs::write(build.join("Containerfile"), "FROM scratch\nCOPY sleeper /sleeper\nENTRYPOINT [\"/sleeper\"]\n")
            .unwrap();
        let storage = [
            "--root".to_owned(),
            self.dir.join("buildah-root").display().to_string(),
            "--runroot".to_owned(),
            self.dir.join("buildah-run").display().to_string(),
            "--storage-driver".to_owned(),
            "vfs".to_owned(),
        ];
        run(Command::new("buildah").args(&storage).args(["bud", "--quiet", "--tag", IMAGE]).arg(&build));
        let archive = self.dir.join("sleeper.tar");
        run(Command::new("buildah")
            .args(&storage)
            .args(["push", "--quiet", IMAGE])
            .arg(format!("oci-archive:{}:{IMAGE}", archive.display())));
        self.ctr_ok(&["images", "import", archive.to_str().unwrap()]);
    }

    fn run_container(&mut self, id: &str, name: &str) {
        let label = format!("nerdctl/name={name}");
        self.ctr_ok(&["run", "--detach", "--label", &label, "--env", "TETHER_IN_CONTAINER=yes", IMAGE, id]);
        self.containers.push(id.to_owned());
    }

    fn create_container(&mut self, id: &str) {
        self.ctr_ok(&["containers", "create", IMAGE, id]);
        self.containers.push(id.to_owned());
    }

    fn task_pid(&self, id: &str) -> u32 {
        let tasks = self.ctr_ok(&["tasks", "list"]);
        let line = tasks.lines().find(|line| line.starts_with(id)).unwrap_or_else(|| panic!("no task {id} in {tasks}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = self.ctr(&["tasks", "kill", "--signal", "SIGKILL", id]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.ctr(&["tasks", "delete", id]).status.success() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.ctr(&["containers", "delete", id]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn agent_for(socket: &Path, container: &str) -> (AgentStartup, Child) {
    start_agent(agent_command(&["--container-id", container, "--runtime-socket", socket.to_str().unwrap()]))
}

#[tokio::test]
async fn container_id_resolves_a_containerd_container_by_name_and_prefix() {
    let mut containerd = Containerd::start();
    containerd.import_sleeper_image();
    containerd.run_container("tether-sleeper-0123", "web");
    containerd.create_container("tether-stopped");
    let pid = containerd.task_pid("tether-sleeper-0123");

    for query in ["web", "tether-sleeper-0", "tether-sleeper-0123"] {
        let (startup, mut child) = agent_for(&containerd.socket, query);
        let AgentStartup::Ready { listen, target_pid, .. } = startup else { panic!("{query}: {startup:?}") };
        assert_eq!(target_pid, pid, "{query}");
        if query == "web" {
            let mut client = Client::connect(listen.parse::<SocketAddr>().unwrap()).await;
            assert!(matches!(client.hello(TOKEN).await, Message::HelloOk(_)));
            let Message::EnvVars(vars) = client.request(2, Message::EnvGet).await else { panic!("no env") };
            assert!(vars.contains(&EnvVar { name: b"TETHER_IN_CONTAINER".to_vec(), value: b"yes".to_vec() }));
            let Message::DirEntries(entries) = client.request(3, Message::FileReadDir { path: b"/".to_vec() }).await
            else {
                panic!("no listing of the container root")
            };
            assert!(
                entries.iter().any(|entry| entry.name == b"sleeper"),
                "the agent does not see the container's root"
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    let (startup, mut child) = agent_for(&containerd.socket, "tether-stopped");
    let _ = child.wait();
    assert_eq!(
        startup,
        AgentStartup::Failed {
            kind: StartupFailure::TargetNotFound,
            message: "container tether-stopped is not running; start it first".into()
        }
    );
    let (startup, mut child) = agent_for(&containerd.socket, "no-such-container");
    let _ = child.wait();
    assert!(matches!(startup, AgentStartup::Failed { kind: StartupFailure::TargetNotFound, .. }), "{startup:?}");
}
