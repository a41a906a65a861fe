//! The machine's process events from the kernel's proc connector (`NETLINK_CONNECTOR`,
//! `CN_IDX_PROC`): what lets `targets.watch` of local targets list again when a process execs
//! or exits instead of reading `/proc` on a timer. Listening needs `CAP_NET_ADMIN`; without it
//! [`ProcEvents::listen`] fails and the caller falls back to rescanning. A thread of its own
//! reads the socket (blocking, so no file descriptor is registered with the runtime by hand)
//! and ends within a second of the subscription being dropped.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use tokio::sync::mpsc;

/// The proc connector's netlink group and connector ids (`linux/connector.h`).
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN` (`linux/cn_proc.h`).
const MCAST_LISTEN: u32 = 1;
/// `NLMSG_DONE`: the type every connector message travels with.
const NLMSG_DONE: u16 = 3;
/// Header sizes: `nlmsghdr`, then `cn_msg`; a `proc_event` starts with its `what`.
const NLMSG_HEADER: usize = 16;
const CN_HEADER: usize = 20;
/// `PROC_EVENT_EXEC` and `PROC_EVENT_EXIT`: the events that can change what runs in a network
/// namespace of its own (a fork runs what its parent ran, where its parent ran it).
const EXEC: u32 = 0x0000_0002;
const EXIT: u32 = 0x8000_0000;

/// How long the reading thread waits for an event before it checks whether it is still wanted.
const RECV_TIMEOUT: Duration = Duration::from_secs(1);

/// A subscription to the machine's process events.
pub struct ProcEvents {
    changes: mpsc::Receiver<io::Result<()>>,
}

impl ProcEvents {
    /// Subscribes; fails without `CAP_NET_ADMIN` or on a kernel without the proc connector.
    pub fn listen() -> io::Result<ProcEvents> {
        let socket = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(rustix::net::netlink::CONNECTOR),
        )?;
        rustix::net::bind(&socket, &SocketAddrNetlink::new(0, CN_IDX_PROC))?;
        rustix::net::send(&socket, &listen_message(), SendFlags::empty())?;
        rustix::net::sockopt::set_socket_timeout(&socket, rustix::net::sockopt::Timeout::Recv, Some(RECV_TIMEOUT))?;
        // One pending change is enough: the listing is read again after it anyway.
        let (changes_tx, changes) = mpsc::channel(1);
        std::thread::Builder::new().name("proc-events".to_string()).spawn(move || read(&socket, &changes_tx))?;
        Ok(ProcEvents { changes })
    }

    /// Waits until a process execs or exits (anywhere on the machine), or the events fail.
    pub async fn changed(&mut self) -> io::Result<()> {
        self.changes.recv().await.unwrap_or_else(|| Err(io::Error::other("the process events ended")))
    }
}

/// Reads events until nobody listens; tells of changes without ever waiting on the listener.
fn read(socket: &OwnedFd, changes_tx: &mpsc::Sender<io::Result<()>>) {
    let mut buffer = vec![0; 64 * 1024];
    while !changes_tx.is_closed() {
        let seen = match rustix::net::recv(socket, &mut buffer[..], RecvFlags::empty()) {
            Ok((_, length)) => is_change(&buffer[..length.min(buffer.len())]),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => false,
            // Events were dropped: something may have changed.
            Err(rustix::io::Errno::NOBUFS) => true,
            Err(err) => {
                let _ = changes_tx.try_send(Err(err.into()));
                return;
            }
        };
        if seen {
            let _ = changes_tx.try_send(Ok(()));
        }
    }
}

/// `nlmsghdr` + `cn_msg` + `PROC_CN_MCAST_LISTEN`, in the machine's byte order.
fn listen_message() -> Vec<u8> {
    let payload = MCAST_LISTEN.to_ne_bytes();
    let length = NLMSG_HEADER + CN_HEADER + payload.len();
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as u32).to_ne_bytes());
    message.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&0u32.to_ne_bytes()); // sequence
    message.extend_from_slice(&std::process::id().to_ne_bytes());
    message.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    message.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes()); // sequence
    message.extend_from_slice(&0u32.to_ne_bytes()); // ack
    message.extend_from_slice(&(payload.len() as u16).to_ne_bytes());
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&payload);
    message
}

/// Whether one datagram of the connector is an exec or an exit.
fn is_change(datagram: &[u8]) -> bool {
    let at = NLMSG_HEADER + CN_HEADER;
    datagram
        .get(at..at + 4)
        .map(|what| u32::from_ne_bytes(what.try_into().expect("four bytes")))
        .is_some_and(|what| what == EXEC || what == EXIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_message_is_one_connector_message_of_its_own_length() {
        let message = listen_message();
        assert_eq!(message.len(), 40);
        assert_eq!(u32::from_ne_bytes(message[0..4].try_into().unwrap()), 40);
        assert_eq!(u32::from_ne_bytes(message[16..20].try_into().unwrap()), CN_IDX_PROC);
        assert_eq!(u16::from_ne_bytes(message[32..34].try_into().unwrap()), 4);
        assert_eq!(u32::from_ne_bytes(message[36..40].try_into().unwrap()), MCAST_LISTEN);
    }

    /// Needs root (`CAP_NET_ADMIN`), as the harness does.
    #[test]
    fn an_exec_on_the_machine_is_a_change() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut events = ProcEvents::listen().unwrap_or_else(|err| {
                panic!("listening to process events needs root (CAP_NET_ADMIN): {err}");
            });
            std::process::Command::new("true").status().unwrap();
            // A guard against a hang, not a measurement.
            let changed = tokio::time::timeout(Duration::from_secs(30), events.changed()).await;
            changed.expect("no process event within 30 s").unwrap();
        });
    }

    #[test]
    fn only_execs_and_exits_are_changes() {
        let event = |what: u32| {
            let mut datagram = vec![0; NLMSG_HEADER + CN_HEADER];
            datagram.extend_from_slice(&what.to_ne_bytes());
            datagram
        };
        assert!(is_change(&event(EXEC)));
        assert!(is_change(&event(EXIT)));
        assert!(!is_change(&event(0x0000_0001)), "a fork is not a change");
        assert!(!is_change(&[0; 8]), "a short datagram is not");
    }
}
