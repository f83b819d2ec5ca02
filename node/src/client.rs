//! The client: the chain store plus the authorship engine — import with full checks (slot,
//! VRF or secondary claim, seal, execution), block authoring in claimed slots, finalization
//! with justifications, and state queries. Blocks are executed and built, and transactions
//! checked, by the relay runtime under `:code` in the parent's state, run in Wasm.

use crate::pool::{Pool, PoolError, MAX_BUILD_INPUT};
use crate::store::{BlockCommit, ChainMeta, ChainStore, Database, StoreError};
use crate::validation::{
    runtime_hash_at, with_runtime_at, CodeSubstitutes, ExecutionError, TxChecker,
};
use parity_scale_codec::{Decode, Encode};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tessera_consensus::authorship::{
    self, seal_header, AuthorshipConfig, AuthorshipEngine, BlockData, CheckedHeader,
};
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::runtime_api::{self, CandidateEvent};
use tessera_relay_chain::{configuration, session, ApprovalConfig, Genesis};
use tessera_runtime::consensus::PreDigest;
use tessera_runtime::executive::{block_author, BlockError, InvalidTransaction, ValidTransaction};
use tessera_runtime::modules::{balances, system};
use tessera_runtime::state::{NodeStore, State};
use tessera_runtime::wasm::{api, BuildRequest, VersionInfo};
use tessera_runtime::{AccountId, Balance, Block, DigestItem, Hash, Header, OpaqueExtrinsic};

/// Why a block was not imported. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not a block.
    #[error("block does not decode: {0}")]
    Decode(String),
    /// The parent is not in the store.
    #[error("unknown parent {0}")]
    UnknownParent(Hash),
    /// The number is not the parent's plus one.
    #[error("block number {got} does not follow its parent's {parent}")]
    BadNumber {
        /// The parent's number.
        parent: u32,
        /// The block's number.
        got: u32,
    },
    /// The header fails the authorship checks (slot, claim, seal).
    #[error("authorship: {0}")]
    Authorship(#[from] authorship::ImportError),
    /// The block has no author digest (the runtime checks the one it has).
    #[error("author digest names {named:?}, but the slot was claimed by {claimed}")]
    AuthorMismatch {
        /// The account in the author digest, if any.
        named: Option<AccountId>,
        /// The authority that claimed the slot and sealed the header.
        claimed: AccountId,
    },
    /// Its author is disabled (an offender this session) at its parent: it may not author.
    #[error("author {0} is disabled")]
    DisabledAuthor(AccountId),
    /// Executing the block through the runtime failed or disagreed with its header.
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<QueryError> for ImportError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Store(err) => ImportError::Store(err),
            QueryError::Runtime(err) => ImportError::Execution(err),
            QueryError::State(err) => ImportError::Store(StoreError::Corrupt {
                what: "relay state",
                reason: err.to_string(),
            }),
        }
    }
}

impl From<BlockError> for ImportError {
    fn from(err: BlockError) -> Self {
        ImportError::Execution(ExecutionError::InvalidBlock(err.into()))
    }
}

impl ImportError {
    /// Whether the block may be fine and this node is just not ready for it (its parent or its
    /// slot has not arrived yet): not the sender's fault.
    pub fn is_not_yet(&self) -> bool {
        matches!(
            self,
            ImportError::UnknownParent(_)
                | ImportError::Authorship(
                    authorship::ImportError::UnknownParent(_)
                        | authorship::ImportError::FutureSlot { .. }
                        | authorship::ImportError::BelowFinalized(_)
                )
        )
    }
}

/// Why authoring a block failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    /// State could not be read or written.
    #[error("state: {0}")]
    State(#[from] tessera_runtime::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The built block failed its own checks (a bug).
    #[error("built block failed import: {0}")]
    Import(#[from] Box<ImportError>),
    /// The runtime could not build the block.
    #[error("the runtime could not build the block: {0}")]
    Runtime(#[from] ExecutionError),
    /// This node has no authority key, or its key may not author the slot.
    #[error("this node may not author slot {0}")]
    NotClaimable(u64),
}

/// Why the client could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The genesis state lacks the consensus parameters.
    #[error("genesis state: {0}")]
    Genesis(String),
}

/// What an import did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Stored; `best` if it became the best block.
    Imported {
        /// Whether it is the new best block.
        best: bool,
    },
    /// Already in the store; nothing changed.
    AlreadyKnown,
}

/// A freshly authored block and what happened to the pool's transactions.
#[derive(Debug)]
pub struct Authored {
    /// The sealed block, already imported.
    pub block: Block,
    /// Transactions dropped from the pool, with why.
    pub dropped: Vec<(Hash, String)>,
}

/// A slot this node may author, on the parent the authorship engine chose.
#[derive(Clone, Debug)]
pub struct SlotClaim {
    /// The block to build on.
    pub parent: Hash,
    /// The slot.
    pub slot: u64,
    /// The authorship pre-digest proving the claim.
    pub pre_digest: DigestItem,
    /// The key that claimed it (a session key of this node's validator).
    pub author: AccountId,
}

/// What finalizing did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finalized {
    /// The chain pointers after it.
    pub meta: ChainMeta,
    /// Whether the best block changed (the old best was on a fork that lost).
    pub best_changed: bool,
}

/// Milliseconds since the Unix epoch.
pub fn unix_time_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A build without a deadline (tests, tools) still ends: after this long, the runtime takes no
/// more transactions (well within the host's deadline for a runtime call).
const UNHURRIED_BUILD: Duration = Duration::from_secs(6);

/// Equivocation reports waiting for a block this node authors: the oldest go first once as
/// many wait (an equivocating byzantine third of 1,000 validators makes more, but each is
/// seen by every validator, and any one of them gets it included).
pub const MAX_PENDING_REPORTS: usize = 256;

/// Where the reverted blocks are kept.
const REVERTED_KEY: &[u8] = b"reverted-blocks";
/// Reverted blocks remembered (each is a concluded dispute, so a handful per session).
pub const MAX_REVERTED_KEPT: usize = 256;

/// The relay chain's store, runtime and authorship engine.
pub struct Client {
    store: ChainStore,
    engine: AuthorshipEngine,
    /// The validator account this node authors as (named in its blocks' author digest).
    validator: Option<AccountId>,
    authorities: Vec<AccountId>,
    slot_duration_ms: u64,
    approval: ApprovalConfig,
    /// Reverts that moved the best block, since start.
    reverts: u64,
    /// Extrinsics of blocks that left the best chain, for the pool to take back.
    retracted: Vec<OpaqueExtrinsic>,
    /// Equivocation reports (unsigned) this node offers in the blocks it authors, oldest
    /// first, until one is included or refused.
    reports: std::collections::VecDeque<OpaqueExtrinsic>,
    /// Runtime versions by code hash: asking the runtime is a Wasm call, and the RPC asks
    /// for every new best block's.
    versions: std::sync::Mutex<lru::LruCache<Hash, VersionInfo>>,
    /// The chain spec's code substitutes.
    substitutes: Arc<CodeSubstitutes>,
}

/// Runtime versions remembered by code hash.
const VERSIONS_KEPT: usize = 8;

/// Each of `xts` checked by `checker` for the pool (signatures too if `check_signatures`):
/// what the pool needs, or why it cannot take it. At most [`MAX_BUILD_INPUT`] bytes go to one
/// runtime call; a call the runtime fails (not for a reason of this node's own) is split in
/// halves, so a transaction it fails on costs the others in its call nothing.
pub fn check_for_pool(
    checker: &TxChecker,
    xts: &[OpaqueExtrinsic],
    check_signatures: bool,
) -> Vec<Result<ValidTransaction, PoolError>> {
    let mut verdicts = Vec::with_capacity(xts.len());
    let mut rest = xts;
    while !rest.is_empty() {
        let mut bytes = 0usize;
        let count = rest
            .iter()
            .take_while(|xt| {
                bytes = bytes.saturating_add(xt.0.len());
                bytes <= MAX_BUILD_INPUT
            })
            .count()
            .max(1);
        let (call, after) = rest.split_at(count);
        check_or_split(checker, call, check_signatures, &mut verdicts);
        rest = after;
    }
    verdicts
}

fn check_or_split(
    checker: &TxChecker,
    xts: &[OpaqueExtrinsic],
    check_signatures: bool,
    verdicts: &mut Vec<Result<ValidTransaction, PoolError>>,
) {
    match checker.check(xts, check_signatures) {
        Ok(answers) if answers.len() == xts.len() => {
            verdicts.extend(answers.into_iter().map(|a| a.map_err(PoolError::Invalid)));
        }
        Err(err) if !err.is_local() && xts.len() > 1 => {
            let (first, second) = xts.split_at(xts.len() / 2);
            check_or_split(checker, first, check_signatures, verdicts);
            check_or_split(checker, second, check_signatures, verdicts);
        }
        Ok(answers) => {
            let err = format!(
                "the runtime answered for {} of {} transactions",
                answers.len(),
                xts.len()
            );
            verdicts.extend(xts.iter().map(|_| Err(PoolError::State(err.clone()))));
        }
        Err(err) => {
            verdicts.extend(xts.iter().map(|_| Err(PoolError::State(err.to_string()))));
        }
    }
}

impl Client {
    /// Opens the chain in `db`, writing `genesis` if it is empty, and resumes the authorship
    /// engine from the finalized block and the best chain above it.
    pub fn open(db: Box<dyn Database>, genesis: &Genesis) -> Result<Client, OpenError> {
        let store = ChainStore::open(db, &genesis.header, &genesis.state.new_nodes)?;
        let genesis_error = |e: tessera_runtime::Error| OpenError::Genesis(e.to_string());
        let root = genesis.header.state_root;
        let export = tessera_relay_chain::runtime_api::VALIDATORS;
        let substitutes = Arc::new(CodeSubstitutes::new(&genesis.code_substitutes));
        learn_substitutes(&store, &substitutes)
            .map_err(|e| OpenError::Genesis(format!("code substitutes: {e}")))?;
        let nodes: Arc<dyn NodeStore> = Arc::new(store.clone());
        let authorities: Vec<AccountId> = query_at(nodes, &substitutes, root, export, &())
            .map_err(|e| OpenError::Genesis(format!("the runtime's `{export}`: {e}")))?;
        let mut state = State::new(&store, root);
        let slot_duration_ms = session::SLOT_DURATION
            .get(&mut state)
            .map_err(genesis_error)?
            .ok_or_else(|| OpenError::Genesis("no slot duration".into()))?;
        let epoch_length = session::EPOCH_LENGTH
            .get(&mut state)
            .map_err(genesis_error)?
            .ok_or_else(|| OpenError::Genesis("no epoch length".into()))?;
        // A chain from before the parameters were in state uses the dev values.
        let approval = configuration::APPROVAL
            .get(&mut state)
            .map_err(genesis_error)?
            .unwrap_or_else(|| ApprovalConfig::dev_for(authorities.len()));
        let config = AuthorshipConfig::new(
            slot_duration_ms,
            epoch_length,
            authorities.iter().map(|id| (*id, 1)).collect(),
        );
        let meta = store.meta()?;
        let root = store
            .header(&meta.finalized_hash)?
            .ok_or(StoreError::MissingBlock(meta.finalized_hash))?;
        let root_data = if meta.finalized_number == 0 {
            BlockData::genesis(&config)
        } else {
            block_data(&store, &meta.finalized_hash)?
        };
        let mut engine = AuthorshipEngine::resume(config, root, root_data, None);
        for number in meta.finalized_number.saturating_add(1)..=meta.best_number {
            let hash = store.canonical_hash(number)?.ok_or(StoreError::Corrupt {
                what: "canonical index",
                reason: format!("no block at #{number} below the best block"),
            })?;
            let header = store.header(&hash)?.ok_or(StoreError::MissingBlock(hash))?;
            let data = block_data(&store, &hash)?;
            engine.restore(header, data);
        }
        engine.set_time(unix_time_ms());
        let mut client = Client {
            store,
            engine,
            validator: None,
            authorities,
            slot_duration_ms,
            approval,
            reverts: 0,
            retracted: Vec::new(),
            reports: std::collections::VecDeque::new(),
            versions: std::sync::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(VERSIONS_KEPT).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            substitutes,
        };
        // The best chain stays off reverted blocks, even one a crash left as best.
        for hash in client.reverted_blocks()? {
            client.revert(hash)?;
        }
        Ok(client)
    }

    /// The blocks of the chain spec's code substitutes that do not know yet which code they
    /// replace (learned from the chain's block at that height).
    pub fn unlearned_substitutes(&self) -> Vec<u32> {
        self.substitutes.unlearned()
    }

    /// Starts again above the finalized block a warp sync committed to the store
    /// ([`crate::warp_sync`]), forgetting the blocks it held above genesis.
    pub fn rebase_on_finalized(&mut self) -> Result<(), StoreError> {
        let meta = self.store.meta()?;
        let root = self
            .store
            .header(&meta.finalized_hash)?
            .ok_or(StoreError::MissingBlock(meta.finalized_hash))?;
        let data = block_data(&self.store, &meta.finalized_hash)?;
        self.engine.rebase(root, data);
        self.engine.set_time(unix_time_ms());
        Ok(())
    }

    /// Authors blocks as validator `key` from now on: its account is named in the blocks'
    /// author digest, and it claims slots in the epochs that list it (its own key as its
    /// session keys, as genesis validators have them) or any session key added later.
    pub fn set_author(&mut self, key: AuthorityKey) -> Result<(), OpenError> {
        self.validator = Some(key.public());
        self.engine.set_key(Some(key));
        Ok(())
    }

    /// Adds a session key (made by `author_rotateKeys`): this node claims slots with it in the
    /// epochs whose authorities list it.
    pub fn add_session_key(&mut self, key: AuthorityKey) {
        self.engine.add_key(key);
    }

    /// The genesis validators, in authority-index order (the first finality set).
    pub fn authorities(&self) -> &[AccountId] {
        &self.authorities
    }

    /// Approval checking's parameters, from genesis.
    pub fn approval_config(&self) -> &ApprovalConfig {
        &self.approval
    }

    /// The length of a slot.
    pub fn slot_duration(&self) -> Duration {
        Duration::from_millis(self.slot_duration_ms)
    }

    /// The authorship engine (block tree above the finalized block, fork choice, stats).
    pub fn authorship(&self) -> &AuthorshipEngine {
        &self.engine
    }

    /// The underlying store.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// Genesis, best and finalized blocks.
    pub fn info(&self) -> Result<ChainMeta, StoreError> {
        self.store.meta()
    }

    /// The header of `hash`.
    pub fn header(&self, hash: &Hash) -> Result<Option<Header>, StoreError> {
        self.store.header(hash)
    }

    /// The full block `hash`.
    pub fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        self.store.block(hash)
    }

    /// The best block's header.
    pub fn best_header(&self) -> Result<Header, StoreError> {
        let meta = self.store.meta()?;
        self.store
            .header(&meta.best_hash)?
            .ok_or(StoreError::MissingBlock(meta.best_hash))
    }

    fn state_at(&self, hash: &Hash) -> Result<State<'_>, StoreError> {
        let header = self
            .store
            .header(hash)?
            .ok_or(StoreError::MissingBlock(*hash))?;
        Ok(State::new(&self.store, header.state_root))
    }

    /// Nonce and balance of `who` after block `at`.
    pub fn account(&self, at: &Hash, who: &AccountId) -> Result<system::AccountInfo, QueryError> {
        let mut state = self.state_at(at)?;
        Ok(system::ACCOUNT.get_or_default(&mut state, who)?)
    }

    /// Total issuance after block `at`.
    pub fn total_issuance(&self, at: &Hash) -> Result<Balance, QueryError> {
        let mut state = self.state_at(at)?;
        Ok(balances::TOTAL_ISSUANCE.get_or_default(&mut state)?)
    }

    /// The raw value under `key` after block `at`.
    pub fn storage(&self, at: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, QueryError> {
        Ok(self.state_at(at)?.get(key)?)
    }

    /// The state after block `at`, readable without holding the client.
    pub fn state_handle(&self, at: &Hash) -> Result<State<'static>, QueryError> {
        let header = self.header(at)?.ok_or(StoreError::MissingBlock(*at))?;
        Ok(State::shared(self.nodes(), header.state_root))
    }

    /// Up to `count` keys under `prefix` at block `at`, after `start_after` if given.
    pub fn keys_paged(
        &self,
        at: &Hash,
        prefix: &[u8],
        count: usize,
        start_after: Option<&[u8]>,
    ) -> Result<Vec<Vec<u8>>, QueryError> {
        Ok(self.state_at(at)?.keys_paged(prefix, count, start_after)?)
    }

    /// Checks a transaction against the best state and adds it to `pool`.
    pub fn submit(&self, pool: &mut Pool, xt: OpaqueExtrinsic) -> Result<Hash, PoolError> {
        self.submit_all(pool, vec![xt], true)
            .pop()
            .unwrap_or_else(|| Err(PoolError::State("the runtime gave no answer".into())))
    }

    /// [`Self::submit`] for many transactions in one runtime call, each with its own
    /// outcome; signatures are checked only if `check_signatures` (not for transactions of
    /// blocks this node imported, which were checked then).
    pub fn submit_all(
        &self,
        pool: &mut Pool,
        xts: Vec<OpaqueExtrinsic>,
        check_signatures: bool,
    ) -> Vec<Result<Hash, PoolError>> {
        let offer = pool.triage(xts);
        let verdicts = self
            .tx_checker()
            .map(|checker| check_for_pool(&checker, offer.to_check(), check_signatures));
        offer
            .admit(pool, verdicts)
            .into_iter()
            .map(|outcome| outcome.map(|admitted| admitted.hash))
            .collect()
    }

    /// What checks transactions for the block after the best one without this client (its
    /// lock released while the runtime runs).
    pub fn tx_checker(&self) -> Result<TxChecker, PoolError> {
        let best = self
            .best_header()
            .map_err(|e| PoolError::State(e.to_string()))?;
        Ok(TxChecker::substituted(
            self.nodes(),
            &best,
            self.substitutes.clone(),
        ))
    }

    /// Whether a transaction whose signature was checked before is still valid on the best
    /// state (its nonce not taken, its fee payable).
    pub fn revalidate(&self, xt: &OpaqueExtrinsic) -> Result<ValidTransaction, PoolError> {
        let checker = self.tx_checker()?;
        check_for_pool(&checker, std::slice::from_ref(xt), false)
            .pop()
            .unwrap_or_else(|| Err(PoolError::State("the runtime gave no answer".into())))
    }

    /// The chain's nodes, owned, for a runtime call.
    fn nodes(&self) -> Arc<dyn NodeStore> {
        Arc::new(self.store.clone())
    }

    /// Drops transactions that the new best state makes invalid (used nonces, empty
    /// accounts); those waiting for earlier nonces stay. Signatures are not checked again:
    /// they were on entry, and this runs after every authored block on the whole pool.
    pub fn prune_pool(&self, pool: &mut Pool) -> Vec<(Hash, InvalidTransaction)> {
        let mut dropped = match self.info() {
            Ok(meta) => pool.remove_expired(meta.best_number.saturating_add(1)),
            Err(_) => Vec::new(),
        };
        let (hashes, xts): (Vec<Hash>, Vec<OpaqueExtrinsic>) = pool.all().into_iter().unzip();
        let checked = match self.tx_checker() {
            Ok(checker) => check_for_pool(&checker, &xts, false),
            Err(err) => {
                tracing::warn!(%err, "the pool could not be checked against the best block");
                return dropped;
            }
        };
        let mut next_nonce = std::collections::HashMap::new();
        let mut unchecked = None;
        for (hash, verdict) in hashes.into_iter().zip(checked) {
            match verdict {
                Ok(info) => {
                    next_nonce.insert(info.signer, info.next_nonce);
                }
                Err(PoolError::Invalid(reason)) => {
                    pool.remove(&hash);
                    dropped.push((hash, reason));
                }
                // A state the runtime cannot read says nothing about the transaction: kept.
                Err(err) => unchecked = Some(err),
            }
        }
        if let Some(err) = unchecked {
            tracing::warn!(%err, "some pooled transactions could not be checked against the best block");
        }
        dropped.extend(pool.refresh_waiting(&next_nonce));
        dropped
    }

    /// Calls the read-only runtime API function `export` with `input` on the runtime under
    /// `:code` at block `at`, for an answer of type `T` (the function returns `Result<T,
    /// String>`: its error, a state it could not read, comes back as [`ExecutionError::Refused`]).
    pub fn runtime_query<T: Decode>(
        &self,
        at: &Hash,
        export: &str,
        input: &impl Encode,
    ) -> Result<T, QueryError> {
        self.runtime_at(at)?.query(export, input)
    }

    /// Calls runtime API function `export` with `input` as it is (already SCALE-encoded) on
    /// the runtime at block `at`, and returns its answer's bytes (what `state_call` returns).
    pub fn runtime_call(
        &self,
        at: &Hash,
        export: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, QueryError> {
        self.runtime_at(at)?.call(export, input)
    }

    /// Block `at`'s state and runtime, to call with the client unlocked.
    pub fn runtime_at(&self, at: &Hash) -> Result<RuntimeAt, QueryError> {
        let header = self.header(at)?.ok_or(StoreError::MissingBlock(*at))?;
        Ok(RuntimeAt::new(
            self.nodes(),
            header.state_root,
            self.substitutes.clone(),
        ))
    }

    /// The hash of the runtime under `:code` at block `at` (none in a state without one).
    pub fn code_hash(&self, at: &Hash) -> Result<Option<Hash>, QueryError> {
        let header = self.header(at)?.ok_or(StoreError::MissingBlock(*at))?;
        let root = header.state_root;
        Ok(runtime_hash_at(self.nodes(), root, &self.substitutes)?)
    }

    /// The name and version of the runtime under `:code` at block `at`.
    pub fn runtime_version(&self, at: &Hash) -> Result<VersionInfo, QueryError> {
        let code_hash = self.code_hash(at)?.ok_or(ExecutionError::NoCode)?;
        self.runtime_version_of(at, code_hash)
    }

    /// [`Self::runtime_version`] when the hash of the code at `at` is known.
    pub fn runtime_version_of(
        &self,
        at: &Hash,
        code_hash: Hash,
    ) -> Result<VersionInfo, QueryError> {
        let cached = self
            .versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&code_hash)
            .cloned();
        if let Some(version) = cached {
            return Ok(version);
        }
        let version = self.runtime_at(at)?.version()?;
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        versions.put(code_hash, version.clone());
        Ok(version)
    }

    /// Decodes and imports a block from bytes.
    pub fn import_encoded(&mut self, bytes: &[u8]) -> Result<ImportOutcome, ImportError> {
        let block =
            Block::decode(&mut &bytes[..]).map_err(|e| ImportError::Decode(e.to_string()))?;
        self.import_block(&block)
    }

    /// The highest block number any chain can have reached by now (by the slot clock).
    pub fn highest_possible_number(&mut self) -> tessera_runtime::BlockNumber {
        self.engine.set_time(unix_time_ms());
        self.engine.highest_number_now()
    }

    /// Checks a header a peer claims as its best before believing the height it names:
    /// sealed by an authority, in a slot that has begun, and a number that slot allows.
    pub fn check_claim(&mut self, header: &Header) -> Result<(), authorship::ImportError> {
        self.engine.set_time(unix_time_ms());
        self.engine.check_claim(header)
    }

    /// Imports a block after checking parent, number, slot, authorship claim, seal, author
    /// digest, extrinsics root, every signature, execution and state root. A rejected block
    /// changes nothing.
    pub fn import_block(&mut self, block: &Block) -> Result<ImportOutcome, ImportError> {
        let header = &block.header;
        let hash = header.hash();
        if self.store.header(&hash)?.is_some() {
            return Ok(ImportOutcome::AlreadyKnown);
        }
        let parent = self
            .store
            .header(&header.parent_hash)?
            .ok_or(ImportError::UnknownParent(header.parent_hash))?;
        if parent.number.checked_add(1) != Some(header.number) {
            return Err(ImportError::BadNumber {
                parent: parent.number,
                got: header.number,
            });
        }
        self.engine.set_time(unix_time_ms());
        let checked = self.engine.check(header)?;
        // The author digest names the validator (its account): the runtime checks it is the
        // one whose session key claimed the slot, here only that there is one.
        let named = block_author(header)?;
        if named.is_none() {
            return Err(ImportError::AuthorMismatch {
                named,
                claimed: checked.author(),
            });
        }
        let index = PreDigest::from_header(header).map_or(u32::MAX, |d| d.authority_index());
        if self.is_disabled_at(&parent, index)? {
            return Err(ImportError::DisabledAuthor(checked.author()));
        }
        let root = parent.state_root;
        let substitutes = &self.substitutes;
        let changes = with_runtime_at(
            self.nodes(),
            root,
            substitutes,
            |host, code_hash, code, nodes| {
                host.execute_block(code_hash, code, nodes, root, block, false)
            },
        )?;
        let best = self.commit(&checked, &block.extrinsics, &changes.new_nodes)?;
        Ok(ImportOutcome::Imported { best })
    }

    /// Stores a checked block and adds it to the engine; `true` if it became the best block.
    fn commit(
        &mut self,
        checked: &CheckedHeader,
        body: &[OpaqueExtrinsic],
        nodes: &[(Hash, Vec<u8>)],
    ) -> Result<bool, StoreError> {
        let best = self.engine.would_be_best(checked);
        let old_best = self.store.meta()?.best_hash;
        let retracted = if best && checked.header().parent_hash != old_best {
            self.branch_extrinsics(old_best, checked.header().parent_hash)?
        } else {
            Vec::new()
        };
        self.store.commit_block(BlockCommit {
            header: checked.header(),
            body,
            nodes,
            consensus: &checked.data().encode(),
            set_best: best,
        })?;
        if best {
            if let Err(err) = learn_substitutes(&self.store, &self.substitutes) {
                tracing::error!(%err, "the code a substitute replaces was not read");
            }
        }
        for output in self.engine.insert(checked.clone()) {
            if let authorship::Output::ReportEquivocation(equivocation) = output {
                tracing::warn!(
                    author = %equivocation.offender,
                    slot = equivocation.slot,
                    "an authority sealed two blocks for one slot: reporting it"
                );
                self.report(crate::offences::authorship_report(*equivocation));
            }
        }
        self.retract(retracted);
        // The block is imported whatever follows: a failure here is logged, not returned.
        let reverting = self
            .concluded_invalid(&checked.header().hash())
            .and_then(|invalid| {
                invalid
                    .iter()
                    .try_for_each(|candidate| self.revert_including(candidate))
            });
        if let Err(err) = reverting {
            tracing::error!(%err, "reverting the blocks of a candidate found invalid failed");
        }
        Ok(self.engine.best() == checked.header().hash())
    }

    /// What block `at` did with candidates, as its runtime says.
    pub fn candidate_events(&self, at: &Hash) -> Result<Vec<CandidateEvent>, QueryError> {
        self.runtime_query(at, runtime_api::CANDIDATE_EVENTS, &())
    }

    /// The candidates block `at` recorded as concluded invalid by a dispute.
    fn concluded_invalid(&self, at: &Hash) -> Result<Vec<Hash>, QueryError> {
        Ok(self
            .candidate_events(at)?
            .into_iter()
            .filter_map(|event| match event {
                CandidateEvent::DisputeConcluded {
                    candidate_hash,
                    valid: false,
                } => Some(candidate_hash),
                _ => None,
            })
            .collect())
    }

    /// Reverts every block above the finalized one that included `candidate`.
    fn revert_including(&mut self, candidate: &Hash) -> Result<(), QueryError> {
        let blocks: Vec<Hash> = self
            .engine
            .tree()
            .hashes()
            .filter(|block| !self.engine.is_reverted(block))
            .copied()
            .collect();
        for block in blocks {
            let included = self.candidate_events(&block)?.into_iter().any(|event| {
                matches!(event, CandidateEvent::Included { candidate_hash, .. }
                    if candidate_hash == *candidate)
            });
            if included {
                tracing::warn!(%block, %candidate, "reverting a block that included a candidate found invalid on chain");
                self.revert(block)?;
            }
        }
        Ok(())
    }

    /// The extrinsics of the blocks on `old`'s branch that are not ancestors of `new`.
    fn branch_extrinsics(&self, old: Hash, new: Hash) -> Result<Vec<OpaqueExtrinsic>, StoreError> {
        let header = |hash: Hash| {
            self.store
                .header(&hash)?
                .ok_or(StoreError::MissingBlock(hash))
        };
        let (mut a, mut b) = (header(old)?, header(new)?);
        let mut extrinsics = Vec::new();
        while a.hash() != b.hash() {
            if a.number >= b.number {
                extrinsics.extend(self.store.body(&a.hash())?.unwrap_or_default());
                if a.number == 0 {
                    break;
                }
                a = header(a.parent_hash)?;
            } else {
                b = header(b.parent_hash)?;
            }
        }
        Ok(extrinsics)
    }

    /// Queues a report (an unsigned extrinsic: an equivocation, or this validator's approval
    /// tally) for the blocks this node authors, where it stays until included or refused.
    pub fn report(&mut self, report: OpaqueExtrinsic) {
        if self.reports.contains(&report) {
            return;
        }
        if self.reports.len() >= MAX_PENDING_REPORTS {
            self.reports.pop_front();
        }
        self.reports.push_back(report);
    }

    /// The reports waiting for a block this node authors.
    pub fn pending_reports(&self) -> usize {
        self.reports.len()
    }

    /// Keeps the extrinsics of blocks that left the best chain: transactions for the pool,
    /// reports for this node's next blocks (each is made once).
    fn retract(&mut self, extrinsics: Vec<OpaqueExtrinsic>) {
        let (reports, transactions): (Vec<OpaqueExtrinsic>, Vec<OpaqueExtrinsic>) =
            extrinsics.into_iter().partition(crate::offences::is_report);
        for report in reports {
            self.report(report);
        }
        self.retracted.extend(transactions);
    }

    /// Takes the extrinsics of blocks that left the best chain in a reorg: resubmitted, no
    /// transaction is lost with a losing fork.
    pub fn take_retracted(&mut self) -> Vec<OpaqueExtrinsic> {
        std::mem::take(&mut self.retracted)
    }

    /// Claims the slot current at `now_ms` if this node's key may author it.
    pub fn claim_slot(&mut self, now_ms: u64) -> Option<SlotClaim> {
        self.engine.set_time(now_ms);
        let slot = self.engine.config().slot_at(now_ms);
        self.claim(slot)
    }

    fn claim(&mut self, slot: u64) -> Option<SlotClaim> {
        match self.engine.claim(slot)? {
            authorship::Output::AuthorBlock {
                parent,
                slot,
                pre_digest,
                author,
            } => {
                // A disabled validator stands down: others would refuse its block.
                let index =
                    PreDigest::from_logs(std::slice::from_ref(&pre_digest))?.authority_index();
                let parent_header = self.store.header(&parent).ok()??;
                if self.is_disabled_at(&parent_header, index).unwrap_or(false) {
                    tracing::debug!(slot, "disabled: not authoring");
                    return None;
                }
                // Only with a key the chain says is this validator's: a key it holds that
                // another stash registered would claim that stash's seat.
                let mut state = State::new(&self.store, parent_header.state_root);
                let owner = session::KEY_OWNER
                    .get(&mut state, &(*b"babe", author))
                    .ok()?;
                if self.validator.is_some() && owner != self.validator {
                    tracing::warn!(slot, %author, "an authorship key of another stash: not authoring");
                    return None;
                }
                Some(SlotClaim {
                    parent,
                    slot,
                    pre_digest,
                    author,
                })
            }
            _ => None,
        }
    }

    /// Whether the validator at authority `index` is disabled in the state of block `at`, as
    /// its runtime says.
    fn is_disabled_at(&self, at: &Header, index: u32) -> Result<bool, QueryError> {
        let export = tessera_relay_chain::runtime_api::DISABLED_VALIDATORS;
        let disabled: Vec<u32> = self.runtime_query(&at.hash(), export, &())?;
        Ok(disabled.contains(&index))
    }

    /// Claims the slot right after the best block's, whatever the time, and authors a block in
    /// it (for tests, benchmarks and tools that build chains faster than real time; the slot
    /// must not be in the future).
    pub fn author_next(&mut self, pool: &mut Pool) -> Result<Authored, AuthorError> {
        self.author_next_with(pool, Vec::new())
    }

    /// [`Self::author_next`] with `inherents` (see [`Self::author_block_with`]).
    pub fn author_next_with(
        &mut self,
        pool: &mut Pool,
        inherents: Vec<OpaqueExtrinsic>,
    ) -> Result<Authored, AuthorError> {
        let best = self.engine.best();
        let next = self
            .engine
            .slot_of(&best)
            .unwrap_or_default()
            .saturating_add(1);
        let claim = self.claim(next).ok_or(AuthorError::NotClaimable(next))?;
        self.author_block_with(pool, claim, inherents)
    }

    /// Builds a block in a claimed slot from `pool`, seals it with this node's key and imports
    /// it.
    pub fn author_block(
        &mut self,
        pool: &mut Pool,
        claim: SlotClaim,
    ) -> Result<Authored, AuthorError> {
        self.author_block_with(pool, claim, Vec::new())
    }

    /// [`Self::author_block`], with `inherents` first (an inherent that fails is left out, so a
    /// stale one never stops block production).
    pub fn author_block_with(
        &mut self,
        pool: &mut Pool,
        claim: SlotClaim,
        inherents: Vec<OpaqueExtrinsic>,
    ) -> Result<Authored, AuthorError> {
        self.author_block_until(pool, claim, inherents, None)
    }

    /// [`Self::author_block_with`], taking no more transactions once `deadline` has passed
    /// or the block is full: the rest wait in the pool for later blocks. A block that takes
    /// too long to build takes as long for every peer to import, and the chain stalls.
    pub fn author_block_until(
        &mut self,
        pool: &mut Pool,
        claim: SlotClaim,
        inherents: Vec<OpaqueExtrinsic>,
        deadline: Option<std::time::Instant>,
    ) -> Result<Authored, AuthorError> {
        let key = self
            .engine
            .key_of(&claim.author)
            .cloned()
            .ok_or(AuthorError::NotClaimable(claim.slot))?;
        let parent = self
            .store
            .header(&claim.parent)?
            .ok_or(StoreError::MissingBlock(claim.parent))?;
        // The inherents first (one that fails is left out), then the reports
        // (likewise), then the pool in order.
        // At most `MAX_BUILD_INPUT` bytes, the inherents always: a transaction that does not
        // fit in what is left waits for a later block, and those behind it still get their
        // turn. Transactions waiting for a missing nonce are not offered.
        let inherent_count = inherents.len();
        let mut inherents = inherents;
        let mut left = MAX_BUILD_INPUT.saturating_sub(inherents.iter().map(|xt| xt.0.len()).sum());
        let reports: Vec<OpaqueExtrinsic> = self
            .reports
            .iter()
            .filter(|xt| {
                let fits = xt.0.len() <= left;
                if fits {
                    left = left.saturating_sub(xt.0.len());
                }
                fits
            })
            .cloned()
            .collect();
        let offered_reports = inherent_count..inherent_count.saturating_add(reports.len());
        inherents.extend(reports);
        let pooled = pool.ordered().into_iter().filter(|(hash, xt)| {
            let fits = !pool.is_waiting(hash) && xt.0.len() <= left;
            if fits {
                left = left.saturating_sub(xt.0.len());
            }
            fits
        });
        let unpooled = inherents.len();
        let (mut hashes, extrinsics): (Vec<Option<Hash>>, Vec<OpaqueExtrinsic>) = inherents
            .into_iter()
            .map(|xt| (None, xt))
            .chain(pooled.map(|(hash, xt)| (Some(hash), xt)))
            .unzip();
        let mut request = BuildRequest {
            parent: parent.clone(),
            author: self.validator.or(Some(key.public())),
            extrinsics,
            pre_runtime: vec![claim.pre_digest.clone()],
        };
        let deadline = deadline.unwrap_or_else(|| Instant::now() + UNHURRIED_BUILD);
        let root = parent.state_root;
        let build = |request: &BuildRequest| {
            let substitutes = &self.substitutes;
            with_runtime_at(
                self.nodes(),
                root,
                substitutes,
                |host, code_hash, code, nodes| {
                    host.build_block(code_hash, code, nodes, request, false, deadline)
                },
            )
        };
        let mut failed = Vec::new();
        let mut refused_reports = Vec::new();
        let mut built = match build(&request) {
            Ok(built) => built,
            // The runtime failed on something the pool offered (it should refuse a bad
            // transaction, not fail on it): the chain goes on with the inherents and reports
            // alone, and with the inherents alone if it fails again. What was offered is
            // dropped, as one of them cannot be told from the rest: kept, it would fail every
            // later block of this author too.
            Err(err) if !err.is_local() && request.extrinsics.len() > unpooled => {
                tracing::warn!(%err, "the runtime failed building with the pool: without it");
                request.extrinsics.truncate(unpooled);
                let reason = format!("the runtime failed building a block with it: {err}");
                for hash in hashes.drain(unpooled..).flatten() {
                    pool.remove(&hash);
                    failed.push((hash, reason.clone()));
                }
                match build(&request) {
                    Ok(built) => built,
                    Err(err) if !err.is_local() && unpooled > inherent_count => {
                        tracing::warn!(%err, "the runtime failed building with reports: inherents only");
                        refused_reports.extend(request.extrinsics.drain(inherent_count..));
                        hashes.truncate(inherent_count);
                        build(&request)?
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            // Nothing came from the pool: the reports go, and the inherents alone are built.
            Err(err) if !err.is_local() && request.extrinsics.len() > inherent_count => {
                tracing::warn!(%err, "the runtime failed building with reports: inherents only");
                refused_reports.extend(request.extrinsics.drain(inherent_count..));
                hashes.truncate(inherent_count);
                build(&request)?
            }
            Err(err) => return Err(err.into()),
        };
        self.reports.retain(|xt| !refused_reports.contains(xt));
        let mut dropped = failed;
        let mut left_out = HashSet::new();
        let mut waiting_reports = Vec::new();
        for (index, reason) in &built.rejected {
            left_out.insert(*index);
            match hashes.get(*index) {
                // A report refused is false, known or too old; one that did not fit waits.
                Some(None) if offered_reports.contains(index) => {
                    if reason.is_block_full() {
                        waiting_reports.extend(request.extrinsics.get(*index).cloned());
                    } else {
                        tracing::info!(%reason, "report refused");
                    }
                }
                Some(None) => tracing::warn!(%reason, "inherent left out of the block"),
                // Waits for the next block's weight, or for an earlier nonce.
                Some(Some(_))
                    if reason.is_block_full()
                        || matches!(reason, InvalidTransaction::Future { .. }) => {}
                Some(Some(hash)) => {
                    pool.remove(hash);
                    dropped.push((*hash, reason.to_string()));
                }
                None => {}
            }
        }
        let included: Vec<Hash> = hashes
            .iter()
            .take(built.tried)
            .enumerate()
            .filter(|(index, _)| !left_out.contains(index))
            .filter_map(|(_, hash)| *hash)
            .collect();
        let extrinsics = std::mem::take(&mut built.block.extrinsics);
        // The runtime's header (the slot claim, the author digest and the runtime's consensus
        // logs), sealed.
        let header = seal_header(&key, built.block.header);
        let checked = self
            .engine
            .check(&header)
            .map_err(|e| Box::new(ImportError::from(e)))?;
        self.commit(&checked, &extrinsics, &built.changes.new_nodes)?;
        for hash in &included {
            pool.remove(hash);
        }
        // The reports the runtime tried are settled (included, or refused for good), but for
        // those that did not fit.
        let tried = offered_reports.start..offered_reports.end.min(built.tried);
        let settled: Vec<&OpaqueExtrinsic> = request
            .extrinsics
            .get(tried)
            .unwrap_or_default()
            .iter()
            .filter(|xt| !waiting_reports.contains(*xt))
            .collect();
        self.reports.retain(|xt| !settled.contains(&xt));
        let pruned = self.prune_pool(pool);
        dropped.extend(
            pruned
                .into_iter()
                .map(|(hash, why)| (hash, why.to_string())),
        );
        Ok(Authored {
            block: Block { header, extrinsics },
            dropped,
        })
    }

    /// Marks block `hash` (and so its ancestors) finalized, storing its justification; the
    /// best block moves onto the finalized chain if it was on another fork. `None` if `hash`
    /// is not above the finalized block.
    pub fn finalize(
        &mut self,
        hash: &Hash,
        justification: Option<&[u8]>,
    ) -> Result<Option<Finalized>, StoreError> {
        let meta = self.store.meta()?;
        let header = self
            .store
            .header(hash)?
            .ok_or(StoreError::MissingBlock(*hash))?;
        if header.number <= meta.finalized_number {
            return Ok(None);
        }
        // The store is written first: if that fails, the engine keeps the forks it would
        // have pruned, and the node's view stays what the store says.
        let best = self.engine.best_once_finalized(hash);
        let new_best = if best != meta.best_hash && self.engine.contains(&best) {
            Some(
                self.store
                    .header(&best)?
                    .ok_or(StoreError::MissingBlock(best))?,
            )
        } else {
            None
        };
        let retracted = match &new_best {
            Some(new_best) => self.branch_extrinsics(meta.best_hash, new_best.hash())?,
            None => Vec::new(),
        };
        let meta = self
            .store
            .finalize(hash, justification, new_best.as_ref())?;
        self.retract(retracted);
        self.engine.handle(authorship::Input::Finalized(*hash));
        Ok(Some(Finalized {
            best_changed: new_best.is_some(),
            meta,
        }))
    }

    /// Reverts block `hash` and its descendants (it included a candidate a dispute found
    /// invalid): the best block moves to the best chain without it, which authors build on,
    /// and the reverted blocks' transactions go back to the pool. Kept across restarts. The
    /// new best header if it changed.
    pub fn revert(&mut self, hash: Hash) -> Result<Option<Header>, StoreError> {
        let mut reverted = self.reverted_blocks()?;
        if !reverted.contains(&hash) {
            reverted.push(hash);
            let excess = reverted.len().saturating_sub(MAX_REVERTED_KEPT);
            reverted.drain(..excess);
            self.store.set_aux(REVERTED_KEY, &reverted.encode())?;
        }
        let old_best = self.store.meta()?.best_hash;
        self.engine.revert(hash);
        let best = self.engine.best();
        if best == old_best {
            return Ok(None);
        }
        let header = self
            .store
            .header(&best)?
            .ok_or(StoreError::MissingBlock(best))?;
        let retracted = self.branch_extrinsics(old_best, best)?;
        self.store.set_best(&header)?;
        self.retract(retracted);
        self.reverts = self.reverts.wrapping_add(1);
        Ok(Some(header))
    }

    /// Reverts that moved the best block since start (sync uses it to stop believing peers
    /// that claimed the reverted blocks).
    pub fn reverts(&self) -> u64 {
        self.reverts
    }

    /// Blocks reverted, oldest first (at most [`MAX_REVERTED_KEPT`]).
    fn reverted_blocks(&self) -> Result<Vec<Hash>, StoreError> {
        self.store
            .aux(REVERTED_KEY)?
            .map(|bytes| {
                Vec::<Hash>::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt {
                    what: "reverted blocks",
                    reason: e.to_string(),
                })
            })
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// The justification that finalized block `hash`, if one is stored.
    pub fn justification(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.justification(hash)
    }
}

fn block_data(store: &ChainStore, hash: &Hash) -> Result<BlockData, StoreError> {
    let bytes = store
        .consensus_data(hash)?
        .ok_or(StoreError::MissingBlock(*hash))?;
    BlockData::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt {
        what: "authorship data",
        reason: e.to_string(),
    })
}

/// Has `substitutes` learn the code each replaces from the best chain's block at its height,
/// once the best chain reaches it (on a restart, from the chain on disk).
fn learn_substitutes(
    store: &ChainStore,
    substitutes: &CodeSubstitutes,
) -> Result<(), ExecutionError> {
    for from in substitutes.unlearned() {
        let block = store
            .canonical_hash(from)
            .and_then(|hash| hash.map(|hash| store.header(&hash)).transpose())
            .map_err(|e| ExecutionError::Store(e.to_string()))?
            .flatten();
        if let Some(header) = block {
            substitutes.learn(store, from, header.state_root)?;
        }
    }
    Ok(())
}

/// Calls the read-only runtime API function `export` (which returns `Result<T, String>`) of
/// the runtime under `:code` at state `root` in `nodes`; its error comes back as
/// [`ExecutionError::Refused`].
fn query_at<T: Decode>(
    nodes: Arc<dyn NodeStore>,
    substitutes: &CodeSubstitutes,
    root: Hash,
    export: &str,
    input: &impl Encode,
) -> Result<T, ExecutionError> {
    with_runtime_at(nodes, root, substitutes, |host, code_hash, code, nodes| {
        host.query::<Result<T, String>>(code_hash, code, nodes, root, export, input)
    })?
    .map_err(ExecutionError::Refused)
}

/// A block's state and the runtime it runs, to call read-only runtime functions on without
/// holding the chain (RPC queries run there: a caller must not hold up import and authoring
/// for as long as its calls take).
#[derive(Clone)]
pub struct RuntimeAt {
    nodes: Arc<dyn NodeStore>,
    root: Hash,
    substitutes: Arc<CodeSubstitutes>,
}

impl RuntimeAt {
    /// The state at `root` in `nodes`, run by its `:code` or the chain spec's substitute.
    pub fn new(nodes: Arc<dyn NodeStore>, root: Hash, substitutes: Arc<CodeSubstitutes>) -> Self {
        RuntimeAt {
            nodes,
            root,
            substitutes,
        }
    }

    /// Runtime function `export`'s answer to `input`, decoded as `T` (the function returns
    /// `Result<T, String>`; its error comes back as [`ExecutionError::Refused`]).
    pub fn query<T: Decode>(&self, export: &str, input: &impl Encode) -> Result<T, QueryError> {
        Ok(query_at(
            self.nodes.clone(),
            &self.substitutes,
            self.root,
            export,
            input,
        )?)
    }

    /// The runtime's name and version (`Core_version`, which answers without a `Result`).
    pub fn version(&self) -> Result<VersionInfo, QueryError> {
        let root = self.root;
        Ok(with_runtime_at(
            self.nodes.clone(),
            root,
            &self.substitutes,
            |host, code_hash, code, nodes| {
                host.query(code_hash, code, nodes, root, api::CORE_VERSION, &())
            },
        )?)
    }

    /// Runtime function `export`'s answer to `input` (already SCALE-encoded), as bytes.
    pub fn call(&self, export: &str, input: &[u8]) -> Result<Vec<u8>, QueryError> {
        let RawAnswer(answer) = self.query(export, &RawInput(input))?;
        Ok(answer)
    }
}

/// Bytes passed to a runtime function as they are, already encoded.
pub struct RawInput<'a>(pub &'a [u8]);

impl Encode for RawInput<'_> {
    fn size_hint(&self) -> usize {
        self.0.len()
    }

    fn encode_to<T: parity_scale_codec::Output + ?Sized>(&self, dest: &mut T) {
        dest.write(self.0);
    }
}

/// A runtime function's answer, kept encoded: all the bytes that follow.
pub struct RawAnswer(pub Vec<u8>);

impl Decode for RawAnswer {
    fn decode<I: parity_scale_codec::Input>(
        input: &mut I,
    ) -> Result<Self, parity_scale_codec::Error> {
        let len = input
            .remaining_len()?
            .ok_or("the length of a runtime answer is known")?;
        let mut bytes = vec![0; len];
        input.read(&mut bytes)?;
        Ok(RawAnswer(bytes))
    }
}

/// Why a state query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The block or its data is missing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state could not be read.
    #[error("state: {0}")]
    State(#[from] tessera_runtime::Error),
    /// The runtime could not answer.
    #[error(transparent)]
    Runtime(#[from] ExecutionError),
}
