//! Target specifications as users write them (`pid/4242`, `container/orders`).

use std::fmt;

use crate::config::ContainerConfig;

/// A target the daemon can start an agent for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A local process, typically one in its own namespaces.
    Pid(u32),
    /// A container of a local container runtime (by default the host's containerd), by name
    /// or id. The runtime is part of the identity: the same name under another socket is
    /// another container.
    Container { name: String, runtime: ContainerConfig },
}

/// Why a target specification cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The text is not `kind/name`.
    #[error("target {0:?} is not of the form kind/name; use pid/<pid> or container/<name-or-id>")]
    Malformed(String),
    /// The kind is not one tether knows.
    #[error("unknown target kind {0:?}; use pid/<pid> or container/<name-or-id>")]
    UnknownKind(String),
    /// `pid/` with something that is not a number.
    #[error("{0:?} is not a process id")]
    BadPid(String),
}

impl std::str::FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Target, TargetError> {
        let (kind, name) = text.split_once('/').ok_or_else(|| TargetError::Malformed(text.to_string()))?;
        if name.is_empty() {
            return Err(TargetError::Malformed(text.to_string()));
        }
        match kind {
            "pid" => name.parse().map(Target::Pid).map_err(|_| TargetError::BadPid(name.to_string())),
            "container" => Ok(Target::Container { name: name.to_string(), runtime: ContainerConfig::default() }),
            other => Err(TargetError::UnknownKind(other.to_string())),
        }
    }
}

impl Target {
    /// The same target, found through the runtime a config names (for containers).
    pub fn with_runtime(self, runtime: &ContainerConfig) -> Target {
        match self {
            Target::Container { name, .. } => Target::Container { name, runtime: runtime.clone() },
            pid => pid,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pid(pid) => write!(f, "pid/{pid}"),
            Target::Container { name, .. } => write!(f, "container/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_known_kinds_round_trip() {
        for text in ["pid/42", "container/orders", "container/3f2a9c"] {
            assert_eq!(text.parse::<Target>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn parse_rejects_bad_specs_with_a_hint() {
        assert_eq!("orders".parse::<Target>(), Err(TargetError::Malformed("orders".into())));
        assert_eq!("pid/abc".parse::<Target>(), Err(TargetError::BadPid("abc".into())));
        assert!(matches!("vm/x".parse::<Target>(), Err(TargetError::UnknownKind(_))));
        assert!("pid/".parse::<Target>().is_err());
    }

    #[test]
    fn the_runtime_is_part_of_a_containers_identity() {
        let plain: Target = "container/orders".parse().unwrap();
        let runtime =
            ContainerConfig { socket: Some("/run/k3s/containerd/containerd.sock".into()), ..Default::default() };
        let elsewhere = plain.clone().with_runtime(&runtime);
        assert_ne!(plain, elsewhere);
        assert_eq!(elsewhere.to_string(), "container/orders");
        assert_eq!("pid/7".parse::<Target>().unwrap().with_runtime(&runtime), Target::Pid(7));
    }
}
