//! The API over WebSocket on loopback, for clients that cannot reach a Unix socket (a browser
//! based editor). Only when `TETHER_WEBSOCKET=<loopback addr:port>` is set for the daemon; every
//! request must carry the token kept in the 0600 file `ws.token` of the runtime directory, as
//! `Authorization: Bearer <token>` or `?token=<token>`. The bound address is written to `ws.addr`.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use anyhow::{bail, Context};
use jsonrpsee::server::{HttpBody, HttpResponse};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Service;

use crate::state::Daemon;

/// Binds the loopback listener named by `TETHER_WEBSOCKET`, if any, and writes the token and
/// address files. Refuses addresses that are not loopback.
pub async fn bind(daemon: &Daemon) -> anyhow::Result<Option<(TcpListener, String)>> {
    let Ok(wanted) = std::env::var("TETHER_WEBSOCKET") else { return Ok(None) };
    let addr: SocketAddr =
        wanted.parse().with_context(|| format!("TETHER_WEBSOCKET={wanted:?} is not an address like 127.0.0.1:7077"))?;
    if !addr.ip().is_loopback() {
        bail!("TETHER_WEBSOCKET={wanted} is not a loopback address; the API is only offered on loopback");
    }
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let token = crate::token::random();
    write_private(&daemon.paths.runtime_dir.join("ws.token"), &token)?;
    write_private(&daemon.paths.runtime_dir.join("ws.addr"), &listener.local_addr()?.to_string())?;
    Ok(Some((listener, token)))
}

fn write_private(path: &std::path::Path, content: &str) -> anyhow::Result<()> {
    let _ = fs::remove_file(path);
    let mut file = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    Ok(())
}

/// Serves the API on `listener` until shutdown, refusing requests without the token.
pub async fn serve(listener: TcpListener, token: String, daemon: Arc<Daemon>, mut shutdown_rx: watch::Receiver<bool>) {
    let (stop_handle, server_handle) = jsonrpsee::server::stop_channel();
    let service_builder = crate::api::service_builder();
    let methods = crate::api::module(daemon);
    let token = Arc::new(token);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown_rx.changed() => break,
        };
        let Ok((stream, peer)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let api =
            crate::server::ApiConnection::attach(service_builder.clone().build(methods.clone(), stop_handle.clone()));
        let guarded = TokenGuard { api, token: token.clone(), peer };
        let stopped = stop_handle.clone().shutdown();
        tokio::spawn(async move {
            if let Err(err) = jsonrpsee::server::serve_with_graceful_shutdown(stream, guarded, stopped).await {
                tracing::debug!(%err, "websocket api connection ended");
            }
        });
    }
    let _ = server_handle.stop();
}

/// Lets a request through to the API only when it carries the token.
#[derive(Clone)]
struct TokenGuard<S> {
    api: S,
    token: Arc<String>,
    peer: SocketAddr,
}

impl<S, B> Service<http::Request<B>> for TokenGuard<S>
where
    S: Service<http::Request<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = futures::future::Either<S::Future, futures::future::Ready<Result<HttpResponse, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.api.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if presents_token(&request, &self.token) {
            futures::future::Either::Left(self.api.call(request))
        } else {
            tracing::warn!(peer = %self.peer, "refusing a websocket API request without the token");
            futures::future::Either::Right(futures::future::ready(Ok(unauthorized())))
        }
    }
}

fn presents_token<B>(request: &http::Request<B>, token: &str) -> bool {
    let bearer = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let query = request.uri().query().and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("token=")));
    bearer.or(query).is_some_and(|given| crate::token::same(given, token))
}

fn unauthorized() -> HttpResponse {
    http::Response::builder()
        .status(http::StatusCode::UNAUTHORIZED)
        .body(HttpBody::from("missing or wrong token; read it from ws.token in the tether runtime directory\n"))
        .expect("a static response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, header: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder().uri(uri);
        if let Some(header) = header {
            builder = builder.header(http::header::AUTHORIZATION, header);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn presents_token_accepts_bearer_or_query_only_when_equal() {
        assert!(presents_token(&request("/", Some("Bearer s3")), "s3"));
        assert!(presents_token(&request("/?a=1&token=s3", None), "s3"));
        assert!(!presents_token(&request("/", Some("Bearer s4")), "s3"));
        assert!(!presents_token(&request("/", Some("Basic s3")), "s3"));
        assert!(!presents_token(&request("/", None), "s3"));
    }
}
