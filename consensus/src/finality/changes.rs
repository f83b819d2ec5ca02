//! Authority-set changes signalled in headers (GRANDPA's standard changes): a `ScheduledChange`
//! log in block S with delay d is enacted at S's descendant d blocks below it, once that block is
//! finalized. Until then the current set votes no further than the enacting block, so the old
//! set finalizes the chain up to the change and the new set everything after it.

use crate::block_tree::BlockTree;
use std::collections::BTreeMap;
use tessera_runtime::consensus::ScheduledChange;
use tessera_runtime::{BlockNumber, Hash, Header};

/// The changes signalled on unfinalized blocks, and those signalled on finalized blocks whose
/// enacting block is not finalized yet (a delay beyond the finalized block).
#[derive(Debug, Default)]
pub(super) struct SetChanges {
    /// By signalling block, above the finalized one.
    signalled: BTreeMap<Hash, ScheduledChange>,
    /// The enacting height and change of signals at or below the finalized block.
    finalized: Vec<(BlockNumber, ScheduledChange)>,
}

impl SetChanges {
    /// Notes the change `header` signals, if any (a malformed log never passed execution, so it
    /// is not looked at twice).
    pub(super) fn note(&mut self, header: &Header) {
        if let Ok(Some(change)) = ScheduledChange::from_header(header) {
            self.signalled.insert(header.hash(), change);
        }
    }

    /// Whether no change is pending.
    pub(super) fn is_empty(&self) -> bool {
        self.signalled.is_empty() && self.finalized.is_empty()
    }

    /// The pending changes on the chain ending at `head`, as (enacting height, signal), lowest
    /// signal first.
    fn on_chain(&self, tree: &BlockTree, head: &Hash) -> Vec<(BlockNumber, Option<Hash>)> {
        let mut found: Vec<(BlockNumber, Option<Hash>)> =
            self.finalized.iter().map(|(at, _)| (*at, None)).collect();
        let mut cursor = *head;
        while cursor != tree.root() {
            if let (Some(change), Some(number)) =
                (self.signalled.get(&cursor), tree.number(&cursor))
            {
                found.push((number.saturating_add(change.delay), Some(cursor)));
            }
            match tree.parent(&cursor) {
                Some(parent) => cursor = parent,
                None => break,
            }
        }
        found.sort_by_key(|(at, _)| *at);
        found
    }

    /// The lowest block on the chain ending at `head` that enacts a change: the current set
    /// votes no further.
    pub(super) fn limit(&self, tree: &BlockTree, head: &Hash) -> Option<Hash> {
        if self.is_empty() {
            return None;
        }
        let head_number = tree.number(head)?;
        let (at, _) = self
            .on_chain(tree, head)
            .into_iter()
            .find(|(at, _)| *at <= head_number)?;
        tree.ancestor_at(head, at)
    }

    /// The changes that finalizing `target` enacts, lowest first; call before pruning to it.
    /// Signals at or below `target` whose enacting block is above it are kept for later.
    pub(super) fn take_enacted(&mut self, tree: &BlockTree, target: &Hash) -> Vec<ScheduledChange> {
        if self.is_empty() {
            return Vec::new();
        }
        let Some(target_number) = tree.number(target) else {
            return Vec::new();
        };
        let mut all: Vec<(BlockNumber, ScheduledChange)> = std::mem::take(&mut self.finalized);
        for (at, signal) in self.on_chain(tree, target) {
            if let Some(change) = signal.and_then(|hash| self.signalled.remove(&hash)) {
                all.push((at, change));
            }
        }
        all.sort_by_key(|(at, _)| *at);
        let (enacted, waiting): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(at, _)| *at <= target_number);
        self.finalized = waiting;
        enacted.into_iter().map(|(_, change)| change).collect()
    }

    /// Forgets signals on blocks no longer in `tree` (pruned forks and the old root's chain).
    pub(super) fn prune(&mut self, tree: &BlockTree) {
        self.signalled
            .retain(|hash, _| tree.contains(hash) && *hash != tree.root());
    }
}
