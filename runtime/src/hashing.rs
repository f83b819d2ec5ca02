//! blake2b hashing: the chain's [`Hash`] and the trie's [`Blake2Hasher`].

use blake2::digest::{consts::U32, Digest as _};
use core::fmt;
use parity_scale_codec::{Decode, Encode};

/// A 32-byte blake2b-256 digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Hash(pub [u8; 32]);

/// Described as Substrate's `H256`.
impl scale_info::TypeInfo for Hash {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        crate::metadata::newtype::<[u8; 32]>("H256", "primitive_types")
    }
}

impl Hash {
    /// The all-zero hash, used as the genesis block's parent.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for Hash {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Hash(bytes)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::str::FromStr for Hash {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut out)?;
        Ok(Hash(out))
    }
}

/// blake2b-256 of the concatenation of `parts`, without copying them together.
pub fn blake2_256_of(parts: &[&[u8]]) -> Hash {
    let mut hasher = blake2::Blake2b::<U32>::new();
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// blake2b-256 of `data`.
pub fn blake2_256(data: &[u8]) -> Hash {
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    let digest = crate::wasm::guest::host_blake2_256(data);
    #[cfg(not(all(target_arch = "wasm32", not(feature = "std"))))]
    let digest = blake2::Blake2b::<U32>::digest(data).into();
    Hash(digest)
}

/// blake2b-128 of `data`, used for map keys (`Blake2_128Concat`).
pub fn blake2_128(data: &[u8]) -> [u8; 16] {
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    let digest = crate::wasm::guest::host_blake2_128(data);
    #[cfg(not(all(target_arch = "wasm32", not(feature = "std"))))]
    let digest = blake2::Blake2b::<blake2::digest::consts::U16>::digest(data).into();
    digest
}

/// xxHash64 of `data` under seeds 0 and 1, little-endian: Substrate's `twox_128`, which
/// hashes the module and item names of storage keys (they are not chosen by users, so a fast
/// non-cryptographic hash is safe there).
pub fn twox_128(data: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&twox_hash::XxHash64::oneshot(0, data).to_le_bytes());
    out[8..].copy_from_slice(&twox_hash::XxHash64::oneshot(1, data).to_le_bytes());
    out
}

/// blake2b-64 of `data`: the ids of runtime APIs in a runtime version's `apis`.
pub fn blake2_64(data: &[u8]) -> [u8; 8] {
    blake2::Blake2b::<blake2::digest::consts::U8>::digest(data).into()
}

/// blake2b-512 of `data`, used by SS58 checksums.
pub fn blake2_512(data: &[u8]) -> [u8; 64] {
    blake2::Blake2b512::digest(data).into()
}

/// The trie's hasher: blake2b-256, as in Substrate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blake2Hasher;

impl hash_db::Hasher for Blake2Hasher {
    type Out = Hash;
    type StdHasher = hash256_std_hasher::Hash256StdHasher;
    const LENGTH: usize = 32;

    fn hash(data: &[u8]) -> Hash {
        blake2_256(data)
    }
}
