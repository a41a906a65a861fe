//! Kubernetes clusters as the user's kubeconfig describes them: the contexts (every file of
//! `$KUBECONFIG`, merged as kubectl does, or `~/.kube/config`) and one client per context, kept
//! until the kubeconfig changes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use tokio::sync::Mutex;

/// How long a cluster may take to answer before it counts as unreachable.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a cluster cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig could not be read or has no such context.
    #[error("{0}")]
    Kubeconfig(String),
    /// The context's API server did not answer, or refused.
    #[error("cluster of context {context} is unreachable: {reason}")]
    Unreachable { context: String, reason: String },
}

/// One kubeconfig context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub name: String,
    pub cluster: String,
    pub namespace: Option<String>,
    pub current: bool,
}

/// Kube clients by context name.
#[derive(Default)]
pub struct Clusters {
    clients: Mutex<HashMap<String, Client>>,
    /// The contexts as last read; dropped when a kubeconfig file changes.
    contexts: std::sync::Mutex<Option<(std::time::Instant, Vec<Context>)>>,
}

impl Clusters {
    /// The files the kubeconfig is read from, for watching.
    pub fn kubeconfig_paths() -> Vec<PathBuf> {
        match std::env::var_os("KUBECONFIG") {
            Some(list) => std::env::split_paths(&list).filter(|path| !path.as_os_str().is_empty()).collect(),
            None => {
                directories::BaseDirs::new().map(|dirs| vec![dirs.home_dir().join(".kube/config")]).unwrap_or_default()
            }
        }
    }

    /// The contexts of the merged kubeconfig; none when there is no kubeconfig at all.
    pub async fn contexts(&self) -> Result<Vec<Context>, ClusterError> {
        let cached = self.contexts.lock().expect("contexts lock").as_ref().map(|(_, contexts)| contexts.clone());
        if let Some(contexts) = cached {
            return Ok(contexts);
        }
        let Some(kubeconfig) = read_kubeconfig().await? else {
            let in_cluster: Vec<Context> = in_cluster_context().into_iter().collect();
            *self.contexts.lock().expect("contexts lock") = Some((std::time::Instant::now(), in_cluster.clone()));
            return Ok(in_cluster);
        };
        let current = kubeconfig.current_context.clone();
        let contexts: Vec<Context> = kubeconfig
            .contexts
            .iter()
            .map(|named| {
                let context = named.context.clone().unwrap_or_default();
                Context {
                    name: named.name.clone(),
                    cluster: context.cluster,
                    namespace: context.namespace,
                    current: current.as_deref() == Some(named.name.as_str()),
                }
            })
            .collect();
        *self.contexts.lock().expect("contexts lock") = Some((std::time::Instant::now(), contexts.clone()));
        Ok(contexts)
    }

    /// What `daemon.status` reports about the contexts cache.
    pub fn cache_info(&self) -> Option<tether_rpc_schema::api::CacheInfo> {
        let cached = self.contexts.lock().expect("contexts lock");
        cached.as_ref().map(|(at, contexts)| tether_rpc_schema::api::CacheInfo {
            name: "kubeconfig contexts".to_string(),
            entries: contexts.len() as u64,
            age_secs: at.elapsed().as_secs(),
        })
    }

    /// The namespaces of `context` (the current one when `None`).
    pub async fn namespaces(&self, context: Option<&str>) -> Result<Vec<String>, ClusterError> {
        let (name, client) = self.client(context).await?;
        let list = tokio::time::timeout(CLUSTER_TIMEOUT, Api::<Namespace>::all(client).list(&ListParams::default()))
            .await
            .map_err(|_| unreachable(&name, format!("no answer within {}s", CLUSTER_TIMEOUT.as_secs())))?
            .map_err(|err| unreachable(&name, describe(&err)))?;
        let mut names: Vec<String> = list.items.into_iter().filter_map(|namespace| namespace.metadata.name).collect();
        names.sort();
        Ok(names)
    }

    /// Forgets the contexts and every client, after the kubeconfig changed.
    pub async fn forget(&self) {
        *self.contexts.lock().expect("contexts lock") = None;
        self.clients.lock().await.clear();
    }

    /// The client of `context` (the current one when `None`) and the context's name; the
    /// kubeconfig files are read only to build a client that is not cached yet. The client's
    /// `default_namespace` is the context's namespace, else `default`.
    pub async fn client(&self, context: Option<&str>) -> Result<(String, Client), ClusterError> {
        let contexts = self.contexts().await?;
        if contexts.is_empty() {
            return Err(ClusterError::Kubeconfig(
                "no kubeconfig found; set KUBECONFIG or create ~/.kube/config".to_string(),
            ));
        }
        let name = match context {
            Some(name) => name.to_string(),
            None => contexts.iter().find(|known| known.current).map(|known| known.name.clone()).ok_or_else(|| {
                ClusterError::Kubeconfig("the kubeconfig has no current context; pass a context".to_string())
            })?,
        };
        if !contexts.iter().any(|known| known.name == name) {
            return Err(ClusterError::Kubeconfig(format!("the kubeconfig has no context {name:?}")));
        }
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(&name) {
            return Ok((name, client.clone()));
        }
        let config = match read_kubeconfig().await? {
            Some(kubeconfig) => {
                let options = KubeConfigOptions { context: Some(name.clone()), ..KubeConfigOptions::default() };
                kube::Config::from_custom_kubeconfig(without_interactive_plugins(kubeconfig), &options)
                    .await
                    .map_err(|err| ClusterError::Kubeconfig(format!("context {name}: {err}")))?
            }
            None if name == IN_CLUSTER => kube::Config::incluster()
                .map_err(|err| ClusterError::Kubeconfig(format!("the pod's service account: {err}")))?,
            None => {
                return Err(ClusterError::Kubeconfig("the kubeconfig files went away; create them again".to_string()))
            }
        };
        let client = client_without_nagle(config).map_err(|err| unreachable(&name, describe(&err)))?;
        clients.insert(name.clone(), client.clone());
        Ok((name, client))
    }
}

/// Reads and merges the kubeconfig files on a blocking thread, so that a slow file never holds up
/// the daemon's other requests.
async fn read_kubeconfig() -> Result<Option<Kubeconfig>, ClusterError> {
    tokio::task::spawn_blocking(read_kubeconfig_files)
        .await
        .unwrap_or_else(|err| Err(ClusterError::Kubeconfig(format!("reading the kubeconfig failed: {err}"))))
}

fn read_kubeconfig_files() -> Result<Option<Kubeconfig>, ClusterError> {
    let paths: Vec<PathBuf> = Clusters::kubeconfig_paths().into_iter().filter(|path| path.exists()).collect();
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        // Checked first (a regular file, not too large) so that a FIFO or `/dev/zero` in
        // KUBECONFIG cannot hang or exhaust the daemon; kube then reads it again, because it also
        // makes the certificate paths in it absolute.
        crate::user_file::read_text(&path)
            .map_err(|err| ClusterError::Kubeconfig(format!("kubeconfig {}: {err}", path.display())))?;
        let file = Kubeconfig::read_from(&path)
            .map_err(|err| ClusterError::Kubeconfig(format!("{}: {err}", path.display())))?;
        merged = Some(match merged {
            Some(so_far) => {
                so_far.merge(file).map_err(|err| ClusterError::Kubeconfig(format!("{}: {err}", path.display())))?
            }
            None => file,
        });
    }
    Ok(merged)
}

/// A client whose connections to the API server send at once (`TCP_NODELAY`): an agent's
/// port-forward carries its link's small frames (acknowledgements, requests), and with Nagle's
/// algorithm each would wait for the server's delayed ACK, about 40 ms a round trip. kube builds
/// its connector with the option off, so the client is assembled here from kube's own layers
/// (base URI, authentication, extra headers); a kubeconfig with a proxy keeps kube's client.
fn client_without_nagle(config: kube::Config) -> Result<Client, kube::Error> {
    use kube::client::ConfigExt;
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let https = config.rustls_https_connector_with_connector(http)?;
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(|err: hyper_util::client::legacy::Error| Box::new(err) as Box<dyn std::error::Error + Send + Sync>)
        .service(hyper);
    Ok(Client::new(service, config.default_namespace))
}

/// The context of a daemon running in a pod without a kubeconfig (a devcontainer in the
/// cluster): its service account, as kubectl falls back to it.
pub const IN_CLUSTER: &str = "in-cluster";
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn in_cluster_context() -> Option<Context> {
    std::env::var_os("KUBERNETES_SERVICE_HOST")?;
    let dir = std::path::Path::new(SERVICE_ACCOUNT);
    if !dir.join("token").is_file() {
        return None;
    }
    let namespace = crate::user_file::read_text(&dir.join("namespace")).ok().map(|text| text.trim().to_string());
    Some(Context { name: IN_CLUSTER.to_string(), cluster: IN_CLUSTER.to_string(), namespace, current: true })
}

/// A Kubernetes client error as a person reads it: a failed credential plugin with what it
/// printed on stderr (how to log in again, mostly), anything else as kube words it.
pub fn describe(err: &kube::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(kube::client::AuthError::AuthExecRun { out, .. }) = current.downcast_ref() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return format!(
                "the credential plugin of the kubeconfig's user failed ({}): {}",
                out.status,
                stderr.trim()
            );
        }
        source = current.source();
    }
    err.to_string()
}

/// Credential plugins never get the daemon's stdin (there is no terminal to ask on): their
/// stdin is closed and their stderr captured, so that a failure can say what they printed.
fn without_interactive_plugins(mut kubeconfig: Kubeconfig) -> Kubeconfig {
    for named in &mut kubeconfig.auth_infos {
        if let Some(exec) = named.auth_info.as_mut().and_then(|auth| auth.exec.as_mut()) {
            exec.interactive_mode = Some(kube::config::ExecInteractiveMode::Never);
        }
    }
    kubeconfig
}

fn unreachable(context: &str, reason: String) -> ClusterError {
    ClusterError::Unreachable { context: context.to_string(), reason }
}
