//! The serving threads: each receives trapped calls from the listener and answers them, so a
//! call waiting for the target (a blocking `connect`) holds up only its own thread.

use std::net::SocketAddr;
use std::sync::Arc;

use tether_hook_core::policy::Policy;

use crate::net::Sockets;
use crate::placeholders::Placeholders;
use crate::proxy::{Requests, Session};
use crate::seccomp::{Answer, Listener};
use crate::{files, incoming, net};

/// What every serving thread shares.
pub struct Shared {
    pub listener: Listener,
    pub policy: Policy,
    pub session: Session,
    pub placeholders: Placeholders,
    pub sockets: Sockets,
    pub parks: Vec<SocketAddr>,
}

/// One serving thread's view: the shared state and its own connection to the session proxy.
pub struct Served<'s> {
    pub shared: &'s Arc<Shared>,
    pub requests: Requests<'s>,
}

impl<'s> Served<'s> {
    pub fn new(shared: &'s Arc<Shared>) -> Served<'s> {
        Served { shared, requests: Requests::new(&shared.session) }
    }
}

impl std::ops::Deref for Served<'_> {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        self.shared
    }
}

/// Serves trapped calls until the listener fails (supervision is over).
pub fn serve(shared: &Arc<Shared>) {
    let served = Served::new(shared);
    loop {
        match shared.listener.receive() {
            Ok(call) => {
                let answer = files::answer(&served, &call)
                    .or_else(|| net::answer(&served, &call))
                    .or_else(|| incoming::answer(&served, &call))
                    .unwrap_or(Answer::Continue);
                shared.listener.answer(call.id, answer);
            }
            Err(libc::EINTR | libc::ENOENT) => {}
            Err(errno) => {
                shared.session.log(&format!("supervision ends: receiving a call failed (errno {errno})"));
                return;
            }
        }
    }
}
