//! A fuzz input read the way the code under test reads it: the frames that decode, each with
//! its own bytes (so odd but valid encodings reach the target unchanged), then the rest.

use tether_rpc_schema::codec;
use tether_rpc_schema::wire::{Envelope, Message};

/// One decoded frame and the exact bytes it came from.
pub struct Frame<'a> {
    pub bytes: &'a [u8],
    pub envelope: Envelope,
}

/// `input` as a peer's byte stream.
pub struct Split<'a> {
    pub frames: Vec<Frame<'a>>,
    /// What follows the last frame that decodes: garbage, an oversized or a partial frame.
    /// The code under test ends the connection on it, so nothing after it matters.
    pub rest: &'a [u8],
}

/// Splits `input` with the same decoder the agent and the daemon use.
pub fn split(input: &[u8]) -> Split<'_> {
    let mut frames = Vec::new();
    let mut rest = input;
    while let Ok(Some((envelope, used))) = codec::decode(rest) {
        frames.push(Frame { bytes: &rest[..used], envelope });
        rest = &rest[used..];
    }
    Split { frames, rest }
}

impl Split<'_> {
    /// The byte stream without the frames `keep` rejects.
    pub fn stream(&self, keep: impl Fn(&Message) -> bool) -> Vec<u8> {
        let mut stream = Vec::with_capacity(self.rest.len());
        for frame in self.frames.iter().filter(|frame| keep(&frame.envelope.message)) {
            stream.extend_from_slice(frame.bytes);
        }
        stream.extend_from_slice(self.rest);
        stream
    }
}

/// Whether `message` is stream traffic, which is routed, never answered.
pub fn is_stream_message(message: &Message) -> bool {
    matches!(
        message,
        Message::StreamData { .. }
            | Message::StreamAck { .. }
            | Message::StreamEof { .. }
            | Message::StreamReset { .. }
    )
}
