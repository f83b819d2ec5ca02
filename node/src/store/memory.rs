//! An in-memory [`Database`] for tests.

use super::{Column, Database, StoreError, WriteOp};
use std::collections::BTreeMap;
use std::sync::Mutex;

type Entries = BTreeMap<(Column, Vec<u8>), Vec<u8>>;

/// A [`Database`] in memory; batches apply atomically under a lock.
#[derive(Default)]
pub struct MemoryDb {
    data: Mutex<Entries>,
}

impl Database for MemoryDb {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let data = self
            .data
            .lock()
            .map_err(|_| StoreError::Database("lock poisoned".into()))?;
        Ok(data.get(&(column, key.to_vec())).cloned())
    }

    fn write(&self, batch: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut data = self
            .data
            .lock()
            .map_err(|_| StoreError::Database("lock poisoned".into()))?;
        for op in batch {
            match op {
                WriteOp::Put(column, key, value) => data.insert((column, key), value),
                WriteOp::Delete(column, key) => data.remove(&(column, key)),
            };
        }
        Ok(())
    }
}
