//! The relay runtime's parachain host API (Polkadot's `ParachainHost`): what nodes ask the
//! runtime under `:code` at a relay block about validators, cores, backing groups and the data
//! a candidate is validated with, rather than reading relay state by its keys and repeating
//! the runtime's rules natively (so a runtime upgrade that changes a rule changes it for the
//! nodes too). Each is a read-only call on the state of the block asked about; the Wasm
//! exports are at the end of `lib.rs`, and `node/src/parachains/relay_api.rs` calls them.

use crate::inclusion::{self, PendingCandidate};
use crate::paras::{self, ParaId, ValidationCode};
use crate::prelude::*;
use crate::{disputes, session};
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::parachain::{CandidateDescriptor, PersistedValidationData};
use tessera_runtime::state::State;
use tessera_runtime::{AccountId, BlockNumber, Hash, Header, Result};

pub use tessera_runtime::wasm::api::parachain_host::{
    AVAILABILITY_CORES, BACKING_GROUP, CANDIDATE_VALIDATION, DISABLED_VALIDATORS,
    VALIDATION_CODE_BY_HASH, VALIDATORS,
};

/// A core: the para assigned to it and its candidate pending availability, if any.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CoreState {
    /// The para on the core.
    pub para: ParaId,
    /// Its candidate pending availability.
    pub occupied: Option<OccupiedCore>,
}

/// The candidate pending availability on a core, without its commitments (which may carry
/// megabytes of new code): what approval checking needs of it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct OccupiedCore {
    /// The candidate's hash.
    pub hash: Hash,
    /// Its descriptor.
    pub descriptor: CandidateDescriptor,
    /// The hash of its commitments.
    pub commitments_hash: Hash,
    /// Validators that backed it.
    pub backers: Vec<u32>,
}

impl From<PendingCandidate> for OccupiedCore {
    fn from(pending: PendingCandidate) -> Self {
        OccupiedCore {
            hash: pending.hash,
            commitments_hash: pending.commitments.hash(),
            descriptor: pending.descriptor,
            backers: pending.backers,
        }
    }
}

/// What a candidate is validated with: the validation data it must commit to and the hash of
/// the code that validates it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CandidateValidation {
    /// The persisted validation data.
    pub data: PersistedValidationData,
    /// The hash of the validation code.
    pub code_hash: Hash,
}

/// [`VALIDATORS`].
pub fn validators(state: &mut State<'_>, (): ()) -> Result<Vec<AccountId>> {
    session::validators(state)
}

/// [`DISABLED_VALIDATORS`].
pub fn disabled_validators(state: &mut State<'_>, (): ()) -> Result<Vec<u32>> {
    disputes::disabled(state)
}

/// [`AVAILABILITY_CORES`]: each core's para and the candidate occupying it.
pub fn availability_cores(state: &mut State<'_>, (): ()) -> Result<Vec<CoreState>> {
    paras::para_ids(state)?
        .into_iter()
        .map(|para| {
            let occupied = inclusion::PENDING
                .get(state, &para)?
                .map(OccupiedCore::from);
            Ok(CoreState { para, occupied })
        })
        .collect()
}

/// [`BACKING_GROUP`].
pub fn backing_group(
    state: &mut State<'_>,
    (para, number): (ParaId, BlockNumber),
) -> Result<Option<Vec<u32>>> {
    let validators = u32::try_from(session::validators(state)?.len()).unwrap_or(u32::MAX);
    let cores = paras::para_ids(state)?;
    Ok(inclusion::backing_group(validators, &cores, para, number))
}

/// [`CANDIDATE_VALIDATION`].
pub fn candidate_validation(
    state: &mut State<'_>,
    (relay_parent, para): (Header, ParaId),
) -> Result<Option<CandidateValidation>> {
    let Some(data) = inclusion::persisted_validation_data(state, para, &relay_parent)? else {
        return Ok(None);
    };
    let next = relay_parent.number.saturating_add(1);
    let Some(code_hash) = paras::code_for_candidate(state, para, next)? else {
        return Ok(None);
    };
    Ok(Some(CandidateValidation { data, code_hash }))
}

/// [`VALIDATION_CODE_BY_HASH`].
pub fn validation_code_by_hash(
    state: &mut State<'_>,
    code_hash: Hash,
) -> Result<Option<ValidationCode>> {
    paras::code(state, &code_hash)
}
