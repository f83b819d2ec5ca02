//! The node's [`Database`]: RocksDB with one column family per [`Column`].

use super::{Column, Database, StoreError, WriteOp};
use lru::LruCache;
use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;

/// RocksDB, opened with one column family per column, with trie nodes cached in memory.
pub struct RocksDb {
    db: DB,
    /// Recently read or written trie nodes: every state lookup reads the top of the trie.
    node_cache: Mutex<LruCache<Vec<u8>, Vec<u8>>>,
}

/// Trie nodes kept in memory (tens of MiB at most).
const NODE_CACHE_ENTRIES: usize = 65_536;

fn db_error(err: rocksdb::Error) -> StoreError {
    StoreError::Database(err.into_string())
}

impl RocksDb {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<RocksDb, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let families = Column::ALL
            .iter()
            .map(|column| ColumnFamilyDescriptor::new(column.name(), Options::default()));
        let db = DB::open_cf_descriptors(&options, path, families).map_err(db_error)?;
        let capacity = NonZeroUsize::new(NODE_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Ok(RocksDb {
            db,
            node_cache: Mutex::new(LruCache::new(capacity)),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, LruCache<Vec<u8>, Vec<u8>>> {
        self.node_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn family(&self, column: Column) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(column.name())
            .ok_or_else(|| StoreError::Database(format!("column family {} missing", column.name())))
    }
}

impl Database for RocksDb {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if column != Column::Nodes {
            return self.db.get_cf(self.family(column)?, key).map_err(db_error);
        }
        if let Some(node) = self.cache().get(key) {
            return Ok(Some(node.clone()));
        }
        let node = self
            .db
            .get_cf(self.family(column)?, key)
            .map_err(db_error)?;
        if let Some(node) = &node {
            self.cache().put(key.to_vec(), node.clone());
        }
        Ok(node)
    }

    fn write(&self, batch: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut write = WriteBatch::default();
        for op in &batch {
            match op {
                WriteOp::Put(column, key, value) => write.put_cf(self.family(*column)?, key, value),
                WriteOp::Delete(column, key) => write.delete_cf(self.family(*column)?, key),
            }
        }
        // Synced to disk: a block reported as imported survives a power cut, not just a kill.
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(write, &options).map_err(db_error)?;
        // Only once the write is durable: the cache never holds what the disk does not.
        let mut cache = self.cache();
        for op in batch {
            match op {
                WriteOp::Put(Column::Nodes, key, node) => {
                    cache.put(key, node);
                }
                WriteOp::Delete(Column::Nodes, key) => {
                    cache.pop(&key);
                }
                WriteOp::Put(..) | WriteOp::Delete(..) => {}
            }
        }
        Ok(())
    }
}
