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
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::parachain::{CandidateDescriptor, PersistedValidationData};
use tessera_runtime::state::State;
use tessera_runtime::storage::StorageValue;
use tessera_runtime::{AccountId, BlockNumber, Hash, Header, Result};

pub use tessera_runtime::wasm::api::parachain_host::{
    AVAILABILITY_CORES, BACKING_GROUP, CANDIDATE_EVENTS, CANDIDATE_VALIDATION, CREATE_INHERENT,
    DISABLED_VALIDATORS, INBOUND_MESSAGES, PVF_CHECKS, VALIDATION_CODE_BY_HASH, VALIDATORS,
};

/// A core: the para assigned to it and its candidate pending availability, if any.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct CoreState {
    /// The para on the core.
    pub para: ParaId,
    /// Its candidate pending availability.
    pub occupied: Option<OccupiedCore>,
}

/// The candidate pending availability on a core, without its commitments (which may carry
/// megabytes of new code): what approval checking needs of it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct OccupiedCore {
    /// The candidate's hash.
    pub hash: Hash,
    /// Its descriptor.
    pub descriptor: CandidateDescriptor,
    /// The hash of its commitments.
    pub commitments_hash: Hash,
    /// Its backers' statements.
    pub backing: Vec<crate::inclusion::ValidityVote>,
}

impl OccupiedCore {
    /// The validators that backed it.
    pub fn backers(&self) -> impl Iterator<Item = u32> + '_ {
        self.backing.iter().map(|vote| vote.validator)
    }
}

impl From<PendingCandidate> for OccupiedCore {
    fn from(pending: PendingCandidate) -> Self {
        OccupiedCore {
            hash: pending.hash,
            commitments_hash: pending.commitments.hash(),
            descriptor: pending.descriptor,
            backing: pending.backing,
        }
    }
}

/// What a candidate is validated with: the validation data it must commit to and the hash of
/// the code that validates it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct CandidateValidation {
    /// The persisted validation data.
    pub data: PersistedValidationData,
    /// The hash of the validation code.
    pub code_hash: Hash,
}

/// What a relay block did with candidates (Polkadot's `CandidateEvent`, with the disputes
/// it concluded): what nodes follow without decoding the runtime's events themselves.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum CandidateEvent {
    /// Backed: it waits for availability on its para's core.
    #[codec(index = 0)]
    Backed {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
    },
    /// Available: its head is the para's head now.
    #[codec(index = 1)]
    Included {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
    },
    /// Not available in time: dropped from its core.
    #[codec(index = 2)]
    TimedOut {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
    },
    /// Pending availability, concluded invalid by a dispute: dropped from its core.
    #[codec(index = 3)]
    Invalidated {
        /// The para.
        para: ParaId,
        /// The candidate.
        candidate_hash: Hash,
    },
    /// A dispute about it concluded.
    #[codec(index = 4)]
    DisputeConcluded {
        /// The candidate.
        candidate_hash: Hash,
        /// Whether it was found valid.
        valid: bool,
    },
}

/// The events of the block whose state is read (`system`'s, under its key).
static EVENTS: StorageValue<Vec<EventRecord<crate::Event>>> =
    StorageValue::new(tessera_runtime::modules::system::NAME, "Events");

/// [`CANDIDATE_EVENTS`]: those of the block asked at, in order.
pub fn candidate_events(state: &mut State<'_>, (): ()) -> Result<Vec<CandidateEvent>> {
    Ok(EVENTS
        .get_or_default(state)?
        .into_iter()
        .filter_map(|record| match record.event {
            crate::Event::ParaInclusion(event) => candidate_event(event),
            _ => None,
        })
        .collect())
}

fn candidate_event(event: inclusion::Event) -> Option<CandidateEvent> {
    use inclusion::Event as E;
    Some(match event {
        E::CandidateBacked {
            para,
            candidate_hash,
            ..
        } => CandidateEvent::Backed {
            para,
            candidate_hash,
        },
        E::CandidateIncluded {
            para,
            candidate_hash,
            ..
        } => CandidateEvent::Included {
            para,
            candidate_hash,
        },
        E::CandidateTimedOut {
            para,
            candidate_hash,
        } => CandidateEvent::TimedOut {
            para,
            candidate_hash,
        },
        E::CandidateInvalidated {
            para,
            candidate_hash,
        } => CandidateEvent::Invalidated {
            para,
            candidate_hash,
        },
        E::DisputeConcluded {
            candidate_hash,
            valid,
        } => CandidateEvent::DisputeConcluded {
            candidate_hash,
            valid,
        },
        _ => return None,
    })
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

/// [`INBOUND_MESSAGES`].
pub fn inbound_messages(
    state: &mut State<'_>,
    para: ParaId,
) -> Result<crate::messaging::InboundMessages> {
    crate::messaging::inbound_messages(state, para)
}

/// [`VALIDATION_CODE_BY_HASH`].
pub fn validation_code_by_hash(
    state: &mut State<'_>,
    code_hash: Hash,
) -> Result<Option<ValidationCode>> {
    paras::code(state, &code_hash)
}

/// [`PVF_CHECKS`]: the checks of new para code under way, oldest first, with their votes.
pub fn pvf_checks(
    state: &mut State<'_>,
    (): (),
) -> Result<Vec<(Hash, crate::pvf_check::Precheck)>> {
    let mut checks = Vec::new();
    for code_hash in crate::pvf_check::active(state)? {
        if let Some(check) = crate::pvf_check::PRECHECKS.get(state, &code_hash)? {
            checks.push((code_hash, check));
        }
    }
    Ok(checks)
}

/// What a block author has for the parachains inherent of the block after `parent_header`
/// ([`CREATE_INHERENT`]): everything it holds; the runtime keeps what it would accept.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct InherentOffer {
    /// The parent block's header.
    pub parent_header: Header,
    /// Availability bitfields signed on the parent.
    pub bitfields: Vec<inclusion::SignedBitfield>,
    /// Candidates backed on the parent, in the author's order of preference (any number per
    /// para: the first the runtime accepts is taken).
    pub backable: Vec<inclusion::BackedCandidate>,
    /// Concluded disputes not recorded yet.
    pub disputes: Vec<disputes::DisputeStatementSet>,
    /// Verdicts on code under check not counted yet.
    pub pvf_checks: Vec<crate::pvf_check::PvfCheckStatement>,
    /// Most bytes of candidates' commitments the block may carry (the author's network
    /// limit).
    pub max_commitment_bytes: u32,
}

/// The parachains inherent the runtime made from an [`InherentOffer`], with what it left out
/// and why (for the author's log).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct CreatedInherent {
    /// The inherent's call.
    pub call: inclusion::Call,
    /// Offered candidates left out, with why.
    pub left_out: Vec<(Hash, String)>,
    /// Whole parts of the offer left out (the disputes, the verdicts), with why.
    pub dropped: Vec<String>,
}

/// [`CREATE_INHERENT`]: the parachains inherent for the block after the one whose state is
/// `state`, from what the author offers, by the rules of this runtime: a dry run of the
/// inherent with the offer's bitfields, disputes and verdicts (if the inherent fails with
/// them: without the disputes, then without the verdicts, then without both), then each
/// offered candidate checked on the state that leaves, as the inherent would check it (with
/// the cores as the block starts: the dry run also onboards paras, which get a core only from
/// the next block), in the offer's order: one per para, within the commitment budget and the
/// block's weight, new code the relay chain would refuse taking none of it. `Ok(Err(_))`:
/// even the bitfields alone fail the inherent.
pub fn create_inherent(
    mut state: State<'_>,
    offer: InherentOffer,
) -> Result<core::result::Result<CreatedInherent, String>> {
    use tessera_runtime::dispatch::Dispatch;
    use tessera_runtime::executive::{Executive, Runtime};
    use tessera_runtime::extrinsic::Extrinsic;
    let InherentOffer {
        parent_header: parent,
        bitfields,
        backable,
        disputes,
        pvf_checks,
        max_commitment_bytes,
    } = offer;
    let cores = paras::para_ids(&mut state)?;
    let validators = session::para_validators(&mut state)?;
    // A set that fails its checks is left out alone, not with every other dispute.
    let disputes: Vec<disputes::DisputeStatementSet> = disputes
        .into_iter()
        .filter(|set| disputes::check(&mut state, &validators, set).is_ok())
        .collect();
    let now = parent.number.saturating_add(1);
    let mut block = Executive::<crate::RelayRuntime>::initialize(state, now, parent.hash(), None)?;
    let enter = |disputes: &[disputes::DisputeStatementSet],
                 pvf_checks: &[crate::pvf_check::PvfCheckStatement],
                 backed: Vec<inclusion::BackedCandidate>| inclusion::Call::Enter {
        parent_header: parent.clone(),
        bitfields: bitfields.clone(),
        backed,
        disputes: disputes.to_vec(),
        pvf_checks: pvf_checks.to_vec(),
    };
    let no_disputes: &[disputes::DisputeStatementSet] = &[];
    let no_verdicts: &[crate::pvf_check::PvfCheckStatement] = &[];
    let attempts = [
        (&disputes[..], &pvf_checks[..]),
        (no_disputes, &pvf_checks[..]),
        (&disputes[..], no_verdicts),
        (no_disputes, no_verdicts),
    ];
    let mut kept = None;
    // Why the whole offer failed, and why the last attempt did.
    let (mut why_offer, mut why_not) = (None, String::new());
    for (disputes, pvf_checks) in attempts {
        let dry_run = Extrinsic::<crate::Call> {
            signature: None,
            call: crate::Call::ParaInclusion(enter(disputes, pvf_checks, Vec::new())),
        };
        match block.apply(&dry_run.to_opaque()) {
            Ok(Ok(())) => {
                kept = Some((disputes, pvf_checks));
                break;
            }
            Ok(Err(err)) => why_not = alloc::format!("{err}"),
            Err(err) => why_not = alloc::format!("{err}"),
        }
        why_offer.get_or_insert_with(|| why_not.clone());
    }
    let why_offer = why_offer.unwrap_or_default();
    let Some((kept_disputes, kept_verdicts)) = kept else {
        return Ok(Err(alloc::format!(
            "the parachains inherent fails: {why_not}"
        )));
    };
    let mut dropped = Vec::new();
    if kept_disputes.len() < disputes.len() {
        let count = disputes.len();
        dropped.push(alloc::format!(
            "{count} concluded disputes (the offer: {why_offer})"
        ));
    }
    if kept_verdicts.len() < pvf_checks.len() {
        let count = pvf_checks.len();
        dropped.push(alloc::format!(
            "{count} code check verdicts (the offer: {why_offer})"
        ));
    }
    let mut state = block.into_state();
    let max_weight = crate::RelayRuntime::CONFIG.max_block_weight;
    let weight_of =
        |backed| Dispatch::<crate::Event>::weight(&enter(kept_disputes, kept_verdicts, backed));
    let base = weight_of(Vec::new());
    let mut weight = base;
    let mut backed: Vec<inclusion::BackedCandidate> = Vec::new();
    let mut left_out = Vec::new();
    let mut commitment_bytes = 0usize;
    for candidate in backable {
        let para = candidate.candidate.descriptor.para_id;
        let hash = candidate.candidate.hash();
        if backed
            .iter()
            .any(|b| b.candidate.descriptor.para_id == para)
        {
            left_out.push((hash, "another candidate of the para is in".into()));
            continue;
        }
        if let Err(err) =
            inclusion::check_backed(&mut state, &parent, now, &validators, &cores, &candidate)
        {
            left_out.push((hash, alloc::format!("{err}")));
            continue;
        }
        let commitments = &candidate.candidate.commitments;
        if let Err(why) = inclusion::check_outputs(&mut state, para, commitments, parent.number)? {
            left_out.push((hash, alloc::format!("its outputs cannot be taken: {why}")));
            continue;
        }
        if let Some(code) = &commitments.new_validation_code {
            if let Some(why) = paras::upgrade_refusal(&mut state, para, code, now)? {
                // Refused at inclusion anyway: leave it out while its code would be.
                left_out.push((hash, alloc::format!("its new code would be refused: {why}")));
                continue;
            }
        }
        let size = commitments.encoded_size();
        if commitment_bytes.saturating_add(size) > max_commitment_bytes as usize {
            left_out.push((hash, "over the block's commitment budget".into()));
            continue;
        }
        // What the candidate adds to the inherent's weight (its signatures).
        let added = weight_of(vec![candidate.clone()]).saturating_sub(base);
        if weight.saturating_add(added) > max_weight {
            left_out.push((hash, "over the block's weight".into()));
            continue;
        }
        weight = weight.saturating_add(added);
        commitment_bytes = commitment_bytes.saturating_add(size);
        backed.push(candidate);
    }
    Ok(Ok(CreatedInherent {
        call: enter(kept_disputes, kept_verdicts, backed),
        left_out,
        dropped,
    }))
}
