//! LD_PRELOAD hook layer: gives a user process its target's files, DNS and outgoing network.
//!
//! Loaded into someone else's process with `LD_PRELOAD`, the layer interposes libc symbols,
//! decides per call whether it concerns the host or the target, and answers target calls by
//! asking the daemon's session proxy (`TETHER_PROXY`) over a Unix socket. Whatever fails
//! becomes an errno plus a log line: the layer never panics across the FFI boundary and never
//! blocks without a timeout.
//!
//! # Layout
//! The decisions (host or target for a path, a name, an address; where a call goes; errno
//! mapping; the target side of file calls) are `tether-hook-core`'s, shared with the
//! supervisor. The modules here hold the process-wide state around them, in layers (each uses
//! only its own layer and those below; `layering` tests it):
//! - plumbing: [`originals`] (the next definitions of the hooked symbols), [`errno`], [`cwd`]
//!   (each thread's copy of the working directory), [`fds`] (which descriptors carry layer
//!   state, checked cheaply by `close`), [`log`], [`launch`] (the environment the process
//!   started with), [`guard`] (the re-entry guard, [`guard::Outcome`], fork locks);
//! - session: [`session`] (active or inert, the compiled policy) and [`proxy`] (the connection
//!   pool to the session proxy);
//! - logic: [`files`], [`dirs`], [`memfds`], [`writeback`] (files), [`dns`], [`hostent`],
//!   [`net`] (outgoing), [`incoming`] (listening sockets and their clients' addresses),
//!   [`exec`] and [`linkage`] (children);
//! - process: [`start`] (the constructor) and [`forks`] (fork handlers that keep the
//!   registries' locks from being inherited held);
//! - [`shims`]: the exported `extern "C"` symbols. Each is a few lines: re-entry guard, the
//!   logic, fall back to the original symbol.

#[macro_use]
mod originals;

mod cwd;
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
mod proxy;
mod session;
mod shims;
mod start;
mod writeback;

#[cfg(test)]
mod layering;
