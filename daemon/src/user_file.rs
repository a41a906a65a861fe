//! Reading a small text file whose path someone else chose (a client's config file, a
//! kubeconfig): only a regular file, at most [`MAX_BYTES`], and never an open that waits (a FIFO)
//! or a read that does not end (`/dev/zero`). Blocking: callers run it off the async threads.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::OFlag;

/// The largest config or kubeconfig file read; real ones are a few KiB.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// Why the file was not read. The messages leave the path out: callers name it.
#[derive(Debug, thiserror::Error)]
pub enum UserFileError {
    /// It does not exist, is not readable, was replaced while being opened, or reading failed.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// It is a FIFO, a device, a socket or a directory.
    #[error("the path names {0}, not a regular file; give the path of a file")]
    NotRegular(&'static str),
    /// It is larger than [`MAX_BYTES`].
    #[error("the file is larger than the limit of {} MiB; check the path", MAX_BYTES / (1024 * 1024))]
    TooLarge,
    /// It is not UTF-8 text.
    #[error("the file is not UTF-8 text; check the path")]
    NotText,
}

/// Reads the file at `path` as text. Symlinks are followed: a linked config is ordinary.
pub fn read_text(path: &Path) -> Result<String, UserFileError> {
    // Checked before opening, so that a device is never opened (opening some has effects).
    let before = std::fs::metadata(path)?;
    check_regular(&before)?;
    // O_NONBLOCK: should the path have become a FIFO since, the open does not wait for a writer.
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits()).open(path)?;
    let opened = file.metadata()?;
    check_regular(&opened)?;
    if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
        return Err(std::io::Error::other("it was replaced while being opened; try again").into());
    }
    if opened.len() > MAX_BYTES {
        return Err(UserFileError::TooLarge);
    }
    read_bounded(file)
}

/// Reads at most one byte more than the limit: a file that grows, or one of `/proc` that
/// reports size 0, cannot make the read unbounded.
fn read_bounded(file: File) -> Result<String, UserFileError> {
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(UserFileError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| UserFileError::NotText)
}

fn check_regular(meta: &std::fs::Metadata) -> Result<(), UserFileError> {
    let file_type = meta.file_type();
    let kind = if file_type.is_file() {
        return Ok(());
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "something else"
    };
    Err(UserFileError::NotRegular(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_text_refuses_a_device_without_reading_it() {
        let err = read_text(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.to_string(), "the path names a device, not a regular file; give the path of a file");
    }

    #[test]
    fn read_text_refuses_a_directory() {
        let err = read_text(Path::new("/")).unwrap_err();
        assert!(matches!(err, UserFileError::NotRegular("a directory")), "{err}");
    }

    #[test]
    fn read_text_missing_file_says_why() {
        let err = read_text(Path::new("/no/such/tether.json")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read the file: No such file"), "{err}");
    }
}
