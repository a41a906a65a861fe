//! Kubernetes targets as `targets.list` and `targets.watch` serve them: per (context,
//! namespace) — or all namespaces — a reflector store per kind, fed by a kube-runtime watcher
//! (with backoff; `managedFields` stripped), started when first asked for and dropped after
//! [`IDLE_TTL`] without use. Listings are computed from the stores, never from the API.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, Service};
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde_json::value::RawValue;
use tether_rpc_schema::api::TargetInfo;
use tokio::sync::watch;

use crate::agents::AgentError;
use crate::target::WorkloadKind;
use crate::workloads::{api_error, is_ready};

/// How long a cache nobody asked lives on.
pub const IDLE_TTL: Duration = Duration::from_secs(300);
/// How long the first listing of a scope may take.
const SYNC_TIMEOUT: Duration = Duration::from_secs(15);

/// What a cache covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub context: String,
    /// `None`: every namespace.
    pub namespace: Option<String>,
}

/// The caches by scope.
#[derive(Default)]
pub struct TargetCaches {
    caches: Mutex<HashMap<Scope, Arc<ScopeCache>>>,
}

/// A scope's targets as of one `changed` count, and their JSON per kind asked for.
struct Listing {
    generation: u64,
    targets: Arc<Vec<TargetInfo>>,
    json: HashMap<Option<WorkloadKind>, Box<RawValue>>,
}

/// The stores of one scope; a kind the user may not list has none.
pub struct ScopeCache {
    scope: Scope,
    pods: Option<Store<Pod>>,
    deployments: Option<Store<Deployment>>,
    statefulsets: Option<Store<StatefulSet>>,
    replicasets: Option<Store<ReplicaSet>>,
    jobs: Option<Store<Job>>,
    cronjobs: Option<Store<CronJob>>,
    services: Option<Store<Service>>,
    /// Bumped on every change any watcher sees.
    changed: watch::Sender<u64>,
    last_used: Mutex<Instant>,
    /// The last listing built, with the `changed` count it was built at.
    listing: Mutex<Option<Listing>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ScopeCache {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        tracing::info!(context = %self.scope.context, namespace = ?self.scope.namespace, "target cache dropped");
    }
}

impl TargetCaches {
    /// The cache of `scope`, started (and waited for) if there is none.
    pub async fn get(&self, client: &Client, scope: Scope) -> Result<Arc<ScopeCache>, AgentError> {
        let cached = self.caches.lock().expect("caches lock").get(&scope).cloned();
        if let Some(cache) = cached {
            *cache.last_used.lock().expect("cache lock") = Instant::now();
            return Ok(cache);
        }
        let cache = Arc::new(ScopeCache::start(client, scope.clone()).await?);
        let mut caches = self.caches.lock().expect("caches lock");
        Ok(caches.entry(scope).or_insert(cache).clone())
    }

    /// Drops the caches unused for `idle` that nobody watches.
    pub fn reap(&self, idle: Duration) {
        self.caches.lock().expect("caches lock").retain(|_, cache| {
            Arc::strong_count(cache) > 1 || cache.last_used.lock().expect("cache lock").elapsed() < idle
        });
    }

    /// Forgets every cache (the kubeconfig changed).
    pub fn clear(&self) {
        self.caches.lock().expect("caches lock").clear();
    }

    /// What `daemon.status` reports.
    pub fn info(&self) -> Vec<tether_rpc_schema::api::CacheInfo> {
        let caches = self.caches.lock().expect("caches lock");
        caches
            .values()
            .map(|cache| tether_rpc_schema::api::CacheInfo {
                name: format!(
                    "targets of {} in {}",
                    cache.scope.context,
                    cache.scope.namespace.as_deref().unwrap_or("all namespaces")
                ),
                entries: cache.pods.as_ref().map_or(0, |pods| pods.state().len()) as u64,
                age_secs: cache.last_used.lock().expect("cache lock").elapsed().as_secs(),
            })
            .collect()
    }
}

impl ScopeCache {
    async fn start(client: &Client, scope: Scope) -> Result<ScopeCache, AgentError> {
        let (changed, _) = watch::channel(0);
        let mut tasks = Vec::new();
        let context = scope.context.clone();
        let namespace = scope.namespace.clone();
        macro_rules! kind {
            ($type:ty) => {
                reflect::<$type>(client, namespace.as_deref(), &context, &changed, &mut tasks).await?
            };
        }
        let cache = ScopeCache {
            pods: kind!(Pod),
            deployments: kind!(Deployment),
            statefulsets: kind!(StatefulSet),
            replicasets: kind!(ReplicaSet),
            jobs: kind!(Job),
            cronjobs: kind!(CronJob),
            services: kind!(Service),
            scope,
            changed,
            last_used: Mutex::new(Instant::now()),
            listing: Mutex::new(None),
            tasks,
        };
        let waited = tokio::time::timeout(SYNC_TIMEOUT, cache.synced()).await;
        if waited.is_err() {
            return Err(AgentError::StartFailed(format!(
                "listing the targets of context {} took longer than {}s",
                cache.scope.context,
                SYNC_TIMEOUT.as_secs()
            )));
        }
        tracing::info!(context = %cache.scope.context, namespace = ?cache.scope.namespace, "target cache ready");
        Ok(cache)
    }

    async fn synced(&self) {
        macro_rules! ready {
            ($store:expr) => {
                if let Some(store) = &$store {
                    let _ = store.wait_until_ready().await;
                }
            };
        }
        ready!(self.pods);
        ready!(self.deployments);
        ready!(self.statefulsets);
        ready!(self.replicasets);
        ready!(self.jobs);
        ready!(self.cronjobs);
        ready!(self.services);
    }

    /// Told whenever something in the scope changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The targets of the scope, of `kind` only if given, ordered by kind, namespace and name;
    /// built once per change of the stores.
    pub fn targets(&self, kind: Option<WorkloadKind>) -> Vec<TargetInfo> {
        self.with_listing(|listing| match kind {
            Some(kind) => listing.targets.iter().filter(|target| target.kind == kind.as_str()).cloned().collect(),
            None => listing.targets.as_ref().clone(),
        })
    }

    /// [`Self::targets`] as JSON, serialized once per change of the stores and kind asked for:
    /// a `targets.list` of a namespace of thousands of pods is then a copy of bytes.
    pub fn targets_json(&self, kind: Option<WorkloadKind>) -> Box<RawValue> {
        self.with_listing(|listing| {
            let targets = &listing.targets;
            listing
                .json
                .entry(kind)
                .or_insert_with(|| {
                    let chosen: Vec<&TargetInfo> = match kind {
                        Some(kind) => targets.iter().filter(|target| target.kind == kind.as_str()).collect(),
                        None => targets.iter().collect(),
                    };
                    serde_json::value::to_raw_value(&chosen).expect("targets serialize")
                })
                .clone()
        })
    }

    fn with_listing<T>(&self, read: impl FnOnce(&mut Listing) -> T) -> T {
        *self.last_used.lock().expect("cache lock") = Instant::now();
        let generation = *self.changed.borrow();
        let mut listing = self.listing.lock().expect("listing lock");
        if listing.as_ref().is_none_or(|listing| listing.generation != generation) {
            let targets = Arc::new(self.build());
            *listing = Some(Listing { generation, targets, json: HashMap::new() });
        }
        read(listing.as_mut().expect("a listing was just built"))
    }

    fn build(&self) -> Vec<TargetInfo> {
        let pods: Vec<Arc<Pod>> = self.pods.as_ref().map(Store::state).unwrap_or_default();
        let jobs: Vec<Arc<Job>> = self.jobs.as_ref().map(Store::state).unwrap_or_default();
        let mut targets = Vec::new();
        let mut add = |kind: WorkloadKind,
                       meta: &kube::api::ObjectMeta,
                       counts: (u32, u32),
                       containers: Vec<String>,
                       node: Option<String>| {
            let name = meta.name.clone().unwrap_or_default();
            targets.push(TargetInfo {
                target: format!("{}/{name}", kind.as_str()),
                kind: kind.as_str().to_string(),
                name,
                namespace: meta.namespace.clone(),
                context: Some(self.scope.context.clone()),
                description: None,
                ready: counts.0 > 0,
                ready_count: Some(counts.0),
                total_count: Some(counts.1),
                containers,
                node,
            });
        };
        for pod in &pods {
            let node = pod.spec.as_ref().and_then(|spec| spec.node_name.clone());
            let containers = pod.spec.iter().flat_map(|spec| &spec.containers).map(|c| c.name.clone()).collect();
            add(WorkloadKind::Pod, &pod.metadata, (u32::from(is_ready(pod)), 1), containers, node);
        }
        let scaled = |status_ready: Option<i32>, wanted: Option<i32>| {
            (status_ready.unwrap_or(0).max(0) as u32, wanted.unwrap_or(1).max(0) as u32)
        };
        for deployment in self.deployments.as_ref().map(Store::state).unwrap_or_default() {
            let counts = scaled(deployment.status.as_ref().and_then(|s| s.ready_replicas), deployment.spec.replicas);
            add(
                WorkloadKind::Deployment,
                &deployment.metadata,
                counts,
                template_containers(Some(&deployment.spec.template)),
                None,
            );
        }
        for set in self.statefulsets.as_ref().map(Store::state).unwrap_or_default() {
            let counts = scaled(set.status.as_ref().and_then(|s| s.ready_replicas), set.spec.replicas);
            add(WorkloadKind::StatefulSet, &set.metadata, counts, template_containers(Some(&set.spec.template)), None);
        }
        for set in self.replicasets.as_ref().map(Store::state).unwrap_or_default() {
            let counts = scaled(set.status.as_ref().and_then(|s| s.ready_replicas), set.spec.replicas);
            add(WorkloadKind::ReplicaSet, &set.metadata, counts, template_containers(set.spec.template.as_ref()), None);
        }
        for job in &jobs {
            let owned =
                pods_where(&pods, job.namespace().as_deref(), |pod| owned_by(pod.meta(), "Job", &job.name_any()));
            let template = job.spec.as_ref().map(|spec| &spec.template);
            add(WorkloadKind::Job, &job.metadata, owned, template_containers(template), None);
        }
        for cronjob in self.cronjobs.as_ref().map(Store::state).unwrap_or_default() {
            let its_jobs: Vec<String> = jobs
                .iter()
                .filter(|job| {
                    job.namespace() == cronjob.namespace() && owned_by(job.meta(), "CronJob", &cronjob.name_any())
                })
                .map(|job| job.name_any())
                .collect();
            let counts = pods_where(&pods, cronjob.namespace().as_deref(), |pod| {
                its_jobs.iter().any(|job| owned_by(pod.meta(), "Job", job))
            });
            let template = cronjob.spec.job_template.spec.as_ref().map(|spec| &spec.template);
            add(WorkloadKind::CronJob, &cronjob.metadata, counts, template_containers(template), None);
        }
        for service in self.services.as_ref().map(Store::state).unwrap_or_default() {
            let selector: BTreeMap<String, String> =
                service.spec.as_ref().and_then(|spec| spec.selector.clone()).unwrap_or_default();
            if selector.is_empty() {
                continue;
            }
            let counts = pods_where(&pods, service.namespace().as_deref(), |pod| {
                let labels = pod.labels();
                selector.iter().all(|(key, value)| labels.get(key) == Some(value))
            });
            add(WorkloadKind::Service, &service.metadata, counts, Vec::new(), None);
        }
        let order = |kind: &str| WorkloadKind::ALL.iter().position(|known| known.as_str() == kind);
        targets.sort_by(|a, b| (order(&a.kind), &a.namespace, &a.name).cmp(&(order(&b.kind), &b.namespace, &b.name)));
        targets
    }
}

/// Starts a watcher and reflector for `K`, unless the user may not list it.
async fn reflect<K>(
    client: &Client,
    namespace: Option<&str>,
    context: &str,
    changed: &watch::Sender<u64>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<Option<Store<K>>, AgentError>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let plural = K::plural(&()).to_string();
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_forbidden() => {
            tracing::info!(%context, kind = %plural, "not listed: {}", status.message);
            return Ok(None);
        }
        Err(err) => {
            return Err(match api_error(err, &format!("the {plural} of context {context}")) {
                AgentError::StartFailed(reason) => AgentError::Cluster(crate::clusters::ClusterError::Unreachable {
                    context: context.to_string(),
                    reason,
                }),
                other => other,
            })
        }
    }
    let (store, writer) = reflector::store::<K>();
    let changed = changed.clone();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|object| object.managed_fields_mut().clear())
        .reflect(writer);
    tasks.push(tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.send_modify(|count| *count += 1),
                Err(err) => tracing::debug!(kind = %plural, %err, "target watcher"),
            }
        }
    }));
    Ok(Some(store))
}

fn template_containers(template: Option<&PodTemplateSpec>) -> Vec<String> {
    template
        .and_then(|template| template.spec.as_ref())
        .map(|spec| spec.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

fn owned_by(meta: &kube::api::ObjectMeta, kind: &str, name: &str) -> bool {
    meta.owner_references.iter().flatten().any(|owner| owner.kind == kind && owner.name == name)
}

/// (ready, total) of the pods in `namespace` that `matches`.
fn pods_where(pods: &[Arc<Pod>], namespace: Option<&str>, matches: impl Fn(&Pod) -> bool) -> (u32, u32) {
    let selected: Vec<&Arc<Pod>> =
        pods.iter().filter(|pod| pod.namespace().as_deref() == namespace && matches(pod)).collect();
    (selected.iter().filter(|pod| is_ready(pod)).count() as u32, selected.len() as u32)
}
