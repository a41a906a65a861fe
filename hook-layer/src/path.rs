//! Absolute, lexically normalised paths built in a stack buffer (no allocation on the hot
//! path of every `open`/`stat`).

/// Longest path handled (`PATH_MAX`, which counts a terminating NUL).
const CAPACITY: usize = libc::PATH_MAX as usize;

/// An absolute path without `.`/`..` components or repeated slashes.
pub struct StackPath {
    buf: [u8; CAPACITY],
    len: usize,
}

impl StackPath {
    /// `path` made absolute against `base` (when relative) and normalised. `None` when the
    /// result does not fit in `PATH_MAX`, or when `path` is relative and there is no base.
    pub fn resolve(base: Option<&[u8]>, path: &[u8]) -> Option<StackPath> {
        let mut out = StackPath { buf: [0; CAPACITY], len: 0 };
        out.buf[0] = b'/';
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
                        self.buf[self.len] = b'/';
                    }
                    self.buf[self.len + sep..self.len + sep + name.len()].copy_from_slice(name);
                    self.len += sep + name.len();
                }
            }
        }
        Some(())
    }

    /// The path, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
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
    fn is_within_respects_component_boundaries() {
        assert!(is_within(b"/home/dev", b"/home/dev"));
        assert!(is_within(b"/home/dev/x", b"/home/dev"));
        assert!(!is_within(b"/home/developer", b"/home/dev"));
    }
}
