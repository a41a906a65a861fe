//! The supervisor's connections to the session proxy: one per serving thread, opened with
//! `Hello` like a layer's, re-opened after a failure.

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tether_hook_core::errno::{for_failure, for_transport, TransportError};
use tether_hook_core::{client, target};
use tether_rpc_schema::wire::{HelloOk, Message};

/// Read/write timeout on a session-proxy connection, as the layer's default.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the session proxy is and how to log.
pub struct Session {
    pub proxy: PathBuf,
    pub token: String,
    log: Mutex<Option<std::fs::File>>,
    next_id: AtomicU64,
}

impl Session {
    pub fn new(proxy: PathBuf, token: String, log: Option<&Path>) -> Session {
        let log = log.and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
        Session { proxy, token, log: Mutex::new(log), next_id: AtomicU64::new(1) }
    }

    /// A fresh connection and the daemon's hello answer (the policy, the parks).
    pub fn connect(&self) -> Result<(UnixStream, HelloOk), TransportError> {
        let mut stream = UnixStream::connect(&self.proxy).map_err(TransportError::Connect)?;
        stream.set_read_timeout(Some(TIMEOUT)).map_err(TransportError::Connect)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(TransportError::Connect)?;
        let ok = client::hello(&mut stream, self.id(), &self.token, std::process::id())?;
        Ok((stream, ok))
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Appends a line to the log file (`TETHER_LAYER_LOG`, shared with the layers).
    pub fn log(&self, line: &str) {
        if let Ok(mut log) = self.log.lock() {
            if let Some(file) = log.as_mut() {
                let _ = writeln!(file, "tether-supervisor[{}]: {line}", std::process::id());
            }
        }
    }
}

/// One serving thread's requests.
pub struct Requests<'s> {
    session: &'s Session,
    stream: RefCell<Option<UnixStream>>,
}

impl<'s> Requests<'s> {
    pub fn new(session: &'s Session) -> Requests<'s> {
        Requests { session, stream: RefCell::new(None) }
    }

    fn request(&self, message: Message) -> Result<Message, TransportError> {
        let mut slot = self.stream.borrow_mut();
        if slot.is_none() {
            *slot = Some(self.session.connect()?.0);
        }
        let stream = slot.as_mut().expect("connected above");
        let result = client::exchange(stream, self.session.id(), message);
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

impl target::Proxy for Requests<'_> {
    fn call(&self, request: Message) -> Result<Message, i32> {
        match self.request(request) {
            Ok(Message::Failure { errno, .. }) => Err(for_failure(errno)),
            Ok(response) => Ok(response),
            Err(err) => {
                self.session.log(&format!("request failed: {err}"));
                Err(for_transport(&err))
            }
        }
    }

    fn note(&self, line: &str) {
        self.session.log(line);
    }
}
