//! Target directories: placeholder directory fds (so `openat(fd, ..)` and `fdopendir(fd)`
//! resolve against the target path) and the layer's own `DIR*` streams over `FileReadDir`
//! listings, plus `scandir`.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};

use libc::{c_int, dirent64};
use tether_rpc_schema::wire::DirEntry;

use crate::guard::{self, Outcome};
use crate::{fds, files, proxy};

/// Placeholder directory fd → the target directory it stands for.
static PLACEHOLDERS: LazyLock<Mutex<HashMap<c_int, Vec<u8>>>> = LazyLock::new(Mutex::default);

/// Our `DIR*` streams, by address.
static STREAMS: LazyLock<Mutex<HashMap<usize, Box<RemoteDir>>>> = LazyLock::new(Mutex::default);

/// How many of our streams are open: `readdir` on other streams skips the lock while zero.
static OPEN_STREAMS: AtomicUsize = AtomicUsize::new(0);

/// Takes this module's registry locks before a fork ([`crate::forks`]).
pub fn hold_for_fork(guards: &mut Vec<Box<dyn std::any::Any>>) {
    crate::guard::hold_for_fork(&PLACEHOLDERS, guards);
    crate::guard::hold_for_fork(&STREAMS, guards);
}

/// A directory stream over a target listing.
struct RemoteDir {
    /// Placeholder fd returned by `dirfd`; closed by `closedir`.
    fd: c_int,
    /// `.`, `..`, then the target's entries.
    entries: Vec<DirEntry>,
    next: usize,
    /// The record `readdir` returns (valid until the next call, like glibc's).
    record: dirent64,
}

/// The empty host directory that placeholder fds open: `layer-empty` next to the session
/// proxy's socket, in the daemon's per-user runtime directory (0700), where no other user can
/// put anything. `None` without `TETHER_PROXY` (the layer is inert then).
fn placeholder_dir() -> Option<&'static CStr> {
    static DIR: OnceLock<Option<CString>> = OnceLock::new();
    DIR.get_or_init(|| {
        let proxy = crate::launch::get().proxy.as_ref()?.to_bytes();
        let parent = &proxy[..proxy.iter().rposition(|byte| *byte == b'/')?];
        CString::new([parent, b"/layer-empty"].concat()).ok()
    })
    .as_deref()
}

/// Opens a placeholder directory fd standing for target directory `path`.
pub fn open_placeholder(path: &[u8], cloexec: bool) -> Result<c_int, i32> {
    let fd = open_placeholder_dir(cloexec)?;
    if let Ok(mut placeholders) = PLACEHOLDERS.lock() {
        placeholders.insert(fd, path.to_vec());
        fds::mark(fd);
    }
    Ok(fd)
}

/// Opens (creating it the first time) the empty placeholder directory. It must be a real
/// directory of this user: a symlink or anything of someone else's is refused with `EACCES`.
fn open_placeholder_dir(cloexec: bool) -> Result<c_int, i32> {
    let Some(dir) = placeholder_dir() else {
        crate::log!("no placeholder directory without TETHER_PROXY");
        return Err(libc::ENOENT);
    };
    // SAFETY: `dir` is NUL-terminated. EEXIST (the usual case) is fine.
    unsafe { libc::mkdir(dir.as_ptr(), 0o500) };
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: `dir` is NUL-terminated.
    let fd = unsafe { libc::open(dir.as_ptr(), flags) };
    if fd < 0 {
        let errno = crate::errno::get();
        crate::log!("cannot open the placeholder directory: errno {errno}");
        return Err(errno);
    }
    // SAFETY: stat is plain data; all-zero is valid.
    let mut meta: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is the descriptor just opened; `meta` is a valid out-pointer.
    let owned = unsafe { libc::fstat(fd, &mut meta) } == 0 && meta.st_uid == effective_uid();
    if !owned {
        crate::log!("the placeholder directory belongs to another user; refusing it");
        // SAFETY: `fd` is ours and not shared yet.
        unsafe { libc::close(fd) };
        return Err(libc::EACCES);
    }
    Ok(fd)
}

fn effective_uid() -> libc::uid_t {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The target directory a placeholder fd stands for.
pub fn placeholder_path(fd: c_int) -> Option<Vec<u8>> {
    if !fds::is_marked(fd) {
        return None;
    }
    PLACEHOLDERS.lock().ok()?.get(&fd).cloned()
}

/// `fd` is being closed or replaced.
pub fn forget_placeholder(fd: c_int) {
    if let Ok(mut placeholders) = PLACEHOLDERS.lock() {
        placeholders.remove(&fd);
    }
}

/// A target listing with `.` and `..` first.
fn list(path: &[u8]) -> Result<Vec<DirEntry>, i32> {
    tether_hook_core::target::list(&proxy::Requests, path)
}

/// `opendir`.
pub fn opendir(path: &CStr) -> Outcome<*mut libc::DIR> {
    match files::read_target(libc::AT_FDCWD, path) {
        Err(errno) => Outcome::Error(errno),
        Ok(None) => Outcome::Bypass,
        Ok(Some(target)) => {
            let opened = list(target.as_bytes()).and_then(|entries| {
                let fd = open_placeholder(target.as_bytes(), true)?;
                Ok(register(fd, entries))
            });
            opened.into()
        }
    }
}

/// `fdopendir` on a placeholder fd (which the stream then owns).
pub fn fdopendir(fd: c_int) -> Outcome<*mut libc::DIR> {
    let Some(path) = placeholder_path(fd) else {
        return Outcome::Bypass;
    };
    list(&path).map(|entries| register(fd, entries)).into()
}

fn register(fd: c_int, entries: Vec<DirEntry>) -> *mut libc::DIR {
    // SAFETY: dirent64 is plain data; all-zero is valid.
    let record: dirent64 = unsafe { std::mem::zeroed() };
    let mut stream = Box::new(RemoteDir { fd, entries, next: 0, record });
    let address = &mut *stream as *mut RemoteDir as usize;
    if let Ok(mut streams) = STREAMS.lock() {
        streams.insert(address, stream);
        OPEN_STREAMS.fetch_add(1, Ordering::SeqCst);
    }
    address as *mut libc::DIR
}

/// Runs `f` on our stream `dir`; bypass for streams that are not ours.
fn with_stream<T>(dir: *mut libc::DIR, f: impl FnOnce(&mut RemoteDir) -> T) -> Outcome<T> {
    if OPEN_STREAMS.load(Ordering::SeqCst) == 0 {
        return Outcome::Bypass;
    }
    let Ok(mut streams) = STREAMS.lock() else {
        return Outcome::Bypass;
    };
    match streams.get_mut(&(dir as usize)) {
        Some(stream) => Outcome::Handled(f(stream)),
        None => Outcome::Bypass,
    }
}

/// `readdir`/`readdir64`: the next record, or null at the end (errno untouched).
pub fn readdir(dir: *mut libc::DIR) -> Outcome<*mut dirent64> {
    with_stream(dir, |stream| {
        let Some(entry) = stream.entries.get(stream.next) else {
            return std::ptr::null_mut();
        };
        stream.next += 1;
        stream.record = to_dirent(entry, stream.next as i64);
        &mut stream.record as *mut dirent64
    })
}

/// `rewinddir`.
pub fn rewinddir(dir: *mut libc::DIR) -> Outcome<()> {
    with_stream(dir, |stream| stream.next = 0)
}

/// `dirfd`: the placeholder fd.
pub fn dirfd(dir: *mut libc::DIR) -> Outcome<c_int> {
    with_stream(dir, |stream| stream.fd)
}

/// `closedir`.
pub fn closedir(dir: *mut libc::DIR) -> Outcome<c_int> {
    if OPEN_STREAMS.load(Ordering::SeqCst) == 0 {
        return Outcome::Bypass;
    }
    let removed = STREAMS.lock().ok().and_then(|mut streams| streams.remove(&(dir as usize)));
    let Some(stream) = removed else {
        return Outcome::Bypass;
    };
    OPEN_STREAMS.fetch_sub(1, Ordering::SeqCst);
    forget_placeholder(stream.fd);
    fds::unmark(stream.fd);
    // SAFETY: the placeholder fd belongs to the stream being closed.
    Outcome::Handled(unsafe { libc::close(stream.fd) })
}

/// A `dirent64` record for `entry`, at position `offset`.
fn to_dirent(entry: &DirEntry, offset: i64) -> dirent64 {
    // SAFETY: dirent64 is plain data; all-zero is valid.
    let mut record: dirent64 = unsafe { std::mem::zeroed() };
    record.d_ino = entry.ino;
    record.d_off = offset;
    record.d_reclen = std::mem::size_of::<dirent64>() as u16;
    record.d_type = entry.kind;
    let len = entry.name.len().min(record.d_name.len() - 1);
    for (slot, byte) in record.d_name.iter_mut().zip(&entry.name[..len]) {
        *slot = *byte as libc::c_char;
    }
    record
}

/// A `scandir` filter.
pub type Filter = Option<unsafe extern "C" fn(*const dirent64) -> c_int>;
/// A `scandir` comparison.
pub type Compare = Option<unsafe extern "C" fn(*mut *const dirent64, *mut *const dirent64) -> c_int>;

/// `scandir`/`scandir64`: like glibc, every selected entry is a malloc'd record, the list a
/// malloc'd array sorted with `compare`; the caller frees both.
pub fn scandir(path: &CStr, namelist: *mut *mut *mut dirent64, filter: Filter, compare: Compare) -> Outcome<c_int> {
    let target = match files::read_target(libc::AT_FDCWD, path) {
        Err(errno) => return Outcome::Error(errno),
        Ok(None) => return Outcome::Bypass,
        Ok(Some(target)) => target,
    };
    let entries = match list(target.as_bytes()) {
        Ok(entries) => entries,
        Err(errno) => return Outcome::Error(errno),
    };
    let mut selected: Vec<*mut dirent64> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        // SAFETY: malloc of a dirent64 record; checked for null below.
        let record = unsafe { libc::malloc(std::mem::size_of::<dirent64>()) }.cast::<dirent64>();
        if record.is_null() {
            free_all(&selected);
            return Outcome::Error(libc::ENOMEM);
        }
        // SAFETY: `record` is a fresh allocation of the right size and alignment.
        unsafe { record.write(to_dirent(entry, index as i64 + 1)) };
        // SAFETY: the filter is the caller's function, called with a valid record.
        let keep = filter.is_none_or(|f| guard::outside(|| unsafe { f(record) }) != 0);
        if keep {
            selected.push(record);
        } else {
            // SAFETY: `record` came from malloc and is not shared.
            unsafe { libc::free(record.cast()) };
        }
    }
    // SAFETY: malloc of the pointer array (at least one slot so it is never null when empty).
    let array =
        unsafe { libc::malloc(selected.len().max(1) * std::mem::size_of::<*mut dirent64>()) }.cast::<*mut dirent64>();
    if array.is_null() {
        free_all(&selected);
        return Outcome::Error(libc::ENOMEM);
    }
    // SAFETY: `array` has room for `selected.len()` pointers.
    unsafe { std::ptr::copy_nonoverlapping(selected.as_ptr(), array, selected.len()) };
    if let Some(compare) = compare {
        // SAFETY: qsort passes pointers to array elements (`*const dirent64` each), which is
        // exactly what a scandir comparison takes; glibc's scandir makes the same cast.
        let compare = unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut *const dirent64, *mut *const dirent64) -> c_int,
                unsafe extern "C" fn(*const libc::c_void, *const libc::c_void) -> c_int,
            >(compare)
        };
        // SAFETY: `array` holds `selected.len()` valid elements of pointer size.
        guard::outside(|| unsafe {
            libc::qsort(array.cast(), selected.len(), std::mem::size_of::<*mut dirent64>(), Some(compare))
        });
    }
    // SAFETY: the caller passes a valid out-pointer, as scandir requires.
    unsafe { *namelist = array };
    Outcome::Handled(selected.len() as c_int)
}

fn free_all(records: &[*mut dirent64]) {
    for record in records {
        // SAFETY: every record came from malloc and is not shared.
        unsafe { libc::free(record.cast()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_dirent_copies_name_type_and_offset() {
        let entry = DirEntry { name: b"config.yaml".to_vec(), ino: 7, kind: libc::DT_REG };
        let record = to_dirent(&entry, 3);
        // SAFETY: to_dirent NUL-terminates d_name.
        let name = unsafe { CStr::from_ptr(record.d_name.as_ptr()) };
        assert_eq!(name.to_bytes(), b"config.yaml");
        assert_eq!((record.d_ino, record.d_off, record.d_type), (7, 3, libc::DT_REG));
    }

    #[test]
    fn to_dirent_truncates_overlong_names() {
        let entry = DirEntry { name: vec![b'x'; 400], ino: 1, kind: libc::DT_REG };
        let record = to_dirent(&entry, 1);
        // SAFETY: to_dirent NUL-terminates d_name.
        let name = unsafe { CStr::from_ptr(record.d_name.as_ptr()) };
        assert_eq!(name.to_bytes().len(), 255);
    }
}
