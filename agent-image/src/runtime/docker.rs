//! Finds a container's PID through the Docker Engine API (`GET /containers/<id>/json`) over
//! its Unix socket.

use std::path::Path;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::UnixStream;

use super::RuntimeError;

const RUNTIME: &str = "docker";

/// The part of Docker's container inspect answer the agent reads.
#[derive(Debug, Deserialize)]
struct Inspect {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "State")]
    state: State,
}

#[derive(Debug, Deserialize)]
struct State {
    #[serde(rename = "Running", default)]
    running: bool,
    #[serde(rename = "Pid", default)]
    pid: u32,
}

/// The PID of the main process of the running container `name_or_id`.
pub async fn container_pid(socket: &Path, name_or_id: &str) -> Result<u32, RuntimeError> {
    let stream = UnixStream::connect(socket).await.map_err(|err| RuntimeError::unreachable(RUNTIME, socket, err))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|err| RuntimeError::unreachable(RUNTIME, socket, err))?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%err, "docker api connection ended");
        }
    });
    let request = Request::get(format!("/containers/{}/json", percent_encode(name_or_id)))
        .header(hyper::header::HOST, "docker")
        .body(Empty::<Bytes>::new())
        .map_err(|err| api_error(err.to_string()))?;
    let response = sender.send_request(request).await.map_err(|err| api_error(err.to_string()))?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|err| api_error(err.to_string()))?.to_bytes();
    parse_inspect(status, &body, name_or_id, &format!("docker at {}", socket.display()))
}

/// Reads the PID out of an inspect answer; `searched` names the engine asked, for the error.
fn parse_inspect(status: StatusCode, body: &[u8], name_or_id: &str, searched: &str) -> Result<u32, RuntimeError> {
    if status == StatusCode::NOT_FOUND {
        return Err(RuntimeError::NotFound { query: name_or_id.to_owned(), searched: searched.to_owned() });
    }
    if !status.is_success() {
        let reason = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|value| value.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("http status {status}"));
        return Err(api_error(reason));
    }
    let inspect: Inspect =
        serde_json::from_slice(body).map_err(|err| api_error(format!("unexpected inspect answer: {err}")))?;
    if !inspect.state.running || inspect.state.pid == 0 {
        return Err(RuntimeError::NotRunning(inspect.id));
    }
    Ok(inspect.state.pid)
}

fn api_error(reason: String) -> RuntimeError {
    RuntimeError::Api { runtime: RUNTIME, request: "the container inspection", reason }
}

/// Escapes everything but RFC 3986 unreserved characters, so a name cannot change the path.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_rpc_schema::startup::StartupFailure;

    #[test]
    fn parse_inspect_running_container_gives_pid() {
        let body =
            br#"{"Id":"4f1c","Name":"/web","State":{"Status":"running","Running":true,"Pid":4321,"ExitCode":0}}"#;
        assert_eq!(parse_inspect(StatusCode::OK, body, "web", "docker").unwrap(), 4321);
    }

    #[test]
    fn parse_inspect_stopped_container_is_not_running() {
        let body = br#"{"Id":"4f1c","State":{"Status":"exited","Running":false,"Pid":0}}"#;
        let err = parse_inspect(StatusCode::OK, body, "web", "docker").unwrap_err();
        assert_eq!(err.kind(), StartupFailure::TargetNotFound);
        assert_eq!(err.to_string(), "container 4f1c is not running; start it first");
    }

    #[test]
    fn parse_inspect_404_is_not_found() {
        let body = br#"{"message":"No such container: web"}"#;
        let err = parse_inspect(StatusCode::NOT_FOUND, body, "web", "docker").unwrap_err();
        assert_eq!(err.kind(), StartupFailure::TargetNotFound);
    }

    #[test]
    fn parse_inspect_server_error_is_runtime_error_with_docker_message() {
        let body = br#"{"message":"daemon is shutting down"}"#;
        let err = parse_inspect(StatusCode::INTERNAL_SERVER_ERROR, body, "web", "docker").unwrap_err();
        assert_eq!(err.kind(), StartupFailure::Runtime);
        assert!(err.to_string().contains("daemon is shutting down"), "{err}");
    }

    #[test]
    fn percent_encode_keeps_names_and_escapes_separators() {
        assert_eq!(percent_encode("my_app-1.2"), "my_app-1.2");
        assert_eq!(percent_encode("../x?y"), "..%2Fx%3Fy");
    }
}
