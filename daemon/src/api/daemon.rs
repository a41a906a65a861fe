//! `daemon.*`: version handshake, status and shutdown.

use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use tether_rpc_schema::api::{codes, HelloParams, HelloResult, StatusResult, API_VERSION};
use tether_rpc_schema::PROTOCOL_VERSION;

use super::{agents, session, RpcResult};
use crate::state::Daemon;

pub fn handle_hello(params: Params) -> RpcResult<HelloResult> {
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

pub async fn handle_status(daemon: Arc<Daemon>) -> RpcResult<StatusResult> {
    Ok(StatusResult {
        daemon_version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        uptime_secs: daemon.started.elapsed().as_secs(),
        log_path: daemon.log_path().display().to_string(),
        sessions: daemon.sessions.list().iter().map(|session| session::session_info(session)).collect(),
        agents: agents::infos(&daemon),
        caches: daemon.targets.info().into_iter().chain(daemon.clusters.cache_info()).collect(),
    })
}

pub fn handle_shutdown(daemon: &Daemon) -> RpcResult<()> {
    daemon.request_shutdown();
    Ok(())
}
