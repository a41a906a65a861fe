//! The kernel's seccomp user notification: the filter a supervised program runs under, and the
//! listener's requests (receive a trapped call, answer it, hand the program a descriptor).
//! x86_64 only (the system call numbers and `struct stat`); other architectures are refused
//! by [`crate::available`].

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
/// Since Linux 5.19: once the supervisor has received a call, a signal no longer interrupts
/// it (Go's preemption signal, SIGURG, would otherwise restart every call it lands on).
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;
const SECCOMP_ADDFD_FLAG_SEND: u32 = 1 << 1;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

// _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp),
// _IOW('!', 2, __u64), _IOW('!', 3, struct seccomp_notif_addfd).
const IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const IOCTL_NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;
const IOCTL_NOTIF_ADDFD: libc::c_ulong = 0x4018_2103;

/// The system calls the supervisor answers (x86_64 numbers), whatever their arguments; and
/// `getsockopt`, `sendto`, `recvfrom` with some (see [`program`]).
pub const TRAPPED: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_getdents64,
    libc::SYS_connect,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
];

/// Trapped when the session has incoming traffic on: a listening socket is reported, an
/// accepted connection reports its real client.
pub const INCOMING: &[libc::c_long] = &[libc::SYS_listen, libc::SYS_accept, libc::SYS_accept4];

/// Trapped when the session may write the target's files: namespace changes, and `close`, which
/// sends a writable target file back.
pub const WRITES: &[libc::c_long] = &[
    libc::SYS_close,
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    libc::SYS_rmdir,
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    libc::SYS_rename,
    libc::SYS_renameat,
    libc::SYS_renameat2,
];

/// Which optional groups of calls the filter traps, from the session's policy: each costs the
/// program a round trip to the supervisor per call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traps {
    pub incoming: bool,
    pub writes: bool,
}

impl Traps {
    fn calls(self) -> impl Iterator<Item = &'static libc::c_long> {
        let incoming = if self.incoming { INCOMING } else { &[] };
        let writes = if self.writes { WRITES } else { &[] };
        TRAPPED.iter().chain(incoming).chain(writes)
    }
}

/// `struct seccomp_data`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Data {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// `struct seccomp_notif`: one trapped call.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Notification {
    pub id: u64,
    /// The calling thread's id (in the supervisor's pid namespace).
    pub pid: u32,
    pub flags: u32,
    pub data: Data,
}

#[repr(C)]
struct Response {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

#[repr(C)]
struct AddFd {
    id: u64,
    flags: u32,
    srcfd: u32,
    newfd: u32,
    newfd_flags: u32,
}

/// How a trapped call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Run the call as the program made it (the host's).
    Continue,
    /// The call returns this value.
    Value(i64),
    /// The call fails with this errno.
    Error(i32),
    /// Already answered (a descriptor handed over with [`Listener::send_fd`]).
    Sent,
    /// Answered later, by another thread (a call that waits for the program's clients).
    Later,
}

/// Where a conditional jump of the filter goes.
#[derive(Clone, Copy)]
enum To {
    /// Over this many following instructions (0: the next one).
    Skip(u8),
    Allow,
    Notify,
}

/// One instruction before its jumps are resolved.
struct Op {
    code: u32,
    k: u32,
    jt: To,
    jf: To,
}

fn load(offset: u32) -> Op {
    Op { code: libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, k: offset, jt: To::Skip(0), jf: To::Skip(0) }
}

fn jeq(k: u32, jt: To, jf: To) -> Op {
    Op { code: libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, k, jt, jf }
}

/// Offset in `struct seccomp_data` of argument `index`'s low (`high`: high) 32 bits.
fn arg(index: u32, high: bool) -> u32 {
    16 + 8 * index + if high { 4 } else { 0 }
}

/// The BPF program: every trapped call of an x86_64 program goes to the supervisor, the rest
/// (and any other architecture's calls, which `available` refuses to supervise) run.
/// `getsockopt` is trapped for `SOL_SOCKET`/`SO_ERROR` only, `sendto` and `recvfrom` only with
/// an address (`sendto` of a connected socket, the usual `send`, runs); the groups of `traps`
/// whatever their arguments.
pub fn program(traps: Traps) -> Vec<libc::sock_filter> {
    let mut ops = vec![load(4), jeq(AUDIT_ARCH_X86_64, To::Skip(0), To::Allow), load(0)];
    ops.extend(traps.calls().map(|nr| jeq(*nr as u32, To::Notify, To::Skip(0))));
    ops.extend([
        jeq(libc::SYS_getsockopt as u32, To::Skip(0), To::Skip(4)),
        load(arg(1, false)),
        jeq(libc::SOL_SOCKET as u32, To::Skip(0), To::Allow),
        load(arg(2, false)),
        jeq(libc::SO_ERROR as u32, To::Notify, To::Allow),
    ]);
    for nr in [libc::SYS_sendto, libc::SYS_recvfrom] {
        ops.extend([
            jeq(nr as u32, To::Skip(0), To::Skip(4)),
            load(arg(4, false)),
            jeq(0, To::Skip(0), To::Notify),
            load(arg(4, true)),
            jeq(0, To::Allow, To::Notify),
        ]);
    }
    let allow = ops.len();
    let notify = allow + 1;
    let resolve = |at: usize, to: To| match to {
        To::Skip(over) => over,
        To::Allow => (allow - at - 1) as u8,
        To::Notify => (notify - at - 1) as u8,
    };
    let mut filter: Vec<libc::sock_filter> = ops
        .iter()
        .enumerate()
        .map(|(at, op)| libc::sock_filter {
            code: op.code as u16,
            jt: resolve(at, op.jt),
            jf: resolve(at, op.jf),
            k: op.k,
        })
        .collect();
    let ret = |k: u32| libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k };
    filter.extend([ret(SECCOMP_RET_ALLOW), ret(SECCOMP_RET_USER_NOTIF)]);
    filter
}

/// Installs the filter on the calling thread (the child, between `fork` and `exec`) and
/// returns the listener's descriptor. Async-signal-safe: no allocation once `program` is
/// built, which the caller does before forking.
///
/// # Safety
/// Call only in a freshly forked child, with `program` built by [`program`] before the fork.
pub unsafe fn install(program: &[libc::sock_filter], killable_wait: bool) -> Result<RawFd, i32> {
    // SAFETY: prctl with integer arguments; no_new_privs is required for an unprivileged filter.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(errno());
    }
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
    let mut flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
    if killable_wait {
        flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    // SAFETY: `fprog` points at the program, alive for the call.
    let fd =
        unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog) };
    if fd < 0 {
        return Err(errno());
    }
    Ok(fd as RawFd)
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// The supervisor's end: the listener of one supervised process tree.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    pub fn new(fd: OwnedFd) -> Listener {
        Listener { fd }
    }

    /// Waits for the next trapped call. `Err(ENOENT)` when the call went away meanwhile
    /// (the thread was killed); other errors end supervision.
    pub fn receive(&self) -> Result<Notification, i32> {
        let mut notification = Notification::default();
        // SAFETY: the ioctl fills a struct seccomp_notif, which Notification mirrors.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_NOTIF_RECV, &mut notification as *mut Notification) };
        if rc != 0 {
            return Err(errno());
        }
        Ok(notification)
    }

    /// Whether the call `id` still waits for its answer (its thread alive, not interrupted):
    /// checked after reading the program's memory, before acting on what was read.
    pub fn is_valid(&self, id: u64) -> bool {
        // SAFETY: the ioctl reads one u64.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_NOTIF_ID_VALID, &id as *const u64) == 0 }
    }

    /// Answers the call `id`. A call that went away meanwhile (`ENOENT`) needs no answer.
    pub fn answer(&self, id: u64, answer: Answer) {
        let response = match answer {
            Answer::Sent | Answer::Later => return,
            Answer::Continue => Response { id, val: 0, error: 0, flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE },
            Answer::Value(val) => Response { id, val, error: 0, flags: 0 },
            Answer::Error(errno) => Response { id, val: 0, error: -errno, flags: 0 },
        };
        // SAFETY: the ioctl reads a struct seccomp_notif_resp, which Response mirrors.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_NOTIF_SEND, &response as *const Response) };
    }

    /// Installs a duplicate of `fd` in the program as the answer to call `id`: the call returns
    /// the new descriptor's number (close-on-exec when `cloexec`).
    pub fn send_fd(&self, id: u64, fd: &OwnedFd, cloexec: bool) -> Answer {
        let add = AddFd {
            id,
            flags: SECCOMP_ADDFD_FLAG_SEND,
            srcfd: fd.as_raw_fd() as u32,
            newfd: 0,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: the ioctl reads a struct seccomp_notif_addfd, which AddFd mirrors.
        match unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_NOTIF_ADDFD, &add as *const AddFd) } {
            rc if rc >= 0 => Answer::Sent,
            _ => Answer::Error(errno()),
        }
    }
}

/// Takes ownership of a listener descriptor received from the child.
///
/// # Safety
/// `fd` must be an open descriptor nothing else owns.
pub unsafe fn adopt(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter on one call, as the kernel would (the few instructions it uses).
    fn verdict_with(traps: Traps, nr: libc::c_long, arch: u32, args: [u64; 6]) -> u32 {
        let data = Data { nr: nr as i32, arch, instruction_pointer: 0, args };
        // SAFETY: Data is plain data of 64 bytes.
        let bytes: [u8; 64] = unsafe { std::mem::transmute(data) };
        let filter = program(traps);
        let (mut at, mut acc) = (0usize, 0u32);
        loop {
            let op = filter[at];
            match u32::from(op.code) {
                code if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let k = op.k as usize;
                    acc = u32::from_ne_bytes(bytes[k..k + 4].try_into().unwrap());
                    at += 1;
                }
                code if code == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    at += 1 + usize::from(if acc == op.k { op.jt } else { op.jf });
                }
                code if code == libc::BPF_RET | libc::BPF_K => return op.k,
                code => panic!("unexpected instruction {code:#x}"),
            }
        }
    }

    fn verdict(nr: libc::c_long, arch: u32, args: [u64; 6]) -> u32 {
        verdict_with(Traps::default(), nr, arch, args)
    }

    #[test]
    fn the_groups_of_calls_are_trapped_only_when_the_session_needs_them() {
        let x86 = AUDIT_ARCH_X86_64;
        for (traps, group) in
            [(Traps { incoming: true, writes: false }, INCOMING), (Traps { incoming: false, writes: true }, WRITES)]
        {
            for nr in group {
                assert_eq!(verdict(*nr, x86, [0; 6]), SECCOMP_RET_ALLOW, "{nr} without its group");
                assert_eq!(verdict_with(traps, *nr, x86, [0; 6]), SECCOMP_RET_USER_NOTIF, "{nr} with its group");
            }
            for nr in TRAPPED {
                assert_eq!(verdict_with(traps, *nr, x86, [0; 6]), SECCOMP_RET_USER_NOTIF, "{nr}");
            }
            assert_eq!(verdict_with(traps, libc::SYS_read, x86, [0; 6]), SECCOMP_RET_ALLOW);
        }
    }

    #[test]
    fn the_filter_traps_exactly_the_calls_the_supervisor_answers() {
        let x86 = AUDIT_ARCH_X86_64;
        for nr in TRAPPED {
            assert_eq!(verdict(*nr, x86, [0; 6]), SECCOMP_RET_USER_NOTIF, "{nr}");
        }
        for nr in [libc::SYS_read, libc::SYS_write, libc::SYS_close, libc::SYS_execve, libc::SYS_fstat] {
            assert_eq!(verdict(nr, x86, [0; 6]), SECCOMP_RET_ALLOW, "{nr}");
        }
        let so_error = [3, libc::SOL_SOCKET as u64, libc::SO_ERROR as u64, 0, 0, 0];
        assert_eq!(verdict(libc::SYS_getsockopt, x86, so_error), SECCOMP_RET_USER_NOTIF);
        let so_type = [3, libc::SOL_SOCKET as u64, libc::SO_TYPE as u64, 0, 0, 0];
        assert_eq!(verdict(libc::SYS_getsockopt, x86, so_type), SECCOMP_RET_ALLOW);
        for nr in [libc::SYS_sendto, libc::SYS_recvfrom] {
            assert_eq!(verdict(nr, x86, [3, 0, 0, 0, 0, 0]), SECCOMP_RET_ALLOW, "{nr} without an address");
            assert_eq!(verdict(nr, x86, [3, 0, 0, 0, 0x7fff_0000_1000, 16]), SECCOMP_RET_USER_NOTIF, "{nr}");
            assert_eq!(verdict(nr, x86, [3, 0, 0, 0, 0x1000, 16]), SECCOMP_RET_USER_NOTIF, "{nr}, low address");
        }
        assert_eq!(verdict(libc::SYS_openat, 0x4000_00b7, [0; 6]), SECCOMP_RET_ALLOW, "another architecture");
    }
}
