//! Bytes in JSON as `0x`-prefixed hex, as Polkadot's tools print them.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Writes `bytes` as `0x…`.
pub(crate) fn serialize<S: Serializer, T: AsRef<[u8]>>(
    bytes: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("0x{}", hex::encode(bytes.as_ref())))
}

/// Reads `0x…` into bytes of the field's type (a fixed-size array must get its exact length).
pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
    deserializer: D,
) -> Result<T, D::Error> {
    let text = String::deserialize(deserializer)?;
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| D::Error::custom(format!("expected 0x-prefixed hex, got {text:?}")))?;
    let bytes =
        hex::decode(digits).map_err(|err| D::Error::custom(format!("bad hex {text:?}: {err}")))?;
    let len = bytes.len();
    T::try_from(bytes)
        .map_err(|_| D::Error::custom(format!("{len} bytes is not a valid length here")))
}
