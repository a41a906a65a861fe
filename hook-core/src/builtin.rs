//! The layer's built-in file rules: which paths always come from the target, and which always
//! stay on the host, whatever the mode. User rules (from the session's policy) win over these.
//!
//! Built-in target paths (the regexes `^/etc/resolv\.conf$`, `^/etc/hosts$`,
//! `^/etc/hostname$`, `^/(var/)?run/secrets(/|$)`, written as comparisons): the target's name
//! resolution and its mounted secrets.
//!
//! Built-in host paths: what the process needs to run at all (the loader, libraries, devices,
//! its own files), plus what belongs to the developer (cwd at start, `$HOME`):
//! - directories `/proc`, `/dev`, `/sys`, `/tmp`, `/run/user`, `/usr`, `/bin`, `/sbin`,
//!   `/lib*`, `/opt`, `/nix`, `/snap`, `/etc/ssl`, `/etc/pki`, `/etc/ca-certificates`,
//!   `/etc/alternatives`, `/etc/fonts`;
//! - files `/etc/ld.so.*`, `/etc/python3*`, `/etc/passwd`, `/etc/group`, `/etc/shadow`,
//!   `/etc/nsswitch.conf`, `/etc/localtime`, `/etc/host.conf`, `/etc/gai.conf`,
//!   `/etc/malloc.conf` (jemalloc's options: the host program's allocator);
//! - the process's cwd at start, `$HOME`, the executable's directory, the layer's directory,
//!   and the directories of `TETHER_PROXY` and `TETHER_LAYER_LOG` (see [`HostDirs`]);
//! - the ancestors of those directories themselves (not their other contents), so that walking
//!   up to them (`realpath`, Node's module loader `lstat`ing every component) sees the host.

use crate::path::is_within;

/// Directories (and everything below) that stay on the host.
const HOST_DIRS: &[&[u8]] = &[
    b"/proc",
    b"/dev",
    b"/sys",
    b"/tmp",
    b"/run/user",
    b"/usr",
    b"/bin",
    b"/sbin",
    b"/opt",
    b"/nix",
    b"/snap",
    b"/etc/ssl",
    b"/etc/pki",
    b"/etc/ca-certificates",
    b"/etc/alternatives",
    b"/etc/fonts",
];

/// Single files that stay on the host.
const HOST_FILES: &[&[u8]] = &[
    b"/etc/passwd",
    b"/etc/group",
    b"/etc/shadow",
    b"/etc/nsswitch.conf",
    b"/etc/localtime",
    b"/etc/host.conf",
    b"/etc/gai.conf",
    b"/etc/malloc.conf",
];

/// Name prefixes that stay on the host (`/etc/ld.so.cache`, `/etc/python3.11/...`).
const HOST_PREFIXES: &[&[u8]] = &[b"/etc/ld.so.", b"/etc/python3"];

/// Files that come from the target.
const TARGET_FILES: &[&[u8]] = &[b"/etc/resolv.conf", b"/etc/hosts", b"/etc/hostname"];

/// Directories (and everything below) that come from the target.
const TARGET_DIRS: &[&[u8]] = &[b"/run/secrets", b"/var/run/secrets"];

/// Whether a built-in rule sends `path` (absolute, normalised) to the target.
pub fn is_target(path: &[u8]) -> bool {
    TARGET_FILES.contains(&path) || TARGET_DIRS.iter().any(|dir| is_within(path, dir))
}

/// Whether a built-in rule keeps `path` (absolute, normalised) on the host.
pub fn is_host(path: &[u8], dynamic: &HostDirs) -> bool {
    is_lib_dir(path)
        || HOST_DIRS.iter().any(|dir| is_within(path, dir))
        || HOST_FILES.contains(&path)
        || HOST_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
        || dynamic.dirs.iter().any(|dir| is_within(path, dir))
        || dynamic.ancestors.iter().any(|ancestor| ancestor.as_slice() == path)
}

/// `/lib*`: `/lib`, `/lib64`, `/lib32`, `/libx32` and everything below them.
fn is_lib_dir(path: &[u8]) -> bool {
    path.starts_with(b"/lib")
}

/// The per-process host directories, fixed at start.
#[derive(Debug, Default)]
pub struct HostDirs {
    dirs: Vec<Vec<u8>>,
    /// Strict ancestors of `dirs`, except `/`: host paths themselves, not their contents.
    ancestors: Vec<Vec<u8>>,
}

impl HostDirs {
    /// From the process's cwd at start, `$HOME`, executable, layer library, proxy socket and
    /// log file. `/` is never one of them (a process started in `/` must still see the
    /// target's files).
    pub fn new(cwd: Option<&[u8]>, home: Option<&[u8]>, files: &[Option<&[u8]>]) -> HostDirs {
        let parents = files.iter().flatten().filter_map(|file| parent(file));
        let dirs = cwd
            .into_iter()
            .chain(home)
            .chain(parents)
            .filter_map(|dir| crate::path::StackPath::resolve(None, dir))
            .map(|dir| dir.as_bytes().to_vec())
            .filter(|dir| dir.as_slice() != b"/")
            .collect::<Vec<_>>();
        let mut ancestors: Vec<Vec<u8>> = dirs
            .iter()
            .flat_map(|dir| {
                let mut up = Vec::new();
                let mut current: &[u8] = dir;
                while let Some(above) = parent(current).filter(|above| !above.is_empty()) {
                    up.push(above.to_vec());
                    current = above;
                }
                up
            })
            .collect();
        ancestors.sort();
        ancestors.dedup();
        HostDirs { dirs, ancestors }
    }
}

fn parent(file: &[u8]) -> Option<&[u8]> {
    let slash = file.iter().rposition(|b| *b == b'/')?;
    Some(&file[..slash])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_target_matches_resolver_files_and_secrets() {
        for path in [
            "/etc/resolv.conf",
            "/etc/hosts",
            "/etc/hostname",
            "/run/secrets",
            "/run/secrets/kubernetes.io/token",
            "/var/run/secrets/x",
        ] {
            assert!(is_target(path.as_bytes()), "{path}");
        }
        for path in ["/etc/hosts.allow", "/run/secretsx", "/etc/app.yaml"] {
            assert!(!is_target(path.as_bytes()), "{path}");
        }
    }

    #[test]
    fn is_host_matches_system_and_process_dirs() {
        let dirs = HostDirs::new(Some(b"/work/app"), Some(b"/root"), &[Some(b"/opt2/bin/prog"), None]);
        for path in [
            "/usr/lib/x.so",
            "/lib",
            "/lib64/ld.so",
            "/libx32",
            "/proc/self/exe",
            "/tmp",
            "/etc/ld.so.cache",
            "/etc/python3.11/sitecustomize.py",
            "/etc/passwd",
            "/etc/ssl/certs/ca.pem",
            "/work/app/src/main.c",
            "/root/.bashrc",
            "/opt2/bin/other",
        ] {
            assert!(is_host(path.as_bytes(), &dirs), "{path}");
        }
        assert!(is_host(b"/work", &dirs), "an ancestor of the cwd itself");
        for path in
            ["/etc/app/config.yaml", "/var/lib/x", "/work/application", "/work/other/x", "/", "/etc", "/run/secrets/x"]
        {
            assert!(!is_host(path.as_bytes(), &dirs), "{path}");
        }
    }

    #[test]
    fn host_dirs_never_include_root() {
        let dirs = HostDirs::new(Some(b"/"), Some(b"/"), &[Some(b"/proxy.sock")]);
        assert!(!is_host(b"/srv/data", &dirs));
    }
}
