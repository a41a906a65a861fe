//! Write-back of target-writable files: content written through any duplicate of the
//! descriptor (shell redirections, `dup`, `fcntl(F_DUPFD)`, forks, exit without close)
//! reaches the target in full, once per change.

use tether_rpc_schema::policy::{FsMode, FsPolicy, LayerPolicy};
use tether_rpc_schema::wire::Message;

use crate::fake_proxy::Target;
use crate::harness::{run, Session};

const PATH: &str = "/etc/demo/written.txt";

fn write_session() -> Session {
    let policy = LayerPolicy { fs: FsPolicy { mode: FsMode::Write, ..FsPolicy::default() }, ..LayerPolicy::default() };
    Session::start(Target::sample(), policy)
}

/// The contents of every `FileWrite` of `path`, in order.
fn writes(s: &Session, path: &str) -> Vec<String> {
    s.proxy
        .requests()
        .iter()
        .filter_map(|m| match m {
            Message::FileWrite { path: p, data, .. } if p == path.as_bytes() => {
                Some(String::from_utf8_lossy(data).into_owned())
            }
            _ => None,
        })
        .collect()
}

fn content(s: &Session, path: &str) -> Option<String> {
    s.proxy.file(path).map(|data| String::from_utf8(data).unwrap())
}

#[test]
fn redirect_onto_stdout_then_restore_sends_the_full_content() {
    let s = write_session();
    assert_eq!(s.run("fdops", &["redirect-restore", PATH, "hi\n"]), (0, "restored\n".into()));
    assert_eq!(content(&s, PATH).as_deref(), Some("hi\n"));
    assert_eq!(writes(&s, PATH), ["", "hi\n"], "the original's close creates the file, the restore sends it");
}

#[test]
fn redirect_onto_stdout_then_exit_sends_the_full_content_at_exit() {
    let s = write_session();
    assert_eq!(s.run("fdops", &["redirect-exit", PATH, "bye\n"]).0, 0);
    assert_eq!(content(&s, PATH).as_deref(), Some("bye\n"));
}

#[test]
fn shell_redirection_of_echo_writes_the_target_file() {
    let s = write_session();
    for shell in ["sh", "bash"] {
        let text = format!("hi from {shell}");
        let mut command = s.command(shell);
        command.args(["-c", &format!("echo '{text}' > {PATH}; echo done")]);
        assert_eq!(run(command), (0, "done\n".into()), "{shell}");
        assert_eq!(content(&s, PATH), Some(format!("{text}\n")), "{shell}");
        let mut command = s.command(shell);
        command.args(["-c", &format!("echo 'last {shell}' > {PATH}")]);
        assert_eq!(run(command).0, 0, "{shell}");
        assert_eq!(
            content(&s, PATH),
            Some(format!("last {shell}\n")),
            "{shell} with the redirection as its last command"
        );
    }
}

/// The shell opens the file, then `execve`s an external program onto it (directly when it is
/// the last command, after a fork otherwise): the program's layer takes the file over and sends
/// what it wrote.
#[test]
fn shell_redirection_of_an_exec_ed_program_writes_the_target_file() {
    let s = write_session();
    for shell in ["sh", "bash"] {
        for (script, text) in [
            (format!("/bin/echo 'last {shell}' > {PATH}"), format!("last {shell}")),
            (format!("/bin/echo 'forked {shell}' > {PATH}; echo done"), format!("forked {shell}")),
        ] {
            let mut command = s.command(shell);
            command.args(["-c", &script]);
            assert_eq!(run(command).0, 0, "{shell}: {script}");
            assert_eq!(
                content(&s, PATH),
                Some(format!("{text}\n")),
                "{shell}: {script}\n{}",
                std::fs::read_to_string(s.log()).unwrap_or_default()
            );
        }
    }
}

#[test]
fn execv_and_execvp_hand_the_open_file_to_the_new_program() {
    let s = write_session();
    for op in ["redirect-execv", "redirect-execvp"] {
        assert_eq!(s.run("fdops", &[op, PATH, op]).0, 0, "{op}");
        assert_eq!(content(&s, PATH), Some(format!("{op}\n")), "{op}");
    }
}

#[test]
fn dup_and_fcntl_dupfd_share_the_file_and_unchanged_closes_send_nothing() {
    let s = write_session();
    assert_eq!(s.run("fdops", &["dup-chain", PATH, "shared"]), (0, "closed\n".into()));
    assert_eq!(writes(&s, PATH), ["", "shared"]);
}

#[test]
fn forked_child_that_did_not_write_sends_nothing() {
    let s = write_session();
    assert_eq!(s.run("fdops", &["fork-child-idle", PATH, "parent"]), (0, "closed\n".into()));
    assert_eq!(writes(&s, PATH), ["parent+parent"]);
}

#[test]
fn forked_child_that_wrote_sends_its_content_at_exit() {
    let s = write_session();
    assert_eq!(s.run("fdops", &["fork-child-writes", PATH, "from child"]), (0, "child exited 0\n".into()));
    assert_eq!(content(&s, PATH).as_deref(), Some("from child"));
    assert!(writes(&s, PATH).iter().all(|w| w == "from child"), "{:?}", writes(&s, PATH));
}
