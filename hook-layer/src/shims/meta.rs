//! Shims about paths without opening them: the `stat` family (old `__xstat` ABI and `statx`
//! included), `access`, `readlink`, `realpath`, and `unlink`/`mkdir`/`rmdir`/`rename`; and the
//! `fstat` family, whose target files' descriptors report the target's metadata like `stat` of
//! their paths.

use libc::{c_char, c_int, size_t, ssize_t};

use tether_hook_core::stat;

use super::on_path;
use crate::files;
use crate::guard::{self, Outcome};

type StatFn = unsafe extern "C" fn(*const c_char, *mut libc::stat) -> c_int;
type FstatFn = unsafe extern "C" fn(c_int, *mut libc::stat) -> c_int;
type FxstatFn = unsafe extern "C" fn(c_int, c_int, *mut libc::stat) -> c_int;
type StatAtFn = unsafe extern "C" fn(c_int, *const c_char, *mut libc::stat, c_int) -> c_int;
type XstatFn = unsafe extern "C" fn(c_int, *const c_char, *mut libc::stat) -> c_int;
type FxstatAtFn = unsafe extern "C" fn(c_int, c_int, *const c_char, *mut libc::stat, c_int) -> c_int;
type AccessFn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type PathFn = unsafe extern "C" fn(*const c_char) -> c_int;

/// Whether a `*at` call names the descriptor itself (`AT_EMPTY_PATH` with an empty path; a
/// null path counts as empty, as the kernel takes it since Linux 6.11).
fn names_the_fd(path: *const c_char, flags: c_int) -> bool {
    // SAFETY: a non-null path argument is NUL-terminated (the caller's contract with libc).
    flags & libc::AT_EMPTY_PATH != 0 && (path.is_null() || unsafe { *path == 0 })
}

/// The `fstat` family: `own` (the original call) fills `buf` with the descriptor's own
/// metadata, which the target's replaces for a target file's descriptor.
fn fstat_into(fd: c_int, buf: *mut libc::stat, own: impl FnOnce() -> c_int) -> Outcome<c_int> {
    if own() != 0 {
        return Outcome::Error(crate::errno::get());
    }
    // SAFETY: the original call succeeded, so `buf` (the caller's struct stat) is filled.
    match files::fd_stat(fd, unsafe { &*buf }) {
        // SAFETY: as above.
        Outcome::Handled(meta) => unsafe { buf.write(stat::to_stat(&meta)) },
        Outcome::Error(errno) => return Outcome::Error(errno),
        Outcome::Bypass => {}
    }
    Outcome::Handled(0)
}

/// Fills `buf` from the target's metadata of `(dirfd, path)`; `own` is the original call,
/// used when the call names the descriptor `dirfd` itself.
fn stat_into(
    dirfd: c_int,
    path: *const c_char,
    buf: *mut libc::stat,
    flags: c_int,
    own: impl FnOnce() -> c_int,
) -> Outcome<c_int> {
    if names_the_fd(path, flags) {
        return fstat_into(dirfd, buf, own);
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    on_path(path, |path| files::stat_at(dirfd, path, follow)).map(|meta| {
        // SAFETY: `buf` is the caller's struct stat (stat's contract).
        unsafe { buf.write(stat::to_stat(&meta)) };
        0
    })
}

macro_rules! stat_shim {
    ($name:ident, $symbol:literal, $flags:expr) => {
        #[doc = concat!("`", $symbol, "(2)`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, buf: *mut libc::stat) -> c_int {
            let original = original!($symbol, StatFn);
            let own = || call_original!(original, -1, path, buf);
            guard::run(-1, || stat_into(libc::AT_FDCWD, path, buf, $flags, own), own)
        }
    };
}

stat_shim!(stat, "stat", 0);
stat_shim!(stat64, "stat64", 0);
stat_shim!(lstat, "lstat", libc::AT_SYMLINK_NOFOLLOW);
stat_shim!(lstat64, "lstat64", libc::AT_SYMLINK_NOFOLLOW);

macro_rules! xstat_shim {
    ($name:ident, $symbol:literal, $flags:expr) => {
        #[doc = concat!("`", $symbol, "`: the pre-2.33 glibc ABI of `stat`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name(version: c_int, path: *const c_char, buf: *mut libc::stat) -> c_int {
            let original = original!($symbol, XstatFn);
            let own = || call_original!(original, -1, version, path, buf);
            guard::run(-1, || stat_into(libc::AT_FDCWD, path, buf, $flags, own), own)
        }
    };
}

xstat_shim!(__xstat, "__xstat", 0);
xstat_shim!(__xstat64, "__xstat64", 0);
xstat_shim!(__lxstat, "__lxstat", libc::AT_SYMLINK_NOFOLLOW);
xstat_shim!(__lxstat64, "__lxstat64", libc::AT_SYMLINK_NOFOLLOW);

macro_rules! fstat_shim {
    ($name:ident, $symbol:literal) => {
        #[doc = concat!("`", $symbol, "(2)`: a target file's descriptor reports the target's metadata.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *mut libc::stat) -> c_int {
            let original = original!($symbol, FstatFn);
            let own = || call_original!(original, -1, fd, buf);
            guard::run(-1, || fstat_into(fd, buf, own), own)
        }
    };
}

fstat_shim!(fstat, "fstat");
fstat_shim!(fstat64, "fstat64");

macro_rules! fxstat_shim {
    ($name:ident, $symbol:literal) => {
        #[doc = concat!("`", $symbol, "`: the pre-2.33 glibc ABI of `fstat`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name(version: c_int, fd: c_int, buf: *mut libc::stat) -> c_int {
            let original = original!($symbol, FxstatFn);
            let own = || call_original!(original, -1, version, fd, buf);
            guard::run(-1, || fstat_into(fd, buf, own), own)
        }
    };
}

fxstat_shim!(__fxstat, "__fxstat");
fxstat_shim!(__fxstat64, "__fxstat64");

/// `fstatat(2)`.
#[no_mangle]
pub unsafe extern "C" fn fstatat(dirfd: c_int, path: *const c_char, buf: *mut libc::stat, flags: c_int) -> c_int {
    let original = original!("fstatat", StatAtFn);
    let own = || call_original!(original, -1, dirfd, path, buf, flags);
    guard::run(-1, || stat_into(dirfd, path, buf, flags, own), own)
}

/// `fstatat64(2)`.
#[no_mangle]
pub unsafe extern "C" fn fstatat64(dirfd: c_int, path: *const c_char, buf: *mut libc::stat, flags: c_int) -> c_int {
    let original = original!("fstatat64", StatAtFn);
    let own = || call_original!(original, -1, dirfd, path, buf, flags);
    guard::run(-1, || stat_into(dirfd, path, buf, flags, own), own)
}

/// `__fxstatat`: the pre-2.33 ABI of `fstatat`.
#[no_mangle]
pub unsafe extern "C" fn __fxstatat(
    version: c_int,
    dirfd: c_int,
    path: *const c_char,
    buf: *mut libc::stat,
    flags: c_int,
) -> c_int {
    let original = original!("__fxstatat", FxstatAtFn);
    let own = || call_original!(original, -1, version, dirfd, path, buf, flags);
    guard::run(-1, || stat_into(dirfd, path, buf, flags, own), own)
}

/// `__fxstatat64`.
#[no_mangle]
pub unsafe extern "C" fn __fxstatat64(
    version: c_int,
    dirfd: c_int,
    path: *const c_char,
    buf: *mut libc::stat,
    flags: c_int,
) -> c_int {
    let original = original!("__fxstatat64", FxstatAtFn);
    let own = || call_original!(original, -1, version, dirfd, path, buf, flags);
    guard::run(-1, || stat_into(dirfd, path, buf, flags, own), own)
}

/// `statx` (the function, and `syscall(SYS_statx, ..)`); `own` is the original call, which
/// answers for the descriptor itself before a target file's metadata replaces its answer.
pub(super) fn statx_logic(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    buf: *mut libc::statx,
    own: impl FnOnce() -> c_int,
) -> Outcome<c_int> {
    if names_the_fd(path, flags) {
        if own() != 0 {
            return Outcome::Error(crate::errno::get());
        }
        // SAFETY: the original call succeeded, so `buf` (the caller's struct statx) is filled.
        let identity = stat::identity_of_statx(unsafe { &*buf });
        return match files::fd_stat(dirfd, &identity) {
            Outcome::Handled(meta) => {
                // SAFETY: as above.
                unsafe { buf.write(stat::to_statx(&meta)) };
                Outcome::Handled(0)
            }
            Outcome::Error(errno) => Outcome::Error(errno),
            Outcome::Bypass => Outcome::Handled(0),
        };
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    on_path(path, |path| files::stat_at(dirfd, path, follow)).map(|meta| {
        // SAFETY: `buf` is the caller's struct statx (statx's contract).
        unsafe { buf.write(stat::to_statx(&meta)) };
        0
    })
}

/// `statx(2)`.
#[no_mangle]
pub unsafe extern "C" fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: libc::c_uint,
    buf: *mut libc::statx,
) -> c_int {
    let original =
        original!("statx", unsafe extern "C" fn(c_int, *const c_char, c_int, libc::c_uint, *mut libc::statx) -> c_int);
    let own = || call_original!(original, -1, dirfd, path, flags, mask, buf);
    guard::run(-1, || statx_logic(dirfd, path, flags, buf, own), own)
}

fn access_logic(dirfd: c_int, path: *const c_char, mode: c_int) -> Outcome<c_int> {
    on_path(path, |path| files::access_at(dirfd, path, mode))
}

/// `access(2)`.
#[no_mangle]
pub unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    let original = original!("access", AccessFn);
    guard::run(-1, || access_logic(libc::AT_FDCWD, path, mode), || call_original!(original, -1, path, mode))
}

/// `euidaccess(3)`.
#[no_mangle]
pub unsafe extern "C" fn euidaccess(path: *const c_char, mode: c_int) -> c_int {
    let original = original!("euidaccess", AccessFn);
    guard::run(-1, || access_logic(libc::AT_FDCWD, path, mode), || call_original!(original, -1, path, mode))
}

/// `eaccess(3)`.
#[no_mangle]
pub unsafe extern "C" fn eaccess(path: *const c_char, mode: c_int) -> c_int {
    let original = original!("eaccess", AccessFn);
    guard::run(-1, || access_logic(libc::AT_FDCWD, path, mode), || call_original!(original, -1, path, mode))
}

/// `faccessat(2)`.
#[no_mangle]
pub unsafe extern "C" fn faccessat(dirfd: c_int, path: *const c_char, mode: c_int, flags: c_int) -> c_int {
    let original = original!("faccessat", unsafe extern "C" fn(c_int, *const c_char, c_int, c_int) -> c_int);
    guard::run(-1, || access_logic(dirfd, path, mode), || call_original!(original, -1, dirfd, path, mode, flags))
}

/// Copies a link's content like `readlink` does: truncated to `size`, no NUL.
fn readlink_logic(dirfd: c_int, path: *const c_char, buf: *mut c_char, size: size_t) -> Outcome<ssize_t> {
    on_path(path, |path| files::readlink_at(dirfd, path)).map(|target| {
        let len = target.len().min(size);
        // SAFETY: `buf` is the caller's buffer of `size` bytes (readlink's contract).
        unsafe { std::ptr::copy_nonoverlapping(target.as_ptr(), buf.cast::<u8>(), len) };
        len as ssize_t
    })
}

/// `readlink(2)`.
#[no_mangle]
pub unsafe extern "C" fn readlink(path: *const c_char, buf: *mut c_char, size: size_t) -> ssize_t {
    let original = original!("readlink", unsafe extern "C" fn(*const c_char, *mut c_char, size_t) -> ssize_t);
    guard::run(-1, || readlink_logic(libc::AT_FDCWD, path, buf, size), || call_original!(original, -1, path, buf, size))
}

/// `readlinkat(2)`.
#[no_mangle]
pub unsafe extern "C" fn readlinkat(dirfd: c_int, path: *const c_char, buf: *mut c_char, size: size_t) -> ssize_t {
    let original = original!("readlinkat", unsafe extern "C" fn(c_int, *const c_char, *mut c_char, size_t) -> ssize_t);
    guard::run(-1, || readlink_logic(dirfd, path, buf, size), || call_original!(original, -1, dirfd, path, buf, size))
}

/// `realpath` into `resolved` (`PATH_MAX` bytes, or `limit` for `__realpath_chk`), or a
/// malloc'd string when `resolved` is null, as glibc does.
fn realpath_logic(path: *const c_char, resolved: *mut c_char, limit: usize) -> Outcome<*mut c_char> {
    let target = match on_path(path, files::realpath) {
        Outcome::Handled(target) => target,
        Outcome::Bypass => return Outcome::Bypass,
        Outcome::Error(errno) => return Outcome::Error(errno),
    };
    if !resolved.is_null() && target.len() >= limit {
        return Outcome::Error(libc::ENAMETOOLONG);
    }
    let out = if resolved.is_null() {
        // SAFETY: malloc for the result the caller frees; checked for null.
        unsafe { libc::malloc(target.len() + 1) }.cast::<c_char>()
    } else {
        resolved
    };
    if out.is_null() {
        return Outcome::Error(libc::ENOMEM);
    }
    // SAFETY: `out` has room for the path and its NUL (checked or allocated above).
    unsafe {
        std::ptr::copy_nonoverlapping(target.as_ptr(), out.cast::<u8>(), target.len());
        *out.add(target.len()) = 0;
    }
    Outcome::Handled(out)
}

/// `realpath(3)`.
#[no_mangle]
pub unsafe extern "C" fn realpath(path: *const c_char, resolved: *mut c_char) -> *mut c_char {
    let original = original!("realpath", unsafe extern "C" fn(*const c_char, *mut c_char) -> *mut c_char);
    let limit = libc::PATH_MAX as usize;
    guard::run(
        std::ptr::null_mut(),
        || realpath_logic(path, resolved, limit),
        || call_original!(original, std::ptr::null_mut(), path, resolved),
    )
}

/// `__realpath_chk` (fortified `realpath`).
#[no_mangle]
pub unsafe extern "C" fn __realpath_chk(
    path: *const c_char,
    resolved: *mut c_char,
    resolved_len: size_t,
) -> *mut c_char {
    let original = original!("__realpath_chk", unsafe extern "C" fn(*const c_char, *mut c_char, size_t) -> *mut c_char);
    let limit = resolved_len.min(libc::PATH_MAX as usize);
    guard::run(
        std::ptr::null_mut(),
        || realpath_logic(path, resolved, limit),
        || call_original!(original, std::ptr::null_mut(), path, resolved, resolved_len),
    )
}

/// `unlink(2)`.
#[no_mangle]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    let original = original!("unlink", PathFn);
    let logic = || on_path(path, |path| files::unlink_at(libc::AT_FDCWD, path, 0));
    guard::run(-1, logic, || call_original!(original, -1, path))
}

/// `unlinkat(2)` (coreutils' `rm` uses it).
#[no_mangle]
pub unsafe extern "C" fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    let original = original!("unlinkat", unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int);
    let logic = || on_path(path, |path| files::unlink_at(dirfd, path, flags));
    guard::run(-1, logic, || call_original!(original, -1, dirfd, path, flags))
}

/// `rmdir(2)`.
#[no_mangle]
pub unsafe extern "C" fn rmdir(path: *const c_char) -> c_int {
    let original = original!("rmdir", PathFn);
    let logic = || on_path(path, |path| files::unlink_at(libc::AT_FDCWD, path, libc::AT_REMOVEDIR));
    guard::run(-1, logic, || call_original!(original, -1, path))
}

/// `mkdir(2)`.
#[no_mangle]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: libc::mode_t) -> c_int {
    let original = original!("mkdir", unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int);
    let logic = || on_path(path, |path| files::mkdir_at(libc::AT_FDCWD, path, mode));
    guard::run(-1, logic, || call_original!(original, -1, path, mode))
}

/// `mkdirat(2)`.
#[no_mangle]
pub unsafe extern "C" fn mkdirat(dirfd: c_int, path: *const c_char, mode: libc::mode_t) -> c_int {
    let original = original!("mkdirat", unsafe extern "C" fn(c_int, *const c_char, libc::mode_t) -> c_int);
    let logic = || on_path(path, |path| files::mkdir_at(dirfd, path, mode));
    guard::run(-1, logic, || call_original!(original, -1, dirfd, path, mode))
}

/// `rename(2)`.
#[no_mangle]
pub unsafe extern "C" fn rename(from: *const c_char, to: *const c_char) -> c_int {
    let original = original!("rename", unsafe extern "C" fn(*const c_char, *const c_char) -> c_int);
    let logic =
        || on_path(from, |from| on_path(to, |to| files::rename_at(libc::AT_FDCWD, from, libc::AT_FDCWD, to, 0)));
    guard::run(-1, logic, || call_original!(original, -1, from, to))
}

type RenameAtFn = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char) -> c_int;

/// `renameat(2)`.
#[no_mangle]
pub unsafe extern "C" fn renameat(from_dirfd: c_int, from: *const c_char, to_dirfd: c_int, to: *const c_char) -> c_int {
    let original = original!("renameat", RenameAtFn);
    let logic = || on_path(from, |from| on_path(to, |to| files::rename_at(from_dirfd, from, to_dirfd, to, 0)));
    guard::run(-1, logic, || call_original!(original, -1, from_dirfd, from, to_dirfd, to))
}

/// `renameat2(2)` (coreutils' `mv` uses it).
#[no_mangle]
pub unsafe extern "C" fn renameat2(
    from_dirfd: c_int,
    from: *const c_char,
    to_dirfd: c_int,
    to: *const c_char,
    flags: libc::c_uint,
) -> c_int {
    let original =
        original!("renameat2", unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, libc::c_uint) -> c_int);
    let logic = || on_path(from, |from| on_path(to, |to| files::rename_at(from_dirfd, from, to_dirfd, to, flags)));
    guard::run(-1, logic, || call_original!(original, -1, from_dirfd, from, to_dirfd, to, flags))
}
