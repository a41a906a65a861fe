//! Which programs the layer cannot serve: an ELF executable without an interpreter (static:
//! no dynamic linker loads `LD_PRELOAD`), or a Go program (its runtime makes its own system
//! calls, even when linked against libc for cgo).

use std::io::Read;
use std::path::{Path, PathBuf};

/// The magic that starts a Go binary's `.go.buildinfo` section.
const GO_BUILDINFO: &[u8] = b"\xff Go buildinf:";
/// `PT_INTERP`: the program header naming the dynamic linker.
const PT_INTERP: u32 = 3;

/// Why a program needs the supervisor, when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Static,
    Go,
}

/// Whether the executable at `path` needs the supervisor; `None` for a dynamic non-Go ELF,
/// a script, or anything unreadable (the layer's case).
pub fn needs_supervisor(path: &Path) -> Option<Needs> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).ok()?.take(256 << 20).read_to_end(&mut bytes).ok()?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    if bytes.windows(GO_BUILDINFO.len()).any(|window| window == GO_BUILDINFO) {
        return Some(Needs::Go);
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (phoff, phentsize, phnum) = (u64_at(32) as usize, u16_at(54) as usize, u16_at(56) as usize);
    let headers = (0..phnum).map(|index| phoff + index * phentsize);
    let mut has_interp = false;
    for at in headers {
        if at + 4 > bytes.len() {
            return None;
        }
        has_interp |= u32_at(at) == PT_INTERP;
    }
    (!has_interp).then_some(Needs::Static)
}

/// The executable `program` runs as, looked up in `path` (a `PATH` value) unless it names a
/// file itself.
pub fn resolve(program: &str, path: Option<&str>) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path?.split(':').map(|dir| Path::new(dir).join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_program_is_the_layers_and_a_script_too() {
        assert_eq!(needs_supervisor(Path::new("/bin/sh")), None);
        let script = std::env::temp_dir().join(format!("tether-elf-test-{}", std::process::id()));
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(needs_supervisor(&script), None);
        std::fs::remove_file(script).unwrap();
    }

    #[test]
    fn programs_are_found_on_the_path() {
        assert_eq!(resolve("sh", Some("/nonexistent:/bin")), Some(PathBuf::from("/bin/sh")));
        assert_eq!(resolve("./x", None), Some(PathBuf::from("./x")));
        assert_eq!(resolve("no-such-program-here", Some("/bin")), None);
    }
}
