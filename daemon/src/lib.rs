//! The daemon's and the command line's modules as a library: `main.rs` (the `tether` binary)
//! runs them, and the fuzz targets in `fuzz/` drive the real session proxy in-process.
//!
//! # Layout
//! - CLI: [`exec`] (`tether exec`), [`listing`] (`tether ls`, `tether status`), [`client`] (find
//!   or start the daemon), [`lsp`] (`tether lsp`, the editors' language server).
//! - Daemon: [`server`] (sockets, lifecycle), [`api`] (JSON-RPC handlers), [`state`],
//!   [`sessions`], [`agents`] (agent pool), [`agent_pod`] (agents as Kubernetes pods),
//!   [`agent_ephemeral`] (agents as ephemeral containers),
//!   [`agent_records`] (where agent pods were made), [`workloads`] (workload → pod container),
//!   [`target_cache`] (watched Kubernetes targets for listings), [`proc_events`] (the
//!   kernel's process events, for watched local targets),
//!   [`agent_link`] (wire connection to an agent),
//!   [`proxy`] (hook layers' session proxy), [`incoming`] (incoming traffic), [`relay`] (byte
//!   streams), [`lifecycle`] (agents that end, sessions that move or are lost), [`memory`] (free
//!   memory handed back after bursts).
//! - Shared: [`config`], [`launch_env`], [`target`], [`paths`], [`peer`], [`token`], [`logging`],
//!   [`user_file`] (reading files whose path a client chose).

mod agent_ephemeral;
mod agent_link;
mod agent_pod;
mod agent_records;
pub mod agents;
mod api;
pub mod client;
pub mod clusters;
pub mod config;
pub mod exec;
mod incoming;
mod launch_env;
mod lifecycle;
mod linkage;
pub mod listing;
pub mod logging;
pub mod lsp;
mod memory;
mod parking;
pub mod paths;
mod peer;
mod presets;
mod proc_events;
pub mod proxy;
mod relay;
mod replicas;
pub mod server;
pub mod sessions;
mod state;
mod supervised;
pub mod target;
mod target_cache;
mod token;
mod user_file;
mod watcher;
mod websocket;
mod workloads;
