//! `tether lsp`'s connection to the daemon: connects (starting the daemon) on first use and again
//! after the connection dropped, forwards calls with their errors unchanged, and forwards the
//! daemon's `session.events` and `targets.watch` notifications to the editor.

use std::sync::Arc;

use jsonrpsee::core::client::{Error as ClientError, SubscriptionClientT};
use jsonrpsee::ws_client::WsClient;
use serde_json::Value;
use tether_rpc_schema::api::methods;
use tokio::sync::Mutex;
use tower_lsp::jsonrpc::{Error as LspError, ErrorCode};
use tower_lsp::lsp_types::notification::Notification;
use tower_lsp::Client;

use crate::client;
use crate::paths::UserPaths;

/// `tether/session.event`: a `session.event` of the daemon, payload unchanged.
pub enum SessionEvent {}

impl Notification for SessionEvent {
    type Params = Value;
    const METHOD: &'static str = "tether/session.event";
}

/// `tether/targets.changed`: a `targets.changed` of the daemon, payload unchanged.
pub enum TargetsChanged {}

impl Notification for TargetsChanged {
    type Params = Value;
    const METHOD: &'static str = "tether/targets.changed";
}

/// The daemon connection, made on demand.
pub struct DaemonLink {
    paths: UserPaths,
    /// Receives the forwarded notifications.
    editor: Client,
    /// The live connection; replaced when it has dropped.
    connection: Mutex<Option<Arc<WsClient>>>,
}

impl DaemonLink {
    pub fn new(paths: UserPaths, editor: Client) -> DaemonLink {
        DaemonLink { paths, editor, connection: Mutex::new(None) }
    }

    /// The connection, (re)connecting and subscribing to notifications when there is none.
    pub async fn connection(&self) -> Result<Arc<WsClient>, LspError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|connection| connection.is_connected()) {
            return Ok(connection.clone());
        }
        if slot.take().is_some() {
            tracing::warn!("the daemon connection dropped; reconnecting");
        }
        let connection = Arc::new(client::connect_or_start(&self.paths).await.map_err(|err| {
            tracing::error!("cannot reach the tether daemon: {err:#}");
            LspError {
                code: ErrorCode::InternalError,
                message: format!("cannot reach the tether daemon: {err:#}").into(),
                data: None,
            }
        })?);
        tracing::info!("connected to the tether daemon");
        self.subscribe(&connection).await;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Calls the daemon's `method`; its errors come back with their code, message and data.
    /// A connection found dead during the call is replaced and the call made once more: the
    /// daemon behind it is gone, and with it anything the first attempt may have done.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, LspError> {
        let connection = self.connection().await?;
        match client::request_value(&connection, method, params.clone()).await {
            Err(ClientError::RestartNeeded(_)) => {
                self.forget(&connection).await;
                let connection = self.connection().await?;
                client::request_value(&connection, method, params).await.map_err(|err| to_lsp_error(method, err))
            }
            result => result.map_err(|err| to_lsp_error(method, err)),
        }
    }

    /// Drops `dead` unless another call has already replaced it.
    async fn forget(&self, dead: &Arc<WsClient>) {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_some_and(|current| Arc::ptr_eq(current, dead)) {
            *slot = None;
        }
    }

    /// Subscribes to the notification streams (targets: the current context's and this
    /// machine's); each forwarder ends with the connection.
    async fn subscribe(&self, connection: &WsClient) {
        let streams = [
            (methods::SESSION_EVENTS, methods::SESSION_UNEVENTS, SessionEvent::METHOD, false),
            (methods::TARGETS_WATCH, methods::TARGETS_UNWATCH, TargetsChanged::METHOD, false),
            (methods::TARGETS_WATCH, methods::TARGETS_UNWATCH, TargetsChanged::METHOD, true),
        ];
        for (subscribe, unsubscribe, forwarded_as, local) in streams {
            let mut params = jsonrpsee::core::params::ObjectParams::new();
            if local {
                params.insert("local", true).expect("a boolean serializes");
            }
            let mut subscription = match connection.subscribe::<Value, _>(subscribe, params, unsubscribe).await {
                Ok(subscription) => subscription,
                Err(err) => {
                    tracing::warn!(%err, "cannot subscribe to {subscribe}");
                    continue;
                }
            };
            let editor = self.editor.clone();
            tokio::spawn(async move {
                while let Some(item) = subscription.next().await {
                    match item {
                        Ok(payload) if forwarded_as == SessionEvent::METHOD => {
                            editor.send_notification::<SessionEvent>(payload).await
                        }
                        Ok(payload) => editor.send_notification::<TargetsChanged>(payload).await,
                        Err(err) => tracing::warn!(%err, "unreadable {subscribe} notification"),
                    }
                }
                tracing::debug!("{subscribe} subscription ended");
            });
        }
    }
}

/// A daemon error as the LSP error the editor gets: the same code, message and data.
fn to_lsp_error(method: &str, err: ClientError) -> LspError {
    match err {
        ClientError::Call(call) => LspError {
            code: ErrorCode::from(i64::from(call.code())),
            message: call.message().to_string().into(),
            data: call.data().and_then(|raw| serde_json::from_str(raw.get()).ok()),
        },
        other => {
            tracing::warn!(%other, method, "daemon call failed");
            LspError {
                code: ErrorCode::InternalError,
                message: format!("the tether daemon failed: {other}").into(),
                data: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee::types::ErrorObjectOwned;

    #[test]
    fn to_lsp_error_keeps_code_message_and_data() {
        let call = ErrorObjectOwned::owned(-32001, "no process 9", Some(serde_json::json!({"reason": "gone"})));
        let err = to_lsp_error("session.prepare", ClientError::Call(call));
        assert_eq!(err.code, ErrorCode::ServerError(-32001));
        assert_eq!(err.message, "no process 9");
        assert_eq!(err.data, Some(serde_json::json!({"reason": "gone"})));
        let not_found =
            to_lsp_error("x", ClientError::Call(ErrorObjectOwned::owned::<()>(-32601, "Method not found", None)));
        assert_eq!((not_found.code, not_found.data), (ErrorCode::MethodNotFound, None));
    }
}
