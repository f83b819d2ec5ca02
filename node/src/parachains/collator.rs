//! Collators: para chains built on a relay node.
//!
//! A [`Collator`] follows the relay chain its node imports. On each relay best block, it builds
//! the next para block from its transaction pool, on the candidate pending availability on the
//! para's core if there is one (it may be included in the block that backs this one), else on
//! the para's latest included head. It records the storage proof, validates the block natively
//! for its commitments, and returns the signed [`Collation`] for the node to gossip to the
//! backing group.
//!
//! Its chain follows the para's included head on the relay chain: its own blocks, and those of
//! other collators seen in their collations, are imported by executing them on the full state
//! once the relay chain includes them. Without a collator key it is a para full node: it only
//! follows, and serves the para's RPC.

use crate::client::Client;
use crate::collation::{collate, Collation, CollationInput};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_relay_chain::paras::{self, HeadData, ParaId};
use tessera_relay_chain::{inclusion, messaging};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::execute_block;
use tessera_runtime::executive::{Executive, InvalidTransaction, Runtime};
use tessera_runtime::modules::{balances, parachain_system, system};
use tessera_runtime::parachain::{
    build_block, prove_block, relay_inputs_inherent, BlockData, ParachainBlockData, PoV,
    ValidationParams,
};
use tessera_runtime::state::State;
use tessera_runtime::wasm::ValidationOutcome;
use tessera_runtime::{AccountId, Balance, Block, Hash, Header, Nonce, OpaqueExtrinsic};

/// Most transactions waiting in a para's pool.
const MAX_POOL: usize = 8_192;

/// Most blocks of other collators kept while they wait for inclusion (a few relay slots'
/// worth: one candidate per relay block, on the pending one or the included head).
const MAX_SEEN: usize = 64;

/// Most transactions in one gossip message (well under gossip's size limit).
const MAX_ANNOUNCE: usize = 256;

/// Why a para chain could not follow its included head.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The relay chain's head of the para is not one of this framework's headers.
    #[error("the included head does not decode as a header: {0}")]
    BadHead(String),
    /// A block between the chain's head and the included one was never seen here.
    #[error("para block #{number} ({hash}) is not known here")]
    Missing {
        /// Its number.
        number: u32,
        /// Its header hash.
        hash: Hash,
    },
    /// A block the relay chain included does not execute on this chain's state.
    #[error("para block #{number} does not import: {error}")]
    Import {
        /// Its number.
        number: u32,
        /// Why.
        error: String,
    },
}

/// Why a para transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParaTxError {
    /// It is not valid on the para's head.
    #[error(transparent)]
    Invalid(#[from] InvalidTransaction),
    /// The pool is full.
    #[error("the para's pool is full ({MAX_POOL} transactions)")]
    PoolFull,
    /// The para's state could not be read.
    #[error("para state: {0}")]
    State(String),
}

/// A block executed but not yet included (sent as a candidate, or another collator's block
/// built on), and the trie nodes it adds to its parent's state.
struct Candidate {
    block: Block,
    new_nodes: BTreeMap<Hash, Vec<u8>>,
}

/// A para's chain as its collator keeps it: state, head, blocks waiting for inclusion, and a
/// transaction pool.
pub struct ParaChain<R> {
    para: ParaId,
    nodes: BTreeMap<Hash, Vec<u8>>,
    head: Header,
    genesis_hash: Hash,
    /// Blocks executed but not yet included, by header hash, with the nodes each adds to its
    /// parent's state: those sent as candidates, and others' pending blocks built on.
    candidates: HashMap<Hash, Candidate>,
    /// Blocks of other collators, by header hash, not yet imported.
    seen: HashMap<Hash, Block>,
    /// Transactions submitted here (by RPC) not yet gossiped to the para's other nodes.
    announce: Vec<OpaqueExtrinsic>,
    /// Whether checked transactions are kept for blocks (a collator) or only passed on.
    keeps_pool: bool,
    /// The number of the para's included head, as last followed.
    included_number: u32,
    /// The newest block imported on the way to the included head (catching up), or the head.
    sync_tip: Header,
    /// Whether the last follow found a block between the head and the included one missing.
    lacking: bool,
    pool: Vec<OpaqueExtrinsic>,
    /// Included blocks by hash, and their hashes by number.
    blocks: HashMap<Hash, Block>,
    canonical: Vec<Hash>,
    _runtime: PhantomData<R>,
}

impl<R: Runtime> ParaChain<R> {
    /// The chain of `para` from its genesis header and state.
    pub fn new(para: ParaId, genesis: Header, nodes: Vec<(Hash, Vec<u8>)>) -> Self {
        let genesis_hash = genesis.hash();
        let genesis_block = Block {
            header: genesis.clone(),
            extrinsics: Vec::new(),
        };
        ParaChain {
            para,
            genesis_hash,
            included_number: genesis.number,
            sync_tip: genesis.clone(),
            lacking: false,
            head: genesis,
            nodes: nodes.into_iter().collect(),
            candidates: HashMap::new(),
            seen: HashMap::new(),
            announce: Vec::new(),
            keeps_pool: true,
            pool: Vec::new(),
            blocks: HashMap::from([(genesis_hash, genesis_block)]),
            canonical: vec![genesis_hash],
            _runtime: PhantomData,
        }
    }

    /// The para's id.
    pub fn para(&self) -> ParaId {
        self.para
    }

    /// The latest included block's header.
    pub fn head(&self) -> &Header {
        &self.head
    }

    /// The para's genesis hash (signed payloads commit to it).
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// Transactions waiting.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    fn state(&self) -> State<'_> {
        State::new(&self.nodes, self.head.state_root)
    }

    /// Storage under `key` at the head.
    pub fn storage(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ParaTxError> {
        self.state()
            .get(key)
            .map_err(|e| ParaTxError::State(e.to_string()))
    }

    /// An account at the head.
    pub fn account(&self, who: &AccountId) -> Result<system::AccountInfo, ParaTxError> {
        system::ACCOUNT
            .get(&mut self.state(), who)
            .map(Option::unwrap_or_default)
            .map_err(|e| ParaTxError::State(e.to_string()))
    }

    /// Checks `xt` on the head and queues it for the next block.
    pub fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Hash, ParaTxError> {
        self.submit_many(vec![xt])
            .into_iter()
            .next()
            .unwrap_or(Err(ParaTxError::PoolFull))
    }

    /// [`Self::submit`] for many transactions, checked against one view of the head.
    pub fn submit_many(&mut self, xts: Vec<OpaqueExtrinsic>) -> Vec<Result<Hash, ParaTxError>> {
        let number = self.head.number.saturating_add(1);
        let state = State::new(&self.nodes, self.head.state_root);
        let mut executive = match Executive::<R>::initialize(state, number, self.head.hash(), None)
        {
            Ok(executive) => executive,
            Err(err) => {
                return xts
                    .iter()
                    .map(|_| Err(ParaTxError::State(err.to_string())))
                    .collect()
            }
        };
        let checked: Vec<_> = xts
            .into_iter()
            .map(|xt| match executive.validate(&xt) {
                Ok(_) => Ok(xt),
                Err(tessera_runtime::executive::ApplyError::Invalid(invalid)) => {
                    Err(ParaTxError::Invalid(invalid))
                }
                Err(tessera_runtime::executive::ApplyError::State(e)) => {
                    Err(ParaTxError::State(e.to_string()))
                }
            })
            .collect();
        drop(executive);
        checked
            .into_iter()
            .map(|checked| {
                let xt = checked?;
                let hash = xt.hash();
                if !self.keeps_pool {
                    return Ok(hash);
                }
                if self.pool.len() >= MAX_POOL {
                    return Err(ParaTxError::PoolFull);
                }
                self.pool.push(xt);
                Ok(hash)
            })
            .collect()
    }

    /// Keeps a block another collator made, to import if the relay chain includes it.
    pub fn offer(&mut self, block: Block) {
        let hash = block.header.hash();
        if block.header.number <= self.head.number || self.blocks.contains_key(&hash) {
            return;
        }
        if self.seen.len() >= MAX_SEEN {
            let head = self.head.number;
            self.seen.retain(|_, seen| seen.header.number > head);
        }
        if self.seen.len() < MAX_SEEN {
            self.seen.insert(hash, block);
        }
    }

    /// Makes the block whose header is `included` the chain's head: imports the blocks up to
    /// it (from its own candidates or blocks seen), or goes back to it after a relay reorg.
    /// Whether the head moved.
    pub fn follow(&mut self, included: &HeadData) -> Result<bool, FollowError> {
        let result = self.follow_included(included);
        self.lacking = matches!(result, Err(FollowError::Missing { .. }));
        if self.lacking && self.sync_tip.number >= self.included_number {
            // Blocks fetched up to there are on another branch: fetch again from the head.
            self.sync_tip = self.head.clone();
        }
        result
    }

    fn follow_included(&mut self, included: &HeadData) -> Result<bool, FollowError> {
        let header = Header::decode_all(&mut &included.0[..])
            .map_err(|err| FollowError::BadHead(err.to_string()))?;
        let target = header.hash();
        self.included_number = header.number;
        if target == self.head.hash() {
            return Ok(false);
        }
        // The blocks from the included one back to one already imported, newest first.
        let mut path: Vec<Block> = Vec::new();
        let (mut cursor, mut number) = (target, header.number);
        while !self.blocks.contains_key(&cursor) {
            let block = self
                .candidates
                .get(&cursor)
                .map(|candidate| &candidate.block)
                .or_else(|| self.seen.get(&cursor))
                .filter(|_| path.len() < MAX_SEEN)
                .ok_or(FollowError::Missing {
                    number,
                    hash: cursor,
                })?;
            cursor = block.header.parent_hash;
            number = block.header.number.saturating_sub(1);
            path.push(block.clone());
        }
        let mut parent = self
            .blocks
            .get(&cursor)
            .map(|block| block.header.clone())
            .ok_or(FollowError::Missing {
                number,
                hash: cursor,
            })?;
        // Execute the whole path before changing anything: a bad block leaves the chain as is.
        let mut added = BTreeMap::new();
        let mut imported = Vec::with_capacity(path.len());
        for block in path.into_iter().rev() {
            let hash = block.header.hash();
            match self.candidates.get(&hash) {
                Some(own) => added.extend(
                    own.new_nodes
                        .iter()
                        .map(|(hash, node)| (*hash, node.clone())),
                ),
                None => {
                    let store = Overlay {
                        base: &self.nodes,
                        added: &added,
                    };
                    let changes = execute_block::<R>(&store, parent.state_root, &block, false)
                        .map_err(|err| FollowError::Import {
                            number: block.header.number,
                            error: err.to_string(),
                        })?;
                    added.extend(changes.new_nodes);
                }
            }
            parent = block.header.clone();
            imported.push(block);
        }
        self.nodes.extend(added);
        for block in imported {
            let hash = block.header.hash();
            self.candidates.remove(&hash);
            self.seen.remove(&hash);
            let included_txs: HashSet<Hash> = block.extrinsics.iter().map(|xt| xt.hash()).collect();
            self.pool.retain(|xt| !included_txs.contains(&xt.hash()));
            self.blocks.insert(hash, block);
        }
        self.set_head(target);
        Ok(true)
    }

    /// Makes the imported block `hash` the head, and its ancestry the canonical chain.
    fn set_head(&mut self, hash: Hash) {
        let mut branch = Vec::new();
        let mut cursor = hash;
        while let Some(block) = self.blocks.get(&cursor) {
            let number = block.header.number as usize;
            if self.canonical.get(number) == Some(&cursor) {
                self.canonical.truncate(number + 1);
                break;
            }
            branch.push(cursor);
            cursor = block.header.parent_hash;
        }
        self.canonical.extend(branch.into_iter().rev());
        if let Some(block) = self.blocks.get(&hash) {
            self.head = block.header.clone();
        }
        // Candidates and blocks on another head can never be included now.
        let (head_hash, head_number) = (self.head.hash(), self.head.number);
        self.candidates
            .retain(|_, candidate| candidate.block.header.parent_hash == head_hash);
        self.seen
            .retain(|_, block| block.header.number > head_number);
        if self.sync_tip.number <= head_number {
            self.sync_tip = self.head.clone();
        }
    }

    /// The first block number to fetch from peers, when the last follow found a block
    /// missing on the way to the included head.
    pub fn wants_blocks(&self) -> Option<u32> {
        (self.lacking && self.sync_tip.number < self.included_number)
            .then(|| self.sync_tip.number.saturating_add(1))
    }

    /// Imports blocks a peer sent, in ascending order from [`Self::wants_blocks`]: each one
    /// must build on the previous and execute; none may be past the included head. They
    /// become the head once the relay chain's included head reaches them. How many imported.
    pub fn import_synced(&mut self, blocks: Vec<Block>) -> Result<usize, FollowError> {
        let mut imported = 0;
        for block in blocks {
            let number = block.header.number;
            if number > self.included_number {
                break;
            }
            if block.header.parent_hash != self.sync_tip.hash() {
                // The peer's chain forks from ours at or below the tip: fetch again from the
                // head, which the relay chain included.
                self.sync_tip = self.head.clone();
                return Err(FollowError::Import {
                    number,
                    error: "does not build on the block before it".into(),
                });
            }
            let hash = block.header.hash();
            if !self.blocks.contains_key(&hash) {
                let changes =
                    execute_block::<R>(&self.nodes, self.sync_tip.state_root, &block, false)
                        .map_err(|err| FollowError::Import {
                            number,
                            error: err.to_string(),
                        })?;
                self.nodes.extend(changes.new_nodes);
                self.blocks.insert(hash, block.clone());
            }
            self.sync_tip = block.header;
            imported += 1;
        }
        Ok(imported)
    }

    /// Up to `count` blocks of the included chain from number `from`, within `max_bytes`
    /// encoded (at least one, if there is one), for a peer catching up.
    pub fn blocks_from(&self, from: u32, count: u32, max_bytes: usize) -> Vec<Block> {
        let mut size = 0;
        self.canonical
            .iter()
            .skip(from as usize)
            .take(count as usize)
            .filter_map(|hash| self.blocks.get(hash))
            .take_while(|block| {
                size += block.encoded_size();
                size <= max_bytes || size == block.encoded_size()
            })
            .cloned()
            .collect()
    }

    /// Executes, if not done yet, the block `hash` that builds on the head and waits for
    /// inclusion (another collator's candidate pending availability), so that blocks can
    /// build on it.
    fn execute_on_head(&mut self, hash: &Hash) -> Result<(), String> {
        if self.candidates.contains_key(hash) {
            return Ok(());
        }
        let block = self
            .seen
            .get(hash)
            .ok_or_else(|| format!("block {hash} is not known here"))?;
        if block.header.parent_hash != self.head.hash() {
            return Err(format!("block {hash} does not build on the head"));
        }
        let changes = execute_block::<R>(&self.nodes, self.head.state_root, block, false)
            .map_err(|e| format!("block {hash} does not execute: {e}"))?;
        let candidate = Candidate {
            block: block.clone(),
            new_nodes: changes.new_nodes.into_iter().collect(),
        };
        self.candidates.insert(*hash, candidate);
        Ok(())
    }

    /// Builds a block on `parent` (the head, or a block pending inclusion that builds on it)
    /// from `inherent` (its relay inputs) and the pool, and its PoV block data.
    fn build(
        &mut self,
        parent: Hash,
        author: AccountId,
        inherent: OpaqueExtrinsic,
    ) -> Result<ParachainBlockData, String> {
        let on_head = parent == self.head.hash();
        if !on_head {
            self.execute_on_head(&parent)?;
        }
        let no_nodes = BTreeMap::new();
        let (parent_header, parent_nodes, parent_txs) = if on_head {
            (self.head.clone(), &no_nodes, HashSet::new())
        } else {
            let pending = self
                .candidates
                .get(&parent)
                .filter(|candidate| candidate.block.header.parent_hash == self.head.hash())
                .ok_or_else(|| format!("block {parent} does not build on the head"))?;
            let txs: HashSet<Hash> = pending
                .block
                .extrinsics
                .iter()
                .map(|xt| xt.hash())
                .collect();
            (pending.block.header.clone(), &pending.new_nodes, txs)
        };
        let store = Overlay {
            base: &self.nodes,
            added: parent_nodes,
        };
        // Transactions the parent already has stay pooled until it is included.
        let pooled: Vec<OpaqueExtrinsic> = self
            .pool
            .iter()
            .filter(|xt| !parent_txs.contains(&xt.hash()))
            .cloned()
            .collect();
        let extrinsics: Vec<OpaqueExtrinsic> = std::iter::once(inherent)
            .chain(pooled.iter().cloned())
            .collect();
        let built = build_block::<R>(&store, &parent_header, &extrinsics, Some(author))
            .map_err(|e| e.to_string())?;
        if let Some((_, why)) = built.rejected.iter().find(|(index, _)| *index == 0) {
            return Err(format!("the relay inputs inherent is invalid: {why}"));
        }
        // Invalid transactions never get better: drop them. Later nonces and what did not fit
        // in this block wait for the next one.
        let invalid: Vec<&OpaqueExtrinsic> = built
            .rejected
            .iter()
            .filter(|(_, why)| {
                !matches!(
                    why,
                    InvalidTransaction::Future { .. }
                        | InvalidTransaction::ExhaustsResources { .. }
                )
            })
            .filter_map(|(index, _)| pooled.get(index.checked_sub(1)?))
            .collect();
        let data = prove_block::<R>(&store, parent_header.state_root, built.block.clone())
            .map_err(|e| e.to_string())?;
        // Invalid only after the pending parent (say, its nonce taken by another collator's
        // transaction there), a transaction is kept: the parent may never be included.
        let drop: HashSet<Hash> = if on_head {
            invalid.iter().map(|xt| xt.hash()).collect()
        } else {
            self.invalid_on_head(invalid)
        };
        self.pool.retain(|xt| !drop.contains(&xt.hash()));
        self.candidates.insert(
            built.block.header.hash(),
            Candidate {
                block: built.block,
                new_nodes: built.changes.new_nodes.into_iter().collect(),
            },
        );
        Ok(data)
    }

    /// The hashes of those of `xts` that are invalid on the head.
    fn invalid_on_head(&self, xts: Vec<&OpaqueExtrinsic>) -> HashSet<Hash> {
        if xts.is_empty() {
            return HashSet::new();
        }
        let state = State::new(&self.nodes, self.head.state_root);
        let number = self.head.number.saturating_add(1);
        let Ok(mut executive) = Executive::<R>::initialize(state, number, self.head.hash(), None)
        else {
            return HashSet::new();
        };
        xts.into_iter()
            .filter(|xt| {
                matches!(
                    executive.validate(xt),
                    Err(tessera_runtime::executive::ApplyError::Invalid(_))
                )
            })
            .map(|xt| xt.hash())
            .collect()
    }
}

/// The chain's nodes with those of blocks executed but not yet committed.
struct Overlay<'a> {
    base: &'a BTreeMap<Hash, Vec<u8>>,
    added: &'a BTreeMap<Hash, Vec<u8>>,
}

impl tessera_runtime::state::NodeStore for Overlay<'_> {
    fn node(&self, hash: &Hash) -> Option<Vec<u8>> {
        self.base
            .get(hash)
            .or_else(|| self.added.get(hash))
            .cloned()
    }
}

/// What a para's RPC reads and writes: the chain its collator keeps.
pub trait ParaView: Send {
    /// The para.
    fn para(&self) -> ParaId;
    /// The latest included block's header.
    fn head(&self) -> Header;
    /// A block by hash.
    fn block(&self, hash: &Hash) -> Option<Block>;
    /// The hash of the included block `number`.
    fn canonical_hash(&self, number: u32) -> Option<Hash>;
    /// Storage under `key` at block `at`.
    fn storage(&self, at: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ParaTxError>;
    /// Checks and queues a transaction.
    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Hash, ParaTxError>;
    /// The para runtime's name and version (part of every signed payload).
    fn runtime_version(&self) -> tessera_runtime::RuntimeVersion;
}

impl<R: Runtime + Send> ParaView for ParaChain<R> {
    fn para(&self) -> ParaId {
        self.para
    }

    fn head(&self) -> Header {
        self.head.clone()
    }

    fn block(&self, hash: &Hash) -> Option<Block> {
        self.blocks.get(hash).cloned()
    }

    fn canonical_hash(&self, number: u32) -> Option<Hash> {
        self.canonical.get(number as usize).copied()
    }

    fn storage(&self, at: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ParaTxError> {
        let block = self
            .blocks
            .get(at)
            .ok_or_else(|| ParaTxError::State(format!("unknown block {at}")))?;
        State::new(&self.nodes, block.header.state_root)
            .get(key)
            .map_err(|e| ParaTxError::State(e.to_string()))
    }

    fn runtime_version(&self) -> tessera_runtime::RuntimeVersion {
        R::VERSION
    }

    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Hash, ParaTxError> {
        let hash = ParaChain::submit(self, xt.clone())?;
        if self.announce.len() < MAX_POOL {
            self.announce.push(xt);
        }
        Ok(hash)
    }
}

/// Transactions of a para, gossiped from the node that received them to its collators.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ParaTransactions {
    /// The para.
    pub para: ParaId,
    /// Its transactions.
    pub transactions: Vec<OpaqueExtrinsic>,
}

/// What a node runs for each para it collates.
pub trait Collate: Send + Sync {
    /// The para.
    fn para(&self) -> ParaId;
    /// The para's chain, for its RPC.
    fn view(&self) -> Arc<Mutex<dyn ParaView>>;
    /// Follows the para's included head at the relay's best block in `client`, then, if this
    /// node collates and made no candidate on that block yet, makes one on the candidate
    /// pending availability there or else on the included head.
    fn collate(&mut self, client: &Client) -> Option<Collation>;
    /// Keeps the block in another collator's PoV, to import if the relay chain includes it.
    fn offer(&mut self, pov: &PoV);
    /// The first block number to fetch from peers, if the para is behind its included head.
    fn wants_blocks(&self) -> Option<u32>;
    /// Imports blocks fetched from a peer; how many.
    fn import_synced(&mut self, blocks: Vec<Block>) -> Result<usize, FollowError>;
    /// Blocks of the included chain for a peer catching up (see [`ParaChain::blocks_from`]).
    fn blocks_from(&self, from: u32, count: u32, max_bytes: usize) -> Vec<Block>;
    /// Whether this node makes candidates (it has a collator key).
    fn is_collating(&self) -> bool;
    /// The para's latest included head number and hash, as this collator follows it.
    fn head(&self) -> (u32, Hash);
    /// Queues a para transaction; its hash.
    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Hash, ParaTxError>;
    /// Queues para transactions another node gossiped, checked against one view of the head.
    fn submit_many(&mut self, xts: Vec<OpaqueExtrinsic>) -> Vec<Result<Hash, ParaTxError>>;
    /// Transactions submitted to this node's para RPC not yet gossiped, a batch at a time.
    fn take_announced(&mut self) -> Vec<OpaqueExtrinsic>;
    /// Puts back transactions whose gossip failed, to try again.
    fn announce_again(&mut self, xts: Vec<OpaqueExtrinsic>);
    /// Free balance of `who` at the para's head.
    fn free_balance(&self, who: &AccountId) -> Result<Balance, ParaTxError>;
    /// Dev load: signed transfers among the dev accounts, `count` per block.
    fn set_dev_transfers(&mut self, count: usize);
}

/// The native validation function of a para.
pub type ValidateFn = fn(ValidationParams) -> ValidationOutcome;

/// A para node whose runtime is `R`: follows the para's included chain and, with a collator
/// key, collates.
pub struct Collator<R> {
    chain: Arc<Mutex<ParaChain<R>>>,
    /// The collator key and the para's validation function, natively; none on a full node.
    collating: Option<(Pair, ValidateFn)>,
    /// The relay block whose included head the chain last followed.
    followed_on: Option<Hash>,
    /// The relay block collating was last done on, or given up on (a candidate is made at
    /// most once per relay block).
    collated_on: Option<Hash>,
    dev_transfers: usize,
    dev_nonces: HashMap<AccountId, Nonce>,
    dev_turn: usize,
}

impl<R: Runtime> Collator<R>
where
    R::Call: From<balances::Call> + From<parachain_system::Call>,
{
    /// Collates `chain` with the collator key `key`; `validate` is the para's validation
    /// function, natively.
    pub fn new(chain: ParaChain<R>, key: Pair, validate: ValidateFn) -> Self {
        Self::with(chain, Some((key, validate)))
    }

    /// A para full node on `chain`: follows the included chain, never collates.
    pub fn full_node(chain: ParaChain<R>) -> Self {
        Self::with(chain, None)
    }

    fn with(mut chain: ParaChain<R>, collating: Option<(Pair, ValidateFn)>) -> Self {
        // A full node checks transactions and passes them on to collators; it builds no block.
        chain.keeps_pool = collating.is_some();
        Collator {
            chain: Arc::new(Mutex::new(chain)),
            collating,
            followed_on: None,
            collated_on: None,
            dev_transfers: 0,
            dev_nonces: HashMap::new(),
            dev_turn: 0,
        }
    }

    /// The para's chain, shared with its RPC.
    pub fn chain(&self) -> Arc<Mutex<ParaChain<R>>> {
        self.chain.clone()
    }

    fn lock(&self) -> MutexGuard<'_, ParaChain<R>> {
        self.chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn queue_dev_transfers(&mut self, chain: &mut ParaChain<R>) {
        let pairs: Vec<Pair> = crate::workload::DEV_ACCOUNTS
            .iter()
            .map(|name| Pair::dev(name))
            .collect();
        let mut batch = Vec::with_capacity(self.dev_transfers);
        for _ in 0..self.dev_transfers {
            self.dev_turn = self.dev_turn.wrapping_add(1);
            let (Some(from), Some(to)) = (
                pairs.get(self.dev_turn % pairs.len()),
                pairs.get((self.dev_turn + 1) % pairs.len()),
            ) else {
                return;
            };
            let signer = from.public();
            let nonce = match self.dev_nonces.get(&signer) {
                Some(nonce) => *nonce,
                None => match chain.account(&signer) {
                    Ok(info) => info.nonce,
                    Err(_) => return,
                },
            };
            self.dev_nonces.insert(signer, nonce.saturating_add(1));
            let call = R::Call::from(balances::Call::Transfer {
                dest: to.public(),
                value: 1_000_000_000,
            });
            batch.push(tessera_runtime::parachain::sign::<R>(
                from,
                call,
                nonce,
                chain.genesis_hash,
            ));
        }
        if let Some(Err(err)) = chain.submit_many(batch).into_iter().find(Result::is_err) {
            // Nonces went out of step (a block was not included): read them again next time.
            tracing::debug!(%err, "dev para transfer refused");
            self.dev_nonces.clear();
        }
    }
}

impl<R: Runtime + Send + Sync + 'static> Collate for Collator<R>
where
    R::Call: From<balances::Call> + From<parachain_system::Call>,
{
    fn para(&self) -> ParaId {
        self.lock().para
    }

    fn view(&self) -> Arc<Mutex<dyn ParaView>> {
        self.chain.clone()
    }

    fn collate(&mut self, client: &Client) -> Option<Collation> {
        let best = client.best_header().ok()?;
        let best_hash = best.hash();
        let to_follow = self.followed_on != Some(best_hash);
        let to_collate = self.collating.is_some() && self.collated_on != Some(best_hash);
        if !to_follow && !to_collate {
            return None;
        }
        let chain = self.chain.clone();
        let mut chain = chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let para = chain.para;
        let mut state = State::new(client.store(), best.state_root);
        if to_follow {
            self.followed_on = Some(best_hash);
            let included = inclusion::included_head(&mut state, para).ok()??;
            match chain.follow(&included) {
                Ok(true) => {
                    tracing::debug!(para = para.0, number = chain.head.number, "para head")
                }
                Ok(false) => {}
                Err(err @ FollowError::Missing { .. }) => {
                    tracing::debug!(para = para.0, %err, "catching up with the included head");
                    self.collated_on = Some(best_hash);
                    return None;
                }
                Err(err) => {
                    tracing::warn!(para = para.0, %err, "cannot follow the included head");
                    self.collated_on = Some(best_hash);
                    return None;
                }
            }
        }
        let (key, validate) = self.collating.clone()?;
        if !to_collate {
            return None;
        }
        // On the candidate pending availability, if there is one: it may be included in the
        // block that backs this one.
        let validation_data =
            inclusion::persisted_validation_data(&mut state, para, &best).ok()??;
        let parent = match Header::decode_all(&mut &validation_data.parent_head.0[..]) {
            Ok(parent) => parent.hash(),
            Err(err) => {
                tracing::warn!(para = para.0, %err, "the parent head does not decode");
                self.collated_on = Some(best_hash);
                return None;
            }
        };
        if parent != chain.head.hash()
            && !chain.candidates.contains_key(&parent)
            && !chain.seen.contains_key(&parent)
        {
            // Another collator's candidate whose collation has not reached this node (yet):
            // try again on the next tick, until the relay chain moves on.
            tracing::debug!(para = para.0, %parent, "the pending candidate's block is unknown");
            return None;
        }
        self.collated_on = Some(best_hash);
        let code_hash = paras::para_at(&mut state, para, best.number.saturating_add(1))
            .ok()??
            .code_hash;
        self.queue_dev_transfers(&mut chain);
        let inherent = match messaging::relay_inputs(client.store(), &best, para) {
            Ok(inputs) => relay_inputs_inherent::<R>(inputs),
            Err(err) => {
                tracing::warn!(para = para.0, %err, "cannot read the relay inputs");
                return None;
            }
        };
        let data = match chain.build(parent, key.public(), inherent) {
            Ok(data) => data,
            Err(err) => {
                tracing::warn!(para = para.0, %err, "cannot build a para block");
                return None;
            }
        };
        let block_data = BlockData(data.encode());
        let params = ValidationParams {
            parent_head: validation_data.parent_head.clone(),
            block_data: block_data.clone(),
            relay_parent_number: validation_data.relay_parent_number,
            relay_parent_storage_root: validation_data.relay_parent_storage_root,
        };
        let commitments = match validate(params) {
            Ok(commitments) => commitments,
            Err(err) => {
                tracing::warn!(para = para.0, %err, "own block does not validate");
                return None;
            }
        };
        let input = CollationInput {
            para,
            relay_parent: best_hash,
            validation_data,
            block_data,
            code_hash,
            commitments,
            validators: client.authorities().len(),
        };
        match collate(&key, input) {
            Ok(collation) => {
                tracing::debug!(
                    para = para.0,
                    number = data.block.header.number,
                    extrinsics = data.block.extrinsics.len(),
                    "collated"
                );
                Some(collation)
            }
            Err(err) => {
                tracing::warn!(para = para.0, %err, "cannot erasure-code the PoV");
                None
            }
        }
    }

    fn head(&self) -> (u32, Hash) {
        let chain = self.lock();
        (chain.head.number, chain.head.hash())
    }

    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Hash, ParaTxError> {
        self.lock().submit(xt)
    }

    fn free_balance(&self, who: &AccountId) -> Result<Balance, ParaTxError> {
        self.lock().account(who).map(|info| info.data.free)
    }

    fn submit_many(&mut self, xts: Vec<OpaqueExtrinsic>) -> Vec<Result<Hash, ParaTxError>> {
        self.lock().submit_many(xts)
    }

    fn take_announced(&mut self) -> Vec<OpaqueExtrinsic> {
        let mut chain = self.lock();
        let count = chain.announce.len().min(MAX_ANNOUNCE);
        chain.announce.drain(..count).collect()
    }

    fn wants_blocks(&self) -> Option<u32> {
        self.lock().wants_blocks()
    }

    fn import_synced(&mut self, blocks: Vec<Block>) -> Result<usize, FollowError> {
        let imported = self.lock().import_synced(blocks)?;
        // Follow again on the same relay block: the included head may be reachable now, and
        // collate on it if it is (the failed follow gave up collating there).
        self.followed_on = None;
        self.collated_on = None;
        Ok(imported)
    }

    fn blocks_from(&self, from: u32, count: u32, max_bytes: usize) -> Vec<Block> {
        self.lock().blocks_from(from, count, max_bytes)
    }

    fn announce_again(&mut self, xts: Vec<OpaqueExtrinsic>) {
        let mut chain = self.lock();
        let room = MAX_POOL.saturating_sub(chain.announce.len());
        chain.announce.splice(0..0, xts.into_iter().take(room));
    }

    fn offer(&mut self, pov: &PoV) {
        // Anyone can gossip a PoV: one that does not decode is simply not kept, and a block
        // is only imported once the relay chain includes its header and it executes.
        if let Ok(data) = ParachainBlockData::decode_all(&mut &pov.block_data.0[..]) {
            self.lock().offer(data.block);
        }
    }

    fn is_collating(&self) -> bool {
        self.collating.is_some()
    }

    fn set_dev_transfers(&mut self, count: usize) {
        self.dev_transfers = count;
    }
}
