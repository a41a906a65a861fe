//! The agent pool: one agent per target, kept and reused across sessions while its connection
//! lives. This is the one place that knows how an agent is started and reached: a child process
//! over loopback TCP for local targets, a pod through a port-forward for Kubernetes targets
//! (`agent_pod`). When an agent's connection ends, the agent is reported on the pool's `ended`
//! channel (see `lifecycle`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether_rpc_schema::startup::{AgentStartup, StartupFailure};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, Mutex};

use crate::agent_link::{AgentLink, LinkError};
use crate::agent_pod::{self, AgentPod, Place};
use crate::clusters::Clusters;
use crate::config::AgentConfig;
use crate::target::Target;
use crate::token;

/// Tells whoever waits for an agent what its start is doing.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How an agent is started, when the target needs a new one.
#[derive(Clone)]
pub struct StartWith {
    /// The agent pod's settings (Kubernetes targets).
    pub agent: AgentConfig,
    pub progress: Progress,
}

impl StartWith {
    /// Default settings, and progress that goes to the log only.
    pub fn quietly(agent: AgentConfig) -> StartWith {
        StartWith { agent, progress: Arc::new(|step| tracing::debug!(step, "agent start")) }
    }
}

/// How long an agent may take to report that it is ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a cut link to an agent pod is tried again, within the agent's own grace
/// (`agent_pod::RECONNECT_GRACE_SECS`).
const RECONNECT_FOR: Duration = Duration::from_secs(5);

/// Seconds an agent stays up with no daemon connection.
const AGENT_IDLE_SECS: u32 = 60;

/// Why no agent is available for a target.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The target does not exist.
    #[error("{0}")]
    TargetNotFound(String),
    /// The agent may not enter the target.
    #[error("{0}")]
    NotPermitted(String),
    /// The agent could not start or be reached; the message says why.
    #[error("{0}")]
    StartFailed(String),
    /// The target exists but does not run (a pod not ready, a job with no running pod).
    #[error("{0}")]
    NotReady(String),
    /// The namespace's pod security admission refused the agent pod.
    #[error("{0}")]
    PodSecurity(String),
    /// The node could not pull the agent image.
    #[error("{0}")]
    ImagePull(String),
    /// The node refused to run the agent pod.
    #[error("{0}")]
    NodeRefused(String),
    /// The agent did not report ready in time.
    #[error("{0}")]
    StartTimeout(String),
    /// The cluster of the target's context cannot be used.
    #[error(transparent)]
    Cluster(#[from] crate::clusters::ClusterError),
}

/// A running agent and the daemon's connection to it.
pub struct Agent {
    /// Stable name for the API (`agents.list`, `agents.stop`).
    pub id: String,
    pub target: Target,
    pub link: AgentLink,
    pub target_pid: u32,
    /// The very process the agent serves (`<pid>@<start time>`): a replacement agent serves
    /// the same target only if it reports the same.
    pub target_id: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    /// How a replacement for this agent is started.
    pub start_with: StartWith,
    /// Set when the agent was stopped on purpose (`agents.stop`, daemon shutdown): its
    /// sessions are not moved to a replacement.
    stopped: AtomicBool,
    pub process: AgentProcess,
    /// Since when no session uses the agent, as last seen by [`AgentPool::stop_idle`].
    idle_since: std::sync::Mutex<Option<std::time::Instant>>,
}

/// What runs the agent, kept so the agent ends when the pool forgets it, or on `agents.stop`.
pub enum AgentProcess {
    Child(std::sync::Mutex<Child>),
    Pod(AgentPod),
}

impl Agent {
    /// Ends the agent: SIGKILL for a child (so a stopped or hung agent goes too), deleting the
    /// pod for a Kubernetes agent (in the background; the handle tells when it is done).
    pub fn kill(&self) -> Option<tokio::task::JoinHandle<()>> {
        match &self.process {
            AgentProcess::Child(child) => {
                let _ = child.lock().expect("child lock").start_kill();
                None
            }
            AgentProcess::Pod(pod) => {
                // An ephemeral container cannot be deleted: it ends when its link does.
                self.link.close();
                Some(pod.delete())
            }
        }
    }

    /// Stops the agent on purpose: its sessions lose it rather than moving to a replacement.
    pub fn stop(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.stopped.store(true, Ordering::Relaxed);
        self.kill()
    }

    /// The agent's pod, for Kubernetes agents.
    pub fn pod(&self) -> Option<&AgentPod> {
        match &self.process {
            AgentProcess::Pod(pod) => Some(pod),
            AgentProcess::Child(_) => None,
        }
    }

    /// Whether the agent was stopped on purpose.
    pub fn was_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// One target's place in the pool. Its lock is held while the target's agent starts, so
/// launches for one target share one start and launches for others never wait on it.
type Slot = Arc<Mutex<Option<Arc<Agent>>>>;

/// Agents by target.
pub struct AgentPool {
    agent_path: PathBuf,
    log_path: PathBuf,
    clusters: Arc<Clusters>,
    /// Whose agent pods this daemon makes.
    owner: agent_pod::Owner,
    records: crate::agent_records::AgentRecords,
    slots: std::sync::Mutex<HashMap<Target, Slot>>,
    /// Every agent whose connection ended, once.
    ended_tx: mpsc::UnboundedSender<Arc<Agent>>,
}

impl AgentPool {
    pub fn new(
        agent_path: PathBuf,
        log_path: PathBuf,
        records_path: PathBuf,
        clusters: Arc<Clusters>,
        ended_tx: mpsc::UnboundedSender<Arc<Agent>>,
    ) -> AgentPool {
        AgentPool {
            agent_path,
            log_path,
            clusters,
            owner: agent_pod::Owner::of_this_user(&records_path),
            records: crate::agent_records::AgentRecords::new(records_path),
            slots: std::sync::Mutex::default(),
            ended_tx,
        }
    }

    /// Deletes the agent pods an earlier daemon of this user left behind.
    pub async fn clean_up_leftovers(&self) {
        self.records.clean_up(&self.clusters, &self.owner).await;
    }

    /// The live agent for `target`, starting one (as `how` says) if there is none.
    pub async fn get(&self, target: &Target, how: &StartWith) -> Result<Arc<Agent>, AgentError> {
        let slot = self.slots.lock().expect("pool lock").entry(target.clone()).or_default().clone();
        let mut pooled = slot.lock().await;
        if let Some(agent) = pooled.as_ref() {
            if !agent.link.is_closed() {
                // About to serve a session: its idle time starts again when that one ends.
                *agent.idle_since.lock().expect("idle lock") = None;
                return Ok(agent.clone());
            }
            tracing::info!(%target, "agent connection lost; starting a new agent");
        }
        let agent = Arc::new(match target {
            Target::Pod(_) | Target::Targetless { .. } => self.start_pod(target, how).await?,
            Target::Pid(_) | Target::Container { .. } => self.start_child(target, how).await?,
        });
        *pooled = Some(agent.clone());
        self.report_end(&agent);
        Ok(agent)
    }

    /// Connects again to the agent pod of `lost`, whose link was cut (a port-forward that
    /// dropped): the same agent, so the same target, through a new link. Tried for a few
    /// seconds, while the agent waits for it (an API server that restarts takes that long).
    pub async fn reconnect(&self, lost: &Arc<Agent>) -> Result<Arc<Agent>, AgentError> {
        let pod = lost.pod().ok_or_else(|| AgentError::StartFailed("only agent pods are reconnected".to_string()))?;
        let slot = self.slots.lock().expect("pool lock").entry(lost.target.clone()).or_default().clone();
        let mut pooled = slot.lock().await;
        if let Some(current) = pooled.as_ref().filter(|current| current.id != lost.id && !current.link.is_closed()) {
            return Ok(current.clone());
        }
        let deadline = tokio::time::Instant::now() + RECONNECT_FOR;
        let link = loop {
            match pod.reconnect().await {
                Ok(link) => break link,
                Err(err) if tokio::time::Instant::now() >= deadline => return Err(err),
                Err(err) => {
                    tracing::debug!(%err, pod = %pod.pod, "reconnecting to the agent pod");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        };
        let agent = Arc::new(Agent {
            id: lost.id.clone(),
            target: lost.target.clone(),
            link,
            target_pid: lost.target_pid,
            target_id: lost.target_id.clone(),
            start_with: lost.start_with.clone(),
            stopped: AtomicBool::new(false),
            started_at: lost.started_at,
            process: AgentProcess::Pod(pod.clone()),
            idle_since: std::sync::Mutex::new(None),
        });
        *pooled = Some(agent.clone());
        self.report_end(&agent);
        tracing::info!(pod = %pod.pod, target = %agent.target, "reconnected to the agent pod");
        Ok(agent)
    }

    /// Reports `agent` on the `ended` channel when its link ends.
    fn report_end(&self, agent: &Arc<Agent>) {
        let (ended, ended_tx) = (agent.clone(), self.ended_tx.clone());
        tokio::spawn(async move {
            ended.link.ended().await;
            let _ = ended_tx.send(ended);
        });
    }

    /// Drops `agent` from the pool, unless another agent took its place already.
    pub async fn forget(&self, agent: &Agent) {
        let slot = self.slots.lock().expect("pool lock").get(&agent.target).cloned();
        if let Some(slot) = slot {
            let mut pooled = slot.lock().await;
            if pooled.as_ref().is_some_and(|pooled| pooled.id == agent.id) {
                *pooled = None;
            }
        }
    }

    /// The running agents; agents still starting are not waited for.
    pub fn list(&self) -> Vec<Arc<Agent>> {
        let slots: Vec<Slot> = self.slots.lock().expect("pool lock").values().cloned().collect();
        slots
            .iter()
            .filter_map(|slot| slot.try_lock().ok().and_then(|pooled| pooled.clone()))
            .filter(|agent| !agent.link.is_closed())
            .collect()
    }

    /// Stops the agent `id` (a pod is deleted before this returns); false when there is none.
    pub async fn stop(&self, id: &str) -> bool {
        let slots: Vec<Slot> = self.slots.lock().expect("pool lock").values().cloned().collect();
        for slot in slots {
            let Ok(mut pooled) = slot.try_lock() else { continue };
            if pooled.as_ref().is_some_and(|agent| agent.id == id) {
                if let Some(deleted) = pooled.take().and_then(|agent| agent.stop()) {
                    drop(pooled);
                    let _ = deleted.await;
                }
                return true;
            }
        }
        false
    }

    /// Stops the agents that no session has used for their `agent.idle_ttl_secs`; `in_use`
    /// tells whether a session uses an agent now.
    pub async fn stop_idle(&self, in_use: impl Fn(&Agent) -> bool) {
        for agent in self.list() {
            let expired = {
                let mut idle_since = agent.idle_since.lock().expect("idle lock");
                if in_use(&agent) {
                    *idle_since = None;
                    false
                } else {
                    let since = *idle_since.get_or_insert_with(std::time::Instant::now);
                    since.elapsed() >= Duration::from_secs(agent.start_with.agent.idle_ttl_secs)
                }
            };
            if expired {
                tracing::info!(agent = %agent.id, target = %agent.target, "agent idle for agent.idle_ttl_secs; stopping it");
                self.stop(&agent.id).await;
            }
        }
    }

    /// Stops every agent, waiting at most `within` for agent pods to be deleted.
    pub async fn stop_all(&self, within: Duration) {
        let deletions: Vec<_> = self.list().iter().filter_map(|agent| agent.stop()).collect();
        let _ = tokio::time::timeout(within, futures::future::join_all(deletions)).await;
    }

    async fn start_pod(&self, target: &Target, how: &StartWith) -> Result<Agent, AgentError> {
        let (context, place) = match target {
            Target::Pod(pod) => (pod.context.as_str(), Place::Container(pod)),
            Target::Targetless { context, namespace } => (context.as_str(), Place::Targetless { namespace }),
            Target::Pid(_) | Target::Container { .. } => unreachable!("local targets start a child"),
        };
        let (_, client) = self.clusters.client(Some(context)).await?;
        let token = token::random();
        let started = match place {
            Place::Container(target) if how.agent.ephemeral => {
                crate::agent_ephemeral::start(client, target, &how.agent, &self.owner, &token, &how.progress).await?
            }
            place => agent_pod::start(client, place, &how.agent, &self.owner, &token, &how.progress).await?,
        };
        let namespace = started.pod.namespace.clone();
        self.records.remember(context, &namespace).await;
        tracing::info!(%target, pod = %started.pod.pod, target_pid = started.target_pid, "agent pod ready");
        Ok(Agent {
            id: token::random()[..12].to_string(),
            target: target.clone(),
            link: started.link,
            target_pid: started.target_pid,
            target_id: started.target_id,
            start_with: how.clone(),
            stopped: AtomicBool::new(false),
            started_at: crate::sessions::unix_now(),
            process: AgentProcess::Pod(started.pod),
            idle_since: std::sync::Mutex::new(None),
        })
    }

    async fn start_child(&self, target: &Target, how: &StartWith) -> Result<Agent, AgentError> {
        if let Target::Pid(pid) = target {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Err(AgentError::TargetNotFound(format!("no process with pid {pid}")));
            }
        }
        let token = token::random();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|err| AgentError::StartFailed(format!("cannot open {}: {err}", self.log_path.display())))?;
        let mut command = Command::new(&self.agent_path);
        match target {
            Target::Pid(pid) => command.arg("--pid").arg(pid.to_string()),
            Target::Container { name, runtime } => {
                command.arg("--container-id").arg(name).arg("--runtime").arg(runtime.runtime.as_arg());
                if let Some(socket) = &runtime.socket {
                    command.arg("--runtime-socket").arg(socket);
                }
                if let Some(namespace) = &runtime.namespace {
                    command.arg("--runtime-namespace").arg(namespace);
                }
                &mut command
            }
            Target::Pod(_) | Target::Targetless { .. } => unreachable!("Kubernetes targets start a pod"),
        };
        command
            .args(["--listen", "127.0.0.1:0", "--idle-timeout", &AGENT_IDLE_SECS.to_string()])
            .env("TETHER_AGENT_TOKEN", &token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|err| {
            AgentError::StartFailed(format!("cannot run the agent {}: {err}", self.agent_path.display()))
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut first_line = String::new();
        let read = tokio::time::timeout(STARTUP_TIMEOUT, BufReader::new(stdout).read_line(&mut first_line)).await;
        let startup = match read {
            Err(_) => {
                return Err(AgentError::StartFailed(format!(
                    "the agent for {target} did not report ready within {}s; see {}",
                    STARTUP_TIMEOUT.as_secs(),
                    self.log_path.display()
                )))
            }
            Ok(Err(err)) => return Err(AgentError::StartFailed(format!("reading the agent's report: {err}"))),
            Ok(Ok(0)) => {
                let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
                return Err(AgentError::StartFailed(format!(
                    "the agent for {target} exited ({status}) without a report; see {}",
                    self.log_path.display()
                )));
            }
            Ok(Ok(_)) => serde_json::from_str::<AgentStartup>(&first_line)
                .map_err(|err| AgentError::StartFailed(format!("the agent's report is not valid: {err}")))?,
        };
        let (listen, target_pid, target_id) = match startup {
            AgentStartup::Ready { listen, target_pid, target_id } => {
                // An agent that does not name its process is taken at its pid's word.
                (listen, target_pid, target_id.unwrap_or_else(|| target_pid.to_string()))
            }
            AgentStartup::Failed { kind, message } => {
                return Err(match kind {
                    StartupFailure::TargetNotFound => AgentError::TargetNotFound(message),
                    StartupFailure::NotPermitted => AgentError::NotPermitted(message),
                    _ => AgentError::StartFailed(message),
                })
            }
        };
        let addr = listen
            .parse()
            .map_err(|_| AgentError::StartFailed(format!("the agent reported a bad address {listen:?}")))?;
        let link = AgentLink::connect(addr, &token)
            .await
            .map_err(|err: LinkError| AgentError::StartFailed(err.to_string()))?;
        tracing::info!(%target, target_pid, %target_id, "agent ready");
        Ok(Agent {
            id: token::random()[..12].to_string(),
            target: target.clone(),
            link,
            target_pid,
            target_id,
            start_with: how.clone(),
            stopped: AtomicBool::new(false),
            started_at: crate::sessions::unix_now(),
            process: AgentProcess::Child(std::sync::Mutex::new(child)),
            idle_since: std::sync::Mutex::new(None),
        })
    }
}
