//! Pending state changes with nested transactions.

use crate::error::{Error, Result};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Pending writes (`None` = delete), layered so an inner transaction can be rolled back alone.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    committed: Changes,
    transactions: Vec<Changes>,
}

impl Overlay {
    /// The pending write to `key`, innermost transaction first: `Some(None)` is a deletion.
    pub fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.transactions
            .iter()
            .rev()
            .find_map(|layer| layer.get(key))
            .or_else(|| self.committed.get(key))
    }

    /// Records a write in the innermost open transaction.
    pub fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.transactions
            .last_mut()
            .unwrap_or(&mut self.committed)
            .insert(key, value);
    }

    /// Opens a transaction.
    pub fn start_transaction(&mut self) {
        self.transactions.push(Changes::new());
    }

    /// Merges the innermost transaction into its parent.
    pub fn commit_transaction(&mut self) -> Result<()> {
        let layer = self.transactions.pop().ok_or(Error::NoOpenTransaction)?;
        self.transactions
            .last_mut()
            .unwrap_or(&mut self.committed)
            .extend(layer);
        Ok(())
    }

    /// Drops the innermost transaction's writes.
    pub fn rollback_transaction(&mut self) -> Result<()> {
        self.transactions
            .pop()
            .map(drop)
            .ok_or(Error::NoOpenTransaction)
    }

    /// How many transactions are open.
    pub fn depth(&self) -> usize {
        self.transactions.len()
    }

    /// All writes, with open transactions committed.
    pub fn into_changes(mut self) -> Changes {
        for layer in self.transactions.drain(..) {
            self.committed.extend(layer);
        }
        self.committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_rollback_keeps_outer_writes() {
        let mut overlay = Overlay::default();
        overlay.set(b"a".to_vec(), Some(b"1".to_vec()));
        overlay.start_transaction();
        overlay.set(b"b".to_vec(), Some(b"2".to_vec()));
        overlay.start_transaction();
        overlay.set(b"a".to_vec(), None);
        assert_eq!(overlay.get(b"a"), Some(&None));
        overlay.rollback_transaction().unwrap();
        assert_eq!(overlay.get(b"a"), Some(&Some(b"1".to_vec())));
        overlay.commit_transaction().unwrap();
        assert_eq!(overlay.depth(), 0);
        assert_eq!(
            overlay.rollback_transaction(),
            Err(Error::NoOpenTransaction)
        );
        let changes = overlay.into_changes();
        assert_eq!(changes.len(), 2);
    }
}
