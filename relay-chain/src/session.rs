//! `session`: the relay chain's validator set (the accounts that author, seal and vote on
//! finality), the authorship timing every node must agree on, and the count of sessions.
//!
//! A session is an epoch: [`crate::babe`] starts the next one in the first block of each
//! epoch. At that point the queued validators (chosen a session earlier) take over, and the
//! validators of the session after are queued from [`crate::staking`]'s plan, so the
//! authorship and finality engines learn every set a session before it holds.

use crate::prelude::*;

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, CallResult, Context, Dispatch, Origin, Weight};
use tessera_runtime::state::State;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{AccountId, BlockNumber};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Session";

/// The current validators, in authority-index order.
pub static VALIDATORS: StorageValue<Vec<AccountId>> = StorageValue::new(NAME, "Validators");

/// The validators of the next session (none before the chain's first block).
pub static QUEUED_VALIDATORS: StorageValue<Vec<AccountId>> =
    StorageValue::new(NAME, "QueuedValidators");

/// The session keys of the current validators, in authority-index order.
pub static VALIDATOR_KEYS: StorageValue<Vec<SessionKeys>> =
    StorageValue::new(NAME, "ValidatorKeys");

/// The session keys of the queued validators, in their order.
pub static QUEUED_KEYS: StorageValue<Vec<SessionKeys>> = StorageValue::new(NAME, "QueuedKeys");

/// Each stash's keys for the sessions it will validate in (set by `session.setKeys`).
pub static NEXT_KEYS: StorageMap<AccountId, SessionKeys> = StorageMap::new(NAME, "NextKeys");

/// Who set each key, by key type and public key: one key serves one stash, for good.
pub static KEY_OWNER: StorageMap<(KeyTypeId, AccountId), AccountId> =
    StorageMap::new(NAME, "KeyOwner");

/// A session key's type, as Substrate names them.
pub type KeyTypeId = [u8; 4];

/// The keys a validator signs with in a session, one per role (sr25519 public keys), in the
/// order of Polkadot's first four session keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct SessionKeys {
    /// Finality votes.
    pub grandpa: AccountId,
    /// Block authorship.
    pub babe: AccountId,
    /// Backing statements and availability bitfields.
    pub para_validator: AccountId,
    /// Approval assignments.
    pub para_assignment: AccountId,
}

impl SessionKeys {
    /// One key for every role (genesis validators, whose account signs everything).
    pub fn all(key: AccountId) -> Self {
        SessionKeys {
            grandpa: key,
            babe: key,
            para_validator: key,
            para_assignment: key,
        }
    }

    /// The keys with their types.
    pub fn typed(&self) -> [(KeyTypeId, AccountId); 4] {
        [
            (*b"gran", self.grandpa),
            (*b"babe", self.babe),
            (*b"para", self.para_validator),
            (*b"asgn", self.para_assignment),
        ]
    }
}

/// Largest ownership proof `setKeys` takes (it is not checked: sr25519 session keys, as in
/// Polkadot, need none).
pub const MAX_PROOF_BYTES: usize = 1_024;

/// Calls of `session` (FRAME's indices).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Sets the caller's (a stash's) keys for the sessions from the one after next.
    #[codec(index = 0)]
    SetKeys {
        /// The keys.
        keys: SessionKeys,
        /// Unused (at most [`MAX_PROOF_BYTES`]).
        proof: Vec<u8>,
    },
    /// Removes the caller's keys: it is left out of the sessions from the one after next.
    #[codec(index = 1)]
    PurgeKeys,
}

tessera_runtime::module_error! {
    /// Errors of `session` (FRAME's, in its order).
    pub enum Error for NAME {
        /// The ownership proof is too large.
        InvalidProof,
        /// The caller is no stash (bond first).
        NoAssociatedValidatorId,
        /// A key is another stash's already.
        DuplicatedKey,
        /// The caller has no keys to purge.
        NoKeys,
        /// No such account.
        NoAccount,
    }
}

/// Weight of a keys call: a few reads and writes.
const KEYS_WEIGHT: Weight = 200_000_000;

impl<E> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        KEYS_WEIGHT
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        let who = *origin.ensure_signed()?;
        match self {
            Call::SetKeys { keys, proof } => set_keys(ctx, &who, keys, &proof),
            Call::PurgeKeys => purge_keys(ctx, &who),
        }
    }
}

fn set_keys<E>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    keys: SessionKeys,
    proof: &[u8],
) -> CallResult {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(Error::InvalidProof.into());
    }
    if crate::staking::BONDED.get(&mut ctx.state, who)?.is_none() {
        return Err(Error::NoAssociatedValidatorId.into());
    }
    for typed in keys.typed() {
        if KEY_OWNER
            .get(&mut ctx.state, &typed)?
            .is_some_and(|owner| owner != *who)
        {
            return Err(Error::DuplicatedKey.into());
        }
    }
    // Keys a stash used before stay its own: another stash taking a retired key over would
    // have the node still holding it sign for that other seat.
    put_keys(&mut ctx.state, who, &keys);
    Ok(())
}

fn purge_keys<E>(ctx: &mut Context<'_, E>, who: &AccountId) -> CallResult {
    if NEXT_KEYS.get(&mut ctx.state, who)?.is_none() {
        return Err(Error::NoKeys.into());
    }
    // As in `set_keys`, the keys stay reserved to this stash.
    NEXT_KEYS.remove(&mut ctx.state, who);
    Ok(())
}

/// Records `keys` as `who`'s.
pub fn put_keys(state: &mut State<'_>, who: &AccountId, keys: &SessionKeys) {
    NEXT_KEYS.insert(state, who, keys);
    for typed in keys.typed() {
        KEY_OWNER.insert(state, &typed, who);
    }
}

/// The genesis state: `validators` hold session 0, each with its own account as every key.
pub fn genesis(state: &mut State<'_>, validators: &[AccountId]) {
    VALIDATORS.put(state, &validators.to_vec());
    let keys: Vec<SessionKeys> = validators.iter().map(|v| SessionKeys::all(*v)).collect();
    for (validator, keys) in validators.iter().zip(&keys) {
        put_keys(state, validator, keys);
    }
    VALIDATOR_KEYS.put(state, &keys);
    let para = ParaValidators {
        session: 0,
        stashes: validators.to_vec(),
        keys: keys.iter().map(|k| k.para_validator).collect(),
        assignment_keys: keys.iter().map(|k| k.para_assignment).collect(),
    };
    PARA_SESSIONS.insert(state, &0, &para);
}

/// Sessions whose parachain validators stay on chain after they end: a dispute about a
/// candidate of one of them can still be recorded (Polkadot's `dispute_period`).
pub const DISPUTE_PERIOD: u32 = 6;

/// The parachain validators of the current session and the [`DISPUTE_PERIOD`] before it, by
/// session index.
pub static PARA_SESSIONS: StorageMap<u32, ParaValidators> = StorageMap::new(NAME, "ParaSessions");

/// The authorship and finality keys of the current session and the [`DISPUTE_PERIOD`] before
/// it, by session index: what an equivocation report in one of them is judged against.
pub static SESSION_AUTHORITIES: StorageMap<u32, SessionAuthorities> =
    StorageMap::new(NAME, "SessionAuthorities");

/// The latest session of each finality set id still in [`SESSION_AUTHORITIES`] (GRANDPA's
/// `SetIdSession`): a set lasts as long as its keys do, possibly several sessions.
pub static SET_ID_SESSION: StorageMap<u64, u32> = StorageMap::new(NAME, "SetIdSession");

/// Who authored and voted in a session: what reports of their equivocations need.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct SessionAuthorities {
    /// The authorship epoch the session started in (it lasts until the next session's).
    pub first_epoch: u64,
    /// The finality set id that voted in it.
    pub set_id: u64,
    /// The authorship keys, in authority-index order.
    pub babe: Vec<AccountId>,
    /// The finality keys.
    pub grandpa: Vec<AccountId>,
}

/// Milliseconds per authorship slot.
pub static SLOT_DURATION: StorageValue<u64> = StorageValue::new(NAME, "SlotDuration");

/// Slots per epoch.
pub static EPOCH_LENGTH: StorageValue<u64> = StorageValue::new(NAME, "EpochLength");

/// The current session's index.
pub static CURRENT_INDEX: StorageValue<u32> = StorageValue::new(NAME, "CurrentIndex");

/// The block the current session started in.
pub static SESSION_START: StorageValue<BlockNumber> = StorageValue::new(NAME, "SessionStart");

/// The block in which the current session's parachain validators took over from different
/// ones (none since genesis).
pub static PARA_VALIDATORS_CHANGED_AT: StorageValue<BlockNumber> =
    StorageValue::new(NAME, "ParaValidatorsChangedAt");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        VALIDATORS.metadata_or_default(),
        QUEUED_VALIDATORS.metadata_or_default(),
        VALIDATOR_KEYS.metadata_or_default(),
        QUEUED_KEYS.metadata_or_default(),
        NEXT_KEYS.metadata(),
        KEY_OWNER.metadata(),
        SLOT_DURATION.metadata(),
        EPOCH_LENGTH.metadata(),
        CURRENT_INDEX.metadata_or_default(),
        SESSION_START.metadata_or_default(),
        PARA_VALIDATORS_CHANGED_AT.metadata(),
        PARA_SESSIONS.metadata(),
        SESSION_AUTHORITIES.metadata(),
        SET_ID_SESSION.metadata(),
    ]
}

/// Events of `session`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A new session started (FRAME's event).
    #[codec(index = 0)]
    NewSession {
        /// Its index.
        session_index: u32,
    },
}

/// Starts the next session: the queued validators take over and the next session's are
/// queued. Returns whether the finality keys changed.
pub fn rotate<E>(ctx: &mut Context<'_, E>) -> Result<bool, CallError>
where
    E: From<Event>
        + From<crate::inclusion::Event>
        + From<crate::approval_rewards::Event>
        + crate::staking::Events,
{
    let index = CURRENT_INDEX
        .get_or_default(&mut ctx.state)?
        .saturating_add(1);
    CURRENT_INDEX.put(&mut ctx.state, &index);
    SESSION_START.put(&mut ctx.state, &ctx.block_number);
    ctx.deposit_event(Event::NewSession {
        session_index: index,
    });
    // The session starts whatever staking does: an error of its own (not of state) undoes its
    // part alone, since the validators queued were announced and must take over.
    ctx.state.start_transaction();
    match crate::staking::new_session(ctx, index) {
        Ok(()) => ctx.state.commit_transaction()?,
        Err(CallError::Dispatch(_)) => ctx.state.rollback_transaction()?,
        Err(err @ CallError::State(_)) => return Err(err),
    }
    let previous = VALIDATOR_KEYS.get_or_default(&mut ctx.state)?;
    let para_before = para_validators(&mut ctx.state)?;
    if let (Some(validators), Some(keys)) = (
        QUEUED_VALIDATORS.get(&mut ctx.state)?,
        QUEUED_KEYS.get(&mut ctx.state)?,
    ) {
        let before = VALIDATORS.get_or_default(&mut ctx.state)?;
        crate::disputes::on_new_session(&mut ctx.state, &before, &validators)?;
        VALIDATORS.put(&mut ctx.state, &validators);
        VALIDATOR_KEYS.put(&mut ctx.state, &keys);
    }
    let para_after = para_validators(&mut ctx.state)?;
    PARA_SESSIONS.insert(&mut ctx.state, &index, &para_after);
    // The last session that took a session's approval tallies has ended.
    let after_tallies = crate::approval_rewards::TALLY_SESSIONS.saturating_add(1);
    if let Some(tallied) = index.checked_sub(after_tallies) {
        crate::approval_rewards::settle(ctx, tallied)?;
    }
    if let Some(ended) = index.checked_sub(DISPUTE_PERIOD.saturating_add(1)) {
        PARA_SESSIONS.remove(&mut ctx.state, &ended);
        forget_authorities(&mut ctx.state, ended)?;
        crate::offences::forget_session(&mut ctx.state, ended);
    }
    if !para_after.same_validators(&para_before) {
        PARA_VALIDATORS_CHANGED_AT.put(&mut ctx.state, &ctx.block_number);
        crate::inclusion::on_new_validators(ctx)?;
        crate::pvf_check::on_new_validators(&mut ctx.state, &para_after)?;
    }
    queue_next(ctx, index.saturating_add(1))?;
    let current = VALIDATOR_KEYS.get_or_default(&mut ctx.state)?;
    let finality = |keys: &[SessionKeys]| keys.iter().map(|k| k.grandpa).collect::<Vec<_>>();
    Ok(finality(&current) != finality(&previous))
}

/// Queues the validators of session `session` with their keys as they are now: staking's
/// choice, less those without keys, in the current validators' order where they stay (so the
/// authority indices of those who stay change as little as possible). None elected (or none
/// with keys) keeps the current ones. Returns the queued keys.
pub fn queue_next<E>(
    ctx: &mut Context<'_, E>,
    session: u32,
) -> Result<Vec<SessionKeys>, CallError> {
    let current = VALIDATORS.get_or_default(&mut ctx.state)?;
    let elected = crate::staking::validators_for_session(&mut ctx.state, session)?;
    let mut ordered: Vec<AccountId> = match &elected {
        Some(elected) => {
            let mut ordered: Vec<AccountId> = current
                .iter()
                .filter(|v| elected.contains(v))
                .copied()
                .collect();
            ordered.extend(elected.iter().filter(|v| !current.contains(v)));
            ordered
        }
        None => current.clone(),
    };
    let mut keys = Vec::with_capacity(ordered.len());
    let mut with_keys = Vec::with_capacity(ordered.len());
    for validator in ordered.drain(..) {
        if let Some(validator_keys) = NEXT_KEYS.get(&mut ctx.state, &validator)? {
            with_keys.push(validator);
            keys.push(validator_keys);
        }
    }
    if with_keys.is_empty() {
        with_keys = current;
        keys = VALIDATOR_KEYS.get_or_default(&mut ctx.state)?;
    }
    QUEUED_VALIDATORS.put(&mut ctx.state, &with_keys);
    QUEUED_KEYS.put(&mut ctx.state, &keys);
    Ok(keys)
}

/// The session's validators' keys.
pub fn validator_keys(state: &mut State<'_>) -> tessera_runtime::Result<Vec<SessionKeys>> {
    VALIDATOR_KEYS.get_or_default(state)
}

/// Records who authors (`babe`, in authority-index order) and votes on finality in the current
/// session, which started in epoch `first_epoch` and is voted on by finality set `set_id`.
pub fn note_authorities(
    state: &mut State<'_>,
    first_epoch: u64,
    set_id: u64,
    babe: Vec<AccountId>,
) -> tessera_runtime::Result<()> {
    let session = CURRENT_INDEX.get_or_default(state)?;
    let grandpa = validator_keys(state)?.iter().map(|k| k.grandpa).collect();
    let authorities = SessionAuthorities {
        first_epoch,
        set_id,
        babe,
        grandpa,
    };
    SESSION_AUTHORITIES.insert(state, &session, &authorities);
    SET_ID_SESSION.insert(state, &set_id, &session);
    Ok(())
}

fn forget_authorities(state: &mut State<'_>, session: u32) -> tessera_runtime::Result<()> {
    let Some(ended) = SESSION_AUTHORITIES.get(state, &session)? else {
        return Ok(());
    };
    SESSION_AUTHORITIES.remove(state, &session);
    if SET_ID_SESSION.get(state, &ended.set_id)? == Some(session) {
        SET_ID_SESSION.remove(state, &ended.set_id);
        crate::offences::forget_set(state, ended.set_id);
    }
    Ok(())
}

/// The session whose authorities could author in epoch `epoch`, with them, if the chain still
/// keeps it: the one that started in it, or, for an epoch no block of this chain started (a
/// fork's blocks in it claim with the authorities announced before it, as the authorship
/// engine does), the first that started after it.
pub fn session_of_epoch(
    state: &mut State<'_>,
    epoch: u64,
) -> tessera_runtime::Result<Option<(u32, SessionAuthorities)>> {
    let current = CURRENT_INDEX.get_or_default(state)?;
    let mut before: Option<u64> = None;
    for session in current.saturating_sub(DISPUTE_PERIOD)..=current {
        let Some(authorities) = SESSION_AUTHORITIES.get(state, &session)? else {
            before = None;
            continue;
        };
        if authorities.first_epoch >= epoch {
            // A skipped epoch: unless the session before is kept and started earlier, it may
            // be that one's, whose keys are gone.
            let known = authorities.first_epoch == epoch
                || session == 0
                || before.is_some_and(|first| first < epoch);
            return Ok(known.then_some((session, authorities)));
        }
        before = Some(authorities.first_epoch);
    }
    Ok(None)
}

/// The latest session finality set `set_id` voted in, with its authorities, if the chain still
/// keeps it.
pub fn session_of_set(
    state: &mut State<'_>,
    set_id: u64,
) -> tessera_runtime::Result<Option<(u32, SessionAuthorities)>> {
    let Some(session) = SET_ID_SESSION.get(state, &set_id)? else {
        return Ok(None);
    };
    Ok(SESSION_AUTHORITIES
        .get(state, &session)?
        .map(|authorities| (session, authorities)))
}

/// The validator set in `state`.
pub fn validators(state: &mut State<'_>) -> tessera_runtime::Result<Vec<AccountId>> {
    VALIDATORS.get_or_default(state)
}

/// The current session's validators as the parachain protocol knows them: by index, each one's
/// stash (paid and slashed) and the `para_validator` key it signs backing statements,
/// availability bitfields, dispute votes and code verdicts with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ParaValidators {
    /// The session's index.
    pub session: u32,
    /// Each validator's stash.
    pub stashes: Vec<AccountId>,
    /// Each validator's parachain signing key.
    pub keys: Vec<AccountId>,
    /// Each validator's approval assignment key (its VRF assignments are checked with it).
    pub assignment_keys: Vec<AccountId>,
}

impl ParaValidators {
    /// How many validators the session has.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the session has none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The signing key of validator `index`.
    pub fn key(&self, index: u32) -> Option<&AccountId> {
        self.keys.get(index as usize)
    }

    /// The stash of validator `index`.
    pub fn stash(&self, index: u32) -> Option<&AccountId> {
        self.stashes.get(index as usize)
    }

    /// Whether `other` lists the same validators with the same keys, in the same order (of
    /// whatever session).
    pub fn same_validators(&self, other: &ParaValidators) -> bool {
        // Assignment keys are left out: only approval checking uses them, and it takes each
        // block's session as it is, while backing, availability and code checks by index
        // would be dropped for nothing at a change of them alone.
        self.stashes == other.stashes && self.keys == other.keys
    }

    /// The index of the validator whose stash is `stash`.
    pub fn index_of_stash(&self, stash: &AccountId) -> Option<u32> {
        let index = self.stashes.iter().position(|s| s == stash)?;
        u32::try_from(index).ok()
    }

    /// The index of the validator whose signing key is `key`.
    pub fn index_of(&self, key: &AccountId) -> Option<u32> {
        let index = self.keys.iter().position(|k| k == key)?;
        u32::try_from(index).ok()
    }
}

/// The current session's [`ParaValidators`] in `state`.
pub fn para_validators(state: &mut State<'_>) -> tessera_runtime::Result<ParaValidators> {
    let stashes = VALIDATORS.get_or_default(state)?;
    let session_keys = VALIDATOR_KEYS.get_or_default(state)?;
    Ok(ParaValidators {
        session: CURRENT_INDEX.get_or_default(state)?,
        stashes,
        keys: session_keys
            .iter()
            .map(|keys| keys.para_validator)
            .collect(),
        assignment_keys: session_keys
            .iter()
            .map(|keys| keys.para_assignment)
            .collect(),
    })
}

/// The parachain validators of session `session`, if it is the current one or one of the
/// [`DISPUTE_PERIOD`] before it.
pub fn para_validators_of(
    state: &mut State<'_>,
    session: u32,
) -> tessera_runtime::Result<Option<ParaValidators>> {
    PARA_SESSIONS.get(state, &session)
}

/// Whether block `now` (being built) handed the parachain work to other validators (other
/// stashes, keys or order): what was signed on its parent, by index, was signed by the
/// previous ones.
pub fn para_validators_changed_in(
    state: &mut State<'_>,
    now: BlockNumber,
) -> tessera_runtime::Result<bool> {
    Ok(PARA_VALIDATORS_CHANGED_AT.get(state)? == Some(now))
}
