//! A para's chain as a para node keeps it: state, the included head it follows, blocks
//! waiting for inclusion, and its transaction pool.
//!
//! The chain follows the para's included head on the relay chain: its own blocks, and those of
//! other collators seen in their collations, are imported by executing them on the full state
//! once the relay chain includes them. A collator builds the next block on it
//! ([`ParaChain::build`]); a full node only follows, and passes transactions on.
//!
//! Every block the chain executed (included ones, its own candidates, others' pending blocks
//! it built on) is in a [`ChainStore`] of its own with its state, on disk for a node; the
//! store's best block is the included head. Each block and each move of the head is one atomic
//! write, and a collator stores its candidate before it is sent: a node restarts at the head it
//! last followed, and goes on with the candidates it made, without fetching anything again.
//! Blocks not executed yet (others' collations, fetched blocks) wait in memory, bounded.

use crate::pool::{Pool, PoolError};
use crate::store::{ChainStore, Database, MemoryDb, StoreError};
use crate::validation::{with_runtime_at, CodeSubstitutes, ExecutionError, TxChecker};

/// Para chains run their own `:code`: their chain specs have no code substitutes.
const NO_SUBSTITUTES: &CodeSubstitutes = &CodeSubstitutes::NONE;
use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tessera_relay_chain::paras::{HeadData, ParaId};
use tessera_runtime::executive::{InvalidTransaction, ValidTransaction};
use tessera_runtime::messaging::RelayInputs;
use tessera_runtime::modules::system;
use tessera_runtime::parachain::ParachainBlockData;
use tessera_runtime::state::{NodeStore, State, StateChanges};
use tessera_runtime::wasm::api::{BLOCK_BUILDER_INHERENT_EXTRINSICS, CORE_VERSION};
use tessera_runtime::wasm::{BuildRequest, VersionInfo};
use tessera_runtime::{AccountId, Block, Hash, Header, Nonce, OpaqueExtrinsic};
use tokio::sync::broadcast;

/// Most transactions waiting in a para's pool.
pub(crate) const MAX_POOL: usize = 8_192;

/// Most blocks of other collators kept while they wait for inclusion (a few relay slots'
/// worth: one candidate per relay block, on the pending one or the included head).
const MAX_SEEN: usize = 64;

/// Para blocks below the head whose competing blocks seen from other collators are kept: a
/// relay fork, or a revert after a dispute, may include one of them after all, and the chain
/// then goes back to it rather than wait for a block nobody else has. (Blocks executed here are
/// in the store for good.)
const KEEP_BELOW_HEAD: u32 = 8;

/// Most transactions in one gossip message (well under gossip's size limit).
pub(crate) const MAX_ANNOUNCE: usize = 256;

/// Most pooled transactions one block build considers: well over what a block of the
/// template's weight limit holds (1,200 transfers), without copying a full pool every block.
const MAX_TRIED: usize = 4_096;

/// Transaction events kept for watchers that fall behind.
const TX_EVENTS: usize = 4_096;

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
    /// The para's store could not be read or written.
    #[error("para store: {0}")]
    Store(#[from] StoreError),
}

/// Why a para transaction was refused.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ParaTxError {
    /// It is not valid on the para's head.
    #[error(transparent)]
    Invalid(#[from] InvalidTransaction),
    /// The pool is full.
    #[error("the para's pool is full ({MAX_POOL} transactions)")]
    PoolFull,
    /// The pool holds it, or another transaction of the sender with its nonce and tip.
    #[error(transparent)]
    Pool(PoolError),
    /// The para's state could not be read.
    #[error("para state: {0}")]
    State(String),
}

/// What happened to a para's transactions, for those watching them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A block the relay chain included became the head, with its extrinsics' hashes.
    Included {
        /// Its number.
        number: u32,
        /// Its hash.
        hash: Hash,
        /// Hashes of its extrinsics.
        extrinsics: Vec<Hash>,
    },
    /// A transaction left the pool without being included, and will never be.
    Dropped {
        /// Its hash.
        hash: Hash,
        /// Why.
        reason: InvalidTransaction,
    },
    /// A pooled transaction was replaced by another with its nonce and a higher tip.
    Replaced {
        /// The one replaced.
        hash: Hash,
        /// The one that replaced it.
        by: Hash,
    },
}

/// A transaction accepted by a para node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// Its hash.
    pub hash: Hash,
    /// What validating it on the head said (signer, nonce).
    pub info: ValidTransaction,
}

/// A para's chain as its collator keeps it: state, head, blocks waiting for inclusion, and a
/// transaction pool.
pub struct ParaChain {
    pub(super) para: ParaId,
    /// The included chain and its states; its best block is the head.
    store: ChainStore,
    pub(super) head: Header,
    pub(super) genesis_hash: Hash,
    /// Blocks of other collators, by header hash, not yet imported.
    seen: HashMap<Hash, Block>,
    /// Transactions submitted here (by RPC) not yet gossiped to the para's other nodes.
    pub(super) announce: Vec<OpaqueExtrinsic>,
    /// Whether checked transactions are kept for blocks (a collator) or only passed on.
    pub(super) keeps_pool: bool,
    /// The number of the para's included head, as last followed.
    included_number: u32,
    /// The newest block imported on the way to the included head (catching up), or the head.
    sync_tip: Header,
    /// Blocks fetched from a peer, executed, and kept apart (with the trie nodes they add)
    /// until the relay chain's included head is found among them: a chain that is not the
    /// included one is dropped whole, leaving nothing behind.
    synced: Vec<Block>,
    synced_nodes: Arc<BTreeMap<Hash, Vec<u8>>>,
    /// Whether fetched blocks were dropped as not the included chain since last asked.
    sync_discarded: bool,
    /// Whether the last follow found a block between the head and the included one missing.
    lacking: bool,
    pool: Pool,
    /// Inclusions and dropped transactions, for watchers.
    tx_events: broadcast::Sender<TxEvent>,
}

impl ParaChain {
    /// The chain of `para` kept in `db`: at the head it last followed if `db` holds the chain
    /// already, else at `genesis` (header and state), written there. A database of another
    /// chain is refused.
    pub fn open(
        para: ParaId,
        db: Box<dyn Database>,
        genesis: Header,
        genesis_nodes: Vec<(Hash, Vec<u8>)>,
    ) -> Result<Self, StoreError> {
        let genesis_hash = genesis.hash();
        let store = ChainStore::open(db, &genesis, &genesis_nodes)?;
        let meta = store.meta()?;
        let head = store
            .header(&meta.best_hash)?
            .ok_or(StoreError::MissingBlock(meta.best_hash))?;
        if head.number > 0 {
            tracing::info!(para = para.0, number = head.number, hash = %meta.best_hash, "para chain opened at its stored head");
        }
        let chain = ParaChain {
            para,
            store,
            genesis_hash,
            included_number: head.number,
            sync_tip: head.clone(),
            synced: Vec::new(),
            synced_nodes: Arc::default(),
            sync_discarded: false,
            lacking: false,
            head,
            seen: HashMap::new(),
            announce: Vec::new(),
            keeps_pool: true,
            pool: Pool::new(MAX_POOL),
            tx_events: broadcast::channel(TX_EVENTS).0,
        };
        chain.compile_runtime();
        Ok(chain)
    }

    /// Compiles the runtime under the head's `:code` now, so that the first block built or
    /// imported does not spend its time on it. A runtime that fails is reported here, and
    /// again by each block that needs it.
    fn compile_runtime(&self) {
        let nodes = self.with_nodes(Arc::default());
        let compiled = with_runtime_at(
            nodes,
            self.head.state_root,
            NO_SUBSTITUTES,
            |executor, hash, code, _| {
                executor.prepare(hash, &code()?)?;
                Ok(())
            },
        );
        if let Err(err) = compiled {
            tracing::warn!(para = self.para.0, %err, "the para's runtime does not compile");
        }
    }

    /// The chain of `para` from its genesis header and state, kept in memory (for tests and
    /// benchmarks).
    pub fn in_memory(
        para: ParaId,
        genesis: Header,
        genesis_nodes: Vec<(Hash, Vec<u8>)>,
    ) -> Result<Self, StoreError> {
        Self::open(para, Box::<MemoryDb>::default(), genesis, genesis_nodes)
    }

    /// The chain's nodes with `added` (those of blocks executed but not committed yet), for a
    /// runtime call.
    fn with_nodes(&self, added: Arc<BTreeMap<Hash, Vec<u8>>>) -> Arc<dyn NodeStore> {
        Arc::new(Overlay {
            base: self.store.clone(),
            added,
        })
    }

    /// Whether the included chain's store holds block `hash` (included now or before).
    fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(self.store.header(hash)?.is_some())
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
        State::new(&self.store, self.head.state_root)
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
    pub fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Submitted, ParaTxError> {
        self.submit_many(vec![xt])
            .into_iter()
            .next()
            .unwrap_or(Err(ParaTxError::PoolFull))
    }

    /// [`Self::submit`] for many transactions, checked against one view of the head.
    pub fn submit_many(
        &mut self,
        xts: Vec<OpaqueExtrinsic>,
    ) -> Vec<Result<Submitted, ParaTxError>> {
        let verdicts = self
            .tx_checker()
            .and_then(|checker| check_para_transactions(&checker, &xts));
        self.admit_all(xts, verdicts)
    }

    /// [`Self::admit`] for each of `xts` as `verdicts` (from one [`TxChecker`] call) found
    /// it; every one refused if the check itself failed.
    pub fn admit_all(
        &mut self,
        xts: Vec<OpaqueExtrinsic>,
        verdicts: Result<Vec<Result<ValidTransaction, InvalidTransaction>>, ParaTxError>,
    ) -> Vec<Result<Submitted, ParaTxError>> {
        match verdicts {
            Ok(verdicts) => xts
                .into_iter()
                .zip(verdicts)
                .map(|(xt, verdict)| self.admit(xt, verdict))
                .collect(),
            Err(err) => xts.iter().map(|_| Err(err.clone())).collect(),
        }
    }

    /// What checks transactions against the head without the chain (its lock released), or
    /// a refusal: a full pool refuses before anything is checked, so a flood costs it no
    /// signature checks.
    pub fn tx_checker(&self) -> Result<TxChecker, ParaTxError> {
        if self.keeps_pool && self.pool.is_full() {
            return Err(ParaTxError::PoolFull);
        }
        Ok(self.checker_at_head())
    }

    /// Queues `xt` as `verdict` (from a [`TxChecker`]) found it, if it is valid.
    pub fn admit(
        &mut self,
        xt: OpaqueExtrinsic,
        verdict: Result<ValidTransaction, InvalidTransaction>,
    ) -> Result<Submitted, ParaTxError> {
        let info = verdict.map_err(ParaTxError::Invalid)?;
        let hash = xt.hash();
        if self.keeps_pool {
            let (_, replaced) = self
                .pool
                .insert_replacing(xt, info.clone())
                .map_err(|err| match err {
                    PoolError::Full(_) => ParaTxError::PoolFull,
                    other => ParaTxError::Pool(other),
                })?;
            if let Some(old) = replaced {
                let replaced = TxEvent::Replaced {
                    hash: old,
                    by: hash,
                };
                let _no_watchers = self.tx_events.send(replaced);
            }
        }
        Ok(Submitted { hash, info })
    }

    /// Whether a block can be built on `parent`: the head, or a block on the head that waits
    /// for inclusion, made here (stored) or seen.
    pub(super) fn can_build_on(&self, parent: &Hash) -> bool {
        let head = self.head.hash();
        let stored_on_head = || {
            self.store
                .header(parent)
                .is_ok_and(|header| header.is_some_and(|header| header.parent_hash == head))
        };
        *parent == head
            || self
                .seen
                .get(parent)
                .is_some_and(|block| block.header.parent_hash == head)
            || stored_on_head()
    }

    /// The nonce `who`'s next transaction should take: after its nonce at the head and the
    /// transactions of it this node's pool already holds.
    pub fn next_nonce(&self, who: &AccountId) -> Result<Nonce, ParaTxError> {
        let from = self.account(who)?.nonce;
        Ok(self.pool.next_nonce(who, from))
    }

    /// Inclusions and dropped transactions from now on.
    pub fn tx_events(&self) -> broadcast::Receiver<TxEvent> {
        self.tx_events.subscribe()
    }

    /// Takes `dropped` out of the pool and tells watchers why.
    fn drop_from_pool(&mut self, dropped: Vec<(Hash, InvalidTransaction)>) {
        for (hash, reason) in dropped {
            if self.pool.remove(&hash).is_some() {
                tracing::debug!(para = self.para.0, %hash, %reason, "para transaction dropped");
                let _no_watchers = self.tx_events.send(TxEvent::Dropped { hash, reason });
            }
        }
    }

    /// Drops the pooled transactions the head made invalid (eras ended, nonces taken, fees no
    /// longer payable). Signatures were checked on entry; only the state-dependent checks run.
    /// Transactions waiting for a missing nonce are marked again from the head's nonces.
    fn prune_pool(&mut self) {
        let expired = self.pool.remove_expired(self.head.number.saturating_add(1));
        for (hash, reason) in expired {
            let _no_watchers = self.tx_events.send(TxEvent::Dropped { hash, reason });
        }
        let pooled = self.pool.all();
        let (invalid, next_nonce) =
            self.revalidate_on_head(pooled.iter().map(|(hash, xt)| (*hash, xt)));
        self.drop_from_pool(invalid);
        let waiting_too_long = self.pool.refresh_waiting(&next_nonce);
        for (hash, reason) in waiting_too_long {
            let _no_watchers = self.tx_events.send(TxEvent::Dropped { hash, reason });
        }
    }

    /// The para runtime's name and version at the head (`Core_version`).
    pub fn runtime_version(&self) -> Result<VersionInfo, ExecutionError> {
        self.query_on_head(CORE_VERSION, &())
    }

    /// The inherent that carries `inputs` into the block after `parent`, from the runtime of
    /// `parent`'s state (a pending parent may have switched the runtime).
    fn relay_inherent(
        &self,
        parent: &Header,
        inputs: &RelayInputs,
    ) -> Result<OpaqueExtrinsic, String> {
        let inherents = self
            .query_at::<Result<Vec<OpaqueExtrinsic>, String>>(
                parent.state_root,
                BLOCK_BUILDER_INHERENT_EXTRINSICS,
                inputs,
            )
            .map_err(|e| format!("cannot make the relay inputs inherent: {e}"))?
            .map_err(|e| format!("the runtime refused the relay inputs: {e}"))?;
        match <[OpaqueExtrinsic; 1]>::try_from(inherents) {
            Ok([inherent]) => Ok(inherent),
            Err(all) => Err(format!(
                "the runtime made {} relay inputs inherents, not one",
                all.len()
            )),
        }
    }

    /// The header of stored block `at`, for the RPC's queries.
    fn stored_header(&self, at: &Hash) -> Result<Header, ParaTxError> {
        self.store
            .header(at)
            .map_err(|e| ParaTxError::State(e.to_string()))?
            .ok_or_else(|| ParaTxError::State(format!("unknown block {at}")))
    }

    /// Calls the read-only runtime API function `export` on the head's state.
    fn query_on_head<T: Decode>(
        &self,
        export: &str,
        input: &impl Encode,
    ) -> Result<T, ExecutionError> {
        self.query_at(self.head.state_root, export, input)
    }

    /// Calls the read-only runtime API function `export` on the state at `root`, with the
    /// runtime under its `:code`.
    fn query_at<T: Decode>(
        &self,
        root: Hash,
        export: &str,
        input: &impl Encode,
    ) -> Result<T, ExecutionError> {
        let nodes = self.with_nodes(Arc::default());
        with_runtime_at(
            nodes,
            root,
            NO_SUBSTITUTES,
            |executor, code_hash, code, nodes| {
                executor.query(code_hash, code, nodes, root, export, input)
            },
        )
    }

    /// Checks `transactions` for the block after the head, on its state, through the para's
    /// runtime (signatures too if `check_signatures`).
    fn check_on_head(
        &self,
        transactions: &[OpaqueExtrinsic],
        check_signatures: bool,
    ) -> Result<Vec<Result<ValidTransaction, InvalidTransaction>>, ExecutionError> {
        self.checker_at_head().check(transactions, check_signatures)
    }

    /// What checks transactions for the block after the head, with the chain's lock released.
    fn checker_at_head(&self) -> TxChecker {
        TxChecker::new(self.with_nodes(Arc::default()), &self.head)
    }

    /// Those of `txs` (checked before, signatures and all) that the head makes invalid, with
    /// why, and the next nonce at the head of the senders of the others; nothing if the head's
    /// state cannot be read.
    fn revalidate_on_head<'x>(
        &self,
        txs: impl IntoIterator<Item = (Hash, &'x OpaqueExtrinsic)>,
    ) -> (Vec<(Hash, InvalidTransaction)>, HashMap<AccountId, Nonce>) {
        let mut invalid = Vec::new();
        let mut next_nonce = HashMap::new();
        let (hashes, txs): (Vec<Hash>, Vec<OpaqueExtrinsic>) =
            txs.into_iter().map(|(hash, xt)| (hash, xt.clone())).unzip();
        let Ok(verdicts) = self.check_on_head(&txs, false) else {
            return (invalid, next_nonce);
        };
        for (hash, verdict) in hashes.into_iter().zip(verdicts) {
            match verdict {
                Ok(info) => {
                    next_nonce.insert(info.signer, info.next_nonce);
                }
                Err(reason) => invalid.push((hash, reason)),
            }
        }
        (invalid, next_nonce)
    }

    /// Keeps a block another collator made, to import if the relay chain includes it.
    pub fn offer(&mut self, block: Block) {
        let hash = block.header.hash();
        // A block the store holds is not kept again (nor one whose lookup fails: not ours).
        if block.header.number <= self.head.number || !matches!(self.has_block(&hash), Ok(false)) {
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
    /// it (stored here, or seen from other collators), or goes back to it after a relay reorg.
    /// Whether the head moved.
    pub fn follow(&mut self, included: &HeadData) -> Result<bool, FollowError> {
        let result = self.follow_included(included);
        self.lacking = matches!(result, Err(FollowError::Missing { .. }));
        if self.lacking && self.sync_tip.number >= self.included_number {
            // Blocks fetched up to there are not the included chain: drop them and fetch
            // again from the head.
            self.discard_synced();
        }
        result
    }

    /// Drops the blocks fetched since the head and what they added.
    fn discard_synced(&mut self) {
        self.sync_discarded |= !self.synced.is_empty();
        self.synced.clear();
        self.synced_nodes = Arc::default();
        self.sync_tip = self.head.clone();
    }

    /// Whether fetched blocks were dropped as not the included chain since the last call
    /// (the peer that served them served a chain the relay chain did not include).
    pub fn take_sync_discarded(&mut self) -> bool {
        std::mem::take(&mut self.sync_discarded)
    }

    /// Moves the fetched blocks up to and including `target` into the store: the included
    /// head is among them, so they are the included chain.
    fn promote_synced(&mut self, target: &Hash) -> Result<bool, StoreError> {
        let Some(at) = self.synced.iter().position(|b| b.header.hash() == *target) else {
            return Ok(false);
        };
        let blocks: Vec<(&Header, &[OpaqueExtrinsic])> = self.synced[..=at]
            .iter()
            .map(|block| (&block.header, &block.extrinsics[..]))
            .collect();
        // Their nodes go with them: those of fetched blocks past the target too, harmlessly.
        let nodes = Arc::unwrap_or_clone(std::mem::take(&mut self.synced_nodes));
        self.store.commit_blocks(&blocks, nodes, None)?;
        self.synced.drain(..=at);
        Ok(true)
    }

    fn follow_included(&mut self, included: &HeadData) -> Result<bool, FollowError> {
        let header = Header::decode_all(&mut &included.0[..])
            .map_err(|err| FollowError::BadHead(err.to_string()))?;
        let target = header.hash();
        self.included_number = header.number;
        if target == self.head.hash() {
            return Ok(false);
        }
        self.promote_synced(&target)?;
        // The blocks from the included one back to one already imported, newest first.
        let mut path: Vec<Block> = Vec::new();
        let (mut cursor, mut number) = (target, header.number);
        let mut parent = loop {
            if let Some(stored) = self.store.header(&cursor)? {
                break stored;
            }
            let block = self
                .seen
                .get(&cursor)
                .filter(|_| path.len() < MAX_SEEN)
                .ok_or(FollowError::Missing {
                    number,
                    hash: cursor,
                })?;
            cursor = block.header.parent_hash;
            number = block.header.number.saturating_sub(1);
            path.push(block.clone());
        };
        // Execute the whole path before changing anything: a bad block leaves the chain as is.
        let mut added = Arc::new(BTreeMap::new());
        let mut imported = Vec::with_capacity(path.len());
        for block in path.into_iter().rev() {
            let nodes = self.with_nodes(added.clone());
            let changes =
                execute(nodes, parent.state_root, &block).map_err(|err| FollowError::Import {
                    number: block.header.number,
                    error: err.to_string(),
                })?;
            Arc::make_mut(&mut added).extend(changes.new_nodes);
            parent = block.header.clone();
            imported.push(block);
        }
        let (enacted, retracted) =
            self.set_head(&header, &imported, Arc::unwrap_or_clone(added))?;
        // Blocks imported now, or again after a reorg took them back and another returned them.
        for block in enacted {
            let hash = block.header.hash();
            self.seen.remove(&hash);
            let extrinsics: Vec<Hash> = block.extrinsics.iter().map(|xt| xt.hash()).collect();
            let number = block.header.number;
            for included in &extrinsics {
                self.pool.remove(included);
            }
            let _no_watchers = self.tx_events.send(TxEvent::Included {
                number,
                hash,
                extrinsics,
            });
        }
        self.prune_pool();
        self.requeue_retracted(retracted);
        Ok(true)
    }

    /// Puts the transactions of blocks that left the canonical chain (a relay reorg took their
    /// inclusion back) in the pool again, checked on the new head, and passes them on to the
    /// para's other nodes: a transaction reported in a block is not lost with it.
    fn requeue_retracted(&mut self, retracted: Vec<Block>) {
        let extrinsics: Vec<OpaqueExtrinsic> = retracted
            .into_iter()
            .flat_map(|block| block.extrinsics)
            .collect();
        if extrinsics.is_empty() {
            return;
        }
        let mut requeued = Vec::new();
        for (xt, checked) in extrinsics
            .clone()
            .into_iter()
            .zip(self.submit_many(extrinsics))
        {
            match checked {
                Ok(_) => requeued.push(xt),
                // Its nonce is taken on the new chain (it is there, or another took it): the
                // watcher finds out which from the chain.
                Err(err) => {
                    tracing::debug!(para = self.para.0, hash = %xt.hash(), %err, "retracted para transaction not requeued");
                }
            }
        }
        if !requeued.is_empty() {
            tracing::info!(
                para = self.para.0,
                requeued = requeued.len(),
                "transactions of retracted para blocks back in the pool"
            );
        }
        let room = MAX_POOL.saturating_sub(self.announce.len());
        self.announce.extend(requeued.into_iter().take(room));
    }

    /// Makes `new_head` the head and its ancestry the canonical chain, storing `imported`
    /// (the blocks on the way to it not stored yet, oldest first) and the trie nodes they add
    /// in the same atomic write. The blocks that joined the canonical chain and those that
    /// left it, oldest first.
    fn set_head(
        &mut self,
        new_head: &Header,
        imported: &[Block],
        added: BTreeMap<Hash, Vec<u8>>,
    ) -> Result<(Vec<Block>, Vec<Block>), StoreError> {
        let pending: HashMap<Hash, &Block> = imported
            .iter()
            .map(|block| (block.header.hash(), block))
            .collect();
        let mut branch = Vec::new();
        let (mut cursor, mut number) = (new_head.hash(), new_head.number);
        let fork = loop {
            if self.store.canonical_hash(number)? == Some(cursor) {
                break number;
            }
            let block = match pending.get(&cursor) {
                Some(block) => (*block).clone(),
                None => self
                    .store
                    .block(&cursor)?
                    .ok_or(StoreError::MissingBlock(cursor))?,
            };
            cursor = block.header.parent_hash;
            branch.push(block);
            match number.checked_sub(1) {
                Some(parent) => number = parent,
                None => break 0,
            }
        };
        let mut retracted = Vec::new();
        for number in fork.saturating_add(1)..=self.head.number {
            if let Some(hash) = self.store.canonical_hash(number)? {
                retracted.extend(self.store.block(&hash)?);
            }
        }
        branch.reverse();
        let blocks: Vec<(&Header, &[OpaqueExtrinsic])> = imported
            .iter()
            .map(|block| (&block.header, &block.extrinsics[..]))
            .collect();
        self.store.commit_blocks(&blocks, added, Some(new_head))?;
        self.head = new_head.clone();
        // Others' blocks on another head are kept a while: the relay chain may still switch to
        // a fork that included one, and nobody else may have that block.
        let head_number = self.head.number;
        let floor = head_number.saturating_sub(KEEP_BELOW_HEAD);
        self.seen.retain(|_, block| block.header.number > floor);
        if self.sync_tip.number <= head_number {
            self.synced.clear();
            self.synced_nodes = Arc::default();
            self.sync_tip = self.head.clone();
        }
        Ok((branch, retracted))
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
                self.synced.clear();
                self.synced_nodes = Arc::default();
                self.sync_tip = self.head.clone();
                return Err(FollowError::Import {
                    number,
                    error: "does not build on the block before it".into(),
                });
            }
            let hash = block.header.hash();
            if !self.has_block(&hash)? {
                let nodes = self.with_nodes(self.synced_nodes.clone());
                let changes = execute(nodes, self.sync_tip.state_root, &block).map_err(|err| {
                    FollowError::Import {
                        number,
                        error: err.to_string(),
                    }
                })?;
                Arc::make_mut(&mut self.synced_nodes).extend(changes.new_nodes);
                self.synced.push(block.clone());
            }
            self.sync_tip = block.header;
            imported += 1;
        }
        Ok(imported)
    }

    /// Up to `count` blocks of the included chain from number `from`, within `max_bytes`
    /// encoded (at least one, if there is one), for a peer catching up.
    pub fn blocks_from(&self, from: u32, count: u32, max_bytes: usize) -> Vec<Block> {
        let mut size = 0usize;
        let mut blocks = Vec::new();
        let end = from
            .saturating_add(count)
            .min(self.head.number.saturating_add(1));
        for number in from..end {
            let block = match self.canonical_block(number) {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(para = self.para.0, number, %err, "reading a para block to serve failed");
                    break;
                }
            };
            size = size.saturating_add(block.encoded_size());
            if size > max_bytes && !blocks.is_empty() {
                break;
            }
            blocks.push(block);
        }
        blocks
    }

    /// The hash of the included chain's block `number` (at most the head's).
    fn included_hash(&self, number: u32) -> Result<Option<Hash>, StoreError> {
        if number > self.head.number {
            return Ok(None);
        }
        self.store.canonical_hash(number)
    }

    /// The included chain's block `number` (at most the head's).
    fn canonical_block(&self, number: u32) -> Result<Option<Block>, StoreError> {
        match self.included_hash(number)? {
            Some(hash) => self.store.block(&hash),
            None => Ok(None),
        }
    }

    /// Executes and stores, if not done yet, the block `hash` that builds on the head and
    /// waits for inclusion (another collator's candidate pending availability), so that
    /// blocks can build on it. The block.
    fn execute_on_head(&mut self, hash: &Hash) -> Result<Block, String> {
        let stored = self.store.block(hash).map_err(|e| e.to_string())?;
        let executed = stored.is_some();
        let block = match stored {
            Some(block) => block,
            None => self
                .seen
                .get(hash)
                .cloned()
                .ok_or_else(|| format!("block {hash} is not known here"))?,
        };
        if block.header.parent_hash != self.head.hash() {
            return Err(format!("block {hash} does not build on the head"));
        }
        if !executed {
            let nodes = self.with_nodes(Arc::default());
            let changes = execute(nodes, self.head.state_root, &block)
                .map_err(|e| format!("block {hash} does not execute: {e}"))?;
            self.store
                .commit_blocks(
                    &[(&block.header, &block.extrinsics[..])],
                    changes.new_nodes,
                    None,
                )
                .map_err(|e| e.to_string())?;
        }
        Ok(block)
    }

    /// Builds a block on `parent` (the head, or a block pending inclusion that builds on it)
    /// from its relay `inputs` and the pool, taking transactions until `deadline` or until the
    /// block is full, and records its PoV proof in the same execution.
    pub(super) fn build(
        &mut self,
        parent: Hash,
        author: AccountId,
        inputs: &RelayInputs,
        deadline: Instant,
    ) -> Result<ParachainBlockData, String> {
        let on_head = parent == self.head.hash();
        let (parent_header, parent_txs) = if on_head {
            (self.head.clone(), HashSet::new())
        } else {
            let pending = self.execute_on_head(&parent)?;
            let txs = pending.extrinsics.iter().map(|xt| xt.hash()).collect();
            (pending.header, txs)
        };
        let inherent = self.relay_inherent(&parent_header, inputs)?;
        // Transactions the parent already has stay pooled until it is included.
        let (hashes, extrinsics): (Vec<Hash>, Vec<OpaqueExtrinsic>) =
            std::iter::once((Hash::ZERO, inherent))
                .chain(
                    self.pool
                        .ordered_up_to(MAX_TRIED)
                        .into_iter()
                        .filter(|(hash, _)| !parent_txs.contains(hash)),
                )
                .unzip();
        let request = BuildRequest {
            parent: parent_header,
            author: Some(author),
            extrinsics,
            pre_runtime: Vec::new(),
        };
        let nodes = self.with_nodes(Arc::default());
        let mut built = with_runtime_at(
            nodes,
            request.parent.state_root,
            NO_SUBSTITUTES,
            |executor, code_hash, code, nodes| {
                executor.build_block(code_hash, code, nodes, &request, true, deadline)
            },
        )
        .map_err(|e| e.to_string())?;
        let extrinsics = request.extrinsics;
        if let Some((_, why)) = built.rejected.iter().find(|(index, _)| *index == 0) {
            return Err(format!("the relay inputs inherent is invalid: {why}"));
        }
        tracing::debug!(
            para = self.para.0,
            number = built.block.header.number,
            extrinsics = built.block.extrinsics.len(),
            tried = built.tried,
            pooled = self.pool.len(),
            out_of_time = built.tried < extrinsics.len() && Instant::now() >= deadline,
            "para block built"
        );
        // Invalid transactions never get better: drop them. Later nonces and what did not fit
        // in this block wait for the next one.
        let invalid: Vec<(Hash, InvalidTransaction)> = built
            .rejected
            .iter()
            .filter(|(_, why)| {
                !(why.is_block_full() || matches!(why, InvalidTransaction::Future { .. }))
            })
            .filter_map(|(index, why)| Some((*hashes.get(*index)?, why.clone())))
            .collect();
        let data = ParachainBlockData {
            block: built.block.clone(),
            proof: built.changes.proof.take().unwrap_or_default(),
        };
        // Invalid only after the pending parent (say, its nonce taken by another collator's
        // transaction there), a transaction is kept: the parent may never be included. A bad
        // signature there is dropped all the same: the parent switched the runtime, whose
        // version every signature covers, and the sender must sign again for it.
        let invalid = if on_head {
            invalid
        } else {
            let (bad_signatures, others): (Vec<_>, Vec<_>) = invalid
                .into_iter()
                .partition(|(_, why)| *why == InvalidTransaction::BadSignature);
            let rejected = others
                .iter()
                .filter_map(|(hash, _)| Some((*hash, self.pool.get(hash)?)));
            let mut invalid = self.revalidate_on_head(rejected).0;
            invalid.extend(bad_signatures);
            invalid
        };
        self.drop_from_pool(invalid);
        // Stored before it is sent: once the relay chain includes it, this node must have it,
        // restarted or not.
        self.store
            .commit_blocks(
                &[(&built.block.header, &built.block.extrinsics[..])],
                std::mem::take(&mut built.changes.new_nodes),
                None,
            )
            .map_err(|e| format!("storing the block failed: {e}"))?;
        Ok(data)
    }
}

/// Executes `block` on the state `parent_root` in `nodes` through the para's runtime: the Wasm
/// under `:code` in that state, compiled once per code hash (the trie keeps a long value's
/// hash, so a cached runtime is found without reading the blob).
fn execute(
    nodes: Arc<dyn NodeStore>,
    parent_root: Hash,
    block: &Block,
) -> Result<StateChanges, ExecutionError> {
    with_runtime_at(
        nodes,
        parent_root,
        NO_SUBSTITUTES,
        |executor, code_hash, code, nodes| {
            executor.execute_block(code_hash, code, nodes, parent_root, block, false)
        },
    )
}

/// Each of `xts` checked by `checker`, signature and all, for a para's pool.
pub fn check_para_transactions(
    checker: &TxChecker,
    xts: &[OpaqueExtrinsic],
) -> Result<Vec<Result<ValidTransaction, InvalidTransaction>>, ParaTxError> {
    checker
        .check(xts, true)
        .map_err(|err| ParaTxError::State(err.to_string()))
}

/// The chain's nodes with those of blocks executed but not yet committed.
struct Overlay {
    base: ChainStore,
    added: Arc<BTreeMap<Hash, Vec<u8>>>,
}

impl NodeStore for Overlay {
    fn node(&self, hash: &Hash) -> Option<Vec<u8>> {
        // Pending nodes first: they are in memory, and the store's lookups go to disk.
        self.added
            .get(hash)
            .cloned()
            .or_else(|| self.base.node(hash))
    }
}

/// What a para's RPC reads and writes: the chain its collator keeps.
pub trait ParaView: Send {
    /// The para.
    fn para(&self) -> ParaId;
    /// The latest included block's header.
    fn head(&self) -> Header;
    /// A block by hash: an included one, or one this node executed and keeps (its own
    /// candidates, others' pending blocks); `canonical_hash` says which are included.
    fn block(&self, hash: &Hash) -> Option<Block>;
    /// The hash of the included block `number`.
    fn canonical_hash(&self, number: u32) -> Option<Hash>;
    /// Storage under `key` at block `at` (any block [`Self::block`] returns).
    fn storage(&self, at: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ParaTxError>;
    /// Checks and queues a transaction.
    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Submitted, ParaTxError>;
    /// [`ParaChain::tx_checker`]: to check transactions with the view unlocked.
    fn tx_checker(&self) -> Result<TxChecker, ParaTxError>;
    /// [`ParaChain::admit`], and passes the transaction on to the para's other nodes.
    fn admit(
        &mut self,
        xt: OpaqueExtrinsic,
        verdict: Result<ValidTransaction, InvalidTransaction>,
    ) -> Result<Submitted, ParaTxError>;
    /// The state after block `at` (any block [`Self::block`] returns), readable with the view
    /// unlocked.
    fn state(&self, at: &Hash) -> Result<State<'static>, ParaTxError>;
    /// The hash of the runtime under `:code` after block `at` (none in a state without one).
    fn code_hash(&self, at: &Hash) -> Result<Option<Hash>, ParaTxError>;
    /// Block `at`'s state and runtime (any block [`Self::block`] returns), to call with the
    /// view unlocked: RPC callers must not hold up the collator.
    fn runtime_at(&self, at: &Hash) -> Result<crate::client::RuntimeAt, ParaTxError>;
    /// The nonce `who`'s next transaction should take (the head's, after those pooled here).
    fn next_nonce(&self, who: &AccountId) -> Result<Nonce, ParaTxError>;
    /// `who`'s nonce at the head: its transactions below it are taken.
    fn nonce_at_head(&self, who: &AccountId) -> Result<Nonce, ParaTxError>;
    /// Inclusions and dropped transactions from now on.
    fn tx_events(&self) -> broadcast::Receiver<TxEvent>;
    /// Whether a transaction checked before (its signature too) is still valid on the head.
    fn revalidate(&self, xt: &OpaqueExtrinsic) -> Result<(), ParaTxError>;
}

impl ParaView for ParaChain {
    fn para(&self) -> ParaId {
        self.para
    }

    fn head(&self) -> Header {
        self.head.clone()
    }

    fn block(&self, hash: &Hash) -> Option<Block> {
        self.store.block(hash).unwrap_or_else(|err| {
            tracing::warn!(para = self.para.0, %hash, %err, "reading a para block failed");
            None
        })
    }

    fn canonical_hash(&self, number: u32) -> Option<Hash> {
        self.included_hash(number).unwrap_or_else(|err| {
            tracing::warn!(para = self.para.0, number, %err, "reading the para's canonical index failed");
            None
        })
    }

    fn storage(&self, at: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ParaTxError> {
        let header = self.stored_header(at)?;
        State::new(&self.store, header.state_root)
            .get(key)
            .map_err(|e| ParaTxError::State(e.to_string()))
    }

    fn state(&self, at: &Hash) -> Result<State<'static>, ParaTxError> {
        let header = self.stored_header(at)?;
        Ok(State::shared(
            self.with_nodes(Arc::default()),
            header.state_root,
        ))
    }

    fn code_hash(&self, at: &Hash) -> Result<Option<Hash>, ParaTxError> {
        let header = self.stored_header(at)?;
        let nodes = self.with_nodes(Arc::default());
        crate::validation::runtime_hash_at(nodes, header.state_root, NO_SUBSTITUTES)
            .map_err(|e| ParaTxError::State(e.to_string()))
    }

    fn runtime_at(&self, at: &Hash) -> Result<crate::client::RuntimeAt, ParaTxError> {
        let header = self.stored_header(at)?;
        Ok(crate::client::RuntimeAt::new(
            self.with_nodes(Arc::default()),
            header.state_root,
            Arc::default(),
        ))
    }

    fn tx_checker(&self) -> Result<TxChecker, ParaTxError> {
        ParaChain::tx_checker(self)
    }

    fn admit(
        &mut self,
        xt: OpaqueExtrinsic,
        verdict: Result<ValidTransaction, InvalidTransaction>,
    ) -> Result<Submitted, ParaTxError> {
        let submitted = ParaChain::admit(self, xt.clone(), verdict)?;
        if self.announce.len() < MAX_POOL {
            self.announce.push(xt);
        }
        Ok(submitted)
    }

    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Submitted, ParaTxError> {
        let submitted = ParaChain::submit(self, xt.clone())?;
        if self.announce.len() < MAX_POOL {
            self.announce.push(xt);
        }
        Ok(submitted)
    }

    fn next_nonce(&self, who: &AccountId) -> Result<Nonce, ParaTxError> {
        ParaChain::next_nonce(self, who)
    }

    fn nonce_at_head(&self, who: &AccountId) -> Result<Nonce, ParaTxError> {
        Ok(self.account(who)?.nonce)
    }

    fn tx_events(&self) -> broadcast::Receiver<TxEvent> {
        ParaChain::tx_events(self)
    }

    fn revalidate(&self, xt: &OpaqueExtrinsic) -> Result<(), ParaTxError> {
        let verdicts = self
            .check_on_head(std::slice::from_ref(xt), false)
            .map_err(|e| ParaTxError::State(e.to_string()))?;
        match verdicts.into_iter().next() {
            Some(Ok(_)) => Ok(()),
            Some(Err(invalid)) => Err(ParaTxError::Invalid(invalid)),
            None => Err(ParaTxError::State("the runtime answered nothing".into())),
        }
    }
}
