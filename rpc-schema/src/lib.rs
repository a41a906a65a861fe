//! Every type that crosses a tether process boundary, and the one codec that frames them.
//!
//! This crate is the compatibility contract between the hook layer (inside user processes),
//! the daemon and the agent (inside the target's namespaces). It depends on no other
//! workspace crate and pulls in no runtime, so the hook layer can link it.
//!
//! # Layout
//! - [`api`]: the daemon's JSON-RPC editor API (methods, types, error codes).
//! - [`wire`]: the messages of the binary wire protocol (hello, env, files, DNS, outgoing
//!   streams, close, ping).
//! - [`codec`]: length-prefixed frames carrying CBOR-encoded [`wire::Envelope`]s.
//! - [`incoming`]: incoming-traffic modes and HTTP filters, and the `incoming` capability.
//! - [`linkage`]: whether the hook layer can serve a program, from its ELF headers.
//! - [`policy`]: the part of a session's configuration the hook layer enforces.
//! - [`schema`]: the JSON Schema export of the editor API (`rpc-schema/schema/`).
//! - [`startup`]: the JSON line an agent prints when it is ready or cannot start.
//!
//! # Compatibility rules
//! Peers exchange [`wire::Hello`] first; each side states [`PROTOCOL_VERSION`] and its
//! capabilities. A peer refuses a different major protocol version with
//! [`wire::Message::HelloRefused`] and a message that says which side to upgrade.
//!
//! Compatible changes (no version bump):
//! - a new optional field on a struct, with `#[serde(default)]` (old peers ignore it, new peers
//!   get the default from old ones);
//! - a new [`wire::Message`] variant used only after the peer announced the capability that
//!   names it;
//! - a new capability string.
//!
//! Breaking changes (bump [`PROTOCOL_VERSION`]):
//! - removing or renaming a field or variant, changing a field's type or meaning;
//! - sending a new variant to a peer that did not announce its capability;
//! - changing the frame layout in [`codec`].

pub mod api;
pub mod codec;
pub mod incoming;
pub mod linkage;
pub mod policy;
pub mod schema;
pub mod startup;
pub mod wire;

/// Version of the wire protocol spoken between hook layer, daemon and agent.
pub const PROTOCOL_VERSION: u32 = 2;
