//! A launch's program that the hook layer cannot serve (a static or Go program), found before
//! it starts, so `session.prepare` can say so (`SessionPrepared.warnings`).

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tether_rpc_schema::api::Launch;
use tether_rpc_schema::linkage::{linkage, Linkage};

/// What the user should know about the program of `launch`, if anything. Reads its ELF
/// headers (a blocking read of a file the client named: call on a blocking thread).
pub fn program_warning(launch: &Launch) -> Option<String> {
    let program = resolve(launch)?;
    warning(&program, of(&program)?)
}

/// The warning for `program`, of linkage `linkage`, if it has one.
pub fn warning(program: &Path, linkage: Linkage) -> Option<String> {
    Some(format!("{} {}", program.display(), linkage.warning()?))
}

/// The linkage of the regular file `program`; `None` when it cannot be read.
pub fn of(program: &Path) -> Option<Linkage> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(program).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    Some(linkage(|offset, buffer| file.read_at(buffer, offset).unwrap_or(0)))
}

/// The file the launch runs: a path with a slash relative to its working directory, else the
/// first executable of that name on its `PATH`.
pub fn resolve(launch: &Launch) -> Option<PathBuf> {
    let cwd = launch.cwd.as_deref().map(Path::new);
    if launch.program.contains('/') {
        let program = Path::new(&launch.program);
        return Some(match cwd {
            Some(cwd) if program.is_relative() => cwd.join(program),
            _ => program.to_path_buf(),
        });
    }
    let path = launch.env.get("PATH")?;
    std::env::split_paths(path).map(|dir| dir.join(&launch.program)).find(|candidate| {
        candidate.metadata().is_ok_and(|meta| {
            meta.is_file() && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
        })
    })
}
