//! A descriptor of a target file reports the target's metadata, as `stat` of its path does:
//! `fstat`, `fstatat(fd, "", AT_EMPTY_PATH)` and `statx(fd, "", AT_EMPTY_PATH)` from the C
//! probe, `os.fstat` from Python, and wget, which refuses a config file whose device and inode
//! differ between the two ("File /etc/wgetrc changed since the last check").

use serde_json::Value;

use crate::support::{require_tier, Fixture, Lang, Tether};

/// The answers of the calls on the descriptor, besides `stat` of the path, in a probe report.
fn descriptor_answers(report: &Value) -> Vec<(&str, &Value)> {
    ["fstat", "fstatat", "statx"].into_iter().filter_map(|call| Some((call, report.get(call)?))).collect()
}

#[test]
fn fstat_of_a_target_file_agrees_with_stat_of_its_path() {
    require_tier();
    let pod = Fixture::pod("l13-fstat");
    let tether = Tether::new();
    let target = pod.pid_target();
    // Written into the pod's own /etc (an overlay only its mount namespace sees).
    let pod_root = format!("/proc/{}/root", pod.info["pid"]);
    std::fs::write(format!("{pod_root}/etc/demo/owned.conf"), "level=3\n").unwrap();
    std::os::unix::fs::chown(format!("{pod_root}/etc/demo/owned.conf"), Some(4321), Some(765)).unwrap();
    let host_dev = std::fs::metadata("/etc/hostname").map(|meta| std::os::unix::fs::MetadataExt::dev(&meta)).unwrap();

    for lang in [Lang::C, Lang::Python] {
        for path in ["/etc/demo/secret.txt", "/etc/demo/owned.conf", "/etc/demo/conf.d"] {
            let report = tether.probe(&target, None, lang, &["fstat", path]);
            assert_eq!(report["ok"], true, "{lang:?} {path}: {report}");
            let by_path = &report["stat"];
            for (call, answer) in descriptor_answers(&report) {
                assert_eq!(answer, by_path, "{lang:?} {call} of {path} differs from stat");
            }
            assert_ne!(by_path["dev"], host_dev, "{path} came from the target's filesystem");
        }
        let owned = tether.probe(&target, None, lang, &["fstat", "/etc/demo/owned.conf"]);
        assert_eq!(
            (&owned["fstat"]["uid"], &owned["fstat"]["gid"], &owned["fstat"]["size"]),
            (&4321.into(), &765.into(), &8.into())
        );
    }
}

/// A writable target file's descriptor keeps the target's identity (device, inode, mode,
/// owner) while its size follows what the process wrote; the target gets the content on close.
#[test]
fn fstat_of_a_written_target_file_keeps_its_identity_and_shows_its_new_size() {
    require_tier();
    let pod = Fixture::pod("l13-fstat-write");
    let tether = Tether::new();
    let config = tether.config("write.json", r#"{"fs": {"read_write": ["^/etc/demo/"]}}"#);
    let report =
        tether.probe(&pod.pid_target(), Some(&config), Lang::C, &["fstat", "/etc/demo/conf.d/b.conf", "level=9\n"]);
    assert_eq!(report["ok"], true, "{report}");
    let by_path = &report["stat"];
    for (call, answer) in descriptor_answers(&report) {
        for field in ["dev", "ino", "mode", "nlink", "uid", "gid"] {
            assert_eq!(answer[field], by_path[field], "{call} {field}");
        }
        assert_eq!(answer["size"], by_path["size"].as_i64().unwrap() + 8, "{call} size follows the content");
    }
    let sent = std::fs::read_to_string(format!("/proc/{}/root/etc/demo/conf.d/b.conf", pod.info["pid"])).unwrap();
    assert_eq!(sent, "name=b\nlevel=2\nlevel=9\n");
}

/// wget reads the target's /etc/wgetrc (its `user_agent` reaches the cluster service) instead
/// of refusing it as changed between `stat` and `fstat`.
#[test]
fn wget_reads_the_target_wgetrc() {
    require_tier();
    let pod = Fixture::pod("l13-wget");
    let tether = Tether::new();
    std::fs::write(format!("/proc/{}/root/etc/wgetrc", pod.info["pid"]), "user_agent = wget-configured-by-the-pod\n")
        .unwrap();
    let url = format!("http://{}:8080/echo", pod.get("/names/orders"));
    let output = tether.exec(&pod.pid_target(), None, &["wget", "-q", "-O", "-", "--tries=1", "--timeout=10", &url]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wget failed ({}): {stderr}", output.status);
    assert!(!stderr.contains("Security check failed"), "{stderr}");
    let echo: Value = serde_json::from_slice(&output.stdout).expect("the echo service answers JSON");
    assert_eq!(echo["headers"]["user-agent"], "wget-configured-by-the-pod", "{echo}");
}

#[test]
fn opening_a_target_file_for_writing_in_read_mode_says_once_why_it_is_this_machines() {
    require_tier();
    let pod = Fixture::pod("fs-append-hint");
    let tether = Tether::new();
    let script = "import os, errno\np = '/etc/demo/secret.txt'\nprint(os.path.exists(p))\nfor _ in range(2):\n    try:\n        os.close(os.open(p, os.O_WRONLY | os.O_APPEND))\n        print('opened')\n    except OSError as e:\n        print(errno.errorcode[e.errno])\n";
    let output = tether.exec(&pod.pid_target(), None, &["/usr/bin/python3", "-c", script]);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["True", "ENOENT", "ENOENT"], "{stderr}");
    let hint = "tether: /etc/demo/secret.txt is opened for writing on this machine, not in the target";
    assert_eq!(stderr.matches(hint).count(), 1, "the hint, once: {stderr}");
    assert!(stderr.contains(r#"set fs.mode to "write", or name the path in fs.read_write"#), "{stderr}");
}
