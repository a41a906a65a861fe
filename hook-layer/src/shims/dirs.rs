//! Directory stream shims: `opendir`, `fdopendir`, `readdir`, `readdir64`, `rewinddir`,
//! `dirfd`, `closedir`, `scandir`, `scandir64`. Streams that are not the layer's go to the
//! originals. And `chdir`, `fchdir`, which only say that the working directory changed.

use libc::{c_char, c_int, dirent64, DIR};

use super::on_path;
use crate::dirs::{self, Compare, Filter};
use crate::guard;

type ScandirFn = unsafe extern "C" fn(*const c_char, *mut *mut *mut dirent64, Filter, Compare) -> c_int;

/// `opendir(3)`.
#[no_mangle]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut DIR {
    let original = original!("opendir", unsafe extern "C" fn(*const c_char) -> *mut DIR);
    guard::run(
        std::ptr::null_mut(),
        || on_path(path, dirs::opendir),
        || call_original!(original, std::ptr::null_mut(), path),
    )
}

/// `fdopendir(3)`.
#[no_mangle]
pub unsafe extern "C" fn fdopendir(fd: c_int) -> *mut DIR {
    let original = original!("fdopendir", unsafe extern "C" fn(c_int) -> *mut DIR);
    guard::run(std::ptr::null_mut(), || dirs::fdopendir(fd), || call_original!(original, std::ptr::null_mut(), fd))
}

/// `readdir(3)` (`struct dirent` and `struct dirent64` share their layout on x86_64).
#[no_mangle]
pub unsafe extern "C" fn readdir(dir: *mut DIR) -> *mut libc::dirent {
    let original = original!("readdir", unsafe extern "C" fn(*mut DIR) -> *mut libc::dirent);
    guard::run(
        std::ptr::null_mut(),
        || dirs::readdir(dir).map(|entry| entry.cast()),
        || call_original!(original, std::ptr::null_mut(), dir),
    )
}

/// `readdir64(3)`.
#[no_mangle]
pub unsafe extern "C" fn readdir64(dir: *mut DIR) -> *mut dirent64 {
    let original = original!("readdir64", unsafe extern "C" fn(*mut DIR) -> *mut dirent64);
    guard::run(std::ptr::null_mut(), || dirs::readdir(dir), || call_original!(original, std::ptr::null_mut(), dir))
}

/// `rewinddir(3)`.
#[no_mangle]
pub unsafe extern "C" fn rewinddir(dir: *mut DIR) {
    let original = original!("rewinddir", unsafe extern "C" fn(*mut DIR));
    guard::run((), || dirs::rewinddir(dir), || call_original!(original, (), dir))
}

/// `dirfd(3)`.
#[no_mangle]
pub unsafe extern "C" fn dirfd(dir: *mut DIR) -> c_int {
    let original = original!("dirfd", unsafe extern "C" fn(*mut DIR) -> c_int);
    guard::run(-1, || dirs::dirfd(dir), || call_original!(original, -1, dir))
}

/// `closedir(3)`.
#[no_mangle]
pub unsafe extern "C" fn closedir(dir: *mut DIR) -> c_int {
    let original = original!("closedir", unsafe extern "C" fn(*mut DIR) -> c_int);
    guard::run(-1, || dirs::closedir(dir), || call_original!(original, -1, dir))
}

/// `scandir(3)` (used by libuv, hence Node's `fs.readdir`).
#[no_mangle]
pub unsafe extern "C" fn scandir(
    path: *const c_char,
    namelist: *mut *mut *mut dirent64,
    filter: Filter,
    compare: Compare,
) -> c_int {
    let original = original!("scandir", ScandirFn);
    let logic = || on_path(path, |path| dirs::scandir(path, namelist, filter, compare));
    guard::run(-1, logic, || call_original!(original, -1, path, namelist, filter, compare))
}

/// `scandir64(3)`.
#[no_mangle]
pub unsafe extern "C" fn scandir64(
    path: *const c_char,
    namelist: *mut *mut *mut dirent64,
    filter: Filter,
    compare: Compare,
) -> c_int {
    let original = original!("scandir64", ScandirFn);
    let logic = || on_path(path, |path| dirs::scandir(path, namelist, filter, compare));
    guard::run(-1, logic, || call_original!(original, -1, path, namelist, filter, compare))
}

/// `chdir(2)`: relative paths are resolved against the new working directory from now on.
#[no_mangle]
pub unsafe extern "C" fn chdir(path: *const c_char) -> c_int {
    let original = original!("chdir", unsafe extern "C" fn(*const c_char) -> c_int);
    let changed = call_original!(original, -1, path);
    crate::cwd::cwd_changed();
    changed
}

/// `fchdir(2)`: as [`chdir`].
#[no_mangle]
pub unsafe extern "C" fn fchdir(fd: c_int) -> c_int {
    let original = original!("fchdir", unsafe extern "C" fn(c_int) -> c_int);
    let changed = call_original!(original, -1, fd);
    crate::cwd::cwd_changed();
    changed
}
