//! The client: the chain store plus the relay runtime — import with full checks, block
//! authoring from the pool, and state queries.

use crate::pool::{Pool, PoolError};
use crate::store::{BlockCommit, ChainMeta, ChainStore, Database, StoreError};
use parity_scale_codec::{Decode, Encode};
use tessera_relay_chain::{session, Genesis, RelayRuntime};
use tessera_runtime::block::extrinsics_root;
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::{
    block_author, execute_block, ApplyError, BlockError, Executive, InvalidTransaction,
    AUTHOR_ENGINE,
};
use tessera_runtime::header::EngineId;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::state::State;
use tessera_runtime::{
    AccountId, Balance, Block, Digest, DigestItem, Hash, Header, OpaqueExtrinsic, Signature,
};

/// Seal digest: the author's sr25519 signature over the hash of the header without the seal.
pub const SEAL_ENGINE: EngineId = *b"seal";

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
    /// The header names no author.
    #[error("header has no author digest")]
    MissingAuthor,
    /// The author is not in the parent state's validator set.
    #[error("author {0} is not a validator")]
    UnknownAuthor(AccountId),
    /// The header carries no seal.
    #[error("header has no seal")]
    MissingSeal,
    /// The seal is not the author's signature of the header.
    #[error("seal does not verify as the author's signature of the header")]
    BadSeal,
    /// Executing the block failed or disagreed with its header.
    #[error(transparent)]
    Execution(#[from] BlockError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    /// Transactions dropped from the pool as invalid, with why.
    pub dropped: Vec<(Hash, InvalidTransaction)>,
}

/// The relay chain's store and runtime.
pub struct Client {
    store: ChainStore,
}

impl Client {
    /// Opens the chain in `db`, writing `genesis` if it is empty.
    pub fn open(db: Box<dyn Database>, genesis: &Genesis) -> Result<Client, StoreError> {
        let store = ChainStore::open(db, &genesis.header, &genesis.state.new_nodes)?;
        Ok(Client { store })
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
        let Some(header) = self.store.header(hash)? else {
            return Ok(None);
        };
        let extrinsics = self
            .store
            .body(hash)?
            .ok_or(StoreError::MissingBlock(*hash))?;
        Ok(Some(Block { header, extrinsics }))
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

    /// Checks a transaction against the best state and adds it to `pool`.
    pub fn submit(&self, pool: &mut Pool, xt: OpaqueExtrinsic) -> Result<Hash, PoolError> {
        let info = self.validate(&xt)?;
        pool.insert(xt, info)
    }

    fn validate(
        &self,
        xt: &OpaqueExtrinsic,
    ) -> Result<tessera_runtime::executive::ValidTransaction, PoolError> {
        let best = self
            .best_header()
            .map_err(|e| PoolError::State(e.to_string()))?;
        let state = State::new(&self.store, best.state_root);
        let mut executive = Executive::<RelayRuntime>::initialize(
            state,
            best.number.saturating_add(1),
            best.hash(),
            None,
        )
        .map_err(|e| PoolError::State(e.to_string()))?;
        executive.validate(xt).map_err(|err| match err {
            ApplyError::Invalid(invalid) => PoolError::Invalid(invalid),
            ApplyError::State(err) => PoolError::State(err.to_string()),
        })
    }

    /// Drops transactions that the new best state makes invalid (used nonces, empty
    /// accounts); those waiting for earlier nonces stay.
    pub fn prune_pool(&self, pool: &mut Pool) -> Vec<(Hash, InvalidTransaction)> {
        let mut dropped = Vec::new();
        for (hash, xt) in pool.all() {
            // A state error says nothing about the transaction: keep it.
            if let Err(PoolError::Invalid(reason)) = self.validate(&xt) {
                pool.remove(&hash);
                dropped.push((hash, reason));
            }
        }
        dropped
    }

    /// Decodes and imports a block from bytes.
    pub fn import_encoded(&mut self, bytes: &[u8]) -> Result<ImportOutcome, ImportError> {
        let block =
            Block::decode(&mut &bytes[..]).map_err(|e| ImportError::Decode(e.to_string()))?;
        self.import_block(&block)
    }

    /// Imports a block after checking parent, number, author, seal, extrinsics root, every
    /// signature, execution and state root. A rejected block changes nothing.
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
        self.check_seal(header, &parent)?;
        let changes = execute_block::<RelayRuntime>(&self.store, parent.state_root, block, false)?;
        let meta = self.store.meta()?;
        let best = header.number > meta.best_number;
        self.store.commit_block(BlockCommit {
            header,
            body: &block.extrinsics,
            nodes: &changes.new_nodes,
            set_best: best,
            finalize: false,
        })?;
        Ok(ImportOutcome::Imported { best })
    }

    fn check_seal(&self, header: &Header, parent: &Header) -> Result<(), ImportError> {
        let author = block_author(header)?.ok_or(ImportError::MissingAuthor)?;
        let mut state = State::new(&self.store, parent.state_root);
        let validators = session::validators(&mut state).map_err(BlockError::State)?;
        if !validators.contains(&author) {
            return Err(ImportError::UnknownAuthor(author));
        }
        let (unsealed, engine, seal) = header.split_seal().ok_or(ImportError::MissingSeal)?;
        if engine != SEAL_ENGINE {
            return Err(ImportError::MissingSeal);
        }
        let signature = <[u8; 64]>::try_from(seal.as_slice()).map_err(|_| ImportError::BadSeal)?;
        if !author.verify(&unsealed.hash().0, &Signature(signature)) {
            return Err(ImportError::BadSeal);
        }
        Ok(())
    }

    /// Builds a block on the best block from `pool`, seals it with `author` and imports it
    /// (as finalized when `finalize`: a single-authority chain finalizes its own blocks).
    pub fn author_block(
        &mut self,
        author: &Pair,
        pool: &mut Pool,
        finalize: bool,
    ) -> Result<Authored, AuthorError> {
        let parent = self.best_header()?;
        let parent_hash = parent.hash();
        let number = parent.number.saturating_add(1);
        let state = State::new(&self.store, parent.state_root);
        let mut executive = Executive::<RelayRuntime>::initialize(
            state,
            number,
            parent_hash,
            Some(author.public()),
        )?;
        let mut extrinsics = Vec::new();
        let mut included = Vec::new();
        let mut dropped = Vec::new();
        for (hash, xt) in pool.ordered() {
            match executive.apply(&xt) {
                Ok(_call_outcome) => {
                    extrinsics.push(xt);
                    included.push(hash);
                }
                // Waits for an earlier nonce, or for the next block's weight.
                Err(ApplyError::Invalid(
                    InvalidTransaction::Future { .. }
                    | InvalidTransaction::ExhaustsResources { .. },
                )) => {}
                Err(ApplyError::Invalid(reason)) => {
                    pool.remove(&hash);
                    dropped.push((hash, reason));
                }
                Err(ApplyError::State(err)) => return Err(err.into()),
            }
        }
        let changes = executive.finalize()?;
        let mut header = Header {
            parent_hash,
            number,
            state_root: changes.root,
            extrinsics_root: extrinsics_root(&extrinsics),
            digest: Digest {
                logs: vec![DigestItem::PreRuntime(
                    AUTHOR_ENGINE,
                    author.public().encode(),
                )],
            },
        };
        let seal = author.sign(&header.hash().0);
        header
            .digest
            .logs
            .push(DigestItem::Seal(SEAL_ENGINE, seal.0.to_vec()));
        self.store.commit_block(BlockCommit {
            header: &header,
            body: &extrinsics,
            nodes: &changes.new_nodes,
            set_best: true,
            finalize,
        })?;
        for hash in &included {
            pool.remove(hash);
        }
        dropped.extend(self.prune_pool(pool));
        Ok(Authored {
            block: Block { header, extrinsics },
            dropped,
        })
    }

    /// Marks block `hash` (and so its ancestors) finalized.
    pub fn finalize(&mut self, hash: &Hash) -> Result<ChainMeta, StoreError> {
        self.store.set_finalized(hash)
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
}
