//! Process start shims: `execve`, `execvpe`, `execv`, `execvp`, `posix_spawn`, `posix_spawnp`
//! hand children an environment that still loads the layer (see [`crate::exec`]) and, for the
//! exec family, the writable target files they keep open; a program the layer cannot hook is
//! named on stderr first (see [`crate::linkage`]).

use libc::{c_char, c_int, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};

use crate::guard::{self, Outcome};
use crate::{exec, linkage};

type ExecFn = unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
type SpawnFn = unsafe extern "C" fn(
    *mut pid_t,
    *const c_char,
    *const posix_spawn_file_actions_t,
    *const posix_spawnattr_t,
    *const *const c_char,
    *const *const c_char,
) -> c_int;

/// Runs an exec-like original with the (possibly augmented) environment; exec returns only
/// on failure (-1 and errno).
fn exec_with(envp: *const *const c_char, run: impl FnOnce(*const *const c_char) -> c_int) -> Outcome<c_int> {
    match exec::with_env(envp, crate::writeback::handoff(), run) {
        None => Outcome::Bypass,
        Some(-1) => Outcome::Error(crate::errno::get()),
        Some(rc) => Outcome::Handled(rc),
    }
}

/// `execve(2)`.
#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    let original = original!("execve", ExecFn);
    guard::run(
        -1,
        || {
            linkage::warn_if_unhookable(path, false);
            exec_with(envp, |env| call_original!(original, -1, path, argv, env))
        },
        || call_original!(original, -1, path, argv, envp),
    )
}

/// `execvpe(3)`.
#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    let original = original!("execvpe", ExecFn);
    guard::run(
        -1,
        || {
            linkage::warn_if_unhookable(file, true);
            exec_with(envp, |env| call_original!(original, -1, file, argv, env))
        },
        || call_original!(original, -1, file, argv, envp),
    )
}

extern "C" {
    static environ: *const *const c_char;
}

/// `execv(3)`: `execve` with this process's environment (glibc's own `execv` would reach the
/// kernel without passing through the `execve` shim).
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: `environ` is libc's current environment; execve's contract is the caller's.
    unsafe { execve(path, argv, environ) }
}

/// `execvp(3)`: `execvpe` with this process's environment.
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: as for `execv`.
    unsafe { execvpe(file, argv, environ) }
}

/// `posix_spawn(3)`: returns an error number, not -1/errno.
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let original = original!("posix_spawn", SpawnFn);
    let logic = || {
        linkage::warn_if_unhookable(path, false);
        exec::with_env(envp, None, |env| call_original!(original, libc::ENOSYS, pid, path, actions, attr, argv, env))
            .map_or(Outcome::Bypass, Outcome::Handled)
    };
    guard::run(libc::EIO, logic, || call_original!(original, libc::ENOSYS, pid, path, actions, attr, argv, envp))
}

/// `posix_spawnp(3)`.
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let original = original!("posix_spawnp", SpawnFn);
    let logic = || {
        linkage::warn_if_unhookable(file, true);
        exec::with_env(envp, None, |env| call_original!(original, libc::ENOSYS, pid, file, actions, attr, argv, env))
            .map_or(Outcome::Bypass, Outcome::Handled)
    };
    guard::run(libc::EIO, logic, || call_original!(original, libc::ENOSYS, pid, file, actions, attr, argv, envp))
}
