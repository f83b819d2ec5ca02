//! `paras`: the registry of parachains — each para's id, its latest head, and the hash of its
//! validation code; code stored once by hash (reference-counted, size-limited); code upgrades
//! that take effect [`UPGRADE_DELAY`] blocks after they are scheduled; deregistration.
//!
//! Registration, upgrades and deregistration here take the root origin (sudo or governance)
//! or happen in genesis; any account registers a para through [`crate::registrar`]. A scheduled upgrade is enacted lazily: the first call touching the para
//! at or after its block enacts it, and [`para_at`] reads the para as of any block, so
//! validation always uses the code in force at the candidate's relay parent.

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{
    CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight,
};
use tessera_runtime::state::State;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{BlockNumber, Hash};

pub use tessera_runtime::parachain::{HeadData, ParaId, ValidationCode};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Paras";
/// Largest validation code accepted (3 MiB, Polkadot's default).
pub const MAX_CODE_SIZE: usize = 3 * 1024 * 1024;
/// Largest head data accepted.
pub const MAX_HEAD_SIZE: usize = 32 * 1024;
/// Blocks between scheduling a code upgrade and its taking effect.
pub const UPGRADE_DELAY: BlockNumber = 10;

/// A code upgrade waiting for its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PendingUpgrade {
    /// Hash of the new code.
    pub code_hash: Hash,
    /// The first block whose candidates are validated with it.
    pub at: BlockNumber,
}

/// What the registry keeps per para.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
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

/// Calls of `paras` (root only).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
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
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
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
}

const BASE_WEIGHT: Weight = 50_000_000;
/// Weight per byte of code stored (hashing and writing).
const WEIGHT_PER_CODE_BYTE: Weight = 2_000;

fn error(name: &str) -> CallError {
    DispatchError::module(NAME, name).into()
}

fn check_code(code: &ValidationCode) -> Result<(), CallError> {
    if code.0.is_empty() {
        return Err(error("EmptyCode"));
    }
    if code.0.len() > MAX_CODE_SIZE {
        return Err(error("CodeTooLarge"));
    }
    Ok(())
}

/// Stores `code` (once per hash) and counts one more reference to it.
fn add_code_ref(state: &mut State<'_>, code: ValidationCode) -> tessera_runtime::Result<Hash> {
    let hash = code.hash();
    let refs = CODE_REFS.get_or_default(state, &hash)?;
    if refs == 0 {
        CODE.insert(state, &hash, &code);
    }
    CODE_REFS.insert(state, &hash, &refs.saturating_add(1));
    Ok(hash)
}

/// Drops one reference to `hash`, removing the code with the last one.
fn release_code_ref(state: &mut State<'_>, hash: &Hash) -> tessera_runtime::Result<()> {
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
        return Err(error("HeadTooLarge"));
    }
    if PARAS.get(state, &id)?.is_some() {
        return Err(error("AlreadyRegistered"));
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

/// Para `id` as of block `at`: a pending upgrade due by then counts as enacted.
pub fn para_at(
    state: &mut State<'_>,
    id: ParaId,
    at: BlockNumber,
) -> tessera_runtime::Result<Option<ParaInfo>> {
    Ok(PARAS.get(state, &id)?.map(|mut info| {
        if let Some(pending) = info.pending.filter(|p| p.at <= at) {
            info.code_hash = pending.code_hash;
            info.pending = None;
        }
        info
    }))
}

/// Every registered para id, ascending.
pub fn para_ids(state: &mut State<'_>) -> tessera_runtime::Result<Vec<ParaId>> {
    PARA_IDS.get_or_default(state)
}

/// The validation code with hash `hash`, if stored.
pub fn code(state: &mut State<'_>, hash: &Hash) -> tessera_runtime::Result<Option<ValidationCode>> {
    CODE.get(state, hash)
}

/// Enacts para `id`'s upgrade if it is due at the block being executed.
pub fn enact_due_upgrade<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
) -> Result<(), CallError> {
    let Some(mut info) = PARAS.get(&mut ctx.state, &id)? else {
        return Ok(());
    };
    let Some(pending) = info.pending.filter(|p| p.at <= ctx.block_number) else {
        return Ok(());
    };
    release_code_ref(&mut ctx.state, &info.code_hash)?;
    info.code_hash = pending.code_hash;
    info.pending = None;
    PARAS.insert(&mut ctx.state, &id, &info);
    ctx.deposit_event(Event::CodeUpgraded {
        id,
        code_hash: pending.code_hash,
    });
    Ok(())
}

/// Why [`schedule_code_upgrade`] would refuse `code` for para `id` in block `now`, if it would.
pub fn upgrade_refusal(
    state: &mut State<'_>,
    id: ParaId,
    code: &ValidationCode,
    now: BlockNumber,
) -> tessera_runtime::Result<Option<&'static str>> {
    if code.0.is_empty() {
        return Ok(Some("the code is empty"));
    }
    if code.0.len() > MAX_CODE_SIZE {
        return Ok(Some("the code is over the size limit"));
    }
    Ok(match para_at(state, id, now)? {
        None => Some("the para is not registered"),
        Some(info) if info.pending.is_some() => Some("an upgrade is already pending"),
        Some(_) => None,
    })
}

/// Schedules `code` to replace para `id`'s code [`UPGRADE_DELAY`] blocks from now (by root, or
/// by the para itself through its candidate's commitments).
pub fn schedule_code_upgrade<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    code: ValidationCode,
) -> Result<(), CallError> {
    check_code(&code)?;
    enact_due_upgrade(ctx, id)?;
    let mut info = PARAS
        .get(&mut ctx.state, &id)?
        .ok_or_else(|| error("NotRegistered"))?;
    if info.pending.is_some() {
        return Err(error("UpgradePending"));
    }
    let code_hash = add_code_ref(&mut ctx.state, code)?;
    let at = ctx.block_number.saturating_add(UPGRADE_DELAY);
    info.pending = Some(PendingUpgrade { code_hash, at });
    PARAS.insert(&mut ctx.state, &id, &info);
    ctx.deposit_event(Event::CodeUpgradeScheduled { id, code_hash, at });
    Ok(())
}

/// Removes para `id` (its core goes from the next block on) and releases its code.
pub fn deregister<E: From<Event>>(ctx: &mut Context<'_, E>, id: ParaId) -> CallResult {
    let info = PARAS
        .get(&mut ctx.state, &id)?
        .ok_or_else(|| error("NotRegistered"))?;
    release_code_ref(&mut ctx.state, &info.code_hash)?;
    if let Some(pending) = info.pending {
        release_code_ref(&mut ctx.state, &pending.code_hash)?;
    }
    PARAS.remove(&mut ctx.state, &id);
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
        .ok_or_else(|| error("NotRegistered"))?;
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
            Call::ScheduleCodeUpgrade { id, code } => schedule_code_upgrade(ctx, id, code)?,
            Call::Deregister { id } => deregister(ctx, id)?,
        }
        Ok(())
    }
}
