//! Host name shims: `gethostname` (and its fortified form) and `uname`, whose node name is the
//! target's host name unless the session keeps the host's (`LayerPolicy::hostname`).

use libc::{c_char, c_int, size_t};

use crate::guard::{self, Outcome};
use crate::session;

/// The target's host name to report, or `None` (layer inert, host name kept).
fn target_hostname() -> Option<&'static str> {
    session::active()?.hostname.as_deref()
}

/// Copies `name` and its NUL into `buf` of `len` bytes, as glibc's `gethostname` does: a
/// buffer without room for both is `ENAMETOOLONG`.
fn copy_name(name: &str, buf: *mut c_char, len: size_t) -> Outcome<c_int> {
    if name.len() >= len {
        return Outcome::Error(libc::ENAMETOOLONG);
    }
    // SAFETY: `buf` is the caller's buffer of `len` bytes (gethostname's contract), and
    // `name.len() + 1 <= len`.
    unsafe {
        std::ptr::copy_nonoverlapping(name.as_ptr(), buf.cast::<u8>(), name.len());
        *buf.add(name.len()) = 0;
    }
    Outcome::Handled(0)
}

fn gethostname_logic(buf: *mut c_char, len: size_t) -> Outcome<c_int> {
    target_hostname().map_or(Outcome::Bypass, |name| copy_name(name, buf, len))
}

/// `gethostname(2)`.
#[no_mangle]
pub unsafe extern "C" fn gethostname(buf: *mut c_char, len: size_t) -> c_int {
    let original = original!("gethostname", unsafe extern "C" fn(*mut c_char, size_t) -> c_int);
    guard::run(-1, || gethostname_logic(buf, len), || call_original!(original, -1, buf, len))
}

/// `__gethostname_chk` (fortified `gethostname`): a `len` beyond the real buffer goes to the
/// original, which aborts as it should.
#[no_mangle]
pub unsafe extern "C" fn __gethostname_chk(buf: *mut c_char, len: size_t, buflen: size_t) -> c_int {
    let original = original!("__gethostname_chk", unsafe extern "C" fn(*mut c_char, size_t, size_t) -> c_int);
    let logic = || if len > buflen { Outcome::Bypass } else { gethostname_logic(buf, len) };
    guard::run(-1, logic, || call_original!(original, -1, buf, len, buflen))
}

/// `uname(2)`: the host's answer with the target's node name.
#[no_mangle]
pub unsafe extern "C" fn uname(buf: *mut libc::utsname) -> c_int {
    let original = original!("uname", unsafe extern "C" fn(*mut libc::utsname) -> c_int);
    let logic = || {
        let Some(name) = target_hostname() else {
            return Outcome::Bypass;
        };
        if call_original!(original, -1, buf) != 0 {
            return Outcome::Error(crate::errno::get());
        }
        // SAFETY: the original filled the caller's utsname; `nodename` is a fixed array.
        let nodename = unsafe { &mut (*buf).nodename };
        let len = name.len().min(nodename.len() - 1);
        for (slot, byte) in nodename.iter_mut().zip(name.as_bytes()[..len].iter().chain(std::iter::repeat(&0))) {
            *slot = *byte as c_char;
        }
        Outcome::Handled(0)
    };
    guard::run(-1, logic, || call_original!(original, -1, buf))
}
