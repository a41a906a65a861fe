//! Each thread's copy of the working directory, so that a relative path costs no `getcwd`:
//! read again only after the layer saw the directory change.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use tether_hook_core::path::CAPACITY;

/// Bumped by every change of the working directory the layer sees (`chdir`, `fchdir`,
/// `syscall(SYS_chdir)`, `syscall(SYS_fchdir)`): each thread's cached copy is good while the
/// generation it was read at is current.
static CWD_GENERATION: AtomicU64 = AtomicU64::new(1);

/// The working directory changed (or may have): threads read it again.
pub fn cwd_changed() {
    CWD_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// A thread's copy of the working directory, per thread because a thread may have its own
/// (`unshare(CLONE_FS)`); zero-initialised thread-local data, so no allocation and no
/// destructor.
struct CachedCwd {
    generation: u64,
    len: usize,
    buf: [u8; CAPACITY],
}

thread_local! {
    static CWD: RefCell<CachedCwd> = const { RefCell::new(CachedCwd { generation: 0, len: 0, buf: [0; CAPACITY] }) };
}

/// Runs `with` on the working directory, `None` when it cannot be read (removed, longer than
/// `PATH_MAX`). A `getcwd` system call only after a change: a relative path costs a
/// thread-local read otherwise.
pub fn with_cwd<T>(with: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
    CWD.with(|cached| {
        let Ok(mut cached) = cached.try_borrow_mut() else {
            return with(CwdBuf::new().read()?);
        };
        // Read before `getcwd`: a change after it makes the copy stale, never the reverse.
        let generation = CWD_GENERATION.load(Ordering::Acquire);
        if cached.generation != generation {
            cached.generation = 0;
            let len = CwdBuf::new().read().and_then(|cwd| {
                cached.buf.get_mut(..cwd.len())?.copy_from_slice(cwd);
                Some(cwd.len())
            })?;
            (cached.len, cached.generation) = (len, generation);
        }
        with(&cached.buf[..cached.len])
    })
}

/// A stack buffer for the working directory (`getcwd` into it allocates nothing).
struct CwdBuf {
    buf: [MaybeUninit<u8>; CAPACITY],
}

impl CwdBuf {
    fn new() -> CwdBuf {
        CwdBuf { buf: [MaybeUninit::uninit(); CAPACITY] }
    }

    /// The working directory, or `None` when it cannot be read (removed, longer than
    /// `PATH_MAX`).
    fn read(&mut self) -> Option<&[u8]> {
        // SAFETY: the buffer is valid for CAPACITY bytes; getcwd with a buffer never allocates.
        let found = unsafe { libc::getcwd(self.buf.as_mut_ptr().cast(), CAPACITY) };
        if found.is_null() {
            return None;
        }
        // SAFETY: on success getcwd wrote a NUL-terminated path into the buffer.
        let cwd = unsafe { std::ffi::CStr::from_ptr(found) }.to_bytes();
        cwd.starts_with(b"/").then_some(cwd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cwd_buf_reads_the_working_directory() {
        let want = std::env::current_dir().unwrap().into_os_string().into_encoded_bytes();
        assert_eq!(CwdBuf::new().read(), Some(want.as_slice()));
    }
}
