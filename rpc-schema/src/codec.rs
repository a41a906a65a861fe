//! Length-prefixed frames: a 4-byte big-endian payload length, then one CBOR-encoded
//! [`Envelope`]. The only place that knows the byte layout of the wire protocol.

use std::io::{self, Read, Write};

use crate::wire::Envelope;

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// Largest payload accepted; bigger frames are a protocol error (file reads are chunked
/// well below this).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The length prefix announces more than [`MAX_FRAME`] bytes.
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME} bytes")]
    TooLarge(usize),
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
        return Err(CodecError::TooLarge(len));
    }
    frame[..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

/// Decodes the first frame of `buf`. Returns `None` while `buf` holds only part of a frame,
/// otherwise the envelope and how many bytes of `buf` it used.
pub fn decode(buf: &[u8]) -> Result<Option<(Envelope, usize)>, CodecError> {
    let Some(len) = payload_len(buf)? else {
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
    let len = checked_len(header)?;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload)?;
    decode_payload(&payload)
}

/// Writes one frame to a blocking writer.
pub fn write_frame(writer: &mut impl Write, envelope: &Envelope) -> Result<(), CodecError> {
    writer.write_all(&encode(envelope)?)?;
    Ok(())
}

fn payload_len(buf: &[u8]) -> Result<Option<usize>, CodecError> {
    match buf.get(..HEADER_LEN) {
        Some(header) => checked_len(header.try_into().expect("slice of HEADER_LEN")).map(Some),
        None => Ok(None),
    }
}

fn checked_len(header: [u8; HEADER_LEN]) -> Result<usize, CodecError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(CodecError::TooLarge(len));
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

#[cfg(feature = "tokio-codec")]
impl tokio_util::codec::Decoder for FrameCodec {
    type Item = Envelope;
    type Error = CodecError;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Envelope>, CodecError> {
        match decode(src)? {
            Some((envelope, used)) => {
                let _ = src.split_to(used);
                Ok(Some(envelope))
            }
            None => {
                if let Some(len) = payload_len(src)? {
                    src.reserve(HEADER_LEN + len - src.len());
                }
                Ok(None)
            }
        }
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
            Message::OutgoingTcp { addr: "[fd00::1]:8080".parse().unwrap(), local_port: 4000, nonblocking: true },
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
        assert!(matches!(decode(&header), Err(CodecError::TooLarge(_))));
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

    fn libc_enoent() -> i32 {
        2
    }
}
