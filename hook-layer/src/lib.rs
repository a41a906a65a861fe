//! LD_PRELOAD hook layer: gives a user process its target's files, DNS and outgoing network.
//!
//! Loaded into someone else's process with `LD_PRELOAD`, the layer interposes libc symbols,
//! decides per call whether it concerns the host or the target, and answers target calls by
//! asking the daemon's session proxy (`TETHER_PROXY`) over a Unix socket. Whatever fails
//! becomes an errno plus a log line: the layer never panics across the FFI boundary and never
//! blocks without a timeout.
//!
//! # Layout
//! - [`shims`]: the exported `extern "C"` symbols. Each is a few lines: re-entry guard, the
//!   logic, fall back to the original symbol ([`originals`]).
//! - [`guard`]: the thread-local re-entry guard and [`guard::Outcome`] (handled / bypass / error).
//! - [`launch`]: the environment the process started with (captured by a constructor).
//! - [`session`]: whether the layer is active, and the session's compiled policy.
//! - [`proxy`]: the connection pool and synchronous requests to the session proxy.
//! - [`policy`], [`builtin`], [`path`], [`path_rules`]: deciding host or target for paths, names
//!   and addresses.
//! - [`files`], [`stat`], [`dirs`]: file logic (memfd-backed opens, stat, directories).
//! - [`dns`], [`net`], [`exec`]: name lookups, outgoing sockets, child process environments.
//! - [`incoming`]: listening sockets reported for incoming traffic, their clients' real addresses.
//! - [`writeback`]: writable target files shared across `dup`s, sent back on close and exit.
//! - [`memfds`]: the target metadata each target file's memfd reports to the `fstat` family.
//! - [`fds`]: which file descriptors carry layer state, checked cheaply by `close`.
//! - [`forks`]: fork handlers that keep the registries' locks from being inherited held.
//! - [`errno`], [`log`]: errno mapping (pure) and the append-only log file.

#[macro_use]
mod originals;

mod builtin;
mod dirs;
mod dns;
mod errno;
mod exec;
mod fds;
mod files;
mod forks;
mod guard;
mod incoming;
mod launch;
mod linkage;
mod log;
mod memfds;
mod net;
mod path;
mod path_rules;
mod policy;
mod proxy;
mod session;
mod shims;
mod stat;
mod writeback;
