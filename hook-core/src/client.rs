//! One connection to the session proxy: `Hello` with the session's token, then one request
//! and its response at a time. Pools, timeouts and what a process does with the policy are the
//! caller's.

use std::os::unix::net::UnixStream;

use tether_rpc_schema::codec::{read_frame, write_frame};
use tether_rpc_schema::wire::{Envelope, Hello, HelloOk, Message, Role};
use tether_rpc_schema::PROTOCOL_VERSION;

use crate::errno::TransportError;

/// Sends `message` with request id `id` and reads its response.
pub fn exchange(stream: &mut UnixStream, id: u64, message: Message) -> Result<Message, TransportError> {
    write_frame(stream, &Envelope { id, message })?;
    let response = read_frame(stream)?;
    if response.id != id {
        return Err(TransportError::Protocol(format!("response id {} for request {id}", response.id)));
    }
    Ok(response.message)
}

/// Says hello on a fresh connection as a layer (the supervisor is one too, for the daemon)
/// of process `pid`, presenting the session's `token`.
pub fn hello(stream: &mut UnixStream, id: u64, token: &str, pid: u32) -> Result<HelloOk, TransportError> {
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        role: Role::Layer,
        token: token.to_string(),
        capabilities: Vec::new(),
        pid,
    };
    match exchange(stream, id, Message::Hello(hello))? {
        Message::HelloOk(ok) => Ok(ok),
        Message::HelloRefused { reason } => Err(TransportError::Refused(reason)),
        other => Err(TransportError::Protocol(format!("unexpected answer to hello: {}", other.kind()))),
    }
}
