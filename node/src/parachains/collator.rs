//! Collators: para chains built on a relay node.
//!
//! A [`Collator`] follows the relay chain its node imports. When its para's core is free at
//! the relay's best block, it builds the next para block on the para's latest included head
//! from its transaction pool, records the storage proof, validates the block natively for its
//! commitments, and returns the signed [`Collation`] for the node to gossip to the backing
//! group. When a block of its own becomes the included head, it makes it its chain's head.

use crate::client::Client;
use crate::collation::{collate, Collation, CollationInput};
use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_relay_chain::inclusion;
use tessera_relay_chain::paras::{self, HeadData, ParaId};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::{Executive, InvalidTransaction, Runtime};
use tessera_runtime::modules::{balances, system};
use tessera_runtime::parachain::{
    build_block, prove_block, BlockData, ParachainBlockData, ValidationParams,
};
use tessera_runtime::state::State;
use tessera_runtime::wasm::ValidationOutcome;
use tessera_runtime::{AccountId, Balance, Block, Hash, Header, Nonce, OpaqueExtrinsic};

/// Most transactions waiting in a para's pool.
const MAX_POOL: usize = 8_192;

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

/// A block sent as a candidate and the trie nodes it adds.
struct Candidate {
    block: Block,
    new_nodes: Vec<(Hash, Vec<u8>)>,
}

/// A para's chain as its collator keeps it: state, head, blocks waiting for inclusion, and a
/// transaction pool.
pub struct ParaChain<R> {
    para: ParaId,
    nodes: BTreeMap<Hash, Vec<u8>>,
    head: Header,
    genesis_hash: Hash,
    /// Blocks sent as candidates, by header hash, with the nodes they add.
    candidates: HashMap<Hash, Candidate>,
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
            head: genesis,
            nodes: nodes.into_iter().collect(),
            candidates: HashMap::new(),
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
                if self.pool.len() >= MAX_POOL {
                    return Err(ParaTxError::PoolFull);
                }
                let hash = xt.hash();
                self.pool.push(xt);
                Ok(hash)
            })
            .collect()
    }

    /// Makes the block with head `included` the chain's head if it is one of ours; whether
    /// the chain's head is now `included`.
    pub fn follow(&mut self, included: &HeadData) -> bool {
        if HeadData(self.head.encode()) == *included {
            return true;
        }
        let Ok(header) = Header::decode(&mut &included.0[..]) else {
            return false;
        };
        let Some(Candidate { block, new_nodes }) = self.candidates.remove(&header.hash()) else {
            return false;
        };
        if block.header.parent_hash != self.head.hash() {
            return false;
        }
        self.nodes.extend(new_nodes);
        let included_txs: Vec<Hash> = block.extrinsics.iter().map(|xt| xt.hash()).collect();
        self.pool.retain(|xt| !included_txs.contains(&xt.hash()));
        let hash = block.header.hash();
        self.head = block.header.clone();
        self.canonical.push(hash);
        self.blocks.insert(hash, block);
        // Candidates on the old head can never be included now.
        let head_hash = self.head.hash();
        self.candidates
            .retain(|_, candidate| candidate.block.header.parent_hash == head_hash);
        true
    }

    /// Builds the next block from the pool and its PoV block data.
    fn build(&mut self, author: AccountId) -> Result<ParachainBlockData, String> {
        let built = build_block::<R>(&self.nodes, &self.head, &self.pool, Some(author))
            .map_err(|e| e.to_string())?;
        // Invalid transactions never get better: drop them. Later nonces and what did not fit
        // in this block wait for the next one.
        let drop: Vec<Hash> = built
            .rejected
            .iter()
            .filter(|(_, why)| {
                !matches!(
                    why,
                    InvalidTransaction::Future { .. }
                        | InvalidTransaction::ExhaustsResources { .. }
                )
            })
            .filter_map(|(index, _)| self.pool.get(*index).map(OpaqueExtrinsic::hash))
            .collect();
        self.pool.retain(|xt| !drop.contains(&xt.hash()));
        let data = prove_block::<R>(&self.nodes, self.head.state_root, built.block.clone())
            .map_err(|e| e.to_string())?;
        self.candidates.insert(
            built.block.header.hash(),
            Candidate {
                block: built.block,
                new_nodes: built.changes.new_nodes,
            },
        );
        Ok(data)
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

    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Hash, ParaTxError> {
        ParaChain::submit(self, xt)
    }
}

/// What a node runs for each para it collates.
pub trait Collate: Send + Sync {
    /// The para.
    fn para(&self) -> ParaId;
    /// The para's chain, for its RPC.
    fn view(&self) -> Arc<Mutex<dyn ParaView>>;
    /// A candidate for the relay's best block in `client`, if the para's core is free there
    /// and this collator has not made one for it yet.
    fn collate(&mut self, client: &Client) -> Option<Collation>;
    /// The para's latest included head number and hash, as this collator follows it.
    fn head(&self) -> (u32, Hash);
    /// Queues a para transaction; its hash.
    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Hash, ParaTxError>;
    /// Free balance of `who` at the para's head.
    fn free_balance(&self, who: &AccountId) -> Result<Balance, ParaTxError>;
    /// Dev load: signed transfers among the dev accounts, `count` per block.
    fn set_dev_transfers(&mut self, count: usize);
}

/// A collator of a para whose runtime is `R`.
pub struct Collator<R> {
    chain: Arc<Mutex<ParaChain<R>>>,
    key: Pair,
    validate: fn(ValidationParams) -> ValidationOutcome,
    last_relay_parent: Option<Hash>,
    dev_transfers: usize,
    dev_nonces: HashMap<AccountId, Nonce>,
    dev_turn: usize,
}

impl<R: Runtime> Collator<R>
where
    R::Call: From<balances::Call>,
{
    /// Collates `chain` with the collator key `key`; `validate` is the para's validation
    /// function, natively.
    pub fn new(
        chain: ParaChain<R>,
        key: Pair,
        validate: fn(ValidationParams) -> ValidationOutcome,
    ) -> Self {
        Collator {
            chain: Arc::new(Mutex::new(chain)),
            key,
            validate,
            last_relay_parent: None,
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
    R::Call: From<balances::Call>,
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
        if self.last_relay_parent == Some(best_hash) {
            return None;
        }
        self.last_relay_parent = Some(best_hash);
        let chain = self.chain.clone();
        let mut chain = chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let para = chain.para;
        let mut state = State::new(client.store(), best.state_root);
        let included = inclusion::included_head(&mut state, para).ok()??;
        if !chain.follow(&included) {
            tracing::warn!(
                para = para.0,
                "the included head is not a block of this collator"
            );
            return None;
        }
        if inclusion::PENDING.get(&mut state, &para).ok()?.is_some() {
            return None;
        }
        let validation_data =
            inclusion::persisted_validation_data(&mut state, para, &best).ok()??;
        let code_hash = paras::para_at(&mut state, para, best.number.saturating_add(1))
            .ok()??
            .code_hash;
        self.queue_dev_transfers(&mut chain);
        let data = match chain.build(self.key.public()) {
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
        let commitments = match (self.validate)(params) {
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
        match collate(&self.key, input) {
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

    fn set_dev_transfers(&mut self, count: usize) {
        self.dev_transfers = count;
    }
}
