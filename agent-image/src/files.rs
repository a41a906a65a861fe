//! File access inside the target's root. Every path is resolved with `openat2` and
//! `RESOLVE_IN_ROOT` against one directory handle on `/proc/<pid>/root`, so `..` and absolute
//! symlinks stop at the target's root, as they would for the target itself. Operations on a
//! directory entry (unlink, mkdir, rename, ...) open the parent that way and act on the
//! basename with the `*at` calls, which never follow a final symlink.
//!
//! Every function here blocks; callers run them on the blocking pool. Errors are the kernel's
//! errno, which the user process should see unchanged.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, StatxFlags};
use rustix::io::Errno;
use tether_rpc_schema::wire::{DirEntry, FileMeta, Timestamp, FILE_READ_CHUNK};

/// A failed file operation: the errno the target's kernel gave.
pub type Result<T, E = Errno> = std::result::Result<T, E>;

/// Largest file read whole by [`TargetFs::read_small`].
const SMALL_FILE_LIMIT: usize = 1024 * 1024;

/// What a [`TargetFs::read`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The whole file's metadata.
    pub meta: FileMeta,
    pub data: Vec<u8>,
    /// `data` reaches the end of the file.
    pub eof: bool,
}

/// Identifies one version of a file, to notice when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    mtime: Timestamp,
    ino: u64,
    size: u64,
}

/// The target's filesystem, seen through its root directory.
#[derive(Debug)]
pub struct TargetFs {
    root: OwnedFd,
}

impl TargetFs {
    /// Wraps a directory handle (`O_PATH` is enough) on the target's root.
    pub fn new(root: OwnedFd) -> TargetFs {
        TargetFs { root }
    }

    /// Opens `path` resolved inside the root. Magic links (`/proc/*/fd/*`, `/proc/*/root`)
    /// are refused because they could lead out of it.
    fn open(&self, path: &[u8], flags: OFlags, mode: Mode) -> Result<OwnedFd> {
        retry(|| {
            rustix::fs::openat2(
                &self.root,
                OsStr::from_bytes(path),
                flags | OFlags::CLOEXEC,
                mode,
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )
        })
    }

    fn open_parent<'p>(&self, path: &'p [u8]) -> Result<(OwnedFd, &'p [u8])> {
        let (parent, name) = split_parent(path)?;
        Ok((self.open(parent, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?, name))
    }

    /// Up to `len` bytes (at most [`FILE_READ_CHUNK`]) from `offset`.
    pub fn read(&self, path: &[u8], offset: u64, len: u64) -> Result<Chunk> {
        // O_NONBLOCK: opening or reading a FIFO must not hang the request.
        if offset > i64::MAX as u64 {
            return Err(Errno::INVAL);
        }
        let fd = self.open(path, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
        let meta = meta_of(&fd)?;
        let is_regular = FileType::from_raw_mode(meta.mode) == FileType::RegularFile;
        let mut want = len.min(FILE_READ_CHUNK);
        // Regular files need no buffer beyond their size; files of size 0 (procfs) may still
        // have content.
        if is_regular && meta.size > 0 {
            want = want.min(meta.size.saturating_sub(offset));
        }
        let want = want as usize;
        let mut data = vec![0u8; want];
        let mut filled = 0;
        let mut hit_end = false;
        while filled < want {
            let n = retry(|| rustix::io::pread(&fd, &mut data[filled..], offset + filled as u64))?;
            if n == 0 {
                hit_end = true;
                break;
            }
            filled += n;
        }
        data.truncate(filled);
        let eof = hit_end || (is_regular && offset + filled as u64 >= meta.size);
        Ok(Chunk { meta, data, eof })
    }

    /// A whole small file (configuration such as `/etc/resolv.conf`).
    pub fn read_small(&self, path: &[u8]) -> Result<Vec<u8>> {
        let chunk = self.read(path, 0, SMALL_FILE_LIMIT as u64)?;
        if chunk.eof {
            Ok(chunk.data)
        } else {
            Err(Errno::FBIG)
        }
    }

    /// `stat` (`follow`) or `lstat`.
    pub fn stat(&self, path: &[u8], follow: bool) -> Result<FileMeta> {
        let nofollow = if follow { OFlags::empty() } else { OFlags::NOFOLLOW };
        meta_of(&self.open(path, OFlags::PATH | nofollow, Mode::empty())?)
    }

    /// The version of a file, or `None` when it does not exist.
    pub fn stamp(&self, path: &[u8]) -> Result<Option<Stamp>> {
        match self.stat(path, true) {
            Ok(meta) => Ok(Some(Stamp { mtime: meta.mtime, ino: meta.ino, size: meta.size })),
            Err(Errno::NOENT) => Ok(None),
            Err(errno) => Err(errno),
        }
    }

    /// `access(path, mode)`, checked with the agent's credentials.
    pub fn access(&self, path: &[u8], mode: i32) -> Result<()> {
        let fd = self.open(path, OFlags::PATH, Mode::empty())?;
        faccessat_empty_path(&fd, mode)
    }

    /// The content of the symlink `path`.
    pub fn readlink(&self, path: &[u8]) -> Result<Vec<u8>> {
        let fd = self.open(path, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())?;
        // readlinkat on an empty path says ENOENT for non-links; readlink(2) says EINVAL.
        if FileType::from_raw_mode(meta_of(&fd)?.mode) != FileType::Symlink {
            return Err(Errno::INVAL);
        }
        Ok(rustix::fs::readlinkat(&fd, c"", Vec::new())?.into_bytes())
    }

    /// The absolute path of `path` as the target sees it, every symlink resolved.
    pub fn realpath(&self, path: &[u8]) -> Result<Vec<u8>> {
        let fd = self.open(path, OFlags::PATH, Mode::empty())?;
        let full = fd_path(&fd)?;
        let root = fd_path(&self.root)?;
        strip_root(&root, &full).ok_or(Errno::XDEV)
    }

    /// The entries of a directory, without `.` and `..`.
    pub fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>> {
        let fd = self.open(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
        let mut dir = rustix::fs::Dir::read_from(&fd)?;
        let mut entries = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            entries.push(DirEntry { name: name.to_vec(), ino: entry.ino(), kind: d_type(entry.file_type()) });
        }
        Ok(entries)
    }

    /// Replaces (or with `append` extends) a file's content, creating it with `mode`.
    pub fn write(&self, path: &[u8], data: &[u8], append: bool, mode: u32) -> Result<()> {
        let how = if append { OFlags::APPEND } else { OFlags::TRUNC };
        // O_NONBLOCK: a FIFO without a reader must fail (ENXIO), not hang the request and its
        // thread for good; one whose pipe is full fails with EAGAIN.
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NONBLOCK | how;
        let fd = self.open(path, flags, Mode::from_raw_mode(mode & 0o7777))?;
        let mut written = 0;
        while written < data.len() {
            written += retry(|| rustix::io::write(&fd, &data[written..]))?;
        }
        Ok(())
    }

    pub fn unlink(&self, path: &[u8]) -> Result<()> {
        let (parent, name) = self.open_parent(path)?;
        rustix::fs::unlinkat(&parent, OsStr::from_bytes(name), AtFlags::empty())
    }

    pub fn mkdir(&self, path: &[u8], mode: u32) -> Result<()> {
        let (parent, name) = self.open_parent(path)?;
        rustix::fs::mkdirat(&parent, OsStr::from_bytes(name), Mode::from_raw_mode(mode & 0o7777))
    }

    pub fn rmdir(&self, path: &[u8]) -> Result<()> {
        let (parent, name) = self.open_parent(path)?;
        rustix::fs::unlinkat(&parent, OsStr::from_bytes(name), AtFlags::REMOVEDIR)
    }

    pub fn rename(&self, from: &[u8], to: &[u8]) -> Result<()> {
        let (from_parent, from_name) = self.open_parent(from)?;
        let (to_parent, to_name) = self.open_parent(to)?;
        rustix::fs::renameat(&from_parent, OsStr::from_bytes(from_name), &to_parent, OsStr::from_bytes(to_name))
    }
}

/// Splits a path into its parent directory and final name (trailing slashes ignored).
fn split_parent(path: &[u8]) -> Result<(&[u8], &[u8])> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    let trimmed = match path.iter().rposition(|&byte| byte != b'/') {
        Some(last) => &path[..=last],
        // The root itself has no parent to act in.
        None => return Err(Errno::BUSY),
    };
    let (parent, name) = match trimmed.iter().rposition(|&byte| byte == b'/') {
        Some(0) => (&b"/"[..], &trimmed[1..]),
        Some(slash) => (&trimmed[..slash], &trimmed[slash + 1..]),
        None => (&b"."[..], trimmed),
    };
    if name == b"." || name == b".." {
        return Err(Errno::INVAL);
    }
    Ok((parent, name))
}

/// The target-side path of `full`, given the agent-side path of the target's root.
fn strip_root(root: &[u8], full: &[u8]) -> Option<Vec<u8>> {
    if root == b"/" {
        return Some(full.to_vec());
    }
    match full.strip_prefix(root)? {
        [] => Some(b"/".to_vec()),
        rest if rest.starts_with(b"/") => Some(rest.to_vec()),
        _ => None,
    }
}

/// The path the kernel reports for an open file, from the agent's point of view.
fn fd_path(fd: &OwnedFd) -> Result<Vec<u8>> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::readlink(link, Vec::new())?.into_bytes())
}

fn meta_of(fd: &OwnedFd) -> Result<FileMeta> {
    let stx = rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS)?;
    let time = |t: rustix::fs::StatxTimestamp| Timestamp { sec: t.tv_sec, nsec: t.tv_nsec };
    Ok(FileMeta {
        dev: rustix::fs::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        ino: stx.stx_ino,
        mode: u32::from(stx.stx_mode),
        nlink: u64::from(stx.stx_nlink),
        uid: stx.stx_uid,
        gid: stx.stx_gid,
        rdev: rustix::fs::makedev(stx.stx_rdev_major, stx.stx_rdev_minor),
        size: stx.stx_size,
        blksize: u64::from(stx.stx_blksize),
        blocks: stx.stx_blocks,
        atime: time(stx.stx_atime),
        mtime: time(stx.stx_mtime),
        ctime: time(stx.stx_ctime),
    })
}

fn d_type(kind: FileType) -> u8 {
    match kind {
        FileType::RegularFile => libc::DT_REG,
        FileType::Directory => libc::DT_DIR,
        FileType::Symlink => libc::DT_LNK,
        FileType::Fifo => libc::DT_FIFO,
        FileType::Socket => libc::DT_SOCK,
        FileType::CharacterDevice => libc::DT_CHR,
        FileType::BlockDevice => libc::DT_BLK,
        FileType::Unknown => libc::DT_UNKNOWN,
    }
}

/// `faccessat2(fd, "", mode, AT_EMPTY_PATH)`: checks the file an `O_PATH` handle refers to.
/// rustix refuses `AT_EMPTY_PATH` for `accessat`, so this calls the kernel directly.
fn faccessat_empty_path(fd: &impl AsFd, mode: i32) -> Result<()> {
    const EMPTY: &CStr = c"";
    // SAFETY: faccessat2 only reads the NUL-terminated empty string and the integers; the fd
    // is borrowed and stays open for the duration of the call.
    let rc = unsafe {
        libc::syscall(libc::SYS_faccessat2, fd.as_fd().as_raw_fd(), EMPTY.as_ptr(), mode, libc::AT_EMPTY_PATH)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
    }
}

fn retry<T>(mut call: impl FnMut() -> Result<T>) -> Result<T> {
    loop {
        match call() {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::{Path, PathBuf};

    /// A scratch directory standing in for a target's root, removed on drop.
    struct FakeRoot {
        dir: PathBuf,
        fs: TargetFs,
    }

    impl FakeRoot {
        fn new(name: &str) -> FakeRoot {
            let dir = std::env::temp_dir().join(format!("tether-agent-files-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("etc")).unwrap();
            std::fs::create_dir_all(dir.join("data/deep")).unwrap();
            std::fs::write(dir.join("etc/passwd"), "fake passwd\n").unwrap();
            symlink("/etc/passwd", dir.join("data/link")).unwrap();
            symlink("../../..", dir.join("data/deep/up")).unwrap();
            let root = rustix::fs::open(&dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
            FakeRoot { dir, fs: TargetFs::new(root) }
        }

        /// Another handle on the same root, for a thread of its own.
        fn clone_root(&self) -> TargetFs {
            TargetFs::new(self.fs.root.try_clone().unwrap())
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.join(rel)
        }
    }

    impl Drop for FakeRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn read_all(fs: &TargetFs, path: &str) -> Result<String> {
        Ok(String::from_utf8(fs.read(path.as_bytes(), 0, 1 << 20)?.data).unwrap())
    }

    #[test]
    fn read_absolute_symlink_stays_in_root() {
        let root = FakeRoot::new("abs");
        assert_eq!(read_all(&root.fs, "/data/link").unwrap(), "fake passwd\n");
    }

    #[test]
    fn read_dotdot_beyond_root_stays_in_root() {
        let root = FakeRoot::new("dotdot");
        assert_eq!(read_all(&root.fs, "/data/deep/up/etc/passwd").unwrap(), "fake passwd\n");
        assert_eq!(read_all(&root.fs, "/../../../etc/passwd").unwrap(), "fake passwd\n");
    }

    #[test]
    fn realpath_is_the_path_inside_the_root() {
        let root = FakeRoot::new("realpath");
        assert_eq!(root.fs.realpath(b"/data/link").unwrap(), b"/etc/passwd");
        assert_eq!(root.fs.realpath(b"/data/deep/up").unwrap(), b"/");
        assert_eq!(root.fs.realpath(b"/data/deep/../deep/up/data").unwrap(), b"/data");
        assert_eq!(root.fs.realpath(b"/missing/x"), Err(Errno::NOENT));
    }

    #[test]
    fn read_reports_chunk_meta_and_eof() {
        let root = FakeRoot::new("chunk");
        let chunk = root.fs.read(b"/etc/passwd", 5, 3).unwrap();
        assert_eq!((chunk.data.as_slice(), chunk.eof, chunk.meta.size), (&b"pas"[..], false, 12));
        let tail = root.fs.read(b"/etc/passwd", 5, 100).unwrap();
        assert_eq!((tail.data.as_slice(), tail.eof), (&b"passwd\n"[..], true));
    }

    #[test]
    fn read_beyond_end_is_empty_eof_and_huge_offset_is_einval() {
        let root = FakeRoot::new("beyond");
        let chunk = root.fs.read(b"/etc/passwd", 100, 10).unwrap();
        assert_eq!((chunk.data.len(), chunk.eof), (0, true));
        assert_eq!(root.fs.read(b"/etc/passwd", u64::MAX, 1).unwrap_err(), Errno::INVAL);
    }

    #[test]
    fn read_directory_or_missing_gives_errno() {
        let root = FakeRoot::new("errno");
        assert_eq!(root.fs.read(b"/etc", 0, 10).unwrap_err(), Errno::ISDIR);
        assert_eq!(root.fs.read(b"/nope", 0, 10).unwrap_err(), Errno::NOENT);
        assert_eq!(root.fs.read(b"/etc/passwd/x", 0, 10).unwrap_err(), Errno::NOTDIR);
    }

    #[test]
    fn stat_follow_and_nofollow_differ_on_symlink() {
        let root = FakeRoot::new("stat");
        let followed = root.fs.stat(b"/data/link", true).unwrap();
        let link = root.fs.stat(b"/data/link", false).unwrap();
        assert_eq!(FileType::from_raw_mode(followed.mode), FileType::RegularFile);
        assert_eq!(FileType::from_raw_mode(link.mode), FileType::Symlink);
        assert_eq!(followed.size, 12);
    }

    #[test]
    fn readlink_gives_link_content_and_einval_for_files() {
        let root = FakeRoot::new("readlink");
        assert_eq!(root.fs.readlink(b"/data/link").unwrap(), b"/etc/passwd");
        assert_eq!(root.fs.readlink(b"/etc/passwd").unwrap_err(), Errno::INVAL);
    }

    #[test]
    fn read_dir_lists_entries_without_dots() {
        let root = FakeRoot::new("readdir");
        let mut entries: Vec<(String, u8)> = root
            .fs
            .read_dir(b"/data")
            .unwrap()
            .into_iter()
            .map(|e| (String::from_utf8(e.name).unwrap(), e.kind))
            .collect();
        entries.sort();
        assert_eq!(entries, [("deep".into(), libc::DT_DIR), ("link".into(), libc::DT_LNK)]);
    }

    #[test]
    fn write_to_fifo_without_reader_fails_instead_of_hanging() {
        let root = FakeRoot::new("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, root.path("data/fifo"), FileType::Fifo, Mode::from_raw_mode(0o600), 0)
            .unwrap();
        let fs = root.clone_root();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || done_tx.send(fs.write(b"/data/fifo", b"data", false, 0o600)));
        let written = done_rx.recv_timeout(std::time::Duration::from_secs(5)).expect("the write hung");
        assert_eq!(written, Err(Errno::NXIO));
    }

    #[test]
    fn write_mkdir_rename_unlink_rmdir_act_inside_root() {
        let root = FakeRoot::new("write");
        let fs = &root.fs;
        fs.mkdir(b"/new", 0o755).unwrap();
        fs.write(b"/new/f", b"one", false, 0o600).unwrap();
        fs.write(b"/new/f", b"two", true, 0o600).unwrap();
        assert_eq!(std::fs::read(root.path("new/f")).unwrap(), b"onetwo");
        fs.write(b"/data/link", b"via link", false, 0o644).unwrap();
        assert_eq!(std::fs::read(root.path("etc/passwd")).unwrap(), b"via link");
        fs.rename(b"/new/f", b"/new/g").unwrap();
        assert_eq!(fs.unlink(b"/new/f"), Err(Errno::NOENT));
        assert_eq!(fs.rmdir(b"/new"), Err(Errno::NOTEMPTY));
        fs.unlink(b"/new/g").unwrap();
        fs.rmdir(b"/new/").unwrap();
        assert!(!Path::new(&root.path("new")).exists());
        fs.unlink(b"/data/link").unwrap();
        assert!(root.path("etc/passwd").exists(), "unlink removes the link, not its target");
    }

    #[test]
    fn access_checks_existence_and_mode() {
        let root = FakeRoot::new("access");
        assert_eq!(root.fs.access(b"/etc/passwd", libc::R_OK), Ok(()));
        assert_eq!(root.fs.access(b"/etc/shadow", libc::F_OK), Err(Errno::NOENT));
        assert_eq!(root.fs.access(b"/etc/passwd", libc::X_OK), Err(Errno::ACCESS));
    }

    #[test]
    fn split_parent_handles_roots_relatives_and_trailing_slashes() {
        assert_eq!(split_parent(b"/a/b/").unwrap(), (&b"/a"[..], &b"b"[..]));
        assert_eq!(split_parent(b"/a").unwrap(), (&b"/"[..], &b"a"[..]));
        assert_eq!(split_parent(b"a").unwrap(), (&b"."[..], &b"a"[..]));
        assert_eq!(split_parent(b"/"), Err(Errno::BUSY));
        assert_eq!(split_parent(b"/a/.."), Err(Errno::INVAL));
    }

    #[test]
    fn strip_root_keeps_paths_as_the_target_sees_them() {
        assert_eq!(strip_root(b"/", b"/etc/x").unwrap(), b"/etc/x");
        assert_eq!(strip_root(b"/srv/root", b"/srv/root/etc/x").unwrap(), b"/etc/x");
        assert_eq!(strip_root(b"/srv/root", b"/srv/root").unwrap(), b"/");
        assert_eq!(strip_root(b"/srv/root", b"/srv/rootless/x"), None);
    }
}
