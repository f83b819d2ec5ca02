//! The tree of imported, not yet pruned headers above a root (the last finalized block).

use std::collections::BTreeMap;
use tessera_runtime::{BlockNumber, Hash, Header};

/// Why a header could not be added to the tree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The parent is not in the tree (not imported yet, or pruned).
    #[error("parent {0} of the header is unknown")]
    UnknownParent(Hash),
    /// The header's number is not its parent's plus one.
    #[error("header number {got} does not follow its parent's {parent}")]
    BadNumber {
        /// The header's number.
        got: BlockNumber,
        /// The parent's number.
        parent: BlockNumber,
    },
}

/// A header tree rooted at one block; every block in it descends from the root.
#[derive(Clone, Debug)]
pub struct BlockTree {
    headers: BTreeMap<Hash, Header>,
    children: BTreeMap<Hash, Vec<Hash>>,
    root: Hash,
}

impl BlockTree {
    /// A tree holding only `root`.
    pub fn new(root: Header) -> Self {
        let hash = root.hash();
        let mut headers = BTreeMap::new();
        headers.insert(hash, root);
        BlockTree {
            headers,
            children: BTreeMap::new(),
            root: hash,
        }
    }

    /// The root's hash.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The root's number.
    pub fn root_number(&self) -> BlockNumber {
        self.number(&self.root).unwrap_or_default()
    }

    /// How many blocks the tree holds.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether the tree holds only its root (never empty).
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Adds `header` under its parent: `Ok(false)` if it was already present.
    pub fn insert(&mut self, header: Header) -> Result<bool, TreeError> {
        let hash = header.hash();
        if self.headers.contains_key(&hash) {
            return Ok(false);
        }
        let parent = self
            .headers
            .get(&header.parent_hash)
            .ok_or(TreeError::UnknownParent(header.parent_hash))?;
        if parent.number.checked_add(1) != Some(header.number) {
            return Err(TreeError::BadNumber {
                got: header.number,
                parent: parent.number,
            });
        }
        self.children
            .entry(header.parent_hash)
            .or_default()
            .push(hash);
        self.headers.insert(hash, header);
        Ok(true)
    }

    /// Every block in the tree, in hash order.
    pub fn hashes(&self) -> impl Iterator<Item = &Hash> {
        self.headers.keys()
    }

    /// Whether `hash` is in the tree.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.headers.contains_key(hash)
    }

    /// The header of `hash`.
    pub fn header(&self, hash: &Hash) -> Option<&Header> {
        self.headers.get(hash)
    }

    /// The number of `hash`.
    pub fn number(&self, hash: &Hash) -> Option<BlockNumber> {
        self.headers.get(hash).map(|h| h.number)
    }

    /// The parent of `hash`, if `hash` is in the tree and is not the root.
    pub fn parent(&self, hash: &Hash) -> Option<Hash> {
        if *hash == self.root {
            return None;
        }
        self.headers.get(hash).map(|h| h.parent_hash)
    }

    /// The children of `hash`, in import order.
    pub fn children(&self, hash: &Hash) -> &[Hash] {
        self.children.get(hash).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The ancestor of `hash` at height `number` (itself when equal).
    pub fn ancestor_at(&self, hash: &Hash, number: BlockNumber) -> Option<Hash> {
        let mut current = *hash;
        let mut height = self.number(&current)?;
        if number > height {
            return None;
        }
        while height > number {
            current = self.parent(&current)?;
            height = height.checked_sub(1)?;
        }
        Some(current)
    }

    /// Whether `descendant` is `ancestor` or one of its descendants.
    pub fn is_descendant_or_equal(&self, descendant: &Hash, ancestor: &Hash) -> bool {
        match self.number(ancestor) {
            Some(number) => self.ancestor_at(descendant, number) == Some(*ancestor),
            None => false,
        }
    }

    /// The headers from just above `ancestor` up to `descendant` inclusive, child first.
    pub fn route(&self, ancestor: &Hash, descendant: &Hash) -> Option<Vec<Header>> {
        let mut out = Vec::new();
        let mut current = *descendant;
        while current != *ancestor {
            let header = self.headers.get(&current)?;
            out.push(header.clone());
            current = self.parent(&current)?;
        }
        Some(out)
    }

    /// The leaves at or under `hash`, in deterministic (depth-first, import) order.
    pub fn leaves_under(&self, hash: &Hash) -> Vec<Hash> {
        let mut leaves = Vec::new();
        let mut stack = vec![*hash];
        while let Some(next) = stack.pop() {
            let children = self.children(&next);
            if children.is_empty() {
                leaves.push(next);
            } else {
                stack.extend(children.iter().rev());
            }
        }
        leaves
    }

    /// The highest leaf at or under `hash`; the first imported wins a tie.
    pub fn longest_under(&self, hash: &Hash) -> Hash {
        let mut best = *hash;
        let mut best_number = self.number(hash).unwrap_or_default();
        for leaf in self.leaves_under(hash) {
            let number = self.number(&leaf).unwrap_or_default();
            if number > best_number {
                best = leaf;
                best_number = number;
            }
        }
        best
    }

    /// Makes `new_root` (a block in the tree) the root, dropping every block that does not
    /// descend from it; returns the dropped hashes.
    pub fn prune_to(&mut self, new_root: &Hash) -> Vec<Hash> {
        if !self.headers.contains_key(new_root) || *new_root == self.root {
            return Vec::new();
        }
        let mut keep = BTreeMap::new();
        let mut stack = vec![*new_root];
        while let Some(next) = stack.pop() {
            if let Some(header) = self.headers.remove(&next) {
                keep.insert(next, header);
            }
            stack.extend(self.children(&next).iter().copied());
        }
        let dropped: Vec<Hash> = self.headers.keys().copied().collect();
        self.headers = keep;
        self.children
            .retain(|parent, _| self.headers.contains_key(parent));
        self.root = *new_root;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_headers::{child, genesis};

    #[test]
    fn ancestry_routes_and_pruning() {
        let g = genesis();
        let mut tree = BlockTree::new(g.clone());
        let a1 = child(&g, 1);
        let a2 = child(&a1, 2);
        let b1 = child(&g, 3);
        for h in [&a1, &a2, &b1] {
            assert!(tree.insert(h.clone()).unwrap());
        }
        assert!(!tree.insert(a1.clone()).unwrap());
        assert!(tree.is_descendant_or_equal(&a2.hash(), &a1.hash()));
        assert!(!tree.is_descendant_or_equal(&b1.hash(), &a1.hash()));
        assert_eq!(tree.longest_under(&g.hash()), a2.hash());
        assert_eq!(
            tree.route(&g.hash(), &a2.hash()).unwrap(),
            vec![a2.clone(), a1.clone()]
        );
        let mut bad = child(&a1, 9);
        bad.number = 7;
        assert!(matches!(tree.insert(bad), Err(TreeError::BadNumber { .. })));
        let dropped = tree.prune_to(&a1.hash());
        assert_eq!(dropped.len(), 2);
        assert_eq!(tree.len(), 2);
        assert!(tree.insert(child(&b1, 4)).is_err());
    }
}
