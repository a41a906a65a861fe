//! Shims that open and close files: the `open` family, `creat`, `fopen`, `close`, `fclose`,
//! `dup`, `dup2`, `dup3`, `fcntl` (its `F_DUPFD` commands).

use libc::{c_char, c_int, c_uint, FILE};

use super::on_path;
use crate::files;
use crate::guard::{self, Outcome};

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, c_uint) -> c_int;
type OpenAtFn = unsafe extern "C" fn(c_int, *const c_char, c_int, c_uint) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type OpenAt2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
type CreatFn = unsafe extern "C" fn(*const c_char, libc::mode_t) -> c_int;
type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut FILE;

fn open_at(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> Outcome<c_int> {
    on_path(path, |path| files::open(dirfd, path, flags, mode))
}

/// `open(2)`.
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let original = original!("open", OpenFn);
    guard::run(-1, || open_at(libc::AT_FDCWD, path, flags, mode), || call_original!(original, -1, path, flags, mode))
}

/// `open64(2)`.
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let original = original!("open64", OpenFn);
    guard::run(-1, || open_at(libc::AT_FDCWD, path, flags, mode), || call_original!(original, -1, path, flags, mode))
}

/// `openat(2)`.
#[no_mangle]
pub unsafe extern "C" fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let original = original!("openat", OpenAtFn);
    guard::run(-1, || open_at(dirfd, path, flags, mode), || call_original!(original, -1, dirfd, path, flags, mode))
}

/// `openat64(2)`.
#[no_mangle]
pub unsafe extern "C" fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let original = original!("openat64", OpenAtFn);
    guard::run(-1, || open_at(dirfd, path, flags, mode), || call_original!(original, -1, dirfd, path, flags, mode))
}

/// `__open_2` (fortified `open` without a mode).
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    let original = original!("__open_2", Open2Fn);
    guard::run(-1, || open_at(libc::AT_FDCWD, path, flags, 0), || call_original!(original, -1, path, flags))
}

/// `__open64_2`.
#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    let original = original!("__open64_2", Open2Fn);
    guard::run(-1, || open_at(libc::AT_FDCWD, path, flags, 0), || call_original!(original, -1, path, flags))
}

/// `__openat_2`.
#[no_mangle]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    let original = original!("__openat_2", OpenAt2Fn);
    guard::run(-1, || open_at(dirfd, path, flags, 0), || call_original!(original, -1, dirfd, path, flags))
}

/// `__openat64_2`.
#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    let original = original!("__openat64_2", OpenAt2Fn);
    guard::run(-1, || open_at(dirfd, path, flags, 0), || call_original!(original, -1, dirfd, path, flags))
}

/// `creat(2)`: `open(path, O_CREAT|O_WRONLY|O_TRUNC, mode)`.
#[no_mangle]
pub unsafe extern "C" fn creat(path: *const c_char, mode: libc::mode_t) -> c_int {
    let original = original!("creat", CreatFn);
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    guard::run(-1, || open_at(libc::AT_FDCWD, path, flags, mode), || call_original!(original, -1, path, mode))
}

/// `creat64(2)`.
#[no_mangle]
pub unsafe extern "C" fn creat64(path: *const c_char, mode: libc::mode_t) -> c_int {
    let original = original!("creat64", CreatFn);
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    guard::run(-1, || open_at(libc::AT_FDCWD, path, flags, mode), || call_original!(original, -1, path, mode))
}

/// `fopen` on a target file: our fd wrapped by the original `fdopen`.
fn fopen_logic(path: *const c_char, mode: *const c_char) -> Outcome<*mut FILE> {
    let Some(flags) =
        on_path(mode, |mode| files::fopen_flags(mode.to_bytes()).map_or(Outcome::Bypass, Outcome::Handled)).handled()
    else {
        return Outcome::Bypass;
    };
    let fd = match open_at(libc::AT_FDCWD, path, flags, 0o666) {
        Outcome::Handled(fd) => fd,
        Outcome::Bypass => return Outcome::Bypass,
        Outcome::Error(errno) => return Outcome::Error(errno),
    };
    let fdopen = original!("fdopen", unsafe extern "C" fn(c_int, *const c_char) -> *mut FILE);
    let stream = call_original!(fdopen, std::ptr::null_mut(), fd, mode);
    if stream.is_null() {
        let errno = crate::errno::get();
        files::abandon(fd);
        return Outcome::Error(errno);
    }
    Outcome::Handled(stream)
}

/// `fopen(3)`.
#[no_mangle]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE {
    let original = original!("fopen", FopenFn);
    guard::run(
        std::ptr::null_mut(),
        || fopen_logic(path, mode),
        || call_original!(original, std::ptr::null_mut(), path, mode),
    )
}

/// `fopen64(3)`.
#[no_mangle]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE {
    let original = original!("fopen64", FopenFn);
    guard::run(
        std::ptr::null_mut(),
        || fopen_logic(path, mode),
        || call_original!(original, std::ptr::null_mut(), path, mode),
    )
}

/// `close(2)`.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let original = original!("close", unsafe extern "C" fn(c_int) -> c_int);
    guard::run(-1, || files::close(fd, || call_original!(original, -1, fd)), || call_original!(original, -1, fd))
}

/// `fclose(3)`: glibc closes the fd internally, so writable target files are handled here too.
#[no_mangle]
pub unsafe extern "C" fn fclose(stream: *mut FILE) -> c_int {
    let original = original!("fclose", unsafe extern "C" fn(*mut FILE) -> c_int);
    // SAFETY: `stream` is the caller's open FILE (fclose's contract).
    let fd = if stream.is_null() { -1 } else { unsafe { libc::fileno(stream) } };
    // SAFETY: as above.
    let flush = || unsafe { libc::fflush(stream) };
    guard::run(
        libc::EOF,
        || {
            files::fclose(
                fd,
                || {
                    flush();
                },
                || call_original!(original, libc::EOF, stream),
            )
        },
        || call_original!(original, libc::EOF, stream),
    )
}

/// `dup(2)`: a duplicate of a writable target file shares it.
#[no_mangle]
pub unsafe extern "C" fn dup(oldfd: c_int) -> c_int {
    let original = original!("dup", unsafe extern "C" fn(c_int) -> c_int);
    guard::run(-1, || files::dup(oldfd, || call_original!(original, -1, oldfd)), || call_original!(original, -1, oldfd))
}

/// `dup2(2)`: replacing a descriptor sends back the writable target file it held and drops
/// the layer's state for it; the new descriptor shares `oldfd`'s writable target file.
#[no_mangle]
pub unsafe extern "C" fn dup2(oldfd: c_int, newfd: c_int) -> c_int {
    let original = original!("dup2", unsafe extern "C" fn(c_int, c_int) -> c_int);
    guard::run(
        -1,
        || files::dup2(oldfd, newfd, || call_original!(original, -1, oldfd, newfd)),
        || call_original!(original, -1, oldfd, newfd),
    )
}

/// `dup3(2)`.
#[no_mangle]
pub unsafe extern "C" fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
    let original = original!("dup3", unsafe extern "C" fn(c_int, c_int, c_int) -> c_int);
    guard::run(
        -1,
        || files::dup2(oldfd, newfd, || call_original!(original, -1, oldfd, newfd, flags)),
        || call_original!(original, -1, oldfd, newfd, flags),
    )
}

/// The variadic `fcntl`, called with its optional argument.
#[cfg(target_arch = "x86_64")]
type FcntlFn = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;

/// `fcntl`/`fcntl64`: `F_DUPFD`/`F_DUPFD_CLOEXEC` of a descriptor carrying layer state goes
/// through [`files::dup`]; every other call goes straight to the original (one comparison).
#[cfg(target_arch = "x86_64")]
fn fcntl_with(original: Option<FcntlFn>, fd: c_int, cmd: c_int, arg: libc::c_long) -> c_int {
    let forward = || call_original!(original, -1, fd, cmd, arg);
    if (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) && crate::fds::is_marked(fd) {
        return guard::run(-1, || files::dup(fd, forward), forward);
    }
    forward()
}

/// `fcntl(2)`.
///
/// SAFETY (ABI): `fcntl` is variadic in C. On x86_64 (System V) a variadic callee receives
/// integer and pointer arguments in the same registers as named ones (`rdi`, `rsi`, `rdx`),
/// so the optional third argument, an `int` or a pointer, is read as a pointer-sized
/// `c_long`. When the caller passed none, `rdx` holds garbage that is only forwarded, as
/// glibc's own `fcntl` does (it always takes the argument). It is forwarded through a
/// variadic function pointer, so the call to the original is a proper variadic call. Other
/// architectures need their own seam, hence the `cfg`.
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: libc::c_long) -> c_int {
    fcntl_with(original!("fcntl", FcntlFn), fd, cmd, arg)
}

/// `fcntl64`: what `fcntl` is renamed to under `_FILE_OFFSET_BITS=64`; same ABI as `fcntl`.
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: libc::c_long) -> c_int {
    fcntl_with(original!("fcntl64", FcntlFn), fd, cmd, arg)
}
