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
use crate::extrinsic::{signing_payload, ChainContext, Era, Extrinsic, MultiSignature};
use crate::hashing::Hash;
use crate::header::{BlockNumber, Digest, DigestItem, EngineId, Header};
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
    type Event: From<system::Event>
        + From<balances::Event>
        + From<crate::payment::Event>
        + Encode
        + Decode
        + Clone
        + Debug;
    /// Name and version; the version is part of every signed payload.
    const VERSION: RuntimeVersion;
    /// Constants: existential deposit, fees, block weight.
    const CONFIG: RuntimeConfig;
    /// The runtime's Wasm blob, which genesis puts under [`crate::storage::CODE_KEY`] and
    /// nodes execute: empty where none is embedded (the blob itself, and test runtimes, which
    /// run natively only).
    const CODE: &'static [u8] = &[];

    /// Runs at the start of every block, after `system` and before any extrinsic (epochs and
    /// sessions turn here); its weight ([`Context::consume_weight`]) counts in the block. A
    /// dispatch error rolls its changes back and the block goes on.
    fn on_initialize(_ctx: &mut Context<'_, Self::Event>) -> crate::dispatch::CallResult {
        Ok(())
    }
}

/// Why a transaction cannot be included (it is dropped, or the block containing it rejected).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, thiserror::Error, scale_info::TypeInfo)]
pub enum InvalidTransaction {
    /// The bytes are not an extrinsic of this runtime.
    #[error("extrinsic does not decode: {0}")]
    Malformed(String),
    /// Unsigned, but neither an inherent nor an offence report (which only a block author
    /// includes: no pool takes either).
    #[error("unsigned extrinsic: only inherents and offence reports, in a block, may be unsigned")]
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
    /// The era's birth block is not among the block hashes the chain keeps (older than
    /// [`crate::extrinsic::BLOCK_HASH_COUNT`] blocks, or not yet made).
    #[error("era's birth block {birth} is not among the chain's recent blocks (block {now})")]
    AncientBirthBlock {
        /// The birth block the era gives for this block.
        birth: BlockNumber,
        /// The block it was checked for.
        now: BlockNumber,
    },
    /// A mortal transaction past its era: a pool, which knows its era from admission, says so
    /// (the chain sees another birth block, so a bad signature).
    #[error("its era ended with block {last_valid} (this is block {now})")]
    Expired {
        /// The last block it was valid in.
        last_valid: BlockNumber,
        /// The block it was checked for.
        now: BlockNumber,
    },
    /// The signer's address is not an account this chain can look up (only `Id` and
    /// `Address32` name one).
    #[error("the signer's address names no account: only Id and Address32 addresses do")]
    CannotLookup,
    /// Signed by the all-zero account, whose key nobody holds.
    #[error("signed by the all-zero account")]
    ZeroSender,
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
    /// The transaction's bytes do not fit in what is left of the block's length.
    #[error("transaction of {len} bytes exceeds what is left of the block's length ({left})")]
    ExhaustsLength {
        /// Its encoded length.
        len: u32,
        /// Bytes left.
        left: u32,
    },
    /// The block holds [`system::MAX_EXTRINSICS_PER_BLOCK`] extrinsics already.
    #[error("the block holds {max} extrinsics already")]
    TooManyExtrinsics {
        /// The limit.
        max: u32,
    },
    /// An unsigned report the runtime refused (a false proof, an offence known already, or
    /// one too old to judge): the block that contains it is invalid.
    #[error("report refused: {0}")]
    ReportRefused(DispatchError),
}

impl InvalidTransaction {
    /// Whether the transaction was refused only because the block is full: it may fit in
    /// the next one.
    pub fn is_block_full(&self) -> bool {
        matches!(
            self,
            InvalidTransaction::ExhaustsResources { .. }
                | InvalidTransaction::ExhaustsLength { .. }
                | InvalidTransaction::TooManyExtrinsics { .. }
        )
    }
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
        if reason.is_block_full() {
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
    /// The header's digest (without its seal) is not the one executing the block deposits:
    /// pre-runtime items in order, then the runtime's consensus logs.
    #[error("the header's digest is not the runtime's")]
    Digest,
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
    /// The block breaks a rule the runtime checks as it starts.
    #[error("invalid block: {0}")]
    Rule(&'static str),
    /// State could not be read (e.g. a node missing from a proof).
    #[error("state: {0}")]
    State(Error),
}

impl From<Error> for BlockError {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidBlock(why) => BlockError::Rule(why),
            other => BlockError::State(other),
        }
    }
}

/// A transaction that may enter the pool.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
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
    length: u32,
    applied: u32,
}

/// What checking a signed transaction found.
struct Checked {
    signer: AccountId,
    extra: crate::extrinsic::SignedExtra,
    weight: Weight,
    charge: Balance,
    account: system::AccountInfo,
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
        Self::initialize_with(state, number, parent_hash, Vec::new(), author)
    }

    /// [`Self::initialize`] for a block whose header starts with the pre-runtime digest items
    /// `pre_runtime` (the slot claim), followed by `author`'s.
    pub fn initialize_with(
        state: State<'a>,
        number: BlockNumber,
        parent_hash: Hash,
        pre_runtime: Vec<DigestItem>,
        author: Option<AccountId>,
    ) -> Result<Self, Error> {
        let mut ctx = Context::new(state, number, R::CONFIG);
        ctx.version = Some(R::VERSION);
        system::initialize(&mut ctx, number, parent_hash)?;
        let logs = pre_runtime
            .into_iter()
            .filter(|item| !matches!(item, DigestItem::PreRuntime(AUTHOR_ENGINE, _)))
            .chain(
                author
                    .iter()
                    .map(|author| DigestItem::PreRuntime(AUTHOR_ENGINE, author.encode())),
            )
            .collect();
        system::DIGEST.put(&mut ctx.state, &Digest { logs });
        ctx.set_phase(Phase::Initialization);
        ctx.state.start_transaction();
        ctx.take_consumed_weight();
        let hooked = R::on_initialize(&mut ctx);
        let hook_weight = ctx.take_consumed_weight();
        match hooked {
            Ok(()) => ctx.state.commit_transaction()?,
            Err(CallError::Dispatch(_)) => ctx.state.rollback_transaction()?,
            Err(CallError::State(err)) => return Err(err),
        }
        let genesis_hash = system::BLOCK_HASH
            .get(&mut ctx.state, &0)?
            .unwrap_or(parent_hash);
        let chain = ChainContext {
            spec_version: R::VERSION.spec_version,
            transaction_version: R::VERSION.transaction_version,
            genesis_hash,
            birth_hash: Hash::ZERO,
        };
        Ok(Executive {
            ctx,
            chain,
            author,
            fees: 0,
            weight: hook_weight,
            length: 0,
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
        let checked = self.check(&extrinsic, xt.encoded_len(), verify_signature, true)?;
        let last_valid = match checked.extra.era {
            Era::Immortal => None,
            era => {
                let death = era.death(u64::from(self.ctx.block_number));
                Some(BlockNumber::try_from(death.saturating_sub(1)).unwrap_or(BlockNumber::MAX))
            }
        };
        Ok(ValidTransaction {
            signer: checked.signer,
            nonce: checked.extra.nonce,
            next_nonce: checked.account.nonce,
            tip: checked.extra.tip,
            last_valid,
        })
    }

    /// Applies one extrinsic. `Ok(Err(_))` is a call that failed but is included (fee paid);
    /// `Err(_)` is an extrinsic that must not be included, and changed nothing.
    pub fn apply(&mut self, xt: &OpaqueExtrinsic) -> Result<Result<(), DispatchError>, ApplyError> {
        let extrinsic = decode::<R>(xt)?;
        self.apply_decoded(extrinsic, xt.encoded_len(), true)
    }

    fn apply_decoded(
        &mut self,
        extrinsic: Extrinsic<R::Call>,
        len: usize,
        verify_signature: bool,
    ) -> Result<Result<(), DispatchError>, ApplyError> {
        if self.applied >= system::MAX_EXTRINSICS_PER_BLOCK {
            return Err(InvalidTransaction::TooManyExtrinsics {
                max: system::MAX_EXTRINSICS_PER_BLOCK,
            }
            .into());
        }
        if extrinsic.signature.is_none() {
            return self.apply_unsigned(extrinsic.call, len).map(Ok);
        }
        let Checked {
            signer,
            weight,
            charge,
            mut account,
            ..
        } = self.check(&extrinsic, len, verify_signature, false)?;
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
        let fee_paid = crate::payment::Event::TransactionFeePaid {
            who: signer,
            actual_fee: charge,
            tip: signature_tip(&extrinsic),
        };
        let dispatched = extrinsic
            .call
            .dispatch(&mut self.ctx, Origin::Signed(signer));
        let dispatch_info = crate::payment::DispatchInfo::signed(weight);
        // FRAME's order: the call's events, the fee, then the outcome.
        let outcome = match dispatched {
            Ok(()) => {
                self.ctx.state.commit_transaction()?;
                self.ctx.deposit_event(fee_paid);
                self.ctx
                    .deposit_event(system::Event::ExtrinsicSuccess { dispatch_info });
                Ok(())
            }
            Err(CallError::Dispatch(dispatch_error)) => {
                self.ctx.state.rollback_transaction()?;
                self.ctx.truncate_events(events_before);
                self.ctx.deposit_event(fee_paid);
                self.ctx.deposit_event(system::Event::ExtrinsicFailed {
                    dispatch_error,
                    dispatch_info,
                });
                Err(dispatch_error)
            }
            Err(CallError::State(err)) => return Err(err.into()),
        };
        self.fees = self.fees.saturating_add(charge);
        self.weight = self.weight.saturating_add(weight);
        self.length = self.length.saturating_add(len as u32);
        self.applied = self.applied.saturating_add(1);
        Ok(outcome)
    }

    /// Dispatches an unsigned inherent or offence report; it must succeed, or nothing changes
    /// and it is invalid. A report counts in the block's length, as a transaction does.
    fn apply_unsigned(&mut self, call: R::Call, len: usize) -> Result<(), ApplyError> {
        let inherent = call.is_inherent();
        if !inherent && !call.is_report() {
            return Err(InvalidTransaction::Unsigned.into());
        }
        let length = if inherent {
            0
        } else {
            u32::try_from(len).unwrap_or(u32::MAX)
        };
        let length_left = R::CONFIG.max_block_length.saturating_sub(self.length);
        if length > length_left {
            return Err(InvalidTransaction::ExhaustsLength {
                len: length,
                left: length_left,
            }
            .into());
        }
        let weight = call.weight();
        let left = R::CONFIG.max_block_weight.saturating_sub(self.weight);
        if weight > left {
            return Err(InvalidTransaction::ExhaustsResources { weight, left }.into());
        }
        self.ctx.set_phase(Phase::ApplyExtrinsic(self.applied));
        self.ctx.state.start_transaction();
        let events_before = self.ctx.event_count();
        self.ctx.take_consumed_weight();
        let dispatched = call.dispatch(&mut self.ctx, Origin::None);
        // What the inherent found to do in state (an era's election) counts in the block.
        let weight = weight.saturating_add(self.ctx.take_consumed_weight());
        // A report that found more to do than the block has room for waits for another.
        if !inherent && weight > left && dispatched.is_ok() {
            self.ctx.state.rollback_transaction()?;
            self.ctx.truncate_events(events_before);
            return Err(InvalidTransaction::ExhaustsResources { weight, left }.into());
        }
        match dispatched {
            Ok(()) => {
                self.ctx.state.commit_transaction()?;
                let dispatch_info = if inherent {
                    crate::payment::DispatchInfo::inherent(weight)
                } else {
                    crate::payment::DispatchInfo::report(weight)
                };
                self.ctx
                    .deposit_event(system::Event::ExtrinsicSuccess { dispatch_info });
            }
            Err(CallError::Dispatch(error)) => {
                self.ctx.state.rollback_transaction()?;
                self.ctx.truncate_events(events_before);
                let refused = if inherent {
                    InvalidTransaction::InherentFailed(error)
                } else {
                    InvalidTransaction::ReportRefused(error)
                };
                return Err(refused.into());
            }
            Err(CallError::State(err)) => return Err(err.into()),
        }
        self.weight = self.weight.saturating_add(weight);
        self.length = self.length.saturating_add(length);
        self.applied = self.applied.saturating_add(1);
        Ok(())
    }

    /// Checks a signed transaction as its signed extensions say, cheap checks first: the
    /// signer, the era, the nonce, the block's weight and length, the signature, the fee.
    fn check(
        &mut self,
        extrinsic: &Extrinsic<R::Call>,
        len: usize,
        verify_signature: bool,
        allow_future: bool,
    ) -> Result<Checked, ApplyError> {
        let data = extrinsic
            .signature
            .as_ref()
            .ok_or(InvalidTransaction::Unsigned)?;
        let signer = data
            .address
            .lookup()
            .ok_or(InvalidTransaction::CannotLookup)?;
        if signer == AccountId([0; 32]) {
            return Err(InvalidTransaction::ZeroSender.into());
        }
        let birth_hash = self.birth_hash(data.extra.era)?;
        let account = system::account(&mut self.ctx, &signer)?;
        let weight = extrinsic.call.weight();
        let charge = fee(&R::CONFIG, weight, len).saturating_add(data.extra.tip);
        // An account that does not exist has no nonce to compare (FRAME's `CheckNonce` says
        // the same): it cannot pay.
        if account.data.free == 0 {
            return Err(InvalidTransaction::Payment {
                needed: charge,
                free: 0,
            }
            .into());
        }
        let expected = account.nonce;
        let got = data.extra.nonce;
        if got < expected {
            return Err(InvalidTransaction::Stale { expected, got }.into());
        }
        if got > expected && !allow_future {
            return Err(InvalidTransaction::Future { expected, got }.into());
        }
        // Weight and length are cheap: a full block refuses without verifying a signature.
        let left = R::CONFIG.max_block_weight.saturating_sub(self.weight);
        if weight > left {
            return Err(InvalidTransaction::ExhaustsResources { weight, left }.into());
        }
        let length_left = R::CONFIG.max_block_length.saturating_sub(self.length);
        let length = u32::try_from(len).unwrap_or(u32::MAX);
        if length > length_left {
            return Err(InvalidTransaction::ExhaustsLength {
                len: length,
                left: length_left,
            }
            .into());
        }
        if verify_signature {
            let chain = ChainContext {
                birth_hash,
                ..self.chain
            };
            let payload = signing_payload(&extrinsic.call, &data.extra, &chain);
            if !data.signature.verify(&payload, &signer) {
                return Err(InvalidTransaction::BadSignature.into());
            }
        }
        if account.data.free < charge {
            return Err(InvalidTransaction::Payment {
                needed: charge,
                free: account.data.free,
            }
            .into());
        }
        Ok(Checked {
            signer,
            extra: data.extra,
            weight,
            charge,
            account,
        })
    }

    /// The hash of the era's birth block for this block: the genesis hash when immortal.
    fn birth_hash(&mut self, era: Era) -> Result<Hash, ApplyError> {
        let now = self.ctx.block_number;
        if era == Era::Immortal {
            return Ok(self.chain.genesis_hash);
        }
        // At most `now` or the phase (under 2^16): it fits; `MAX` is never a kept block.
        let birth = BlockNumber::try_from(era.birth(u64::from(now))).unwrap_or(BlockNumber::MAX);
        let hash = system::BLOCK_HASH.get(&mut self.ctx.state, &birth)?;
        hash.ok_or_else(|| InvalidTransaction::AncientBirthBlock { birth, now }.into())
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

    /// The block's weight so far.
    pub fn weight(&self) -> Weight {
        self.weight
    }

    /// The block's digest so far: its pre-runtime items and the consensus logs deposited.
    pub fn digest(&mut self) -> Result<Digest, Error> {
        system::DIGEST.get_or_default(&mut self.ctx.state)
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

/// The tip a signed extrinsic offers (0 for an inherent).
fn signature_tip<Call>(extrinsic: &Extrinsic<Call>) -> Balance {
    extrinsic
        .signature
        .as_ref()
        .map_or(0, |signature| signature.extra.tip)
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
    let unsealed = match header.digest.logs.split_last() {
        Some((DigestItem::Seal(..), rest)) => rest,
        _ => header.digest.logs.as_slice(),
    };
    let pre_runtime = unsealed
        .iter()
        .filter(|item| matches!(item, DigestItem::PreRuntime(..)))
        .cloned()
        .collect();
    let mut executive = Executive::<R>::initialize_with(
        state,
        header.number,
        header.parent_hash,
        pre_runtime,
        author,
    )?;
    let signatures_verified = verify_signatures::<R>(&mut executive, &decoded)?;

    for (index, (extrinsic, xt)) in decoded.into_iter().zip(&block.extrinsics).enumerate() {
        let index = index as u32;
        // A failed call is still included (its fee paid); only invalid extrinsics reject.
        let _call_outcome = executive
            .apply_decoded(extrinsic, xt.encoded_len(), !signatures_verified)
            .map_err(|err| match err {
                ApplyError::Invalid(error) => BlockError::InvalidExtrinsic { index, error },
                ApplyError::State(err) => BlockError::State(err),
            })?;
    }
    // The consensus logs (epoch descriptors, authority set changes) are the runtime's.
    if executive.digest()?.logs != unsealed {
        return Err(BlockError::Digest);
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

/// Verifies every signature, the sr25519 ones in one batch; `false` if one failed (each is
/// then checked alone, which names the bad one) or a signer or birth hash is not known yet.
fn verify_signatures<R: Runtime>(
    executive: &mut Executive<'_, R>,
    extrinsics: &[Extrinsic<R::Call>],
) -> Result<bool, Error> {
    let mut batch = Vec::with_capacity(extrinsics.len());
    // Inherents are unsigned and checked by their module.
    for extrinsic in extrinsics {
        let Some(data) = &extrinsic.signature else {
            continue;
        };
        let Some(signer) = data.address.lookup() else {
            return Ok(false);
        };
        let birth_hash = match executive.birth_hash(data.extra.era) {
            Ok(hash) => hash,
            Err(ApplyError::State(err)) => return Err(err),
            Err(ApplyError::Invalid(_)) => return Ok(false),
        };
        let chain = ChainContext {
            birth_hash,
            ..executive.chain
        };
        let payload = signing_payload(&extrinsic.call, &data.extra, &chain);
        match &data.signature {
            MultiSignature::Sr25519(signature) => batch.push((signer, payload, signature)),
            other => {
                if !other.verify(&payload, &signer) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(verify_batch(batch.iter().map(
        |(signer, payload, signature)| (signer, payload.as_slice(), *signature),
    )))
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
