//! `paras`: the registry of parachains — each para's id, its latest head, and the hash of its
//! validation code; code stored once by hash (reference-counted, size-limited); code upgrades
//! that take effect [`UPGRADE_DELAY`] blocks after they are scheduled; deregistration.
//!
//! Registration, upgrades and deregistration here take the root origin (sudo or governance)
//! or happen in genesis; any account registers a para through [`crate::registrar`].
//!
//! Two kinds of upgrade. One root schedules is enacted by time, lazily: the first call touching
//! the para at or after its block enacts it, and [`para_at`] reads the para as of any block
//! (the para's own `:code` does not change: such code must run the para's blocks as they
//! are, as when root recovers a stalled para). One the para sends in a candidate's
//! commitments (its `system.set_code`), once validators accepted it ([`crate::pvf_check`]), is
//! also listed in [`PARA_UPGRADES`], which the para
//! reads from its relay parent: the first para block built on a relay parent at or after the
//! upgrade's block switches its own `:code` and is still validated with the old code; the
//! relay chain enacts the upgrade when it includes that block, and every candidate built on
//! it is validated with the new code ([`code_for_candidate`]). So the para's nodes, which run
//! the `:code` of a block's parent, and the validators always run the same code.

use crate::prelude::*;

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, CallResult, Context, Dispatch, Origin, Weight};
use tessera_runtime::state::State;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{BlockNumber, Hash};

pub use tessera_runtime::parachain::{
    HeadData, ParaId, PendingUpgrade, ValidationCode, MAX_CODE_SIZE, MAX_UPGRADE_CODE_SIZE,
    PARA_UPGRADES, PARA_UPGRADE_CHECKS,
};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Paras";
/// Largest head data accepted.
pub const MAX_HEAD_SIZE: usize = 32 * 1024;
/// Blocks between scheduling a code upgrade and its taking effect.
pub const UPGRADE_DELAY: BlockNumber = 10;

/// What the registry keeps per para.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ParaInfo {
    /// The latest included head.
    pub head: HeadData,
    /// Hash of the code in force.
    pub code_hash: Hash,
    /// A scheduled upgrade, if any.
    pub pending: Option<PendingUpgrade>,
}

/// Registered paras.
pub static PARAS: StorageMap<ParaId, ParaInfo> = StorageMap::new(NAME, "Paras");
/// Validation code by hash.
pub static CODE: StorageMap<Hash, ValidationCode> = StorageMap::new(NAME, "Code");
/// How many paras (current or pending code) refer to each code hash.
pub static CODE_REFS: StorageMap<Hash, u32> = StorageMap::new(NAME, "CodeRefs");
/// Registered para ids, ascending.
pub static PARA_IDS: StorageValue<Vec<ParaId>> = StorageValue::new(NAME, "ParaIds");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        tessera_runtime::parachain::PARA_UPGRADES.metadata(),
        tessera_runtime::parachain::PARA_UPGRADE_CHECKS.metadata(),
        PARAS.metadata(),
        CODE.metadata(),
        CODE_REFS.metadata_or_default(),
        PARA_IDS.metadata_or_default(),
    ]
}

/// Calls of `paras` (root only).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Registers para `id` with its genesis head and validation code.
    #[codec(index = 0)]
    Register {
        /// The id.
        id: ParaId,
        /// The genesis head.
        genesis_head: HeadData,
        /// The validation code.
        code: ValidationCode,
    },
    /// Schedules `code` to replace the para's code [`UPGRADE_DELAY`] blocks from now.
    #[codec(index = 1)]
    ScheduleCodeUpgrade {
        /// The para.
        id: ParaId,
        /// The new code.
        code: ValidationCode,
    },
    /// Removes para `id` and releases its code.
    #[codec(index = 2)]
    Deregister {
        /// The para.
        id: ParaId,
    },
}

/// Events of `paras`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A para was registered.
    #[codec(index = 0)]
    Registered {
        /// The para.
        id: ParaId,
        /// Hash of its code.
        code_hash: Hash,
    },
    /// A code upgrade was scheduled.
    #[codec(index = 1)]
    CodeUpgradeScheduled {
        /// The para.
        id: ParaId,
        /// Hash of the new code.
        code_hash: Hash,
        /// The block it takes effect at.
        at: BlockNumber,
    },
    /// A scheduled upgrade took effect.
    #[codec(index = 2)]
    CodeUpgraded {
        /// The para.
        id: ParaId,
        /// Hash of the code now in force.
        code_hash: Hash,
    },
    /// A para was removed.
    #[codec(index = 3)]
    Deregistered {
        /// The para.
        id: ParaId,
    },
    /// New code a para sent is under validators' check ([`crate::pvf_check`]).
    #[codec(index = 4)]
    PvfCheckStarted {
        /// The para.
        id: ParaId,
        /// Hash of the code.
        code_hash: Hash,
    },
    /// Validators accepted code under check: the upgrade of each of its paras still registered
    /// is scheduled.
    #[codec(index = 5)]
    PvfCheckAccepted {
        /// Hash of the code.
        code_hash: Hash,
        /// The paras that sent it.
        paras: Vec<ParaId>,
    },
    /// Validators rejected code under check, or did not decide in time: it is dropped, and
    /// the paras keep their code.
    #[codec(index = 6)]
    PvfCheckRejected {
        /// Hash of the code.
        code_hash: Hash,
        /// The paras that sent it.
        paras: Vec<ParaId>,
    },
}

const BASE_WEIGHT: Weight = 50_000_000;
/// Weight per byte of code stored (hashing and writing).
const WEIGHT_PER_CODE_BYTE: Weight = 2_000;

tessera_runtime::module_error! {
    /// Errors of `paras`.
    pub enum Error for NAME {
        /// The validation code is empty.
        EmptyCode,
        /// The validation code is larger than the chain accepts.
        CodeTooLarge,
        /// The head data is larger than the chain accepts.
        HeadTooLarge,
        /// The para is registered already.
        AlreadyRegistered,
        /// The para is not registered.
        NotRegistered,
        /// The para already has a code upgrade pending.
        UpgradePending,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

fn check_code(code: &ValidationCode) -> Result<(), CallError> {
    if code.0.is_empty() {
        return Err(error(Error::EmptyCode));
    }
    if code.0.len() > MAX_CODE_SIZE {
        return Err(error(Error::CodeTooLarge));
    }
    Ok(())
}

/// Stores `code` (once per hash) and counts one more reference to it.
pub(crate) fn add_code_ref(
    state: &mut State<'_>,
    code: ValidationCode,
) -> tessera_runtime::Result<Hash> {
    let hash = code.hash();
    let refs = CODE_REFS.get_or_default(state, &hash)?;
    if refs == 0 {
        CODE.insert(state, &hash, &code);
    }
    CODE_REFS.insert(state, &hash, &refs.saturating_add(1));
    Ok(hash)
}

/// Drops one reference to `hash`, removing the code with the last one.
pub(crate) fn release_code_ref(state: &mut State<'_>, hash: &Hash) -> tessera_runtime::Result<()> {
    let refs = CODE_REFS.get_or_default(state, hash)?.saturating_sub(1);
    if refs == 0 {
        CODE_REFS.remove(state, hash);
        CODE.remove(state, hash);
    } else {
        CODE_REFS.insert(state, hash, &refs);
    }
    Ok(())
}

/// Registers para `id` (root call or genesis); errors leave the state untouched.
pub fn register(
    state: &mut State<'_>,
    id: ParaId,
    head: HeadData,
    code: ValidationCode,
) -> Result<Hash, CallError> {
    check_code(&code)?;
    if head.0.len() > MAX_HEAD_SIZE {
        return Err(error(Error::HeadTooLarge));
    }
    if PARAS.get(state, &id)?.is_some() {
        return Err(error(Error::AlreadyRegistered));
    }
    let code_hash = add_code_ref(state, code)?;
    PARAS.insert(
        state,
        &id,
        &ParaInfo {
            head,
            code_hash,
            pending: None,
        },
    );
    let mut ids = PARA_IDS.get_or_default(state)?;
    if let Err(position) = ids.binary_search(&id) {
        ids.insert(position, id);
    }
    PARA_IDS.put(state, &ids);
    Ok(code_hash)
}

/// Para `id` as of block `at`: a pending upgrade root scheduled, due by then, counts as
/// enacted (one the para sent waits for its candidate: see [`code_for_candidate`]).
pub fn para_at(
    state: &mut State<'_>,
    id: ParaId,
    at: BlockNumber,
) -> tessera_runtime::Result<Option<ParaInfo>> {
    let Some(mut info) = PARAS.get(state, &id)? else {
        return Ok(None);
    };
    if let Some(pending) = info.pending.filter(|p| p.at <= at) {
        if PARA_UPGRADES.get(state, &id)?.is_none() {
            info.code_hash = pending.code_hash;
            info.pending = None;
        }
    }
    Ok(Some(info))
}

/// Hash of the code that validates para `id`'s next candidate, built on the relay block
/// before `at` whose state is `state`: the code in force, or the para's own upgrade if the
/// candidate pending availability (the next one's parent) is the block that switched to it.
pub fn code_for_candidate(
    state: &mut State<'_>,
    id: ParaId,
    at: BlockNumber,
) -> tessera_runtime::Result<Option<Hash>> {
    let Some(info) = para_at(state, id, at)? else {
        return Ok(None);
    };
    if let (Some(upgrade), Some(pending)) = (
        PARA_UPGRADES.get(state, &id)?,
        crate::inclusion::PENDING.get(state, &id)?,
    ) {
        if pending.relay_parent_number() >= upgrade.at {
            return Ok(Some(upgrade.code_hash));
        }
    }
    Ok(Some(info.code_hash))
}

/// Every registered para id, ascending.
pub fn para_ids(state: &mut State<'_>) -> tessera_runtime::Result<Vec<ParaId>> {
    PARA_IDS.get_or_default(state)
}

/// The validation code with hash `hash`, if stored.
pub fn code(state: &mut State<'_>, hash: &Hash) -> tessera_runtime::Result<Option<ValidationCode>> {
    CODE.get(state, hash)
}

/// Enacts para `id`'s upgrade that root scheduled, if it is due at the block being executed.
pub fn enact_due_upgrade<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
) -> Result<(), CallError> {
    let Some(info) = PARAS.get(&mut ctx.state, &id)? else {
        return Ok(());
    };
    let due = info.pending.filter(|p| p.at <= ctx.block_number);
    if due.is_none() || PARA_UPGRADES.get(&mut ctx.state, &id)?.is_some() {
        return Ok(());
    }
    enact(ctx, id, info)
}

/// Enacts para `id`'s own upgrade as the relay chain includes its candidate built on relay
/// block `relay_parent_number`: that block switched the para to it if the relay parent is
/// at or after the upgrade's block.
pub fn enact_para_upgrade<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    relay_parent_number: BlockNumber,
) -> Result<(), CallError> {
    let Some(upgrade) = PARA_UPGRADES.get(&mut ctx.state, &id)? else {
        return Ok(());
    };
    if relay_parent_number < upgrade.at {
        return Ok(());
    }
    let Some(info) = PARAS.get(&mut ctx.state, &id)? else {
        return Ok(());
    };
    PARA_UPGRADES.remove(&mut ctx.state, &id);
    enact(ctx, id, info)
}

/// Puts `info`'s pending code in force.
fn enact<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    mut info: ParaInfo,
) -> Result<(), CallError> {
    let Some(pending) = info.pending.take() else {
        return Ok(());
    };
    release_code_ref(&mut ctx.state, &info.code_hash)?;
    info.code_hash = pending.code_hash;
    PARAS.insert(&mut ctx.state, &id, &info);
    ctx.deposit_event(Event::CodeUpgraded {
        id,
        code_hash: pending.code_hash,
    });
    Ok(())
}

/// Why code a para sends itself is no code any para may send, if it is not: empty, or over
/// [`MAX_UPGRADE_CODE_SIZE`].
pub fn para_code_refusal(code: &ValidationCode) -> Option<&'static str> {
    if code.0.is_empty() {
        return Some("the code is empty");
    }
    (code.0.len() > MAX_UPGRADE_CODE_SIZE).then_some("the code is over the size limit")
}

/// Why [`schedule_code_upgrade`] would refuse `code` a para sent in block `now`, if it would.
pub fn upgrade_refusal(
    state: &mut State<'_>,
    id: ParaId,
    code: &ValidationCode,
    now: BlockNumber,
) -> tessera_runtime::Result<Option<&'static str>> {
    if let Some(why) = para_code_refusal(code) {
        return Ok(Some(why));
    }
    Ok(match para_at(state, id, now)? {
        None => Some("the para is not registered"),
        Some(info) if info.pending.is_some() => Some("an upgrade is already pending"),
        Some(_) if PARA_UPGRADE_CHECKS.get(state, &id)?.is_some() => {
            Some("an upgrade is already pending")
        }
        Some(_) => None,
    })
}

/// Schedules `code` to replace para `id`'s code [`UPGRADE_DELAY`] blocks from now: by root
/// (`by_para` false), or by the para itself through its candidate's commitments, once
/// validators accepted it ([`crate::pvf_check`]). Root's replaces an upgrade the para sent
/// unless a para block that switched to it may be on its way ([`may_have_switched`]): so root
/// recovers a para stalled with an upgrade pending or under check, and the para drops its own
/// when it no longer finds it listed.
pub fn schedule_code_upgrade<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    code: ValidationCode,
    by_para: bool,
) -> Result<(), CallError> {
    check_code(&code)?;
    if by_para && para_code_refusal(&code).is_some() {
        return Err(error(Error::CodeTooLarge));
    }
    enact_due_upgrade(ctx, id)?;
    let mut info = PARAS
        .get(&mut ctx.state, &id)?
        .ok_or_else(|| error(Error::NotRegistered))?;
    if let Some(pending) = info.pending {
        let replaceable = !by_para
            && PARA_UPGRADES.get(&mut ctx.state, &id)?.is_some()
            && !may_have_switched(ctx, id, pending.at)?;
        if !replaceable {
            return Err(error(Error::UpgradePending));
        }
        PARA_UPGRADES.remove(&mut ctx.state, &id);
        release_code_ref(&mut ctx.state, &pending.code_hash)?;
        info.pending = None;
    }
    if PARA_UPGRADE_CHECKS.get(&mut ctx.state, &id)?.is_some() {
        if by_para {
            return Err(error(Error::UpgradePending));
        }
        crate::pvf_check::withdraw(&mut ctx.state, id)?;
    }
    let code_hash = add_code_ref(&mut ctx.state, code)?;
    schedule(ctx, id, info, code_hash, by_para);
    Ok(())
}

/// Schedules para `id`'s upgrade to the code its validators accepted, whose reference the
/// check held ([`crate::pvf_check`]). Root's upgrade and deregistration withdraw a para from
/// its check, so the para is registered with nothing pending; were it not, the reference is
/// released and nothing scheduled.
pub fn schedule_checked<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    code_hash: Hash,
) -> Result<(), CallError> {
    match PARAS.get(&mut ctx.state, &id)? {
        Some(info) if info.pending.is_none() => {
            schedule(ctx, id, info, code_hash, true);
            Ok(())
        }
        _ => Ok(release_code_ref(&mut ctx.state, &code_hash)?),
    }
}

/// Makes `code_hash` (referenced already) para `id`'s pending upgrade, [`UPGRADE_DELAY`]
/// blocks from now, listed for the para if it sent it.
fn schedule<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    mut info: ParaInfo,
    code_hash: Hash,
    by_para: bool,
) {
    let at = ctx.block_number.saturating_add(UPGRADE_DELAY);
    let upgrade = PendingUpgrade { code_hash, at };
    info.pending = Some(upgrade);
    PARAS.insert(&mut ctx.state, &id, &info);
    if by_para {
        PARA_UPGRADES.insert(&mut ctx.state, &id, &upgrade);
    }
    ctx.deposit_event(Event::CodeUpgradeScheduled { id, code_hash, at });
}

/// Whether a block of para `id` that switched to its own upgrade due at relay block `at` may
/// be on its way (built on a relay parent at or after `at`): until `at`, none can be; after
/// it, once this block's parachains inherent has run, only the candidate pending availability
/// can be one (one included enacted the upgrade, and candidates built from now on no longer
/// find it listed). Before the inherent has run, any may be.
fn may_have_switched<E>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    at: BlockNumber,
) -> tessera_runtime::Result<bool> {
    if ctx.block_number <= at {
        return Ok(false);
    }
    if crate::inclusion::ENTERED.get(&mut ctx.state)? != Some(ctx.block_number) {
        return Ok(true);
    }
    Ok(crate::inclusion::PENDING
        .get(&mut ctx.state, &id)?
        .is_some_and(|pending| pending.relay_parent_number() >= at))
}

/// Removes para `id` (its core goes from the next block on) and releases its code.
pub fn deregister<E: From<Event>>(ctx: &mut Context<'_, E>, id: ParaId) -> CallResult {
    let info = PARAS
        .get(&mut ctx.state, &id)?
        .ok_or_else(|| error(Error::NotRegistered))?;
    release_code_ref(&mut ctx.state, &info.code_hash)?;
    if let Some(pending) = info.pending {
        release_code_ref(&mut ctx.state, &pending.code_hash)?;
    }
    crate::pvf_check::withdraw(&mut ctx.state, id)?;
    PARAS.remove(&mut ctx.state, &id);
    PARA_UPGRADES.remove(&mut ctx.state, &id);
    crate::inclusion::PENDING.remove(&mut ctx.state, &id);
    let mut ids = PARA_IDS.get_or_default(&mut ctx.state)?;
    ids.retain(|other| *other != id);
    PARA_IDS.put(&mut ctx.state, &ids);
    ctx.deposit_event(Event::Deregistered { id });
    Ok(())
}

/// Makes `head` para `id`'s latest included head.
pub fn set_head(state: &mut State<'_>, id: ParaId, head: HeadData) -> Result<(), CallError> {
    let mut info = PARAS
        .get(state, &id)?
        .ok_or_else(|| error(Error::NotRegistered))?;
    info.head = head;
    PARAS.insert(state, &id, &info);
    Ok(())
}

impl<E: From<Event>> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        let code_bytes = match self {
            Call::Register { code, .. } | Call::ScheduleCodeUpgrade { code, .. } => code.0.len(),
            Call::Deregister { .. } => 0,
        };
        BASE_WEIGHT.saturating_add(WEIGHT_PER_CODE_BYTE.saturating_mul(code_bytes as Weight))
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        origin.ensure_root()?;
        match self {
            Call::Register {
                id,
                genesis_head,
                code,
            } => {
                crate::registrar::claim_for_root(&mut ctx.state, id)?;
                let code_hash = register(&mut ctx.state, id, genesis_head, code)?;
                ctx.deposit_event(Event::Registered { id, code_hash });
            }
            Call::ScheduleCodeUpgrade { id, code } => schedule_code_upgrade(ctx, id, code, false)?,
            Call::Deregister { id } => deregister(ctx, id)?,
        }
        Ok(())
    }
}
