//! `tether lsp`: the language server editors spawn over stdio. It forwards `tether/<method>`
//! requests to the daemon's `<method>` and the daemon's notifications to the editor, and gives
//! config documents (`.tether/*.json`) diagnostics, completion and hover. Logs go to stderr:
//! stdout carries LSP frames only.
//!
//! # Layout
//! - this file: the server's capabilities, document events, and every request method of the
//!   API's table forwarded;
//! - [`daemon_link`]: the daemon connection (reconnects), error pass-through, notifications;
//! - [`documents`]: open config documents, position conversion, diagnostics;
//! - [`assist`]: completion and hover; [`schema_docs`]: what the config schema says at a path;
//! - [`json_path`]: a tolerant scanner for where the cursor is in half-typed JSON.

mod assist;
mod daemon_link;
mod documents;
mod json_path;
mod schema_docs;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::{json, Value};
use tether_rpc_schema::api::{methods, MethodKind, ValidateResult, METHODS};
use tokio::sync::Notify;
use tower_lsp::jsonrpc::{Request, Result as LspResult};
use tower_lsp::lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, Hover, HoverParams, HoverProviderCapability, InitializeParams, InitializeResult,
    InitializedParams, ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, Url,
};
use tower_lsp::{Client, LanguageServer, LspService, Server};

use crate::paths::UserPaths;
use daemon_link::DaemonLink;
use documents::Documents;

/// Runs the server on stdin/stdout until the editor sends `exit`; returns the exit status (0
/// when `shutdown` came first, as LSP asks).
pub async fn run() -> anyhow::Result<i32> {
    log_to_stderr();
    let paths = UserPaths::for_current_user()?;
    let shut_down = Arc::new(AtomicBool::new(false));
    let server_shut_down = shut_down.clone();
    let mut builder = LspService::build(move |editor: Client| TetherLsp {
        daemon: Arc::new(DaemonLink::new(paths, editor.clone())),
        editor,
        documents: Documents::default(),
        schema: crate::config::json_schema().to_value(),
        shut_down: server_shut_down,
    });
    // The daemon's requests are offered to editors as `tether/<method>`; subscriptions are
    // forwarded as notifications instead (see `daemon_link`).
    let requests = METHODS.iter().filter(|method| matches!(method.kind, MethodKind::Request));
    for method in requests.map(|method| method.name) {
        // tower-lsp keeps method names for the life of the service, which is the process's.
        let name: &'static str = Box::leak(format!("tether/{method}").into_boxed_str());
        builder = builder.custom_method(name, move |server: &TetherLsp, params: Value| {
            let daemon = server.daemon.clone();
            async move { daemon.call(method, params).await }
        });
    }
    let (service, socket) = builder.finish();
    tracing::info!(pid = std::process::id(), "tether lsp serving on stdio");
    let exited = Arc::new(Notify::new());
    let serving =
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket).serve(Edge { service, exited: exited.clone() });
    // tower-lsp's loop only notices `exit` when the next message (or the end of stdin) comes.
    tokio::select! {
        () = serving => {}
        () = exited.notified() => {}
    }
    let clean = shut_down.load(Ordering::SeqCst);
    tracing::info!(clean, "tether lsp exiting");
    Ok(if clean { 0 } else { 1 })
}

/// Logs to stderr without colours (editors show it as plain text); `TETHER_LOG` filters.
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TETHER_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(std::io::stderr).init();
}

/// The language server's state.
struct TetherLsp {
    editor: Client,
    daemon: Arc<DaemonLink>,
    documents: Documents,
    /// The config file's JSON Schema, for completion and hover.
    schema: Value,
    /// Set by `shutdown`: `exit` after it ends the process with status 0.
    shut_down: Arc<AtomicBool>,
}

#[tower_lsp::async_trait]
impl LanguageServer for TetherLsp {
    async fn initialize(&self, _: InitializeParams) -> LspResult<InitializeResult> {
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec!["\"".into(), "/".into()]),
                    ..CompletionOptions::default()
                }),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo { name: "tether".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        // Connecting subscribes to the daemon's notifications; a failure is retried on the next
        // request.
        let daemon = self.daemon.clone();
        tokio::spawn(async move { daemon.connection().await.ok() });
    }

    async fn shutdown(&self) -> LspResult<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let document = params.text_document;
        self.changed(document.uri, document.version, document.text).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        // Full sync: the last change holds the whole text.
        if let Some(change) = params.content_changes.into_iter().last() {
            self.changed(params.text_document.uri, params.text_document.version, change.text).await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        if documents::is_config(&uri) {
            self.documents.remove(&uri);
            self.editor.publish_diagnostics(uri, Vec::new(), None).await;
        }
    }

    async fn completion(&self, params: CompletionParams) -> LspResult<Option<CompletionResponse>> {
        let at = params.text_document_position;
        let Some(text) = self.config_text(&at.text_document.uri) else { return Ok(None) };
        let items = assist::complete(&self.daemon, &self.schema, &text, at.position).await;
        Ok(Some(CompletionResponse::Array(items)))
    }

    async fn hover(&self, params: HoverParams) -> LspResult<Option<Hover>> {
        let at = params.text_document_position_params;
        Ok(self.config_text(&at.text_document.uri).and_then(|text| assist::hover(&self.schema, &text, at.position)))
    }
}

impl TetherLsp {
    fn config_text(&self, uri: &Url) -> Option<String> {
        documents::is_config(uri).then(|| self.documents.text(uri)).flatten()
    }

    /// Stores a config document's new text and publishes the daemon's diagnostics for it.
    async fn changed(&self, uri: Url, version: i32, text: String) {
        if !documents::is_config(&uri) || !self.documents.set(uri.clone(), version, text.clone()) {
            return;
        }
        let path = uri.to_file_path().map_or_else(|()| uri.path().to_string(), |path| path.display().to_string());
        let validated = match self.daemon.call(methods::CONFIG_VALIDATE, json!({ "path": path, "text": text })).await {
            Ok(result) => serde_json::from_value::<ValidateResult>(result),
            Err(err) => {
                tracing::warn!(%uri, "cannot validate the config: {}", err.message);
                return;
            }
        };
        let diagnostics = match validated {
            Ok(result) => result.diagnostics.iter().map(|diagnostic| documents::to_lsp(&text, diagnostic)).collect(),
            Err(err) => {
                tracing::warn!(%uri, %err, "unreadable config.validate result");
                return;
            }
        };
        // A newer text may have arrived while the daemon validated this one.
        if self.documents.is_current(&uri, version) {
            self.editor.publish_diagnostics(uri, diagnostics, Some(version)).await;
        }
    }
}

/// Between the transport and the service: gives `tether/*` requests sent without `params` a
/// `null` one (LSP makes params optional but tower-lsp's custom methods require them, and most
/// daemon methods take none), and reports the `exit` notification.
struct Edge<S> {
    service: S,
    exited: Arc<Notify>,
}

impl<S: tower_service::Service<Request>> tower_service::Service<Request> for Edge<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.method() == "exit" {
            self.exited.notify_one();
        }
        self.service.call(with_params(request))
    }
}

fn with_params(request: Request) -> Request {
    if request.params().is_some() || !request.method().starts_with("tether/") {
        return request;
    }
    let (method, id, _) = request.into_parts();
    let builder = Request::build(method).params(Value::Null);
    match id {
        Some(id) => builder.id(id).finish(),
        None => builder.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_params_fills_in_null_only_for_tether_requests() {
        let bare = Request::build("tether/daemon.status").id(1).finish();
        assert_eq!(with_params(bare).params(), Some(&Value::Null));
        let given = Request::build("tether/session.end").id(2).params(json!({"session_id": "x"})).finish();
        assert_eq!(with_params(given).params(), Some(&json!({"session_id": "x"})));
        assert_eq!(with_params(Request::build("shutdown").id(3).finish()).params(), None);
    }
}
