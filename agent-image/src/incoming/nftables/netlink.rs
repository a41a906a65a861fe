//! Netlink framing for nfnetlink: writing messages (`nlmsghdr`, then `nfgenmsg`, then
//! attributes, nested ones included) and reading the kernel's answers (messages, attributes,
//! errors with their extended ack).
//!
//! Netlink headers are in host byte order; nf_tables' own integer attributes are big-endian
//! (callers pass them as bytes). Every message and attribute is padded to 4 bytes.

use std::io;

/// `NLM_F_REQUEST`: every message to the kernel carries it.
pub const REQUEST: u16 = 0x1;
/// `NLM_F_ACK`: answer this message even when it succeeds.
pub const ACK: u16 = 0x4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): list every object of the kind.
pub const DUMP: u16 = 0x300;
/// `NLM_F_CREATE`: create the object if it does not exist.
pub const CREATE: u16 = 0x400;
/// `NLM_F_APPEND`: add a rule at the end of its chain (without it, at the start).
pub const APPEND: u16 = 0x800;
/// `NLM_F_DUMP_INTR` on an answer: the objects changed while they were listed.
pub const DUMP_INTR: u16 = 0x10;
/// `NLM_F_CAPPED` on an error: the request's payload is not echoed.
const CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` on an error: extended ack attributes follow.
const ACK_TLVS: u16 = 0x200;

/// `NLMSG_ERROR`: an error, or with error 0 an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSGERR_ATTR_MSG`: the extended ack's message.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// `NLA_F_NESTED`: the attribute holds attributes.
const NLA_F_NESTED: u16 = 0x8000;
/// The bits of an attribute's type that are its number (the rest are flags).
const NLA_TYPE_MASK: u16 = 0x3fff;

const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;
const NFGENMSG_LEN: usize = 4;

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Netlink messages written one after another into one buffer (one `sendto`).
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Appends a message of `kind` whose `nfgenmsg` names `family` and `res_id`; `attrs` writes
    /// its attributes. Returns where it starts, for [`Writer::add_flags`].
    pub fn message(
        &mut self,
        kind: u16,
        flags: u16,
        seq: u32,
        family: u8,
        res_id: u16,
        attrs: impl FnOnce(&mut Writer),
    ) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        // Port id 0: the kernel fills in the sender's.
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version NFNETLINK_V0, resource id (big-endian).
        self.buf.push(family);
        self.buf.push(0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        attrs(self);
        self.patch_len(start);
        start
    }

    /// Sets `flags` on the message that starts at `message`.
    pub fn add_flags(&mut self, message: usize, flags: u16) {
        let at = message + 6;
        let old = u16::from_ne_bytes(self.buf[at..at + 2].try_into().expect("two bytes"));
        self.buf[at..at + 2].copy_from_slice(&(old | flags).to_ne_bytes());
    }

    /// An attribute holding `data`.
    pub fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = u16::try_from(NLA_HDRLEN + data.len()).expect("netlink attributes are shorter than 64 KiB");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// A string attribute (NUL-terminated, as the kernel's `NLA_STRING` policy reads it).
    pub fn attr_str(&mut self, kind: u16, value: &str) {
        let mut data = Vec::with_capacity(value.len() + 1);
        data.extend_from_slice(value.as_bytes());
        data.push(0);
        self.attr(kind, &data);
    }

    /// A 32-bit attribute in network byte order, as nf_tables reads its integers.
    pub fn attr_be32(&mut self, kind: u16, value: u32) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// An attribute holding the attributes that `inner` writes.
    pub fn nested(&mut self, kind: u16, inner: impl FnOnce(&mut Writer)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        inner(self);
        let len = u16::try_from(self.buf.len() - start).expect("netlink attributes are shorter than 64 KiB");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn patch_len(&mut self, start: usize) {
        let len = u32::try_from(self.buf.len() - start).expect("netlink messages are shorter than 4 GiB");
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }
}

/// One message of the kernel's answer.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    /// What follows the netlink header.
    pub payload: &'a [u8],
}

impl<'a> Answer<'a> {
    /// The attributes of an nfnetlink message (after its `nfgenmsg`).
    pub fn attrs(&self) -> io::Result<Vec<(u16, &'a [u8])>> {
        attrs(self.payload.get(NFGENMSG_LEN..).ok_or_else(|| malformed("nfnetlink message without nfgenmsg"))?)
    }

    /// For an `NLMSG_ERROR`: `None` when it acknowledges success, else the error.
    pub fn error(&self) -> io::Result<Option<KernelError>> {
        let code = self.payload.get(..4).ok_or_else(|| malformed("netlink error without a code"))?;
        let code = i32::from_ne_bytes(code.try_into().expect("four bytes"));
        if code == 0 {
            return Ok(None);
        }
        let request_len = self
            .payload
            .get(4..8)
            .map_or(NLMSG_HDRLEN, |len| u32::from_ne_bytes(len.try_into().expect("four bytes")) as usize);
        let echoed = if self.flags & CAPPED != 0 { NLMSG_HDRLEN } else { align(request_len.max(NLMSG_HDRLEN)) };
        let message = if self.flags & ACK_TLVS != 0 {
            self.payload.get(4 + echoed..).and_then(extended_ack_message)
        } else {
            None
        };
        Ok(Some(KernelError { errno: code.saturating_neg(), message }))
    }

    /// For an `NLMSG_DONE`: the dump's own error code (0 when it ended well).
    pub fn done_code(&self) -> i32 {
        self.payload.get(..4).map_or(0, |code| i32::from_ne_bytes(code.try_into().expect("four bytes")))
    }
}

/// An error the kernel answered a message with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// The positive errno.
    pub errno: i32,
    /// The extended ack's message, when the kernel gave one.
    pub message: Option<String>,
}

/// The messages of one datagram from the kernel.
pub fn answers(datagram: &[u8]) -> io::Result<Vec<Answer<'_>>> {
    let mut answers = Vec::new();
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(rest[0..4].try_into().expect("four bytes")) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(malformed("netlink message length out of bounds"));
        }
        answers.push(Answer {
            kind: u16::from_ne_bytes(rest[4..6].try_into().expect("two bytes")),
            flags: u16::from_ne_bytes(rest[6..8].try_into().expect("two bytes")),
            seq: u32::from_ne_bytes(rest[8..12].try_into().expect("four bytes")),
            payload: &rest[NLMSG_HDRLEN..len],
        });
        rest = rest.get(align(len)..).unwrap_or_default();
    }
    Ok(answers)
}

/// The attributes in `data`, as (number without flags, payload).
pub fn attrs(data: &[u8]) -> io::Result<Vec<(u16, &[u8])>> {
    let mut attrs = Vec::new();
    let mut rest = data;
    while rest.len() >= NLA_HDRLEN {
        let len = u16::from_ne_bytes(rest[0..2].try_into().expect("two bytes")) as usize;
        let kind = u16::from_ne_bytes(rest[2..4].try_into().expect("two bytes")) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            return Err(malformed("netlink attribute length out of bounds"));
        }
        attrs.push((kind, &rest[NLA_HDRLEN..len]));
        rest = rest.get(align(len)..).unwrap_or_default();
    }
    Ok(attrs)
}

/// A string attribute's value, without its terminating NUL.
pub fn string(data: &[u8]) -> String {
    let end = data.iter().position(|&byte| byte == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

fn extended_ack_message(tlvs: &[u8]) -> Option<String> {
    let attrs = attrs(tlvs).ok()?;
    let (_, message) = attrs.into_iter().find(|(kind, _)| *kind == NLMSGERR_ATTR_MSG)?;
    Some(string(message)).filter(|message| !message.is_empty())
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed netlink answer: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_pads_attributes_and_sets_lengths() {
        let mut writer = Writer::default();
        writer.message(0x0a00, REQUEST, 7, 1, 0, |attrs| {
            attrs.attr_str(1, "t");
            attrs.nested(4, |inner| inner.attr_be32(2, 0xffff_ff9c));
        });
        let mut expected = Vec::new();
        expected.extend_from_slice(&40u32.to_ne_bytes());
        expected.extend_from_slice(&0x0a00u16.to_ne_bytes());
        expected.extend_from_slice(&1u16.to_ne_bytes());
        expected.extend_from_slice(&7u32.to_ne_bytes());
        expected.extend_from_slice(&0u32.to_ne_bytes());
        expected.extend_from_slice(&[1, 0, 0, 0]);
        expected.extend_from_slice(&6u16.to_ne_bytes());
        expected.extend_from_slice(&1u16.to_ne_bytes());
        expected.extend_from_slice(b"t\0\0\0");
        expected.extend_from_slice(&12u16.to_ne_bytes());
        expected.extend_from_slice(&0x8004u16.to_ne_bytes());
        expected.extend_from_slice(&8u16.to_ne_bytes());
        expected.extend_from_slice(&2u16.to_ne_bytes());
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0x9c]);
        assert_eq!(writer.bytes(), expected);
    }

    #[test]
    fn answers_read_an_error_with_its_extended_ack_message() {
        let mut datagram = Vec::new();
        let mut payload = Vec::new();
        payload.extend_from_slice(&(-libc::ENOENT).to_ne_bytes());
        // The request's header only (NLM_F_CAPPED), then NLMSGERR_ATTR_MSG.
        payload.extend_from_slice(&[0u8; 16]);
        payload.extend_from_slice(&12u16.to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(b"no nat\0\0");
        datagram.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
        datagram.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        datagram.extend_from_slice(&(CAPPED | ACK_TLVS).to_ne_bytes());
        datagram.extend_from_slice(&5u32.to_ne_bytes());
        datagram.extend_from_slice(&0u32.to_ne_bytes());
        datagram.extend_from_slice(&payload);

        let answers = answers(&datagram).unwrap();
        assert_eq!((answers.len(), answers[0].kind, answers[0].seq), (1, NLMSG_ERROR, 5));
        let error = answers[0].error().unwrap();
        assert_eq!(error, Some(KernelError { errno: libc::ENOENT, message: Some("no nat".into()) }));
    }

    #[test]
    fn answers_refuse_a_length_past_the_datagram() {
        let mut datagram = vec![0u8; 16];
        datagram[0..4].copy_from_slice(&32u32.to_ne_bytes());
        assert!(answers(&datagram).is_err());
    }
}
