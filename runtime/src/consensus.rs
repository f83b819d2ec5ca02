//! What the relay runtime and the consensus engines tell each other through header digests:
//! the authorship pre-digest (slot, author, VRF), BABE's next-epoch descriptor and GRANDPA's
//! scheduled authority-set change, in Substrate's encodings; and the slot VRF's transcript and
//! the randomness its outputs yield, which the engines check and the runtime folds into the
//! epoch randomness it announces.

use crate::header::EngineId;
use crate::{AccountId, BlockNumber, DigestItem, Hash, Header};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, DecodeLimit, Encode};

/// The engine id of authorship pre-digests, seals and epoch descriptors.
pub const BABE_ENGINE_ID: EngineId = *b"BABE";
/// The engine id of finality's consensus logs.
pub const GRANDPA_ENGINE_ID: EngineId = *b"FRNK";

/// Most authorities a descriptor or change may list (Polkadot's `MaxAuthorities` is 100,000;
/// a relay chain electing at most 1,000 validators never needs more than this).
pub const MAX_AUTHORITIES: usize = 10_000;

/// Largest encoded pre-digest accepted.
const MAX_PRE_DIGEST_BYTES: usize = 256;
/// Largest encoded consensus log accepted: [`MAX_AUTHORITIES`] entries of 40 bytes and change.
const MAX_LOG_BYTES: usize = MAX_AUTHORITIES * 40 + 64;
/// Nesting depth allowed when decoding a digest.
const MAX_DEPTH: u32 = 8;

/// Signing context of the slot VRF.
pub const VRF_CONTEXT: &[u8] = b"tessera-babe-vrf";
/// Context of the VRF bytes folded into epoch randomness.
pub const RANDOMNESS_CONTEXT: &[u8] = b"tessera-babe-randomness";

/// Authorities and their weights, in authority-index order.
pub type AuthorityList = Vec<(AccountId, u64)>;

/// Who authored a block and by which right, carried in a `PreRuntime(BABE)` digest item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum PreDigest {
    /// Won the slot's VRF lottery.
    #[codec(index = 1)]
    Primary {
        /// Position of the author in the epoch's authority list.
        authority_index: u32,
        /// The slot.
        slot: u64,
        /// The VRF pre-output.
        vrf_output: [u8; 32],
        /// The VRF proof.
        vrf_proof: [u8; 64],
    },
    /// The round-robin author of a slot.
    #[codec(index = 2)]
    Secondary {
        /// Position of the author in the epoch's authority list.
        authority_index: u32,
        /// The slot.
        slot: u64,
    },
}

impl PreDigest {
    /// The slot.
    pub fn slot(&self) -> u64 {
        match self {
            PreDigest::Primary { slot, .. } | PreDigest::Secondary { slot, .. } => *slot,
        }
    }

    /// The author's position in the authority list.
    pub fn authority_index(&self) -> u32 {
        match self {
            PreDigest::Primary {
                authority_index, ..
            }
            | PreDigest::Secondary {
                authority_index, ..
            } => *authority_index,
        }
    }

    /// Whether the author won the VRF lottery.
    pub fn is_primary(&self) -> bool {
        matches!(self, PreDigest::Primary { .. })
    }

    /// The digest item carrying this pre-digest.
    pub fn to_digest_item(&self) -> DigestItem {
        DigestItem::PreRuntime(BABE_ENGINE_ID, self.encode())
    }

    /// The pre-digest in `logs`, if there is a well-formed one.
    pub fn from_logs(logs: &[DigestItem]) -> Option<PreDigest> {
        logs.iter().find_map(|item| match item {
            DigestItem::PreRuntime(id, data) if *id == BABE_ENGINE_ID => {
                decode_limited(data, MAX_PRE_DIGEST_BYTES)
            }
            _ => None,
        })
    }

    /// The pre-digest of `header`, if it has a well-formed one.
    pub fn from_header(header: &Header) -> Option<PreDigest> {
        Self::from_logs(&header.digest.logs)
    }
}

/// The authorities and randomness of the epoch after the one a block starts (BABE's
/// `NextEpochDescriptor`, without its optional configuration).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct NextEpochDescriptor {
    /// Who authors in that epoch, with their weights.
    pub authorities: AuthorityList,
    /// That epoch's randomness.
    pub randomness: [u8; 32],
}

/// BABE's consensus log, of which the runtime emits `NextEpochData` (index 1, as Substrate).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BabeConsensusLog {
    /// The next epoch's authorities and randomness, in the first block of an epoch.
    #[codec(index = 1)]
    NextEpochData(NextEpochDescriptor),
}

impl NextEpochDescriptor {
    /// The digest item announcing this descriptor.
    pub fn to_digest_item(&self) -> DigestItem {
        DigestItem::Consensus(
            BABE_ENGINE_ID,
            BabeConsensusLog::NextEpochData(self.clone()).encode(),
        )
    }

    /// The descriptor `header` announces: `Ok(None)` if none, an error if one is malformed or
    /// there are two.
    pub fn from_header(header: &Header) -> Result<Option<NextEpochDescriptor>, DigestError> {
        single_log(header, BABE_ENGINE_ID, "BABE", |log| match log {
            BabeConsensusLog::NextEpochData(descriptor) => {
                let count = descriptor.authorities.len();
                (descriptor, count)
            }
        })
    }
}

/// A change of the finality authority set, signalled in a block and enacted once the block
/// `delay` blocks below it on the same chain is finalized (GRANDPA's standard change).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ScheduledChange {
    /// The authorities of the next set, with their weights.
    pub next_authorities: AuthorityList,
    /// Blocks after the signalling one at which the change is enacted.
    pub delay: BlockNumber,
}

/// GRANDPA's consensus log, of which the runtime emits `ScheduledChange` (index 1, as Substrate).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum GrandpaConsensusLog {
    /// A standard change of the authority set.
    #[codec(index = 1)]
    ScheduledChange(ScheduledChange),
}

impl ScheduledChange {
    /// The digest item signalling this change.
    pub fn to_digest_item(&self) -> DigestItem {
        DigestItem::Consensus(
            GRANDPA_ENGINE_ID,
            GrandpaConsensusLog::ScheduledChange(self.clone()).encode(),
        )
    }

    /// The change `header` signals: `Ok(None)` if none, an error if one is malformed or there
    /// are two.
    pub fn from_header(header: &Header) -> Result<Option<ScheduledChange>, DigestError> {
        single_log(header, GRANDPA_ENGINE_ID, "FRNK", |log| match log {
            GrandpaConsensusLog::ScheduledChange(change) => {
                let count = change.next_authorities.len();
                (change, count)
            }
        })
    }
}

// Finality votes: what a voter signs, here so that the runtime can check a proof that one
// voted twice (an equivocation report) with the engine's own encoding.

/// A block a vote points at.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, scale_info::TypeInfo,
)]
pub struct Target {
    /// The block's hash.
    pub hash: Hash,
    /// The block's number.
    pub number: BlockNumber,
}

/// The two voting phases of a round.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, scale_info::TypeInfo,
)]
pub enum Phase {
    /// First phase: the best chain a voter sees.
    #[codec(index = 0)]
    Prevote,
    /// Second phase: the prevote GHOST.
    #[codec(index = 1)]
    Precommit,
}

/// What a voter says in a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Vote {
    /// A prevote for a block (and so for its ancestors).
    #[codec(index = 0)]
    Prevote(Target),
    /// A precommit for a block (and so for its ancestors).
    #[codec(index = 1)]
    Precommit(Target),
    /// The round's primary proposes a block to build prevotes on.
    #[codec(index = 2)]
    PrimaryPropose(Target),
}

impl Vote {
    /// The block voted for.
    pub fn target(&self) -> Target {
        match self {
            Vote::Prevote(t) | Vote::Precommit(t) | Vote::PrimaryPropose(t) => *t,
        }
    }

    /// The phase, for prevotes and precommits.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            Vote::Prevote(_) => Some(Phase::Prevote),
            Vote::Precommit(_) => Some(Phase::Precommit),
            Vote::PrimaryPropose(_) => None,
        }
    }

    /// The vote of `phase` for `target`.
    pub fn of_phase(phase: Phase, target: Target) -> Vote {
        match phase {
            Phase::Prevote => Vote::Prevote(target),
            Phase::Precommit => Vote::Precommit(target),
        }
    }
}

/// The bytes a voter signs: SCALE of `(vote, round, set_id)`.
pub fn vote_payload(vote: &Vote, round: u64, set_id: u64) -> Vec<u8> {
    (vote, round, set_id).encode()
}

/// The unsealed header and the seal signature, if `header` ends with a `Seal(BABE)` item (the
/// authorship engine's check, and the runtime's of an equivocation report).
pub fn split_seal(header: &Header) -> Option<(Header, crate::Signature)> {
    let (unsealed, engine, data) = header.split_seal()?;
    if engine != BABE_ENGINE_ID {
        return None;
    }
    // Exactly 64 bytes: trailing bytes would give a relayer a second hash for the same
    // signed header, and with it a way to frame the author for equivocation.
    let signature = crate::Signature(<[u8; 64]>::try_from(data.as_slice()).ok()?);
    Some((unsealed, signature))
}

/// A consensus log in a header that the engines cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The log does not decode.
    #[error("malformed {0} consensus log")]
    Malformed(&'static str),
    /// Two logs of one kind in one header.
    #[error("two {0} consensus logs in one header")]
    Repeated(&'static str),
    /// More authorities than [`MAX_AUTHORITIES`].
    #[error("{0} authorities, more than the {MAX_AUTHORITIES} allowed")]
    TooManyAuthorities(usize),
}

/// The one consensus log of `engine` in `header` (`name` in errors) as `read` takes it apart:
/// the value and its authority count, at most [`MAX_AUTHORITIES`].
fn single_log<L: Decode, T>(
    header: &Header,
    engine: EngineId,
    name: &'static str,
    read: impl Fn(L) -> (T, usize),
) -> Result<Option<T>, DigestError> {
    let mut found = None;
    for data in consensus_logs(header, engine) {
        let log = decode_limited(data, MAX_LOG_BYTES).ok_or(DigestError::Malformed(name))?;
        let (value, authorities) = read(log);
        if authorities > MAX_AUTHORITIES {
            return Err(DigestError::TooManyAuthorities(authorities));
        }
        if found.replace(value).is_some() {
            return Err(DigestError::Repeated(name));
        }
    }
    Ok(found)
}

fn consensus_logs(header: &Header, engine: EngineId) -> impl Iterator<Item = &[u8]> {
    header
        .digest
        .logs
        .iter()
        .filter_map(move |item| match item {
            DigestItem::Consensus(id, data) if *id == engine => Some(data.as_slice()),
            _ => None,
        })
}

fn decode_limited<T: Decode>(bytes: &[u8], limit: usize) -> Option<T> {
    if bytes.len() > limit {
        return None;
    }
    let mut input = bytes;
    T::decode_all_with_depth_limit(MAX_DEPTH, &mut input).ok()
}

/// The VRF input of `slot` in `epoch` with the epoch's randomness.
pub fn vrf_transcript(randomness: &[u8; 32], slot: u64, epoch: u64) -> merlin::Transcript {
    schnorrkel::signing_context(VRF_CONTEXT).bytes(&(randomness, slot, epoch).encode())
}

/// The randomness a primary block's VRF pre-output yields for the epoch accumulator, without
/// checking its proof (the engines did, before execution); `None` for bytes that are no key or
/// no pre-output.
pub fn vrf_randomness(
    author: &AccountId,
    epoch_randomness: &[u8; 32],
    slot: u64,
    epoch: u64,
    pre_output: &[u8; 32],
) -> Option<[u8; 32]> {
    let public = schnorrkel::PublicKey::from_bytes(author.as_bytes()).ok()?;
    let pre_output = schnorrkel::vrf::VRFPreOut::from_bytes(pre_output).ok()?;
    let inout = pre_output
        .attach_input_hash(&public, vrf_transcript(epoch_randomness, slot, epoch))
        .ok()?;
    Some(inout.make_bytes::<[u8; 32]>(RANDOMNESS_CONTEXT))
}

/// Folds one primary block's VRF randomness into an epoch's accumulator.
pub fn absorb(accumulator: &[u8; 32], vrf_randomness: &[u8; 32]) -> [u8; 32] {
    crate::hashing::blake2_256(&(accumulator, vrf_randomness).encode()).0
}

/// The randomness announced for the epoch after `epoch` when `epoch` starts: the previous
/// epoch's randomness, the announced epoch's index and what the previous epoch's primary blocks
/// on this chain accumulated.
pub fn next_randomness(previous: &[u8; 32], epoch: u64, accumulator: &[u8; 32]) -> [u8; 32] {
    let announced = epoch.saturating_add(1);
    crate::hashing::blake2_256(&(previous, announced, accumulator).encode()).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    fn header(logs: Vec<DigestItem>) -> Header {
        Header {
            parent_hash: crate::Hash::ZERO,
            number: 1,
            state_root: crate::Hash::ZERO,
            extrinsics_root: crate::Hash::ZERO,
            digest: Digest { logs },
        }
    }

    #[test]
    fn logs_round_trip_with_substrates_indices() {
        let descriptor = NextEpochDescriptor {
            authorities: alloc::vec![(AccountId([7; 32]), 1)],
            randomness: [3; 32],
        };
        let change = ScheduledChange {
            next_authorities: descriptor.authorities.clone(),
            delay: 0,
        };
        let item = descriptor.to_digest_item();
        let DigestItem::Consensus(_, data) = &item else {
            panic!("a consensus item")
        };
        assert_eq!(data[0], 1, "NextEpochData is BABE's log 1");
        let h = header(alloc::vec![item, change.to_digest_item()]);
        assert_eq!(
            NextEpochDescriptor::from_header(&h),
            Ok(Some(descriptor.clone()))
        );
        assert_eq!(ScheduledChange::from_header(&h), Ok(Some(change)));
        let twice = header(alloc::vec![
            descriptor.to_digest_item(),
            descriptor.to_digest_item()
        ]);
        assert_eq!(
            NextEpochDescriptor::from_header(&twice),
            Err(DigestError::Repeated("BABE"))
        );
        let bad = header(alloc::vec![DigestItem::Consensus(
            BABE_ENGINE_ID,
            alloc::vec![9]
        )]);
        assert_eq!(
            NextEpochDescriptor::from_header(&bad),
            Err(DigestError::Malformed("BABE"))
        );
        assert_eq!(ScheduledChange::from_header(&bad), Ok(None));
    }
}
