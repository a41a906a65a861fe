//! The daemon's JSON-RPC API: one `handle_<method>` function per method, registered in
//! [`module`]. Domain errors become typed JSON-RPC errors here and only here.

use std::path::Path;
use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{Extensions, RpcModule};
use tether_rpc_schema::api::{
    codes, methods, ConfigInvalidData, HelloParams, HelloResult, SessionEndParams, SessionPrepareParams,
    SessionPrepared, API_VERSION,
};
use tether_rpc_schema::wire::Message;
use tether_rpc_schema::PROTOCOL_VERSION;

use crate::agents::AgentError;
use crate::config::{self, Config};
use crate::launch_env::{self, SessionVars};
use crate::sessions::Session;
use crate::state::Daemon;
use crate::target::Target;
use crate::token;

type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Every method of the API, bound to the daemon's state.
pub fn module(daemon: Arc<Daemon>) -> RpcModule<Daemon> {
    let mut module = RpcModule::from_arc(daemon);
    module
        .register_method(methods::DAEMON_HELLO, |params, _, _| handle_daemon_hello(params))
        .expect("unique method name");
    module
        .register_method(methods::DAEMON_SHUTDOWN, |_, daemon, _| handle_daemon_shutdown(daemon))
        .expect("unique method name");
    module
        .register_async_method(methods::SESSION_PREPARE, |params, daemon, _: Extensions| async move {
            handle_session_prepare(params, daemon).await
        })
        .expect("unique method name");
    module
        .register_method(methods::SESSION_END, |params, daemon, _| handle_session_end(params, daemon))
        .expect("unique method name");
    module
}

fn handle_daemon_hello(params: Params) -> RpcResult<HelloResult> {
    let hello: HelloParams = params.parse()?;
    if hello.api_version != API_VERSION {
        return Err(ErrorObjectOwned::owned(
            codes::INCOMPATIBLE_VERSION,
            format!(
                "{} speaks API {} but this daemon speaks {API_VERSION}; update the older of the two",
                hello.client, hello.api_version
            ),
            Some(serde_json::json!({ "daemon_api_version": API_VERSION })),
        ));
    }
    Ok(HelloResult {
        daemon_version: env!("CARGO_PKG_VERSION").to_string(),
        api_version: API_VERSION,
        protocol_version: PROTOCOL_VERSION,
        capabilities: Vec::new(),
        pid: std::process::id(),
    })
}

fn handle_daemon_shutdown(daemon: &Daemon) -> RpcResult<()> {
    daemon.request_shutdown();
    Ok(())
}

async fn handle_session_prepare(params: Params<'static>, daemon: Arc<Daemon>) -> RpcResult<SessionPrepared> {
    let params: SessionPrepareParams = params.parse()?;
    let target_text = params.target.as_deref().ok_or_else(|| invalid_params("a target is required, e.g. pid/4242"))?;
    let target: Target = target_text.parse().map_err(|err: crate::target::TargetError| invalid_params(err.to_string()))?;
    let config = match &params.config_path {
        Some(path) => config::load(Path::new(path)).map_err(|diagnostics| {
            let summary = diagnostics
                .iter()
                .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
                .collect::<Vec<_>>()
                .join("\n");
            ErrorObjectOwned::owned(codes::CONFIG_INVALID, summary, Some(ConfigInvalidData { diagnostics }))
        })?,
        None => Config::default(),
    };
    let agent = daemon.agents.get(&target).await.map_err(agent_error)?;
    let target_env = match agent.link.request(Message::EnvGet).await {
        Ok(Message::EnvVars(vars)) => vars
            .into_iter()
            .map(|var| (String::from_utf8_lossy(&var.name).into_owned(), String::from_utf8_lossy(&var.value).into_owned()))
            .collect::<Vec<_>>(),
        Ok(other) => return Err(agent_error(AgentError::StartFailed(format!("the agent could not read the target's environment: {other:?}")))),
        Err(err) => return Err(agent_error(AgentError::StartFailed(err.to_string()))),
    };
    let session_token = token::random();
    let session_vars = SessionVars {
        layer_path: daemon.layer_path.display().to_string(),
        proxy_socket: daemon.paths.proxy_socket().display().to_string(),
        token: session_token.clone(),
        layer_log: daemon.paths.layer_log().display().to_string(),
    };
    let env = launch_env::compute(&params.launch.env, &target_env, &config.env, &session_vars)
        .map_err(|err| invalid_params(err.to_string()))?;
    let session = daemon.sessions.insert(Session {
        id: token::random()[..16].to_string(),
        token: session_token,
        target: target.clone(),
        agent,
        policy: config.layer_policy(),
    });
    tracing::info!(session = %session.id, %target, target_pid = session.agent.target_pid, program = %params.launch.program, "session prepared");
    Ok(SessionPrepared { session_id: session.id.clone(), env: env.set, unset: env.unset, warnings: Vec::new() })
}

fn handle_session_end(params: Params, daemon: &Daemon) -> RpcResult<()> {
    let params: SessionEndParams = params.parse()?;
    if let Some(session) = daemon.sessions.remove(&params.session_id) {
        tracing::info!(session = %session.id, target = %session.target, "session ended");
        Ok(())
    } else {
        Err(ErrorObjectOwned::owned::<()>(codes::SESSION_NOT_FOUND, format!("no session {}", params.session_id), None))
    }
}

fn agent_error(err: AgentError) -> ErrorObjectOwned {
    let code = match &err {
        AgentError::TargetNotFound(_) => codes::TARGET_NOT_FOUND,
        AgentError::NotPermitted(_) => codes::NOT_PERMITTED,
        AgentError::StartFailed(_) => codes::AGENT_START_FAILED,
    };
    ErrorObjectOwned::owned(code, err.to_string(), Some(serde_json::json!({ "reason": err.to_string() })))
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned::<()>(jsonrpsee::types::error::INVALID_PARAMS_CODE, message, None)
}
