//! The `gethostbyname` family: `hostent`s filled into the caller's buffer (`_r` variants) or
//! a per-thread buffer.

use std::cell::RefCell;
use std::ffi::CStr;
use std::net::IpAddr;

use libc::{c_char, c_int, hostent};
use tether_rpc_schema::wire::Family;

use super::{lookup, set_h_errno, target_name};
use crate::errno;
use crate::guard::Outcome;

const NETDB_INTERNAL: c_int = -1;

thread_local! {
    /// Storage behind the pointer `gethostbyname` returns (valid until the next call on the
    /// same thread, which is stricter than glibc's process-wide buffer).
    static STATIC_RESULT: RefCell<(Box<hostent>, Vec<u8>)> =
        // SAFETY: hostent is plain data (pointers and integers); all-zero is valid.
        RefCell::new((Box::new(unsafe { std::mem::zeroed() }), Vec::new()));
}

/// A found name: `(h_name, family, addresses)`.
type Found = (String, c_int, Vec<IpAddr>);

/// A looked-up name, or the `h_errno` of the failure; `None` when the host resolves it.
fn resolve(name: &CStr, af: c_int) -> Option<Result<Found, c_int>> {
    if !matches!(af, libc::AF_INET | libc::AF_INET6) {
        return None;
    }
    let name = target_name(name, af, 0)?;
    let family = if af == libc::AF_INET { Family::V4 } else { Family::V6 };
    Some(match lookup(name, family) {
        Ok((canonical, addrs)) => Ok((canonical.unwrap_or_else(|| name.to_string()), af, addrs)),
        Err(code) => Err(errno::h_errno_for(code)),
    })
}

/// `gethostbyname2_r` (and `gethostbyname_r` with `AF_INET`).
pub fn gethostbyname2_r(
    name: &CStr,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> Outcome<c_int> {
    let Some(answer) = resolve(name, af) else {
        return Outcome::Bypass;
    };
    // SAFETY: the caller passes valid out-pointers, as gethostbyname_r requires.
    unsafe { *result = std::ptr::null_mut() };
    let (h_name, af, addrs) = match answer {
        Ok(found) => found,
        Err(h_errno) => {
            // SAFETY: as above.
            unsafe { *h_errnop = h_errno };
            return Outcome::Handled(if h_errno == 2 { libc::EAGAIN } else { libc::ENOENT });
        }
    };
    // SAFETY: the caller's buffer is valid for `buflen` bytes.
    let buffer = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), buflen) };
    match fill(&h_name, af, &addrs, buffer) {
        Some(entry) => {
            // SAFETY: as above.
            unsafe {
                *ret = entry;
                *result = ret;
                *h_errnop = 0;
            }
            Outcome::Handled(0)
        }
        None => {
            // SAFETY: as above.
            unsafe { *h_errnop = NETDB_INTERNAL };
            Outcome::Handled(libc::ERANGE)
        }
    }
}

/// `gethostbyname2` (and `gethostbyname` with `AF_INET`): a pointer to per-thread storage.
pub fn gethostbyname2(name: &CStr, af: c_int) -> Outcome<*mut hostent> {
    let Some(answer) = resolve(name, af) else {
        return Outcome::Bypass;
    };
    let (h_name, af, addrs) = match answer {
        Ok(found) => found,
        Err(h_errno) => {
            set_h_errno(h_errno);
            return Outcome::Handled(std::ptr::null_mut());
        }
    };
    STATIC_RESULT.with(|storage| {
        let mut storage = storage.borrow_mut();
        let (entry, buffer) = &mut *storage;
        buffer.resize(needed(&h_name, af, addrs.len()), 0);
        match fill(&h_name, af, &addrs, buffer) {
            Some(filled) => {
                **entry = filled;
                Outcome::Handled(&mut **entry as *mut hostent)
            }
            None => Outcome::Error(libc::ENOMEM),
        }
    })
}

fn addr_len(af: c_int) -> usize {
    if af == libc::AF_INET {
        4
    } else {
        16
    }
}

/// Bytes [`fill`] needs (alignment slack included).
fn needed(name: &str, af: c_int, count: usize) -> usize {
    let pointer = std::mem::size_of::<*mut c_char>();
    pointer + pointer * (count + 2) + addr_len(af) * count + name.len() + 1
}

/// Lays out a hostent in `buf`: `h_addr_list` (count + NULL), `h_aliases` (NULL), the
/// addresses, the name. `None` when `buf` is too small (`ERANGE`).
pub fn fill(name: &str, af: c_int, addrs: &[IpAddr], buf: &mut [u8]) -> Option<hostent> {
    let pointer = std::mem::size_of::<*mut c_char>();
    let base = buf.as_mut_ptr();
    let skip = base.align_offset(pointer);
    if buf.len() < skip + needed(name, af, addrs.len()) - pointer {
        return None;
    }
    let addr_size = addr_len(af);
    let lists = skip;
    let data = lists + pointer * (addrs.len() + 2);
    let name_at = data + addr_size * addrs.len();
    for (index, addr) in addrs.iter().enumerate() {
        let bytes: Vec<u8> = match addr {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let at = data + index * addr_size;
        buf[at..at + addr_size].copy_from_slice(&bytes[..addr_size.min(bytes.len())]);
    }
    buf[name_at..name_at + name.len()].copy_from_slice(name.as_bytes());
    buf[name_at + name.len()] = 0;
    // SAFETY: every offset below was bounds-checked against `buf` above; `lists` is aligned
    // for pointers.
    unsafe {
        let list = base.add(lists).cast::<*mut c_char>();
        for index in 0..addrs.len() {
            *list.add(index) = base.add(data + index * addr_size).cast();
        }
        *list.add(addrs.len()) = std::ptr::null_mut();
        *list.add(addrs.len() + 1) = std::ptr::null_mut();
        Some(hostent {
            h_name: base.add(name_at).cast(),
            h_aliases: list.add(addrs.len() + 1),
            h_addrtype: af,
            h_length: addr_size as c_int,
            h_addr_list: list,
        })
    }
}
