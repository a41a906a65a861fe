//! Children: hooked through `sh -c` and through `posix_spawn` with an environment that lost
//! the layer; `skip_processes` makes a program inert.

use tether_rpc_schema::policy::LayerPolicy;

use crate::fake_proxy::Target;
use crate::harness::{program, run, Session};

#[test]
fn child_of_sh_is_hooked() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let mut sh = s.command("sh");
    sh.args(["-c", &format!("{} cat /etc/app/config.yaml", program("fileops").display())]);
    assert_eq!(run(sh), (0, "mode: target\nreplicas: 3\n".into()));
}

#[test]
fn posix_spawn_with_env_lacking_the_layer_still_hooks_the_child() {
    let s = Session::start(Target::sample(), LayerPolicy::default());
    let fileops = program("fileops");
    let (code, out) = s.run("spawn", &[fileops.to_str().unwrap(), "cat", "/etc/app/config.yaml"]);
    assert_eq!((code, out.as_str()), (0, "mode: target\nreplicas: 3\n"));
}

#[test]
fn skip_processes_makes_the_program_inert_but_its_children_hooked() {
    let policy = LayerPolicy { skip_processes: vec!["spawn".into()], ..LayerPolicy::default() };
    let s = Session::start(Target::sample(), policy);
    let fileops = program("fileops");
    let (code, out) = s.run("spawn", &[fileops.to_str().unwrap(), "cat", "/etc/app/config.yaml"]);
    assert_eq!((code, out.as_str()), (0, "mode: target\nreplicas: 3\n"));
    let policy = LayerPolicy { skip_processes: vec!["fileops".into()], ..LayerPolicy::default() };
    let s = Session::start(Target::sample(), policy);
    assert_eq!(s.run("fileops", &["cat", "/etc/app/config.yaml"]).1, format!("errno={}\n", libc::ENOENT));
}
