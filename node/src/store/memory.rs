//! An in-memory [`Database`] for tests.

use super::{Column, Database, StoreError, WriteOp};
use std::collections::HashMap;
use std::sync::Mutex;

type Entries = [HashMap<Vec<u8>, Vec<u8>>; Column::ALL.len()];

/// A [`Database`] in memory; batches apply atomically under a lock.
#[derive(Default)]
pub struct MemoryDb {
    columns: Mutex<Entries>,
}

fn lock_error<T>(_: T) -> StoreError {
    StoreError::Database("memory database lock poisoned".into())
}

impl Database for MemoryDb {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let columns = self.columns.lock().map_err(lock_error)?;
        Ok(columns
            .get(column as usize)
            .and_then(|entries| entries.get(key))
            .cloned())
    }

    fn write(&self, batch: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut columns = self.columns.lock().map_err(lock_error)?;
        for op in batch {
            match op {
                WriteOp::Put(column, key, value) => {
                    if let Some(entries) = columns.get_mut(column as usize) {
                        entries.insert(key, value);
                    }
                }
                WriteOp::Delete(column, key) => {
                    if let Some(entries) = columns.get_mut(column as usize) {
                        entries.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }
}
