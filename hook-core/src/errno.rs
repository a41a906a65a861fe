//! The mapping from failures of requests to the session proxy to the errno (and `getaddrinfo`
//! and `h_errno` codes) a user process sees.

use std::io;

use tether_rpc_schema::codec::CodecError;

/// Why a request to the session proxy did not produce a response.
#[derive(Debug)]
pub enum TransportError {
    /// Connecting to `TETHER_PROXY` failed.
    Connect(io::Error),
    /// Reading or writing a frame failed, or the socket timed out.
    Io(io::Error),
    /// A frame could not be encoded or decoded.
    Codec(String),
    /// The proxy answered something that is not the response to our request.
    Protocol(String),
    /// The proxy refused our `Hello`.
    Refused(String),
}

impl From<CodecError> for TransportError {
    fn from(err: CodecError) -> Self {
        match err {
            CodecError::Io(io) => TransportError::Io(io),
            other => TransportError::Codec(other.to_string()),
        }
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Connect(err) => write!(f, "cannot connect to the session proxy: {err}"),
            TransportError::Io(err) => write!(f, "session proxy i/o: {err}"),
            TransportError::Codec(msg) => write!(f, "session proxy frame: {msg}"),
            TransportError::Protocol(msg) => write!(f, "session proxy protocol: {msg}"),
            TransportError::Refused(reason) => write!(f, "session proxy refused the layer: {reason}"),
        }
    }
}

/// The errno a user process sees when a request could not be answered: a timeout is
/// `ETIMEDOUT`, everything else (dead daemon, garbage on the socket) is `EIO`.
pub fn for_transport(err: &TransportError) -> i32 {
    match err {
        TransportError::Io(io) | TransportError::Connect(io)
            if matches!(io.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) =>
        {
            libc::ETIMEDOUT
        }
        _ => libc::EIO,
    }
}

/// The errno carried by a `Failure` response; a nonsensical value becomes `EIO`.
pub fn for_failure(errno: i32) -> i32 {
    if errno > 0 && errno < 4096 {
        errno
    } else {
        libc::EIO
    }
}

/// The `getaddrinfo` return code for a failed lookup: a transport failure is transient
/// (`EAI_AGAIN`), a target-side failure means the name does not resolve.
pub fn eai_for(errno: i32) -> i32 {
    match errno {
        libc::ENOENT => libc::EAI_NONAME,
        libc::ENOMEM => libc::EAI_MEMORY,
        _ => libc::EAI_AGAIN,
    }
}

/// The `h_errno` for a failed lookup (see [`eai_for`]).
pub fn h_errno_for(errno: i32) -> i32 {
    const HOST_NOT_FOUND: i32 = 1;
    const TRY_AGAIN: i32 = 2;
    match errno {
        libc::ENOENT => HOST_NOT_FOUND,
        _ => TRY_AGAIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_transport_timeout_is_etimedout() {
        let err = TransportError::Io(io::Error::from(io::ErrorKind::WouldBlock));
        assert_eq!(for_transport(&err), libc::ETIMEDOUT);
        let err = TransportError::Io(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(for_transport(&err), libc::ETIMEDOUT);
    }

    #[test]
    fn for_transport_dead_daemon_is_eio() {
        let cases = [
            TransportError::Connect(io::Error::from(io::ErrorKind::NotFound)),
            TransportError::Io(io::Error::from(io::ErrorKind::UnexpectedEof)),
            TransportError::Codec("bad".into()),
            TransportError::Protocol("id".into()),
            TransportError::Refused("token".into()),
        ];
        for err in cases {
            assert_eq!(for_transport(&err), libc::EIO, "{err}");
        }
    }

    #[test]
    fn for_failure_keeps_real_errnos_and_rejects_garbage() {
        assert_eq!(for_failure(libc::ECONNREFUSED), libc::ECONNREFUSED);
        assert_eq!(for_failure(0), libc::EIO);
        assert_eq!(for_failure(-3), libc::EIO);
        assert_eq!(for_failure(1 << 20), libc::EIO);
    }

    #[test]
    fn eai_and_h_errno_distinguish_missing_from_transient() {
        assert_eq!(eai_for(libc::ENOENT), libc::EAI_NONAME);
        assert_eq!(eai_for(libc::EIO), libc::EAI_AGAIN);
        assert_eq!(eai_for(libc::ETIMEDOUT), libc::EAI_AGAIN);
        assert_eq!(h_errno_for(libc::ENOENT), 1);
        assert_eq!(h_errno_for(libc::EIO), 2);
    }
}
