//! The target side of file calls, asked of the session proxy through any [`Proxy`]: metadata,
//! access checks, links, listings, and a target file's content in a memfd, which is what a
//! program gets as the descriptor of a target file (so `read`, `mmap` and `dup` need no hook).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libc::c_int;
use tether_rpc_schema::wire::{DirEntry, FileMeta, Message, FILE_READ_CHUNK};

use crate::stat;

/// Requests to the session proxy, one response each.
pub trait Proxy {
    /// Sends `request`: `Ok` for any response but `Failure`, whose errno becomes `Err`; a
    /// transport failure is an errno too (`EIO`, `ETIMEDOUT`).
    fn call(&self, request: Message) -> Result<Message, i32>;

    /// Logs `line` (never file contents): what went wrong where no errno can tell it.
    fn note(&self, line: &str);
}

/// The errno for a response of the wrong kind (`EIO`), noted.
pub fn unexpected(proxy: &dyn Proxy, response: &Message) -> i32 {
    proxy.note(&format!("unexpected response {}", response.kind()));
    libc::EIO
}

/// `stat` (`follow`) or `lstat` of a target path.
pub fn stat(proxy: &dyn Proxy, path: &[u8], follow: bool) -> Result<FileMeta, i32> {
    match proxy.call(Message::FileStat { path: path.to_vec(), follow })? {
        Message::FileStatus(meta) => Ok(meta),
        other => Err(unexpected(proxy, &other)),
    }
}

/// `access(path, mode)` in the target.
pub fn access(proxy: &dyn Proxy, path: &[u8], mode: c_int) -> Result<(), i32> {
    done(proxy, Message::FileAccess { path: path.to_vec(), mode })
}

/// The content of a target symlink.
pub fn readlink(proxy: &dyn Proxy, path: &[u8]) -> Result<Vec<u8>, i32> {
    path_answer(proxy, Message::FileReadlink { path: path.to_vec() })
}

/// The target path with every symlink resolved inside the target's root.
pub fn realpath(proxy: &dyn Proxy, path: &[u8]) -> Result<Vec<u8>, i32> {
    path_answer(proxy, Message::FileRealpath { path: path.to_vec() })
}

/// A target directory's entries, `.` and `..` first.
pub fn list(proxy: &dyn Proxy, path: &[u8]) -> Result<Vec<DirEntry>, i32> {
    let entries = match proxy.call(Message::FileReadDir { path: path.to_vec() })? {
        Message::DirEntries(entries) => entries,
        other => return Err(unexpected(proxy, &other)),
    };
    let dot = |name: &[u8]| DirEntry { name: name.to_vec(), ino: 0, kind: libc::DT_DIR };
    Ok([dot(b"."), dot(b"..")].into_iter().chain(entries).collect())
}

/// A request answered by `Done`.
pub fn done(proxy: &dyn Proxy, request: Message) -> Result<(), i32> {
    match proxy.call(request)? {
        Message::Done => Ok(()),
        other => Err(unexpected(proxy, &other)),
    }
}

fn path_answer(proxy: &dyn Proxy, request: Message) -> Result<Vec<u8>, i32> {
    match proxy.call(request)? {
        Message::Path(path) => Ok(path),
        other => Err(unexpected(proxy, &other)),
    }
}

/// A target path opened for reading.
pub enum Readable {
    /// A regular file (or anything else with content): a sealed memfd holding it, at offset 0,
    /// and the target file's metadata.
    File(OwnedFd, FileMeta),
    /// A directory: the caller gives the program a descriptor standing for it.
    Directory,
}

/// Opens a target path for reading with open `flags` (`O_DIRECTORY`, `O_CLOEXEC` are heeded).
pub fn open_readable(proxy: &dyn Proxy, path: &[u8], flags: c_int) -> Result<Readable, i32> {
    if flags & libc::O_DIRECTORY != 0 {
        return match stat::is_dir(&stat(proxy, path, true)?) {
            true => Ok(Readable::Directory),
            false => Err(libc::ENOTDIR),
        };
    }
    let first = match read_chunk(proxy, path, 0) {
        Err(libc::EISDIR) => return Ok(Readable::Directory),
        Err(errno) => return Err(errno),
        Ok((meta, _, _)) if stat::is_dir(&meta) => return Ok(Readable::Directory),
        Ok(first) => first,
    };
    let meta = first.0;
    let fd = memfd(path, flags & libc::O_CLOEXEC != 0)?;
    fill(proxy, &fd, path, first)?;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: `fd` is our memfd, created with MFD_ALLOW_SEALING.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        proxy.note("cannot seal a target file's memfd");
    }
    rewind(&fd, false)?;
    Ok(Readable::File(fd, meta))
}

/// One `FileRead` of up to [`FILE_READ_CHUNK`] bytes at `offset`: the file's metadata, the
/// bytes, and whether they reach its end.
pub fn read_chunk(proxy: &dyn Proxy, path: &[u8], offset: u64) -> Result<(FileMeta, Vec<u8>, bool), i32> {
    match proxy.call(Message::FileRead { path: path.to_vec(), offset, len: FILE_READ_CHUNK })? {
        Message::FileData { meta, data, eof } => Ok((meta, data, eof)),
        other => Err(unexpected(proxy, &other)),
    }
}

/// Writes `first` and every following chunk of the target file into `fd`.
pub fn fill(proxy: &dyn Proxy, fd: &OwnedFd, path: &[u8], first: (FileMeta, Vec<u8>, bool)) -> Result<(), i32> {
    let (_, mut data, mut eof) = first;
    let mut offset = 0u64;
    loop {
        write_all(fd, &data)?;
        offset += data.len() as u64;
        if eof || data.is_empty() {
            return Ok(());
        }
        (_, data, eof) = read_chunk(proxy, path, offset)?;
    }
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> Result<(), i32> {
    while !data.is_empty() {
        // SAFETY: `data` is valid for its length; `fd` is our memfd.
        let written = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        if written <= 0 {
            return Err(last_errno().max(libc::EIO));
        }
        data = &data[written as usize..];
    }
    Ok(())
}

/// Moves `fd` to its start, or (`append`) makes it append and moves it to its end.
pub fn rewind(fd: &OwnedFd, append: bool) -> Result<(), i32> {
    let raw = fd.as_raw_fd();
    if append {
        // SAFETY: F_SETFL with O_APPEND on our own memfd.
        unsafe { libc::fcntl(raw, libc::F_SETFL, libc::O_APPEND) };
    }
    // SAFETY: lseek on our own memfd.
    match unsafe { libc::lseek(raw, 0, if append { libc::SEEK_END } else { libc::SEEK_SET }) } {
        -1 => Err(last_errno()),
        _ => Ok(()),
    }
}

/// A memfd named after the target path (`tether:<path>`), sealable.
pub fn memfd(path: &[u8], cloexec: bool) -> Result<OwnedFd, i32> {
    let mut name = b"tether:".to_vec();
    name.extend(path.iter().take(240).filter(|b| **b != 0));
    name.push(0);
    let flags = libc::MFD_ALLOW_SEALING | if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: `name` is NUL-terminated.
    let fd = unsafe { libc::memfd_create(name.as_ptr().cast(), flags) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}
