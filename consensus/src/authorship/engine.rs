//! The authorship engine of one node: claims slots on the best chain, checks imported headers,
//! keeps epoch randomness per chain, picks the best chain and reports author equivocations.

use super::config::AuthorshipConfig;
use super::digest::{pre_seal_hash, split_seal, PreDigest};
use super::epoch::{EpochAuthorities, EpochData};
use super::error::ImportError;
use super::vrf::{claim_primary, secondary_author, verify_primary};
use crate::block_tree::BlockTree;
use crate::verify::{BatchVerifier, SignatureCheck, SignatureVerifier};
use crate::AuthorityKey;
use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, BTreeSet};
use tessera_runtime::consensus::NextEpochDescriptor;
use tessera_runtime::{AccountId, BlockNumber, DigestItem, Hash, Header};

/// What the authorship engine is told.
#[derive(Clone, Debug)]
pub enum Input {
    /// The current time in milliseconds.
    Tick(u64),
    /// A sealed header to check and import (own blocks too).
    ImportHeader(Header),
    /// A block was finalized: fork choice never leaves its chain again.
    Finalized(Hash),
}

/// What the authorship engine asks the node to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Build a block on `parent` for `slot` with this pre-digest, seal it
    /// ([`super::seal_header`]) and import it.
    AuthorBlock {
        /// The parent (the best block).
        parent: Hash,
        /// The slot claimed.
        slot: u64,
        /// The `PreRuntime(BABE)` item to put first in the digest.
        pre_digest: DigestItem,
        /// The key that claimed the slot, which seals the block.
        author: AccountId,
    },
    /// A header passed the checks and was added.
    Imported {
        /// Its hash.
        hash: Hash,
        /// Its number.
        number: BlockNumber,
    },
    /// The best block changed.
    NewBest(Hash),
    /// A header failed the checks.
    Rejected {
        /// Its hash.
        hash: Hash,
        /// Why.
        error: ImportError,
    },
    /// An authority sealed two headers for one slot.
    ReportEquivocation(Box<AuthorEquivocation>),
}

/// Two different headers sealed by one authority for the same slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorEquivocation {
    /// The slot.
    pub slot: u64,
    /// The author.
    pub offender: AccountId,
    /// The header seen first.
    pub first: Header,
    /// The conflicting header.
    pub second: Header,
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthorshipStats {
    /// Blocks this node was asked to author.
    pub claims: u64,
    /// Headers imported.
    pub imported: u64,
    /// Headers rejected.
    pub rejected: u64,
}

/// What the engine keeps per block: stored beside the block, it lets the engine resume from
/// the finalized block after a restart.
///
/// Its epoch's authority lists are stored in full with every block (shared in memory): a few
/// hundred bytes per block at today's validator counts.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlockData {
    /// The block's slot.
    pub slot: u64,
    /// Primary blocks on the chain ending at this block.
    pub primaries: u64,
    /// The block's epoch and the one announced after it.
    pub epoch: EpochData,
    /// The slot of block #1 on this chain, where epoch 0 starts (`None` for genesis), as in
    /// BABE: a chain may start at any slot of the wall clock.
    pub origin_slot: Option<u64>,
}

impl BlockData {
    /// The data of the genesis block of a chain whose first epochs `config` describes.
    pub fn genesis(config: &AuthorshipConfig) -> Self {
        BlockData {
            slot: 0,
            primaries: 0,
            epoch: EpochData::genesis(config.authorities.clone(), config.genesis_randomness),
            origin_slot: None,
        }
    }
}

/// A header that passed the import checks, ready for [`AuthorshipEngine::insert`].
#[derive(Clone, Debug)]
pub struct CheckedHeader {
    header: Header,
    hash: Hash,
    data: BlockData,
    author: AccountId,
}

impl CheckedHeader {
    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Its hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The author, from the authority list.
    pub fn author(&self) -> AccountId {
        self.author
    }

    /// What the engine keeps for this block (store it to resume later).
    pub fn data(&self) -> &BlockData {
        &self.data
    }
}

/// The BABE-like authorship engine of one node.
pub struct AuthorshipEngine {
    config: AuthorshipConfig,
    keys: Vec<AuthorityKey>,
    tree: BlockTree,
    data: BTreeMap<Hash, BlockData>,
    best: Hash,
    now: u64,
    last_claimed_slot: Option<u64>,
    by_slot: BTreeMap<(u64, AccountId), Header>,
    reported: BTreeSet<(u64, AccountId)>,
    /// Blocks reverted (they included an invalid candidate): fork choice never picks them or
    /// their descendants.
    reverted: BTreeSet<Hash>,
    verifier: Box<dyn SignatureVerifier>,
    stats: AuthorshipStats,
}

impl AuthorshipEngine {
    /// An engine above `genesis` (slot 0); it authors in the epochs where `key` is one of the
    /// authorities.
    pub fn new(config: AuthorshipConfig, genesis: Header, key: Option<AuthorityKey>) -> Self {
        let data = BlockData::genesis(&config);
        Self::resume(config, genesis, data, key)
    }

    /// Starts again above `root`, a finalized block this engine never saw (a warp sync's
    /// target) whose data is `root_data`: the blocks it held are forgotten; its keys, clock
    /// and verifier stay.
    pub fn rebase(&mut self, root: Header, root_data: BlockData) {
        let config = self.config.clone();
        let verifier = std::mem::replace(&mut self.verifier, Box::new(BatchVerifier::default()));
        let keys = std::mem::take(&mut self.keys);
        let now = self.now;
        *self = Self::resume(config, root, root_data, None);
        self.keys = keys;
        self.verifier = verifier;
        self.now = now;
    }

    /// An engine above `root` (a finalized block) whose stored data is `root_data`.
    pub fn resume(
        config: AuthorshipConfig,
        root: Header,
        root_data: BlockData,
        key: Option<AuthorityKey>,
    ) -> Self {
        let tree = BlockTree::new(root);
        let root = tree.root();
        let mut data = BTreeMap::new();
        data.insert(root, root_data);
        AuthorshipEngine {
            config,
            keys: key.into_iter().collect(),
            tree,
            data,
            best: root,
            now: 0,
            last_claimed_slot: None,
            by_slot: BTreeMap::new(),
            reported: BTreeSet::new(),
            reverted: BTreeSet::new(),
            verifier: Box::new(BatchVerifier::default()),
            stats: AuthorshipStats::default(),
        }
    }

    /// Uses `verifier` for seal signatures.
    pub fn with_verifier(mut self, verifier: Box<dyn SignatureVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// The best block.
    pub fn best(&self) -> Hash {
        self.best
    }

    /// The header of a block still in the tree.
    pub fn header(&self, hash: &Hash) -> Option<&Header> {
        self.tree.header(hash)
    }

    /// Whether `hash` was imported and is not pruned.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.tree.contains(hash)
    }

    /// The number of primary blocks on the chain ending at `hash`.
    pub fn primaries(&self, hash: &Hash) -> Option<u64> {
        self.data.get(hash).map(|d| d.primaries)
    }

    /// The epoch of a child of `parent` in `slot`: its index, authorities and randomness, and
    /// whether the child starts the epoch (and so must carry the next epoch's descriptor).
    pub fn epoch_for_child(
        &self,
        parent: &Hash,
        slot: u64,
    ) -> Option<(u64, &EpochAuthorities, bool)> {
        let data = self.data.get(parent)?;
        let index = self.config.epoch_of(slot, data.origin_slot);
        Some(data.epoch.for_child(index, data.origin_slot.is_none()))
    }

    /// The block tree above the finalized block.
    pub fn tree(&self) -> &BlockTree {
        &self.tree
    }

    /// Counters since start.
    pub fn stats(&self) -> AuthorshipStats {
        self.stats
    }

    /// What the engine keeps for block `hash` (while it is in the tree).
    pub fn block_data(&self, hash: &Hash) -> Option<&BlockData> {
        self.data.get(hash)
    }

    /// The configuration.
    pub fn config(&self) -> &AuthorshipConfig {
        &self.config
    }

    /// Moves the clock to `now` (milliseconds) without claiming a slot.
    pub fn set_time(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// Whether `checked` would become the best block once inserted.
    pub fn would_be_best(&self, checked: &CheckedHeader) -> bool {
        (checked.data.primaries, checked.header.number) > self.weight(&self.best)
    }

    /// Re-adds a block checked before (read back from the node's store after a restart):
    /// no checks, no outputs besides the best-block choice.
    pub fn restore(&mut self, header: Header, data: BlockData) -> bool {
        let hash = header.hash();
        if !self.data.contains_key(&header.parent_hash) || self.tree.insert(header).is_err() {
            return false;
        }
        self.data.insert(hash, data);
        if self.better(&hash, &self.best) {
            self.best = hash;
        }
        true
    }

    /// Feeds one input; returns what to do.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick(now) => {
                self.now = self.now.max(now);
                self.claim_slot(&mut out);
            }
            Input::ImportHeader(header) => {
                if self.tree.contains(&header.hash()) {
                    return out;
                }
                match self.check(&header) {
                    Ok(checked) => out = self.insert(checked),
                    Err(error) => out.push(Output::Rejected {
                        hash: header.hash(),
                        error,
                    }),
                }
            }
            Input::Finalized(hash) => self.on_finalized(hash, &mut out),
        }
        out
    }

    fn current_slot(&self) -> u64 {
        self.config.slot_at(self.now)
    }

    /// Claims the current slot on the best block, once per slot.
    fn claim_slot(&mut self, out: &mut Vec<Output>) {
        let slot = self.current_slot();
        out.extend(self.claim(slot));
    }

    /// Claims `slot` (not in the future, after the best block's, above any claimed before) on
    /// the best block, if this node's key may author it.
    pub fn claim(&mut self, slot: u64) -> Option<Output> {
        if slot > self.current_slot() || self.last_claimed_slot.is_some_and(|last| last >= slot) {
            return None;
        }
        self.last_claimed_slot = Some(slot);
        if self.keys.is_empty() || self.data.get(&self.best)?.slot >= slot {
            return None;
        }
        let (epoch_index, epoch, _) = self.epoch_for_child(&self.best, slot)?;
        let (index, key) = self
            .keys
            .iter()
            .find_map(|key| Some((epoch.position(&key.public())?, key)))?;
        let threshold = epoch.threshold(self.config.c, index);
        let pre_digest = match claim_primary(key, &epoch.randomness, slot, epoch_index, threshold) {
            Some((vrf_output, vrf_proof, _)) => PreDigest::Primary {
                authority_index: index,
                slot,
                vrf_output,
                vrf_proof,
            },
            None if self.config.secondary_slots
                && secondary_author(&epoch.randomness, slot, epoch.len()) == Some(index) =>
            {
                PreDigest::Secondary {
                    authority_index: index,
                    slot,
                }
            }
            None => return None,
        };
        self.stats.claims = self.stats.claims.saturating_add(1);
        Some(Output::AuthorBlock {
            parent: self.best,
            slot,
            pre_digest: pre_digest.to_digest_item(),
            author: key.public(),
        })
    }

    /// The slot of block `hash` (while it is in the tree).
    pub fn slot_of(&self, hash: &Hash) -> Option<u64> {
        self.data.get(hash).map(|d| d.slot)
    }

    /// The first of the keys this node authors with.
    pub fn key(&self) -> Option<&AuthorityKey> {
        self.keys.first()
    }

    /// The key with public key `public`, if this node holds it.
    pub fn key_of(&self, public: &AccountId) -> Option<&AuthorityKey> {
        self.keys.iter().find(|key| key.public() == *public)
    }

    /// Sets the key this node authors with (`None`: import only).
    pub fn set_key(&mut self, key: Option<AuthorityKey>) {
        self.keys = key.into_iter().collect();
    }

    /// Adds a key to author with in the epochs that list it (a session key made later).
    pub fn add_key(&mut self, key: AuthorityKey) {
        if self.key_of(&key.public()).is_none() {
            self.keys.push(key);
        }
    }

    /// Runs the import checks on `header` (counting a failure), changing nothing else.
    pub fn check(&mut self, header: &Header) -> Result<CheckedHeader, ImportError> {
        let result = self.check_header(header);
        if result.is_err() {
            self.stats.rejected = self.stats.rejected.saturating_add(1);
        }
        result
    }

    /// The highest block number any chain above the finalized block can have reached by
    /// `slot`: each block takes a later slot than its parent.
    pub fn highest_number_at(&self, slot: u64) -> BlockNumber {
        let root_slot = self.data.get(&self.tree.root()).map_or(0, |data| data.slot);
        let max = u64::from(self.tree.root_number()).saturating_add(slot.saturating_sub(root_slot));
        BlockNumber::try_from(max).unwrap_or(BlockNumber::MAX)
    }

    /// The highest block number any chain can have reached by now.
    pub fn highest_number_now(&self) -> BlockNumber {
        self.highest_number_at(self.current_slot())
    }

    /// Checks a header a peer claims as its best, without its parent: known here, or above
    /// the finalized block, in a slot that has begun, numbered no higher than the slots since
    /// the finalized block allow, and, in the epochs the best block knows (its own and the
    /// announced next), sealed by the authority its pre-digest names there. A claim that passes
    /// is never beyond the slot clock, and within known epochs made by an authority.
    pub fn check_claim(&mut self, header: &Header) -> Result<(), ImportError> {
        let root_number = self.tree.root_number();
        if header.number <= root_number || self.data.contains_key(&header.hash()) {
            return Ok(());
        }
        let (pre_digest, unsealed, signature) = self.begun_slot(header)?;
        let slot = pre_digest.slot();
        let max = self.highest_number_at(slot);
        if header.number > max {
            return Err(ImportError::ImpossibleNumber {
                number: header.number,
                slot,
                max,
            });
        }
        // Past the epochs this node knows (it is behind by two or more), the claim cannot be
        // judged by its seal: only the slot clock bounds it, and its blocks are checked in full
        // when they come.
        let best = self.data.get(&self.best);
        let beyond = best.is_none_or(|data| {
            data.origin_slot.is_none()
                || self.config.epoch_of(slot, data.origin_slot) > data.epoch.index.saturating_add(1)
        });
        if beyond {
            return Ok(());
        }
        let epochs: Vec<EpochAuthorities> = [self.tree.root(), self.best]
            .iter()
            .filter_map(|hash| self.data.get(hash))
            .flat_map(|data| [data.epoch.current.clone(), data.epoch.next.clone()])
            .collect();
        let mut result = Err(ImportError::UnknownAuthority(pre_digest.authority_index()));
        for (position, epoch) in epochs.iter().enumerate() {
            let seen = epochs.get(..position).unwrap_or_default();
            if seen.iter().any(|e| e.authorities == epoch.authorities) {
                continue;
            }
            result = self
                .sealer(epoch, &pre_digest, &unsealed, signature)
                .map(|_| ());
            if result.is_ok() {
                break;
            }
        }
        result
    }

    /// A header's pre-digest, the header without its seal and the seal, if its slot has begun.
    fn begun_slot(
        &self,
        header: &Header,
    ) -> Result<(PreDigest, Header, tessera_runtime::Signature), ImportError> {
        let pre_digest = PreDigest::from_header(header).ok_or(ImportError::MissingPreDigest)?;
        let (unsealed, signature) = split_seal(header).ok_or(ImportError::MissingSeal)?;
        let (slot, now) = (pre_digest.slot(), self.current_slot());
        if slot > now {
            return Err(ImportError::FutureSlot { slot, now });
        }
        Ok((pre_digest, unsealed, signature))
    }

    /// The index and account of the authority of `epoch` that `pre_digest` names, if
    /// `signature` is its seal of `unsealed`.
    fn sealer(
        &mut self,
        epoch: &EpochAuthorities,
        pre_digest: &PreDigest,
        unsealed: &Header,
        signature: tessera_runtime::Signature,
    ) -> Result<(u32, AccountId), ImportError> {
        let index = pre_digest.authority_index();
        let author = epoch
            .get(index)
            .ok_or(ImportError::UnknownAuthority(index))?;
        let check = SignatureCheck {
            signer: author,
            message: unsealed.hash().as_bytes().to_vec(),
            signature,
        };
        if self.verifier.verify(&[check]) != [true] {
            return Err(ImportError::BadSeal);
        }
        Ok((index, author))
    }

    fn check_header(&mut self, header: &Header) -> Result<CheckedHeader, ImportError> {
        let hash = header.hash();
        if header.number <= self.tree.root_number() {
            return Err(ImportError::BelowFinalized(header.number));
        }
        let parent = self
            .data
            .get(&header.parent_hash)
            .ok_or(ImportError::UnknownParent(header.parent_hash))?;
        let (parent_slot, parent_primaries, parent_origin) =
            (parent.slot, parent.primaries, parent.origin_slot);
        if self
            .tree
            .number(&header.parent_hash)
            .and_then(|n| n.checked_add(1))
            != Some(header.number)
        {
            return Err(ImportError::BadNumber);
        }
        let (pre_digest, unsealed, signature) = self.begun_slot(header)?;
        let slot = pre_digest.slot();
        if slot <= parent_slot {
            return Err(ImportError::SlotNotIncreasing {
                slot,
                parent: parent_slot,
            });
        }
        let epoch_index = self.config.epoch_of(slot, parent_origin);
        let (epoch_index, epoch, starts) =
            parent.epoch.for_child(epoch_index, parent_origin.is_none());
        let epoch = epoch.clone();
        let child_epoch = match (starts, NextEpochDescriptor::from_header(header)?) {
            (true, Some(next)) if next.authorities.is_empty() => {
                return Err(ImportError::NoNextAuthorities)
            }
            (true, Some(next)) => parent.epoch.started(epoch_index, next.into()),
            (true, None) => return Err(ImportError::MissingEpochDescriptor(epoch_index)),
            (false, Some(_)) => return Err(ImportError::UnexpectedEpochDescriptor),
            (false, None) => parent.epoch.clone(),
        };
        let (index, author) = self.sealer(&epoch, &pre_digest, &unsealed, signature)?;
        let primaries = match pre_digest {
            PreDigest::Primary {
                vrf_output,
                vrf_proof,
                ..
            } => {
                let result = verify_primary(
                    &author,
                    &epoch.randomness,
                    slot,
                    epoch_index,
                    &vrf_output,
                    &vrf_proof,
                )
                .ok_or(ImportError::BadVrf)?;
                if result.lottery >= epoch.threshold(self.config.c, index) {
                    return Err(ImportError::AboveThreshold);
                }
                parent_primaries.saturating_add(1)
            }
            PreDigest::Secondary { .. } => {
                let expected = secondary_author(&epoch.randomness, slot, epoch.len())
                    .filter(|_| self.config.secondary_slots);
                if expected != Some(index) {
                    return Err(ImportError::NotSecondaryAuthor {
                        got: index,
                        expected,
                    });
                }
                parent_primaries
            }
        };
        Ok(CheckedHeader {
            header: header.clone(),
            hash,
            data: BlockData {
                slot,
                primaries,
                epoch: child_epoch,
                origin_slot: Some(parent_origin.unwrap_or(slot)),
            },
            author,
        })
    }

    /// Adds a header that passed [`Self::check`]; outputs `Imported`, maybe `NewBest` and
    /// equivocation reports.
    pub fn insert(&mut self, checked: CheckedHeader) -> Vec<Output> {
        let mut out = Vec::new();
        let CheckedHeader {
            header,
            hash,
            data,
            author,
        } = checked;
        let number = header.number;
        if !self.data.contains_key(&header.parent_hash) || self.tree.insert(header.clone()).is_err()
        {
            // The parent was pruned since the check (a competing fork got finalized).
            out.push(Output::Rejected {
                hash,
                error: ImportError::UnknownParent(header.parent_hash),
            });
            return out;
        }
        let slot = data.slot;
        self.data.insert(hash, data);
        self.stats.imported = self.stats.imported.saturating_add(1);
        self.note_author(slot, author, header, &mut out);
        out.push(Output::Imported { hash, number });
        if self.better(&hash, &self.best) {
            self.best = hash;
            out.push(Output::NewBest(hash));
        }
        out
    }

    /// Remembers who authored `slot`, reporting a second header by the same author.
    fn note_author(&mut self, slot: u64, author: AccountId, header: Header, out: &mut Vec<Output>) {
        match self.by_slot.get(&(slot, author)) {
            None => {
                self.by_slot.insert((slot, author), header);
            }
            Some(first) if pre_seal_hash(first) != pre_seal_hash(&header) => {
                if self.reported.insert((slot, author)) {
                    out.push(Output::ReportEquivocation(Box::new(AuthorEquivocation {
                        slot,
                        offender: author,
                        first: first.clone(),
                        second: header,
                    })));
                }
            }
            Some(_) => {}
        }
        // Keep two epochs of history.
        let horizon = slot.saturating_sub(self.config.epoch_length.saturating_mul(2));
        if self
            .by_slot
            .first_key_value()
            .is_some_and(|((s, _), _)| *s < horizon)
        {
            self.by_slot.retain(|(s, _), _| *s >= horizon);
            self.reported.retain(|(s, _)| *s >= horizon);
        }
    }

    /// Fork choice: a viable block over a reverted one, then more primary blocks, then
    /// higher; the incumbent keeps ties.
    fn better(&self, candidate: &Hash, incumbent: &Hash) -> bool {
        let viable = |hash| !self.is_reverted(hash);
        (viable(candidate), self.weight(candidate)) > (viable(incumbent), self.weight(incumbent))
    }

    /// Whether `hash` or one of its ancestors above the finalized block was reverted.
    pub fn is_reverted(&self, hash: &Hash) -> bool {
        if self.reverted.is_empty() {
            return false;
        }
        let mut cursor = *hash;
        while cursor != self.tree.root() {
            if self.reverted.contains(&cursor) {
                return true;
            }
            match self.tree.parent(&cursor) {
                Some(parent) => cursor = parent,
                None => return false,
            }
        }
        false
    }

    /// Reverts `hash` and its descendants (they build on a block that included an invalid
    /// candidate): fork choice leaves them for the best viable block, and authors build there.
    /// A block not imported yet is reverted when it comes; the finalized block is not.
    /// Outputs `NewBest` if the best changed.
    pub fn revert(&mut self, hash: Hash) -> Vec<Output> {
        let mut out = Vec::new();
        if hash == self.tree.root() || !self.reverted.insert(hash) {
            return out;
        }
        if self.is_reverted(&self.best) {
            let mut best = self.tree.root();
            for candidate in self.tree.hashes() {
                if self.better(candidate, &best) {
                    best = *candidate;
                }
            }
            self.best = best;
            out.push(Output::NewBest(best));
        }
        out
    }

    /// What fork choice compares: primary blocks on the chain, then height.
    fn weight(&self, hash: &Hash) -> (u64, BlockNumber) {
        let primaries = self.data.get(hash).map(|d| d.primaries).unwrap_or_default();
        (primaries, self.tree.number(hash).unwrap_or_default())
    }

    /// The best block once `hash` is finalized, changing nothing: the caller can store the
    /// finality with its new best before the engine prunes.
    pub fn best_once_finalized(&self, hash: &Hash) -> Hash {
        if !self.tree.contains(hash) || *hash == self.tree.root() {
            return self.best;
        }
        let mut best = if self.tree.is_descendant_or_equal(&self.best, hash) {
            self.best
        } else {
            *hash
        };
        for leaf in self.tree.leaves_under(hash) {
            if self.better(&leaf, &best) {
                best = leaf;
            }
        }
        best
    }

    fn on_finalized(&mut self, hash: Hash, out: &mut Vec<Output>) {
        if !self.tree.contains(&hash) || hash == self.tree.root() {
            return;
        }
        let best = self.best_once_finalized(&hash);
        self.tree.prune_to(&hash);
        self.data.retain(|h, _| self.tree.contains(h));
        self.reverted.retain(|h| self.tree.contains(h));
        if best != self.best {
            self.best = best;
            out.push(Output::NewBest(best));
        }
    }
}
