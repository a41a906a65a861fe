//! The memfds that hold target files, and the target metadata each stands for, so that
//! `fstat` on a descriptor agrees with `stat` on its path (wget refuses a config file whose
//! device and inode change between the two: "changed since the last check").
//!
//! A memfd is recognised by its own device and inode, not by descriptor number: every
//! descriptor of it (`dup`s, inherited ones, one passed over a socket, a reopen through
//! `/proc/self/fd`) answers the same. The registry forgets memfds that no descriptor of this
//! process holds any more, in a sweep of `/proc/self/fd` whenever it has doubled since the
//! last one.
//!
//! What a descriptor of a target file reports: the target's device, inode, mode, link count,
//! owner, device number, block size and times; its size and blocks are the memfd's (what
//! `read` delivers), equal to the target's for files opened read-only. A writable file the
//! process changed (written, truncated, `O_TRUNC`) reports its own size, blocks, mtime and
//! ctime: the target has the old content until the file is sent back on close. A file that
//! did not exist in the target when it was opened (created by this open) has no target
//! metadata and shows the memfd's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use libc::c_int;
use tether_rpc_schema::wire::{FileMeta, Timestamp};

/// The device of the kernel's internal tmpfs that every memfd lives on; 0 until the first
/// memfd is registered (then no descriptor needs a lookup).
static MEMFD_DEV: AtomicU64 = AtomicU64::new(0);

/// Smallest registry size that triggers a sweep.
const FIRST_SWEEP: usize = 64;

/// What one memfd stands for.
struct Entry {
    /// The target file's metadata when it was opened.
    target: FileMeta,
    /// The memfd's `(size, mtime)` right after it was filled: any other value means the
    /// process changed the content.
    filled: (i64, Timestamp),
}

struct Registry {
    /// Memfd inode → what it stands for.
    entries: HashMap<u64, Entry>,
    /// Size at which the next sweep runs.
    sweep_at: usize,
}

/// Held only for map operations, never across I/O (the sweep reads `/proc/self/fd` first).
static REGISTRY: LazyLock<Mutex<Registry>> =
    LazyLock::new(|| Mutex::new(Registry { entries: HashMap::new(), sweep_at: FIRST_SWEEP }));

/// Takes this module's registry lock before a fork ([`crate::forks`]).
pub fn hold_for_fork(guards: &mut Vec<Box<dyn std::any::Any>>) {
    crate::guard::hold_for_fork(&REGISTRY, guards);
}

/// Records that memfd `fd`, just filled, holds the target file described by `target`.
pub fn register(fd: c_int, target: FileMeta) {
    let Ok(st) = fstat(fd) else {
        return;
    };
    MEMFD_DEV.store(st.st_dev, Ordering::Relaxed);
    let entry = Entry { target, filled: (st.st_size, mtime(&st)) };
    let sweep = match REGISTRY.lock() {
        Ok(mut registry) => {
            registry.entries.insert(st.st_ino, entry);
            registry.entries.len() >= registry.sweep_at
        }
        Err(_) => false,
    };
    if sweep {
        forget_closed();
    }
}

/// The target metadata to report for a descriptor whose own `fstat` gave `st`, or `None` when
/// it is not a memfd of a target file.
pub fn target_meta(st: &libc::stat) -> Option<FileMeta> {
    let memfd_dev = MEMFD_DEV.load(Ordering::Relaxed);
    if memfd_dev == 0 || st.st_dev != memfd_dev {
        return None;
    }
    let registry = REGISTRY.lock().ok()?;
    let entry = registry.entries.get(&st.st_ino)?;
    Some(reported(entry, st))
}

/// What a descriptor of `entry`'s memfd, whose own metadata is `memfd`, reports.
fn reported(entry: &Entry, memfd: &libc::stat) -> FileMeta {
    let mut meta = entry.target;
    meta.size = memfd.st_size.max(0) as u64;
    if meta.size != entry.target.size {
        meta.blocks = memfd.st_blocks.max(0) as u64;
    }
    if (memfd.st_size, mtime(memfd)) != entry.filled {
        meta.blocks = memfd.st_blocks.max(0) as u64;
        meta.mtime = mtime(memfd);
        meta.ctime = Timestamp { sec: memfd.st_ctime, nsec: memfd.st_ctime_nsec as u32 };
    }
    meta
}

fn mtime(st: &libc::stat) -> Timestamp {
    Timestamp { sec: st.st_mtime, nsec: st.st_mtime_nsec as u32 }
}

/// Drops the memfds that no descriptor of this process holds any more.
fn forget_closed() {
    let memfd_dev = MEMFD_DEV.load(Ordering::Relaxed);
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<u64> = fds
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<c_int>().ok())
        .filter_map(|fd| fstat(fd).ok())
        .filter(|st| st.st_dev == memfd_dev)
        .map(|st| st.st_ino)
        .collect();
    if let Ok(mut registry) = REGISTRY.lock() {
        registry.entries.retain(|ino, _| open.contains(ino));
        registry.sweep_at = (registry.entries.len() * 2).max(FIRST_SWEEP);
    }
}

/// The descriptor's own metadata (the original `fstat`: layer code runs inside the guard).
fn fstat(fd: c_int) -> Result<libc::stat, i32> {
    // SAFETY: struct stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; fstat checks `fd` itself.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(crate::errno::get());
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> FileMeta {
        FileMeta {
            dev: 2049,
            ino: 77,
            mode: libc::S_IFREG | 0o600,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            size: 5,
            blksize: 4096,
            blocks: 8,
            atime: Timestamp { sec: 10, nsec: 1 },
            mtime: Timestamp { sec: 20, nsec: 2 },
            ctime: Timestamp { sec: 30, nsec: 3 },
        }
    }

    fn memfd(size: i64, mtime: i64) -> libc::stat {
        // SAFETY: struct stat is plain data; all-zero is valid.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        (st.st_size, st.st_blocks, st.st_mtime, st.st_ctime) = (size, 1, mtime, mtime);
        st
    }

    #[test]
    fn an_unchanged_memfd_reports_the_target_exactly() {
        let entry = Entry { target: target(), filled: (5, Timestamp { sec: 100, nsec: 0 }) };
        assert_eq!(reported(&entry, &memfd(5, 100)), target());
    }

    #[test]
    fn a_written_memfd_reports_its_own_size_and_times_with_the_target_identity() {
        let entry = Entry { target: target(), filled: (5, Timestamp { sec: 100, nsec: 0 }) };
        let meta = reported(&entry, &memfd(12, 150));
        assert_eq!((meta.dev, meta.ino, meta.mode, meta.atime), (2049, 77, libc::S_IFREG | 0o600, target().atime));
        assert_eq!((meta.size, meta.blocks), (12, 1));
        assert_eq!((meta.mtime.sec, meta.ctime.sec), (150, 150));
    }

    #[test]
    fn a_truncating_open_reports_the_empty_content() {
        let entry = Entry { target: target(), filled: (0, Timestamp { sec: 100, nsec: 0 }) };
        let meta = reported(&entry, &memfd(0, 100));
        assert_eq!((meta.size, meta.blocks, meta.ino), (0, 1, 77));
    }
}
