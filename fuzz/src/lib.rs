//! What the connection fuzz targets share: a target process with a private scratch root and
//! network, the async runtime, and the splitting of a fuzz input into the frames a peer sends.
//!
//! # Layout
//! - [`sandbox`]: the stand-in target, so requests that write files or open connections touch
//!   nothing of the host.
//! - [`frames`]: an input as frames, for filtering and for knowing which answers to expect.

pub mod frames;
pub mod sandbox;

use std::sync::LazyLock;
use std::time::Duration;

/// How long a peer's whole conversation may take before the target counts as hung; far
/// above what any input needs (milliseconds), far below libFuzzer's `-timeout`.
pub const CONVERSATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The runtime the code under test runs on, started once for the whole fuzzing run. Multi
/// threaded as in the agent and the daemon, so tasks left from one input keep running (and
/// keepalives keep being answered) while libFuzzer prepares the next.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("starting the tokio runtime")
    });
    &RUNTIME
}
