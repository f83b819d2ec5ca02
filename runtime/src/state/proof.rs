//! Storage proofs: the set of trie nodes an execution read.

use crate::hashing::{blake2_256, Hash};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};
use trie_db::{TrieAccess, TrieRecorder};

/// Trie nodes (and hashed values), enough to replay an execution from the state root alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct StorageProof {
    /// Encoded nodes, sorted and without duplicates.
    pub nodes: Vec<Vec<u8>>,
}

impl StorageProof {
    /// The proof as a node store keyed by hash, to execute against.
    pub fn into_store(self) -> BTreeMap<Hash, Vec<u8>> {
        self.nodes
            .into_iter()
            .map(|node| (blake2_256(&node), node))
            .collect()
    }

    /// Total size of the nodes in bytes.
    pub fn encoded_size(&self) -> usize {
        self.nodes
            .iter()
            .map(Vec::len)
            .fold(0, usize::saturating_add)
    }
}

/// Collects the nodes `trie-db` reads, keyed by hash.
#[derive(Default, Debug)]
pub struct ProofRecorder {
    nodes: BTreeMap<Hash, Vec<u8>>,
}

impl ProofRecorder {
    /// The recorded proof.
    pub fn into_proof(self) -> StorageProof {
        StorageProof {
            nodes: self.nodes.into_values().collect(),
        }
    }
}

impl TrieRecorder<Hash> for ProofRecorder {
    fn record(&mut self, access: TrieAccess<'_, Hash>) {
        match access {
            TrieAccess::EncodedNode { hash, encoded_node } => {
                self.nodes
                    .entry(hash)
                    .or_insert_with(|| encoded_node.into_owned());
            }
            TrieAccess::NodeOwned { hash, node_owned } => {
                self.nodes.entry(hash).or_insert_with(|| {
                    node_owned.to_encoded::<crate::trie::NodeCodec<crate::hashing::Blake2Hasher>>()
                });
            }
            TrieAccess::Value { hash, value, .. } => {
                self.nodes.entry(hash).or_insert_with(|| value.into_owned());
            }
            TrieAccess::InlineValue { .. }
            | TrieAccess::Hash { .. }
            | TrieAccess::NonExisting { .. } => {}
        }
    }

    fn trie_nodes_recorded_for_key(&self, _key: &[u8]) -> trie_db::RecordedForKey {
        // Recording is unconditional: the trie must always report accesses.
        trie_db::RecordedForKey::None
    }
}
