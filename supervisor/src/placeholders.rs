//! Directories standing for target directories. A program that opens a target directory gets
//! a descriptor of an empty directory of the supervisor's own (under its runtime directory,
//! one per open, so that each open has its own listing position); the supervisor recognises
//! it by its path in `/proc/TID/fd` and answers `getdents64`, `*at` calls relative to it and
//! `fstatat(fd, "", AT_EMPTY_PATH)` from the target directory it stands for.

use std::collections::HashMap;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tether_rpc_schema::wire::DirEntry;

/// One placeholder: the target directory, and its listing once `getdents64` asked for it.
struct Placeholder {
    target: Vec<u8>,
    listing: Option<(Vec<DirEntry>, usize)>,
}

pub struct Placeholders {
    root: PathBuf,
    next: AtomicU64,
    by_path: Mutex<HashMap<Vec<u8>, Placeholder>>,
}

impl Placeholders {
    /// Placeholders under `root` (created 0700; removed by [`Placeholders::remove_all`]).
    pub fn new(root: PathBuf) -> Placeholders {
        Placeholders { root, next: AtomicU64::new(1), by_path: Mutex::default() }
    }

    /// A new placeholder for `target`, opened as a directory for the program.
    pub fn open(&self, target: &[u8]) -> Result<OwnedFd, i32> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.root).map_err(errno_of)?;
        let path = self.root.join(format!("d{}", self.next.fetch_add(1, Ordering::Relaxed)));
        std::fs::DirBuilder::new().mode(0o700).create(&path).map_err(errno_of)?;
        let name = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
        // SAFETY: a NUL-terminated path; O_DIRECTORY|O_NOFOLLOW opens only the directory just made.
        let fd = unsafe {
            libc::open(name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        };
        if fd < 0 {
            return Err(errno_of(std::io::Error::last_os_error()));
        }
        if let Ok(mut map) = self.by_path.lock() {
            map.insert(path.as_os_str().as_bytes().to_vec(), Placeholder { target: target.to_vec(), listing: None });
        }
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The target directory the placeholder at `path` (a descriptor's `/proc` link) stands for.
    pub fn target_of(&self, path: &[u8]) -> Option<Vec<u8>> {
        if !path.starts_with(self.root.as_os_str().as_bytes()) {
            return None;
        }
        self.by_path.lock().ok()?.get(path).map(|placeholder| placeholder.target.clone())
    }

    /// The next entries of the placeholder at `path`, listed with `list` on first use, as many
    /// as `take` accepts; the position moves past those taken.
    pub fn next_entries(
        &self,
        path: &[u8],
        list: impl FnOnce(&[u8]) -> Result<Vec<DirEntry>, i32>,
        mut take: impl FnMut(&DirEntry) -> bool,
    ) -> Result<(), i32> {
        let target = self.target_of(path).ok_or(libc::EBADF)?;
        let needs_listing = self.by_path.lock().map_err(|_| libc::EIO)?.get(path).is_some_and(|p| p.listing.is_none());
        let fresh = if needs_listing { Some(list(&target)?) } else { None };
        let mut map = self.by_path.lock().map_err(|_| libc::EIO)?;
        let placeholder = map.get_mut(path).ok_or(libc::EBADF)?;
        if let Some(entries) = fresh {
            placeholder.listing = Some((entries, 0));
        }
        let (entries, position) = placeholder.listing.as_mut().expect("listed above");
        while let Some(entry) = entries.get(*position) {
            if !take(entry) {
                break;
            }
            *position += 1;
        }
        Ok(())
    }

    /// Removes every placeholder directory (when supervision ends).
    pub fn remove_all(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn errno_of(err: std::io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}
