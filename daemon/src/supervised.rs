//! Starting the user's program under the supervisor (`tether-supervisor`) when the layer cannot
//! serve it: a Go program, or a static one (`crate::linkage`). The supervised tree runs without
//! the layer (it is taken out of `LD_PRELOAD`), so that no call is handled twice.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};

use tether_rpc_schema::api::Launch;
use tether_rpc_schema::linkage::Linkage;
use tether_supervisor::{SessionEnv, Supervision};

use crate::linkage;

/// A launch whose program needs the supervisor.
pub struct Plan {
    exe: PathBuf,
    linkage: Linkage,
    /// Why this machine cannot supervise, when it cannot.
    unavailable: Option<String>,
}

/// The plan for `launch`: `None` when the layer serves its program.
pub fn plan(launch: &Launch) -> Option<Plan> {
    let exe = linkage::resolve(launch)?;
    let linkage = linkage::of(&exe).filter(|linkage| *linkage != Linkage::Hookable)?;
    Some(Plan { exe, linkage, unavailable: tether_supervisor::available().err() })
}

impl Plan {
    /// Whether `warning` (of `SessionPrepared`) is the daemon's word that the layer cannot
    /// serve this program, which the supervisor makes moot.
    pub fn answers(&self, warning: &str) -> bool {
        self.unavailable.is_none() && linkage::warning(&self.exe, self.linkage).as_deref() == Some(warning)
    }
}

/// Spawns `command` (with the launch environment `env` set on it): under the supervisor when
/// `plan` says so and the machine can, else as it is (saying why the program gets the
/// target's environment only).
pub fn spawn(
    command: &mut Command,
    plan: Option<&Plan>,
    env: &BTreeMap<String, String>,
) -> io::Result<(Child, Option<Supervision>)> {
    let Some(plan) = plan else {
        return Ok((command.spawn()?, None));
    };
    if let Some(why) = &plan.unavailable {
        eprintln!("tether: {} cannot be supervised: {why}", plan.exe.display());
        return Ok((command.spawn()?, None));
    }
    let session = session_env(env)?;
    match without_layer(env) {
        Some(rest) => command.env("LD_PRELOAD", rest),
        None => command.env_remove("LD_PRELOAD"),
    };
    let (child, supervision) = tether_supervisor::spawn(command, session, &plan.exe)?;
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
