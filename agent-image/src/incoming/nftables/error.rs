//! What can go wrong talking to nf_tables, worded for a cluster admin. A kernel without
//! nf_tables (a node with iptables-legacy only) or without its nat support fails with an error
//! that says so; the errno and the kernel's extended ack message are kept in every refusal.

use std::io;

use super::netlink::KernelError;

/// Why the redirect table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// The kernel offers no nf_tables: no netfilter netlink socket, or nfnetlink refuses
    /// nf_tables messages (a kernel built without it, a node with iptables-legacy only).
    #[error(
        "the kernel offers no nf_tables ({cause}); tether redirects incoming traffic with nftables, so a node with iptables-legacy only cannot intercept it"
    )]
    NoNfTables { cause: String },
    /// nf_tables is there but cannot redirect in family `inet`: no nat chain type or no `redir`
    /// expression (Linux before 5.2, or the nft_chain_nat / nft_redir modules missing).
    #[error(
        "the kernel's nf_tables cannot redirect connections ({cause}); incoming traffic needs Linux 5.2 or later with nftables nat (nft_chain_nat, nft_redir)"
    )]
    NoNat { cause: String },
    /// The agent lacks CAP_NET_ADMIN over the target's network namespace.
    #[error(
        "not permitted to change nftables in the target's network namespace ({cause}); the agent needs CAP_NET_ADMIN"
    )]
    NotPermitted { cause: String },
    /// Any other refusal by the kernel.
    #[error("the kernel refused {cause}")]
    Refused { cause: String },
    /// The socket failed, or the kernel's answer was missing or malformed.
    #[error("nftables over netlink: {0}")]
    Io(#[from] io::Error),
}

/// The message of a transaction the kernel answered, for telling what it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The batch as a whole (its begin message, or its commit).
    Batch,
    NewTable,
    DelTable,
    NewChain(&'static str),
    NewRule(&'static str),
    /// The dump of the `inet` tables.
    List,
}

impl Step {
    fn describe(self, table: &str) -> String {
        match self {
            Step::Batch => "the nf_tables transaction".to_owned(),
            Step::NewTable => format!("creating table inet {table}"),
            Step::DelTable => format!("deleting table inet {table}"),
            Step::NewChain(chain) => format!("the nat chain {chain} of table inet {table}"),
            Step::NewRule(chain) => format!("a redirect rule of chain {chain} in table inet {table}"),
            Step::List => "listing the inet tables".to_owned(),
        }
    }
}

impl NftError {
    /// The kernel answered `step` (acting on `table`) with `error`.
    pub fn refused(step: Step, table: &str, error: &KernelError) -> NftError {
        let mut cause = format!("{}: {}", step.describe(table), io::Error::from_raw_os_error(error.errno));
        if let Some(message) = &error.message {
            cause.push_str(": ");
            cause.push_str(message);
        }
        let no_nf_tables = match step {
            Step::List => [libc::EINVAL, libc::EOPNOTSUPP, libc::EPROTONOSUPPORT, libc::ENOENT, libc::EAFNOSUPPORT]
                .contains(&error.errno),
            Step::Batch => [libc::EINVAL, libc::EOPNOTSUPP, libc::EPROTONOSUPPORT].contains(&error.errno),
            Step::NewTable => [libc::EAFNOSUPPORT, libc::EOPNOTSUPP].contains(&error.errno),
            Step::DelTable | Step::NewChain(_) | Step::NewRule(_) => false,
        };
        let no_nat = matches!(step, Step::NewChain(_) | Step::NewRule(_))
            && [libc::ENOENT, libc::EOPNOTSUPP].contains(&error.errno);
        if [libc::EPERM, libc::EACCES].contains(&error.errno) {
            NftError::NotPermitted { cause }
        } else if no_nf_tables {
            NftError::NoNfTables { cause }
        } else if no_nat {
            NftError::NoNat { cause }
        } else {
            NftError::Refused { cause }
        }
    }

    /// The netfilter netlink socket could not be made.
    pub fn socket(err: io::Error) -> NftError {
        let cause = format!("no netfilter netlink socket: {err}");
        match err.raw_os_error() {
            Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => NftError::NoNfTables { cause },
            Some(libc::EPERM | libc::EACCES) => NftError::NotPermitted { cause },
            _ => NftError::Io(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(step: Step, errno: i32) -> NftError {
        NftError::refused(step, "tether_7", &KernelError { errno, message: None })
    }

    #[test]
    fn refused_without_nf_tables_says_iptables_legacy_cannot_be_intercepted() {
        for (step, errno) in [(Step::List, libc::EINVAL), (Step::List, libc::ENOENT), (Step::Batch, libc::EOPNOTSUPP)] {
            let err = refused(step, errno);
            assert!(matches!(err, NftError::NoNfTables { .. }), "{step:?} {errno}: {err:?}");
            assert!(err.to_string().contains("iptables-legacy"), "{err}");
        }
        let socket = NftError::socket(io::Error::from_raw_os_error(libc::EPROTONOSUPPORT));
        assert!(matches!(socket, NftError::NoNfTables { .. }), "{socket:?}");
    }

    #[test]
    fn refused_nat_chain_names_the_missing_nat_support() {
        let err = refused(Step::NewChain("prerouting"), libc::ENOENT);
        assert!(matches!(err, NftError::NoNat { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the kernel's nf_tables cannot redirect connections (the nat chain prerouting of table inet tether_7: No such file or directory (os error 2)); incoming traffic needs Linux 5.2 or later with nftables nat (nft_chain_nat, nft_redir)"
        );
    }

    #[test]
    fn refused_keeps_the_extended_ack_message() {
        let error = KernelError { errno: libc::EBUSY, message: Some("table is busy".into()) };
        let err = NftError::refused(Step::NewTable, "tether_7", &error);
        assert_eq!(
            err.to_string(),
            "the kernel refused creating table inet tether_7: Device or resource busy (os error 16): table is busy"
        );
    }

    #[test]
    fn refused_for_lack_of_cap_net_admin_says_so() {
        let err = refused(Step::NewTable, libc::EPERM);
        assert!(err.to_string().contains("needs CAP_NET_ADMIN"), "{err}");
    }
}
