//! A supervised thread as the supervisor reaches it: its memory (`process_vm_readv`/`writev`),
//! its descriptors (a path through `/proc`, a duplicate through `pidfd_getfd`), its working
//! directory. Every address and descriptor comes from the program: a bad one is `EFAULT` or
//! `EBADF`, as the kernel would say.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Longest path read from a program (`PATH_MAX`, with its NUL).
const PATH_MAX: usize = libc::PATH_MAX as usize;

/// One thread of a supervised program, by its id.
#[derive(Debug, Clone, Copy)]
pub struct Thread(pub u32);

impl Thread {
    /// Reads `len` bytes at `addr`.
    pub fn read(self, addr: u64, len: usize) -> Result<Vec<u8>, i32> {
        let mut buf = vec![0u8; len];
        let got = self.read_into(addr, &mut buf)?;
        if got < len {
            return Err(libc::EFAULT);
        }
        Ok(buf)
    }

    fn read_into(self, addr: u64, buf: &mut [u8]) -> Result<usize, i32> {
        if buf.is_empty() {
            return Ok(0);
        }
        let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: buf.len() };
        // SAFETY: `local` is our buffer of its length; the remote side is checked by the kernel.
        let got = unsafe { libc::process_vm_readv(self.0 as libc::pid_t, &local, 1, &remote, 1, 0) };
        if got < 0 {
            return Err(libc::EFAULT);
        }
        Ok(got as usize)
    }

    /// Reads the NUL-terminated string at `addr` (without its NUL), up to `PATH_MAX`, one page
    /// at a time so that a string ending just before an unmapped page is read whole.
    pub fn read_path(self, addr: u64) -> Result<Vec<u8>, i32> {
        if addr == 0 {
            return Err(libc::EFAULT);
        }
        let mut path = Vec::new();
        let mut at = addr;
        while path.len() < PATH_MAX {
            let to_page_end = 4096 - (at % 4096) as usize;
            let mut chunk = vec![0u8; to_page_end.min(PATH_MAX - path.len())];
            let got = self.read_into(at, &mut chunk)?;
            if got == 0 {
                return Err(libc::EFAULT);
            }
            if let Some(nul) = chunk[..got].iter().position(|b| *b == 0) {
                path.extend_from_slice(&chunk[..nul]);
                return Ok(path);
            }
            path.extend_from_slice(&chunk[..got]);
            at += got as u64;
        }
        Err(libc::ENAMETOOLONG)
    }

    /// Writes `bytes` at `addr`.
    pub fn write(self, addr: u64, bytes: &[u8]) -> Result<(), i32> {
        if bytes.is_empty() {
            return Ok(());
        }
        let local = libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: bytes.len() };
        // SAFETY: `local` is our buffer of its length (only read); the kernel checks the remote.
        let put = unsafe { libc::process_vm_writev(self.0 as libc::pid_t, &local, 1, &remote, 1, 0) };
        if put != bytes.len() as isize {
            return Err(libc::EFAULT);
        }
        Ok(())
    }

    /// Writes a plain C structure at `addr`.
    pub fn write_struct<T: Copy>(self, addr: u64, value: &T) -> Result<(), i32> {
        // SAFETY: `T` is a plain C structure (stat, statx, sockaddr, int): its bytes are its value.
        let bytes = unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>()) };
        self.write(addr, bytes)
    }

    /// What the thread's descriptor `fd` names (`/proc/TID/fd/FD`), `None` for a bad one.
    pub fn fd_path(self, fd: i32) -> Option<Vec<u8>> {
        let link = std::fs::read_link(format!("/proc/{}/fd/{fd}", self.0)).ok()?;
        Some(link.as_os_str().as_bytes().to_vec())
    }

    /// The thread's working directory.
    pub fn cwd(self) -> Option<Vec<u8>> {
        let link = std::fs::read_link(format!("/proc/{}/cwd", self.0)).ok()?;
        Some(link.as_os_str().as_bytes().to_vec())
    }

    /// Whether a signal the thread does not block waits for it (its own or its process's).
    pub fn has_pending_signal(self) -> bool {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", self.0)) else {
            return false;
        };
        let mask = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|value| u64::from_str_radix(value.trim(), 16).ok())
                .unwrap_or(0)
        };
        (mask("SigPnd:") | mask("ShdPnd:")) & !mask("SigBlk:") != 0
    }

    /// A duplicate of the thread's descriptor `fd` (the same open file: a socket connected
    /// through it is the program's socket connected).
    pub fn take_fd(self, fd: i32) -> Result<OwnedFd, i32> {
        let pidfd = pidfd(self.0)?;
        // SAFETY: pidfd_getfd with a pidfd we own and a descriptor number; flags must be 0.
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd_raw(&pidfd), fd, 0) };
        if dup < 0 {
            return Err(last_errno());
        }
        // SAFETY: pidfd_getfd returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(dup as i32) })
    }
}

/// A pidfd for thread `tid`: of the thread itself where the kernel allows it (Linux 6.9's
/// `PIDFD_THREAD`), else of its thread group.
fn pidfd(tid: u32) -> Result<OwnedFd, i32> {
    const PIDFD_THREAD: libc::c_int = libc::O_EXCL;
    for (pid, flags) in [(tid, PIDFD_THREAD), (tid, 0), (thread_group(tid).unwrap_or(tid), 0)] {
        // SAFETY: pidfd_open with integer arguments.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
        if fd >= 0 {
            // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
    Err(libc::ESRCH)
}

fn pidfd_raw(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// The thread group (process) of thread `tid`, from `/proc/TID/status`.
fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status.lines().find_map(|line| line.strip_prefix("Tgid:")).and_then(|value| value.trim().parse().ok())
}

fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}
