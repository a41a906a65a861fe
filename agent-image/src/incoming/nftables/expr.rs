//! The nftables expressions tether's rules are made of, and their netlink encoding (the
//! `NFTA_EXPR_*` attributes of one element of a rule's expression list). Everything works on
//! register 1 and the verdict register.

use super::netlink::Writer;

/// `NFT_REG_VERDICT`: the register a verdict is written to.
const REG_VERDICT: u32 = 0;
/// `NFT_REG_1`: the one data register tether's rules use.
const REG_1: u32 = 1;

/// `NFTA_EXPR_NAME`, `NFTA_EXPR_DATA`.
const EXPR_NAME: u16 = 1;
const EXPR_DATA: u16 = 2;
/// `NFTA_META_DREG`, `NFTA_META_KEY`.
const META_DREG: u16 = 1;
const META_KEY: u16 = 2;
/// `NFTA_CMP_SREG`, `NFTA_CMP_OP`, `NFTA_CMP_DATA`; `NFT_CMP_EQ`.
const CMP_SREG: u16 = 1;
const CMP_OP: u16 = 2;
const CMP_DATA: u16 = 3;
const CMP_EQ: u32 = 0;
/// `NFTA_BITWISE_SREG`, `_DREG`, `_LEN`, `_MASK`, `_XOR`, `_OP`; `NFT_BITWISE_BOOL` (mask and
/// xor).
const BITWISE_SREG: u16 = 1;
const BITWISE_DREG: u16 = 2;
const BITWISE_LEN: u16 = 3;
const BITWISE_MASK: u16 = 4;
const BITWISE_XOR: u16 = 5;
const BITWISE_OP: u16 = 6;
const BITWISE_BOOL: u32 = 0;
/// `NFTA_PAYLOAD_DREG`, `_BASE`, `_OFFSET`, `_LEN`; `NFT_PAYLOAD_TRANSPORT_HEADER`.
const PAYLOAD_DREG: u16 = 1;
const PAYLOAD_BASE: u16 = 2;
const PAYLOAD_OFFSET: u16 = 3;
const PAYLOAD_LEN: u16 = 4;
const PAYLOAD_TRANSPORT_HEADER: u32 = 2;
/// `NFTA_IMMEDIATE_DREG`, `NFTA_IMMEDIATE_DATA`.
const IMMEDIATE_DREG: u16 = 1;
const IMMEDIATE_DATA: u16 = 2;
/// `NFTA_DATA_VALUE`, `NFTA_DATA_VERDICT`, `NFTA_VERDICT_CODE`; `NFT_RETURN`.
const DATA_VALUE: u16 = 1;
const DATA_VERDICT: u16 = 2;
const VERDICT_CODE: u16 = 1;
const VERDICT_RETURN: i32 = -5;
/// `NFTA_REDIR_REG_PROTO_MIN`, `NFTA_REDIR_FLAGS`; `NF_NAT_RANGE_PROTO_SPECIFIED`.
const REDIR_REG_PROTO_MIN: u16 = 1;
const REDIR_FLAGS: u16 = 3;
const NAT_RANGE_PROTO_SPECIFIED: u32 = 2;

/// The packet facts tether's rules read with `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    /// `NFT_META_MARK`: the packet's mark (`SO_MARK` of its socket).
    Mark = 3,
    /// `NFT_META_OIFNAME`: the output interface's name (16 bytes, NUL-padded).
    OifName = 7,
    /// `NFT_META_NFPROTO`: the packet's family (`NFPROTO_IPV4` 2, `NFPROTO_IPV6` 10).
    NfProto = 15,
    /// `NFT_META_L4PROTO`: the transport protocol number.
    L4Proto = 16,
}

/// One expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Loads a packet fact into register 1.
    Meta(MetaKey),
    /// Ends the rule unless register 1 equals these bytes (compared as stored, so values are
    /// in the byte order the kernel keeps them: host order for the mark, network order for
    /// ports).
    CmpEq(Vec<u8>),
    /// Keeps in register 1 only the bits set in these bytes (in the byte order of
    /// [`Expr::CmpEq`]).
    And(Vec<u8>),
    /// Loads `len` bytes at `offset` of the transport header into register 1.
    TransportHeader { offset: u32, len: u32 },
    /// Puts these bytes into register 1.
    Value(Vec<u8>),
    /// The verdict `return`: leave this chain.
    Return,
    /// Redirects to the local port in register 1 (network byte order).
    RedirectToPort,
}

impl Expr {
    /// Writes this expression as one `NFTA_LIST_ELEM`'s attributes.
    pub fn encode(&self, attrs: &mut Writer) {
        match self {
            Expr::Meta(key) => expression(attrs, "meta", |data| {
                data.attr_be32(META_KEY, *key as u32);
                data.attr_be32(META_DREG, REG_1);
            }),
            Expr::CmpEq(value) => expression(attrs, "cmp", |data| {
                data.attr_be32(CMP_SREG, REG_1);
                data.attr_be32(CMP_OP, CMP_EQ);
                data.nested(CMP_DATA, |inner| inner.attr(DATA_VALUE, value));
            }),
            Expr::And(mask) => expression(attrs, "bitwise", |data| {
                data.attr_be32(BITWISE_SREG, REG_1);
                data.attr_be32(BITWISE_DREG, REG_1);
                data.attr_be32(BITWISE_OP, BITWISE_BOOL);
                data.attr_be32(BITWISE_LEN, mask.len() as u32);
                data.nested(BITWISE_MASK, |inner| inner.attr(DATA_VALUE, mask));
                data.nested(BITWISE_XOR, |inner| inner.attr(DATA_VALUE, &vec![0; mask.len()]));
            }),
            Expr::TransportHeader { offset, len } => expression(attrs, "payload", |data| {
                data.attr_be32(PAYLOAD_DREG, REG_1);
                data.attr_be32(PAYLOAD_BASE, PAYLOAD_TRANSPORT_HEADER);
                data.attr_be32(PAYLOAD_OFFSET, *offset);
                data.attr_be32(PAYLOAD_LEN, *len);
            }),
            Expr::Value(value) => expression(attrs, "immediate", |data| {
                data.attr_be32(IMMEDIATE_DREG, REG_1);
                data.nested(IMMEDIATE_DATA, |inner| inner.attr(DATA_VALUE, value));
            }),
            Expr::Return => expression(attrs, "immediate", |data| {
                data.attr_be32(IMMEDIATE_DREG, REG_VERDICT);
                data.nested(IMMEDIATE_DATA, |inner| {
                    inner.nested(DATA_VERDICT, |verdict| verdict.attr_be32(VERDICT_CODE, VERDICT_RETURN as u32));
                });
            }),
            Expr::RedirectToPort => expression(attrs, "redir", |data| {
                data.attr_be32(REDIR_REG_PROTO_MIN, REG_1);
                data.attr_be32(REDIR_FLAGS, NAT_RANGE_PROTO_SPECIFIED);
            }),
        }
    }
}

fn expression(attrs: &mut Writer, name: &str, data: impl FnOnce(&mut Writer)) {
    attrs.attr_str(EXPR_NAME, name);
    attrs.nested(EXPR_DATA, data);
}

/// The notation of `nft --debug=netlink`, so tests compare rules with what nft itself makes.
#[cfg(test)]
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words = |value: &[u8]| {
            value
                .chunks(4)
                .map(|chunk| {
                    let mut word = [0u8; 4];
                    word[..chunk.len()].copy_from_slice(chunk);
                    format!("{:#010x}", u32::from_le_bytes(word))
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Expr::Meta(key) => {
                let key = match key {
                    MetaKey::Mark => "mark",
                    MetaKey::OifName => "oifname",
                    MetaKey::NfProto => "nfproto",
                    MetaKey::L4Proto => "l4proto",
                };
                write!(f, "[ meta load {key} => reg 1 ]")
            }
            Expr::CmpEq(value) => write!(f, "[ cmp eq reg 1 {} ]", words(value)),
            Expr::And(mask) => {
                write!(f, "[ bitwise reg 1 = ( reg 1 & {} ) ^ {} ]", words(mask), words(&vec![0; mask.len()]))
            }
            Expr::TransportHeader { offset, len } => {
                write!(f, "[ payload load {len}b @ transport header + {offset} => reg 1 ]")
            }
            Expr::Value(value) => write!(f, "[ immediate reg 1 {} ]", words(value)),
            Expr::Return => write!(f, "[ immediate reg 0 return ]"),
            Expr::RedirectToPort => write!(f, "[ redir proto_min reg 1 flags {NAT_RANGE_PROTO_SPECIFIED:#x} ]"),
        }
    }
}
