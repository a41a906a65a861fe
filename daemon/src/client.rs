//! The CLI's side of the API: finds the user's daemon, starting it when none runs, and checks
//! that both speak the same API version.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context};
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use tether_rpc_schema::api::{methods, HelloParams, HelloResult, API_VERSION};
use tokio::net::UnixStream;

use crate::paths::UserPaths;

/// How long to wait for a freshly started daemon's socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the daemon, starting it in the background if needed.
pub async fn connect_or_start(paths: &UserPaths) -> anyhow::Result<WsClient> {
    let socket = paths.api_socket();
    let stream = match UnixStream::connect(&socket).await {
        Ok(stream) => stream,
        Err(_) => {
            start_daemon()?;
            wait_for_socket(paths).await?
        }
    };
    let client = WsClientBuilder::default()
        .request_timeout(Duration::from_secs(120))
        .build_with_stream("ws://localhost/", stream)
        .await
        .context("talking to the tether daemon")?;
    let hello = HelloParams { client: format!("tether-cli {}", env!("CARGO_PKG_VERSION")), api_version: API_VERSION };
    let _: HelloResult = client.request(methods::DAEMON_HELLO, by_name(&hello)).await.map_err(describe)?;
    Ok(client)
}

fn start_daemon() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the tether executable")?;
    Command::new(exe)
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the tether daemon")?;
    Ok(())
}

async fn wait_for_socket(paths: &UserPaths) -> anyhow::Result<UnixStream> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        match UnixStream::connect(paths.api_socket()).await {
            Ok(stream) => return Ok(stream),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                return Err(anyhow!(
                    "the tether daemon did not come up within {}s ({err}); see {}",
                    START_TIMEOUT.as_secs(),
                    paths.log_dir.join("daemon.log").display()
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Turns an API error into the message a CLI user should read.
pub fn describe(err: ClientError) -> anyhow::Error {
    match err {
        ClientError::Call(call) => anyhow!("{}", call.message()),
        other => anyhow!("the tether daemon failed: {other}"),
    }
}

/// Parameters passed by name, as editors send them.
pub fn by_name(params: &impl serde::Serialize) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(params) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// `tether rpc`: calls `method` with `params` (JSON text) and returns the JSON result.
pub async fn call_raw(method: &str, params: Option<&str>) -> anyhow::Result<serde_json::Value> {
    let paths = UserPaths::for_current_user()?;
    let client = connect_or_start(&paths).await?;
    let params: serde_json::Value = match params {
        Some(text) => serde_json::from_str(text).context("the parameters are not valid JSON")?,
        None => serde_json::Value::Null,
    };
    let result = match params {
        serde_json::Value::Object(map) => client.request(method, map).await,
        serde_json::Value::Array(items) => client.request(method, items).await,
        serde_json::Value::Null => client.request(method, jsonrpsee::core::params::ArrayParams::new()).await,
        _ => anyhow::bail!("the parameters must be a JSON object or array"),
    };
    result.map_err(describe)
}
