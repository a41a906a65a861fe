//! What tether's two ways into a user process decide and ask, written once for both: the
//! hook layer (`tether-layer`, loaded with `LD_PRELOAD`, answering libc calls) and the
//! supervisor (`tether-supervisor`, answering system calls trapped by seccomp user
//! notification, for programs that bypass libc: Go, static binaries).
//!
//! Nothing here is process-wide: no registry, no pool, no exported symbol. The callers hold
//! the state (which descriptors are the target's, the connection to the session proxy) and
//! hand in what a decision needs.
//!
//! # Layout, from the bottom
//! - [`path`]: allocation-free normalisation of path arguments.
//! - [`path_rules`], [`builtin`], [`policy`]: the session's rules compiled for decisions: host
//!   or target for a path, a name, an outgoing destination.
//! - [`route`]: where one file call goes (host, target, an errno), from its path argument.
//! - [`errno`], [`sockaddr`], [`stat`]: errno mapping and the C structures the calls exchange.
//! - [`client`]: `Hello` and one request/response on a connection to the session proxy.
//! - [`outgoing`]: the steps of an outgoing connection on a socket descriptor; [`incoming`]:
//!   those of a listener and the connections relayed to it.
//! - [`target`]: the target side of file calls, over any [`target::Proxy`].

pub mod builtin;
pub mod client;
pub mod errno;
pub mod incoming;
pub mod outgoing;
pub mod path;
pub mod path_rules;
pub mod policy;
pub mod route;
pub mod sockaddr;
pub mod stat;
pub mod target;
