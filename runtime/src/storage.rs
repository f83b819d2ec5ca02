//! Typed storage items: a value or a map under a module's key prefix.
//!
//! Keys are Substrate's: `twox_128(module) ++ twox_128(item)`, and for maps
//! `++ blake2_128(key) ++ key` (`Blake2_128Concat`), so keys are spread evenly yet still list
//! their map key, and a client that knows FRAME's layout finds `System.Account` where it looks.
//! Items are declared as `static`s so the 32-byte prefix is hashed once, on first use.

use crate::error::{Error, Result};
use crate::hashing::{blake2_128, twox_128};
use crate::state::State;
use alloc::vec::Vec;
use core::marker::PhantomData;
use frame_metadata::v14::StorageEntryMetadata;
use once_cell::race::OnceBox;
use parity_scale_codec::{Decode, Encode};

fn decode_value<T: Decode>(key: &[u8], mut bytes: &[u8]) -> Result<T> {
    T::decode(&mut bytes).map_err(|e| Error::CorruptStorage {
        key: hex::encode(key),
        reason: alloc::format!("{e}"),
    })
}

/// Where a chain keeps its runtime's Wasm blob (Substrate's well-known key, outside any
/// module's prefix).
pub const CODE_KEY: &[u8] = b":code";

/// The 32-byte prefix of every key of item `item` in module `module`.
pub fn item_prefix(module: &str, item: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(32);
    key.extend_from_slice(&twox_128(module.as_bytes()));
    key.extend_from_slice(&twox_128(item.as_bytes()));
    key
}

/// The prefix of an item, computed on first use.
struct Prefix {
    module: &'static str,
    item: &'static str,
    cached: OnceBox<[u8; 32]>,
}

impl Prefix {
    const fn new(module: &'static str, item: &'static str) -> Self {
        Prefix {
            module,
            item,
            cached: OnceBox::new(),
        }
    }

    fn get(&self) -> &[u8; 32] {
        self.cached.get_or_init(|| {
            let mut prefix = [0u8; 32];
            prefix.copy_from_slice(&item_prefix(self.module, self.item));
            alloc::boxed::Box::new(prefix)
        })
    }
}

/// A single value of type `T`.
pub struct StorageValue<T> {
    prefix: Prefix,
    _type: PhantomData<fn() -> T>,
}

impl<T: Encode + Decode> StorageValue<T> {
    /// Declares item `item` of `module`.
    pub const fn new(module: &'static str, item: &'static str) -> Self {
        StorageValue {
            prefix: Prefix::new(module, item),
            _type: PhantomData,
        }
    }

    /// The storage key.
    pub fn key(&self) -> Vec<u8> {
        self.prefix.get().to_vec()
    }

    /// The value, if set.
    pub fn get(&self, state: &mut State<'_>) -> Result<Option<T>> {
        let key = self.key();
        state.get_with(&key, |value| {
            value.map(|bytes| decode_value(&key, bytes)).transpose()
        })?
    }

    /// Sets the value.
    pub fn put(&self, state: &mut State<'_>, value: &T) {
        state.set(self.key(), value.encode());
    }

    /// Removes the value.
    pub fn kill(&self, state: &mut State<'_>) {
        state.remove(self.key());
    }
}

impl<T: scale_info::TypeInfo + 'static> StorageValue<T> {
    /// The item described for clients: unset reads as `None`.
    pub fn metadata(&self) -> StorageEntryMetadata {
        crate::metadata::plain::<T>(self.prefix.item)
    }
}

impl<T: scale_info::TypeInfo + Encode + Default + 'static> StorageValue<T> {
    /// The item described for clients: unset reads as `T::default()`.
    pub fn metadata_or_default(&self) -> StorageEntryMetadata {
        crate::metadata::plain_or_default::<T>(self.prefix.item)
    }
}

impl<T: Encode + Decode + Default> StorageValue<T> {
    /// The value, or `T::default()` if unset.
    pub fn get_or_default(&self, state: &mut State<'_>) -> Result<T> {
        Ok(self.get(state)?.unwrap_or_default())
    }
}

/// A map from `K` to `V`.
pub struct StorageMap<K, V> {
    prefix: Prefix,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Encode, V: Encode + Decode> StorageMap<K, V> {
    /// Declares item `item` of `module`.
    pub const fn new(module: &'static str, item: &'static str) -> Self {
        StorageMap {
            prefix: Prefix::new(module, item),
            _types: PhantomData,
        }
    }

    /// The prefix every key of the map starts with (its module's and item's twox-128 hashes).
    pub fn prefix(&self) -> &[u8] {
        self.prefix.get()
    }

    /// The storage key of `key`.
    pub fn key(&self, key: &K) -> Vec<u8> {
        let encoded = key.encode();
        let mut full = Vec::with_capacity(48usize.saturating_add(encoded.len()));
        full.extend_from_slice(self.prefix.get());
        full.extend_from_slice(&blake2_128(&encoded));
        full.extend_from_slice(&encoded);
        full
    }

    /// The value under `key`, if set.
    pub fn get(&self, state: &mut State<'_>, key: &K) -> Result<Option<V>> {
        let full = self.key(key);
        state.get_with(&full, |value| {
            value.map(|bytes| decode_value(&full, bytes)).transpose()
        })?
    }

    /// Sets the value under `key`.
    pub fn insert(&self, state: &mut State<'_>, key: &K, value: &V) {
        state.set(self.key(key), value.encode());
    }

    /// Removes the value under `key`.
    pub fn remove(&self, state: &mut State<'_>, key: &K) {
        state.remove(self.key(key));
    }
}

impl<K: scale_info::TypeInfo + 'static, V: scale_info::TypeInfo + 'static> StorageMap<K, V> {
    /// The map described for clients: absent keys read as `None`.
    pub fn metadata(&self) -> StorageEntryMetadata {
        crate::metadata::map::<K, V>(self.prefix.item)
    }
}

impl<K: scale_info::TypeInfo + 'static, V: scale_info::TypeInfo + Encode + Default + 'static>
    StorageMap<K, V>
{
    /// The map described for clients: absent keys read as `V::default()`.
    pub fn metadata_or_default(&self) -> StorageEntryMetadata {
        crate::metadata::map_or_default::<K, V>(self.prefix.item)
    }
}

impl<K: Encode, V: Encode + Decode + Default> StorageMap<K, V> {
    /// The value under `key`, or `V::default()` if unset.
    pub fn get_or_default(&self, state: &mut State<'_>, key: &K) -> Result<V> {
        Ok(self.get(state, key)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys every Substrate client knows by heart (polkadot.js, subxt, and the Substrate
    /// documentation's storage pages).
    #[test]
    fn prefixes_are_substrates() {
        for (module, item, expected) in [
            (
                "System",
                "Account",
                "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9",
            ),
            (
                "System",
                "Number",
                "26aa394eea5630e07c48ae0c9558cef702a5c1b19ab7a04f536c519aca4983ac",
            ),
            (
                "System",
                "Events",
                "26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7",
            ),
            (
                "Balances",
                "TotalIssuance",
                "c2261276cc9d1f8598ea4b6a74b15c2f57c875e4cff74148e4628f264b974c80",
            ),
        ] {
            assert_eq!(
                hex::encode(item_prefix(module, item)),
                expected,
                "{module}.{item}"
            );
        }
    }

    #[test]
    fn map_keys_are_blake2_128_concat() {
        static MAP: StorageMap<u32, u8> = StorageMap::new("System", "BlockHash");
        let key = MAP.key(&7);
        assert_eq!(key[..32], item_prefix("System", "BlockHash")[..]);
        assert_eq!(key[32..48], blake2_128(&7u32.encode()));
        assert_eq!(key[48..], 7u32.encode()[..]);
    }
}
