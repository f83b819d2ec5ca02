//! The node's [`Database`]: RocksDB with one column family per [`Column`].

use super::{Column, Database, StoreError, WriteOp};
use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use std::path::Path;

/// RocksDB, opened with one column family per column.
pub struct RocksDb {
    db: DB,
}

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
        Ok(RocksDb { db })
    }

    fn family(&self, column: Column) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(column.name())
            .ok_or_else(|| StoreError::Database(format!("column family {} missing", column.name())))
    }
}

impl Database for RocksDb {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.family(column)?, key).map_err(db_error)
    }

    fn write(&self, batch: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut write = WriteBatch::default();
        for op in batch {
            match op {
                WriteOp::Put(column, key, value) => write.put_cf(self.family(column)?, key, value),
                WriteOp::Delete(column, key) => write.delete_cf(self.family(column)?, key),
            }
        }
        // Synced to disk: a block reported as imported survives a power cut, not just a kill.
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.write_opt(write, &options).map_err(db_error)
    }
}
