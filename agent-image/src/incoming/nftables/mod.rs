//! nf_tables programmed by the agent itself over netlink (`NETLINK_NETFILTER`): no `nft`
//! binary, which the `FROM scratch` agent image does not have. A small encoder for exactly
//! what tether needs: replacing its table in one transaction, deleting it, and listing the
//! `inet` tables with their userdata.
//!
//! # Layout
//! - [`netlink`]: messages and attributes, the kernel's answers.
//! - [`expr`]: the expressions of tether's rules (`meta`, `cmp`, `bitwise`, `payload`,
//!   `immediate`, `redir`).
//! - `socket`: the netlink socket.
//! - `error`: [`NftError`], with the kernel's refusal worded for an admin.
//!
//! Changes go in nfnetlink batches (`NFNL_MSG_BATCH_BEGIN` … `NFNL_MSG_BATCH_END`): the kernel
//! applies a batch as one transaction or not at all. Only a batch's last message asks for an
//! acknowledgement; errors are always answered, in the order of the messages, so everything
//! the kernel has to say about a batch has arrived once the last message is answered.

mod error;
pub mod expr;
mod netlink;
mod socket;

use std::io;
use std::os::fd::OwnedFd;

pub use self::error::NftError;
use self::error::Step;
use self::netlink::{KernelError, Writer, ACK, APPEND, CREATE, DUMP, DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, REQUEST};
use self::socket::Socket;
use super::rules::{self, Chain, Redirect};

/// `NFNL_SUBSYS_NFTABLES`: nf_tables' subsystem of netfilter netlink.
const SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN`, `NFNL_MSG_BATCH_END`.
const BATCH_BEGIN: u16 = 16;
const BATCH_END: u16 = 17;
/// `NFT_MSG_*` (the low byte of a message type whose high byte is the subsystem).
const NEWTABLE: u16 = 0;
const GETTABLE: u16 = 1;
const DELTABLE: u16 = 2;
const NEWCHAIN: u16 = 3;
const NEWRULE: u16 = 6;
/// `NFPROTO_INET`: the table family for IPv4 and IPv6 at once; `AF_UNSPEC` for batches.
const FAMILY_INET: u8 = 1;
const FAMILY_UNSPEC: u8 = 0;

/// `NFTA_TABLE_NAME`, `NFTA_TABLE_FLAGS`, `NFTA_TABLE_USERDATA`.
const TABLE_NAME: u16 = 1;
const TABLE_FLAGS: u16 = 2;
const TABLE_USERDATA: u16 = 6;
/// `NFTA_CHAIN_TABLE`, `_NAME`, `_HOOK`, `_POLICY`, `_TYPE`; `NFTA_HOOK_HOOKNUM`, `_PRIORITY`.
const CHAIN_TABLE: u16 = 1;
const CHAIN_NAME: u16 = 3;
const CHAIN_HOOK: u16 = 4;
const CHAIN_POLICY: u16 = 5;
const CHAIN_TYPE: u16 = 7;
const HOOK_HOOKNUM: u16 = 1;
const HOOK_PRIORITY: u16 = 2;
/// `NF_ACCEPT`.
const POLICY_ACCEPT: u32 = 1;
/// `NFTA_RULE_TABLE`, `_CHAIN`, `_EXPRESSIONS`; `NFTA_LIST_ELEM`.
const RULE_TABLE: u16 = 1;
const RULE_CHAIN: u16 = 2;
const RULE_EXPRESSIONS: u16 = 4;
const LIST_ELEM: u16 = 1;

/// How often a listing is retried when the tables change while they are listed.
const LIST_ATTEMPTS: usize = 3;

fn nft_message(kind: u16) -> u16 {
    (SUBSYS_NFTABLES << 8) | kind
}

/// One `inet` table of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    /// Empty when the table has none.
    pub userdata: Vec<u8>,
}

/// A connection to nf_tables of one network namespace (that of its socket).
pub struct Nftables {
    socket: Socket,
    next_seq: u32,
}

impl Nftables {
    /// nf_tables of the calling thread's network namespace.
    pub fn open() -> Result<Nftables, NftError> {
        Nftables::new(socket::open().map_err(NftError::socket)?)
    }

    /// nf_tables through `socket`, a netfilter netlink socket from [`open_socket`] (made in
    /// the namespace to act on).
    pub fn new(socket: OwnedFd) -> Result<Nftables, NftError> {
        Ok(Nftables { socket: Socket::new(socket)?, next_seq: 1 })
    }

    /// Replaces `table` (family `inet`) with exactly `redirects` at `rank`, with `userdata`, in
    /// one transaction; without redirects the table is removed, so nothing of tether stays
    /// while nothing is subscribed.
    pub fn replace(&mut self, table: &str, rank: u8, redirects: &[Redirect], userdata: &[u8]) -> Result<(), NftError> {
        let batch = replace_batch(self.next_seq, Table { name: table, rank, userdata }, redirects);
        match self.transact(batch)? {
            None => Ok(()),
            Some((step, error)) => Err(NftError::refused(step, table, &error)),
        }
    }

    /// Deletes `table` (family `inet`); false when there was none.
    pub fn delete_table(&mut self, table: &str) -> Result<bool, NftError> {
        let mut batch = Batch::begin(self.next_seq);
        batch.add(Step::DelTable, DELTABLE, 0, |attrs| attrs.attr_str(TABLE_NAME, table));
        match self.transact(batch)? {
            None => Ok(true),
            Some((Step::DelTable, error)) if error.errno == libc::ENOENT => Ok(false),
            Some((step, error)) => Err(NftError::refused(step, table, &error)),
        }
    }

    /// The namespace's tables of family `inet`.
    pub fn list_tables(&mut self) -> Result<Vec<TableInfo>, NftError> {
        for _ in 0..LIST_ATTEMPTS {
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            let mut request = Writer::default();
            request.message(nft_message(GETTABLE), REQUEST | DUMP, seq, FAMILY_INET, 0, |_| {});
            self.socket.send(request.bytes())?;
            let (tables, interrupted) = self.read_dump(seq)?;
            if !interrupted {
                return Ok(tables);
            }
        }
        Err(io::Error::other("the tables kept changing while they were listed").into())
    }

    /// Sends `batch` and reads the kernel's answers to it: the first refusal, if any (then
    /// the kernel applied nothing of it).
    fn transact(&mut self, batch: Batch) -> Result<Option<(Step, KernelError)>, NftError> {
        let (messages, steps, next_seq) = batch.end();
        self.next_seq = next_seq;
        self.socket.send(&messages)?;
        let begin = steps.first().map_or(0, |(seq, _)| *seq);
        let last = steps.last().map_or(0, |(seq, _)| *seq);
        let mut refusal = None;
        loop {
            let mut finished = false;
            for answer in netlink::answers(self.socket.recv()?)? {
                // The batch's sequence numbers run from `begin` to `last`.
                if answer.kind != NLMSG_ERROR || answer.seq < begin || answer.seq > last {
                    continue;
                }
                let error = answer.error()?;
                // An error of the batch as a whole comes alone; otherwise the last message's
                // answer is the last of all.
                finished |= answer.seq == last || (answer.seq == begin && error.is_some());
                if let (None, Some(error)) = (&refusal, error) {
                    let step = steps.iter().find(|(seq, _)| *seq == answer.seq).map_or(Step::Batch, |(_, step)| *step);
                    refusal = Some((step, error));
                }
            }
            if finished {
                return Ok(refusal);
            }
        }
    }

    /// The tables of the dump answering request `seq`, and whether it was interrupted by a
    /// change.
    fn read_dump(&mut self, seq: u32) -> Result<(Vec<TableInfo>, bool), NftError> {
        let mut tables = Vec::new();
        let mut interrupted = false;
        loop {
            for answer in netlink::answers(self.socket.recv()?)? {
                if answer.seq != seq {
                    continue;
                }
                interrupted |= answer.flags & DUMP_INTR != 0;
                match answer.kind {
                    NLMSG_DONE if answer.done_code() < 0 => {
                        let error = KernelError { errno: -answer.done_code(), message: None };
                        return Err(NftError::refused(Step::List, "", &error));
                    }
                    NLMSG_DONE => return Ok((tables, interrupted)),
                    NLMSG_ERROR => {
                        if let Some(error) = answer.error()? {
                            return Err(NftError::refused(Step::List, "", &error));
                        }
                    }
                    kind if kind == nft_message(NEWTABLE) => {
                        let attrs = answer.attrs()?;
                        let attr = |wanted| attrs.iter().find(|(kind, _)| *kind == wanted).map(|(_, data)| *data);
                        if let Some(name) = attr(TABLE_NAME) {
                            let userdata = attr(TABLE_USERDATA).unwrap_or_default().to_vec();
                            tables.push(TableInfo { name: netlink::string(name), userdata });
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A table as [`replace_batch`] writes it.
#[derive(Clone, Copy)]
struct Table<'a> {
    name: &'a str,
    rank: u8,
    userdata: &'a [u8],
}

/// The transaction that replaces `table` with exactly `redirects`, its sequence numbers
/// starting at `seq`.
fn replace_batch(seq: u32, table: Table, redirects: &[Redirect]) -> Batch {
    let mut batch = Batch::begin(seq);
    // Adding the table first makes deleting it succeed whether or not it existed.
    let bare = Table { userdata: &[], ..table };
    batch.add(Step::NewTable, NEWTABLE, 0, |attrs| put_table(attrs, bare));
    let table_name = table.name;
    batch.add(Step::DelTable, DELTABLE, 0, |attrs| attrs.attr_str(TABLE_NAME, table_name));
    if redirects.is_empty() {
        return batch;
    }
    let chains = rules::chains(table.rank, redirects);
    batch.add(Step::NewTable, NEWTABLE, 0, |attrs| put_table(attrs, table));
    let table = table.name;
    for chain in &chains {
        batch.add(Step::NewChain(chain.name), NEWCHAIN, CREATE, |attrs| put_chain(attrs, table, chain));
    }
    for chain in &chains {
        for rule in &chain.rules {
            batch.add(Step::NewRule(chain.name), NEWRULE, CREATE | APPEND, |attrs| {
                attrs.attr_str(RULE_TABLE, table);
                attrs.attr_str(RULE_CHAIN, chain.name);
                attrs.nested(RULE_EXPRESSIONS, |list| {
                    for expr in rule {
                        list.nested(LIST_ELEM, |elem| expr.encode(elem));
                    }
                });
            });
        }
    }
    batch
}

/// The messages of one transaction, and which step each sequence number is.
struct Batch {
    writer: Writer,
    next_seq: u32,
    steps: Vec<(u32, Step)>,
    /// Where the last change starts (it asks for an acknowledgement).
    last: Option<usize>,
}

impl Batch {
    fn begin(seq: u32) -> Batch {
        let mut writer = Writer::default();
        writer.message(BATCH_BEGIN, REQUEST, seq, FAMILY_UNSPEC, SUBSYS_NFTABLES, |_| {});
        Batch { writer, next_seq: seq.wrapping_add(1), steps: vec![(seq, Step::Batch)], last: None }
    }

    fn add(&mut self, step: Step, kind: u16, flags: u16, attrs: impl FnOnce(&mut Writer)) {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let start = self.writer.message(nft_message(kind), REQUEST | flags, seq, FAMILY_INET, 0, attrs);
        self.steps.push((seq, step));
        self.last = Some(start);
    }

    /// The whole batch to send, its steps (the begin message first, the last change last)
    /// and the next free sequence number.
    fn end(mut self) -> (Vec<u8>, Vec<(u32, Step)>, u32) {
        if let Some(last) = self.last {
            self.writer.add_flags(last, ACK);
        }
        let seq = self.next_seq;
        self.writer.message(BATCH_END, REQUEST, seq, FAMILY_UNSPEC, SUBSYS_NFTABLES, |_| {});
        (self.writer.bytes().to_vec(), self.steps, seq.wrapping_add(1))
    }
}

fn put_table(attrs: &mut Writer, table: Table) {
    attrs.attr_str(TABLE_NAME, table.name);
    attrs.attr_be32(TABLE_FLAGS, 0);
    if !table.userdata.is_empty() {
        attrs.attr(TABLE_USERDATA, table.userdata);
    }
}

fn put_chain(attrs: &mut Writer, table: &str, chain: &Chain) {
    attrs.attr_str(CHAIN_TABLE, table);
    attrs.attr_str(CHAIN_NAME, chain.name);
    attrs.attr_str(CHAIN_TYPE, "nat");
    attrs.attr_be32(CHAIN_POLICY, POLICY_ACCEPT);
    attrs.nested(CHAIN_HOOK, |hook| {
        hook.attr_be32(HOOK_HOOKNUM, chain.hook as u32);
        hook.attr_be32(HOOK_PRIORITY, chain.priority as u32);
    });
}

/// A netfilter netlink socket in the calling thread's network namespace, for [`Nftables::new`]
/// (the agent makes it on its network-namespace thread and talks on a blocking thread).
pub fn open_socket() -> io::Result<OwnedFd> {
    socket::open()
}

#[cfg(test)]
mod tests;
