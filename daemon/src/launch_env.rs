//! The environment a user process is launched with: the host's, with the target's variables
//! laid over it (filtered by the config), the overrides, and the session's own variables.

use std::collections::BTreeMap;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::EnvConfig;

/// Host variables that describe the developer's machine and must stay the host's.
const HOST_NAMES: &[&str] = &["PATH", "HOME", "SHELL", "TERM", "USER", "LOGNAME", "PWD", "DISPLAY", "OLDPWD", "SHLVL"];
/// Prefixes of host variables that stay the host's.
const HOST_PREFIXES: &[&str] = &["LD_", "SSH_", "XDG_", "TETHER_"];

/// Variables to set on top of the host environment, and host variables to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchEnv {
    pub set: BTreeMap<String, String>,
    pub unset: Vec<String>,
}

/// What the session adds so the hook layer can find the daemon.
#[derive(Debug, Clone)]
pub struct SessionVars {
    pub layer_path: String,
    pub proxy_socket: String,
    pub token: String,
    pub layer_log: String,
}

/// Computes the launch environment from the host's (`host`), the target's (`target`) and the
/// config's rules.
pub fn compute(
    host: &BTreeMap<String, String>,
    target: &[(String, String)],
    rules: &EnvConfig,
    session: &SessionVars,
) -> Result<LaunchEnv, globset::Error> {
    let include = glob_set(&rules.include)?;
    let exclude = glob_set(&rules.exclude)?;
    let mut set = BTreeMap::new();
    for (name, value) in target {
        let taken =
            !is_host_specific(name) && (rules.include.is_empty() || include.is_match(name)) && !exclude.is_match(name);
        if taken && host.get(name) != Some(value) {
            set.insert(name.clone(), value.clone());
        }
    }
    set.extend(rules.overrides.clone());
    for name in &rules.unset {
        set.remove(name);
    }
    let preload = match host.get("LD_PRELOAD").filter(|value| !value.is_empty()) {
        Some(existing) => format!("{}:{existing}", session.layer_path),
        None => session.layer_path.clone(),
    };
    set.insert("LD_PRELOAD".into(), preload);
    set.insert("TETHER_PROXY".into(), session.proxy_socket.clone());
    set.insert("TETHER_SESSION".into(), session.token.clone());
    set.insert("TETHER_LAYER_LOG".into(), session.layer_log.clone());
    let unset = rules.unset.iter().filter(|name| host.contains_key(*name)).cloned().collect();
    Ok(LaunchEnv { set, unset })
}

fn is_host_specific(name: &str) -> bool {
    HOST_NAMES.contains(&name) || HOST_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern)?);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionVars {
        SessionVars {
            layer_path: "/opt/tether/libtether_layer.so".into(),
            proxy_socket: "/run/user/1/tether/proxy.sock".into(),
            token: "t0k".into(),
            layer_log: "/l.log".into(),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn host() -> BTreeMap<String, String> {
        vars(&[("PATH", "/usr/bin"), ("HOME", "/home/dev"), ("LD_PRELOAD", "/x.so"), ("EDITOR", "vim")])
            .into_iter()
            .collect()
    }

    #[test]
    fn compute_keeps_host_specific_variables_the_hosts() {
        let target =
            vars(&[("PATH", "/pod/bin"), ("HOME", "/root"), ("XDG_X", "1"), ("SSH_AUTH_SOCK", "s"), ("DB", "pg")]);
        let env = compute(&host(), &target, &EnvConfig::default(), &session()).unwrap();
        assert_eq!(env.set.get("DB").map(String::as_str), Some("pg"));
        for name in ["PATH", "HOME", "XDG_X", "SSH_AUTH_SOCK"] {
            assert!(!env.set.contains_key(name), "{name} must stay the host's");
        }
    }

    #[test]
    fn compute_applies_include_exclude_override_unset() {
        let target = vars(&[("DB_HOST", "db"), ("DB_PASSWORD", "pw"), ("OTHER", "o"), ("EDITOR", "nano")]);
        let rules = EnvConfig {
            include: vec!["DB_*".into(), "EDITOR".into()],
            exclude: vec!["*PASSWORD".into()],
            overrides: [("DB_HOST".to_string(), "localhost".to_string())].into(),
            unset: vec!["EDITOR".into()],
        };
        let env = compute(&host(), &target, &rules, &session()).unwrap();
        assert_eq!(env.set.get("DB_HOST").map(String::as_str), Some("localhost"));
        assert!(!env.set.contains_key("DB_PASSWORD"));
        assert!(!env.set.contains_key("OTHER"));
        assert!(!env.set.contains_key("EDITOR"));
        assert_eq!(env.unset, ["EDITOR"]);
    }

    #[test]
    fn compute_prepends_the_layer_to_an_existing_preload() {
        let env = compute(&host(), &[], &EnvConfig::default(), &session()).unwrap();
        assert_eq!(env.set["LD_PRELOAD"], "/opt/tether/libtether_layer.so:/x.so");
        assert_eq!(env.set["TETHER_SESSION"], "t0k");
    }
}
