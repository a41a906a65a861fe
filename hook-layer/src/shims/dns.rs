//! Name lookup shims: `getaddrinfo` and the `gethostbyname` family.

use std::ffi::CStr;

use libc::{addrinfo, c_char, c_int, hostent, size_t};

use super::on_path;
use crate::dns::{self, hostent as he, Hints};
use crate::guard::{self, Outcome};

type GetaddrinfoFn = unsafe extern "C" fn(*const c_char, *const c_char, *const addrinfo, *mut *mut addrinfo) -> c_int;
type Gethostbyname2RFn = unsafe extern "C" fn(
    *const c_char,
    c_int,
    *mut hostent,
    *mut c_char,
    size_t,
    *mut *mut hostent,
    *mut c_int,
) -> c_int;

fn getaddrinfo_logic(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> Outcome<c_int> {
    let hints = if hints.is_null() {
        Hints { flags: libc::AI_V4MAPPED | libc::AI_ADDRCONFIG, ..Hints::default() }
    } else {
        // SAFETY: non-null hints point to the caller's addrinfo (getaddrinfo's contract).
        let h = unsafe { &*hints };
        Hints { flags: h.ai_flags, family: h.ai_family, socktype: h.ai_socktype, protocol: h.ai_protocol }
    };
    // SAFETY: non-null service is a NUL-terminated string (getaddrinfo's contract).
    let service = (!service.is_null()).then(|| unsafe { CStr::from_ptr(service) });
    on_path(node, |node| dns::getaddrinfo(Some(node), service, hints, res))
}

/// `getaddrinfo(3)`: returns an `EAI_*` code, not errno.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let original = original!("getaddrinfo", GetaddrinfoFn);
    guard::run(
        libc::EAI_SYSTEM,
        || getaddrinfo_logic(node, service, hints, res),
        || call_original!(original, libc::EAI_SYSTEM, node, service, hints, res),
    )
}

/// `gethostbyname(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    let original = original!("gethostbyname", unsafe extern "C" fn(*const c_char) -> *mut hostent);
    guard::run(
        std::ptr::null_mut(),
        || on_path(name, |name| he::gethostbyname2(name, libc::AF_INET)),
        || call_original!(original, std::ptr::null_mut(), name),
    )
}

/// `gethostbyname2(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
    let original = original!("gethostbyname2", unsafe extern "C" fn(*const c_char, c_int) -> *mut hostent);
    guard::run(
        std::ptr::null_mut(),
        || on_path(name, |name| he::gethostbyname2(name, af)),
        || call_original!(original, std::ptr::null_mut(), name, af),
    )
}

/// `gethostbyname_r(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let original = original!(
        "gethostbyname_r",
        unsafe extern "C" fn(*const c_char, *mut hostent, *mut c_char, size_t, *mut *mut hostent, *mut c_int) -> c_int
    );
    let logic = || on_path(name, |name| he::gethostbyname2_r(name, libc::AF_INET, ret, buf, buflen, result, h_errnop));
    guard::run(libc::EIO, logic, || call_original!(original, libc::EIO, name, ret, buf, buflen, result, h_errnop))
}

/// `gethostbyname2_r(3)`.
#[no_mangle]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let original = original!("gethostbyname2_r", Gethostbyname2RFn);
    let logic = || on_path(name, |name| he::gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop));
    guard::run(libc::EIO, logic, || call_original!(original, libc::EIO, name, af, ret, buf, buflen, result, h_errnop))
}
