//! File logic: where a path argument points, and the target side of `open`, `stat`,
//! `access`, `readlink`, `realpath`, writes and namespace changes.
//!
//! A file opened from the target is a real fd: a memfd holding the content (sealed when
//! read-only), so `read`, `mmap`, `dup` work without hooks; the `fstat` family reports the
//! target file's metadata for it ([`memfds`]). A writable target file
//! is tracked across `dup`s and sent back with `FileWrite` (see [`crate::writeback`]) when a
//! descriptor of it is closed or replaced, and at exit.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;

use libc::{c_int, c_uint};
use tether_rpc_schema::wire::{FileMeta, Message, FILE_READ_CHUNK};

use crate::guard::Outcome;
use crate::path::{self, TargetPath};
use crate::policy::{PathClass, Policy};
use crate::{dirs, fds, incoming, memfds, net, proxy, session, stat, writeback};

/// Open flags that make an open a write.
const WRITE_FLAGS: c_int = libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND;

/// A path argument resolved for a hook.
pub struct Resolved<'a> {
    pub class: PathClass,
    /// The absolute, normalised path, for the target classes only: a host path is decided
    /// without a copy (nothing is allocated on the way of a call the host answers).
    pub target: Option<TargetPath<'a>>,
    /// The call named the path relative to a placeholder directory fd: the host cannot run it
    /// as given.
    pub via_target_dir: bool,
}

/// Resolves `(dirfd, path)`; `None` means the call is not ours (inert layer, a real directory
/// fd, an empty or over-long path).
pub fn resolve(dirfd: c_int, path: &CStr) -> Option<Resolved<'_>> {
    let policy = session::active()?;
    resolve_with(policy, dirfd, path.to_bytes())
}

fn resolve_with<'a>(policy: &Policy, dirfd: c_int, path: &'a [u8]) -> Option<Resolved<'a>> {
    if path.is_empty() {
        return None;
    }
    let via_target_dir = !path.starts_with(b"/") && dirfd != libc::AT_FDCWD;
    let decide = |normal: &[u8]| {
        let class = policy.classify(normal);
        let target =
            matches!(class, PathClass::TargetRead | PathClass::TargetReadWrite).then(|| TargetPath::keep(normal, path));
        Resolved { class, target, via_target_dir }
    };
    if via_target_dir {
        let base = dirs::placeholder_path(dirfd)?;
        path::normalised(Some(&base), path, decide)
    } else if path.starts_with(b"/") {
        path::normalised(None, path, decide)
    } else {
        path::with_cwd(|cwd| path::normalised(Some(cwd), path, decide))
    }
}

/// Where a read-like operation (stat, access, readlink, opendir ...) goes: `Ok(Some(path))`
/// for the target, `Ok(None)` for the host, `Err` for `not_found` rules.
pub fn read_target(dirfd: c_int, path: &CStr) -> Result<Option<TargetPath<'_>>, i32> {
    let Some(resolved) = resolve(dirfd, path) else {
        return Ok(None);
    };
    match resolved.class {
        PathClass::NotFound => Err(libc::ENOENT),
        PathClass::Host if resolved.via_target_dir => Err(libc::ENOENT),
        PathClass::Host => Ok(None),
        PathClass::TargetRead | PathClass::TargetReadWrite => Ok(resolved.target),
    }
}

/// Where a write-like operation (unlink, mkdir, rename ...) goes (see [`read_target`]).
pub fn write_target(dirfd: c_int, path: &CStr) -> Result<Option<TargetPath<'_>>, i32> {
    let Some(resolved) = resolve(dirfd, path) else {
        return Ok(None);
    };
    match resolved.class {
        PathClass::NotFound => Err(libc::ENOENT),
        PathClass::TargetReadWrite => Ok(resolved.target),
        _ if resolved.via_target_dir => Err(libc::EROFS),
        _ => Ok(None),
    }
}

/// Lifts a `read_target`/`write_target` answer into an outcome: bypass for the host.
fn routed<T>(
    target: Result<Option<TargetPath<'_>>, i32>,
    on_target: impl FnOnce(&[u8]) -> Result<T, i32>,
) -> Outcome<T> {
    match target {
        Err(errno) => Outcome::Error(errno),
        Ok(None) => Outcome::Bypass,
        Ok(Some(path)) => on_target(path.as_bytes()).into(),
    }
}

/// `open` family (`creat` and `fopen` included): an fd for a target file, or bypass.
pub fn open(dirfd: c_int, path: &CStr, flags: c_int, mode: libc::mode_t) -> Outcome<c_int> {
    let Some(resolved) = resolve(dirfd, path) else {
        return Outcome::Bypass;
    };
    let writing = flags & WRITE_FLAGS != 0;
    let target = resolved.target.as_ref().map(TargetPath::as_bytes);
    match (resolved.class, target) {
        (PathClass::NotFound, _) => Outcome::Error(libc::ENOENT),
        (PathClass::TargetReadWrite, Some(target)) if writing => open_writable(target, flags, mode).into(),
        (PathClass::TargetRead | PathClass::TargetReadWrite, Some(target)) if !writing => {
            open_readable(target, flags).into()
        }
        _ if resolved.via_target_dir => Outcome::Error(if writing { libc::EROFS } else { libc::ENOENT }),
        (PathClass::TargetRead, Some(_)) => {
            hint_writes_stay_on_the_host(path);
            Outcome::Bypass
        }
        _ => Outcome::Bypass,
    }
}

/// Says once per process, on stderr and in the log, why opening a target file for writing
/// reaches this machine's file instead (which may not exist, so `exists()` and `open` disagree).
fn hint_writes_stay_on_the_host(path: &CStr) {
    static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if TOLD.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let text = format!(
        "tether: {} is opened for writing on this machine, not in the target: the target's files are read-only \
         with fs.mode \"read\"; set fs.mode to \"write\", or name the path in fs.read_write, to write the target's\n",
        path.to_string_lossy()
    );
    crate::log!("{}", text.trim_end());
    // SAFETY: the buffer is valid for its length; a failed write to fd 2 changes nothing.
    unsafe { libc::syscall(libc::SYS_write, 2, text.as_ptr(), text.len()) };
}

fn open_readable(path: &[u8], flags: c_int) -> Result<c_int, i32> {
    let cloexec = flags & libc::O_CLOEXEC != 0;
    if flags & libc::O_DIRECTORY != 0 {
        let meta = stat(path, true)?;
        if !stat::is_dir(&meta) {
            return Err(libc::ENOTDIR);
        }
        return dirs::open_placeholder(path, cloexec);
    }
    let first = match read_chunk(path, 0) {
        Err(libc::EISDIR) => return dirs::open_placeholder(path, cloexec),
        Err(errno) => return Err(errno),
        Ok((meta, _, _)) if stat::is_dir(&meta) => return dirs::open_placeholder(path, cloexec),
        Ok(first) => first,
    };
    let target = first.0;
    let fd = memfd(path, cloexec)?;
    fill(&fd, path, first)?;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: `fd` is our memfd, created with MFD_ALLOW_SEALING.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        crate::log!("cannot seal a target file's memfd");
    }
    rewind(&fd, false)?;
    memfds::register(fd.as_raw_fd(), target);
    Ok(fd.into_raw_fd())
}

fn open_writable(path: &[u8], flags: c_int, mode: libc::mode_t) -> Result<c_int, i32> {
    let create = flags & libc::O_CREAT != 0;
    let exclusive = create && flags & libc::O_EXCL != 0;
    let existing = match stat(path, true) {
        Ok(_) if exclusive => return Err(libc::EEXIST),
        Ok(meta) if stat::is_dir(&meta) => return Err(libc::EISDIR),
        Ok(meta) => Some(meta),
        Err(libc::ENOENT) if create => None,
        Err(errno) => return Err(errno),
    };
    let fd = memfd(path, flags & libc::O_CLOEXEC != 0)?;
    if existing.is_some() && flags & libc::O_TRUNC == 0 {
        let first = read_chunk(path, 0)?;
        fill(&fd, path, first)?;
    }
    let append = flags & libc::O_APPEND != 0;
    rewind(&fd, append)?;
    if let Some(target) = existing {
        memfds::register(fd.as_raw_fd(), target);
    }
    let file_mode = existing.map_or(mode & 0o7777, |meta| meta.mode & 0o7777);
    let fd = fd.into_raw_fd();
    writeback::track(fd, path, file_mode);
    Ok(fd)
}

/// One `FileRead` of up to [`FILE_READ_CHUNK`] bytes at `offset`.
fn read_chunk(path: &[u8], offset: u64) -> Result<(FileMeta, Vec<u8>, bool), i32> {
    match proxy::call(Message::FileRead { path: path.to_vec(), offset, len: FILE_READ_CHUNK })? {
        Message::FileData { meta, data, eof } => Ok((meta, data, eof)),
        other => Err(proxy::unexpected(&other)),
    }
}

/// Writes `first` and every following chunk of the target file into `fd`.
fn fill(fd: &OwnedFd, path: &[u8], first: (FileMeta, Vec<u8>, bool)) -> Result<(), i32> {
    let (_, mut data, mut eof) = first;
    let mut offset = 0u64;
    loop {
        write_all(fd, &data)?;
        offset += data.len() as u64;
        if eof || data.is_empty() {
            return Ok(());
        }
        (_, data, eof) = read_chunk(path, offset)?;
    }
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> Result<(), i32> {
    while !data.is_empty() {
        // SAFETY: `data` is valid for its length; `fd` is our memfd.
        let written = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if written <= 0 {
            return Err(crate::errno::get().max(libc::EIO));
        }
        data = &data[written as usize..];
    }
    Ok(())
}

fn rewind(fd: &OwnedFd, append: bool) -> Result<(), i32> {
    let raw = fd.as_raw_fd();
    if append {
        // SAFETY: F_SETFL with O_APPEND on our own memfd.
        unsafe { libc::fcntl(raw, libc::F_SETFL, libc::O_APPEND) };
    }
    // SAFETY: lseek on our own memfd.
    match unsafe { libc::lseek(raw, 0, if append { libc::SEEK_END } else { libc::SEEK_SET }) } {
        -1 => Err(crate::errno::get()),
        _ => Ok(()),
    }
}

/// A memfd named after the target path (`tether:<path>`), sealable.
fn memfd(path: &[u8], cloexec: bool) -> Result<OwnedFd, i32> {
    let mut name = b"tether:".to_vec();
    name.extend(path.iter().take(240).filter(|b| **b != 0));
    name.push(0);
    let flags = libc::MFD_ALLOW_SEALING | if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: `name` is NUL-terminated.
    let fd = unsafe { libc::memfd_create(name.as_ptr().cast(), flags) };
    if fd < 0 {
        return Err(crate::errno::get());
    }
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `stat` (`follow`) or `lstat` of a target path.
pub fn stat(path: &[u8], follow: bool) -> Result<FileMeta, i32> {
    match proxy::call(Message::FileStat { path: path.to_vec(), follow })? {
        Message::FileStatus(meta) => Ok(meta),
        other => Err(proxy::unexpected(&other)),
    }
}

/// `stat` family: the target file's metadata, or bypass.
pub fn stat_at(dirfd: c_int, path: &CStr, follow: bool) -> Outcome<FileMeta> {
    routed(read_target(dirfd, path), |target| stat(target, follow))
}

/// `fstat` family on `fd`, whose own metadata (the original call's answer) is `own`: the
/// target's metadata for a placeholder directory (asked afresh, as `stat` of its path would)
/// or a target file's memfd ([`memfds`]); bypass (keep `own`) for any other descriptor.
pub fn fd_stat(fd: c_int, own: &libc::stat) -> Outcome<FileMeta> {
    if session::active().is_none() {
        return Outcome::Bypass;
    }
    if let Some(path) = dirs::placeholder_path(fd) {
        return stat(&path, true).into();
    }
    memfds::target_meta(own).map_or(Outcome::Bypass, Outcome::Handled)
}

/// `access` family.
pub fn access_at(dirfd: c_int, path: &CStr, mode: c_int) -> Outcome<c_int> {
    routed(read_target(dirfd, path), |target| done(Message::FileAccess { path: target.to_vec(), mode }))
}

/// `readlink` family: the link's content.
pub fn readlink_at(dirfd: c_int, path: &CStr) -> Outcome<Vec<u8>> {
    routed(read_target(dirfd, path), |target| path_answer(Message::FileReadlink { path: target.to_vec() }))
}

/// `realpath`: the resolved path in the target.
pub fn realpath(path: &CStr) -> Outcome<Vec<u8>> {
    routed(read_target(libc::AT_FDCWD, path), |target| path_answer(Message::FileRealpath { path: target.to_vec() }))
}

/// `unlink` family (`unlinkat` with `AT_REMOVEDIR` is `rmdir`).
pub fn unlink_at(dirfd: c_int, path: &CStr, flags: c_int) -> Outcome<c_int> {
    routed(write_target(dirfd, path), |target| {
        let path = target.to_vec();
        done(if flags & libc::AT_REMOVEDIR != 0 { Message::FileRmdir { path } } else { Message::FileUnlink { path } })
    })
}

/// `mkdir` family.
pub fn mkdir_at(dirfd: c_int, path: &CStr, mode: libc::mode_t) -> Outcome<c_int> {
    routed(write_target(dirfd, path), |target| done(Message::FileMkdir { path: target.to_vec(), mode: mode & 0o7777 }))
}

/// `rename` family: both paths in the target, both on the host, or `EXDEV`. Of the `renameat2`
/// flags, `RENAME_NOREPLACE` (coreutils' `mv` uses it) is checked before the rename; exchange
/// and whiteout have no target counterpart: `EINVAL`, which callers take as "not supported".
pub fn rename_at(from_dirfd: c_int, from: &CStr, to_dirfd: c_int, to: &CStr, flags: c_uint) -> Outcome<c_int> {
    let from = write_target(from_dirfd, from);
    let to = write_target(to_dirfd, to);
    match (from, to) {
        (Err(errno), _) | (_, Err(errno)) => Outcome::Error(errno),
        (Ok(None), Ok(None)) => Outcome::Bypass,
        (Ok(Some(from)), Ok(Some(to))) => rename_in_target(from.as_bytes(), to.as_bytes(), flags).into(),
        _ => Outcome::Error(libc::EXDEV),
    }
}

fn rename_in_target(from: &[u8], to: &[u8], flags: c_uint) -> Result<c_int, i32> {
    match flags {
        0 => {}
        libc::RENAME_NOREPLACE => match stat(to, false) {
            Ok(_) => return Err(libc::EEXIST),
            Err(libc::ENOENT) => {}
            Err(errno) => return Err(errno),
        },
        _ => return Err(libc::EINVAL),
    }
    done(Message::FileRename { from: from.to_vec(), to: to.to_vec() })
}

fn done(request: Message) -> Result<c_int, i32> {
    match proxy::call(request)? {
        Message::Done => Ok(0),
        other => Err(proxy::unexpected(&other)),
    }
}

fn path_answer(request: Message) -> Result<Vec<u8>, i32> {
    match proxy::call(request)? {
        Message::Path(path) => Ok(path),
        other => Err(proxy::unexpected(&other)),
    }
}

/// Drops every piece of layer state attached to `fd` (it is being closed or replaced) and
/// returns the writable target file it was, if any.
fn forget_fd(fd: c_int) -> Option<Arc<writeback::OpenFile>> {
    fds::unmark(fd);
    proxy::forget_fd(fd);
    dirs::forget_placeholder(fd);
    net::forget(fd);
    incoming::forget(fd);
    writeback::forget(fd)
}

/// Drops the layer's state for `fd` and closes it (a descriptor of ours the user never saw).
pub fn abandon(fd: c_int) {
    forget_fd(fd);
    // SAFETY: `fd` was opened by the layer and never handed out.
    unsafe { libc::close(fd) };
}

/// Reads what a writable target file behind `fd` should send before `fd` goes away.
fn snapshot_of(fd: c_int, file: Option<Arc<writeback::OpenFile>>) -> Result<Option<writeback::Snapshot>, i32> {
    file.map_or(Ok(None), |file| writeback::snapshot(fd, file))
}

/// The outcome of `close`/`fclose` of a writable target file: the original's result (`rc`,
/// with the errno it set), or the errno of reading or sending the content.
fn after_write_back(rc: c_int, snapshot: Result<Option<writeback::Snapshot>, i32>) -> Outcome<c_int> {
    if rc < 0 {
        return Outcome::Error(crate::errno::get());
    }
    match snapshot.and_then(writeback::send) {
        Ok(()) => Outcome::Handled(rc),
        Err(errno) => Outcome::Error(errno),
    }
}

/// `dup`, `fcntl(F_DUPFD*)`: a duplicate of a writable target file shares it.
pub fn dup(oldfd: c_int, dup_original: impl FnOnce() -> c_int) -> Outcome<c_int> {
    if !fds::is_marked(oldfd) {
        return Outcome::Bypass;
    }
    let newfd = dup_original();
    if newfd < 0 {
        return Outcome::Error(crate::errno::get());
    }
    writeback::duplicated(oldfd, newfd);
    Outcome::Handled(newfd)
}

/// `dup2`/`dup3` replace `newfd`: a writable target file open there is read and sent back
/// (it may have been its last descriptor; a failure to send is logged), every other state of
/// `newfd` is dropped, and a writable target file at `oldfd` is shared by `newfd` afterwards.
pub fn dup2(oldfd: c_int, newfd: c_int, dup_original: impl FnOnce() -> c_int) -> Outcome<c_int> {
    if oldfd == newfd || !(fds::is_marked(oldfd) || fds::is_marked(newfd)) {
        return Outcome::Bypass;
    }
    let replaced = if fds::is_marked(newfd) { forget_fd(newfd) } else { None };
    let snapshot = snapshot_of(newfd, replaced.clone());
    let rc = dup_original();
    if rc < 0 {
        let errno = crate::errno::get();
        if let Some(file) = replaced {
            writeback::restore(newfd, file);
        }
        return Outcome::Error(errno);
    }
    writeback::duplicated(oldfd, newfd);
    // Unlike `close`, a failure here cannot be reported: the caller would take -1 to mean
    // that `newfd` was not replaced.
    if let Err(errno) = snapshot.and_then(writeback::send) {
        crate::log!("cannot send back the writable target file replaced by dup2 (errno {errno})");
    }
    Outcome::Handled(rc)
}

/// `close`: forgets the fd's state; a writable target file is read, closed and sent back.
pub fn close(fd: c_int, close_original: impl FnOnce() -> c_int) -> Outcome<c_int> {
    if !fds::is_marked(fd) {
        return Outcome::Bypass;
    }
    let Some(file) = forget_fd(fd) else {
        return Outcome::Bypass;
    };
    let snapshot = writeback::snapshot(fd, file);
    let rc = close_original();
    after_write_back(rc, snapshot)
}

/// `fclose` of a stream on a writable target file: flush, read, close, send back.
pub fn fclose(fd: c_int, flush: impl FnOnce(), close_original: impl FnOnce() -> c_int) -> Outcome<c_int> {
    if fd < 0 || !fds::is_marked(fd) {
        return Outcome::Bypass;
    }
    let Some(file) = writeback::lookup(fd) else {
        return Outcome::Bypass;
    };
    flush();
    forget_fd(fd);
    let snapshot = writeback::snapshot(fd, file);
    let rc = close_original();
    after_write_back(rc, snapshot)
}

/// Parses an `fopen` mode into open flags.
pub fn fopen_flags(mode: &[u8]) -> Option<c_int> {
    let (&first, rest) = mode.split_first()?;
    let plus = rest.contains(&b'+');
    let mut flags = match (first, plus) {
        (b'r', false) => libc::O_RDONLY,
        (b'r', true) => libc::O_RDWR,
        (b'w', false) => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        (b'w', true) => libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
        (b'a', false) => libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
        (b'a', true) => libc::O_RDWR | libc::O_CREAT | libc::O_APPEND,
        _ => return None,
    };
    if rest.contains(&b'x') {
        flags |= libc::O_EXCL;
    }
    if rest.contains(&b'e') {
        flags |= libc::O_CLOEXEC;
    }
    Some(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fopen_flags_match_glibc() {
        let cases: [(&str, c_int); 7] = [
            ("r", libc::O_RDONLY),
            ("rb", libc::O_RDONLY),
            ("re", libc::O_RDONLY | libc::O_CLOEXEC),
            ("r+", libc::O_RDWR),
            ("w", libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
            ("a+", libc::O_RDWR | libc::O_CREAT | libc::O_APPEND),
            ("wx", libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_EXCL),
        ];
        for (mode, want) in cases {
            assert_eq!(fopen_flags(mode.as_bytes()), Some(want), "{mode}");
        }
        assert_eq!(fopen_flags(b"q"), None);
        assert_eq!(fopen_flags(b""), None);
    }
}
