//! Handing freed memory back to the system after a burst of relayed connections. glibc keeps
//! what thousands of relays freed in its heaps — amid a few live allocations, so the heaps
//! never shrink by themselves — and the daemon would stay at two to four times its idle size.
//! The crate's only `unsafe`.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// Relays that must have ended since memory was last handed back before it is worth doing
/// again: a few leave little behind, and trimming walks every heap.
const TRIM_AFTER: usize = 256;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ENDED_SINCE_TRIM: AtomicUsize = AtomicUsize::new(0);

/// Counts one relayed connection while it lives; the last of a burst to end trims the heaps.
pub struct Relayed(());

impl Relayed {
    pub fn start() -> Relayed {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Relayed(())
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        let live = LIVE.fetch_sub(1, Ordering::Relaxed) - 1;
        let ended = ENDED_SINCE_TRIM.fetch_add(1, Ordering::Relaxed) + 1;
        if live > 0 || ended < TRIM_AFTER || ENDED_SINCE_TRIM.swap(0, Ordering::Relaxed) < TRIM_AFTER {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(trim);
        }
    }
}

#[cfg(target_env = "gnu")]
fn trim() {
    // SAFETY: malloc_trim takes no pointers; it only releases free pages of glibc's own heaps,
    // under their locks, and may be called from any thread at any time.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(target_env = "gnu"))]
fn trim() {}
