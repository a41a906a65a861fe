//! The API's RPC middleware: a message that jsonrpsee takes for a notification gets an Invalid
//! Request error with id null instead of silence, because the API defines no notifications.
//!
//! jsonrpsee 0.26 reads a message whose `id` is neither a number, a string nor null (say
//! `"id": {}`) as a notification — the id is dropped — and never answers it, where JSON-RPC 2.0
//! wants Invalid Request with id null. Once parsed, a malformed id and a missing one look the
//! same; since no method of the API is meant to be called without an answer, every notification
//! is answered, single or in a batch.

use std::future::Future;

use jsonrpsee::server::middleware::rpc::{Batch, BatchEntry, BatchEntryErr, MethodResponse, Notification, RpcServiceT};
use jsonrpsee::types::error::INVALID_REQUEST_CODE;
use jsonrpsee::types::{ErrorObject, Id, Request};

/// Puts [`AnswerNotifications`] in front of the API's RPC service.
#[derive(Debug, Clone, Copy)]
pub struct AnswerNotificationsLayer;

impl<S> tower::Layer<S> for AnswerNotificationsLayer {
    type Service = AnswerNotifications<S>;

    fn layer(&self, inner: S) -> AnswerNotifications<S> {
        AnswerNotifications(inner)
    }
}

/// The API's RPC service, answering notifications (see the module doc).
#[derive(Clone)]
pub struct AnswerNotifications<S>(S);

impl<S> RpcServiceT for AnswerNotifications<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.0.call(request)
    }

    fn batch<'a>(&self, mut requests: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        for entry in requests.iter_mut() {
            if matches!(entry, Ok(BatchEntry::Notification(_))) {
                *entry = Err(BatchEntryErr::new(Id::Null, not_a_request()));
            }
        }
        self.0.batch(requests)
    }

    fn notification<'a>(&self, _: Notification<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        std::future::ready(MethodResponse::error(Id::Null, not_a_request()))
    }
}

fn not_a_request() -> ErrorObject<'static> {
    ErrorObject::borrowed(
        INVALID_REQUEST_CODE,
        "Invalid request: give it an \"id\" that is a number or a string (this API has no notifications)",
        None,
    )
}
