//! A validator's own approval messages, kept on disk until finality passes their blocks: after
//! a restart it takes them as sent and gossips them again, instead of drawing and signing its
//! assignments and approvals anew.
//!
//! Each block's messages are under a key of their own, with an index of the blocks, so keeping
//! one message writes one block's few messages, not all of them.

use crate::store::{ChainStore, StoreError};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::HashMap;
use tessera_runtime::Hash;
use tessera_validity::engine::{Message, MAX_BLOCKS};

/// Where the list of blocks with kept messages is.
const INDEX_KEY: &[u8] = b"approval-own";
/// Prefix of the key of one block's messages (then its hash).
const BLOCK_PREFIX: &[u8] = b"approval-own:";

fn block_key(block: &Hash) -> Vec<u8> {
    [BLOCK_PREFIX, &block.0[..]].concat()
}

/// Our approval messages about unfinalized blocks, as on disk.
#[derive(Debug, Default)]
pub struct OwnMessages {
    /// By block: its number and our messages about it, in the order sent.
    blocks: HashMap<Hash, (u32, Vec<Message>)>,
}

impl OwnMessages {
    /// The messages an earlier run kept in `store`; a block whose entry does not decode is
    /// skipped (its messages are then signed again, as by a node without them).
    pub fn load(store: &ChainStore) -> Result<Self, StoreError> {
        let mut blocks = HashMap::new();
        let Some(index) = store.aux(INDEX_KEY)? else {
            return Ok(OwnMessages { blocks });
        };
        let Ok(index) = Vec::<(Hash, u32)>::decode_all(&mut &index[..]) else {
            tracing::warn!("index of own approval messages does not decode: ignored");
            return Ok(OwnMessages { blocks });
        };
        for (block, number) in index {
            let Some(bytes) = store.aux(&block_key(&block))? else {
                continue;
            };
            match Vec::<Message>::decode_all(&mut &bytes[..]) {
                Ok(messages) => {
                    blocks.insert(block, (number, messages));
                }
                Err(err) => tracing::warn!(%block, %err, "own approval messages do not decode"),
            }
        }
        Ok(OwnMessages { blocks })
    }

    /// Blocks with messages kept, and the messages.
    pub fn count(&self) -> (usize, usize) {
        let messages = self.blocks.values().map(|(_, m)| m.len()).sum();
        (self.blocks.len(), messages)
    }

    /// Our messages about `block`, in the order sent.
    pub fn of(&self, block: &Hash) -> Vec<Message> {
        self.blocks
            .get(block)
            .map(|(_, messages)| messages.clone())
            .unwrap_or_default()
    }

    /// Durably keeps `message` about block `number` before it is sent; false if it was kept
    /// already (it is being sent again).
    pub fn keep(
        &mut self,
        store: &ChainStore,
        number: u32,
        message: &Message,
    ) -> Result<bool, StoreError> {
        let block = message.block();
        let known = self.blocks.contains_key(&block);
        let mut messages = self.of(&block);
        if messages.contains(message) {
            return Ok(false);
        }
        messages.push(message.clone());
        let mut changes = vec![(block_key(&block), Some(messages.encode()))];
        let mut evicted = None;
        if !known {
            // Bounded like the engine's blocks: the lowest goes first.
            if self.blocks.len() >= MAX_BLOCKS {
                evicted = self
                    .blocks
                    .iter()
                    .min_by_key(|(_, (n, _))| *n)
                    .map(|(hash, _)| *hash);
            }
            if let Some(old) = evicted {
                changes.push((block_key(&old), None));
            }
            let index = self.index_with(Some((block, number)), evicted);
            changes.push((INDEX_KEY.to_vec(), Some(index.encode())));
        }
        store.write_aux(changes)?;
        if let Some(old) = evicted {
            self.blocks.remove(&old);
        }
        self.blocks.insert(block, (number, messages));
        Ok(true)
    }

    /// Forgets the messages about blocks up to the finalized `number`.
    pub fn finalized(&mut self, store: &ChainStore, number: u32) -> Result<(), StoreError> {
        let done: Vec<Hash> = self
            .blocks
            .iter()
            .filter(|(_, (n, _))| *n <= number)
            .map(|(hash, _)| *hash)
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        let mut changes: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            done.iter().map(|block| (block_key(block), None)).collect();
        let index: Vec<(Hash, u32)> = self
            .index_with(None, None)
            .into_iter()
            .filter(|(_, n)| *n > number)
            .collect();
        changes.push((INDEX_KEY.to_vec(), Some(index.encode())));
        store.write_aux(changes)?;
        self.blocks.retain(|_, (n, _)| *n > number);
        Ok(())
    }

    /// The index of blocks, with `added` and without `removed`.
    fn index_with(&self, added: Option<(Hash, u32)>, removed: Option<Hash>) -> Vec<(Hash, u32)> {
        self.blocks
            .iter()
            .map(|(hash, (n, _))| (*hash, *n))
            .filter(|(hash, _)| Some(*hash) != removed)
            .chain(added)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::store::MemoryDb;
    use tessera_runtime::Signature;
    use tessera_validity::engine::Approval;
    use tessera_validity::ValidatorIndex;

    fn approval(block: u8, candidate: u32) -> Message {
        Message::Approval(Approval {
            block: Hash([block; 32]),
            candidates: vec![candidate],
            validator: ValidatorIndex(1),
            signature: Signature([block; 64]),
        })
    }

    #[test]
    fn kept_messages_survive_a_reopen_until_finality_passes_their_block() {
        let genesis = tessera_relay_chain::ChainSpec::dev()
            .build_genesis()
            .unwrap();
        let client = Client::open(Box::new(MemoryDb::default()), &genesis).unwrap();
        let store = client.store();
        let mut own = OwnMessages::load(store).unwrap();
        assert!(own.keep(store, 5, &approval(5, 0)).unwrap());
        assert!(own.keep(store, 5, &approval(5, 1)).unwrap());
        assert!(own.keep(store, 6, &approval(6, 0)).unwrap());
        assert!(!own.keep(store, 5, &approval(5, 0)).unwrap(), "kept twice");

        let reopened = OwnMessages::load(store).unwrap();
        assert_eq!(reopened.count(), (2, 3));
        assert_eq!(
            reopened.of(&Hash([5; 32])),
            vec![approval(5, 0), approval(5, 1)]
        );

        own.finalized(store, 5).unwrap();
        let reopened = OwnMessages::load(store).unwrap();
        assert_eq!(reopened.count(), (1, 1));
        assert!(reopened.of(&Hash([5; 32])).is_empty());
        assert_eq!(store.aux(&block_key(&Hash([5; 32]))).unwrap(), None);
    }
}
