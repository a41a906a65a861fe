//! The `NETLINK_NETFILTER` socket: made close-on-exec, asking for extended acks, with a
//! receive timeout so that a kernel that never answers cannot hang the agent or its guard.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::net::netlink::{SocketAddrNetlink, NETFILTER};
use rustix::net::sockopt::{set_socket_timeout, Timeout};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// How long the kernel may take to answer. It answers while handling `sendto` (netlink input
/// to the kernel is synchronous), so this is only a guard against the impossible.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Room for one datagram of answers (the kernel's dump datagrams are at most 32 KiB).
const DATAGRAM_MAX: usize = 64 * 1024;

/// `NETLINK_CAP_ACK`: errors do not echo the request's payload.
const NETLINK_CAP_ACK: libc::c_int = 10;
/// `NETLINK_EXT_ACK`: errors carry the kernel's message.
const NETLINK_EXT_ACK: libc::c_int = 11;

/// A netfilter netlink socket of the network namespace it was made in.
pub struct Socket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// A netfilter netlink socket in the calling thread's network namespace, close-on-exec.
pub fn open() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(AddressFamily::NETLINK, SocketType::RAW, SocketFlags::CLOEXEC, Some(NETFILTER))?)
}

impl Socket {
    /// Takes `fd`, a netfilter netlink socket (from [`open`], or made in another namespace).
    pub fn new(fd: OwnedFd) -> io::Result<Socket> {
        set_socket_timeout(&fd, Timeout::Recv, Some(ANSWER_TIMEOUT))?;
        // Both are refinements (Linux 4.3 and 4.12): without them errors read the same,
        // only without the kernel's message.
        let _ = set_netlink_flag(&fd, NETLINK_CAP_ACK);
        let _ = set_netlink_flag(&fd, NETLINK_EXT_ACK);
        Ok(Socket { fd, buf: vec![0; DATAGRAM_MAX] })
    }

    /// Sends `messages` to the kernel as one datagram.
    pub fn send(&self, messages: &[u8]) -> io::Result<()> {
        let sent = rustix::net::sendto(&self.fd, messages, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
        if sent != messages.len() {
            return Err(io::Error::other(format!("netlink sent {sent} of {} bytes", messages.len())));
        }
        Ok(())
    }

    /// The next datagram from the kernel.
    pub fn recv(&mut self) -> io::Result<&[u8]> {
        let (_, len) = match rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::TRUNC) {
            Ok(received) => received,
            Err(rustix::io::Errno::AGAIN) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from the kernel within {} s", ANSWER_TIMEOUT.as_secs()),
                ))
            }
            Err(errno) => return Err(errno.into()),
        };
        if len > self.buf.len() {
            return Err(io::Error::other(format!("a netlink answer of {len} bytes exceeds {DATAGRAM_MAX}")));
        }
        Ok(&self.buf[..len])
    }
}

fn set_netlink_flag(fd: &OwnedFd, option: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `fd` is an open socket and the option value is a c_int of the given length.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_NETLINK,
            option,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
