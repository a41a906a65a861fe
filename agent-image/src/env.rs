//! The target's environment, read from `/proc/<pid>/environ`. Values are never logged.

use tether_rpc_schema::wire::EnvVar;

/// Reads the target's environment. Blocking.
pub fn read(pid: u32) -> std::io::Result<Vec<EnvVar>> {
    Ok(parse_environ(&std::fs::read(format!("/proc/{pid}/environ"))?))
}

/// Splits an `environ` block: NUL-separated `name=value` entries, split at the first `=`.
/// Entries without `=` are kept with an empty value; empty entries are dropped.
pub fn parse_environ(block: &[u8]) -> Vec<EnvVar> {
    block
        .split(|&byte| byte == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.iter().position(|&byte| byte == b'=') {
            Some(at) => EnvVar { name: entry[..at].to_vec(), value: entry[at + 1..].to_vec() },
            None => EnvVar { name: entry.to_vec(), value: Vec::new() },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(block: &[u8]) -> Vec<(String, String)> {
        parse_environ(block)
            .into_iter()
            .map(|var| (String::from_utf8_lossy(&var.name).into(), String::from_utf8_lossy(&var.value).into()))
            .collect()
    }

    #[test]
    fn parse_environ_splits_at_first_equals() {
        assert_eq!(
            pairs(b"A=1\0URL=x=y\0EMPTY=\0"),
            [("A".into(), "1".into()), ("URL".into(), "x=y".into()), ("EMPTY".into(), String::new())]
        );
    }

    #[test]
    fn parse_environ_keeps_non_utf8_bytes() {
        let vars = parse_environ(b"K=\xff\xfe\0");
        assert_eq!(vars, [EnvVar { name: b"K".to_vec(), value: vec![0xff, 0xfe] }]);
    }

    #[test]
    fn parse_environ_without_trailing_nul_or_equals() {
        assert_eq!(pairs(b"\0\0FLAG\0B=2"), [("FLAG".into(), String::new()), ("B".into(), "2".into())]);
    }

    #[test]
    fn parse_environ_empty_block_is_empty() {
        assert!(parse_environ(b"").is_empty());
    }
}
