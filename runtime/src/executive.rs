//! Block execution shared by every runtime: validate and apply extrinsics, pay fees, keep
//! events, and check a block's roots.
//!
//! A runtime names its call and event types and constants by implementing [`Runtime`]; the
//! functions here do the rest. The same code builds blocks (author), imports them (every
//! node) and re-executes them against a storage proof (parachain validation).

use crate::block::{extrinsics_root, Block, OpaqueExtrinsic};
use crate::crypto::{verify_batch, AccountId};
use crate::dispatch::{
    CallError, Context, Dispatch, DispatchError, Origin, Phase, RuntimeConfig, Weight,
};
use crate::error::Error;
use crate::extrinsic::{signing_payload, ChainContext, Era, Extrinsic, SignatureData};
use crate::hashing::Hash;
use crate::header::{BlockNumber, EngineId, Header};
use crate::modules::balances::{self, Existence};
use crate::modules::system;
use crate::state::{NodeStore, State, StateChanges};
use crate::{Balance, Nonce, RuntimeVersion};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Debug;
use parity_scale_codec::{Decode, Encode};

/// Pre-runtime digest naming the block author (its SCALE-encoded [`AccountId`]), who is paid
/// the block's fees.
pub const AUTHOR_ENGINE: EngineId = *b"auth";

/// What a runtime declares to use the executive.
pub trait Runtime {
    /// All calls of the runtime, usually an enum over its modules' calls.
    type Call: Dispatch<Self::Event> + Encode + Decode + Clone + Debug;
    /// All events of the runtime.
    type Event: From<system::Event> + From<balances::Event> + Encode + Decode + Clone + Debug;
    /// Name and version; the version is part of every signed payload.
    const VERSION: RuntimeVersion;
    /// Constants: existential deposit, fees, block weight.
    const CONFIG: RuntimeConfig;
    /// The runtime's Wasm blob, which genesis puts under [`crate::storage::CODE_KEY`] and
    /// nodes execute: empty where none is embedded (the blob itself, and test runtimes, which
    /// run natively only).
    const CODE: &'static [u8] = &[];
}

/// Why a transaction cannot be included (it is dropped, or the block containing it rejected).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, thiserror::Error)]
pub enum InvalidTransaction {
    /// The bytes are not an extrinsic of this runtime.
    #[error("extrinsic does not decode: {0}")]
    Malformed(String),
    /// Unsigned, but not an inherent.
    #[error("unsigned extrinsic: only inherents may be unsigned")]
    Unsigned,
    /// The signature does not verify for this payload on this chain (genesis hash, spec
    /// version, era birth block).
    #[error("bad signature: it does not verify for this payload on this chain and runtime")]
    BadSignature,
    /// The nonce was used already (a replay, or a transaction superseded by another).
    #[error("nonce {got} is stale: the account's next nonce is {expected}")]
    Stale {
        /// The account's next nonce.
        expected: Nonce,
        /// The transaction's nonce.
        got: Nonce,
    },
    /// The nonce is ahead of the account's: valid later, not yet.
    #[error("nonce {got} is in the future: the account's next nonce is {expected}")]
    Future {
        /// The account's next nonce.
        expected: Nonce,
        /// The transaction's nonce.
        got: Nonce,
    },
    /// The block is outside the transaction's era.
    #[error("outside its era: valid in blocks {first}..={last}, this is block {now}")]
    OutsideEra {
        /// First valid block.
        first: BlockNumber,
        /// Last valid block.
        last: BlockNumber,
        /// The block it was checked for.
        now: BlockNumber,
    },
    /// The signer cannot pay the fee and tip.
    #[error("cannot pay {needed} in fee and tip with a free balance of {free}")]
    Payment {
        /// Fee plus tip.
        needed: Balance,
        /// The signer's free balance.
        free: Balance,
    },
    /// An inherent whose call failed: the block that contains it is invalid.
    #[error("inherent failed: {0}")]
    InherentFailed(DispatchError),
    /// The call's weight does not fit in what is left of the block.
    #[error("call weight {weight} exceeds what is left of the block ({left})")]
    ExhaustsResources {
        /// The call's weight.
        weight: Weight,
        /// Weight left.
        left: Weight,
    },
}

/// Extrinsics skipped after a block was first found full before its builder stops: a smaller
/// one further on may still fit, but searching a full pool costs more than it gains.
pub const MAX_SKIPPED_FULL: usize = 8;

/// Tells a block builder when its block is full: once an extrinsic did not fit, after
/// [`MAX_SKIPPED_FULL`] refusals (for any reason) with none included between them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FullBlock {
    seen_full: bool,
    skipped: usize,
}

impl FullBlock {
    /// Notes an extrinsic included.
    pub fn included(&mut self) {
        self.skipped = 0;
    }

    /// Notes an extrinsic refused for `reason`.
    pub fn rejected(&mut self, reason: &InvalidTransaction) {
        if matches!(reason, InvalidTransaction::ExhaustsResources { .. }) {
            self.seen_full = true;
        }
        if self.seen_full {
            self.skipped = self.skipped.saturating_add(1);
        }
    }

    /// Whether to stop taking extrinsics.
    pub fn is_full(&self) -> bool {
        self.skipped >= MAX_SKIPPED_FULL
    }
}

/// Why an extrinsic could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The transaction is invalid; nothing changed.
    #[error(transparent)]
    Invalid(#[from] InvalidTransaction),
    /// State could not be read; the block cannot be executed.
    #[error(transparent)]
    State(#[from] Error),
}

/// Why a block is rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header's extrinsics root is not the root of its body.
    #[error("extrinsics root mismatch: header has {header}, body gives {computed}")]
    ExtrinsicsRoot {
        /// In the header.
        header: Hash,
        /// Of the body.
        computed: Hash,
    },
    /// An extrinsic is invalid.
    #[error("extrinsic {index} is invalid: {error}")]
    InvalidExtrinsic {
        /// Its index in the body.
        index: u32,
        /// Why.
        error: InvalidTransaction,
    },
    /// Executing the block gives another state root than the header's.
    #[error("state root mismatch: header has {header}, execution gives {computed}")]
    StateRoot {
        /// In the header.
        header: Hash,
        /// After execution.
        computed: Hash,
    },
    /// The author digest does not decode.
    #[error("author pre-runtime digest does not decode as an account")]
    BadAuthorDigest,
    /// State could not be read (e.g. a node missing from a proof).
    #[error("state: {0}")]
    State(#[from] Error),
}

/// A transaction that may enter the pool.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ValidTransaction {
    /// The signer.
    pub signer: AccountId,
    /// Its nonce.
    pub nonce: Nonce,
    /// The signer's next nonce now; `nonce > next_nonce` means it waits for others.
    pub next_nonce: Nonce,
    /// Its tip, which orders transactions among senders.
    pub tip: Balance,
    /// Last block it may be included in, if mortal.
    pub last_valid: Option<BlockNumber>,
}

/// The fee of a call of `weight` in an extrinsic of `len` bytes.
pub fn fee(config: &RuntimeConfig, weight: Weight, len: usize) -> Balance {
    config
        .base_fee
        .saturating_add(config.fee_per_weight.saturating_mul(Balance::from(weight)))
        .saturating_add(config.fee_per_byte.saturating_mul(len as Balance))
}

/// The author named in a header's [`AUTHOR_ENGINE`] pre-runtime digest, if any.
pub fn block_author(header: &Header) -> Result<Option<AccountId>, BlockError> {
    header
        .pre_runtime(AUTHOR_ENGINE)
        .map(|mut data| AccountId::decode(&mut data).map_err(|_| BlockError::BadAuthorDigest))
        .transpose()
}

/// A block in execution: initialize, apply extrinsics one by one, finalize.
pub struct Executive<'a, R: Runtime> {
    ctx: Context<'a, R::Event>,
    chain: ChainContext,
    author: Option<AccountId>,
    fees: Balance,
    weight: Weight,
    applied: u32,
}

impl<'a, R: Runtime> Executive<'a, R> {
    /// Starts block `number` on top of the parent whose hash is `parent_hash` and whose state
    /// is `state`; fees go to `author`.
    pub fn initialize(
        state: State<'a>,
        number: BlockNumber,
        parent_hash: Hash,
        author: Option<AccountId>,
    ) -> Result<Self, Error> {
        let mut ctx = Context::new(state, number, R::CONFIG);
        ctx.version = Some(R::VERSION);
        system::initialize(&mut ctx, number, parent_hash)?;
        let genesis_hash = system::BLOCK_HASH
            .get(&mut ctx.state, &0)?
            .unwrap_or(parent_hash);
        let chain = ChainContext {
            spec_version: R::VERSION.spec_version,
            genesis_hash,
            birth_hash: Hash::ZERO,
        };
        Ok(Executive {
            ctx,
            chain,
            author,
            fees: 0,
            weight: 0,
            applied: 0,
        })
    }

    /// Checks a transaction for this block without applying it.
    pub fn validate(&mut self, xt: &OpaqueExtrinsic) -> Result<ValidTransaction, ApplyError> {
        self.validate_with(xt, true)
    }

    /// [`Self::validate`] without the signature check, for a pool's transactions after each
    /// block: their signatures were checked on entry and cannot change.
    pub fn revalidate(&mut self, xt: &OpaqueExtrinsic) -> Result<ValidTransaction, ApplyError> {
        self.validate_with(xt, false)
    }

    fn validate_with(
        &mut self,
        xt: &OpaqueExtrinsic,
        verify_signature: bool,
    ) -> Result<ValidTransaction, ApplyError> {
        let extrinsic = decode::<R>(xt)?;
        let (data, _, _, account) = self.check(&extrinsic, xt.0.len(), verify_signature, true)?;
        let last_valid = match data.extra.era {
            Era::Immortal => None,
            Era::Mortal { birth, period } => Some(birth.saturating_add(period)),
        };
        Ok(ValidTransaction {
            signer: data.signer,
            nonce: data.extra.nonce,
            next_nonce: account.nonce,
            tip: data.extra.tip,
            last_valid,
        })
    }

    /// Applies one extrinsic. `Ok(Err(_))` is a call that failed but is included (fee paid);
    /// `Err(_)` is an extrinsic that must not be included, and changed nothing.
    pub fn apply(&mut self, xt: &OpaqueExtrinsic) -> Result<Result<(), DispatchError>, ApplyError> {
        let extrinsic = decode::<R>(xt)?;
        self.apply_decoded(extrinsic, xt.0.len(), true)
    }

    fn apply_decoded(
        &mut self,
        extrinsic: Extrinsic<R::Call>,
        len: usize,
        verify_signature: bool,
    ) -> Result<Result<(), DispatchError>, ApplyError> {
        if extrinsic.signature.is_none() {
            return self.apply_inherent(extrinsic.call).map(Ok);
        }
        let (data, weight, charge, mut account) =
            self.check(&extrinsic, len, verify_signature, false)?;
        let signer = data.signer;
        self.ctx.set_phase(Phase::ApplyExtrinsic(self.applied));

        // Nonce and fee in one write of the account record.
        account.nonce = account.nonce.saturating_add(1);
        let free = account.data.free;
        match balances::withdraw_from(
            &mut self.ctx,
            &signer,
            account,
            charge,
            Existence::AllowDeath,
        ) {
            Ok(()) => {}
            Err(CallError::State(err)) => return Err(err.into()),
            // `check` saw enough balance; nothing else ran since.
            Err(CallError::Dispatch(_)) => {
                return Err(InvalidTransaction::Payment {
                    needed: charge,
                    free,
                }
                .into())
            }
        }

        self.ctx.state.start_transaction();
        let events_before = self.ctx.event_count();
        let outcome = match extrinsic
            .call
            .dispatch(&mut self.ctx, Origin::Signed(signer))
        {
            Ok(()) => {
                self.ctx.state.commit_transaction()?;
                self.ctx
                    .deposit_event(system::Event::ExtrinsicSuccess { weight });
                Ok(())
            }
            Err(CallError::Dispatch(error)) => {
                self.ctx.state.rollback_transaction()?;
                self.ctx.truncate_events(events_before);
                self.ctx.deposit_event(system::Event::ExtrinsicFailed {
                    error: error.clone(),
                    weight,
                });
                Err(error)
            }
            Err(CallError::State(err)) => return Err(err.into()),
        };
        self.fees = self.fees.saturating_add(charge);
        self.weight = self.weight.saturating_add(weight);
        self.applied = self.applied.saturating_add(1);
        Ok(outcome)
    }

    /// Dispatches an unsigned inherent; it must succeed, or nothing changes and it is invalid.
    fn apply_inherent(&mut self, call: R::Call) -> Result<(), ApplyError> {
        if !call.is_inherent() {
            return Err(InvalidTransaction::Unsigned.into());
        }
        let weight = call.weight();
        let left = R::CONFIG.max_block_weight.saturating_sub(self.weight);
        if weight > left {
            return Err(InvalidTransaction::ExhaustsResources { weight, left }.into());
        }
        self.ctx.set_phase(Phase::ApplyExtrinsic(self.applied));
        self.ctx.state.start_transaction();
        let events_before = self.ctx.event_count();
        match call.dispatch(&mut self.ctx, Origin::None) {
            Ok(()) => {
                self.ctx.state.commit_transaction()?;
                self.ctx
                    .deposit_event(system::Event::ExtrinsicSuccess { weight });
            }
            Err(CallError::Dispatch(error)) => {
                self.ctx.state.rollback_transaction()?;
                self.ctx.truncate_events(events_before);
                return Err(InvalidTransaction::InherentFailed(error).into());
            }
            Err(CallError::State(err)) => return Err(err.into()),
        }
        self.weight = self.weight.saturating_add(weight);
        self.applied = self.applied.saturating_add(1);
        Ok(())
    }

    /// Signature data, weight and fee plus tip of a valid transaction.
    fn check<'x>(
        &mut self,
        extrinsic: &'x Extrinsic<R::Call>,
        len: usize,
        verify_signature: bool,
        allow_future: bool,
    ) -> Result<(&'x SignatureData, Weight, Balance, system::AccountInfo), ApplyError> {
        let data = extrinsic
            .signature
            .as_ref()
            .ok_or(InvalidTransaction::Unsigned)?;
        let birth_hash = self.check_era(&data.extra.era)?;
        let account = system::account(&mut self.ctx, &data.signer)?;
        let expected = account.nonce;
        let got = data.extra.nonce;
        if got < expected {
            return Err(InvalidTransaction::Stale { expected, got }.into());
        }
        if got > expected && !allow_future {
            return Err(InvalidTransaction::Future { expected, got }.into());
        }
        // The weight check is cheap: a full block refuses without verifying a signature.
        let weight = extrinsic.call.weight();
        let left = R::CONFIG.max_block_weight.saturating_sub(self.weight);
        if weight > left {
            return Err(InvalidTransaction::ExhaustsResources { weight, left }.into());
        }
        if verify_signature {
            let chain = ChainContext {
                birth_hash,
                ..self.chain
            };
            let payload = signing_payload(&extrinsic.call, &data.extra, &chain);
            if !data.signer.verify(&payload, &data.signature) {
                return Err(InvalidTransaction::BadSignature.into());
            }
        }
        let charge = fee(&R::CONFIG, weight, len).saturating_add(data.extra.tip);
        if account.data.free < charge {
            return Err(InvalidTransaction::Payment {
                needed: charge,
                free: account.data.free,
            }
            .into());
        }
        Ok((data, weight, charge, account))
    }

    /// The hash of the era's birth block, if this block is inside the era.
    fn check_era(&mut self, era: &Era) -> Result<Hash, ApplyError> {
        let now = self.ctx.block_number;
        let (birth, first, last) = match *era {
            Era::Immortal => return Ok(self.chain.genesis_hash),
            Era::Mortal { birth, period } => {
                let period = period.min(crate::extrinsic::MAX_ERA_PERIOD);
                (birth, birth.saturating_add(1), birth.saturating_add(period))
            }
        };
        if now < first || now > last {
            return Err(InvalidTransaction::OutsideEra { first, last, now }.into());
        }
        let hash = system::BLOCK_HASH.get(&mut self.ctx.state, &birth)?;
        hash.ok_or_else(|| InvalidTransaction::OutsideEra { first, last, now }.into())
    }

    /// Pays the author, stores the events and commits the state.
    pub fn finalize(mut self) -> Result<StateChanges, Error> {
        self.ctx.set_phase(Phase::Finalization);
        let fees = self.fees;
        let credited = match self.author {
            Some(author) => credit(&mut self.ctx, &author, fees)?,
            None => false,
        };
        if !credited && fees > 0 {
            // No author (or one that cannot hold the amount): the fees are burnt.
            burn(&mut self.ctx, fees)?;
        }
        let (mut state, events) = self.ctx.into_parts();
        state.set(system::events_key(), events.encode());
        state.commit()
    }

    /// Events so far.
    pub fn events(&self) -> &[crate::dispatch::EventRecord<R::Event>] {
        self.ctx.events()
    }

    /// The state as the extrinsics applied so far left it, uncommitted (a dry run's result).
    pub fn into_state(self) -> State<'a> {
        self.ctx.into_parts().0
    }
}

fn credit<E: From<balances::Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    amount: Balance,
) -> Result<bool, Error> {
    match balances::deposit(ctx, who, amount) {
        Ok(credited) => Ok(credited),
        Err(CallError::State(err)) => Err(err),
        // Overflow: leave it to the caller to burn.
        Err(CallError::Dispatch(_)) => Ok(false),
    }
}

fn burn<E>(ctx: &mut Context<'_, E>, amount: Balance) -> Result<(), Error> {
    match balances::burn(ctx, amount) {
        Ok(()) | Err(CallError::Dispatch(_)) => Ok(()),
        Err(CallError::State(err)) => Err(err),
    }
}

fn decode<R: Runtime>(xt: &OpaqueExtrinsic) -> Result<Extrinsic<R::Call>, InvalidTransaction> {
    Extrinsic::decode_exact(&xt.0).map_err(|e| InvalidTransaction::Malformed(e.to_string()))
}

/// Executes `block` on its parent's state and checks its extrinsics and state roots.
///
/// Signatures are checked in one batch first. Returns the state changes (with a storage proof
/// if `record_proof`); a block that fails any check changes nothing.
pub fn execute_block<R: Runtime>(
    store: &dyn NodeStore,
    parent_state_root: Hash,
    block: &Block,
    record_proof: bool,
) -> Result<StateChanges, BlockError> {
    let mut state = State::new(store, parent_state_root);
    if record_proof {
        state = state.record_proof();
    }
    execute_block_on::<R>(state, block)
}

/// [`execute_block`] on `state`, its parent's state (the node's, for a runtime in Wasm).
pub fn execute_block_on<R: Runtime>(
    state: State<'_>,
    block: &Block,
) -> Result<StateChanges, BlockError> {
    let header = &block.header;
    // Checked before any state is read: a malformed block costs no trie walk.
    let decoded = decode_checked::<R>(block)?;
    let author = block_author(header)?;
    let mut executive =
        Executive::<R>::initialize(state, header.number, header.parent_hash, author)?;
    let signatures_verified = verify_signatures::<R>(&mut executive, &decoded)?;

    for (index, (extrinsic, xt)) in decoded.into_iter().zip(&block.extrinsics).enumerate() {
        let index = index as u32;
        // A failed call is still included (its fee paid); only invalid extrinsics reject.
        let _call_outcome = executive
            .apply_decoded(extrinsic, xt.0.len(), !signatures_verified)
            .map_err(|err| match err {
                ApplyError::Invalid(error) => BlockError::InvalidExtrinsic { index, error },
                ApplyError::State(err) => BlockError::State(err),
            })?;
    }
    let changes = executive.finalize()?;
    if changes.root != header.state_root {
        return Err(BlockError::StateRoot {
            header: header.state_root,
            computed: changes.root,
        });
    }
    Ok(changes)
}

/// The block's extrinsics, decoded, once its extrinsics root is checked.
fn decode_checked<R: Runtime>(block: &Block) -> Result<Vec<Extrinsic<R::Call>>, BlockError> {
    let computed = extrinsics_root(&block.extrinsics);
    if computed != block.header.extrinsics_root {
        return Err(BlockError::ExtrinsicsRoot {
            header: block.header.extrinsics_root,
            computed,
        });
    }
    block
        .extrinsics
        .iter()
        .enumerate()
        .map(|(index, xt)| {
            decode::<R>(xt).map_err(|error| BlockError::InvalidExtrinsic {
                index: index as u32,
                error,
            })
        })
        .collect()
}

/// Batch-verifies every signature; `false` if the batch failed (each is then checked alone,
/// which names the bad one) or birth hashes are not known yet.
fn verify_signatures<R: Runtime>(
    executive: &mut Executive<'_, R>,
    extrinsics: &[Extrinsic<R::Call>],
) -> Result<bool, Error> {
    let mut signed = Vec::with_capacity(extrinsics.len());
    // Inherents are unsigned and checked by their module.
    for data in extrinsics.iter().filter_map(|xt| xt.signature.as_ref()) {
        let birth_hash = match data.extra.era {
            Era::Immortal => executive.chain.genesis_hash,
            Era::Mortal { birth, .. } => {
                match system::BLOCK_HASH.get(&mut executive.ctx.state, &birth)? {
                    Some(hash) => hash,
                    None => return Ok(false),
                }
            }
        };
        let chain = ChainContext {
            birth_hash,
            ..executive.chain
        };
        signed.push((data, chain));
    }
    let payloads: Vec<_> = extrinsics
        .iter()
        .filter(|xt| xt.signature.is_some())
        .zip(&signed)
        .map(|(xt, (data, chain))| signing_payload(&xt.call, &data.extra, chain))
        .collect();
    let items = signed
        .iter()
        .zip(&payloads)
        .map(|((data, _), payload)| (&data.signer, payload.as_slice(), &data.signature));
    Ok(verify_batch(items))
}

/// Builds a genesis state with `build` and the genesis header committing to it.
pub fn build_genesis<R: Runtime>(
    build: impl FnOnce(&mut Context<'_, R::Event>) -> Result<(), CallError>,
) -> Result<(Header, StateChanges), CallError> {
    let empty = alloc::collections::BTreeMap::new();
    build_genesis_on::<R>(State::new(&empty, crate::trie::empty_root()), build)
}

/// [`build_genesis`] on `state`, which must be empty (the node's, for a runtime in Wasm).
pub fn build_genesis_on<R: Runtime>(
    state: State<'_>,
    build: impl FnOnce(&mut Context<'_, R::Event>) -> Result<(), CallError>,
) -> Result<(Header, StateChanges), CallError> {
    let mut ctx = Context::<R::Event>::new(state, 0, R::CONFIG);
    build(&mut ctx)?;
    let (state, _events) = ctx.into_parts();
    let changes = state.commit()?;
    let header = Header {
        parent_hash: Hash::ZERO,
        number: 0,
        state_root: changes.root,
        extrinsics_root: extrinsics_root(&[]),
        digest: Default::default(),
    };
    Ok((header, changes))
}
