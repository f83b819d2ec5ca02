//! Who checks a candidate, and when: every validator draws its own assignments from its VRF key
//! and the including relay block's VRF story, so nobody knows who the checkers are until they
//! announce themselves, and nobody can claim an assignment they did not draw.
//!
//! - Tranche 0 (relay-VRF-modulo): one VRF output per validator and block yields
//!   `relay_vrf_modulo_samples` cores; the validator checks the candidates on those it draws. One
//!   certificate covers them all (Polkadot's compact modulo assignment).
//! - Later tranches (relay-VRF-delay): for every core, a VRF output yields a delay tranche in
//!   `0..n_delay_tranches`; the validator checks that core's candidate if, when its tranche comes,
//!   the earlier ones have not brought enough checkers (see [`crate::tranches`]).

use crate::{ApprovalConfig, CoreIndex, DelayTranche, ValidatorIndex};
use parity_scale_codec::{Decode, Encode};
use schnorrkel::vrf::{VRFInOut, VRFPreOut, VRFProof};
use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_consensus::AuthorityKey;
use tessera_runtime::{AccountId, Hash, Signature};

/// Signing context of tranche-0 assignments.
const MODULO_CONTEXT: &[u8] = b"tessera-approval-modulo";
/// Signing context of delay assignments.
const DELAY_CONTEXT: &[u8] = b"tessera-approval-delay";
/// Context of the VRF bytes that pick the `i`-th tranche-0 core.
const CORE_CONTEXT: &[u8] = b"tessera-approval-core";
/// Context of the VRF bytes that pick a delay tranche.
const TRANCHE_CONTEXT: &[u8] = b"tessera-approval-tranche";

/// Most cores a block may have: bounds what one certificate can claim.
pub const MAX_CORES: u32 = 1_024;

/// The randomness of one relay block that its assignments are drawn from (its author's VRF
/// output), so they are unknown until the block exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct RelayVrfStory(pub [u8; 32]);

/// What a certificate claims.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum AssignmentKind {
    /// Tranche 0, for these cores (ascending), all drawn from one VRF output.
    Modulo {
        /// The cores claimed.
        cores: Vec<CoreIndex>,
    },
    /// A delay tranche, for one core.
    Delay {
        /// The core.
        core: CoreIndex,
    },
}

/// An assignment and the VRF output and proof that show it was drawn, not chosen.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AssignmentCert {
    /// What is claimed.
    pub kind: AssignmentKind,
    /// The VRF pre-output.
    pub output: [u8; 32],
    /// Its proof.
    pub proof: [u8; 64],
}

/// One of this validator's own assignments in a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OurAssignment {
    /// When it falls due.
    pub tranche: DelayTranche,
    /// The certificate to announce it with (a tranche-0 one may cover other cores too).
    pub cert: AssignmentCert,
}

/// Why an assignment certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAssignment {
    /// The VRF output or proof does not verify for the claimed validator and story.
    #[error("the VRF proof does not verify")]
    BadProof,
    /// The claimed validator is not in the session.
    #[error("validator {0} is not in the session")]
    UnknownValidator(u32),
    /// A tranche-0 certificate claims a core its VRF output did not draw.
    #[error("core {0} was not drawn by this certificate")]
    NotDrawn(u32),
    /// A tranche-0 certificate claims no core, too many, or cores out of order.
    #[error("the claimed cores are empty, too many or not ascending")]
    BadCores,
    /// The claimed core is past the session's cores.
    #[error("core {0} is not one of the session's {1} cores")]
    NoSuchCore(u32, u32),
}

/// How assignments are drawn, announced and checked, and how approvals are signed: VRFs and
/// sr25519 keys in a node ([`ValidatorKeys`]); something cheaper with the same rules in the
/// simulator.
pub trait Crypto {
    /// This validator's assignments in a block with `n_cores` cores, for the `occupied` cores,
    /// earliest tranche per core.
    fn assignments(
        &self,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        n_cores: u32,
        occupied: &[CoreIndex],
    ) -> BTreeMap<CoreIndex, OurAssignment>;

    /// The cores and tranche `cert` assigns `validator`, if it verifies.
    fn check_assignment(
        &self,
        validator: ValidatorIndex,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        n_cores: u32,
        cert: &AssignmentCert,
    ) -> Result<(Vec<CoreIndex>, DelayTranche), InvalidAssignment>;

    /// Signs `payload` with this validator's key (none without one).
    fn sign(&self, payload: &[u8]) -> Option<Signature>;

    /// Whether `signature` is `validator`'s on `payload`.
    fn verify(&self, validator: ValidatorIndex, payload: &[u8], signature: &Signature) -> bool;
}

/// The session's validator keys, and this node's own if it is one of them.
#[derive(Clone, Debug)]
pub struct ValidatorKeys {
    /// Signs approvals and dispute votes (the validator's parachain key).
    key: Option<AuthorityKey>,
    validators: Arc<[AccountId]>,
    /// Draws VRF assignments (its approval assignment key).
    assignment_key: Option<AuthorityKey>,
    assignment_keys: Arc<[AccountId]>,
}

impl ValidatorKeys {
    /// The keys of a session's `validators`, checking with them and, with `key`, signing;
    /// each validator's one key also serves for its assignments (genesis validators' do).
    pub fn new(key: Option<AuthorityKey>, validators: Arc<[AccountId]>) -> Self {
        ValidatorKeys {
            assignment_key: key.clone(),
            assignment_keys: validators.clone(),
            key,
            validators,
        }
    }

    /// With assignments drawn with `key` and checked with the session's `assignment_keys`
    /// (Polkadot's `AssignmentId`), apart from the signing keys.
    pub fn with_assignment_keys(
        mut self,
        key: Option<AuthorityKey>,
        assignment_keys: Arc<[AccountId]>,
    ) -> Self {
        self.assignment_key = key;
        self.assignment_keys = assignment_keys;
        self
    }

    fn assignment_public(&self, validator: ValidatorIndex) -> Option<schnorrkel::PublicKey> {
        let account = self.assignment_keys.get(validator.0 as usize)?;
        schnorrkel::PublicKey::from_bytes(account.as_bytes()).ok()
    }
}

fn modulo_transcript(story: &RelayVrfStory) -> merlin::Transcript {
    schnorrkel::signing_context(MODULO_CONTEXT).bytes(&story.0)
}

fn delay_transcript(story: &RelayVrfStory, core: CoreIndex) -> merlin::Transcript {
    schnorrkel::signing_context(DELAY_CONTEXT).bytes(&(story.0, core.0).encode())
}

/// The cores a tranche-0 VRF output draws, ascending and without repeats.
fn drawn_cores(inout: &VRFInOut, config: &ApprovalConfig, n_cores: u32) -> Vec<CoreIndex> {
    let mut cores: Vec<CoreIndex> = (0..config.relay_vrf_modulo_samples)
        .filter_map(|sample| {
            let bytes = inout.make_bytes::<[u8; 4]>(&(CORE_CONTEXT, sample).encode());
            u32::from_le_bytes(bytes)
                .checked_rem(n_cores)
                .map(CoreIndex)
        })
        .collect();
    cores.sort_unstable();
    cores.dedup();
    cores
}

/// The delay tranche a delay VRF output draws.
pub fn delay_tranche_of(random: u32, config: &ApprovalConfig) -> DelayTranche {
    let span = config
        .n_delay_tranches
        .saturating_add(config.zeroth_delay_tranche_width)
        .max(1);
    random
        .checked_rem(span)
        .unwrap_or(0)
        .saturating_sub(config.zeroth_delay_tranche_width)
}

fn delay_tranche(inout: &VRFInOut, config: &ApprovalConfig) -> DelayTranche {
    delay_tranche_of(
        u32::from_le_bytes(inout.make_bytes::<[u8; 4]>(TRANCHE_CONTEXT)),
        config,
    )
}

/// Checks the claimed tranche-0 cores against those drawn: non-empty, ascending, all drawn.
pub fn check_claimed(
    claimed: &[CoreIndex],
    drawn: &[CoreIndex],
    config: &ApprovalConfig,
) -> Result<(), InvalidAssignment> {
    let ascending = claimed
        .windows(2)
        .all(|pair| matches!(pair, [a, b] if a < b));
    if claimed.is_empty() || claimed.len() > config.relay_vrf_modulo_samples as usize || !ascending
    {
        return Err(InvalidAssignment::BadCores);
    }
    match claimed.iter().find(|core| !drawn.contains(core)) {
        Some(core) => Err(InvalidAssignment::NotDrawn(core.0)),
        None => Ok(()),
    }
}

/// Our assignments from tranche-0 cores and per-core delay tranches: tranche 0 where drawn,
/// else the delay tranche, for each occupied core.
pub fn combine(
    occupied: &[CoreIndex],
    modulo: (Vec<CoreIndex>, impl Fn(Vec<CoreIndex>) -> AssignmentCert),
    mut delay: impl FnMut(CoreIndex) -> (DelayTranche, AssignmentCert),
) -> BTreeMap<CoreIndex, OurAssignment> {
    let (drawn, modulo_cert) = modulo;
    let claimed: Vec<CoreIndex> = drawn
        .into_iter()
        .filter(|core| occupied.contains(core))
        .collect();
    let mut ours = BTreeMap::new();
    if !claimed.is_empty() {
        let cert = modulo_cert(claimed.clone());
        for core in claimed {
            let assignment = OurAssignment {
                tranche: 0,
                cert: cert.clone(),
            };
            ours.insert(core, assignment);
        }
    }
    for core in occupied {
        if !ours.contains_key(core) {
            let (tranche, cert) = delay(*core);
            ours.insert(*core, OurAssignment { tranche, cert });
        }
    }
    ours
}

impl Crypto for ValidatorKeys {
    fn assignments(
        &self,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        n_cores: u32,
        occupied: &[CoreIndex],
    ) -> BTreeMap<CoreIndex, OurAssignment> {
        let Some(key) = &self.assignment_key else {
            return BTreeMap::new();
        };
        let (inout, proof) = key.vrf_sign(modulo_transcript(story));
        let (output, proof) = (inout.to_preout().to_bytes(), proof.to_bytes());
        let drawn = drawn_cores(&inout, config, n_cores);
        let modulo_cert = move |cores| AssignmentCert {
            kind: AssignmentKind::Modulo { cores },
            output,
            proof,
        };
        combine(occupied, (drawn, modulo_cert), |core| {
            let (inout, proof) = key.vrf_sign(delay_transcript(story, core));
            let cert = AssignmentCert {
                kind: AssignmentKind::Delay { core },
                output: inout.to_preout().to_bytes(),
                proof: proof.to_bytes(),
            };
            (delay_tranche(&inout, config), cert)
        })
    }

    fn check_assignment(
        &self,
        validator: ValidatorIndex,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        n_cores: u32,
        cert: &AssignmentCert,
    ) -> Result<(Vec<CoreIndex>, DelayTranche), InvalidAssignment> {
        let public = self
            .assignment_public(validator)
            .ok_or(InvalidAssignment::UnknownValidator(validator.0))?;
        let output =
            VRFPreOut::from_bytes(&cert.output).map_err(|_| InvalidAssignment::BadProof)?;
        let proof = VRFProof::from_bytes(&cert.proof).map_err(|_| InvalidAssignment::BadProof)?;
        match &cert.kind {
            AssignmentKind::Modulo { cores } => {
                let (inout, _) = public
                    .vrf_verify(modulo_transcript(story), &output, &proof)
                    .map_err(|_| InvalidAssignment::BadProof)?;
                check_claimed(cores, &drawn_cores(&inout, config, n_cores), config)?;
                Ok((cores.clone(), 0))
            }
            AssignmentKind::Delay { core } => {
                if core.0 >= n_cores {
                    return Err(InvalidAssignment::NoSuchCore(core.0, n_cores));
                }
                let (inout, _) = public
                    .vrf_verify(delay_transcript(story, *core), &output, &proof)
                    .map_err(|_| InvalidAssignment::BadProof)?;
                Ok((vec![*core], delay_tranche(&inout, config)))
            }
        }
    }

    fn sign(&self, payload: &[u8]) -> Option<Signature> {
        self.key.as_ref().map(|key| key.sign(payload))
    }

    fn verify(&self, validator: ValidatorIndex, payload: &[u8], signature: &Signature) -> bool {
        self.validators
            .get(validator.0 as usize)
            .is_some_and(|account| account.verify(payload, signature))
    }
}

/// The payload a validator signs to approve `candidates` of relay block `block`.
pub fn approval_payload(block: &Hash, candidates: &[Hash]) -> Vec<u8> {
    (b"tessera-approve", block, candidates).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u64) -> (Vec<AuthorityKey>, Arc<[AccountId]>) {
        let keys: Vec<_> = (0..n).map(AuthorityKey::from_index).collect();
        let publics: Arc<[AccountId]> = keys.iter().map(|k| k.public()).collect();
        (keys, publics)
    }

    #[test]
    fn every_assignment_a_validator_draws_checks_from_its_public_key_alone() {
        let (keys, publics) = keys(6);
        let config = ApprovalConfig {
            relay_vrf_modulo_samples: 2,
            ..ApprovalConfig::dev()
        };
        let story = RelayVrfStory([7; 32]);
        let occupied = [CoreIndex(0), CoreIndex(1), CoreIndex(3)];
        let checker = ValidatorKeys::new(None, publics.clone());
        let mut tranche_zero = 0;
        for (index, key) in keys.iter().enumerate() {
            let mine = ValidatorKeys::new(Some(key.clone()), publics.clone());
            let ours = mine.assignments(&story, &config, 4, &occupied);
            assert_eq!(ours.keys().copied().collect::<Vec<_>>(), occupied);
            for (core, ours) in ours {
                let who = ValidatorIndex(index as u32);
                let (cores, tranche) = checker
                    .check_assignment(who, &story, &config, 4, &ours.cert)
                    .unwrap();
                assert!(cores.contains(&core));
                assert_eq!(tranche, ours.tranche);
                assert!(tranche < config.n_delay_tranches);
                tranche_zero += usize::from(tranche == 0);
                // Another validator cannot pass it off as theirs, nor use it in another block.
                let other = ValidatorIndex((index as u32 + 1) % 6);
                assert!(checker
                    .check_assignment(other, &story, &config, 4, &ours.cert)
                    .is_err());
                let elsewhere = RelayVrfStory([8; 32]);
                assert!(checker
                    .check_assignment(who, &elsewhere, &config, 4, &ours.cert)
                    .is_err());
            }
        }
        assert!(tranche_zero > 0, "some validator drew a core in tranche 0");
    }

    #[test]
    fn assignments_are_drawn_and_checked_with_the_assignment_keys_and_approvals_with_the_others() {
        let (signing, publics) = keys(3);
        let assigning: Vec<AuthorityKey> = (10..13).map(AuthorityKey::from_index).collect();
        let assignment_publics: Arc<[AccountId]> = assigning.iter().map(|k| k.public()).collect();
        let config = ApprovalConfig::dev();
        let story = RelayVrfStory([3; 32]);
        let occupied = [CoreIndex(0)];
        let mine = ValidatorKeys::new(Some(signing[1].clone()), publics.clone())
            .with_assignment_keys(Some(assigning[1].clone()), assignment_publics.clone());
        let checker = ValidatorKeys::new(None, publics.clone())
            .with_assignment_keys(None, assignment_publics);
        let ours = mine.assignments(&story, &config, 1, &occupied);
        let cert = &ours[&CoreIndex(0)].cert;
        let who = ValidatorIndex(1);
        assert!(checker
            .check_assignment(who, &story, &config, 1, cert)
            .is_ok());
        // Not by the signing key: a checker that took those for assignment keys refuses it.
        let confused = ValidatorKeys::new(None, publics);
        assert!(confused
            .check_assignment(who, &story, &config, 1, cert)
            .is_err());
        // Approvals are signed with the signing key.
        let signature = mine.sign(b"approve").unwrap();
        assert!(checker.verify(who, b"approve", &signature));
    }

    #[test]
    fn a_tranche_zero_certificate_cannot_claim_cores_it_did_not_draw() {
        let (keys, publics) = keys(1);
        let config = ApprovalConfig {
            relay_vrf_modulo_samples: 1,
            ..ApprovalConfig::dev()
        };
        let story = RelayVrfStory([1; 32]);
        let mine = ValidatorKeys::new(Some(keys[0].clone()), publics.clone());
        let all: Vec<CoreIndex> = (0..8).map(CoreIndex).collect();
        let ours = mine.assignments(&story, &config, 8, &all);
        let modulo = ours
            .values()
            .find(|a| a.tranche == 0 && matches!(a.cert.kind, AssignmentKind::Modulo { .. }))
            .expect("one sample always draws one occupied core")
            .cert
            .clone();
        let AssignmentKind::Modulo { cores } = &modulo.kind else {
            unreachable!()
        };
        let drawn = cores[0];
        let other = CoreIndex((drawn.0 + 1) % 8);
        let checker = ValidatorKeys::new(None, publics);
        for (claimed, expected) in [
            (vec![other], InvalidAssignment::NotDrawn(other.0)),
            (vec![], InvalidAssignment::BadCores),
            (vec![drawn, drawn], InvalidAssignment::BadCores),
        ] {
            let forged = AssignmentCert {
                kind: AssignmentKind::Modulo { cores: claimed },
                ..modulo.clone()
            };
            assert_eq!(
                checker.check_assignment(ValidatorIndex(0), &story, &config, 8, &forged),
                Err(expected)
            );
        }
        let past_the_cores = AssignmentCert {
            kind: AssignmentKind::Delay { core: CoreIndex(8) },
            ..modulo
        };
        assert_eq!(
            checker.check_assignment(ValidatorIndex(0), &story, &config, 8, &past_the_cores),
            Err(InvalidAssignment::NoSuchCore(8, 8))
        );
    }

    #[test]
    fn delay_tranches_fold_the_zeroth_width_into_tranche_zero() {
        let config = ApprovalConfig {
            n_delay_tranches: 10,
            zeroth_delay_tranche_width: 3,
            ..ApprovalConfig::dev()
        };
        let tranches: Vec<_> = (0..13).map(|r| delay_tranche_of(r, &config)).collect();
        assert_eq!(tranches, [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(delay_tranche_of(13, &config), 0);
    }
}
