//! The voting-rule hook: lets the embedding chain cap how far prevotes go (the relay chain uses
//! it so finality never passes blocks whose parachain candidates are not available).

use crate::block_tree::BlockTree;
use tessera_runtime::{Hash, Header};

/// Restricts a prevote target: given the round's base (the previous round's estimate) and the
/// head of the best chain containing it, returns the block to vote for instead, or `None` to
/// keep `best`. The engine ignores answers that are not between `base` and `best`, and then
/// votes for `base`.
pub trait VotingRule: Send + Sync {
    /// The block to vote for instead of `best`, if any.
    fn restrict(&self, base: &Header, best: &Header, tree: &BlockTree) -> Option<Hash>;
}

impl<F> VotingRule for F
where
    F: Fn(&Header, &Header, &BlockTree) -> Option<Hash> + Send + Sync,
{
    fn restrict(&self, base: &Header, best: &Header, tree: &BlockTree) -> Option<Hash> {
        self(base, best, tree)
    }
}

/// Votes at most for the block `depth` below the best block (never below the base).
#[derive(Clone, Copy, Debug)]
pub struct BeforeBestBy(pub u32);

impl VotingRule for BeforeBestBy {
    fn restrict(&self, base: &Header, best: &Header, tree: &BlockTree) -> Option<Hash> {
        let cap = best.number.saturating_sub(self.0).max(base.number);
        tree.ancestor_at(&best.hash(), cap)
    }
}
