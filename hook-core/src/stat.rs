//! `struct stat` and `struct statx` built from a target file's [`FileMeta`].

use tether_rpc_schema::wire::{FileMeta, Timestamp};

/// `struct stat` (identical to `struct stat64` on x86_64) for `meta`.
pub fn to_stat(meta: &FileMeta) -> libc::stat {
    // SAFETY: struct stat is plain data (integers and padding); all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_dev = meta.dev;
    st.st_ino = meta.ino;
    st.st_mode = meta.mode;
    st.st_nlink = meta.nlink;
    st.st_uid = meta.uid;
    st.st_gid = meta.gid;
    st.st_rdev = meta.rdev;
    st.st_size = meta.size as i64;
    st.st_blksize = meta.blksize as i64;
    st.st_blocks = meta.blocks as i64;
    (st.st_atime, st.st_atime_nsec) = (meta.atime.sec, i64::from(meta.atime.nsec));
    (st.st_mtime, st.st_mtime_nsec) = (meta.mtime.sec, i64::from(meta.mtime.nsec));
    (st.st_ctime, st.st_ctime_nsec) = (meta.ctime.sec, i64::from(meta.ctime.nsec));
    st
}

/// `struct statx` for `meta`, with the basic fields (`STATX_BASIC_STATS`) valid.
pub fn to_statx(meta: &FileMeta) -> libc::statx {
    // SAFETY: struct statx is plain data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    stx.stx_mask = libc::STATX_BASIC_STATS;
    stx.stx_blksize = meta.blksize as u32;
    stx.stx_nlink = meta.nlink as u32;
    stx.stx_uid = meta.uid;
    stx.stx_gid = meta.gid;
    stx.stx_mode = meta.mode as u16;
    stx.stx_ino = meta.ino;
    stx.stx_size = meta.size;
    stx.stx_blocks = meta.blocks;
    stx.stx_atime = timestamp(meta.atime);
    stx.stx_mtime = timestamp(meta.mtime);
    stx.stx_ctime = timestamp(meta.ctime);
    (stx.stx_rdev_major, stx.stx_rdev_minor) = split_dev(meta.rdev);
    (stx.stx_dev_major, stx.stx_dev_minor) = split_dev(meta.dev);
    stx
}

/// The `struct stat` fields of a `statx` answer that identify a file and its content
/// (device, inode, size, blocks, mtime, ctime): enough to recognise a memfd of ours.
pub fn identity_of_statx(stx: &libc::statx) -> libc::stat {
    // SAFETY: struct stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_dev = libc::makedev(stx.stx_dev_major, stx.stx_dev_minor);
    st.st_ino = stx.stx_ino;
    st.st_size = stx.stx_size as i64;
    st.st_blocks = stx.stx_blocks as i64;
    (st.st_mtime, st.st_mtime_nsec) = (stx.stx_mtime.tv_sec, i64::from(stx.stx_mtime.tv_nsec));
    (st.st_ctime, st.st_ctime_nsec) = (stx.stx_ctime.tv_sec, i64::from(stx.stx_ctime.tv_nsec));
    st
}

fn timestamp(time: Timestamp) -> libc::statx_timestamp {
    // SAFETY: statx_timestamp is plain data; all-zero is valid (it has a private padding field).
    let mut ts: libc::statx_timestamp = unsafe { std::mem::zeroed() };
    ts.tv_sec = time.sec;
    ts.tv_nsec = time.nsec;
    ts
}

/// glibc's `major`/`minor` decomposition of a `dev_t`.
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// Whether `meta` describes a directory.
pub fn is_dir(meta: &FileMeta) -> bool {
    meta.mode & libc::S_IFMT == libc::S_IFDIR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FileMeta {
        FileMeta {
            dev: libc::makedev(8, 1),
            ino: 42,
            mode: libc::S_IFREG | 0o640,
            nlink: 2,
            uid: 1000,
            gid: 100,
            rdev: libc::makedev(259, 70000),
            size: 12345,
            blksize: 4096,
            blocks: 32,
            atime: Timestamp { sec: 1, nsec: 2 },
            mtime: Timestamp { sec: 3, nsec: 4 },
            ctime: Timestamp { sec: 5, nsec: 6 },
        }
    }

    #[test]
    fn to_stat_fills_every_field() {
        let st = to_stat(&meta());
        assert_eq!(
            (st.st_dev, st.st_ino, st.st_mode, st.st_nlink),
            (libc::makedev(8, 1), 42, libc::S_IFREG | 0o640, 2)
        );
        assert_eq!((st.st_uid, st.st_gid, st.st_rdev), (1000, 100, libc::makedev(259, 70000)));
        assert_eq!((st.st_size, st.st_blksize, st.st_blocks), (12345, 4096, 32));
        assert_eq!((st.st_atime, st.st_atime_nsec, st.st_mtime, st.st_mtime_nsec), (1, 2, 3, 4));
        assert_eq!((st.st_ctime, st.st_ctime_nsec), (5, 6));
    }

    #[test]
    fn to_statx_fills_basic_stats_and_splits_devices() {
        let stx = to_statx(&meta());
        assert_eq!(stx.stx_mask, libc::STATX_BASIC_STATS);
        assert_eq!((stx.stx_dev_major, stx.stx_dev_minor), (8, 1));
        assert_eq!((stx.stx_rdev_major, stx.stx_rdev_minor), (259, 70000));
        assert_eq!(u32::from(stx.stx_mode), libc::S_IFREG | 0o640);
        assert_eq!((stx.stx_ino, stx.stx_size, stx.stx_blocks, stx.stx_nlink), (42, 12345, 32, 2));
        assert_eq!((stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec), (3, 4));
        assert!(!is_dir(&meta()));
    }

    #[test]
    fn identity_of_statx_round_trips_to_stat() {
        let st = identity_of_statx(&to_statx(&meta()));
        assert_eq!((st.st_dev, st.st_ino, st.st_size, st.st_blocks), (libc::makedev(8, 1), 42, 12345, 32));
        assert_eq!((st.st_mtime, st.st_mtime_nsec, st.st_ctime, st.st_ctime_nsec), (3, 4, 5, 6));
    }
}
