//! Where one call goes, decided from its arguments and the session's policy: a file call by
//! its path (host, target, or an errno; an outgoing destination is the policy's
//! `outgoing.is_target`), which park a non-blocking socket waits in, and what it reports. The layer and the supervisor both ask here, so a program
//! sees the same answer whichever of them serves it.

use std::net::SocketAddr;

use libc::c_int;

use crate::path::{self, TargetPath};
use crate::policy::{PathClass, Policy};
use crate::sockaddr::{canonical, for_family};

/// Open flags that make an open a write.
pub const WRITE_FLAGS: c_int = libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND;

/// What a relative path argument is relative to.
#[derive(Debug, Clone, Copy)]
pub enum Base<'b> {
    /// The path is absolute (or there is nothing to join it to).
    None,
    /// The working directory.
    Cwd(&'b [u8]),
    /// A target directory the process holds open (the layer's or the supervisor's placeholder
    /// descriptor): the host cannot run the call as given.
    TargetDir(&'b [u8]),
}

/// A path argument resolved for a call.
pub struct Resolved<'a> {
    pub class: PathClass,
    /// The absolute, normalised path, for the target classes only: a host path is decided
    /// without a copy (nothing is allocated on the way of a call the host answers).
    pub target: Option<TargetPath<'a>>,
    /// The call named the path relative to a placeholder directory descriptor.
    pub via_target_dir: bool,
}

/// Resolves `path` against `base`; `None` for an empty or over-long path, or a relative one
/// without a base (the call is not tether's).
pub fn resolve<'a>(policy: &Policy, path: &'a [u8], base: Base<'_>) -> Option<Resolved<'a>> {
    if path.is_empty() {
        return None;
    }
    let (base, via_target_dir) = match base {
        _ if path.starts_with(b"/") => (None, false),
        Base::None => (None, false),
        Base::Cwd(cwd) => (Some(cwd), false),
        Base::TargetDir(dir) => (Some(dir), true),
    };
    path::normalised(base, path, |normal| {
        let class = policy.classify(normal);
        let target =
            matches!(class, PathClass::TargetRead | PathClass::TargetReadWrite).then(|| TargetPath::keep(normal, path));
        Resolved { class, target, via_target_dir }
    })
}

/// Where a read-like call (stat, access, readlink, opendir ...) goes: `Ok(Some(path))` for the
/// target, `Ok(None)` for the host, `Err` for `not_found` rules.
pub fn for_read(resolved: Resolved<'_>) -> Result<Option<TargetPath<'_>>, i32> {
    match resolved.class {
        PathClass::NotFound => Err(libc::ENOENT),
        PathClass::Host if resolved.via_target_dir => Err(libc::ENOENT),
        PathClass::Host => Ok(None),
        PathClass::TargetRead | PathClass::TargetReadWrite => Ok(resolved.target),
    }
}

/// Where a write-like call (unlink, mkdir, rename ...) goes (see [`for_read`]).
pub fn for_write(resolved: Resolved<'_>) -> Result<Option<TargetPath<'_>>, i32> {
    match resolved.class {
        PathClass::NotFound => Err(libc::ENOENT),
        PathClass::TargetReadWrite => Ok(resolved.target),
        _ if resolved.via_target_dir => Err(libc::EROFS),
        _ => Ok(None),
    }
}

/// Where an `open` goes.
pub enum Open<'a> {
    Host,
    Error(i32),
    /// Read the target's file.
    Read(TargetPath<'a>),
    /// Write the target's file.
    Write(TargetPath<'a>),
    /// A target file opened for writing with the target read-only: the host's file, which
    /// the program may not expect (worth telling once).
    HostWriteOfTargetFile,
}

/// Where `open` with `flags` of a resolved path goes.
pub fn for_open(resolved: Resolved<'_>, flags: c_int) -> Open<'_> {
    let writing = flags & WRITE_FLAGS != 0;
    match (resolved.class, resolved.target) {
        (PathClass::NotFound, _) => Open::Error(libc::ENOENT),
        (PathClass::TargetReadWrite, Some(target)) if writing => Open::Write(target),
        (PathClass::TargetRead | PathClass::TargetReadWrite, Some(target)) if !writing => Open::Read(target),
        _ if resolved.via_target_dir => Open::Error(if writing { libc::EROFS } else { libc::ENOENT }),
        (PathClass::TargetRead, Some(_)) => Open::HostWriteOfTargetFile,
        _ => Open::Host,
    }
}

/// The daemon's park (`HelloOk::park`) for a socket of `family` connecting to `dest`, in the
/// socket's family: the IPv6 park for IPv6 destinations, else the IPv4 one.
pub fn park_for(parks: &[SocketAddr], dest: SocketAddr, family: c_int) -> Option<SocketAddr> {
    let v6 = canonical(dest).is_ipv6();
    let park = parks.iter().find(|park| park.is_ipv6() == v6).or_else(|| parks.iter().find(|park| park.is_ipv4()))?;
    for_family(*park, family)
}

/// What a parked socket reports (`SO_ERROR`, a repeated `connect`) once its target side
/// failed with `target`, given the kernel's `real` answer: the daemon's reset (or the
/// connection it never completed) is the target's errno; any other error is the kernel's own.
pub fn settled_errno(real: c_int, target: c_int) -> c_int {
    if real == 0 || real == libc::ECONNRESET || real == libc::EALREADY {
        target
    } else {
        real
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::HostDirs;
    use tether_rpc_schema::policy::{FsMode, FsPolicy, LayerPolicy};

    fn policy(mode: FsMode) -> Policy {
        let policy = LayerPolicy { fs: FsPolicy { mode, ..FsPolicy::default() }, ..LayerPolicy::default() };
        Policy::compile(&policy, HostDirs::new(Some(b"/home/dev/app"), None, &[]), None, &mut |_| {})
    }

    fn target_of(resolved: Option<Resolved<'_>>) -> Option<Vec<u8>> {
        for_read(resolved.unwrap()).unwrap().map(|path| path.as_bytes().to_vec())
    }

    #[test]
    fn relative_paths_join_their_base_and_absolute_ones_ignore_it() {
        let read = policy(FsMode::Read);
        assert_eq!(target_of(resolve(&read, b"../x.yaml", Base::Cwd(b"/etc/app"))), Some(b"/etc/x.yaml".to_vec()));
        assert_eq!(target_of(resolve(&read, b"src/main.rs", Base::Cwd(b"/home/dev/app"))), None, "cwd stays host");
        assert_eq!(target_of(resolve(&read, b"/etc/demo", Base::Cwd(b"/home/dev/app"))), Some(b"/etc/demo".to_vec()));
        assert!(resolve(&read, b"relative", Base::None).is_none());
        assert!(resolve(&read, b"", Base::Cwd(b"/")).is_none());
    }

    #[test]
    fn below_a_target_directory_the_host_is_out_of_reach() {
        let read = policy(FsMode::Read);
        let host_below_target = resolve(&read, b"../usr/lib/x.so", Base::TargetDir(b"/etc"));
        assert_eq!(for_read(host_below_target.unwrap()).err(), Some(libc::ENOENT));
        let open = resolve(&read, b"../usr/lib/x.so", Base::TargetDir(b"/etc")).unwrap();
        assert!(matches!(for_open(open, libc::O_WRONLY), Open::Error(libc::EROFS)));
    }

    #[test]
    fn opens_follow_the_mode() {
        let read = policy(FsMode::Read);
        let open =
            |policy: &Policy, flags| match for_open(resolve(policy, b"/etc/app.yaml", Base::None).unwrap(), flags) {
                Open::Host => "host",
                Open::Error(_) => "error",
                Open::Read(_) => "read",
                Open::Write(_) => "write",
                Open::HostWriteOfTargetFile => "host write",
            };
        assert_eq!(open(&read, libc::O_RDONLY), "read");
        assert_eq!(open(&read, libc::O_WRONLY | libc::O_CREAT), "host write");
        assert_eq!(open(&policy(FsMode::Write), libc::O_RDWR), "write");
        assert_eq!(open(&policy(FsMode::Local), libc::O_RDONLY), "host");
    }

    #[test]
    fn a_park_of_the_destinations_family_in_the_sockets() {
        let parks: Vec<SocketAddr> = vec!["127.0.0.1:4000".parse().unwrap(), "[::1]:4001".parse().unwrap()];
        assert_eq!(park_for(&parks, "10.0.0.1:80".parse().unwrap(), libc::AF_INET), Some(parks[0]));
        assert_eq!(park_for(&parks, "[fd00::1]:80".parse().unwrap(), libc::AF_INET6), Some(parks[1]));
        let mapped = park_for(&parks, "10.0.0.1:80".parse().unwrap(), libc::AF_INET6).unwrap();
        assert_eq!(mapped.to_string(), "[::ffff:127.0.0.1]:4000");
        assert_eq!(park_for(&parks[..1], "[fd00::1]:80".parse().unwrap(), libc::AF_INET6).unwrap().port(), 4000);
    }

    #[test]
    fn a_reset_or_unfinished_connection_reports_the_targets_errno() {
        for real in [0, libc::ECONNRESET, libc::EALREADY] {
            assert_eq!(settled_errno(real, libc::ECONNREFUSED), libc::ECONNREFUSED);
        }
        assert_eq!(settled_errno(libc::ENETDOWN, libc::ECONNREFUSED), libc::ENETDOWN);
    }
}
