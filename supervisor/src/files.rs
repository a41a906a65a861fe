//! Trapped file calls: the same routing as the layer's (`tether_hook_core::route`), the same
//! target side (`tether_hook_core::target`); only how the answer reaches the program differs
//! (a descriptor installed in it, a structure written into its memory).

use tether_hook_core::path::TargetPath;
use tether_hook_core::route::{self, Open, Resolved};
use tether_hook_core::stat;
use tether_hook_core::target::{self, Readable};

use crate::process::Thread;
use crate::seccomp::{Answer, Notification};
use crate::serve::Served;

/// A path argument: the directory descriptor it is relative to and the path's address.
struct PathArg {
    dirfd: i32,
    addr: u64,
}

/// Answers a trapped file call; `None` when `nr` is not a file call.
pub fn answer(served: &Served<'_>, call: &Notification) -> Option<Answer> {
    let args = call.data.args;
    let at = |index: usize| PathArg { dirfd: args[index] as i32, addr: args[index + 1] };
    let cwd = |index: usize| PathArg { dirfd: libc::AT_FDCWD, addr: args[index] };
    let answer = match i64::from(call.data.nr) {
        libc::SYS_open => open(served, call, cwd(0), args[1] as i32),
        libc::SYS_openat => open(served, call, at(0), args[2] as i32),
        libc::SYS_openat2 => match Thread(call.pid).read(args[2], 8) {
            Ok(how) => open(served, call, at(0), u64::from_ne_bytes(how.try_into().expect("8 bytes")) as i32),
            Err(errno) => Answer::Error(errno),
        },
        libc::SYS_stat => stat_into(served, call, cwd(0), true, Layout::Stat(args[1])),
        libc::SYS_lstat => stat_into(served, call, cwd(0), false, Layout::Stat(args[1])),
        libc::SYS_newfstatat => {
            let flags = args[3] as i32;
            stat_into(served, call, at(0), flags & libc::AT_SYMLINK_NOFOLLOW == 0, Layout::Stat(args[2]))
        }
        libc::SYS_statx => {
            let flags = args[2] as i32;
            stat_into(served, call, at(0), flags & libc::AT_SYMLINK_NOFOLLOW == 0, Layout::Statx(args[4]))
        }
        libc::SYS_access => access(served, call, cwd(0), args[1] as i32),
        libc::SYS_faccessat | libc::SYS_faccessat2 => access(served, call, at(0), args[2] as i32),
        libc::SYS_readlink => readlink(served, call, cwd(0), args[1], args[2] as usize),
        libc::SYS_readlinkat => readlink(served, call, at(0), args[2], args[3] as usize),
        libc::SYS_getdents64 => getdents(served, call, args[0] as i32, args[1], args[2] as usize),
        _ => return None,
    };
    Some(answer)
}

/// Resolves a path argument and runs `route` on it: the host's (`Continue`) when the path is
/// not tether's, as in the layer.
fn routed(
    served: &Served<'_>,
    call: &Notification,
    arg: PathArg,
    route: impl FnOnce(Resolved<'_>) -> Answer,
) -> Answer {
    let thread = Thread(call.pid);
    let path = match thread.read_path(arg.addr) {
        Ok(path) => path,
        Err(errno) => return Answer::Error(errno),
    };
    // The thread may have gone (and its id been reused) while its memory was read.
    if !served.listener.is_valid(call.id) {
        return Answer::Continue;
    }
    let base = if path.starts_with(b"/") {
        None
    } else if arg.dirfd == libc::AT_FDCWD {
        thread.cwd().map(OwnedBase::Cwd)
    } else {
        match thread.fd_path(arg.dirfd).and_then(|dir| served.placeholders.target_of(&dir)) {
            Some(target) => Some(OwnedBase::TargetDir(target)),
            None => return Answer::Continue,
        }
    };
    let base = match &base {
        None => route::Base::None,
        Some(OwnedBase::Cwd(cwd)) => route::Base::Cwd(cwd),
        Some(OwnedBase::TargetDir(dir)) => route::Base::TargetDir(dir),
    };
    match route::resolve(&served.policy, &path, base) {
        Some(resolved) => route(resolved),
        None => Answer::Continue,
    }
}

/// The owned form of [`route::Base`], read from `/proc`.
enum OwnedBase {
    Cwd(Vec<u8>),
    TargetDir(Vec<u8>),
}

/// A read-like call's target path, or the host's answer.
fn for_read(resolved: Resolved<'_>, on_target: impl FnOnce(&[u8]) -> Answer) -> Answer {
    match route::for_read(resolved) {
        Err(errno) => Answer::Error(errno),
        Ok(None) => Answer::Continue,
        Ok(Some(path)) => on_target(path.as_bytes()),
    }
}

fn open(served: &Served<'_>, call: &Notification, arg: PathArg, flags: i32) -> Answer {
    routed(served, call, arg, |resolved| match route::for_open(resolved, flags) {
        Open::Host | Open::HostWriteOfTargetFile => Answer::Continue,
        Open::Error(errno) => Answer::Error(errno),
        Open::Read(path) => open_readable(served, call, &path, flags),
        Open::Write(_) => {
            served.session.log("a write to a target file: not served by the supervisor yet (EROFS)");
            Answer::Error(libc::EROFS)
        }
    })
}

fn open_readable(served: &Served<'_>, call: &Notification, path: &TargetPath<'_>, flags: i32) -> Answer {
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let fd = match target::open_readable(&served.requests, path.as_bytes(), flags) {
        Ok(Readable::File(fd, _)) => fd,
        Ok(Readable::Directory) => match served.placeholders.open(path.as_bytes()) {
            Ok(fd) => fd,
            Err(errno) => return Answer::Error(errno),
        },
        Err(errno) => return Answer::Error(errno),
    };
    served.listener.send_fd(call.id, &fd, cloexec)
}

/// Where a `stat` family call writes its answer.
#[derive(Clone, Copy)]
enum Layout {
    Stat(u64),
    Statx(u64),
}

fn stat_into(served: &Served<'_>, call: &Notification, arg: PathArg, follow: bool, layout: Layout) -> Answer {
    let thread = Thread(call.pid);
    let write = |path: &[u8]| {
        let meta = match target::stat(&served.requests, path, follow) {
            Ok(meta) => meta,
            Err(errno) => return Answer::Error(errno),
        };
        let written = match layout {
            Layout::Stat(addr) => thread.write_struct(addr, &stat::to_stat(&meta)),
            Layout::Statx(addr) => thread.write_struct(addr, &stat::to_statx(&meta)),
        };
        written.map_or_else(Answer::Error, |()| Answer::Value(0))
    };
    if arg.dirfd != libc::AT_FDCWD && thread.read(arg.addr, 1).is_ok_and(|first| first == [0]) {
        // fstatat(fd, "", AT_EMPTY_PATH): the descriptor itself.
        return match thread.fd_path(arg.dirfd).and_then(|dir| served.placeholders.target_of(&dir)) {
            Some(target) => write(&target),
            None => Answer::Continue,
        };
    }
    routed(served, call, arg, |resolved| for_read(resolved, write))
}

fn access(served: &Served<'_>, call: &Notification, arg: PathArg, mode: i32) -> Answer {
    routed(served, call, arg, |resolved| {
        for_read(resolved, |path| match target::access(&served.requests, path, mode) {
            Ok(()) => Answer::Value(0),
            Err(errno) => Answer::Error(errno),
        })
    })
}

fn readlink(served: &Served<'_>, call: &Notification, arg: PathArg, buf: u64, size: usize) -> Answer {
    routed(served, call, arg, |resolved| {
        for_read(resolved, |path| match target::readlink(&served.requests, path) {
            Ok(link) => {
                let shown = &link[..link.len().min(size)];
                Thread(call.pid).write(buf, shown).map_or_else(Answer::Error, |()| Answer::Value(shown.len() as i64))
            }
            Err(errno) => Answer::Error(errno),
        })
    })
}

/// `getdents64` on a placeholder: the target directory's entries as `linux_dirent64` records.
fn getdents(served: &Served<'_>, call: &Notification, fd: i32, buf: u64, size: usize) -> Answer {
    let thread = Thread(call.pid);
    let Some(path) = thread.fd_path(fd).filter(|path| served.placeholders.target_of(path).is_some()) else {
        return Answer::Continue;
    };
    let mut out = Vec::with_capacity(size.min(1 << 16));
    let listed = served.placeholders.next_entries(
        &path,
        |target| target::list(&served.requests, target),
        |entry| {
            let record = dirent(entry, out.len());
            if out.len() + record.len() > size {
                return false;
            }
            out.extend_from_slice(&record);
            true
        },
    );
    match listed {
        Err(errno) => Answer::Error(errno),
        Ok(()) if out.is_empty() && size > 0 && has_more(served, &path) => Answer::Error(libc::EINVAL),
        Ok(()) => thread.write(buf, &out).map_or_else(Answer::Error, |()| Answer::Value(out.len() as i64)),
    }
}

/// Whether entries remain after a call that took none (the buffer too small for the next).
fn has_more(served: &Served<'_>, path: &[u8]) -> bool {
    let mut more = false;
    let _ = served.placeholders.next_entries(
        path,
        |_| Ok(Vec::new()),
        |_| {
            more = true;
            false
        },
    );
    more
}

/// One `linux_dirent64`: inode, offset of the next record, length, type, NUL-terminated name,
/// padded to 8 bytes. Inode 0 would be a deleted entry to readers (Go skips them): `.` and
/// `..` get 1.
fn dirent(entry: &tether_rpc_schema::wire::DirEntry, at: usize) -> Vec<u8> {
    let len = (19 + entry.name.len() + 1 + 7) & !7;
    let mut record = Vec::with_capacity(len);
    record.extend_from_slice(&entry.ino.max(1).to_ne_bytes());
    record.extend_from_slice(&((at + len) as i64).to_ne_bytes());
    record.extend_from_slice(&(len as u16).to_ne_bytes());
    record.push(entry.kind);
    record.extend_from_slice(&entry.name);
    record.resize(len, 0);
    record
}
