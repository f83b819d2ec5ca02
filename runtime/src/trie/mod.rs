//! The state trie: `trie-db` with Substrate's V1 layout over blake2b-256.
//!
//! Roots and proofs are byte-for-byte Substrate's (a test checks this against
//! `reference-trie`'s `SubstrateV1`), so Substrate tooling can check Tessera's proofs.

mod codec;

pub use codec::{NodeCodec, NodeCodecError};

use crate::hashing::{Blake2Hasher, Hash};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use parity_scale_codec::{Compact, Encode};
use trie_db::{TrieDBMutBuilder, TrieLayout, TrieMut};

/// Substrate's V1 trie layout: no extension nodes, values of 33 bytes or more hashed into own nodes.
#[derive(Default, Clone, Copy, Debug)]
pub struct Layout;

impl TrieLayout for Layout {
    const USE_EXTENSION: bool = false;
    const ALLOW_EMPTY: bool = true;
    const MAX_INLINE_VALUE: Option<u32> = Some(33);
    type Hash = Blake2Hasher;
    type Codec = NodeCodec<Blake2Hasher>;
}

/// An in-memory node database keyed by node hash.
pub type MemoryDb = memory_db::MemoryDB<Blake2Hasher, memory_db::HashKey<Blake2Hasher>, Vec<u8>>;

/// The root of the empty trie.
pub fn empty_root() -> Hash {
    <NodeCodec<Blake2Hasher> as trie_db::NodeCodec>::hashed_null_node()
}

/// The root of a trie whose keys are the SCALE-compact indices of `values`.
pub fn ordered_root<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Hash {
    let mut pairs: Vec<(Vec<u8>, &[u8])> = values
        .into_iter()
        .enumerate()
        .map(|(index, value)| (Compact(index as u32).encode(), value))
        .collect();
    // The streaming builder wants keys in order; compact encodings do not sort like numbers.
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut root = trie_db::TrieRoot::<Layout>::default();
    trie_db::trie_visit::<Layout, _, _, _, _>(pairs, &mut root);
    root.root.unwrap_or_else(empty_root)
}

/// Builds a trie from key-value pairs: its root and every node, by hash.
pub fn root_of<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> (Hash, BTreeMap<Hash, Vec<u8>>) {
    let mut db = MemoryDb::default();
    let mut root = Hash::default();
    {
        let mut trie = TrieDBMutBuilder::<Layout>::new(&mut db, &mut root).build();
        for (key, value) in pairs {
            // Inserting into a fresh in-memory trie only fails on a missing node, which cannot
            // happen: every node it reads was written by this same loop.
            let _ = trie.insert(key.as_ref(), value.as_ref());
        }
        trie.commit();
    }
    let nodes = db
        .drain()
        .into_iter()
        .filter(|(_, (_, refs))| *refs > 0)
        .map(|(hash, (node, _))| (hash, node))
        .collect();
    (root, nodes)
}

#[cfg(test)]
mod tests;
