//! Programs the hook layer cannot serve (statically linked, or Go) are named on `tether exec`'s
//! stderr before they run, whether `tether exec` starts them or a hooked parent does.

use crate::support::{repo, require_tier, Fixture, Tether};

fn stderr_of(tether: &Tether, target: &str, args: &[&str]) -> String {
    let output = tether.exec(target, None, args);
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn program(name: &str) -> String {
    repo().join("fixtures/build").join(name).display().to_string()
}

#[test]
fn a_static_or_go_program_is_named_before_it_runs_and_a_dynamic_one_is_not() {
    require_tier();
    let pod = Fixture::pod("linkage");
    let tether = Tether::new();
    let target = pod.pid_target();
    let static_c = program("probe-c-static");
    let said = stderr_of(&tether, &target, &[&static_c, "env", "HOME"]);
    let expected = format!("tether: warning: {static_c} is statically linked, so tether cannot hook it");
    assert!(said.contains(&expected), "started by tether exec: {said}");

    let by_shell = stderr_of(&tether, &target, &["/bin/sh", "-c", &format!("{static_c} env HOME")]);
    assert!(by_shell.contains(&expected), "started by a hooked shell: {by_shell}");

    let go = program("probe-go");
    let said = stderr_of(&tether, &target, &[&go, "env", "HOME"]);
    assert!(said.contains(&format!("{go} is a Go program, whose runtime makes its own system calls")), "{said}");

    let dynamic = stderr_of(&tether, &target, &[&program("probe-c"), "env", "HOME"]);
    assert!(!dynamic.contains("cannot hook") && !dynamic.contains("Go program"), "{dynamic}");
}
