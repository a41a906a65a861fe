//! Absolute, lexically normalised paths without allocation on the hot path of every
//! `open`/`stat`: an already-normal absolute path is used as given ([`TargetPath::Given`]);
//! anything else is joined in an uninitialised stack buffer ([`normalised`]), and copied out
//! at its length only when it names a target path (moving the 4 KiB buffer itself around would
//! cost more than the copy). Host paths are decided without any allocation.

use std::mem::MaybeUninit;

/// Longest path handled (`PATH_MAX`, which counts a terminating NUL).
pub const CAPACITY: usize = libc::PATH_MAX as usize;

/// An absolute, normalised path: borrowed from the caller when it already was one.
pub enum TargetPath<'a> {
    Given(&'a [u8]),
    Joined(Vec<u8>),
}

impl<'a> TargetPath<'a> {
    /// `normal`, the normalised form of `given` that [`normalised`] handed out, kept beyond
    /// that call: borrowed when it is `given` itself, else copied.
    pub fn keep(normal: &[u8], given: &'a [u8]) -> TargetPath<'a> {
        if std::ptr::eq(normal, given) {
            TargetPath::Given(given)
        } else {
            TargetPath::Joined(normal.to_vec())
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TargetPath::Given(path) => path,
            TargetPath::Joined(path) => path,
        }
    }
}

/// Runs `decide` on `path` made absolute against `base` (when relative) and normalised,
/// without allocating: an already normal absolute path is handed over as given, any other is
/// joined in a stack buffer. `None` when the result does not fit in `PATH_MAX`, or when `path`
/// is relative and there is no base.
pub fn normalised<T>(base: Option<&[u8]>, path: &[u8], decide: impl FnOnce(&[u8]) -> T) -> Option<T> {
    if is_normal_absolute(path) {
        return Some(decide(path));
    }
    let joined = StackPath::resolve(base, path)?;
    Some(decide(joined.as_bytes()))
}

/// Whether `path` is absolute with no empty, `.` or `..` component and no trailing slash.
fn is_normal_absolute(path: &[u8]) -> bool {
    if !path.starts_with(b"/") || path.len() >= CAPACITY {
        return false;
    }
    if path.len() == 1 {
        return true;
    }
    path[1..].split(|b| *b == b'/').all(|component| !matches!(component, b"" | b"." | b".."))
}

/// An absolute path without `.`/`..` components or repeated slashes.
pub struct StackPath {
    /// Initialised up to `len`; never zero-filled (4 KiB per call would show in benchmarks).
    buf: [MaybeUninit<u8>; CAPACITY],
    len: usize,
}

impl StackPath {
    /// `path` made absolute against `base` (when relative) and normalised. `None` when the
    /// result does not fit in `PATH_MAX`, or when `path` is relative and there is no base.
    pub fn resolve(base: Option<&[u8]>, path: &[u8]) -> Option<StackPath> {
        let mut out = StackPath { buf: [MaybeUninit::uninit(); CAPACITY], len: 0 };
        out.buf[0] = MaybeUninit::new(b'/');
        out.len = 1;
        if !path.starts_with(b"/") {
            out.push_components(base?)?;
        }
        out.push_components(path)?;
        Some(out)
    }

    fn push_components(&mut self, path: &[u8]) -> Option<()> {
        for component in path.split(|b| *b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
                    let parent = self.as_bytes().iter().rposition(|b| *b == b'/').unwrap_or(0);
                    self.len = parent.max(1);
                }
                name => {
                    let sep = usize::from(self.len > 1);
                    if self.len + sep + name.len() >= CAPACITY {
                        return None;
                    }
                    if sep == 1 {
                        self.buf[self.len] = MaybeUninit::new(b'/');
                    }
                    for (slot, byte) in self.buf[self.len + sep..].iter_mut().zip(name) {
                        *slot = MaybeUninit::new(*byte);
                    }
                    self.len += sep + name.len();
                }
            }
        }
        Some(())
    }

    /// The path, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised (every write above precedes the
        // `len` increase that covers it); MaybeUninit<u8> has the layout of u8.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.len) }
    }
}

/// Whether `path` is `dir` or below it (`dir` absolute, normalised, not `/`).
pub fn is_within(path: &[u8], dir: &[u8]) -> bool {
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(base: Option<&str>, path: &str) -> Option<String> {
        StackPath::resolve(base.map(str::as_bytes), path.as_bytes())
            .map(|p| String::from_utf8(p.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn resolve_normalises_like_the_kernel_would_lexically() {
        let cases = [
            (None, "/etc/hosts", "/etc/hosts"),
            (None, "//etc///./hosts/", "/etc/hosts"),
            (None, "/etc/../srv/x", "/srv/x"),
            (None, "/../..", "/"),
            (Some("/home/dev/app"), "config.yaml", "/home/dev/app/config.yaml"),
            (Some("/home/dev/app"), "../../../etc/hosts", "/etc/hosts"),
            (Some("/"), ".", "/"),
        ];
        for (base, path, want) in cases {
            assert_eq!(resolved(base, path).as_deref(), Some(want), "{base:?} {path}");
        }
    }

    #[test]
    fn resolve_relative_without_base_or_too_long_is_none() {
        assert_eq!(resolved(None, "x"), None);
        assert_eq!(resolved(None, &"/a".repeat(3000)), None);
    }

    #[test]
    fn normalised_hands_over_normal_paths_and_joins_others() {
        let given: &[u8] = b"/usr/include/stdio.h";
        assert!(
            normalised(None, given, |normal| matches!(TargetPath::keep(normal, given), TargetPath::Given(_))).unwrap()
        );
        for path in [&b"/usr//x"[..], b"/usr/./x", b"/usr/../x", b"/usr/x/"] {
            let kept = normalised(None, path, |normal| TargetPath::keep(normal, path)).unwrap();
            assert!(matches!(kept, TargetPath::Joined(_)), "{path:?}");
        }
        let joined = normalised(Some(b"/home/dev"), b"app/../x", |normal| normal.to_vec()).unwrap();
        assert_eq!(joined, b"/home/dev/x");
        assert!(normalised(None, b"relative", |_| ()).is_none());
    }

    #[test]
    fn is_within_respects_component_boundaries() {
        assert!(is_within(b"/home/dev", b"/home/dev"));
        assert!(is_within(b"/home/dev/x", b"/home/dev"));
        assert!(!is_within(b"/home/developer", b"/home/dev"));
    }
}
