//! Writable target files: the memfd behind a target-writable open is one "open file" shared by
//! every descriptor duplicated from it, and its whole content is sent back with `FileWrite`.
//!
//! When content is sent (see [`crate::files`] for the fd side):
//! - on every `close` of a descriptor of the file, on `dup2`/`dup3` over one, on `fclose` of
//!   a stream over one;
//! - at process exit for every file still open ([`flush_at_exit`], run from `.fini_array`
//!   during `exit()` or a return from `main`). `_exit` and fatal signals cannot be caught:
//!   content written since the last close is then lost.
//!
//! A send is skipped when the content equals what this process last sent (a digest of size
//! and bytes), so many descriptors of one file closing one after another send once. A forked
//! child that inherited a file sends only when the memfd changed after the fork: a child that
//! did not write must not overwrite the target with a stale copy while its parent goes on.
//! A descriptor is checked to still be the same memfd (device and inode) before it is read, so
//! one closed behind the layer's back (`close_range`, a raw syscall) is never mistaken for it.
//!
//! `execve` replaces the layer's memory but keeps the descriptors: the files whose descriptors
//! survive it are handed to the new program's layer in [`HANDOFF_VAR`] ([`handoff`], [`adopt`]),
//! so `sh -c 'exec-ed-program > /target/file'` still sends what the program wrote.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use libc::c_int;
use tether_rpc_schema::wire::Message;

use crate::{fds, guard, proxy};

/// One writable target file, shared by the descriptors duplicated from its memfd.
pub struct OpenFile {
    /// The target path it is sent back to.
    path: Vec<u8>,
    /// Permission bits sent with `FileWrite`.
    mode: u32,
    /// The process that opened it; any other pid is a forked child that inherited it.
    owner_pid: u32,
    /// `(st_dev, st_ino)` of the memfd, to recognise its descriptors.
    memfd: (u64, u64),
    /// Digest of the content this process last sent; 0 until the first send, so a file that
    /// was created and never written is still created in the target.
    sent: AtomicU64,
}

/// Descriptor → open file. Held only for map operations, never across I/O.
static TABLE: LazyLock<Mutex<HashMap<c_int, Arc<OpenFile>>>> = LazyLock::new(Mutex::default);

/// Takes this module's registry locks before a fork ([`crate::forks`]).
pub fn hold_for_fork(guards: &mut Vec<Box<dyn std::any::Any>>) {
    crate::guard::hold_for_fork(&TABLE, guards);
}

/// When this process was forked (coarse realtime clock, ns), set by the fork handler in the
/// child; 0 in a process that is not a forked child.
static FORKED_AT_NS: AtomicI64 = AtomicI64::new(0);

/// Starts tracking `fd`, a memfd just filled for the writable target file `path`.
pub fn track(fd: c_int, path: &[u8], mode: u32) {
    let Ok(st) = fstat(fd) else {
        crate::log!("cannot fstat a new writable memfd: its content will not be sent back");
        return;
    };
    // SAFETY: getpid has no preconditions.
    let owner_pid = unsafe { libc::getpid() } as u32;
    let file =
        OpenFile { path: path.to_vec(), mode, owner_pid, memfd: (st.st_dev, st.st_ino), sent: AtomicU64::new(0) };
    if let Ok(mut table) = TABLE.lock() {
        table.insert(fd, Arc::new(file));
        fds::mark(fd);
    }
}

/// `to` is now a duplicate of `from` (`dup`, `dup2`, `dup3`, `fcntl(F_DUPFD*)`): if `from` is a
/// writable target file, `to` shares it.
pub fn duplicated(from: c_int, to: c_int) {
    let Ok(mut table) = TABLE.lock() else { return };
    if let Some(file) = table.get(&from).cloned() {
        table.insert(to, file);
        fds::mark(to);
    }
}

/// The open file behind `fd`, if it is one.
pub fn lookup(fd: c_int) -> Option<Arc<OpenFile>> {
    TABLE.lock().ok()?.get(&fd).cloned()
}

/// Stops tracking `fd` (it is being closed or replaced); returns its open file.
pub fn forget(fd: c_int) -> Option<Arc<OpenFile>> {
    TABLE.lock().ok()?.remove(&fd)
}

/// Tracks `fd` again after a replacement that failed (the descriptor stayed open).
pub fn restore(fd: c_int, file: Arc<OpenFile>) {
    if let Ok(mut table) = TABLE.lock() {
        table.insert(fd, file);
        fds::mark(fd);
    }
}

/// Content read from an open file, to send once its descriptor is closed.
pub struct Snapshot {
    file: Arc<OpenFile>,
    data: Vec<u8>,
    digest: u64,
}

/// Reads the content of `file` through `fd` (still open) when it should be sent: `Ok(None)`
/// when it is unchanged since the last send, when `fd` is no longer its memfd, or when this is
/// a forked child that did not change it.
pub fn snapshot(fd: c_int, file: Arc<OpenFile>) -> Result<Option<Snapshot>, i32> {
    let st = fstat(fd)?;
    if (st.st_dev, st.st_ino) != file.memfd {
        crate::log!("descriptor {fd} no longer holds its writable target file; not sending it");
        return Ok(None);
    }
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } as u32 != file.owner_pid && !changed_since_fork(&st) {
        return Ok(None);
    }
    let data = read_all(fd, st.st_size)?;
    let digest = digest(&data);
    if file.sent.load(Ordering::Relaxed) == digest {
        return Ok(None);
    }
    Ok(Some(Snapshot { file, data, digest }))
}

/// Sends a snapshot (nothing for `None`) with `FileWrite`.
pub fn send(snapshot: Option<Snapshot>) -> Result<(), i32> {
    let Some(Snapshot { file, data, digest }) = snapshot else {
        return Ok(());
    };
    let request = Message::FileWrite { path: file.path.clone(), data, append: false, mode: file.mode };
    match proxy::call(request)? {
        Message::Done => {
            file.sent.store(digest, Ordering::Relaxed);
            Ok(())
        }
        other => Err(proxy::unexpected(&other)),
    }
}

/// Sends every writable target file still open. Runs from `.fini_array`, i.e. during `exit()`
/// after the `atexit` handlers, but before glibc flushes stdio: streams are flushed first so
/// buffered output to a target file is part of its content.
fn flush_at_exit() {
    let open: Vec<(c_int, Arc<OpenFile>)> = match TABLE.try_lock() {
        Ok(table) if !table.is_empty() => table.iter().map(|(fd, file)| (*fd, Arc::clone(file))).collect(),
        _ => return,
    };
    // SAFETY: fflush(NULL) flushes every open output stream; stdio is still alive here.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let mut done: Vec<*const OpenFile> = Vec::new();
    for (fd, file) in open {
        if done.contains(&Arc::as_ptr(&file)) {
            continue;
        }
        done.push(Arc::as_ptr(&file));
        if let Err(errno) = snapshot(fd, file).and_then(send) {
            crate::log!("cannot send a writable target file at exit (errno {errno})");
        }
    }
}

extern "C" fn on_exit() {
    if !guard::enter() {
        return;
    }
    if std::panic::catch_unwind(flush_at_exit).is_err() {
        crate::log!("internal error (panic) while sending writable target files at exit");
    }
    guard::leave();
}

// Runs for `exit()` and a return from `main` (glibc's `_dl_fini`), not for `_exit`.
#[used]
#[link_section = ".fini_array"]
static ON_EXIT: extern "C" fn() = on_exit;

/// The variable that carries the open files across `execve`:
/// `<fork time>;<fd>:<dev>:<ino>:<mode>:<owner pid>:<sent digest>:<hex path>;...`.
pub const HANDOFF_VAR: &str = "TETHER_WRITEBACK";

/// `TETHER_WRITEBACK=...` for the environment of an `execve`: the open files whose descriptors
/// stay open across it, or `None` when there are none.
pub fn handoff() -> Option<Vec<u8>> {
    let table = TABLE.lock().ok()?;
    // A child made by `vfork` or `clone` (shells spawn with them) saw no fork handler: for the
    // program it starts, the hand-over is the moment it inherits the files.
    let forked_at = match FORKED_AT_NS.load(Ordering::Relaxed) {
        0 => coarse_now_ns(),
        at => at,
    };
    let mut entry = format!("{HANDOFF_VAR}={forked_at}");
    let mut any = false;
    for (fd, file) in table.iter() {
        // SAFETY: F_GETFD takes no argument and only reads the descriptor's flags.
        let flags = unsafe { libc::fcntl(*fd, libc::F_GETFD) };
        if flags < 0 || flags & libc::FD_CLOEXEC != 0 {
            continue;
        }
        let path: String = file.path.iter().map(|byte| format!("{byte:02x}")).collect();
        let (dev, ino) = file.memfd;
        let sent = file.sent.load(Ordering::Relaxed);
        entry.push_str(&format!(";{fd}:{dev}:{ino}:{}:{}:{sent}:{path}", file.mode, file.owner_pid));
        any = true;
    }
    any.then(|| entry.into_bytes())
}

/// Takes over the open files an `execve` handed to this program ([`handoff`]); entries whose
/// descriptor is not that memfd any more are dropped.
pub fn adopt(value: &[u8]) {
    let Some((forked_at, entries)) = std::str::from_utf8(value).ok().and_then(|text| text.split_once(';')) else {
        crate::log!("ignoring a malformed {HANDOFF_VAR}");
        return;
    };
    FORKED_AT_NS.store(forked_at.parse().unwrap_or(0), Ordering::Relaxed);
    for entry in entries.split(';') {
        match parse_handed(entry) {
            Some((fd, file)) if fstat(fd).is_ok_and(|st| (st.st_dev, st.st_ino) == file.memfd) => {
                if let Ok(mut table) = TABLE.lock() {
                    table.insert(fd, Arc::new(file));
                    fds::mark(fd);
                }
            }
            _ => crate::log!("not adopting a handed-over writable target file: {entry:?}"),
        }
    }
}

fn parse_handed(entry: &str) -> Option<(c_int, OpenFile)> {
    let mut fields = entry.split(':');
    let mut number = || fields.next()?.parse::<u64>().ok();
    let (fd, dev, ino, mode, owner_pid, sent) = (number()?, number()?, number()?, number()?, number()?, number()?);
    let hex = fields.next()?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    let path = hex
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let file = OpenFile {
        path,
        mode: mode.try_into().ok()?,
        owner_pid: owner_pid.try_into().ok()?,
        memfd: (dev, ino),
        sent: AtomicU64::new(sent),
    };
    Some((fd.try_into().ok()?, file))
}

/// Called in a forked child ([`crate::forks`]): remembers when the fork happened.
/// Async-signal-safe (one vDSO clock read and an atomic store).
pub fn forked() {
    FORKED_AT_NS.store(coarse_now_ns(), Ordering::Relaxed);
}

/// The coarse realtime clock in nanoseconds (one vDSO read).
fn coarse_now_ns() -> i64 {
    // SAFETY: timespec is plain data; all-zero is valid.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) };
    now.tv_sec * 1_000_000_000 + now.tv_nsec
}

/// Whether the memfd was modified after this process was forked. The coarse clock never runs
/// ahead of file timestamps, so a write after the fork is never missed; a write in the same
/// clock tick just before the fork also counts (a harmless extra send). Unknown fork time
/// (a child not made by `fork`) counts as unchanged.
fn changed_since_fork(st: &libc::stat) -> bool {
    let forked_at = FORKED_AT_NS.load(Ordering::Relaxed);
    forked_at != 0 && st.st_mtime * 1_000_000_000 + st.st_mtime_nsec >= forked_at
}

fn fstat(fd: c_int) -> Result<libc::stat, i32> {
    // SAFETY: struct stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; fstat checks `fd` itself.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(crate::errno::get());
    }
    Ok(st)
}

/// The whole content of the memfd, read with `pread` so the descriptor's offset is untouched.
fn read_all(fd: c_int, size: i64) -> Result<Vec<u8>, i32> {
    let mut data = vec![0u8; size.max(0) as usize];
    let mut done = 0;
    while done < data.len() {
        // SAFETY: the destination is within `data`; `fd` is the memfd (checked by the caller).
        let n = unsafe { libc::pread(fd, data[done..].as_mut_ptr().cast(), data.len() - done, done as i64) };
        match n {
            0 => break,
            n if n < 0 && crate::errno::get() == libc::EINTR => continue,
            n if n < 0 => return Err(crate::errno::get()),
            n => done += n as usize,
        }
    }
    data.truncate(done);
    Ok(data)
}

/// A digest of `data` (never 0, which means "never sent").
fn digest(data: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write_usize(data.len());
    hasher.write(data);
    hasher.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_differs_for_content_and_is_never_zero() {
        assert_ne!(digest(b""), 0);
        assert_ne!(digest(b"hi\n"), digest(b""));
        assert_eq!(digest(b"hi\n"), digest(b"hi\n"));
    }

    #[test]
    fn changed_since_fork_without_a_fork_is_false() {
        // SAFETY: all-zero struct stat is valid.
        let st: libc::stat = unsafe { std::mem::zeroed() };
        assert!(!changed_since_fork(&st));
    }

    #[test]
    fn parse_handed_reads_an_entry_and_rejects_damaged_ones() {
        let (fd, file) = parse_handed("1:9:3416:420:77:5:2f6574632f78").unwrap();
        assert_eq!((fd, file.memfd, file.mode, file.owner_pid), (1, (9, 3416), 0o644, 77));
        assert_eq!((file.path.as_slice(), file.sent.load(Ordering::Relaxed)), (b"/etc/x".as_slice(), 5));
        for damaged in ["", "1:9:3416:420:77:5", "1:9:3416:420:77:5:2f6", "1:9:x:420:77:5:2f", "-1:9:1:420:77:5:2f"] {
            assert!(parse_handed(damaged).is_none(), "{damaged:?}");
        }
    }
}
