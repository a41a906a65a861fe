//! Environment and files of the target, resolved inside its root and mount namespace.

use tether_rpc_schema::wire::{EnvVar, Message};

use crate::harness::{Agent, Target, TARGET_ENV};

const TARGET_PASSWD: &[u8] = b"root:x:0:0:target root:/root:/bin/sh\n";

fn path(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

fn read(path_text: &str) -> Message {
    Message::FileRead { path: path(path_text), offset: 0, len: 1 << 20 }
}

fn data_of(message: Message) -> Vec<u8> {
    match message {
        Message::FileData { data, eof: true, .. } => data,
        other => panic!("expected the whole file, got {other:?}"),
    }
}

#[tokio::test]
async fn env_get_returns_the_target_variables() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    let Message::EnvVars(vars) = client.request(2, Message::EnvGet).await else { panic!("no env") };
    for (name, value) in TARGET_ENV {
        let wanted = EnvVar { name: name.into(), value: value.into() };
        assert!(vars.contains(&wanted), "{name} missing from the target's environment");
    }
}

#[tokio::test]
async fn file_read_sees_the_target_mount_namespace() {
    let target = Target::start();
    assert!(!target.scratch().join("root/data/secret.txt").exists(), "the file must be private to the target");
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    assert_eq!(data_of(client.request(2, read("/data/secret.txt")).await), b"target secret\n");
    let partial = client.request(3, Message::FileRead { path: path("/data/secret.txt"), offset: 7, len: 3 }).await;
    match partial {
        Message::FileData { meta, data, eof } => {
            assert_eq!((meta.size, data, eof), (14, b"sec".to_vec(), false))
        }
        other => panic!("{other:?}"),
    }
    match client.request(4, read("/data/missing")).await {
        Message::Failure { errno, .. } => assert_eq!(errno, libc::ENOENT),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn symlinks_resolve_inside_the_target_root() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    assert_eq!(data_of(client.request(2, read("/data/abs-link")).await), TARGET_PASSWD);
    assert_eq!(data_of(client.request(3, read("/data/up-link")).await), TARGET_PASSWD);
    assert_eq!(data_of(client.request(4, read("/../../../etc/passwd")).await), TARGET_PASSWD);
    assert_eq!(
        client.request(5, Message::FileReadlink { path: path("/data/abs-link") }).await,
        Message::Path(path("/etc/passwd"))
    );
    assert_eq!(
        client.request(6, Message::FileRealpath { path: path("/data/up-link") }).await,
        Message::Path(path("/etc/passwd"))
    );
    assert_eq!(
        client.request(7, Message::FileRealpath { path: path("/data/../data/.") }).await,
        Message::Path(path("/data"))
    );
}

#[tokio::test]
async fn stat_access_and_readdir_describe_target_files() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    let Message::FileStatus(link) =
        client.request(2, Message::FileStat { path: path("/data/abs-link"), follow: false }).await
    else {
        panic!("no lstat")
    };
    assert_eq!(link.mode & libc::S_IFMT, libc::S_IFLNK);
    let Message::FileStatus(file) =
        client.request(3, Message::FileStat { path: path("/data/abs-link"), follow: true }).await
    else {
        panic!("no stat")
    };
    assert_eq!((file.mode & libc::S_IFMT, file.size), (libc::S_IFREG, TARGET_PASSWD.len() as u64));
    assert_eq!(
        client.request(4, Message::FileAccess { path: path("/data/secret.txt"), mode: libc::R_OK }).await,
        Message::Done
    );
    let Message::DirEntries(entries) = client.request(5, Message::FileReadDir { path: path("/data") }).await else {
        panic!("no listing")
    };
    let mut names: Vec<(String, u8)> =
        entries.into_iter().map(|entry| (String::from_utf8(entry.name).unwrap(), entry.kind)).collect();
    names.sort();
    assert_eq!(
        names,
        [("abs-link".into(), libc::DT_LNK), ("secret.txt".into(), libc::DT_REG), ("up-link".into(), libc::DT_LNK)]
    );
}

#[tokio::test]
async fn write_rename_mkdir_and_remove_change_the_target() {
    let target = Target::start();
    let agent = Agent::for_target(&target);
    let mut client = agent.client().await;
    let requests = [
        Message::FileMkdir { path: path("/tmp/work"), mode: 0o700 },
        Message::FileWrite { path: path("/tmp/work/a"), data: b"first ".to_vec(), append: false, mode: 0o600 },
        Message::FileWrite { path: path("/tmp/work/a"), data: b"second".to_vec(), append: true, mode: 0o600 },
        Message::FileRename { from: path("/tmp/work/a"), to: path("/tmp/work/b") },
    ];
    for (id, request) in (10..).zip(requests) {
        assert_eq!(client.request(id, request).await, Message::Done);
    }
    assert_eq!(data_of(client.request(20, read("/tmp/work/b")).await), b"first second");
    match client.request(21, Message::FileRmdir { path: path("/tmp/work") }).await {
        Message::Failure { errno, .. } => assert_eq!(errno, libc::ENOTEMPTY),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.request(22, Message::FileUnlink { path: path("/tmp/work/b") }).await, Message::Done);
    assert_eq!(client.request(23, Message::FileRmdir { path: path("/tmp/work") }).await, Message::Done);
}
