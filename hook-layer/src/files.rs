//! File logic: where a path argument points, and the target side of `open`, `stat`,
//! `access`, `readlink`, `realpath`, writes and namespace changes.
//!
//! A file opened from the target is a real fd: a memfd holding the content (sealed when
//! read-only), so `read`, `mmap`, `dup` work without hooks; the `fstat` family reports the
//! target file's metadata for it ([`memfds`]). A writable target file
//! is tracked across `dup`s and sent back with `FileWrite` (see [`crate::writeback`]) when a
//! descriptor of it is closed or replaced, and at exit.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::sync::Arc;

use libc::{c_int, c_uint};
use tether_hook_core::path::TargetPath;
use tether_hook_core::route::{self, Base, Resolved};
use tether_hook_core::target::{self, Readable};
use tether_hook_core::{policy::Policy, stat};
use tether_rpc_schema::wire::{FileMeta, Message};

use crate::guard::Outcome;
use crate::proxy::Requests;
use crate::{cwd, dirs, fds, incoming, memfds, net, proxy, session, writeback};

/// Resolves `(dirfd, path)`; `None` means the call is not ours (inert layer, a real directory
/// fd, an empty or over-long path).
pub fn resolve(dirfd: c_int, path: &CStr) -> Option<Resolved<'_>> {
    let policy = session::active()?;
    resolve_with(policy, dirfd, path.to_bytes())
}

fn resolve_with<'a>(policy: &Policy, dirfd: c_int, path: &'a [u8]) -> Option<Resolved<'a>> {
    if path.starts_with(b"/") {
        route::resolve(policy, path, Base::None)
    } else if dirfd != libc::AT_FDCWD {
        let base = dirs::placeholder_path(dirfd)?;
        route::resolve(policy, path, Base::TargetDir(&base))
    } else {
        cwd::with_cwd(|cwd| route::resolve(policy, path, Base::Cwd(cwd)))
    }
}

/// Where a read-like operation (stat, access, readlink, opendir ...) goes: `Ok(Some(path))`
/// for the target, `Ok(None)` for the host, `Err` for `not_found` rules.
pub fn read_target(dirfd: c_int, path: &CStr) -> Result<Option<TargetPath<'_>>, i32> {
    resolve(dirfd, path).map_or(Ok(None), route::for_read)
}

/// Where a write-like operation (unlink, mkdir, rename ...) goes (see [`read_target`]).
pub fn write_target(dirfd: c_int, path: &CStr) -> Result<Option<TargetPath<'_>>, i32> {
    resolve(dirfd, path).map_or(Ok(None), route::for_write)
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
    match route::for_open(resolved, flags) {
        route::Open::Host => Outcome::Bypass,
        route::Open::Error(errno) => Outcome::Error(errno),
        route::Open::Read(target) => open_readable(target.as_bytes(), flags).into(),
        route::Open::Write(target) => open_writable(target.as_bytes(), flags, mode).into(),
        route::Open::HostWriteOfTargetFile => {
            hint_writes_stay_on_the_host(path);
            Outcome::Bypass
        }
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
    match target::open_readable(&Requests, path, flags)? {
        Readable::Directory => dirs::open_placeholder(path, flags & libc::O_CLOEXEC != 0),
        Readable::File(fd, meta) => {
            memfds::register(fd.as_raw_fd(), meta);
            Ok(fd.into_raw_fd())
        }
    }
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
    let fd = target::memfd(path, flags & libc::O_CLOEXEC != 0)?;
    if existing.is_some() && flags & libc::O_TRUNC == 0 {
        let first = target::read_chunk(&Requests, path, 0)?;
        target::fill(&Requests, &fd, path, first)?;
    }
    target::rewind(&fd, flags & libc::O_APPEND != 0)?;
    if let Some(target) = existing {
        memfds::register(fd.as_raw_fd(), target);
    }
    let file_mode = existing.map_or(mode & 0o7777, |meta| meta.mode & 0o7777);
    let fd = fd.into_raw_fd();
    writeback::track(fd, path, file_mode);
    Ok(fd)
}

/// `stat` (`follow`) or `lstat` of a target path.
pub fn stat(path: &[u8], follow: bool) -> Result<FileMeta, i32> {
    target::stat(&Requests, path, follow)
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
    routed(read_target(dirfd, path), |path| target::access(&Requests, path, mode).map(|()| 0))
}

/// `readlink` family: the link's content.
pub fn readlink_at(dirfd: c_int, path: &CStr) -> Outcome<Vec<u8>> {
    routed(read_target(dirfd, path), |path| target::readlink(&Requests, path))
}

/// `realpath`: the resolved path in the target.
pub fn realpath(path: &CStr) -> Outcome<Vec<u8>> {
    routed(read_target(libc::AT_FDCWD, path), |path| target::realpath(&Requests, path))
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
    target::done(&Requests, request).map(|()| 0)
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
