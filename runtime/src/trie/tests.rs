//! Our codec against `reference-trie`'s Substrate V1 layout: same roots, same proofs.

use super::*;
use parity_scale_codec::{Compact, Encode};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use reference_trie::SubstrateV1;
use trie_db::{Trie, TrieDBBuilder};

type Reference = SubstrateV1<Blake2Hasher>;
type RefDb = memory_db::MemoryDB<Blake2Hasher, memory_db::HashKey<Blake2Hasher>, Vec<u8>>;

fn build<L: TrieLayout<Hash = Blake2Hasher>>(pairs: &BTreeMap<Vec<u8>, Vec<u8>>) -> (Hash, RefDb) {
    let mut db = RefDb::default();
    let mut root = Hash::default();
    {
        let mut trie = TrieDBMutBuilder::<L>::new(&mut db, &mut root).build();
        for (key, value) in pairs {
            trie.insert(key, value).unwrap();
        }
    }
    (root, db)
}

fn proof<L: TrieLayout<Hash = Blake2Hasher>>(
    db: &RefDb,
    root: &Hash,
    keys: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    let mut recorder = trie_db::recorder::Recorder::<L>::new();
    {
        let trie = TrieDBBuilder::<L>::new(db, root)
            .with_recorder(&mut recorder)
            .build();
        for key in keys {
            trie.get(key).unwrap();
        }
    }
    let mut nodes: Vec<Vec<u8>> = recorder.drain().into_iter().map(|r| r.data).collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

fn key_values() -> impl Strategy<Value = BTreeMap<Vec<u8>, Vec<u8>>> {
    // Short keys collide in prefixes (branches); values straddle the 32-byte inline limit.
    btree_map(vec(any::<u8>(), 0..6), vec(any::<u8>(), 1..70), 0..60)
}

proptest! {
    #[test]
    fn roots_and_proofs_match_substrate_v1(pairs in key_values(), probe in vec(any::<u8>(), 0..6)) {
        let (ours, our_db) = build::<Layout>(&pairs);
        let (reference, ref_db) = build::<Reference>(&pairs);
        prop_assert_eq!(ours, reference);
        prop_assert_eq!(root_of(&pairs).0, ours);

        let mut keys: Vec<Vec<u8>> = pairs.keys().take(5).cloned().collect();
        keys.push(probe);
        prop_assert_eq!(proof::<Layout>(&our_db, &ours, &keys), proof::<Reference>(&ref_db, &reference, &keys));
    }

    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..200)) {
        let _ = <NodeCodec<Blake2Hasher> as trie_db::NodeCodec>::decode_plan(&bytes);
        let _ = node_refs(&bytes);
    }

    #[test]
    fn following_node_refs_from_the_root_reaches_every_node_and_value(pairs in key_values()) {
        let (root, nodes) = root_of(&pairs);
        let mut reached = BTreeMap::new();
        let mut next = vec![NodeRef::Node(root)];
        while let Some(at) = next.pop() {
            let hash = at.hash();
            let Some(bytes) = nodes.get(&hash) else {
                // The empty trie's root is no stored node.
                prop_assert!(pairs.is_empty() && hash == empty_root());
                continue;
            };
            if at.is_node() {
                next.extend(node_refs(bytes).unwrap());
            }
            reached.insert(hash, bytes.clone());
        }
        prop_assert_eq!(reached, nodes);
    }
}

proptest! {
    #[test]
    fn ordered_root_matches_a_built_trie(values in vec(vec(any::<u8>(), 0..80), 0..300)) {
        let pairs = values.iter().enumerate().map(|(i, v)| (Compact(i as u32).encode(), v.clone()));
        prop_assert_eq!(ordered_root(values.iter().map(Vec::as_slice)), root_of(pairs).0);
    }
}

#[test]
fn empty_root_is_substrates() {
    // blake2_256([0]) — the empty-trie root every Substrate chain uses.
    assert_eq!(
        empty_root().to_string(),
        "0x03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314"
    );
}
