//! The libc `syscall` function: programs that reach the kernel through it instead of the
//! named wrapper (libuv, hence Node.js, calls `syscall(SYS_statx, ...)`) get the same
//! decisions as the wrapper. Only `SYS_statx` is routed; every other number is passed to the
//! original untouched, and `SYS_chdir`/`SYS_fchdir` tell the layer the working directory
//! changed.
//!
//! x86_64 only: the shim relies on the System V calling convention for variadic calls (see
//! [`syscall`]). Another architecture needs its own seam (and its own check that variadic
//! integer arguments travel like named ones there).

use libc::{c_char, c_int, c_long};

use super::meta::statx_logic;
use crate::guard;

/// The variadic `syscall`, called with all six argument slots.
type SyscallFn = unsafe extern "C" fn(c_long, ...) -> c_long;

/// `syscall(2)`.
///
/// SAFETY (ABI): `syscall` is variadic in C. On x86_64 (System V) a variadic callee receives
/// integer and pointer arguments in the same registers (and stack slots) as named ones, so
/// `number` and six `c_long` arguments see exactly what the caller passed: `rdi`, `rsi`,
/// `rdx`, `rcx`, `r8`, `r9`, then the first stack slot. Arguments the caller did not pass
/// are garbage that is only forwarded, as glibc's `syscall` itself always loads six. The
/// original is called through a variadic function pointer with all six.
///
/// Hot path: any number but `SYS_statx` costs a few comparisons and the cached original, with
/// no guard or thread-local access; errno is whatever the original sets.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let original = original!("syscall", SyscallFn);
    let forward = || call_original!(original, -1, number, a1, a2, a3, a4, a5, a6);
    if number != libc::SYS_statx {
        let result = forward();
        if number == libc::SYS_chdir || number == libc::SYS_fchdir {
            crate::cwd::cwd_changed();
        }
        return result;
    }
    // statx(dirfd, path, flags, mask, buf): the kernel reads the int arguments from the low
    // 32 bits of their registers, and so do we.
    let own = || forward() as c_int;
    let logic =
        || statx_logic(a1 as c_int, a2 as *const c_char, a3 as c_int, a5 as *mut libc::statx, own).map(c_long::from);
    guard::run(-1, logic, forward)
}
