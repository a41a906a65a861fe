//! Incoming traffic from every replica: a session on a workload whose pods serve alike (a
//! deployment, stateful set, replica set or service) intercepts its ports on each ready pod,
//! not only on the one whose context it has. One agent per other ready pod, followed through a
//! watch of the workload's pods: a pod that becomes ready gets an agent that subscribes what
//! the session's processes listen on, a pod that goes away or stops being ready loses it.
//!
//! Nothing starts before the session's first subscribed listener, so a session that never
//! listens (or whose incoming traffic is off) costs no agent beyond its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, Client};
use tether_rpc_schema::api::SessionEventKind;

use crate::agents::{Agent, StartWith};
use crate::sessions::Session;
use crate::state::Daemon;
use crate::target::{PodTarget, Target};
use crate::workloads::{is_ready, pod_target};

/// How often the replicas' agent links are checked; a replica whose agent died gets a new one.
const LINK_CHECK: Duration = Duration::from_secs(2);

/// Where a workload's other pods are.
#[derive(Clone)]
pub struct ReplicaSource {
    pub client: Client,
    /// The workload's label selector.
    pub selector: String,
    /// The container the user named, else each pod's default one.
    pub container: Option<String>,
    /// The pod container the session has the context of (its own agent serves it).
    pub target: PodTarget,
}

/// Follows the replicas of `session`'s workload until the session ends (the task is aborted
/// then, see [`crate::incoming::Incoming::end_session`]).
pub fn follow(daemon: Arc<Daemon>, session: Arc<Session>, source: ReplicaSource, how: StartWith) {
    let incoming = &daemon.sessions.incoming;
    let Some(mut follow) = incoming.follow(&session.id) else { return };
    let follower = Follower { daemon: daemon.clone(), session: session.clone(), source, how, agents: HashMap::new() };
    let task = tokio::spawn(async move {
        if follow.activated.wait_for(|active| *active).await.is_ok() {
            follower.run(follow.settled).await;
        }
    });
    incoming.set_follower(&session.id, task.abort_handle());
}

struct Follower {
    daemon: Arc<Daemon>,
    session: Arc<Session>,
    source: ReplicaSource,
    how: StartWith,
    /// The agents of the other replicas, by pod name.
    agents: HashMap<String, Arc<Agent>>,
}

impl Follower {
    async fn run(mut self, settled: tokio::sync::watch::Sender<bool>) {
        let namespace = self.source.target.namespace.clone();
        let api: Api<Pod> = Api::namespaced(self.source.client.clone(), &namespace);
        let (store, writer) = reflector::store::<Pod>();
        let config = watcher::Config::default().labels(&self.source.selector);
        let stream = watcher(api, config).default_backoff().reflect(writer);
        let mut stream = std::pin::pin!(stream);
        let mut listed = false;
        let mut check = tokio::time::interval(LINK_CHECK);
        loop {
            let changed = tokio::select! {
                event = stream.next() => match event {
                    Some(Ok(watcher::Event::InitDone)) => {
                        listed = true;
                        true
                    }
                    Some(Ok(watcher::Event::Init | watcher::Event::InitApply(_))) => false,
                    Some(Ok(_)) => true,
                    Some(Err(err)) => {
                        tracing::debug!(session = %self.session.id, %err, "replica watcher");
                        // A listener must not wait for a watch that fails (it is retried).
                        if !listed && !settled.send_replace(true) {
                            let message = format!("the workload's other replicas are not intercepted yet: {err}");
                            self.tell(SessionEventKind::Warning, message);
                        }
                        false
                    }
                    None => return,
                },
                _ = check.tick() => self.forget_dead_agents(),
            };
            if listed && changed {
                let pods: Vec<Arc<Pod>> = store.state();
                self.reconcile(&pods).await;
                settled.send_replace(true);
            }
        }
    }

    /// Gives each ready replica an agent and takes it from the others.
    async fn reconcile(&mut self, pods: &[Arc<Pod>]) {
        let wanted: BTreeMap<String, PodTarget> = pods
            .iter()
            .filter(|pod| is_ready(pod))
            .filter_map(|pod| {
                let target = &self.source.target;
                pod_target(&target.context, &target.namespace, pod, self.source.container.as_deref()).ok()
            })
            .filter(|replica| replica.pod != self.source.target.pod)
            .map(|replica| (replica.pod.clone(), replica))
            .collect();
        let gone: Vec<String> = self.agents.keys().filter(|pod| !wanted.contains_key(*pod)).cloned().collect();
        for pod in gone {
            if let Some(agent) = self.agents.remove(&pod) {
                self.daemon.sessions.incoming.remove_replica(&self.session.id, agent.link.id());
                self.tell(
                    SessionEventKind::Progress,
                    format!("pod {pod} is no longer a ready replica; not intercepted"),
                );
            }
        }
        let new: Vec<PodTarget> =
            wanted.into_values().filter(|replica| !self.agents.contains_key(&replica.pod)).collect();
        let started = futures::future::join_all(new.into_iter().map(|replica| async {
            let agent = self.daemon.agents.get(&Target::Pod(replica.clone()), &self.how).await;
            (replica, agent)
        }))
        .await;
        for (replica, agent) in started {
            match agent {
                Ok(agent) => {
                    let refused = self.daemon.sessions.incoming.add_replica(&self.session, agent.link.clone()).await;
                    for reason in refused {
                        self.tell(SessionEventKind::Warning, format!("replica {}: {reason}", replica.pod));
                    }
                    self.tell(
                        SessionEventKind::Progress,
                        format!("intercepting incoming traffic of pod {} too", replica.pod),
                    );
                    self.agents.insert(replica.pod, agent);
                }
                Err(err) => self.tell(
                    SessionEventKind::Warning,
                    format!("incoming traffic of replica {} is not intercepted: {err}", replica.pod),
                ),
            }
        }
    }

    /// Drops the replicas whose agent link ended, so that reconciling starts new ones; whether
    /// there were any.
    fn forget_dead_agents(&mut self) -> bool {
        let dead: Vec<String> =
            self.agents.iter().filter(|(_, agent)| agent.link.is_closed()).map(|(pod, _)| pod.clone()).collect();
        for pod in &dead {
            if let Some(agent) = self.agents.remove(pod) {
                self.daemon.sessions.incoming.remove_replica(&self.session.id, agent.link.id());
            }
        }
        !dead.is_empty()
    }

    fn tell(&self, kind: SessionEventKind, message: String) {
        tracing::info!(session = %self.session.id, %message, "replicas");
        self.daemon.emit(self.session.event(kind, message));
    }
}
