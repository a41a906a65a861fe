//! Per-request routing with hyper, for a filtered subscription and for connections from the
//! node on a port with kubelet probes: the client's connection is served as HTTP/1.1
//! (keep-alive) or HTTP/2 cleartext (prior knowledge), and each request is decided on its own.
//! A kubelet probe from the node goes to the target's own server, never to the user process
//! (not even as a copy). Steal: matching requests (all, without a filter) go to the user
//! process, the others to the target's own server. Mirror: every request goes to the target's
//! server, and a copy of each matching one goes to the user process, whose answer is discarded.
//!
//! Each client connection has at most one upstream connection to each side, opened on first
//! use with the client's HTTP version; the user process's side is a stream to the daemon.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tether_rpc_schema::incoming::IncomingMode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};
use tokio_util::bytes::Bytes;

use super::intercept::Subscription;

type Body = BoxBody<Bytes, hyper::Error>;

/// Bytes of the in-agent pipe between hyper and a daemon stream.
const PIPE_BUFFER: usize = 256 * 1024;

/// Largest request body copied in mirror mode; bigger (or unsized, streamed) bodies are
/// relayed to the target without a copy.
const MIRROR_BODY_LIMIT: u64 = 4 * 1024 * 1024;

/// Request copies of one connection waiting for the user process; more are dropped.
const MIRROR_QUEUE: usize = 16;

/// Serves one client connection until it closes; `from_node`: the peer is the node, whose
/// probe requests go to the target.
pub async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    original: SocketAddr,
    from_node: bool,
    subscription: Arc<Subscription>,
) {
    let router = Arc::new(Router {
        subscription,
        peer,
        original,
        from_node,
        user: Mutex::new(None),
        target: Mutex::new(None),
        copies: Mutex::new(None),
    });
    let service = hyper::service::service_fn(move |request| {
        let router = router.clone();
        async move { Ok::<_, Infallible>(router.route(request).await) }
    });
    let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(client), service)
        .await;
    if let Err(err) = served {
        tracing::debug!(%peer, %err, "incoming connection routed per request ended with an error");
    }
}

/// One upstream HTTP connection.
enum Upstream {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Upstream {
    async fn handshake(
        io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static,
        version: Version,
    ) -> Result<Upstream, String> {
        let io = TokioIo::new(io);
        if version == Version::HTTP_2 {
            let (sender, connection) =
                http2::handshake(TokioExecutor::new(), io).await.map_err(|err| err.to_string())?;
            tokio::spawn(connection);
            Ok(Upstream::H2(sender))
        } else {
            let (sender, connection) = http1::handshake(io).await.map_err(|err| err.to_string())?;
            tokio::spawn(connection);
            Ok(Upstream::H1(sender))
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Upstream::H1(sender) => sender.is_closed(),
            Upstream::H2(sender) => sender.is_closed(),
        }
    }
}

struct Router {
    subscription: Arc<Subscription>,
    peer: SocketAddr,
    original: SocketAddr,
    /// The peer is the node: its kubelet probes go to the target.
    from_node: bool,
    user: Mutex<Option<Upstream>>,
    target: Mutex<Option<Upstream>>,
    /// Mirror mode: the queue of request copies for the user process.
    copies: Mutex<Option<mpsc::Sender<Request<Body>>>>,
}

impl Router {
    async fn route(self: &Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let probe = self.from_node && super::probes::is_probe(&request);
        let matched = !probe && self.subscription.filter.as_ref().is_none_or(|filter| filter.matches(&request));
        let response = match (self.subscription.mode, matched) {
            (IncomingMode::Steal, true) => self.to_user(request.map(BodyExt::boxed)).await,
            (IncomingMode::Mirror, true) => match copyable_length(&request) {
                Some(_) => self.mirror(request).await,
                None => self.to_target(request.map(BodyExt::boxed)).await,
            },
            (_, false) => self.to_target(request.map(BodyExt::boxed)).await,
        };
        response.unwrap_or_else(|err| {
            tracing::debug!(peer = %self.peer, %err, "incoming request failed");
            let mut response = Response::new(full(format!("tether: {err}\n")));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        })
    }

    async fn to_user(&self, request: Request<Body>) -> Result<Response<Body>, String> {
        let version = request.version();
        let subscription = self.subscription.clone();
        let peer = self.peer;
        let connect = async move {
            let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
            tokio::spawn(async move {
                // Not a byte-level mirror stream even in mirror mode: the user process's answers
                // must come back to pace the copies (the agent discards them, see `queue_copy`).
                let streams = &subscription.streams;
                if let Err(err) = streams.open_incoming(subscription.port, peer, false, theirs).await {
                    tracing::debug!(%err, "stream to the user process ended with an error");
                }
            });
            Upstream::handshake(ours, version).await
        };
        send(&self.user, connect, request).await
    }

    async fn to_target(&self, request: Request<Body>) -> Result<Response<Body>, String> {
        let version = request.version();
        let subscription = self.subscription.clone();
        let original = self.original;
        let connect = async move {
            let server = subscription
                .connect_original(original)
                .await
                .map_err(|err| format!("cannot reach the target's server at {original}: {err}"))?;
            Upstream::handshake(server, version).await
        };
        send(&self.target, connect, request).await
    }

    /// Sends `request` to the target and queues a copy for the user process.
    async fn mirror(self: &Arc<Self>, request: Request<Incoming>) -> Result<Response<Body>, String> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(|err| err.to_string())?.to_bytes();
        let mut copy = Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone())
            .version(parts.version)
            .body(full(body.clone()))
            .map_err(|err| err.to_string())?;
        *copy.headers_mut() = parts.headers.clone();
        self.queue_copy(copy).await;
        self.to_target(Request::from_parts(parts, full(body))).await
    }

    async fn queue_copy(self: &Arc<Self>, copy: Request<Body>) {
        let mut copies = self.copies.lock().await;
        let copies_tx = copies.get_or_insert_with(|| {
            let (copies_tx, mut copies_rx) = mpsc::channel::<Request<Body>>(MIRROR_QUEUE);
            let router = Arc::downgrade(self);
            tokio::spawn(async move {
                while let Some(copy) = copies_rx.recv().await {
                    let Some(router) = router.upgrade() else {
                        return;
                    };
                    if let Ok(response) = router.to_user(copy).await {
                        // Read the answer so the connection stays usable; then forget it.
                        let _ = response.into_body().collect().await;
                    }
                }
            });
            copies_tx
        });
        if copies_tx.try_send(copy).is_err() {
            tracing::debug!(peer = %self.peer, "user process too slow; request copy dropped");
        }
    }
}

/// Sends `request` on the connection in `slot`, opening it with `connect` when there is none.
async fn send(
    slot: &Mutex<Option<Upstream>>,
    connect: impl Future<Output = Result<Upstream, String>>,
    request: Request<Body>,
) -> Result<Response<Body>, String> {
    let mut slot = slot.lock().await;
    if slot.as_ref().is_none_or(Upstream::is_closed) {
        *slot = Some(connect.await?);
    }
    let response = match slot.as_mut() {
        Some(Upstream::H1(sender)) => {
            sender.ready().await.map_err(|err| err.to_string())?;
            let response = sender.send_request(request);
            drop(slot);
            response.await
        }
        Some(Upstream::H2(sender)) => {
            let mut sender = sender.clone();
            drop(slot);
            sender.send_request(request).await
        }
        None => return Err("no upstream connection".into()),
    };
    response.map(|response| response.map(BodyExt::boxed)).map_err(|err| err.to_string())
}

/// The body length when a request's body may be buffered for a copy: empty, or declared and
/// small.
fn copyable_length(request: &Request<Incoming>) -> Option<u64> {
    use hyper::body::Body as _;
    if request.body().is_end_stream() {
        return Some(0);
    }
    let length = request.headers().get(hyper::header::CONTENT_LENGTH)?;
    length.to_str().ok()?.parse::<u64>().ok().filter(|length| *length <= MIRROR_BODY_LIMIT)
}

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|never| match never {}).boxed()
}
