//! Which file descriptors carry layer state (pool sockets, placeholder directories, writable
//! target files, redirected sockets), as a bitmap that `close`/`dup2` check without a lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Descriptors below this are tracked in the bitmap; larger ones set [`LARGE`].
const BITMAP_FDS: usize = 65536;

static BITMAP: [AtomicU64; BITMAP_FDS / 64] = [const { AtomicU64::new(0) }; BITMAP_FDS / 64];

/// Set once any descriptor beyond the bitmap carries state: then every large fd is "maybe".
static LARGE: AtomicBool = AtomicBool::new(false);

/// Records that `fd` carries layer state.
pub fn mark(fd: i32) {
    match usize::try_from(fd) {
        Ok(fd) if fd < BITMAP_FDS => {
            BITMAP[fd / 64].fetch_or(1 << (fd % 64), Ordering::SeqCst);
        }
        Ok(_) => LARGE.store(true, Ordering::SeqCst),
        Err(_) => {}
    }
}

/// Records that `fd` no longer carries layer state.
pub fn unmark(fd: i32) {
    if let Ok(fd) = usize::try_from(fd) {
        if fd < BITMAP_FDS {
            BITMAP[fd / 64].fetch_and(!(1 << (fd % 64)), Ordering::SeqCst);
        }
    }
}

/// Whether `fd` may carry layer state (exact below [`BITMAP_FDS`]).
pub fn is_marked(fd: i32) -> bool {
    match usize::try_from(fd) {
        Ok(fd) if fd < BITMAP_FDS => BITMAP[fd / 64].load(Ordering::SeqCst) & (1 << (fd % 64)) != 0,
        Ok(_) => LARGE.load(Ordering::SeqCst),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_and_unmark_round_trip() {
        assert!(!is_marked(1234));
        mark(1234);
        assert!(is_marked(1234));
        assert!(!is_marked(1235));
        unmark(1234);
        assert!(!is_marked(1234));
        assert!(!is_marked(-1));
    }
}
