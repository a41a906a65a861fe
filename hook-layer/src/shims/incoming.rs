//! Listening-socket shims: `listen`, `accept`, `accept4` (incoming traffic; `getpeername` is
//! in the socket shims).

use libc::{c_int, sockaddr, socklen_t};

use crate::guard::{self, Outcome};
use crate::incoming;

/// `listen(2)`: a successful listen is reported to the session proxy.
#[no_mangle]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    let original = original!("listen", unsafe extern "C" fn(c_int, c_int) -> c_int);
    let logic = || {
        if call_original!(original, -1, fd, backlog) != 0 {
            return Outcome::Error(crate::errno::get());
        }
        incoming::listening(fd);
        Outcome::Handled(0)
    };
    guard::run(-1, logic, || call_original!(original, -1, fd, backlog))
}

/// `accept(2)`.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let original = original!("accept", unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int);
    let logic = || incoming::accept(fd, addr, len, || call_original!(original, -1, fd, addr, len));
    guard::run(-1, logic, || call_original!(original, -1, fd, addr, len))
}

/// `accept4(2)`.
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    let original = original!("accept4", unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int);
    let logic = || incoming::accept(fd, addr, len, || call_original!(original, -1, fd, addr, len, flags));
    guard::run(-1, logic, || call_original!(original, -1, fd, addr, len, flags))
}
