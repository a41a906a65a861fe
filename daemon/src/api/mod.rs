//! The daemon's JSON-RPC API: one `handle_<method>` function per method, all registered in
//! [`module`]. Domain errors become typed JSON-RPC errors here and only here.

mod agents;
mod clusters;
mod config;
mod daemon;
mod notifications;
mod session;
mod targets;

use std::sync::Arc;

use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use tether_rpc_schema::api::{codes, methods, ConfigInvalidData, Diagnostic};
use tower::layer::util::{Identity, Stack};

use crate::agents::AgentError;
use crate::config::Config;
use crate::state::Daemon;
use crate::target::{Target, TargetSpec, WorkloadKind};

type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// How every API connection is served, on the Unix socket and on the websocket.
pub type ServiceBuilder =
    jsonrpsee::server::TowerServiceBuilder<Stack<notifications::AnswerNotificationsLayer, Identity>, Identity>;

/// The builder of every API connection's service: the methods of [`module`] behind the API's
/// one RPC middleware, [`notifications`].
pub fn service_builder() -> ServiceBuilder {
    let rpc = RpcServiceBuilder::new().layer(notifications::AnswerNotificationsLayer);
    jsonrpsee::server::Server::builder().set_rpc_middleware(rpc).to_service_builder()
}

/// Every method of the API (`api::METHODS`, a test checks that none is missing), bound to the
/// daemon's state.
pub fn module(state: Arc<Daemon>) -> RpcModule<Daemon> {
    let mut module = RpcModule::from_arc(state);
    let registered = [
        module.register_method(methods::DAEMON_HELLO, |params, _, _| daemon::handle_hello(params)).map(|_| ()),
        module.register_async_method(methods::DAEMON_STATUS, |_, state, _| daemon::handle_status(state)).map(|_| ()),
        module.register_method(methods::DAEMON_SHUTDOWN, |_, state, _| daemon::handle_shutdown(state)).map(|_| ()),
        module
            .register_async_method(methods::CONFIG_VALIDATE, |params, _, _| config::handle_validate(params))
            .map(|_| ()),
        module
            .register_async_method(methods::CONFIG_RESOLVE, |params, _, _| config::handle_resolve(params))
            .map(|_| ()),
        module
            .register_async_method(methods::CONTEXTS_LIST, |_, state, _| clusters::handle_contexts_list(state))
            .map(|_| ()),
        module
            .register_async_method(methods::NAMESPACES_LIST, |params, state, _| {
                clusters::handle_namespaces_list(params, state)
            })
            .map(|_| ()),
        module
            .register_async_method(methods::TARGETS_LIST, |params, state, _| targets::handle_list(params, state))
            .map(|_| ()),
        module
            .register_async_method(methods::TARGETS_PREWARM, |params, state, _| targets::handle_prewarm(params, state))
            .map(|_| ()),
        module
            .register_subscription(
                methods::TARGETS_WATCH,
                methods::TARGETS_CHANGED,
                methods::TARGETS_UNWATCH,
                |params, sink, state, _| targets::handle_watch(params, sink, state),
            )
            .map(|_| ()),
        module
            .register_async_method(methods::SESSION_PREPARE, |params, state, extensions| {
                session::handle_prepare(params, state, extensions.get::<crate::server::ApiConnection>().cloned())
            })
            .map(|_| ()),
        module.register_method(methods::SESSION_LIST, |_, state, _| session::handle_list(state)).map(|_| ()),
        module.register_method(methods::SESSION_END, |params, state, _| session::handle_end(params, state)).map(|_| ()),
        module
            .register_subscription(
                methods::SESSION_EVENTS,
                methods::SESSION_EVENT,
                methods::SESSION_UNEVENTS,
                |params, sink, state, _| session::handle_events(params, sink, state),
            )
            .map(|_| ()),
        module.register_method(methods::AGENTS_LIST, |_, state, _| agents::handle_list(state)).map(|_| ()),
        module
            .register_async_method(methods::AGENTS_STOP, |params, state, _| agents::handle_stop(params, state))
            .map(|_| ()),
    ];
    for outcome in registered {
        outcome.expect("every method name is registered once");
    }
    module
}

/// Parameters that may be left out entirely: absent means the defaults.
fn optional<T: serde::de::DeserializeOwned + Default>(params: &jsonrpsee::types::Params) -> RpcResult<T> {
    if params.as_str().is_none_or(|text| text.trim().is_empty()) {
        Ok(T::default())
    } else {
        params.parse()
    }
}

/// The config a session (or a pre-warmed agent) uses: inline, from a file, or the defaults.
async fn session_config(inline: &Option<serde_json::Value>, path: &Option<String>) -> RpcResult<Config> {
    let loaded = match (inline, path) {
        (Some(inline), _) => {
            crate::config::parse("<inline config>", &serde_json::to_string_pretty(inline).unwrap_or_default())
        }
        (None, Some(path)) => crate::config::load(path.into()).await,
        (None, None) => Ok(Config::default()),
    };
    loaded.map_err(config_invalid)
}

fn config_invalid(diagnostics: Vec<Diagnostic>) -> ErrorObjectOwned {
    let summary = diagnostics.iter().map(Diagnostic::to_string).collect::<Vec<_>>().join("\n");
    ErrorObjectOwned::owned(codes::CONFIG_INVALID, summary, Some(ConfigInvalidData { diagnostics }))
}

fn agent_error(err: AgentError) -> ErrorObjectOwned {
    let code = match &err {
        AgentError::TargetNotFound(_) => codes::TARGET_NOT_FOUND,
        AgentError::NotPermitted(_) => codes::NOT_PERMITTED,
        AgentError::StartFailed(_) => codes::AGENT_START_FAILED,
        AgentError::NotReady(_) => codes::TARGET_NOT_READY,
        AgentError::PodSecurity(_) => codes::POD_SECURITY_REJECTED,
        AgentError::ImagePull(_) => codes::IMAGE_PULL_FAILED,
        AgentError::NodeRefused(_) => codes::NODE_REFUSED,
        AgentError::StartTimeout(_) => codes::AGENT_START_TIMEOUT,
        AgentError::Cluster(cluster) => return clusters::cluster_error(cluster),
    };
    ErrorObjectOwned::owned(code, err.to_string(), Some(serde_json::json!({ "reason": err.to_string() })))
}

/// The target a session or pre-warm is for: named by the parameters or else the config, and
/// for a Kubernetes workload, resolved now to the container of one of its pods.
/// A target as a session uses it.
struct ResolvedTarget {
    /// What the agent serves.
    target: Target,
    /// The target's pod, for a Kubernetes workload.
    pod: Option<k8s_openapi::api::core::v1::Pod>,
    /// Where the workload's other pods are, for a workload whose pods serve alike.
    replicas: Option<crate::replicas::ReplicaSource>,
}

impl From<Target> for ResolvedTarget {
    fn from(target: Target) -> Self {
        ResolvedTarget { target, pod: None, replicas: None }
    }
}

async fn resolve_target(
    daemon: &Daemon,
    text: Option<&str>,
    context: Option<&str>,
    namespace: Option<&str>,
    config: &Config,
) -> RpcResult<ResolvedTarget> {
    let text = text.or(config.target.as_deref()).ok_or_else(|| {
        invalid_params("a target is required, e.g. deployment/orders or pid/4242 (or `target` in the config)")
    })?;
    let spec: TargetSpec = text.parse().map_err(|err: crate::target::TargetError| invalid_params(err.to_string()))?;
    let workload = match spec.with_runtime(&config.container) {
        TargetSpec::Local(target) => return Ok(target.into()),
        TargetSpec::Workload(workload) => workload,
    };
    let (context, client) = daemon
        .clusters
        .client(context.or(config.context.as_deref()))
        .await
        .map_err(AgentError::from)
        .map_err(agent_error)?;
    let namespace = namespace.or(config.namespace.as_deref()).unwrap_or(client.default_namespace()).to_string();
    if workload.kind == WorkloadKind::Targetless {
        return Ok(Target::Targetless { context, namespace }.into());
    }
    let resolved = crate::workloads::resolve(&client, &context, &namespace, &workload).await.map_err(agent_error)?;
    let replicas = resolved.replicas.map(|selector| crate::replicas::ReplicaSource {
        client,
        selector,
        container: workload.container.clone(),
        target: resolved.target.clone(),
    });
    Ok(ResolvedTarget { target: Target::Pod(resolved.target), pod: Some(resolved.pod), replicas })
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned::<()>(jsonrpsee::types::error::INVALID_PARAMS_CODE, message, None)
}

fn not_found(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned::<()>(codes::SESSION_NOT_FOUND, message, None)
}

/// A subscription notification carrying `value`.
fn notification(value: &impl serde::Serialize) -> jsonrpsee::SubscriptionMessage {
    serde_json::value::to_raw_value(value).expect("API types serialize").into()
}
