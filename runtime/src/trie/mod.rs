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

/// What a trie node refers to by hash: a child node, or a value kept in a node of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRef {
    /// A trie node.
    Node(Hash),
    /// A value of [`Layout::MAX_INLINE_VALUE`] bytes or more, stored under its hash.
    Value(Hash),
}

impl NodeRef {
    /// The hash it refers to.
    pub fn hash(&self) -> Hash {
        match self {
            NodeRef::Node(hash) | NodeRef::Value(hash) => *hash,
        }
    }

    /// Whether it refers to a trie node (whose own references follow).
    pub fn is_node(&self) -> bool {
        matches!(self, NodeRef::Node(_))
    }
}

/// Most levels of inline children one node may nest (a child is inlined only when its
/// encoding is under 32 bytes, so an honest node nests a few at most).
const MAX_INLINE_DEPTH: usize = 16;

/// The nodes and values the encoded trie node `node` refers to by hash, its inline children's
/// included: what a node needs besides itself to read the trie below it.
pub fn node_refs(node: &[u8]) -> Result<Vec<NodeRef>, NodeCodecError> {
    let mut refs = Vec::new();
    collect_refs(node, &mut refs, 0)?;
    Ok(refs)
}

fn collect_refs(node: &[u8], refs: &mut Vec<NodeRef>, depth: usize) -> Result<(), NodeCodecError> {
    use trie_db::node::{NodeHandlePlan, NodePlan, ValuePlan};
    if depth > MAX_INLINE_DEPTH {
        return Err(NodeCodecError::Codec("inline children nested too deep"));
    }
    let slice = |range: core::ops::Range<usize>| {
        node.get(range)
            .ok_or(NodeCodecError::Codec("range out of node"))
    };
    let (value, children): (Option<ValuePlan>, Vec<NodeHandlePlan>) =
        match <NodeCodec<Blake2Hasher> as trie_db::NodeCodec>::decode_plan(node)? {
            NodePlan::Empty => (None, Vec::new()),
            NodePlan::Leaf { value, .. } => (Some(value), Vec::new()),
            NodePlan::Extension { child, .. } => (None, alloc::vec![child]),
            NodePlan::Branch { value, children }
            | NodePlan::NibbledBranch {
                value, children, ..
            } => (value, children.into_iter().flatten().collect()),
        };
    if let Some(ValuePlan::Node(range)) = value {
        refs.push(NodeRef::Value(hash_from(slice(range)?)?));
    }
    for child in children {
        match child {
            NodeHandlePlan::Hash(range) => refs.push(NodeRef::Node(hash_from(slice(range)?)?)),
            NodeHandlePlan::Inline(range) => {
                collect_refs(slice(range)?, refs, depth.saturating_add(1))?
            }
        }
    }
    Ok(())
}

fn hash_from(bytes: &[u8]) -> Result<Hash, NodeCodecError> {
    let hash: [u8; 32] = bytes
        .try_into()
        .map_err(|_| NodeCodecError::Codec("hash of the wrong length"))?;
    Ok(Hash(hash))
}

#[cfg(test)]
mod tests;
