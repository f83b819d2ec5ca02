//! Collators: para nodes that build their para's blocks on a relay node.
//!
//! A [`Collator`] follows the relay chain its node imports. On each relay best block, its
//! [`ParaChain`] follows the para's included head; then, with a collator key, it builds the
//! next para block from its transaction pool, on the candidate pending availability on the
//! para's core if there is one (it may be included in the block that backs this one), else on
//! the para's latest included head. It builds within a time budget and records the storage
//! proof in the same execution, validates the block in Wasm (the para's code) for its commitments, and returns
//! the signed [`Collation`] for the node to send to the backing group. It then watches what
//! the relay chain makes of the candidate ([`super::tracking`]): a late candidate shrinks the
//! next block's budget, a backed one grows it, and each candidate that can never be included
//! is reported with its reason.
//!
//! Without a collator key it is a para full node: it only follows, and serves the para's RPC.

use super::chain::{
    check_para_transactions, FollowError, ParaChain, ParaTxError, ParaView, Submitted,
    MAX_ANNOUNCE, MAX_POOL,
};
use super::tracking::{DropReason, Outcome, RelayView, SentCandidate, Tracker};
use crate::client::Client;
use crate::collation::{collate, Collation, CollationInput};
use crate::store::ChainStore;
use crate::validation::{ExecutionError, ValidationHost, ValidationPurpose};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tessera_relay_chain::inclusion;
use tessera_relay_chain::paras::{self, HeadData, ParaId};
use tessera_runtime::crypto::Pair;
use tessera_runtime::extrinsic::{ChainContext, Era, Extrinsic, SignedExtra};
use tessera_runtime::messaging::RelayInputs;
use tessera_runtime::modules::balances;
use tessera_runtime::parachain::{
    BlockData, ParachainBlockData, PersistedValidationData, PoV, ValidationParams,
};
use tessera_runtime::state::State;
use tessera_runtime::{AccountId, Balance, Block, Hash, Header, Nonce, OpaqueExtrinsic};

/// Relay blocks in a row without the included head's block after which a collator says so at
/// warn level (and again every as many).
const MISSING_WARN_EVERY: u32 = 10;

/// Transactions of a para, gossiped from the node that received them to its collators.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ParaTransactions {
    /// The para.
    pub para: ParaId,
    /// Its transactions.
    pub transactions: Vec<OpaqueExtrinsic>,
}

/// What a node runs for each para it collates.
pub trait Collate: Send + Sync {
    /// The para.
    fn para(&self) -> ParaId;
    /// The para's chain, for its RPC.
    fn view(&self) -> Arc<Mutex<dyn ParaView>>;
    /// What following the para's included head at the relay's best block in `client` needs,
    /// and, if this node collates and made no candidate on that block yet, what making one
    /// needs (none if there is nothing to do). Cheap: the caller may hold the client's lock.
    fn prepare(&mut self, client: &Client) -> Option<CollationJob>;
    /// Follows the included head of `job` and makes its candidate, on the candidate pending
    /// availability there or else on the included head. Needs no relay state: the client's
    /// lock can be released meanwhile.
    fn build(&mut self, job: CollationJob) -> Option<Collation>;
    /// [`Self::prepare`] and [`Self::build`] in one go.
    fn collate(&mut self, client: &Client) -> Option<Collation> {
        let job = self.prepare(client)?;
        self.build(job)
    }
    /// Keeps the block in another collator's PoV, to import if the relay chain includes it.
    fn offer(&mut self, pov: &PoV);
    /// The first block number to fetch from peers, if the para is behind its included head.
    fn wants_blocks(&self) -> Option<u32>;
    /// Imports blocks fetched from a peer; how many.
    fn import_synced(&mut self, blocks: Vec<Block>) -> Result<usize, FollowError>;
    /// Whether fetched blocks were dropped, since the last call, for not being the chain the
    /// relay chain included (see [`ParaChain::take_sync_discarded`]).
    fn take_sync_discarded(&mut self) -> bool;
    /// Blocks of the included chain for a peer catching up (see [`ParaChain::blocks_from`]).
    fn blocks_from(&self, from: u32, count: u32, max_bytes: usize) -> Vec<Block>;
    /// Whether this node makes candidates (it has a collator key).
    fn is_collating(&self) -> bool;
    /// This collator's declaration for its para, sending from `peer` (none on a full node).
    fn declaration(&self, peer: &libp2p::PeerId) -> Option<crate::collation::CollatorDeclaration>;
    /// The para's latest included head number and hash, as this collator follows it.
    fn head(&self) -> (u32, Hash);
    /// Queues a para transaction.
    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Submitted, ParaTxError>;
    /// Queues para transactions another node gossiped, checked against one view of the head.
    fn submit_many(&mut self, xts: Vec<OpaqueExtrinsic>) -> Vec<Result<Submitted, ParaTxError>>;
    /// Transactions submitted to this node's para RPC not yet gossiped, a batch at a time.
    fn take_announced(&mut self) -> Vec<OpaqueExtrinsic>;
    /// Puts back transactions whose gossip failed, to try again.
    fn announce_again(&mut self, xts: Vec<OpaqueExtrinsic>);
    /// Free balance of `who` at the para's head.
    fn free_balance(&self, who: &AccountId) -> Result<Balance, ParaTxError>;
    /// Dev load: signed transfers among the dev accounts, `count` per block.
    fn set_dev_transfers(&mut self, count: usize);
    /// Candidates made here that can never be included, since last asked, and why.
    fn take_dropped(&mut self) -> Vec<DropReason>;
}

/// What a collator read from the relay chain to follow and collate on one relay block.
#[derive(Clone, Debug)]
pub struct CollationJob {
    relay_parent: Header,
    included: HeadData,
    follow: bool,
    candidate: Option<CandidateInputs>,
}

/// A relay chain state: the store and the root.
#[derive(Clone)]
struct RelayState(ChainStore, Hash);

impl std::fmt::Debug for RelayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelayState({})", self.1)
    }
}

/// What making a candidate on a relay block needs from it.
#[derive(Clone, Debug)]
struct CandidateInputs {
    validation_data: PersistedValidationData,
    code_hash: Hash,
    /// The relay state at the relay parent, where that code is (read only if not compiled).
    relay_state: RelayState,
    inputs: RelayInputs,
    validators: usize,
    slot: Duration,
}

/// A para node of any para (its runtime is the Wasm in its state): follows the para's
/// included chain and, with a collator key, collates.
pub struct Collator {
    para: ParaId,
    chain: Arc<Mutex<ParaChain>>,
    /// The collator key; none on a full node.
    collating: Option<Pair>,
    /// The relay block whose included head the chain last followed.
    followed_on: Option<Hash>,
    /// The relay block collating was last done on, or given up on (a candidate is made at
    /// most once per relay block).
    collated_on: Option<Hash>,
    /// Relay blocks in a row on which the included head could not be followed (a block
    /// missing here): said at warn level once it lasts.
    missing_for: u32,
    /// Candidates sent and the build time budget (made on the first collation, when the
    /// relay slot is known).
    tracker: Option<Tracker>,
    /// Candidates dropped since [`Collate::take_dropped`].
    dropped: Vec<DropReason>,
    dev_transfers: usize,
    dev_turn: usize,
}

impl Collator {
    /// Collates `chain` with the collator key `key`.
    pub fn new(chain: ParaChain, key: Pair) -> Self {
        Self::with(chain, Some(key))
    }

    /// A para full node on `chain`: follows the included chain, never collates.
    pub fn full_node(chain: ParaChain) -> Self {
        Self::with(chain, None)
    }

    fn with(mut chain: ParaChain, collating: Option<Pair>) -> Self {
        // A full node checks transactions and passes them on to collators; it builds no block.
        chain.keeps_pool = collating.is_some();
        Collator {
            para: chain.para,
            chain: Arc::new(Mutex::new(chain)),
            collating,
            followed_on: None,
            collated_on: None,
            missing_for: 0,
            tracker: None,
            dropped: Vec::new(),
            dev_transfers: 0,
            dev_turn: 0,
        }
    }

    /// The para's chain, shared with its RPC.
    pub fn chain(&self) -> Arc<Mutex<ParaChain>> {
        self.chain.clone()
    }

    fn lock(&self) -> MutexGuard<'_, ParaChain> {
        self.chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues this block's dev transfers, with nonces after what the pool holds of each
    /// signer (so they never take a nonce a user's pooled transaction has). They are
    /// `balances.transfer` calls at the template's call index, so only a para whose runtime
    /// keeps `balances` there can take them.
    fn queue_dev_transfers(&mut self, chain: &mut ParaChain) {
        if self.dev_transfers == 0 {
            return;
        }
        let version = match chain.runtime_version() {
            Ok(version) => version,
            Err(err) => return tracing::debug!(%err, "no dev transfers: no runtime version"),
        };
        let pairs: Vec<Pair> = crate::workload::DEV_ACCOUNTS
            .iter()
            .map(|name| Pair::dev(name))
            .collect();
        let mut nonces: HashMap<AccountId, Nonce> = HashMap::new();
        let mut batch = Vec::with_capacity(self.dev_transfers);
        for _ in 0..self.dev_transfers {
            self.dev_turn = self.dev_turn.wrapping_add(1);
            let (Some(from), Some(to)) = (
                pairs.get(self.dev_turn % pairs.len()),
                pairs.get((self.dev_turn + 1) % pairs.len()),
            ) else {
                return;
            };
            let signer = from.public();
            let nonce = match nonces.get(&signer) {
                Some(nonce) => *nonce,
                None => match chain.next_nonce(&signer) {
                    Ok(nonce) => nonce,
                    Err(_) => return,
                },
            };
            nonces.insert(signer, nonce.saturating_add(1));
            let call = BalancesCall(balances::Call::Transfer {
                dest: to.public().into(),
                value: 1_000_000_000,
            });
            let extra = SignedExtra {
                era: Era::Immortal,
                nonce,
                tip: 0,
            };
            let context = ChainContext {
                spec_version: version.spec_version,
                transaction_version: version.transaction_version,
                genesis_hash: chain.genesis_hash,
                birth_hash: chain.genesis_hash,
            };
            batch.push(Extrinsic::signed(from, call, extra, &context).to_opaque());
        }
        if let Some(Err(err)) = chain.submit_many(batch).into_iter().find(Result::is_err) {
            tracing::debug!(%err, "dev para transfer refused");
        }
    }

    /// Resolves the candidates in flight against the relay chain's best block `best`.
    fn track(&mut self, client: &Client, para: ParaId, best: u32) {
        let Some(tracker) = self.tracker.as_mut() else {
            return;
        };
        if tracker.in_flight().is_empty() {
            return;
        }
        let relay = ClientRelay { client, para, best };
        for outcome in tracker.resolve(&relay) {
            match outcome {
                Outcome::Backed(sent) => tracing::debug!(
                    para = para.0,
                    number = sent.number,
                    candidate = %sent.candidate,
                    "candidate backed"
                ),
                Outcome::Included(sent) => tracing::debug!(
                    para = para.0,
                    number = sent.number,
                    candidate = %sent.candidate,
                    "candidate included"
                ),
                Outcome::Dropped(sent, reason) => {
                    tracing::info!(
                        para = para.0,
                        number = sent.number,
                        candidate = %sent.candidate,
                        %reason,
                        budget_ms = tracker.budget().as_millis() as u64,
                        "candidate dropped"
                    );
                    self.dropped.push(reason);
                }
            }
        }
    }
}

/// The best relay chain as a client sees it, for one para.
struct ClientRelay<'a> {
    client: &'a Client,
    para: ParaId,
    best: u32,
}

impl RelayView for ClientRelay<'_> {
    fn block_at(&self, number: u32) -> Option<(Hash, Hash)> {
        let hash = self.client.store().canonical_hash(number).ok()??;
        let header = self.client.header(&hash).ok()??;
        Some((hash, header.parent_hash))
    }

    fn best_number(&self) -> u32 {
        self.best
    }

    fn para_at(&self, at: &Hash) -> Option<(Hash, Option<Hash>)> {
        let header = self.client.header(at).ok()??;
        let mut state = State::new(self.client.store(), header.state_root);
        let included = paras::PARAS.get(&mut state, &self.para).ok()??.head.hash();
        let pending = inclusion::PENDING
            .get(&mut state, &self.para)
            .ok()?
            .map(|pending| pending.hash);
        Some((included, pending))
    }
}

/// A `balances` call as the template's runtime encodes it (module index 1).
#[derive(Clone, Debug)]
struct BalancesCall(balances::Call);

impl Encode for BalancesCall {
    fn size_hint(&self) -> usize {
        1 + self.0.size_hint()
    }

    fn encode_to<T: parity_scale_codec::Output + ?Sized>(&self, dest: &mut T) {
        dest.push_byte(TEMPLATE_BALANCES_INDEX);
        self.0.encode_to(dest);
    }
}

impl Decode for BalancesCall {
    fn decode<I: parity_scale_codec::Input>(
        input: &mut I,
    ) -> Result<Self, parity_scale_codec::Error> {
        if input.read_byte()? != TEMPLATE_BALANCES_INDEX {
            return Err("not a balances call".into());
        }
        balances::Call::decode(input).map(BalancesCall)
    }
}

/// Where the template's runtime (and the example's) puts `balances` among its calls.
const TEMPLATE_BALANCES_INDEX: u8 = 1;

impl Collate for Collator {
    fn para(&self) -> ParaId {
        self.para
    }

    fn view(&self) -> Arc<Mutex<dyn ParaView>> {
        self.chain.clone()
    }

    fn prepare(&mut self, client: &Client) -> Option<CollationJob> {
        let best = client.best_header().ok()?;
        let best_hash = best.hash();
        let follow = self.followed_on != Some(best_hash);
        let to_collate = self.collating.is_some() && self.collated_on != Some(best_hash);
        if !follow && !to_collate {
            return None;
        }
        let para = self.para;
        if follow {
            self.followed_on = Some(best_hash);
            self.track(client, para, best.number);
        }
        let mut state = State::new(client.store(), best.state_root);
        let included = inclusion::included_head(&mut state, para).ok()??;
        let candidate = match to_collate {
            false => None,
            // On the candidate pending availability, if there is one: it may be included in
            // the block that backs this one.
            true => (|| {
                // As the relay runtime at the relay parent says, as backers will ask it.
                let validation = match super::relay_api::candidate_validation(client, &best, para) {
                    Ok(validation) => validation,
                    Err(err) => {
                        tracing::debug!(para = para.0, %err, "no validation data to collate on");
                        return None;
                    }
                };
                let (validation_data, code_hash) = (validation.data, validation.code_hash);
                let inputs = match super::relay_api::relay_inputs(client, &best, para) {
                    Ok(inputs) => inputs,
                    Err(err) => {
                        tracing::warn!(para = para.0, %err, "cannot read the relay inputs");
                        return None;
                    }
                };
                Some(CandidateInputs {
                    validation_data,
                    code_hash,
                    relay_state: RelayState(client.store().clone(), best.state_root),
                    inputs,
                    // Chunks for the relay parent's session, which backers code them for.
                    validators: tessera_relay_chain::session::VALIDATORS
                        .get_or_default(&mut State::new(client.store(), best.state_root))
                        .ok()?
                        .len(),
                    slot: client.slot_duration(),
                })
            })(),
        };
        Some(CollationJob {
            relay_parent: best,
            included,
            follow,
            candidate,
        })
    }

    fn build(&mut self, job: CollationJob) -> Option<Collation> {
        let best_hash = job.relay_parent.hash();
        let para = self.para;
        let chain = self.chain.clone();
        let mut chain = chain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if job.follow {
            match chain.follow(&job.included) {
                Ok(true) => {
                    self.missing_for = 0;
                    tracing::debug!(para = para.0, number = chain.head.number, "para head")
                }
                Ok(false) => self.missing_for = 0,
                Err(err @ FollowError::Missing { .. }) => {
                    self.missing_for = self.missing_for.saturating_add(1);
                    if self.missing_for.is_multiple_of(MISSING_WARN_EVERY) {
                        // Peers were asked meanwhile: no node of the para may have the block.
                        tracing::warn!(
                            para = para.0,
                            %err,
                            relay_blocks = self.missing_for,
                            "cannot build: the included head's block is not known here"
                        );
                    } else {
                        tracing::debug!(para = para.0, %err, "catching up with the included head");
                    }
                    self.collated_on = Some(best_hash);
                    return None;
                }
                Err(err) => {
                    tracing::warn!(para = para.0, %err, "cannot follow the included head");
                    self.collated_on = Some(best_hash);
                    return None;
                }
            }
        }
        let key = self.collating.clone()?;
        let CandidateInputs {
            validation_data,
            code_hash,
            relay_state,
            inputs,
            validators,
            slot,
        } = job.candidate?;
        let parent = match Header::decode_all(&mut &validation_data.parent_head.0[..]) {
            Ok(parent) => parent.hash(),
            Err(err) => {
                tracing::warn!(para = para.0, %err, "the parent head does not decode");
                self.collated_on = Some(best_hash);
                return None;
            }
        };
        if !chain.can_build_on(&parent) {
            // Another collator's candidate whose collation has not reached this node (yet):
            // try again on the next tick, until the relay chain moves on.
            tracing::debug!(para = para.0, %parent, "the pending candidate's block is unknown");
            return None;
        }
        self.collated_on = Some(best_hash);
        self.queue_dev_transfers(&mut chain);
        let started = Instant::now();
        let tracker = self.tracker.get_or_insert_with(|| Tracker::new(slot));
        let budget = tracker.budget();
        let data = match chain.build(parent, key.public(), &inputs, started + budget) {
            Ok(data) => data,
            Err(err) => {
                tracing::warn!(para = para.0, %err, "cannot build a para block");
                return None;
            }
        };
        // The rest needs no chain: its RPC and gossiped transactions go on meanwhile.
        drop(chain);
        let built_in = started.elapsed();
        let (number, extrinsics) = (data.block.header.number, data.block.extrinsics.len());
        let pov = PoV {
            block_data: BlockData(data.encode()),
        };
        let pov_size = pov.encoded_size();
        if pov_size > inclusion::MAX_POV_SIZE as usize {
            tracing::info!(
                para = para.0,
                number,
                pov_size,
                reason = %DropReason::PovTooLarge,
                "candidate dropped"
            );
            tracker.dropped_unsent(DropReason::PovTooLarge);
            self.dropped.push(DropReason::PovTooLarge);
            return None;
        }
        let block_data = pov.block_data;
        let params = ValidationParams {
            parent_head: validation_data.parent_head.clone(),
            block_data: block_data.clone(),
            relay_parent_number: validation_data.relay_parent_number,
            relay_parent_storage_root: validation_data.relay_parent_storage_root,
        };
        // As backers will: with the code the relay chain holds for the para.
        let relay_code = || {
            let RelayState(store, root) = &relay_state;
            match paras::code(&mut State::new(store, *root), &code_hash) {
                Ok(Some(code)) => Ok(code.0),
                Ok(None) => Err(ExecutionError::NoCode),
                Err(err) => Err(ExecutionError::Store(err.to_string())),
            }
        };
        let validated = ValidationHost::shared()
            .map_err(|err| ExecutionError::Store(err.to_string()))
            .and_then(|host| {
                host.validate_lazily(code_hash, relay_code, &params, ValidationPurpose::Backing)
            });
        let commitments = match validated {
            Ok(commitments) => commitments,
            Err(err) => {
                tracing::warn!(para = para.0, %err, "own block does not validate");
                return None;
            }
        };
        let validated_in = started.elapsed().saturating_sub(built_in);
        let sent = SentCandidate {
            candidate: Hash::ZERO,
            relay_parent: best_hash,
            relay_parent_number: job.relay_parent.number,
            parent_head: validation_data.parent_head.hash(),
            head: commitments.head_data.hash(),
            number,
            backed_in: None,
        };
        let input = CollationInput {
            para,
            relay_parent: best_hash,
            validation_data,
            block_data,
            code_hash,
            commitments,
            validators,
        };
        match collate(&key, input) {
            Ok(collation) => {
                tracing::debug!(
                    para = para.0,
                    number,
                    extrinsics,
                    pov_size,
                    budget_ms = budget.as_millis() as u64,
                    built_ms = built_in.as_millis() as u64,
                    validated_ms = validated_in.as_millis() as u64,
                    total_ms = started.elapsed().as_millis() as u64,
                    "collated"
                );
                tracker.sent(SentCandidate {
                    candidate: collation.candidate.hash(),
                    ..sent
                });
                Some(collation)
            }
            Err(err) => {
                tracing::warn!(para = para.0, %err, "cannot erasure-code the PoV");
                None
            }
        }
    }

    fn head(&self) -> (u32, Hash) {
        let chain = self.lock();
        (chain.head.number, chain.head.hash())
    }

    fn submit(&mut self, xt: OpaqueExtrinsic) -> Result<Submitted, ParaTxError> {
        self.lock().submit(xt)
    }

    fn free_balance(&self, who: &AccountId) -> Result<Balance, ParaTxError> {
        self.lock().account(who).map(|info| info.data.free)
    }

    fn submit_many(&mut self, xts: Vec<OpaqueExtrinsic>) -> Vec<Result<Submitted, ParaTxError>> {
        // Checked with the chain unlocked: its RPC and the collator go on meanwhile.
        let checker = self.lock().tx_checker();
        let verdicts = checker.and_then(|checker| check_para_transactions(&checker, &xts));
        self.lock().admit_all(xts, verdicts)
    }

    fn take_announced(&mut self) -> Vec<OpaqueExtrinsic> {
        let mut chain = self.lock();
        let count = chain.announce.len().min(MAX_ANNOUNCE);
        chain.announce.drain(..count).collect()
    }

    fn wants_blocks(&self) -> Option<u32> {
        self.lock().wants_blocks()
    }

    fn import_synced(&mut self, blocks: Vec<Block>) -> Result<usize, FollowError> {
        let imported = self.lock().import_synced(blocks)?;
        // Follow again on the same relay block: the included head may be reachable now, and
        // collate on it if it is (the failed follow gave up collating there).
        self.followed_on = None;
        self.collated_on = None;
        Ok(imported)
    }

    fn take_sync_discarded(&mut self) -> bool {
        self.lock().take_sync_discarded()
    }

    fn blocks_from(&self, from: u32, count: u32, max_bytes: usize) -> Vec<Block> {
        self.lock().blocks_from(from, count, max_bytes)
    }

    fn announce_again(&mut self, xts: Vec<OpaqueExtrinsic>) {
        let mut chain = self.lock();
        let room = MAX_POOL.saturating_sub(chain.announce.len());
        chain.announce.splice(0..0, xts.into_iter().take(room));
    }

    fn offer(&mut self, pov: &PoV) {
        // Anyone can gossip a PoV: one that does not decode is simply not kept, and a block
        // is only imported once the relay chain includes its header and it executes.
        if let Ok(data) = ParachainBlockData::decode_all(&mut &pov.block_data.0[..]) {
            self.lock().offer(data.block);
        }
    }

    fn is_collating(&self) -> bool {
        self.collating.is_some()
    }

    fn declaration(&self, peer: &libp2p::PeerId) -> Option<crate::collation::CollatorDeclaration> {
        let key = self.collating.as_ref()?;
        Some(crate::collation::CollatorDeclaration::sign(
            key,
            self.para(),
            peer,
        ))
    }

    fn set_dev_transfers(&mut self, count: usize) {
        self.dev_transfers = count;
    }

    fn take_dropped(&mut self) -> Vec<DropReason> {
        std::mem::take(&mut self.dropped)
    }
}
