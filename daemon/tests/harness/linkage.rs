//! Programs the hook layer cannot serve (statically linked, or Go) are served by the supervisor
//! when `tether exec` starts them, without a warning; started by a hooked parent (which runs
//! under the layer, not the supervisor), they are named on stderr before they run.

use crate::support::{repo, require_tier, Fixture, Tether};

fn stderr_of(tether: &Tether, target: &str, args: &[&str]) -> String {
    let output = tether.exec(target, None, args);
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn program(name: &str) -> String {
    repo().join("fixtures/build").join(name).display().to_string()
}

#[test]
fn a_static_or_go_program_is_named_when_a_hooked_parent_starts_it_and_supervised_otherwise() {
    require_tier();
    let pod = Fixture::pod("linkage");
    let tether = Tether::new();
    let target = pod.pid_target();
    let static_c = program("probe-c-static");
    let said = stderr_of(&tether, &target, &[&static_c, "env", "HOME"]);
    let expected = format!("tether: warning: {static_c} is statically linked, so tether cannot hook it");
    assert!(!said.contains("warning"), "started by tether exec, supervised: {said}");

    let by_shell = stderr_of(&tether, &target, &["/bin/sh", "-c", &format!("{static_c} env HOME")]);
    assert!(by_shell.contains(&expected), "started by a hooked shell: {by_shell}");

    let go = program("probe-go");
    let said = stderr_of(&tether, &target, &[&go, "env", "HOME"]);
    assert!(!said.contains("warning"), "supervised: {said}");
    let by_shell = stderr_of(&tether, &target, &["/bin/sh", "-c", &format!("{go} env HOME")]);
    assert!(
        by_shell.contains(&format!("{go} is a Go program, whose runtime makes its own system calls")),
        "{by_shell}"
    );

    let dynamic = stderr_of(&tether, &target, &[&program("probe-c"), "env", "HOME"]);
    assert!(!dynamic.contains("cannot hook") && !dynamic.contains("Go program"), "{dynamic}");
}
