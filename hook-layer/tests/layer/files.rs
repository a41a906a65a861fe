//! Files: target content through open/read, fopen, mmap, stat, links, directories; host
//! paths never asked; `not_found` rules; write mode.

use tether_rpc_schema::policy::{FsMode, FsPolicy, LayerPolicy};
use tether_rpc_schema::wire::Message;

use crate::fake_proxy::Target;
use crate::harness::{program, run, Session};

fn session() -> Session {
    Session::start(Target::sample(), LayerPolicy::default())
}

#[test]
fn open_read_of_target_file_returns_its_content() {
    let s = session();
    assert_eq!(s.run("fileops", &["cat", "/etc/app/config.yaml"]), (0, "mode: target\nreplicas: 3\n".into()));
}

#[test]
fn fopen_fgets_of_target_file_reads_lines() {
    let s = session();
    let (code, out) = s.run("fileops", &["fgets", "/etc/app/config.yaml"]);
    assert_eq!((code, out.as_str()), (0, "line:mode: target\nline:replicas: 3\n"));
}

#[test]
fn mmap_and_fstat_of_large_target_file_see_every_chunk() {
    let s = session();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum = big.iter().fold(0u64, |sum, b| sum.wrapping_mul(31).wrapping_add(u64::from(*b)));
    let (code, out) = s.run("fileops", &["mmap", "/srv/data/big.bin"]);
    assert_eq!((code, out), (0, format!("size=5000000 sum={sum}\n")));
    let reads = s.proxy.requests().iter().filter(|m| matches!(m, Message::FileRead { .. })).count();
    assert_eq!(reads, 2, "5 MB arrive in two chunks");
}

#[test]
fn stat_lstat_statx_access_report_target_metadata() {
    let s = session();
    let (_, out) = s.run("fileops", &["stat", "/etc/app/config.yaml"]);
    assert_eq!(out, "mode=100644 size=25 uid=1234 mtime=1700000000 ino=4242\n");
    let (_, out) = s.run("fileops", &["lstat", "/etc/app/current"]);
    assert!(out.starts_with("mode=120777 "), "{out}");
    let (_, out) = s.run("fileops", &["stat", "/etc/app"]);
    assert!(out.starts_with("mode=40755 "), "{out}");
    assert_eq!(s.run("fileops", &["statx", "/etc/app/config.yaml"]).1, "mode=100644 size=25\n");
    assert_eq!(s.run("fileops", &["access", "/etc/app/config.yaml"]).1, "ok\n");
    assert_eq!(s.run("fileops", &["access", "/etc/app/missing"]).1, format!("errno={}\n", libc::ENOENT));
}

/// A relative path is the target's or the host's by the working directory of the moment,
/// however the program changed it (the layer keeps a copy of it between changes).
#[test]
fn a_relative_path_follows_every_change_of_the_working_directory() {
    let s = session();
    for how in ["chdir", "fchdir", "syscall"] {
        let expected = format!("ino=4242\nerrno={}\n", libc::ENOENT);
        assert_eq!(s.run("fileops", &["cd-stat", "app/config.yaml", how]), (0, expected), "{how}");
    }
}

#[test]
fn readlink_truncates_and_realpath_resolves_in_the_target() {
    let s = session();
    assert_eq!(s.run("fileops", &["readlink", "/etc/app/current"]).1, "config.y (8)\n");
    assert_eq!(s.run("fileops", &["realpath", "/etc/app/current"]).1, "/etc/app/config.yaml\n");
}

#[test]
fn opendir_readdir_lists_target_entries_and_openat_follows_dirfd() {
    let s = session();
    let (code, out) = s.run("fileops", &["ls", "/etc/app"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, ".:4\n..:4\nconfig.yaml:8\nconf.d:4\ncurrent:10\nopenat:mode: target\nreplicas: 3\n");
}

#[test]
fn scandir_sorts_target_entries() {
    let s = session();
    assert_eq!(s.run("fileops", &["scandir", "/etc/app"]), (0, ".\n..\nconf.d\nconfig.yaml\ncurrent\n".into()));
}

#[test]
fn host_paths_are_never_asked_from_the_target() {
    let s = session();
    std::fs::create_dir_all(s.dir.path().join("work")).unwrap();
    std::fs::write(s.dir.path().join("work/local.txt"), "host file\n").unwrap();
    assert_eq!(s.run("fileops", &["cat", "local.txt"]).1, "host file\n");
    assert_eq!(s.run("fileops", &["stat", "/usr/bin/env"]).0, 0);
    assert_eq!(s.run("fileops", &["cat", "/etc/passwd"]).0, 0);
    let asked = s.proxy.requested_paths();
    assert!(
        asked.iter().all(|p| !p.starts_with("/usr") && !p.contains("local.txt") && p != "/etc/passwd"),
        "{asked:?}"
    );
}

#[test]
fn not_found_rule_gives_enoent_without_asking() {
    let policy = LayerPolicy {
        fs: FsPolicy { not_found: vec!["^/etc/app/config".into()], ..FsPolicy::default() },
        ..LayerPolicy::default()
    };
    let s = Session::start(Target::sample(), policy);
    assert_eq!(s.run("fileops", &["cat", "/etc/app/config.yaml"]).1, format!("errno={}\n", libc::ENOENT));
    assert!(s.proxy.requested_paths().is_empty());
}

#[test]
fn write_mode_sends_file_write_on_close_and_fclose() {
    let policy = LayerPolicy { fs: FsPolicy { mode: FsMode::Write, ..FsPolicy::default() }, ..LayerPolicy::default() };
    let s = Session::start(Target::sample(), policy);
    assert_eq!(s.run("fileops", &["write", "/etc/app/new.txt", "fresh"]).1, "written\n");
    assert_eq!(s.proxy.file("/etc/app/new.txt").as_deref(), Some(&b"fresh"[..]));
    assert_eq!(s.run("fileops", &["fwrite", "/etc/app/config.yaml", "extra: 1\n"]).1, "written\n");
    assert_eq!(s.proxy.file("/etc/app/config.yaml").as_deref(), Some(&b"mode: target\nreplicas: 3\nextra: 1\n"[..]));
    let mode = s.proxy.requests().iter().find_map(|m| match m {
        Message::FileWrite { path, mode, .. } if path == b"/etc/app/new.txt" => Some(*mode),
        _ => None,
    });
    assert_eq!(mode, Some(0o640));
}

#[test]
fn write_mode_rename_noreplace_refuses_an_existing_target_file() {
    let policy = LayerPolicy { fs: FsPolicy { mode: FsMode::Write, ..FsPolicy::default() }, ..LayerPolicy::default() };
    let s = Session::start(Target::sample(), policy);
    let existing = s.run("fileops", &["rename-noreplace", "/etc/app/config.yaml", "/etc/app/config.yaml"]);
    assert_eq!(existing.1, format!("errno={}\n", libc::EEXIST));
    assert!(!s.proxy.requests().iter().any(|m| matches!(m, Message::FileRename { .. })), "nothing was renamed");
    let fresh = s.run("fileops", &["rename-noreplace", "/etc/app/config.yaml", "/etc/app/moved.yaml"]);
    assert_eq!(fresh.1, "renamed\n");
    assert_eq!(s.proxy.file("/etc/app/moved.yaml").as_deref(), Some(&b"mode: target\nreplicas: 3\n"[..]));
}

#[test]
fn read_mode_writes_stay_on_the_host() {
    let s = session();
    let host_file = s.dir.path().join("host-write.txt");
    let (code, _) = s.run("fileops", &["write", host_file.to_str().unwrap(), "x"]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "x");
    assert!(!s.proxy.requests().iter().any(|m| matches!(m, Message::FileWrite { .. })));
}

#[test]
fn cat_and_python_read_target_files() {
    let s = session();
    let mut cat = s.command("cat");
    cat.arg("/etc/app/config.yaml");
    assert_eq!(run(cat), (0, "mode: target\nreplicas: 3\n".into()));
    let mut python = s.command("python3");
    python.args([
        "-c",
        "print(open('/etc/app/config.yaml').read(), end=''); import os; print(sorted(os.listdir('/etc/app')))",
    ]);
    assert_eq!(run(python), (0, "mode: target\nreplicas: 3\n['conf.d', 'config.yaml', 'current']\n".into()));
}

#[test]
fn statx_through_syscall_reports_target_metadata() {
    let s = session();
    assert_eq!(s.run("fileops", &["rawstatx", "/etc/app/config.yaml"]), (0, "mode=100644 size=25\n".into()));
    assert_eq!(s.run("fileops", &["rawstatx", "/etc/app/current", "nofollow"]), (0, "mode=120777 size=11\n".into()));
    assert_eq!(s.run("fileops", &["rawstatx", "/etc/app/missing"]).1, format!("errno={}\n", libc::ENOENT));
    let (code, out) = s.run("fileops", &["rawstatx", "/usr/bin/env"]);
    assert_eq!(code, 0, "host paths still reach the kernel: {out}");
}

#[test]
fn other_syscall_numbers_pass_through_with_their_errno() {
    let s = session();
    assert_eq!(s.run("fileops", &["rawgetpid", "-"]), (0, format!("same=1 rc=-1 errno={}\n", libc::EBADF)));
}

#[test]
fn node_stat_and_lstat_of_target_paths_see_target_metadata() {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        eprintln!("node is not on PATH: skipping the Node.js check (the C syscall() test covers the shim)");
        return;
    }
    let s = session();
    let mut node = s.command("node");
    node.args([
        "-e",
        "const fs = require('fs'); \
        console.log(fs.statSync('/etc/app/config.yaml').size, fs.lstatSync('/etc/app/current').isSymbolicLink(), \
        fs.statSync('/etc/app/current').size, fs.existsSync('/etc/app/missing')); \
        fs.stat('/etc/app/config.yaml', (err, st) => console.log(err ? err.code : st.size));",
    ]);
    assert_eq!(run(node), (0, "25 true 25 false\n25\n".into()));
}

/// Placeholder directory fds open an empty directory in the session's private directory: what
/// another user puts at the fixed `/tmp` name older layers used (a file, or a symlink to a
/// directory of theirs) changes nothing. The program runs as an otherwise unused uid, so no
/// other test (nor another checkout's layer) ever looks at the name planted here.
#[test]
fn placeholder_directory_ignores_another_users_file_or_symlink_in_tmp() {
    use std::os::unix::fs::{chown, lchown, PermissionsExt};
    const USER: u32 = 47_301;
    const ATTACKER: u32 = 47_302;
    let s = session();
    let command = |args: &[&str]| {
        let mut command = s.command("setpriv");
        command
            .args([format!("--reuid={USER}"), format!("--regid={USER}"), "--clear-groups".into(), "--".into()])
            .arg(program("fileops"))
            .args(args);
        command
    };
    let _ = command(&[]);
    for entry in std::fs::read_dir(s.dir.path()).unwrap() {
        chown(entry.unwrap().path(), Some(USER), Some(USER)).unwrap();
    }
    chown(s.dir.path(), Some(USER), Some(USER)).unwrap();
    let theirs = crate::harness::tempdir::TempDir::new();
    chown(theirs.path(), Some(ATTACKER), Some(ATTACKER)).unwrap();
    std::fs::set_permissions(theirs.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let old_name = std::path::PathBuf::from(format!("/tmp/.tether-layer-empty-{USER}"));

    for what in ["a file", "a symlink"] {
        let _ = std::fs::remove_file(&old_name);
        if what == "a file" {
            std::fs::write(&old_name, b"").unwrap();
        } else {
            std::os::unix::fs::symlink(theirs.path(), &old_name).unwrap();
        }
        lchown(&old_name, Some(ATTACKER), Some(ATTACKER)).unwrap();
        let (code, out) = run(command(&["placeholder", "/etc/app"]));
        assert_eq!(code, 0, "with {what} of another user at {}: {out}", old_name.display());
        let host = out.lines().next().and_then(|line| line.strip_prefix("host:")).unwrap_or_default();
        assert!(host.starts_with(s.dir.path().to_str().unwrap()), "with {what}: placeholder opened {host}");
        assert!(out.lines().any(|line| line == "config.yaml"), "with {what}: {out}");
        assert_eq!(std::fs::read_dir(theirs.path()).unwrap().count(), 0, "with {what}: their directory was touched");
    }
    let _ = std::fs::remove_file(&old_name);
}
