//! `contexts.list` and `namespaces.list`: the user's kubeconfig contexts and a cluster's
//! namespaces; a cluster that cannot be reached is a typed error naming the context and why.

use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use tether_rpc_schema::api::{codes, ContextInfo, NamespacesListParams};

use super::RpcResult;
use crate::clusters::ClusterError;
use crate::state::Daemon;

pub async fn handle_contexts_list(daemon: Arc<Daemon>) -> RpcResult<Vec<ContextInfo>> {
    let contexts = daemon.clusters.contexts().await.map_err(|err| cluster_error(&err))?;
    Ok(contexts
        .into_iter()
        .map(|context| ContextInfo {
            name: context.name,
            cluster: context.cluster,
            namespace: context.namespace,
            current: context.current,
        })
        .collect())
}

pub async fn handle_namespaces_list(params: Params<'static>, daemon: Arc<Daemon>) -> RpcResult<Vec<String>> {
    let params: NamespacesListParams = super::optional(&params)?;
    daemon.clusters.namespaces(params.context.as_deref()).await.map_err(|err| cluster_error(&err))
}

pub(super) fn cluster_error(err: &ClusterError) -> ErrorObjectOwned {
    let (context, reason) = match err {
        ClusterError::Unreachable { context, reason } => (Some(context.clone()), reason.clone()),
        ClusterError::Kubeconfig(reason) => (None, reason.clone()),
    };
    ErrorObjectOwned::owned(
        codes::CLUSTER_UNREACHABLE,
        err.to_string(),
        Some(serde_json::json!({ "context": context, "reason": reason })),
    )
}
