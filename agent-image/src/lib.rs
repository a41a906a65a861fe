//! The agent's modules as a library: `main.rs` (the `tether-agent` binary) starts them, and
//! the fuzz targets in `fuzz/` drive the real connection handling in-process.
//!
//! # Layout
//! - [`cli`]: command line; [`target`] and `runtime`: finding and opening the target;
//!   [`lifetime`]: the agent ends when its target does.
//! - [`netns`]: the one module that switches namespaces.
//! - `linger`: sockets reset unless their stream ended cleanly.
//! - [`server`]: connections, hello, dispatch, idle exit; [`handlers`]: requests;
//!   `streams`: outgoing TCP/UDP relays and incoming streams to the daemon.
//! - [`incoming`]: redirect rules, their guard, and mirroring or stealing incoming traffic.
//! - [`files`], `env`, [`dns`]: the target's filesystem, environment and resolver;
//!   `address_order`: a name's addresses in the order the target's own resolver gives them.

mod address_order;
pub mod cli;
pub mod dns;
mod env;
pub mod files;
pub mod handlers;
pub mod incoming;
pub mod lifetime;
mod linger;
pub mod netns;
mod runtime;
pub mod server;
mod streams;
pub mod target;
