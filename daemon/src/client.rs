//! The CLI's (and `tether lsp`'s) side of the API: finds the user's daemon, starting it when
//! none runs and replacing it when it is outdated (another version or API, or an executable
//! replaced since it started).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use tether_rpc_schema::api::{codes, methods, HelloParams, HelloResult, API_VERSION};
use tokio::net::UnixStream;

use crate::paths::UserPaths;

/// How long to wait for a freshly started daemon's socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an outdated daemon gets to stop before a fresh one is started.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the daemon, starting it in the background if needed. An outdated daemon (another
/// version, an incompatible API, or an executable that was replaced since it started) is shut
/// down and replaced by a fresh one.
pub async fn connect_or_start(paths: &UserPaths) -> anyhow::Result<WsClient> {
    let (client, hello) = connect(paths).await?;
    let Some(reason) = outdated(hello.as_ref()) else { return Ok(client) };
    let old_pid = hello.as_ref().ok().map(|hello| hello.pid);
    tracing::info!(?old_pid, "restarting the tether daemon: {reason}");
    // The daemon answers before it stops; an error here means it is already going.
    let _ = client.request::<serde_json::Value, _>(methods::DAEMON_SHUTDOWN, ArrayParams::new()).await;
    drop(client);
    wait_until_stopped(paths).await.with_context(|| format!("restarting the tether daemon ({reason})"))?;
    let (client, hello) = connect(paths).await?;
    match hello {
        Ok(_) => Ok(client),
        Err(err) => Err(describe(err)),
    }
}

/// Connects (starting the daemon if none runs) and says hello; the hello's error is returned for
/// [`outdated`] to judge.
async fn connect(paths: &UserPaths) -> anyhow::Result<(WsClient, Result<HelloResult, ClientError>)> {
    let stream = connect_stream(paths).await?;
    let client = WsClientBuilder::default()
        .request_timeout(Duration::from_secs(120))
        .build_with_stream("ws://localhost/", stream)
        .await
        .context("talking to the tether daemon")?;
    let hello = HelloParams { client: format!("tether-cli {}", env!("CARGO_PKG_VERSION")), api_version: API_VERSION };
    let result = client.request(methods::DAEMON_HELLO, by_name(&hello)).await;
    match result {
        Err(ClientError::Call(call)) if call.code() != codes::INCOMPATIBLE_VERSION => {
            Err(anyhow!("{}", call_text(&call)))
        }
        Err(err @ ClientError::Call(_)) => Ok((client, Err(err))),
        Err(other) => Err(describe(other)),
        Ok(hello) => Ok((client, Ok(hello))),
    }
}

/// Why the daemon that answered `hello` must be replaced, if it must.
fn outdated(hello: Result<&HelloResult, &ClientError>) -> Option<String> {
    let hello = match hello {
        Ok(hello) => hello,
        Err(ClientError::Call(call)) => return Some(format!("it speaks another API version ({})", call_text(call))),
        Err(err) => return Some(format!("it speaks another API version ({err})")),
    };
    if hello.daemon_version != env!("CARGO_PKG_VERSION") || hello.api_version != API_VERSION {
        return Some(format!(
            "it is version {} (API {}), this is {} (API {API_VERSION})",
            hello.daemon_version,
            hello.api_version,
            env!("CARGO_PKG_VERSION")
        ));
    }
    let ours = std::env::current_exe().ok()?;
    let theirs = std::fs::read_link(format!("/proc/{}/exe", hello.pid)).ok()?;
    exe_replaced(&theirs, &ours).then(|| format!("its executable {} was replaced", theirs.display()))
}

/// Was the daemon's executable replaced (deleted, as an upgrade or a rebuild does) since it
/// started? Another installed copy of the same version is not outdated: an editor's bundled
/// `tether` and the one on `PATH` must not keep restarting each other's daemon and ending its
/// sessions. Our own executable having been replaced says nothing about the daemon's.
fn exe_replaced(theirs: &Path, ours: &Path) -> bool {
    let deleted = |path: &Path| path.to_string_lossy().ends_with(" (deleted)");
    !deleted(ours) && deleted(theirs)
}

/// Waits until the daemon has removed its socket and released its lock.
async fn wait_until_stopped(paths: &UserPaths) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    loop {
        if !paths.api_socket().exists() && lock_is_free(paths) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the old daemon did not stop within {}s; stop it (see `tether rpc daemon.status`) and retry",
                STOP_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lock_is_free(paths: &UserPaths) -> bool {
    let Ok(file) = std::fs::File::open(paths.lock_file()) else { return true };
    // Taken and released at once: the new daemon takes it for good.
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
}

/// Starts the daemon in the background; a thread reaps it if it exits while we run (`tether
/// lsp` lives long).
fn start_daemon() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the tether executable")?;
    let mut daemon = Command::new(exe)
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the tether daemon")?;
    std::thread::spawn(move || daemon.wait());
    Ok(())
}

/// Connects to the API socket. While the daemon's lock is held a daemon is starting or stopping,
/// so this waits; once the lock is free and nothing answers, it starts one (once).
async fn connect_stream(paths: &UserPaths) -> anyhow::Result<UnixStream> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut started = false;
    loop {
        match UnixStream::connect(paths.api_socket()).await {
            Ok(stream) => return Ok(stream),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                return Err(anyhow!(
                    "the tether daemon did not come up within {}s ({err}); see {}",
                    START_TIMEOUT.as_secs(),
                    crate::logging::current_file(&paths.log_dir).display()
                ))
            }
            // Not probed again after starting one: the probe takes the lock for an instant,
            // which would make the starting daemon give up.
            Err(_) if !started && lock_is_free(paths) => {
                start_daemon()?;
                started = true;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Turns an API error into the message a CLI user should read.
pub fn describe(err: ClientError) -> anyhow::Error {
    match err {
        ClientError::Call(call) => anyhow!("{}", call_text(&call)),
        other => anyhow!("the tether daemon failed: {other}"),
    }
}

/// A failed call's message, followed by its data when that is text the message does not already
/// say: jsonrpsee's "Invalid params" carries what was wrong (e.g. "missing field `launch`") only
/// there. (jsonrpsee's own `Display` of the error is its `Debug` text.)
fn call_text(call: &ErrorObjectOwned) -> String {
    let message = call.message();
    match call.data().and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok()) {
        Some(serde_json::Value::String(detail)) if !message.contains(&detail) => format!("{message}: {detail}"),
        _ => message.to_string(),
    }
}

/// `tether rpc`'s error: the message, the code and, when it is more than text, the data.
fn rpc_error(err: ClientError) -> anyhow::Error {
    let ClientError::Call(call) = err else { return describe(err) };
    let text = format!("{} (code {})", call_text(&call), call.code());
    match call.data().map(|raw| raw.get()).filter(|data| !data.starts_with('"')) {
        Some(data) => anyhow!("{text}\ndata: {data}"),
        None => anyhow!("{text}"),
    }
}

/// Prints `tether rpc`'s result; returns the exit code. A reader that went away (`tether rpc …
/// | head`) ends the command quietly, with the status a shell gives a command killed by SIGPIPE.
pub fn print_result(result: &serde_json::Value) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{result:#}").and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => 128 + nix::sys::signal::Signal::SIGPIPE as i32,
        Err(err) => {
            eprintln!("tether: error: cannot print the result: {err}");
            2
        }
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
    if !matches!(params, serde_json::Value::Object(_) | serde_json::Value::Array(_) | serde_json::Value::Null) {
        bail!("the parameters must be a JSON object or array");
    }
    request_value(&client, method, params).await.map_err(rpc_error)
}

/// Calls `method` with `params` as JSON: an object by name, an array by position, anything else
/// as no parameters.
pub async fn request_value(
    client: &WsClient,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, ClientError> {
    match params {
        serde_json::Value::Object(map) => client.request(method, map).await,
        serde_json::Value::Array(items) => client.request(method, items).await,
        _ => client.request(method, ArrayParams::new()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exe_replaced_only_when_the_daemons_executable_was_deleted() {
        let ours = Path::new("/opt/tether/bin/tether");
        assert!(!exe_replaced(ours, ours));
        assert!(exe_replaced(Path::new("/opt/tether/bin/tether (deleted)"), ours));
        assert!(!exe_replaced(Path::new("/home/dev/.vscode/ext/bin/tether"), ours), "another copy of the same version");
        assert!(!exe_replaced(Path::new("/x/tether (deleted)"), Path::new("/x/tether (deleted)")));
    }

    #[test]
    fn call_text_adds_the_detail_the_message_lacks() {
        let invalid = ErrorObjectOwned::owned(-32602, "Invalid params", Some("missing field `launch`"));
        assert_eq!(call_text(&invalid), "Invalid params: missing field `launch`");
        let repeated = ErrorObjectOwned::owned(-32001, "no process 9", Some(serde_json::json!({"reason": "x"})));
        assert_eq!(call_text(&repeated), "no process 9");
        let same = ErrorObjectOwned::owned(-32001, "no process 9", Some("no process 9"));
        assert_eq!(call_text(&same), "no process 9");
    }

    #[test]
    fn rpc_error_shows_code_and_structured_data() {
        let call = ErrorObjectOwned::owned(-32002, "c.json:1:1: bad", Some(serde_json::json!({"diagnostics": []})));
        assert_eq!(
            rpc_error(ClientError::Call(call)).to_string(),
            "c.json:1:1: bad (code -32002)\ndata: {\"diagnostics\":[]}"
        );
        let invalid = ErrorObjectOwned::owned(-32602, "Invalid params", Some("missing field `launch`"));
        assert_eq!(
            rpc_error(ClientError::Call(invalid)).to_string(),
            "Invalid params: missing field `launch` (code -32602)"
        );
    }

    #[test]
    fn outdated_names_a_version_mismatch() {
        let hello = HelloResult {
            daemon_version: "0.0.1".into(),
            api_version: API_VERSION,
            protocol_version: 1,
            capabilities: vec![],
            pid: 1,
        };
        assert!(outdated(Ok(&hello)).is_some_and(|reason| reason.contains("0.0.1")));
    }
}
