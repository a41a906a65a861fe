//! Finds a container's PID through containerd's gRPC API over its Unix socket.

use std::collections::HashMap;
use std::path::Path;

use containerd_client::services::v1::{GetRequest, ListContainersRequest, ListNamespacesRequest};
use containerd_client::tonic::{self, Code, Request};
use containerd_client::types::v1::Status;
use containerd_client::Client;

use super::RuntimeError;

const RUNTIME: &str = "containerd";

/// Labels that carry a container's human name: nerdctl's, and the kubelet's (via CRI).
const NAME_LABELS: [&str; 2] = ["nerdctl/name", "io.kubernetes.container.name"];

/// A container as listed by containerd, reduced to what matching needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub namespace: String,
    pub id: String,
    pub labels: HashMap<String, String>,
}

/// The PID of the running task of the container `query` (exact id, unique id prefix or name),
/// searched in `namespace` or in every namespace.
pub async fn container_pid(socket: &Path, namespace: Option<&str>, query: &str) -> Result<u32, RuntimeError> {
    let client = Client::from_path(socket)
        .await
        .map_err(|err| RuntimeError::unreachable(RUNTIME, socket, source_chain(&err)))?;
    let namespaces = match namespace {
        Some(namespace) => vec![namespace.to_owned()],
        None => list_namespaces(&client).await?,
    };
    let searched = format!("containerd at {} (namespaces: {})", socket.display(), namespaces.join(", "));
    let mut candidates = Vec::new();
    for namespace in namespaces {
        let request = with_namespace(ListContainersRequest { filters: Vec::new() }, &namespace)?;
        let containers = client
            .containers()
            .list(request)
            .await
            .map_err(|status| api_error("the container list", status))?
            .into_inner()
            .containers;
        candidates.extend(containers.into_iter().map(|container| Candidate {
            namespace: namespace.clone(),
            id: container.id,
            labels: container.labels,
        }));
    }
    let found = pick(&candidates, query, &searched)?;
    tracing::info!(namespace = %found.namespace, container = %found.id, "found the target container");
    task_pid(&client, found).await
}

/// Chooses the container `query` names: an exact id wins, then a name label, then a unique
/// id prefix. `searched` says where the candidates come from, for the error.
pub fn pick<'a>(candidates: &'a [Candidate], query: &str, searched: &str) -> Result<&'a Candidate, RuntimeError> {
    let rules: [&dyn Fn(&Candidate) -> bool; 3] = [
        &|c| c.id == query,
        &|c| NAME_LABELS.iter().any(|label| c.labels.get(*label).is_some_and(|name| name == query)),
        &|c| !query.is_empty() && c.id.starts_with(query),
    ];
    for rule in rules {
        let matches: Vec<&Candidate> = candidates.iter().filter(|c| rule(c)).collect();
        match matches.as_slice() {
            [] => continue,
            [one] => return Ok(one),
            several => {
                let matches =
                    several.iter().map(|c| format!("{}/{}", c.namespace, c.id)).collect::<Vec<_>>().join(", ");
                return Err(RuntimeError::Ambiguous { query: query.to_owned(), matches });
            }
        }
    }
    Err(RuntimeError::NotFound { query: query.to_owned(), searched: searched.to_owned() })
}

async fn list_namespaces(client: &Client) -> Result<Vec<String>, RuntimeError> {
    let response = client
        .namespaces()
        .list(ListNamespacesRequest { filter: String::new() })
        .await
        .map_err(|status| api_error("the namespace list", status))?;
    Ok(response.into_inner().namespaces.into_iter().map(|ns| ns.name).collect())
}

async fn task_pid(client: &Client, container: &Candidate) -> Result<u32, RuntimeError> {
    let request = with_namespace(
        GetRequest { container_id: container.id.clone(), exec_id: String::new() },
        &container.namespace,
    )?;
    let process = match client.tasks().get(request).await {
        Ok(response) => response.into_inner().process,
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => return Err(api_error("the task lookup", status)),
    };
    match process {
        Some(process) if process.status == Status::Running as i32 && process.pid != 0 => Ok(process.pid),
        _ => Err(RuntimeError::NotRunning(container.id.clone())),
    }
}

fn with_namespace<T>(message: T, namespace: &str) -> Result<Request<T>, RuntimeError> {
    let mut request = Request::new(message);
    let value = namespace.parse().map_err(|_| RuntimeError::Api {
        runtime: RUNTIME,
        request: "the namespace header",
        reason: format!("namespace {namespace:?} is not a valid header value"),
    })?;
    request.metadata_mut().insert("containerd-namespace", value);
    Ok(request)
}

fn api_error(request: &'static str, status: tonic::Status) -> RuntimeError {
    RuntimeError::Api { runtime: RUNTIME, request, reason: status.message().to_owned() }
}

/// tonic's transport errors say little at the top level; the cause (e.g. "no such file") is
/// in the source chain.
fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(namespace: &str, id: &str, name: Option<&str>) -> Candidate {
        let labels = name.map(|name| HashMap::from([("nerdctl/name".to_owned(), name.to_owned())])).unwrap_or_default();
        Candidate { namespace: namespace.into(), id: id.into(), labels }
    }

    fn ids(found: Result<&Candidate, RuntimeError>) -> Result<String, String> {
        found.map(|c| c.id.clone()).map_err(|err| err.to_string())
    }

    #[test]
    fn pick_exact_id_beats_prefix_of_another() {
        let all = [candidate("default", "abc", None), candidate("default", "abcdef", None)];
        assert_eq!(ids(pick(&all, "abc", "containerd")), Ok("abc".into()));
    }

    #[test]
    fn pick_by_name_label_in_any_namespace() {
        let all = [candidate("default", "111", Some("db")), candidate("k8s.io", "222", Some("web"))];
        assert_eq!(ids(pick(&all, "web", "containerd")), Ok("222".into()));
    }

    #[test]
    fn pick_kubernetes_container_name_label() {
        let mut pod = candidate("k8s.io", "333", None);
        pod.labels.insert("io.kubernetes.container.name".into(), "orders".into());
        assert_eq!(ids(pick(&[pod], "orders", "containerd")), Ok("333".into()));
    }

    #[test]
    fn pick_unique_prefix() {
        let all = [candidate("default", "abc123", None), candidate("default", "def456", None)];
        assert_eq!(ids(pick(&all, "de", "containerd")), Ok("def456".into()));
    }

    #[test]
    fn pick_ambiguous_prefix_is_usage_error() {
        let all = [candidate("default", "abc1", None), candidate("default", "abc2", None)];
        let err = pick(&all, "abc", "containerd").unwrap_err();
        assert_eq!(err.kind(), tether_rpc_schema::startup::StartupFailure::Usage);
        assert!(err.to_string().contains("default/abc1, default/abc2"), "{err}");
    }

    #[test]
    fn pick_unknown_is_not_found() {
        let all = [candidate("default", "abc", None)];
        let err = pick(&all, "zzz", "containerd").unwrap_err();
        assert_eq!(err.kind(), tether_rpc_schema::startup::StartupFailure::TargetNotFound);
        assert_eq!(ids(pick(&all, "", "containerd")).unwrap_err(), err.to_string().replace("\"zzz\"", "\"\""));
        assert!(err.to_string().contains("\"zzz\" in containerd;"), "{err}");
    }
}
