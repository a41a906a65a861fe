//! The config file's rules change what a process under `tether exec` sees (C probe, pid target).

use crate::support::{require_tier, Fixture, Lang, Tether};

#[test]
fn env_rules_filter_override_and_unset_target_variables() {
    require_tier();
    let pod = Fixture::pod("cfg-env");
    let tether = Tether::new();
    let config = tether.config(
        "env.json",
        r#"{"env": {"include": ["DEMO_*", "DATABASE_URL", "POD_*"], "exclude": ["POD_NAME"],
                    "override": {"DATABASE_URL": "postgres://localhost/dev"}, "unset": ["POD_NAMESPACE"]}}"#,
    );
    let probe = |name: &str| tether.probe(&pod.pid_target(), Some(&config), Lang::C, &["env", name])["value"].clone();
    assert_eq!(probe("DEMO_GREETING"), pod.get("/env/DEMO_GREETING"));
    assert_eq!(probe("DATABASE_URL"), "postgres://localhost/dev");
    assert_eq!(probe("POD_NAME"), serde_json::Value::Null, "excluded");
    assert_eq!(probe("ORDERS_URL"), serde_json::Value::Null, "not included");
    assert_eq!(probe("POD_NAMESPACE"), serde_json::Value::Null, "unset");
}

#[test]
fn fs_rules_choose_between_target_host_and_not_found() {
    require_tier();
    let pod = Fixture::pod("cfg-fs");
    let tether = Tether::new();
    let target = pod.pid_target();
    let host_only = std::env::temp_dir().join(format!("tether-host-only-{}", std::process::id()));
    std::fs::write(&host_only, "from-the-host").unwrap();
    let host_only = host_only.display().to_string();

    let local = tether.config("local.json", r#"{"fs": {"mode": "local"}}"#);
    let read = tether.probe(&target, Some(&local), Lang::C, &["read", "/etc/demo/secret.txt"]);
    assert_eq!(read["code"], "ENOENT", "mode local reads the host, which has no such file: {read}");

    let rules = tether.config(
        "rules.json",
        r#"{"fs": {"not_found": ["^/etc/demo/secret\\.txt$"], "local": ["^/etc/demo/conf\\.d(/|$)"]}}"#,
    );
    let hidden = tether.probe(&target, Some(&rules), Lang::C, &["read", "/etc/demo/secret.txt"]);
    assert_eq!(hidden["code"], "ENOENT", "{hidden}");
    let kept_local = tether.probe(&target, Some(&rules), Lang::C, &["listdir", "/etc/demo/conf.d"]);
    assert_eq!(kept_local["ok"], false, "the host has no /etc/demo/conf.d: {kept_local}");

    let tmp = tether.probe(&target, None, Lang::C, &["read", &host_only]);
    assert_eq!(tmp["content"], "from-the-host", "/tmp stays on the host: {tmp}");
    std::fs::remove_file(&host_only).unwrap();
}

#[test]
fn fs_write_mode_writes_into_the_target_and_read_mode_keeps_writes_on_the_host() {
    require_tier();
    let pod = Fixture::pod("cfg-write");
    let tether = Tether::new();
    let target = pod.pid_target();
    let in_target = format!("/proc/{}/root/etc/demo/written.txt", pod.get("/pid"));

    let write = tether.config("write.json", r#"{"fs": {"mode": "write"}}"#);
    let shell =
        tether.probe(&target, Some(&write), Lang::C, &["shell", "echo written-by-tether > /etc/demo/written.txt"]);
    assert_eq!(shell["exit_code"], 0, "{shell}");
    assert_eq!(std::fs::read_to_string(&in_target).unwrap(), "written-by-tether\n");
    let read_back = tether.probe(&target, Some(&write), Lang::Python, &["read", "/etc/demo/written.txt"]);
    assert_eq!(read_back["content"], "written-by-tether\n");

    let shell = tether.probe(&target, None, Lang::C, &["shell", "echo host > /etc/demo/written.txt"]);
    assert_ne!(shell["exit_code"], 0, "in read mode the write goes to the host, which has no /etc/demo: {shell}");
    assert_eq!(std::fs::read_to_string(&in_target).unwrap(), "written-by-tether\n", "the target's file is untouched");
}

/// The shell tools a developer reaches for (coreutils' `mkdir`, `mv`, `rm`, `rmdir`, which use
/// `mkdir`, `renameat2`, `unlinkat` and `rmdir`) change the target's files in write mode.
#[test]
fn fs_write_mode_creates_renames_and_removes_target_files_with_coreutils() {
    require_tier();
    let pod = Fixture::pod("cfg-tools");
    let tether = Tether::new();
    let root = format!("/proc/{}/root/etc/demo", pod.get("/pid"));
    let write = tether.config("write.json", r#"{"fs": {"mode": "write"}}"#);
    let run = |script: &str| {
        let shell = tether.probe(&pod.pid_target(), Some(&write), Lang::C, &["shell", script]);
        assert_eq!(shell["exit_code"], 0, "{script}: {shell}");
    };
    let exists = |name: &str| std::path::Path::new(&format!("{root}/{name}")).exists();

    run("mkdir /etc/demo/made && echo a > /etc/demo/made/a.txt");
    assert!(exists("made/a.txt"));
    run("mv /etc/demo/made/a.txt /etc/demo/made/b.txt");
    assert!(!exists("made/a.txt") && exists("made/b.txt"));
    assert_eq!(std::fs::read_to_string(format!("{root}/made/b.txt")).unwrap(), "a\n");
    run("echo c > /etc/demo/made/c.txt && mv -n /etc/demo/made/c.txt /etc/demo/made/b.txt; true");
    assert_eq!(std::fs::read_to_string(format!("{root}/made/b.txt")).unwrap(), "a\n", "mv -n replaces nothing");
    run("mv /etc/demo/made/c.txt /etc/demo/made/b.txt");
    assert_eq!(std::fs::read_to_string(format!("{root}/made/b.txt")).unwrap(), "c\n", "mv replaces");
    run("rm /etc/demo/made/b.txt && rmdir /etc/demo/made");
    assert!(!exists("made"), "the directory is gone from the target");
}

#[test]
fn dns_local_and_outgoing_local_keep_traffic_on_the_host() {
    require_tier();
    let pod = Fixture::pod("cfg-net");
    let tether = Tether::new();
    let target = pod.pid_target();

    let dns_local = tether.config("dns.json", r#"{"dns": {"local": ["*.cluster.local"]}}"#);
    let resolved = tether.probe(&target, Some(&dns_local), Lang::C, &["resolve", "orders.shop.svc.cluster.local"]);
    assert_eq!(resolved["ok"], false, "resolved by the host, which does not know it: {resolved}");

    let outgoing_local = tether.config("out.json", r#"{"outgoing": {"local": ["10.202.0.0/16", "fd74:6574::/32"]}}"#);
    let http = tether.probe(&target, Some(&outgoing_local), Lang::C, &["http", "http://orders:8080/"]);
    assert_eq!(http["ok"], false, "connected from the host, which has no route: {http}");

    let no_dns = tether.config("nodns.json", r#"{"dns": {"enabled": false}}"#);
    let resolved = tether.probe(&target, Some(&no_dns), Lang::C, &["resolve", "orders"]);
    assert_eq!(resolved["ok"], false, "{resolved}");
}

#[test]
fn skip_processes_leaves_named_programs_unhooked_but_hooks_their_children() {
    require_tier();
    let pod = Fixture::pod("cfg-skip");
    let tether = Tether::new();
    let config = tether.config("skip.json", r#"{"skip_processes": ["cat"]}"#);
    let target = pod.pid_target();
    let skipped = tether.probe(&target, Some(&config), Lang::C, &["shell", "cat /etc/demo/secret.txt"]);
    assert_eq!(skipped["stdout"], "", "cat is not hooked: {skipped}");
    let hooked = tether.probe(&target, Some(&config), Lang::C, &["shell", "head -c 100 /etc/demo/secret.txt"]);
    assert_eq!(hooked["stdout"], "s3cr3t-from-pod", "{hooked}");
}
