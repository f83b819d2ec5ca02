//! Tessera's cross-consensus messages: the XCM v5 data model, wire-compatible with Polkadot's
//! (`staging-xcm`): the same enum indices, field order and SCALE layout, and the same decoding
//! limits (nesting depth, instruction count, asset count and order). `docs/xcm-v5-wire.md` is
//! the layout this follows, read from polkadot-sdk.
//!
//! Messages from other chains are decoded with [`VersionedXcm::decode_limited`], which refuses
//! what Polkadot's decoder refuses, with an error saying why, and reads v3 and v4 bytes into
//! their v5 conversion; [`executor`] runs them, [`module`] is the runtime module that sends
//! and receives them, [`para`] configures paras built with Tessera.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

pub mod executor;
pub mod module;
pub mod para;
#[cfg(feature = "serde")]
mod serde_hex;
// A harness for tests, fuzzing and benchmarks, never built into a node: its set-up may panic.
#[cfg(feature = "simulator")]
#[allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
pub mod simulator;
pub mod v5;

use parity_scale_codec::{Decode, DecodeLimit, Encode};

/// Deepest nesting a message may have when decoded (Polkadot's `MAX_XCM_DECODE_DEPTH`): each
/// message, asset list and non-empty junction list is one level.
pub const MAX_XCM_DECODE_DEPTH: u32 = 8;

/// Most instructions one message may hold, counting every nested message
/// (Polkadot's `MAX_INSTRUCTIONS_TO_DECODE`).
pub const MAX_INSTRUCTIONS_TO_DECODE: u32 = 100;

/// Largest encoded message accepted (Polkadot's `MAX_XCM_SIZE`).
pub const MAX_XCM_SIZE: usize = 16 * 1024 * 1024;

/// An XCM message of a known version: the first byte is the version.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum VersionedXcm {
    /// Version 5.
    #[codec(index = 5)]
    V5(v5::Xcm),
}

/// A location of a known version.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum VersionedLocation {
    /// Version 5.
    #[codec(index = 5)]
    V5(v5::Location),
}

/// An asset list of a known version.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum VersionedAssets {
    /// Version 5.
    #[codec(index = 5)]
    V5(v5::Assets),
}

/// Why bytes are not a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than [`MAX_XCM_SIZE`].
    TooLarge(usize),
    /// A version this node does not speak (it reads 3, 4 and 5).
    UnsupportedVersion(u8),
    /// Empty input.
    Empty,
    /// Malformed, too deep, too many instructions or assets, or trailing bytes: the codec's
    /// reason.
    Invalid(parity_scale_codec::Error),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::TooLarge(len) => {
                write!(f, "message of {len} bytes exceeds {MAX_XCM_SIZE}")
            }
            DecodeError::UnsupportedVersion(version) => {
                write!(
                    f,
                    "XCM version {version} is not supported (only 3, 4 and 5)"
                )
            }
            DecodeError::Empty => f.write_str("empty message"),
            DecodeError::Invalid(why) => write!(f, "invalid message: {why}"),
        }
    }
}

environmental::environmental!(version_being_decoded: u8);

/// The XCM version of the bytes being decoded: 5 unless a v3 or v4 message, location or asset
/// list is being read into the v5 types.
pub(crate) fn decoding_version() -> u8 {
    version_being_decoded::with(|version| *version).unwrap_or(5)
}

/// Decodes exactly `bytes` (version byte first) as `T`'s v5 payload within the depth limit,
/// after checking size and version; v3 and v4 bytes are read into the v5 types.
fn decode_versioned<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_XCM_SIZE {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let (mut version, payload) = match bytes.split_first() {
        None => return Err(DecodeError::Empty),
        Some((version @ 3..=5, payload)) => (*version, payload),
        Some((other, _)) => return Err(DecodeError::UnsupportedVersion(*other)),
    };
    version_being_decoded::using(&mut version, || {
        T::decode_all_with_depth_limit(MAX_XCM_DECODE_DEPTH, &mut &payload[..])
    })
    .map_err(DecodeError::Invalid)
}

impl VersionedXcm {
    /// Decodes a message from another chain, refusing what Polkadot refuses: more than
    /// [`MAX_XCM_DECODE_DEPTH`] levels, more than [`MAX_INSTRUCTIONS_TO_DECODE`] instructions
    /// in all, bad asset lists, trailing bytes. A v3 or v4 message is converted to v5 as
    /// Polkadot converts it (`docs/xcm-v5-wire.md`, section 8); what has no v5 form (a v3
    /// abstract asset id) is refused.
    pub fn decode_limited(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_versioned(bytes).map(VersionedXcm::V5)
    }
}

impl VersionedLocation {
    /// Decodes a location, as [`VersionedXcm::decode_limited`] does a message.
    pub fn decode_limited(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_versioned(bytes).map(VersionedLocation::V5)
    }
}

impl VersionedAssets {
    /// Decodes an asset list, as [`VersionedXcm::decode_limited`] does a message.
    pub fn decode_limited(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_versioned(bytes).map(VersionedAssets::V5)
    }
}
