//! The chain store: headers, bodies, trie nodes and metadata over a key-value [`Database`].
//!
//! Every imported block is one atomic write batch (header, body, new trie nodes, canonical
//! index, best and finalized pointers), so after a crash at any moment the store reopens at
//! the last committed block. The node runs on [`RocksDb`]; tests may use [`MemoryDb`].
//! The store keeps every state (an archive node); pruning is future work.

mod memory;
mod rocks;

pub use memory::MemoryDb;
pub use rocks::RocksDb;

use parity_scale_codec::{Decode, Encode};
use std::collections::HashMap;
use std::sync::Arc;
use tessera_runtime::state::NodeStore;
use tessera_runtime::{Block, BlockNumber, Hash, Header, OpaqueExtrinsic};

/// The store's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    /// Genesis, best and finalized pointers.
    Meta,
    /// Block hash to SCALE header.
    Headers,
    /// Block hash to SCALE body.
    Bodies,
    /// Node hash to trie node.
    Nodes,
    /// Big-endian block number to the canonical block hash at that height.
    Canonical,
    /// Block hash to the SCALE finality justification that finalized it.
    Justifications,
    /// Block hash to the authorship engine's data for the block; and the voter's state.
    Consensus,
    /// Erasure chunks and available data of para candidates, with their pruning index.
    Availability,
}

impl Column {
    /// Every column.
    pub const ALL: [Column; 8] = [
        Column::Meta,
        Column::Headers,
        Column::Bodies,
        Column::Nodes,
        Column::Canonical,
        Column::Justifications,
        Column::Consensus,
        Column::Availability,
    ];

    /// The column's name (a RocksDB column family).
    pub fn name(self) -> &'static str {
        match self {
            Column::Meta => "meta",
            Column::Headers => "headers",
            Column::Bodies => "bodies",
            Column::Nodes => "nodes",
            Column::Canonical => "canonical",
            Column::Justifications => "justifications",
            Column::Consensus => "consensus",
            Column::Availability => "availability",
        }
    }
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Sets a key.
    Put(Column, Vec<u8>, Vec<u8>),
    /// Deletes a key.
    Delete(Column, Vec<u8>),
}

/// A key-value database with atomic batches: the only I/O the chain store needs.
pub trait Database: Send + Sync {
    /// The value under `key` in `column`.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Applies all of `batch` or nothing, durably.
    fn write(&self, batch: Vec<WriteOp>) -> Result<(), StoreError>;
}

/// Errors of the chain store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// The database belongs to another chain.
    #[error(
        "the database at this path was made for another chain (genesis {stored}), not this one \
         (genesis {expected}); use another --base-path or remove the old database"
    )]
    GenesisMismatch {
        /// Genesis hash in the database.
        stored: Hash,
        /// Genesis hash of the chain spec.
        expected: Hash,
    },
    /// Stored bytes do not decode.
    #[error("corrupt {what} in the database: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Codec message.
        reason: String,
    },
    /// A block the store refers to is missing.
    #[error("block {0} is missing from the database")]
    MissingBlock(Hash),
    /// A warp sync's block is committed only above genesis alone.
    #[error("the store holds blocks up to #{0}: a warp sync starts from genesis only")]
    NotAtGenesis(BlockNumber),
}

const META_KEY: &[u8] = b"chain";
/// The first relay block number whose candidates' availability data is not pruned yet.
const AVAILABILITY_PRUNED: &[u8] = b"pruned";

fn availability_index_key(relay_parent_number: BlockNumber) -> Vec<u8> {
    [&b"n"[..], &relay_parent_number.to_be_bytes()].concat()
}

fn chunk_key(candidate: &Hash, index: u32) -> Vec<u8> {
    [&b"c"[..], &candidate.0, &index.to_be_bytes()].concat()
}

fn available_key(candidate: &Hash) -> Vec<u8> {
    [&b"a"[..], &candidate.0].concat()
}

/// Genesis, best and finalized blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChainMeta {
    /// Genesis hash.
    pub genesis: Hash,
    /// Best block hash.
    pub best_hash: Hash,
    /// Best block number.
    pub best_number: BlockNumber,
    /// Last finalized block hash.
    pub finalized_hash: Hash,
    /// Last finalized block number.
    pub finalized_number: BlockNumber,
}

/// A block to commit, with the state it produced.
pub struct BlockCommit<'a> {
    /// The (sealed) header.
    pub header: &'a Header,
    /// The body.
    pub body: &'a [OpaqueExtrinsic],
    /// Trie nodes the block's state added.
    pub nodes: &'a [(Hash, Vec<u8>)],
    /// The authorship engine's data for the block (SCALE).
    pub consensus: &'a [u8],
    /// Make it the best block.
    pub set_best: bool,
}

/// A warp-synced block to commit ([`ChainStore::commit_warp`]).
pub struct WarpCommit<'a> {
    /// The finalized block warped to.
    pub block: &'a Block,
    /// Its SCALE justification.
    pub justification: &'a [u8],
    /// The authorship engine's data for it (SCALE).
    pub consensus: &'a [u8],
    /// The set-change blocks below it, with their SCALE justifications (kept to serve warp
    /// proofs in turn).
    pub changes: &'a [(Header, Vec<u8>)],
    /// Consensus `aux` values to set with it.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Headers, bodies, state and chain pointers over a [`Database`]. Clones share the database
/// (a runtime call reads the state through one it owns).
#[derive(Clone)]
pub struct ChainStore {
    db: Arc<dyn Database>,
}

fn decode<T: Decode>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    T::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt {
        what,
        reason: e.to_string(),
    })
}

impl ChainStore {
    /// Opens the store, writing the genesis block if the database is empty, and refusing a
    /// database made for another genesis.
    pub fn open(
        db: Box<dyn Database>,
        genesis: &Header,
        genesis_nodes: &[(Hash, Vec<u8>)],
    ) -> Result<ChainStore, StoreError> {
        let store = ChainStore { db: Arc::from(db) };
        let expected = genesis.hash();
        match store.meta_opt()? {
            Some(meta) if meta.genesis != expected => Err(StoreError::GenesisMismatch {
                stored: meta.genesis,
                expected,
            }),
            Some(_) => Ok(store),
            None => {
                let meta = ChainMeta {
                    genesis: expected,
                    best_hash: expected,
                    best_number: 0,
                    finalized_hash: expected,
                    finalized_number: 0,
                };
                let mut batch = Self::block_ops(genesis, &[], genesis_nodes);
                batch.push(WriteOp::Put(
                    Column::Canonical,
                    0u32.to_be_bytes().to_vec(),
                    expected.0.to_vec(),
                ));
                batch.push(WriteOp::Put(Column::Meta, META_KEY.to_vec(), meta.encode()));
                store.db.write(batch)?;
                Ok(store)
            }
        }
    }

    fn meta_opt(&self) -> Result<Option<ChainMeta>, StoreError> {
        self.db
            .get(Column::Meta, META_KEY)?
            .map(|bytes| decode("chain metadata", &bytes))
            .transpose()
    }

    /// Genesis, best and finalized blocks.
    pub fn meta(&self) -> Result<ChainMeta, StoreError> {
        self.meta_opt()?.ok_or(StoreError::Corrupt {
            what: "chain metadata",
            reason: "missing".into(),
        })
    }

    /// The header of block `hash`.
    pub fn header(&self, hash: &Hash) -> Result<Option<Header>, StoreError> {
        self.db
            .get(Column::Headers, &hash.0)?
            .map(|bytes| decode("header", &bytes))
            .transpose()
    }

    /// The body of block `hash`.
    pub fn body(&self, hash: &Hash) -> Result<Option<Vec<OpaqueExtrinsic>>, StoreError> {
        self.db
            .get(Column::Bodies, &hash.0)?
            .map(|bytes| decode("body", &bytes))
            .transpose()
    }

    /// The full block `hash`.
    pub fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        let Some(header) = self.header(hash)? else {
            return Ok(None);
        };
        let extrinsics = self.body(hash)?.ok_or(StoreError::MissingBlock(*hash))?;
        Ok(Some(Block { header, extrinsics }))
    }

    /// The hash of the best chain's block at `number`.
    pub fn canonical_hash(&self, number: BlockNumber) -> Result<Option<Hash>, StoreError> {
        self.db
            .get(Column::Canonical, &number.to_be_bytes())?
            .map(|bytes| decode("canonical hash", &bytes))
            .transpose()
    }

    fn block_ops(
        header: &Header,
        body: &[OpaqueExtrinsic],
        nodes: &[(Hash, Vec<u8>)],
    ) -> Vec<WriteOp> {
        Self::block_ops_many(&[(header, body)], nodes.iter().cloned())
    }

    fn block_ops_many(
        blocks: &[(&Header, &[OpaqueExtrinsic])],
        nodes: impl IntoIterator<Item = (Hash, Vec<u8>)>,
    ) -> Vec<WriteOp> {
        let nodes = nodes.into_iter();
        let mut batch = Vec::with_capacity(
            nodes
                .size_hint()
                .0
                .saturating_add(blocks.len().saturating_mul(2))
                .saturating_add(4),
        );
        for (header, body) in blocks {
            let hash = header.hash();
            batch.push(WriteOp::Put(
                Column::Headers,
                hash.0.to_vec(),
                header.encode(),
            ));
            batch.push(WriteOp::Put(Column::Bodies, hash.0.to_vec(), body.encode()));
        }
        batch.extend(nodes.map(|(h, node)| WriteOp::Put(Column::Nodes, h.0.to_vec(), node)));
        batch
    }

    /// Stores a block and its state in one atomic batch, moving the best (and finalized)
    /// pointers and the canonical index if asked.
    pub fn commit_block(&self, commit: BlockCommit<'_>) -> Result<ChainMeta, StoreError> {
        let mut meta = self.meta()?;
        let hash = commit.header.hash();
        let mut batch = Self::block_ops(commit.header, commit.body, commit.nodes);
        batch.push(WriteOp::Put(
            Column::Consensus,
            hash.0.to_vec(),
            commit.consensus.to_vec(),
        ));
        if commit.set_best {
            batch.extend(self.reorg_ops(commit.header, meta.best_number)?);
            meta.best_hash = hash;
            meta.best_number = commit.header.number;
        }
        batch.push(WriteOp::Put(Column::Meta, META_KEY.to_vec(), meta.encode()));
        self.db.write(batch)?;
        Ok(meta)
    }

    /// Stores `blocks` (with `nodes`, the trie nodes their states add) and, if given, makes
    /// `best` (one of them or a stored block) the best block, all in one atomic write: a para
    /// node imports the blocks up to a newly included head this way.
    pub fn commit_blocks(
        &self,
        blocks: &[(&Header, &[OpaqueExtrinsic])],
        nodes: impl IntoIterator<Item = (Hash, Vec<u8>)>,
        best: Option<&Header>,
    ) -> Result<ChainMeta, StoreError> {
        let mut meta = self.meta()?;
        let mut batch = Self::block_ops_many(blocks, nodes);
        if let Some(best) = best {
            let pending: HashMap<Hash, &Header> = blocks
                .iter()
                .map(|(header, _)| (header.hash(), *header))
                .collect();
            batch.extend(self.reorg_ops_with(best, meta.best_number, &pending)?);
            meta.best_hash = best.hash();
            meta.best_number = best.number;
        }
        batch.push(WriteOp::Put(Column::Meta, META_KEY.to_vec(), meta.encode()));
        self.db.write(batch)?;
        Ok(meta)
    }

    /// Makes stored block `best` the best block, moving the canonical index to its chain.
    pub fn set_best(&self, best: &Header) -> Result<ChainMeta, StoreError> {
        let mut meta = self.meta()?;
        let mut batch = self.reorg_ops(best, meta.best_number)?;
        meta.best_hash = best.hash();
        meta.best_number = best.number;
        batch.push(WriteOp::Put(Column::Meta, META_KEY.to_vec(), meta.encode()));
        self.db.write(batch)?;
        Ok(meta)
    }

    /// Marks stored block `hash` (and its ancestors) finalized with its justification, making
    /// `new_best` (a descendant) the best block if given, in one atomic write.
    pub fn finalize(
        &self,
        hash: &Hash,
        justification: Option<&[u8]>,
        new_best: Option<&Header>,
    ) -> Result<ChainMeta, StoreError> {
        let header = self.header(hash)?.ok_or(StoreError::MissingBlock(*hash))?;
        let mut meta = self.meta()?;
        let mut batch = Vec::new();
        if let Some(best) = new_best {
            batch.extend(self.reorg_ops(best, meta.best_number)?);
            meta.best_hash = best.hash();
            meta.best_number = best.number;
        } else if self.canonical_hash(header.number)? != Some(*hash) {
            batch.extend(self.reorg_ops(&header, meta.best_number)?);
            meta.best_hash = *hash;
            meta.best_number = header.number;
        }
        meta.finalized_hash = *hash;
        meta.finalized_number = header.number;
        if let Some(justification) = justification {
            batch.push(WriteOp::Put(
                Column::Justifications,
                hash.0.to_vec(),
                justification.to_vec(),
            ));
        }
        batch.push(WriteOp::Put(Column::Meta, META_KEY.to_vec(), meta.encode()));
        self.db.write(batch)?;
        Ok(meta)
    }

    /// Stores state trie nodes (a warp sync's download, before [`Self::commit_warp`]).
    pub fn put_nodes(&self, nodes: Vec<(Hash, Vec<u8>)>) -> Result<(), StoreError> {
        let batch = nodes
            .into_iter()
            .map(|(hash, node)| WriteOp::Put(Column::Nodes, hash.0.to_vec(), node))
            .collect();
        self.db.write(batch)
    }

    /// Makes `commit.block`, whose state's nodes are stored, the finalized and best block of a
    /// store that holds only genesis below it (a warp sync), in one atomic write: its header,
    /// body, justification, canonical index entry, authorship data, the finality `aux` values,
    /// and the headers and justifications of the `changes` blocks the proof went through.
    pub fn commit_warp(&self, commit: WarpCommit<'_>) -> Result<ChainMeta, StoreError> {
        let mut meta = self.meta()?;
        if meta.best_number > 0 {
            return Err(StoreError::NotAtGenesis(meta.best_number));
        }
        let header = &commit.block.header;
        let hash = header.hash();
        let mut batch = Self::block_ops(header, &commit.block.extrinsics, &[]);
        batch.push(WriteOp::Put(
            Column::Canonical,
            header.number.to_be_bytes().to_vec(),
            hash.0.to_vec(),
        ));
        batch.push(WriteOp::Put(
            Column::Consensus,
            hash.0.to_vec(),
            commit.consensus.to_vec(),
        ));
        batch.push(WriteOp::Put(
            Column::Justifications,
            hash.0.to_vec(),
            commit.justification.to_vec(),
        ));
        for (change, justification) in commit.changes {
            let change_hash = change.hash();
            batch.push(WriteOp::Put(
                Column::Headers,
                change_hash.0.to_vec(),
                change.encode(),
            ));
            batch.push(WriteOp::Put(
                Column::Justifications,
                change_hash.0.to_vec(),
                justification.clone(),
            ));
        }
        batch.extend(
            commit
                .aux
                .into_iter()
                .map(|(key, value)| WriteOp::Put(Column::Consensus, key, value)),
        );
        meta.best_hash = hash;
        meta.best_number = header.number;
        meta.finalized_hash = hash;
        meta.finalized_number = header.number;
        batch.push(WriteOp::Put(Column::Meta, META_KEY.to_vec(), meta.encode()));
        self.db.write(batch)?;
        Ok(meta)
    }

    /// The justification that finalized block `hash`, if it was finalized directly.
    pub fn justification(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(Column::Justifications, &hash.0)
    }

    /// The authorship engine's data stored with block `hash`.
    pub fn consensus_data(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(Column::Consensus, &hash.0)
    }

    /// A value the consensus services keep under `key` (not a block hash: keys are short).
    pub fn aux(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(Column::Consensus, key)
    }

    /// Durably sets an auxiliary consensus value.
    pub fn set_aux(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db.write(vec![WriteOp::Put(
            Column::Consensus,
            key.to_vec(),
            value.to_vec(),
        )])
    }

    /// Durably sets (`Some`) and deletes (`None`) auxiliary consensus values, all or none.
    pub fn write_aux(&self, changes: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<(), StoreError> {
        let batch = changes
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => WriteOp::Put(Column::Consensus, key, value),
                None => WriteOp::Delete(Column::Consensus, key),
            })
            .collect();
        self.db.write(batch)
    }

    /// Durably keeps availability data of `candidate`, whose relay parent is block
    /// `relay_parent_number`: its erasure chunks by index (SCALE), and its whole available
    /// data (SCALE) if given. Pruned by [`Self::prune_availability`].
    pub fn put_availability(
        &self,
        candidate: &Hash,
        relay_parent_number: BlockNumber,
        chunks: &[(u32, Vec<u8>)],
        available: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        // Kept under a block not pruned yet, so it is pruned in turn.
        let number = relay_parent_number.max(self.availability_pruned()?);
        let index_key = availability_index_key(number);
        // A corrupt entry is replaced: what it listed is lost to pruning, not the new data.
        let mut index: Vec<(Hash, Vec<u32>)> = self
            .db
            .get(Column::Availability, &index_key)?
            .and_then(|bytes| decode("availability index", &bytes).ok())
            .unwrap_or_default();
        let position = match index.iter().position(|(hash, _)| hash == candidate) {
            Some(position) => position,
            None => {
                index.push((*candidate, Vec::new()));
                index.len().saturating_sub(1)
            }
        };
        if let Some((_, held)) = index.get_mut(position) {
            held.extend(chunks.iter().map(|(i, _)| *i));
            held.sort_unstable();
            held.dedup();
        }
        let mut batch = Vec::with_capacity(chunks.len().saturating_add(2));
        batch.push(WriteOp::Put(
            Column::Availability,
            index_key,
            index.encode(),
        ));
        for (chunk_index, chunk) in chunks {
            batch.push(WriteOp::Put(
                Column::Availability,
                chunk_key(candidate, *chunk_index),
                chunk.clone(),
            ));
        }
        if let Some(available) = available {
            batch.push(WriteOp::Put(
                Column::Availability,
                available_key(candidate),
                available.to_vec(),
            ));
        }
        self.db.write(batch)
    }

    /// Chunk `index` of `candidate` (SCALE), if kept.
    pub fn availability_chunk(
        &self,
        candidate: &Hash,
        index: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .get(Column::Availability, &chunk_key(candidate, index))
    }

    /// The whole available data of `candidate` (SCALE), if kept (a backer's).
    pub fn available_data(&self, candidate: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(Column::Availability, &available_key(candidate))
    }

    /// Deletes the availability data of candidates whose relay parent is at most `up_to`, at
    /// most `max_blocks` relay blocks' worth per call; how many candidates went.
    pub fn prune_availability(
        &self,
        up_to: BlockNumber,
        max_blocks: u32,
    ) -> Result<usize, StoreError> {
        let next = self.availability_pruned()?;
        let end = up_to.min(next.saturating_add(max_blocks.saturating_sub(1)));
        if next > up_to {
            return Ok(0);
        }
        let mut batch = Vec::new();
        let mut pruned = 0;
        for number in next..=end {
            let index_key = availability_index_key(number);
            let Some(bytes) = self.db.get(Column::Availability, &index_key)? else {
                continue;
            };
            // A corrupt entry is dropped (its data is lost to pruning), not a reason to stop
            // pruning for good.
            let candidates: Vec<(Hash, Vec<u32>)> =
                decode("availability index", &bytes).unwrap_or_default();
            for (candidate, held) in &candidates {
                batch.extend(
                    held.iter()
                        .map(|i| WriteOp::Delete(Column::Availability, chunk_key(candidate, *i))),
                );
                batch.push(WriteOp::Delete(
                    Column::Availability,
                    available_key(candidate),
                ));
            }
            pruned += candidates.len();
            batch.push(WriteOp::Delete(Column::Availability, index_key));
        }
        batch.push(WriteOp::Put(
            Column::Availability,
            AVAILABILITY_PRUNED.to_vec(),
            end.saturating_add(1).encode(),
        ));
        self.db.write(batch)?;
        Ok(pruned)
    }

    /// The first relay block number whose availability data is not pruned yet (a corrupt
    /// value reads as 0: pruning starts over, which deletes nothing twice).
    fn availability_pruned(&self) -> Result<BlockNumber, StoreError> {
        Ok(self
            .db
            .get(Column::Availability, AVAILABILITY_PRUNED)?
            .and_then(|bytes| decode::<BlockNumber>("availability pruning point", &bytes).ok())
            .unwrap_or(0))
    }

    /// Canonical-index writes that make `new_best` the head: its ancestors replace the old
    /// chain's entries down to the common ancestor, and heights above it are cleared.
    fn reorg_ops(
        &self,
        new_best: &Header,
        old_best_number: BlockNumber,
    ) -> Result<Vec<WriteOp>, StoreError> {
        self.reorg_ops_with(new_best, old_best_number, &HashMap::new())
    }

    /// [`Self::reorg_ops`] where the headers in `pending` are written in the same batch.
    fn reorg_ops_with(
        &self,
        new_best: &Header,
        old_best_number: BlockNumber,
        pending: &HashMap<Hash, &Header>,
    ) -> Result<Vec<WriteOp>, StoreError> {
        let mut ops = Vec::new();
        let mut number = new_best.number;
        let mut hash = new_best.hash();
        let mut parent = new_best.parent_hash;
        loop {
            if self.canonical_hash(number)? == Some(hash) {
                break;
            }
            ops.push(WriteOp::Put(
                Column::Canonical,
                number.to_be_bytes().to_vec(),
                hash.0.to_vec(),
            ));
            let Some(previous) = number.checked_sub(1) else {
                break;
            };
            let header = match pending.get(&parent) {
                Some(header) => (*header).clone(),
                None => self
                    .header(&parent)?
                    .ok_or(StoreError::MissingBlock(parent))?,
            };
            number = previous;
            hash = parent;
            parent = header.parent_hash;
        }
        let mut stale = new_best.number.saturating_add(1);
        while stale <= old_best_number {
            ops.push(WriteOp::Delete(
                Column::Canonical,
                stale.to_be_bytes().to_vec(),
            ));
            stale = stale.saturating_add(1);
        }
        Ok(ops)
    }
}

impl NodeStore for ChainStore {
    fn node(&self, hash: &Hash) -> Option<Vec<u8>> {
        match self.db.get(Column::Nodes, &hash.0) {
            Ok(node) => node,
            Err(err) => {
                // Reported to the runtime as a missing node, which fails the operation.
                tracing::error!(%hash, %err, "reading a trie node failed");
                None
            }
        }
    }
}
