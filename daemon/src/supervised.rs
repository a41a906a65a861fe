//! Starting the user's program under the supervisor (`tether-supervisor`) when the layer cannot
//! serve it: a Go program, or a static one. The supervised tree runs without the layer (it is
//! taken out of `LD_PRELOAD`), so that no call is handled twice.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};

use tether_supervisor::{Needs, SessionEnv, Supervision};

/// Spawns `command` (running `program`, with the launch environment `env` already set on it):
/// under the supervisor when the program needs it, else as it is. A program that needs the
/// supervisor on a machine that cannot run it still runs, with the target's environment only,
/// and stderr says why.
pub fn spawn(
    command: &mut Command,
    program: &str,
    env: &BTreeMap<String, String>,
) -> io::Result<(Child, Option<Supervision>)> {
    let path = env.get("PATH").cloned().or_else(|| std::env::var("PATH").ok());
    let Some(exe) = tether_supervisor::resolve(program, path.as_deref()) else {
        return Ok((command.spawn()?, None));
    };
    let Some(needs) = tether_supervisor::needs_supervisor(&exe) else {
        return Ok((command.spawn()?, None));
    };
    let kind = match needs {
        Needs::Go => "a Go program",
        Needs::Static => "statically linked",
    };
    if let Err(why) = tether_supervisor::available() {
        eprintln!("tether: {program} is {kind}, which the hook layer cannot reach, and {why}");
        return Ok((command.spawn()?, None));
    }
    let session = session_env(env)?;
    match without_layer(env) {
        Some(rest) => command.env("LD_PRELOAD", rest),
        None => command.env_remove("LD_PRELOAD"),
    };
    let (child, supervision) = tether_supervisor::spawn(command, session, &exe)?;
    Ok((child, Some(supervision)))
}

fn session_env(env: &BTreeMap<String, String>) -> io::Result<SessionEnv> {
    let var = |name: &str| {
        env.get(name).cloned().ok_or_else(|| io::Error::other(format!("{name} missing from the launch environment")))
    };
    Ok(SessionEnv {
        proxy: PathBuf::from(var("TETHER_PROXY")?),
        token: var("TETHER_SESSION")?,
        log: env.get("TETHER_LAYER_LOG").map(PathBuf::from),
    })
}

/// `LD_PRELOAD` without the layer (its first entry, see `launch_env`): what the host had.
fn without_layer(env: &BTreeMap<String, String>) -> Option<String> {
    let preload = env.get("LD_PRELOAD")?;
    let (_, rest) = preload.split_once(':')?;
    (!rest.is_empty()).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_own_preloads_stay() {
        let env = |value: &str| BTreeMap::from([("LD_PRELOAD".to_string(), value.to_string())]);
        assert_eq!(without_layer(&env("/opt/tether/libtether_layer.so:/x.so")).as_deref(), Some("/x.so"));
        assert_eq!(without_layer(&env("/opt/tether/libtether_layer.so")), None);
    }
}
