//! Length-prefixed frames: a 4-byte big-endian payload length, then one CBOR-encoded
//! [`Envelope`]. The only place that knows the byte layout of the wire protocol.

use std::io::{self, Read, Write};

use crate::wire::Envelope;

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// Largest payload accepted; bigger frames are a protocol error (file reads are chunked
/// well below this).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Largest payload a peer accepts before it has accepted the sender's `Hello`: a `Hello` is a
/// few hundred bytes, and whoever has not authenticated must not make the peer buffer more.
pub const HELLO_FRAME_MAX: usize = 4 * 1024;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The length prefix announces more than the limit in force ([`MAX_FRAME`], or a smaller
    /// one such as [`HELLO_FRAME_MAX`]).
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    /// The payload is not a valid CBOR envelope.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Reading or writing the underlying stream failed.
    #[error("wire i/o: {0}")]
    Io(#[from] io::Error),
}

/// Encodes `envelope` as one frame, length prefix included.
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    let mut frame = vec![0u8; HEADER_LEN];
    ciborium::into_writer(envelope, &mut frame).map_err(|err| CodecError::Malformed(err.to_string()))?;
    let len = frame.len() - HEADER_LEN;
    if len > MAX_FRAME {
        return Err(CodecError::TooLarge { len, limit: MAX_FRAME });
    }
    frame[..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

/// Decodes the first frame of `buf`. Returns `None` while `buf` holds only part of a frame,
/// otherwise the envelope and how many bytes of `buf` it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Envelope, usize)>, CodecError> {
    decode_limited(buf, MAX_FRAME)
}

/// [`decode`] with a smaller payload limit: a length prefix above `limit` is refused as soon as
/// its four bytes are in `buf`, before any of the payload is buffered.
pub fn decode_limited(buf: &[u8], limit: usize) -> Result<Option<(Envelope, usize)>, CodecError> {
    let Some(len) = payload_len(buf, limit)? else {
        return Ok(None);
    };
    let end = HEADER_LEN + len;
    if buf.len() < end {
        return Ok(None);
    }
    let envelope = decode_payload(&buf[HEADER_LEN..end])?;
    Ok(Some((envelope, end)))
}

/// Reads one frame from a blocking reader.
pub fn read_frame(reader: &mut impl Read) -> Result<Envelope, CodecError> {
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header)?;
    let len = checked_len(header, MAX_FRAME)?;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload)?;
    decode_payload(&payload)
}

/// Writes one frame to a blocking writer.
pub fn write_frame(writer: &mut impl Write, envelope: &Envelope) -> Result<(), CodecError> {
    writer.write_all(&encode(envelope)?)?;
    Ok(())
}

fn payload_len(buf: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
    match buf.first_chunk::<HEADER_LEN>() {
        Some(header) => checked_len(*header, limit).map(Some),
        None => Ok(None),
    }
}

fn checked_len(header: [u8; HEADER_LEN], limit: usize) -> Result<usize, CodecError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > limit {
        return Err(CodecError::TooLarge { len, limit });
    }
    Ok(len)
}

fn decode_payload(payload: &[u8]) -> Result<Envelope, CodecError> {
    ciborium::from_reader(payload).map_err(|err| CodecError::Malformed(err.to_string()))
}

/// The same frames as a `tokio_util` codec, for async peers.
#[cfg(feature = "tokio-codec")]
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameCodec;

/// [`FrameCodec`] decoding only frames up to a limit, e.g. [`HELLO_FRAME_MAX`] while a peer's
/// hello is not accepted yet. Encoding is not limited.
#[cfg(feature = "tokio-codec")]
#[derive(Debug, Clone, Copy)]
pub struct LimitedFrameCodec {
    limit: usize,
}

#[cfg(feature = "tokio-codec")]
impl LimitedFrameCodec {
    pub fn new(limit: usize) -> LimitedFrameCodec {
        LimitedFrameCodec { limit: limit.min(MAX_FRAME) }
    }
}

#[cfg(feature = "tokio-codec")]
fn decode_framed(src: &mut bytes::BytesMut, limit: usize) -> Result<Option<Envelope>, CodecError> {
    match decode_limited(src, limit)? {
        Some((envelope, used)) => {
            let _ = src.split_to(used);
            Ok(Some(envelope))
        }
        None => {
            if let Some(len) = payload_len(src, limit)? {
                src.reserve(HEADER_LEN + len - src.len());
            }
            Ok(None)
        }
    }
}

#[cfg(feature = "tokio-codec")]
impl tokio_util::codec::Decoder for FrameCodec {
    type Item = Envelope;
    type Error = CodecError;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Envelope>, CodecError> {
        decode_framed(src, MAX_FRAME)
    }
}

#[cfg(feature = "tokio-codec")]
impl tokio_util::codec::Decoder for LimitedFrameCodec {
    type Item = Envelope;
    type Error = CodecError;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Envelope>, CodecError> {
        decode_framed(src, self.limit)
    }
}

#[cfg(feature = "tokio-codec")]
impl tokio_util::codec::Encoder<Envelope> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, envelope: Envelope, dst: &mut bytes::BytesMut) -> Result<(), CodecError> {
        dst.extend_from_slice(&encode(&envelope)?);
        Ok(())
    }
}

#[cfg(feature = "tokio-codec")]
impl tokio_util::codec::Encoder<Envelope> for LimitedFrameCodec {
    type Error = CodecError;

    fn encode(&mut self, envelope: Envelope, dst: &mut bytes::BytesMut) -> Result<(), CodecError> {
        FrameCodec.encode(envelope, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{FileMeta, Message};

    fn envelope(id: u64, message: Message) -> Envelope {
        Envelope { id, message }
    }

    #[test]
    fn decode_round_trips_every_kind_of_payload() {
        let messages = [
            Message::Ping,
            Message::FileRead { path: b"/etc/\xffodd".to_vec(), offset: 7, len: 9 },
            Message::FileData { meta: FileMeta { size: 3, ..FileMeta::default() }, data: vec![0, 255, 1], eof: true },
            Message::OutgoingTcp {
                addr: "[fd00::1]:8080".parse().unwrap(),
                local_port: 4000,
                park: Some("127.0.0.1:4001".parse().unwrap()),
            },
            Message::failure(libc_enoent(), "no such file"),
        ];
        for (id, message) in messages.into_iter().enumerate() {
            let sent = envelope(id as u64, message);
            let frame = encode(&sent).unwrap();
            let (received, used) = decode(&frame).unwrap().unwrap();
            assert_eq!(received, sent);
            assert_eq!(used, frame.len());
        }
    }

    #[test]
    fn decode_partial_frame_waits_for_more() {
        let frame = encode(&envelope(1, Message::Bye)).unwrap();
        for cut in 0..frame.len() {
            assert!(decode(&frame[..cut]).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn decode_oversized_length_is_refused_before_buffering() {
        let header = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(matches!(decode(&header), Err(CodecError::TooLarge { limit: MAX_FRAME, .. })));
    }

    #[test]
    fn decode_limited_refuses_a_length_above_the_limit_from_the_header_alone() {
        let header = ((HELLO_FRAME_MAX + 1) as u32).to_be_bytes();
        let refused = decode_limited(&header, HELLO_FRAME_MAX);
        assert!(
            matches!(refused, Err(CodecError::TooLarge { len, limit: HELLO_FRAME_MAX }) if len == HELLO_FRAME_MAX + 1)
        );
        assert!(decode(&header).unwrap().is_none(), "the same frame is fine without the hello limit");
    }

    #[test]
    fn decode_limited_accepts_a_hello_sized_frame() {
        let hello = crate::wire::Hello {
            protocol_version: crate::PROTOCOL_VERSION,
            role: crate::wire::Role::Daemon,
            token: "t".repeat(64),
            capabilities: vec!["incoming".into()],
            pid: 1,
        };
        let frame = encode(&envelope(1, Message::Hello(hello))).unwrap();
        assert!(decode_limited(&frame, HELLO_FRAME_MAX).unwrap().is_some());
    }

    #[test]
    fn decode_garbage_payload_is_malformed() {
        let frame = [0, 0, 0, 2, 0xff, 0x00];
        assert!(matches!(decode(&frame), Err(CodecError::Malformed(_))));
    }

    #[test]
    fn read_frame_reads_back_to_back_frames() {
        let mut stream = encode(&envelope(1, Message::Ping)).unwrap();
        stream.extend(encode(&envelope(2, Message::Pong)).unwrap());
        let mut reader = stream.as_slice();
        assert_eq!(read_frame(&mut reader).unwrap().message, Message::Ping);
        assert_eq!(read_frame(&mut reader).unwrap().message, Message::Pong);
    }

    #[test]
    fn decode_an_incoming_subscribe_of_a_daemon_before_http_probes_defaults_it_to_false() {
        let subscribe = Message::IncomingSubscribe {
            port: 8080,
            mode: crate::incoming::IncomingMode::Steal,
            filter: None,
            served_only: true,
            http_probes: true,
            holder: None,
        };
        let frame = encode(&envelope(3, subscribe)).unwrap();
        let mut value: ciborium::Value = ciborium::from_reader(&frame[HEADER_LEN..]).unwrap();
        let fields = value
            .as_map_mut()
            .and_then(|envelope| envelope.iter_mut().find(|(key, _)| key.as_text() == Some("message")))
            .and_then(|(_, message)| message.as_map_mut()?.first_mut())
            .and_then(|(_, fields)| fields.as_map_mut())
            .expect("IncomingSubscribe is encoded as a map of fields");
        fields.retain(|(key, _)| key.as_text() != Some("http_probes"));
        let mut payload = Vec::new();
        ciborium::into_writer(&value, &mut payload).unwrap();
        let mut old = (payload.len() as u32).to_be_bytes().to_vec();
        old.extend(payload);
        let (received, _) = decode(&old).unwrap().unwrap();
        assert!(matches!(received.message, Message::IncomingSubscribe { http_probes: false, served_only: true, .. }));
    }

    fn libc_enoent() -> i32 {
        2
    }
}
