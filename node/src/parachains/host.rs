//! A validator's side of the parachain protocol: backing, availability and the inherent, over
//! relay state and the node's store.
//!
//! [`ParachainHost`] reads what the validity protocol's tables ([`tessera_validity::backing`])
//! are checked against from relay state, keeps chunks on disk, and builds the inherent (the
//! node loop carries its messages over the network):
//!
//! - **Backing.** A [`Collation`] for a para whose backing group (at the candidate's relay
//!   parent) includes this validator is checked in full with the [`ValidationHost`]. If valid,
//!   the validator erasure-codes the available data (PoV and validation data), keeps every
//!   chunk to serve, and signs a [`Statement`]. Statements from the group are collected until
//!   the candidate is backed.
//! - **Availability.** Each validator fetches its own chunk of every candidate pending
//!   availability from a backer ([`ParachainHost::missing_chunks`], [`ParachainHost::chunk`],
//!   [`ParachainHost::on_chunk`]), checks it against the erasure root, and signs a bitfield
//!   with one bit per core.
//! - **Inclusion.** The block author puts the bitfields signed on its parent and the candidates
//!   backed on it into the parachains inherent ([`ParachainHost::inherent`]): those whose core
//!   is free once the bitfields are counted, so a candidate built on the pending one goes in
//!   the block that includes its predecessor.

use crate::client::Client;
use crate::collation::Collation;
use crate::malus::Malus;
use crate::parachains::relay_api;
use crate::validation::{CandidateToCheck, InvalidCandidate, ValidationHost, ValidationPurpose};
use lru::LruCache;
use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::availability::{encode_chunks, verify_chunk, AvailableData, ErasureChunk};
use tessera_relay_chain::disputes::DisputeStatementSet;
use tessera_relay_chain::inclusion::{self, BackedCandidate, PendingCandidate, SignedBitfield};
use tessera_relay_chain::paras::{self, ParaId};
use tessera_relay_chain::pvf_check::PvfCheckStatement;
use tessera_relay_chain::runtime_api::InherentOffer;
use tessera_relay_chain::session::{self, ParaValidators};
use tessera_relay_chain::Call;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::state::State;
use tessera_runtime::{AccountId, Hash, Header, OpaqueExtrinsic};
use tessera_validity::backing::{self, BackingError, Bitfields, Statements};
pub use tessera_validity::backing::{Statement, MAX_STATEMENTS_PER_VALIDATOR};

/// How long chunks and available data stay on disk after their relay parent is finalized, in
/// relay blocks: an hour of 1-second slots (six of 6-second ones), long enough for approval
/// checkers and disputes to recover them.
pub const AVAILABILITY_KEEP_FINALIZED: u32 = 3_600;

/// Relay blocks of availability data pruned per tick at most, so catching up after a long
/// stall spreads its deletes.
const PRUNE_BLOCKS_PER_TICK: u32 = 16;
/// Most bytes of candidates' commitments one relay block backs: with the rest of the block,
/// within the gossip limit (4 MiB), and room for one para's new code (2 MiB).
const COMMITMENTS_PER_BLOCK: u32 = 3 * 1024 * 1024;

/// Most candidates of one para offered to the runtime for one inherent (those with the most
/// statements): it takes one, the next when it refuses the first.
const OFFERED_PER_PARA: usize = 2;
/// Most bytes of candidates offered to the runtime for one inherent: the call's input lives in
/// the instance's memory, and backers may hold many candidates.
const OFFERED_BYTES: usize = 16 * 1024 * 1024;

/// Relay blocks after which what is kept in memory for a relay parent is forgotten.
const KEEP_BLOCKS: u32 = 64;

/// What validators and collators gossip about parachains.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ParachainMessage {
    /// A collator's candidate with its PoV and declaration, for the para's backing group.
    #[codec(index = 0)]
    Collation(crate::collation::DeclaredCollation),
    /// A backer's statement.
    #[codec(index = 1)]
    Statement(Statement),
    /// A validator's availability bitfield, signed on `relay_parent`.
    #[codec(index = 2)]
    Bitfield {
        /// The block the bitfield is for (the parent of the block that includes it).
        relay_parent: Hash,
        /// The bitfield.
        bitfield: SignedBitfield,
    },
    /// A validator's signed word of its peer id.
    #[codec(index = 3)]
    Identity(ValidatorIdentity),
    /// A validator's approval assignment or approvals (see [`super::approval`]).
    #[codec(index = 4)]
    Approval(tessera_validity::engine::Message),
    /// A validator's vote in a dispute, with the vote that opened it.
    #[codec(index = 5)]
    Dispute(tessera_validity::disputes::DisputeMessage),
    /// A validator's verdict on new para code under check (see [`super::pvf_check`]).
    #[codec(index = 6)]
    PvfCheck(PvfCheckStatement),
}

/// Longest peer id in an identity (a multihash of an Ed25519 or secp256k1 key is 38 bytes).
const MAX_PEER_ID_BYTES: usize = 64;

/// A validator's signed word that it is reachable as `peer`: whom collators send collations
/// to and validators ask for chunks. Only the validator's key makes one, so re-publishing its
/// statements or its identity never redirects its traffic to someone else.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ValidatorIdentity {
    /// The validator.
    pub validator: AccountId,
    /// Its peer id, as libp2p encodes it.
    pub peer: Vec<u8>,
    /// When it was signed (ms since the Unix epoch): a newer one replaces an older one.
    pub issued_ms: u64,
    /// The validator's signature over [`ValidatorIdentity::payload`].
    pub signature: tessera_runtime::crypto::Signature,
}

impl ValidatorIdentity {
    /// What the validator signs.
    pub fn payload(validator: &AccountId, peer: &[u8], issued_ms: u64) -> Vec<u8> {
        (b"tessera/validator-peer", validator, peer, issued_ms).encode()
    }

    /// `key`'s identity as `peer`, signed at `issued_ms`.
    pub fn sign(key: &AuthorityKey, peer: &libp2p::PeerId, issued_ms: u64) -> Self {
        let validator = key.public();
        let peer = peer.to_bytes();
        let signature = key.sign(&Self::payload(&validator, &peer, issued_ms));
        ValidatorIdentity {
            validator,
            peer,
            issued_ms,
            signature,
        }
    }

    /// The peer id it names, if its signature verifies.
    pub fn verified_peer(&self) -> Result<libp2p::PeerId, IdentityError> {
        if self.peer.len() > MAX_PEER_ID_BYTES {
            return Err(IdentityError::Malformed);
        }
        let peer = libp2p::PeerId::from_bytes(&self.peer).map_err(|_| IdentityError::Malformed)?;
        let payload = Self::payload(&self.validator, &self.peer, self.issued_ms);
        if !self.validator.verify(&payload, &self.signature) {
            return Err(IdentityError::BadSignature);
        }
        Ok(peer)
    }
}

/// Why a validator identity is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Its peer id does not decode.
    #[error("the peer id does not decode")]
    Malformed,
    /// Its signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
}

/// Why a message about parachains was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParachainError {
    /// The candidate is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidCandidate),
    /// The relay parent is not a block this node has.
    #[error("unknown relay parent {0}")]
    UnknownRelayParent(Hash),
    /// The para is not registered at the relay parent.
    #[error("para {0:?} is not registered at the relay parent")]
    UnknownPara(ParaId),
    /// A statement or bitfield was refused.
    #[error(transparent)]
    Backing(#[from] BackingError),
    /// An erasure chunk does not match the candidate's erasure root.
    #[error("bad chunk: {0}")]
    BadChunk(String),
    /// Reading relay state failed.
    #[error("relay state: {0}")]
    State(String),
}

/// What the collator's candidate means to this validator.
#[derive(Debug, PartialEq, Eq)]
pub enum CollationOutcome {
    /// Valid: gossip this statement.
    Seconded(Box<Statement>),
    /// Not for this validator's group, or the core is taken, or already seen.
    Ignored,
}

/// A candidate to check, with what relay state says about it.
#[derive(Clone, Debug)]
pub struct CandidateCheck {
    me: u32,
    /// The session's validators at the relay parent.
    session: Arc<ParaValidators>,
    candidate_hash: Hash,
    relay_parent_number: u32,
    /// The para's backing group at the relay parent.
    group: Vec<u32>,
    collation: Collation,
    validation_data: tessera_runtime::parachain::PersistedValidationData,
    code: tessera_runtime::parachain::ValidationCode,
    /// Whether to validate (a garbage backer does not).
    validate: bool,
}

impl CandidateCheck {
    /// The number of the candidate's relay parent.
    pub fn relay_parent_number(&self) -> u32 {
        self.relay_parent_number
    }

    /// Validates the candidate in full and erasure-codes its available data: the chunks to
    /// keep. Needs no chain access, so it can run on another thread.
    pub fn run(&self, validation: &ValidationHost) -> Result<Vec<ErasureChunk>, ParachainError> {
        if self.validate {
            self.validate(validation)?;
        }
        let available = AvailableData {
            pov: self.collation.pov.clone(),
            validation_data: self.validation_data.clone(),
        };
        let (_root, chunks) = encode_chunks(&available.encode(), self.session.len())
            .map_err(|e| InvalidCandidate::Erasure(e.to_string()))?;
        Ok(chunks)
    }

    fn validate(&self, validation: &ValidationHost) -> Result<(), ParachainError> {
        validation.validate_candidate(
            CandidateToCheck {
                receipt: &self.collation.candidate.to_plain(),
                pov: &self.collation.pov,
                validation_data: &self.validation_data,
                code: &self.code,
                validators: self.session.len(),
            },
            ValidationPurpose::Backing,
        )?;
        Ok(())
    }
}

/// A chunk this validator should hold and does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingChunk {
    /// The candidate.
    pub candidate_hash: Hash,
    /// Its erasure root, which the chunk must prove against.
    pub erasure_root: Hash,
    /// The chunk's index (this validator's).
    pub index: u32,
    /// How many validators the chunks were coded for (the session's).
    pub validators: usize,
    /// The relay block that backed the candidate.
    pub backed_in: u32,
    /// The candidate's backers (their parachain keys), who hold every chunk.
    pub backers: Vec<AccountId>,
}

/// A validator's parachain state.
pub struct ParachainHost {
    /// The keys this validator may sign with (its account and the session keys in its
    /// keystore): in each session, the one that is a validator's `para_validator` key.
    keys: Vec<AuthorityKey>,
    /// Whether it validates at all (a full node does not).
    validator: bool,
    validation: Arc<ValidationHost>,
    statements: Statements,
    bitfields: Bitfields,
    /// Concluded disputes for the next inherent.
    disputes: Vec<DisputeStatementSet>,
    /// Verdicts on code under check for the next inherent.
    pvf_checks: Vec<PvfCheckStatement>,
    /// Validators this node saw lose a dispute, whether or not its chain records it yet.
    offenders: BTreeSet<AccountId>,
    /// Candidates whose chunk of this validator's index it wrote to disk, with their relay
    /// block number: asked about every tick, so not read back from disk each time.
    own_chunks: HashMap<Hash, u32>,
    /// Hostile behaviours (tests only).
    malus: Malus,
    /// Backing groups by relay parent and para, as the relay runtime gave them: every
    /// statement gossiped is checked against one, and asking the runtime costs a Wasm call.
    groups: Mutex<LruCache<(Hash, ParaId), Group>>,
    /// Relay parents and paras the runtime named no group for, kept apart: junk statements
    /// naming made-up paras must not push honest groups out.
    no_group: Mutex<LruCache<(Hash, ParaId), ()>>,
    /// Each relay block's session validators, as read from its state: every statement and
    /// bitfield is checked against them.
    sessions: Mutex<LruCache<Hash, Arc<ParaValidators>>>,
    /// The parachain keys of the session and the one queued, at a best block (who may name
    /// its peer): asked for every identity gossiped.
    named: Mutex<Option<(Hash, BTreeSet<AccountId>)>>,
}

/// A backing group: its validators by index.
type Group = Vec<u32>;

/// Backing groups remembered: a few relay parents' worth for every para.
const GROUPS_KEPT: usize = 1_024;
/// Misses remembered.
const NO_GROUPS_KEPT: usize = 256;
/// Relay blocks whose session validators are remembered (blocks of one session share one
/// list).
const SESSIONS_KEPT: usize = 256;

/// Of `backable` (sorted by para, best first), what is offered to the runtime: at most
/// [`OFFERED_PER_PARA`] per para and [`OFFERED_BYTES`] in all.
fn offered(backable: Vec<BackedCandidate>) -> Vec<BackedCandidate> {
    let mut per_para: HashMap<ParaId, usize> = HashMap::new();
    let mut bytes = 0usize;
    backable
        .into_iter()
        .filter(|candidate| {
            let count = per_para
                .entry(candidate.candidate.descriptor.para_id)
                .or_default();
            let size = candidate.encoded_size();
            if *count >= OFFERED_PER_PARA || bytes.saturating_add(size) > OFFERED_BYTES {
                return false;
            }
            *count = count.saturating_add(1);
            bytes = bytes.saturating_add(size);
            true
        })
        .collect()
}

/// Relay state at block `at`, and its header.
fn state_at<'a>(client: &'a Client, at: &Hash) -> Result<(State<'a>, Header), ParachainError> {
    let header = client
        .header(at)
        .map_err(|e| ParachainError::State(e.to_string()))?
        .ok_or(ParachainError::UnknownRelayParent(*at))?;
    Ok((State::new(client.store(), header.state_root), header))
}

/// The header of relay block `at`.
fn header_at(client: &Client, at: &Hash) -> Result<Header, ParachainError> {
    client
        .header(at)
        .map_err(|e| ParachainError::State(e.to_string()))?
        .ok_or(ParachainError::UnknownRelayParent(*at))
}

fn state_error(err: tessera_runtime::Error) -> ParachainError {
    ParachainError::State(err.to_string())
}

impl ParachainHost {
    /// This validator's identities as `peer` now: one for each of its keys that is a
    /// validator's at `best`, in the session or the one queued (none for a full node).
    pub fn identities(
        &self,
        client: &Client,
        best: &Hash,
        peer: &libp2p::PeerId,
        now_ms: u64,
    ) -> Vec<ValidatorIdentity> {
        self.keys
            .iter()
            .filter(|key| self.is_validator_key(client, best, &key.public()))
            .map(|key| ValidatorIdentity::sign(key, peer, now_ms))
            .collect()
    }

    /// Whether `key` is a validator's parachain key at `best`, in the session or the one
    /// queued (who gets to name its peer).
    pub fn is_validator_key(&self, client: &Client, best: &Hash, key: &AccountId) -> bool {
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        if named.as_ref().is_none_or(|(at, _)| at != best) {
            let Ok(session) = self.session_at(client, best) else {
                return false;
            };
            let Ok((mut state, _)) = state_at(client, best) else {
                return false;
            };
            let Ok(queued) = session::QUEUED_KEYS.get_or_default(&mut state) else {
                return false;
            };
            let keys = session
                .keys
                .iter()
                .copied()
                .chain(queued.iter().map(|keys| keys.para_validator))
                .collect();
            *named = Some((*best, keys));
        }
        named.as_ref().is_some_and(|(_, keys)| keys.contains(key))
    }

    /// The parachain state of a validator with `key` (none for a full node).
    pub fn new(key: Option<AuthorityKey>, validation: Arc<ValidationHost>) -> Self {
        ParachainHost {
            validator: key.is_some(),
            keys: key.into_iter().collect(),
            validation,
            statements: Statements::default(),
            bitfields: Bitfields::default(),
            disputes: Vec::new(),
            pvf_checks: Vec::new(),
            offenders: BTreeSet::new(),
            own_chunks: HashMap::new(),
            malus: Malus::default(),
            groups: Mutex::new(LruCache::new(
                NonZeroUsize::new(GROUPS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            no_group: Mutex::new(LruCache::new(
                NonZeroUsize::new(NO_GROUPS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            sessions: Mutex::new(LruCache::new(
                NonZeroUsize::new(SESSIONS_KEPT).unwrap_or(NonZeroUsize::MIN),
            )),
            named: Mutex::new(None),
        }
    }

    /// Adds a key this validator may sign with (a session key made by `author_rotateKeys`):
    /// used in the sessions whose validators list it as a `para_validator` key.
    pub fn add_key(&mut self, key: AuthorityKey) {
        if self.validator && !self.keys.iter().any(|k| k.public() == key.public()) {
            self.keys.push(key);
        }
    }

    /// The session validators at relay block `at`.
    pub fn session_at(
        &self,
        client: &Client,
        at: &Hash,
    ) -> Result<Arc<ParaValidators>, ParachainError> {
        let sessions = || self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = sessions().get(at) {
            return Ok(session.clone());
        }
        let (mut state, _) = state_at(client, at)?;
        let read = session::para_validators(&mut state).map_err(state_error)?;
        let mut sessions = sessions();
        // Blocks of one session share its list.
        let shared = sessions
            .iter()
            .find(|(_, known)| ***known == read)
            .map(|(_, known)| known.clone())
            .unwrap_or_else(|| Arc::new(read));
        sessions.put(*at, shared.clone());
        Ok(shared)
    }

    /// This validator's index and key in `session`, if one of its keys is a validator's.
    fn me_in<'a>(&'a self, session: &ParaValidators) -> Option<(u32, &'a AuthorityKey)> {
        super::place_in(&self.keys, session)
    }

    /// This validator's index and key at relay block `at`.
    fn me_at(&self, client: &Client, at: &Hash) -> Option<(u32, &AuthorityKey)> {
        let session = self.session_at(client, at).ok()?;
        self.me_in(&session)
    }

    /// This host with hostile `malus` behaviours (tests only).
    pub fn with_malus(mut self, malus: Malus) -> Self {
        self.malus = malus;
        self
    }

    /// Its hostile behaviours (none on an honest node).
    pub fn malus(&self) -> Malus {
        self.malus
    }

    /// Concluded disputes for the next inherent this node builds (each already checked
    /// against the parent's state: one the runtime refused would cost the block its inherent).
    pub fn record_disputes(&mut self, disputes: Vec<DisputeStatementSet>) {
        self.disputes = disputes;
    }

    /// Verdicts on new para code for the next inherent.
    pub fn record_pvf_checks(&mut self, statements: Vec<PvfCheckStatement>) {
        self.pvf_checks = statements;
    }

    /// Validators (their stashes) seen losing a dispute, whose backed candidates this node's
    /// inherents leave out: the on-chain record that disables them may sit on a fork that is
    /// reverted.
    pub fn record_offenders(&mut self, offenders: impl IntoIterator<Item = AccountId>) {
        self.offenders = offenders.into_iter().collect();
    }

    /// Whether `key` is one of this validator's keys.
    pub fn is_mine(&self, key: &AccountId) -> bool {
        self.keys.iter().any(|k| k.public() == *key)
    }

    /// The validators (their parachain keys) backing `para` for candidates on the relay block
    /// `relay_parent`.
    pub fn backers(
        &self,
        client: &Client,
        relay_parent: &Hash,
        para: ParaId,
    ) -> Result<Vec<AccountId>, ParachainError> {
        let header = header_at(client, relay_parent)?;
        let session = self.session_at(client, relay_parent)?;
        Ok(self
            .group(client, para, &header)?
            .into_iter()
            .filter_map(|index| session.key(index).copied())
            .collect())
    }

    /// The backing group of `para` for candidates on `relay_parent`, from the relay runtime.
    fn group(
        &self,
        client: &Client,
        para: ParaId,
        relay_parent: &Header,
    ) -> Result<Vec<u32>, ParachainError> {
        let key = (relay_parent.hash(), para);
        let groups = || self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let no_group = || self.no_group.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(group) = groups().get(&key) {
            return Ok(group.clone());
        }
        if no_group().get(&key).is_some() {
            return Err(ParachainError::UnknownPara(para));
        }
        match relay_api::backing_group(client, relay_parent, para) {
            Ok(group) => {
                groups().put(key, group.clone());
                Ok(group)
            }
            // Remembered too: asking again would cost another runtime call.
            Err(ParachainError::UnknownPara(para)) => {
                no_group().put(key, ());
                Err(ParachainError::UnknownPara(para))
            }
            Err(err) => Err(err),
        }
    }

    /// Checks a collator's candidate if this validator is in its backing group; if valid, keeps
    /// its chunks and signs a statement. ([`Self::prepare_check`], [`CandidateCheck::run`] and
    /// [`Self::complete_check`] in one go.)
    pub fn on_collation(
        &mut self,
        client: &Client,
        collation: &Collation,
    ) -> Result<CollationOutcome, ParachainError> {
        let Some(check) = self.prepare_check(client, collation)? else {
            return Ok(CollationOutcome::Ignored);
        };
        let chunks = check.run(&self.validation)?;
        Ok(self.complete_check(client, check, chunks))
    }

    /// What checking `collation` needs from relay state, if it is this validator's to check
    /// (its group, not seen yet). A candidate on a relay parent where the para's core is
    /// occupied builds on the candidate pending there (see
    /// [`inclusion::persisted_validation_data`]).
    pub fn prepare_check(
        &self,
        client: &Client,
        collation: &Collation,
    ) -> Result<Option<CandidateCheck>, ParachainError> {
        let relay_parent = header_at(client, &collation.candidate.descriptor.relay_parent)?;
        let session = self.session_at(client, &relay_parent.hash())?;
        let Some((me, _)) = self.me_in(&session) else {
            return Ok(None);
        };
        // A garbage backer backs its made-up candidate instead, unchecked.
        let garbage = self.malus.back_garbage.then(|| Collation {
            candidate: Malus::garbage(&collation.candidate),
            pov: collation.pov.clone(),
        });
        let collation = garbage.as_ref().unwrap_or(collation);
        let descriptor = &collation.candidate.descriptor;
        let para = descriptor.para_id;
        let candidate_hash = collation.candidate.hash();
        if self.statements.has_signed(&candidate_hash, me) {
            return Ok(None);
        }
        let group = self.group(client, para, &relay_parent)?;
        if !group.contains(&me) {
            return Ok(None);
        }
        let validation = relay_api::candidate_validation(client, &relay_parent, para)?;
        let validation_data = validation.data;
        let code = relay_api::validation_code_by_hash(
            client,
            &relay_parent.hash(),
            &validation.code_hash,
        )?
        .ok_or(ParachainError::UnknownPara(para))?;
        Ok(Some(CandidateCheck {
            me,
            session,
            candidate_hash,
            relay_parent_number: relay_parent.number,
            group,
            collation: collation.clone(),
            validation_data,
            code,
            validate: !self.malus.back_garbage,
        }))
    }

    /// The validation host (for running checks away from the node loop).
    pub fn validation(&self) -> Arc<ValidationHost> {
        self.validation.clone()
    }

    /// Keeps a checked candidate's chunks and available data on disk, and signs its
    /// statement (not if they could not be kept: a backer must serve them).
    pub fn complete_check(
        &mut self,
        client: &Client,
        check: CandidateCheck,
        chunks: Vec<ErasureChunk>,
    ) -> CollationOutcome {
        let available = AvailableData {
            pov: check.collation.pov.clone(),
            validation_data: check.validation_data.clone(),
        };
        let encoded: Vec<(u32, Vec<u8>)> = chunks.iter().map(|c| (c.index, c.encode())).collect();
        let kept = client.store().put_availability(
            &check.candidate_hash,
            check.relay_parent_number,
            &encoded,
            Some(&available.encode()),
        );
        if let Err(err) = kept {
            tracing::error!(candidate = %check.candidate_hash, %err, "could not keep a candidate's chunks: not seconding it");
            return CollationOutcome::Ignored;
        }
        self.own_chunks
            .insert(check.candidate_hash, check.relay_parent_number);
        let Some((_, key)) = self.me_in(&check.session) else {
            return CollationOutcome::Ignored;
        };
        let statement = Statement::sign(key, check.me, check.collation.candidate);
        let kept = self.statements.import(
            statement.clone(),
            check.relay_parent_number,
            &check.group,
            &check.session.keys,
        );
        if let Err(err) = kept {
            tracing::warn!(candidate = %check.candidate_hash, %err, "own statement not kept: not seconding it");
            return CollationOutcome::Ignored;
        }
        CollationOutcome::Seconded(Box::new(statement))
    }

    /// Checks and keeps another backer's statement; whether it was new here.
    pub fn on_statement(
        &mut self,
        client: &Client,
        statement: Statement,
    ) -> Result<bool, ParachainError> {
        let descriptor = &statement.candidate.descriptor;
        let relay_parent = header_at(client, &descriptor.relay_parent)?;
        // A candidate on a relay parent below finality can no longer be backed: not worth a
        // runtime call, nor a place among the remembered groups.
        let finalized = client
            .info()
            .map_err(|e| ParachainError::State(e.to_string()))?;
        if relay_parent.number < finalized.finalized_number {
            return Err(ParachainError::UnknownRelayParent(descriptor.relay_parent));
        }
        // Its signature before its group: a statement naming a para without one costs a
        // runtime call, and only a validator can sign one.
        let session = self.session_at(client, &descriptor.relay_parent)?;
        self.statements.check_signature(&statement, &session.keys)?;
        let group = self.group(client, descriptor.para_id, &relay_parent)?;
        Ok(self
            .statements
            .import(statement, relay_parent.number, &group, &session.keys)?)
    }

    /// Candidates pending availability at `at`, by core.
    fn pending(
        client: &Client,
        at: &Hash,
    ) -> Result<Vec<Option<PendingCandidate>>, ParachainError> {
        let (mut state, _) = state_at(client, at)?;
        let cores = paras::para_ids(&mut state).map_err(state_error)?;
        cores
            .iter()
            .map(|para| {
                inclusion::PENDING
                    .get(&mut state, para)
                    .map_err(state_error)
            })
            .collect()
    }

    /// Chunks this validator should hold for candidates pending availability at `at` but does
    /// not.
    pub fn missing_chunks(
        &self,
        client: &Client,
        at: &Hash,
    ) -> Result<Vec<MissingChunk>, ParachainError> {
        let session = self.session_at(client, at)?;
        let Some((me, _)) = self.me_in(&session) else {
            return Ok(Vec::new());
        };
        let mut missing = Vec::new();
        for pending in Self::pending(client, at)?.into_iter().flatten() {
            if !self.holds(client, &pending.hash, me) {
                let backers = pending
                    .backers()
                    .filter_map(|b| session.key(b).copied())
                    .collect();
                missing.push(MissingChunk {
                    candidate_hash: pending.hash,
                    erasure_root: pending.descriptor.erasure_root,
                    index: me,
                    validators: session.len(),
                    backed_in: pending.backed_in,
                    backers,
                });
            }
        }
        Ok(missing)
    }

    /// Whether this node keeps its own chunk (`me`) of a candidate: known from what it wrote
    /// since it started, else (what it wrote before a restart) read from disk.
    fn holds(&self, client: &Client, candidate_hash: &Hash, me: u32) -> bool {
        self.own_chunks.contains_key(candidate_hash)
            || client
                .store()
                .availability_chunk(candidate_hash, me)
                .is_ok_and(|chunk| chunk.is_some())
    }

    /// Chunk `index` of a candidate, if kept (what a backer serves, and every validator its
    /// own).
    pub fn chunk(client: &Client, candidate_hash: &Hash, index: u32) -> Option<ErasureChunk> {
        let bytes = client
            .store()
            .availability_chunk(candidate_hash, index)
            .ok()??;
        ErasureChunk::decode_all(&mut &bytes[..]).ok()
    }

    /// A candidate's whole available data, if kept (a backer's).
    pub fn available_data(client: &Client, candidate_hash: &Hash) -> Option<AvailableData> {
        let bytes = client.store().available_data(candidate_hash).ok()??;
        AvailableData::decode_all(&mut &bytes[..]).ok()
    }

    /// Checks a fetched chunk against the candidate's erasure root and keeps it.
    pub fn on_chunk(
        &mut self,
        client: &Client,
        missing: &MissingChunk,
        chunk: ErasureChunk,
    ) -> Result<(), ParachainError> {
        if chunk.index != missing.index {
            return Err(ParachainError::BadChunk(format!(
                "got chunk {}, asked for {}",
                chunk.index, missing.index
            )));
        }
        verify_chunk(&missing.erasure_root, missing.validators, &chunk)
            .map_err(|e| ParachainError::BadChunk(e.to_string()))?;
        client
            .store()
            .put_availability(
                &missing.candidate_hash,
                missing.backed_in,
                &[(chunk.index, chunk.encode())],
                None,
            )
            .map_err(|e| ParachainError::State(e.to_string()))?;
        self.own_chunks
            .insert(missing.candidate_hash, missing.backed_in);
        Ok(())
    }

    /// This validator's bitfield on `parent`: a bit per core, set if it holds its chunk of the
    /// candidate pending there.
    pub fn bitfield(
        &self,
        client: &Client,
        parent: &Hash,
    ) -> Result<Option<SignedBitfield>, ParachainError> {
        let Some((me, key)) = self.me_at(client, parent) else {
            return Ok(None);
        };
        let bits: Vec<bool> = Self::pending(client, parent)?
            .into_iter()
            .map(|pending| pending.is_some_and(|p| self.holds(client, &p.hash, me)))
            .collect();
        Ok(Some(backing::sign_bitfield(key, me, parent, bits)))
    }

    /// Checks and keeps a validator's bitfield signed on `relay_parent`; whether it was news
    /// here (not one known, nor one the kept bitfield of its validator covers).
    pub fn on_bitfield(
        &mut self,
        client: &Client,
        relay_parent: Hash,
        bitfield: SignedBitfield,
    ) -> Result<bool, ParachainError> {
        let (mut state, header) = state_at(client, &relay_parent)?;
        let cores = paras::para_ids(&mut state).map_err(state_error)?.len();
        let session = self.session_at(client, &relay_parent)?;
        Ok(self
            .bitfields
            .import(relay_parent, header.number, cores, &session.keys, bitfield)?)
    }

    /// The parachains inherent for the block after `parent`: what this validator holds of the
    /// bitfields signed on it (its own included), the candidates backed on it, concluded
    /// disputes and verdicts on new code, as the relay runtime at `parent` takes them
    /// ([`relay_api::create_inherent`]), so its rules, whatever runtime upgrade set them,
    /// decide what goes in.
    pub fn inherent(
        &mut self,
        client: &Client,
        parent: &Header,
    ) -> Result<OpaqueExtrinsic, ParachainError> {
        let parent_hash = parent.hash();
        if let Some(own) = self.bitfield(client, &parent_hash)? {
            self.on_bitfield(client, parent_hash, own)?;
        }
        let cores = Self::pending(client, &parent_hash)?.len();
        // The offenders' indices among the validators who backed on the parent.
        let session = self.session_at(client, &parent_hash)?;
        let offenders: BTreeSet<u32> = self
            .offenders
            .iter()
            .filter_map(|stash| session.index_of_stash(stash))
            .collect();
        let mut offer = InherentOffer {
            parent_header: parent.clone(),
            bitfields: self.bitfields.signed_on(&parent_hash, cores),
            backable: offered(self.statements.backable(&parent_hash, &offenders)),
            disputes: std::mem::take(&mut self.disputes),
            pvf_checks: std::mem::take(&mut self.pvf_checks),
            max_commitment_bytes: COMMITMENTS_PER_BLOCK,
        };
        let created = match relay_api::create_inherent(client, parent, &offer) {
            Ok(created) => created,
            Err(err) => {
                // The bitfields alone still include what became available.
                tracing::warn!(%err, "the runtime made no inherent of the offer: bitfields only");
                offer.backable.clear();
                offer.disputes.clear();
                offer.pvf_checks.clear();
                relay_api::create_inherent(client, parent, &offer)?
            }
        };
        for (candidate, why) in &created.left_out {
            tracing::debug!(%candidate, why, "backed candidate left out of the inherent");
        }
        for why in &created.dropped {
            tracing::warn!(why, "left out of the parachains inherent");
        }
        Ok(Extrinsic::<Call> {
            signature: None,
            call: Call::ParaInclusion(created.call),
        }
        .to_opaque())
    }

    /// Deletes the availability data of candidates whose relay parent was finalized more
    /// than [`AVAILABILITY_KEEP_FINALIZED`] blocks ago (a bounded amount per call).
    pub fn prune_availability(client: &Client) {
        let Ok(meta) = client.info() else {
            return;
        };
        let Some(up_to) = meta
            .finalized_number
            .checked_sub(AVAILABILITY_KEEP_FINALIZED)
        else {
            return;
        };
        match client
            .store()
            .prune_availability(up_to, PRUNE_BLOCKS_PER_TICK)
        {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, up_to, "availability data pruned"),
            Err(err) => tracing::warn!(%err, "availability data not pruned"),
        }
    }

    /// Forgets what concerns relay blocks more than [`KEEP_BLOCKS`] below `best`.
    pub fn prune(&mut self, best: u32) {
        let keep_from = best.saturating_sub(KEEP_BLOCKS);
        self.statements.prune(keep_from);
        self.bitfields.prune(keep_from);
        self.own_chunks.retain(|_, number| *number >= keep_from);
    }
}
