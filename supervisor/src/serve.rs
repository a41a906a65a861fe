//! The serving threads: each receives trapped calls from the listener and answers them, so a
//! call waiting for the target (a blocking `connect`) holds up only its own thread.

use std::net::SocketAddr;

use tether_hook_core::policy::Policy;

use crate::net::Sockets;
use crate::placeholders::Placeholders;
use crate::proxy::{Requests, Session};
use crate::seccomp::{Answer, Listener};
use crate::{files, net};

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
    pub listener: &'s Listener,
    pub policy: &'s Policy,
    pub session: &'s Session,
    pub placeholders: &'s Placeholders,
    pub sockets: &'s Sockets,
    pub parks: &'s [SocketAddr],
    pub requests: Requests<'s>,
}

/// Serves trapped calls until the listener fails (supervision is over).
pub fn serve(shared: &Shared) {
    let served = Served {
        listener: &shared.listener,
        policy: &shared.policy,
        session: &shared.session,
        placeholders: &shared.placeholders,
        sockets: &shared.sockets,
        parks: &shared.parks,
        requests: Requests::new(&shared.session),
    };
    loop {
        match shared.listener.receive() {
            Ok(call) => {
                let answer =
                    files::answer(&served, &call).or_else(|| net::answer(&served, &call)).unwrap_or(Answer::Continue);
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
