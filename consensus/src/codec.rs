//! Bounded decoding of network messages.

use parity_scale_codec::{Decode, DecodeLimit};

/// Nesting depth allowed when decoding a message.
const MAX_DEPTH: u32 = 16;

/// Why bytes from the network were not accepted as a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The encoding is larger than the message kind allows.
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Length received.
        len: usize,
        /// Largest accepted length.
        limit: usize,
    },
    /// The bytes are not a valid SCALE encoding of the message (or have trailing bytes).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message decoded but breaks a bound on one of its lists.
    #[error("message list {what} has {len} entries, more than {limit}")]
    TooManyItems {
        /// Which list.
        what: &'static str,
        /// Entries received.
        len: usize,
        /// Largest accepted count.
        limit: usize,
    },
}

/// Decodes `bytes` as a `T` of at most `limit` bytes, with no trailing bytes.
pub fn decode_bounded<T: Decode>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let mut input = bytes;
    T::decode_all_with_depth_limit(MAX_DEPTH, &mut input)
        .map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Fails when a decoded list is longer than `limit`.
pub fn check_len(what: &'static str, len: usize, limit: usize) -> Result<(), CodecError> {
    if len > limit {
        return Err(CodecError::TooManyItems { what, len, limit });
    }
    Ok(())
}
