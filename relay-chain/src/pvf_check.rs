//! `pvf_check`: validators vote on a para's new code before it is scheduled (Polkadot's PVF
//! pre-checking), so code no validator can compile never becomes the code a para must run.
//!
//! The runtime refuses statically what it can see ([`tessera_runtime::wasm::check_code`]); what
//! only compiling shows (a compiler's limits, a compile too slow) is judged by the validators.
//! When the relay chain includes a candidate carrying new code, the code is stored and put
//! under check ([`start`]) instead of being scheduled, and listed for the para in
//! [`PARA_UPGRADE_CHECKS`] (so the para keeps waiting for its go-ahead). Each validator compiles
//! it and signs a [`PvfCheckStatement`] for this check (the payload names the block that
//! started it, so a verdict on an earlier check of the same code cannot be replayed); statements
//! travel among validators by gossip and reach the chain in the parachains inherent
//! ([`record`]). Once a supermajority (more than two thirds) accepts, the upgrade is scheduled
//! for every para that sent that code ([`crate::paras::schedule_checked`]); once enough reject
//! that a supermajority is out of reach, or with no decision within [`PRECHECK_TTL`] blocks,
//! the code is dropped, and the para drops its pending code when it no longer finds it listed.
//! Every code a para sends is checked, even one the chain stores already (registered by root
//! or the registrar, which no validator compiled before it ran).
//!
//! Votes are by the session's validators, with their `para_validator` keys; when other
//! validators take over, a check still open restarts with them ([`on_new_validators`]), as in
//! Polkadot.

use crate::prelude::*;

use crate::paras::{self, Event, ParaId, ValidationCode};
use crate::session::ParaValidators;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallError, Context};
use tessera_runtime::state::State;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{BlockNumber, Hash, Signature};

pub use tessera_runtime::parachain::PARA_UPGRADE_CHECKS;

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "PvfCheck";
/// Blocks a check may stay open; one undecided by then is rejected, as in Polkadot. Room for
/// validators to compile each code under check in turn, at most one per para, each within the
/// node's compile limit.
pub const PRECHECK_TTL: BlockNumber = 100;
/// Most statements one inherent may carry.
pub const MAX_STATEMENTS_PER_BLOCK: usize = 256;

/// A validator's signed verdict on code under check.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PvfCheckStatement {
    /// Whether the validator compiled the code within its limits.
    pub accept: bool,
    /// The code's hash.
    pub code_hash: Hash,
    /// The session the vote is for.
    pub session: u32,
    /// The validator's index in the session.
    pub validator: u32,
    /// Its signature over [`statement_payload`].
    pub signature: Signature,
}

/// What a validator signs to vote on code under the check started at block `started_at`.
pub fn statement_payload(
    code_hash: &Hash,
    session: u32,
    started_at: BlockNumber,
    accept: bool,
) -> Vec<u8> {
    (b"tessera/pvf-check", code_hash, session, started_at, accept).encode()
}

/// A check under way.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Precheck {
    /// The block that started it.
    pub started_at: BlockNumber,
    /// The session its votes are for.
    pub session: u32,
    /// Each validator's vote so far, by index.
    pub votes: Vec<Option<bool>>,
    /// The paras that sent this code, ascending: each is scheduled or refused with it.
    pub paras: Vec<ParaId>,
}

impl Precheck {
    /// How many voted `accept`.
    pub fn count(&self, accept: bool) -> usize {
        self.votes.iter().filter(|v| **v == Some(accept)).count()
    }

    /// Its outcome once its votes decide it: accepted by a supermajority, or rejected once so
    /// many reject that a supermajority is out of reach.
    pub fn outcome(&self) -> Option<bool> {
        let validators = self.votes.len();
        let needed = crate::disputes::supermajority(validators);
        if self.count(true) >= needed {
            Some(true)
        } else if self.count(false) > validators.saturating_sub(needed) {
            Some(false)
        } else {
            None
        }
    }
}

/// Checks under way, by code hash.
pub static PRECHECKS: StorageMap<Hash, Precheck> = StorageMap::new(NAME, "Prechecks");
/// Code hashes under check, in the order their checks started.
pub static ACTIVE: StorageValue<Vec<Hash>> = StorageValue::new(NAME, "Active");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![PRECHECKS.metadata(), ACTIVE.metadata_or_default(),]
}

tessera_runtime::module_error! {
    /// Errors of `pvf_check`.
    pub enum Error for NAME {
        /// The block carries more statements than a block may.
        TooManyStatements,
        /// The code is not being pre-checked.
        NotUnderCheck,
        /// The statement is for another session.
        WrongSession,
        /// The validator is not in the session's set.
        UnknownValidator,
        /// The validator has voted on this code already.
        DoubleVote,
        /// A statement's signature does not verify.
        BadSignature,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

/// The code hashes under check, oldest first (what validators compile and vote on).
pub fn active(state: &mut State<'_>) -> tessera_runtime::Result<Vec<Hash>> {
    ACTIVE.get_or_default(state)
}

/// Puts `code`, which para `id` sent in a candidate the relay chain includes now, under check
/// (joining the open check of the same code, if any).
pub fn start<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: ParaId,
    code: ValidationCode,
) -> Result<(), CallError> {
    let code_hash = code.hash();
    let mut check = match PRECHECKS.get(&mut ctx.state, &code_hash)? {
        Some(check) => check,
        None => {
            let validators = crate::session::para_validators(&mut ctx.state)?;
            let mut active = ACTIVE.get_or_default(&mut ctx.state)?;
            active.push(code_hash);
            ACTIVE.put(&mut ctx.state, &active);
            Precheck {
                started_at: ctx.block_number,
                session: validators.session,
                votes: vec![None; validators.len()],
                paras: Vec::new(),
            }
        }
    };
    if let Err(position) = check.paras.binary_search(&id) {
        check.paras.insert(position, id);
    }
    paras::add_code_ref(&mut ctx.state, code)?;
    PRECHECKS.insert(&mut ctx.state, &code_hash, &check);
    PARA_UPGRADE_CHECKS.insert(&mut ctx.state, &id, &code_hash);
    ctx.deposit_event(Event::PvfCheckStarted { id, code_hash });
    Ok(())
}

/// Withdraws para `id`'s code from its check (root replaced the upgrade, or the para left),
/// releasing the para's reference to it; the check ends with its last para.
pub fn withdraw(state: &mut State<'_>, id: ParaId) -> tessera_runtime::Result<()> {
    let Some(code_hash) = PARA_UPGRADE_CHECKS.get(state, &id)? else {
        return Ok(());
    };
    PARA_UPGRADE_CHECKS.remove(state, &id);
    paras::release_code_ref(state, &code_hash)?;
    let Some(mut check) = PRECHECKS.get(state, &code_hash)? else {
        return Ok(());
    };
    check.paras.retain(|para| *para != id);
    if check.paras.is_empty() {
        end(state, &code_hash)?;
    } else {
        PRECHECKS.insert(state, &code_hash, &check);
    }
    Ok(())
}

/// Removes a check.
fn end(state: &mut State<'_>, code_hash: &Hash) -> tessera_runtime::Result<()> {
    PRECHECKS.remove(state, code_hash);
    let mut active = ACTIVE.get_or_default(state)?;
    active.retain(|hash| hash != code_hash);
    ACTIVE.put(state, &active);
    Ok(())
}

/// Counts the inherent's statements and concludes the checks they decide, then rejects those
/// open for [`PRECHECK_TTL`] blocks. A statement for code not under check, of another
/// session, by an unknown validator, voting twice, or badly signed fails the whole inherent:
/// the author chose it against the parent's state, where all of that shows.
pub fn record<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    validators: &ParaValidators,
    statements: Vec<PvfCheckStatement>,
) -> Result<(), CallError> {
    if statements.len() > MAX_STATEMENTS_PER_BLOCK {
        return Err(error(Error::TooManyStatements));
    }
    for statement in statements {
        let code_hash = statement.code_hash;
        let mut check = PRECHECKS
            .get(&mut ctx.state, &code_hash)?
            .ok_or_else(|| error(Error::NotUnderCheck))?;
        if statement.session != check.session {
            return Err(error(Error::WrongSession));
        }
        let signer = validators
            .key(statement.validator)
            .ok_or_else(|| error(Error::UnknownValidator))?;
        let vote = check
            .votes
            .get_mut(statement.validator as usize)
            .ok_or_else(|| error(Error::UnknownValidator))?;
        if vote.is_some() {
            return Err(error(Error::DoubleVote));
        }
        let payload = statement_payload(
            &code_hash,
            statement.session,
            check.started_at,
            statement.accept,
        );
        if !signer.verify(&payload, &statement.signature) {
            return Err(error(Error::BadSignature));
        }
        *vote = Some(statement.accept);
        match check.outcome() {
            Some(accepted) => conclude(ctx, &code_hash, check, accepted)?,
            None => PRECHECKS.insert(&mut ctx.state, &code_hash, &check),
        }
    }
    let now = ctx.block_number;
    for code_hash in ACTIVE.get_or_default(&mut ctx.state)? {
        let Some(check) = PRECHECKS.get(&mut ctx.state, &code_hash)? else {
            continue;
        };
        if now >= check.started_at.saturating_add(PRECHECK_TTL) {
            conclude(ctx, &code_hash, check, false)?;
        }
    }
    Ok(())
}

/// Restarts the votes of every check under way for the new validators of session
/// `validators.session`: votes are by index, and those who cast them may have left.
pub fn on_new_validators(
    state: &mut State<'_>,
    validators: &ParaValidators,
) -> tessera_runtime::Result<()> {
    for code_hash in ACTIVE.get_or_default(state)? {
        let Some(mut check) = PRECHECKS.get(state, &code_hash)? else {
            continue;
        };
        check.session = validators.session;
        check.votes = vec![None; validators.len()];
        PRECHECKS.insert(state, &code_hash, &check);
    }
    Ok(())
}

/// Ends a decided check: schedules the upgrade of each of its paras, or drops the code.
fn conclude<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    code_hash: &Hash,
    check: Precheck,
    accepted: bool,
) -> Result<(), CallError> {
    end(&mut ctx.state, code_hash)?;
    for id in &check.paras {
        PARA_UPGRADE_CHECKS.remove(&mut ctx.state, id);
        if accepted {
            paras::schedule_checked(ctx, *id, *code_hash)?;
        } else {
            paras::release_code_ref(&mut ctx.state, code_hash)?;
        }
    }
    let code_hash = *code_hash;
    let paras = check.paras;
    ctx.deposit_event(if accepted {
        Event::PvfCheckAccepted { code_hash, paras }
    } else {
        Event::PvfCheckRejected { code_hash, paras }
    });
    Ok(())
}
