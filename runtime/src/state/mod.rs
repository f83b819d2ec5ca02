//! Chain state: reads through a trie, writes into a nested-transaction overlay, and a commit
//! that computes the new root — optionally recording every trie node touched, so the same
//! execution can be replayed later against the proof alone. A runtime executing in a node
//! (Wasm) reads and commits through the node instead ([`State::host`]): the trie walks, the
//! root and the proof stay native.

mod overlay;
mod proof;

pub use overlay::Overlay;
pub use proof::{ProofRecorder, StorageProof};

use crate::error::{Error, Result};
use crate::hashing::{Blake2Hasher, Hash};
use crate::trie::{empty_root, Layout, MemoryDb};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use hash_db::{AsHashDB, HashDB, HashDBRef, Prefix};
use trie_db::{Trie, TrieDBBuilder, TrieDBMutBuilder, TrieError, TrieMut};

/// Where trie nodes live: RocksDB in a node, memory in tests, a proof in a validator.
pub trait NodeStore: Send + Sync {
    /// The encoded node (or hashed value) with this hash.
    fn node(&self, hash: &Hash) -> Option<Vec<u8>>;
}

impl NodeStore for BTreeMap<Hash, Vec<u8>> {
    fn node(&self, hash: &Hash) -> Option<Vec<u8>> {
        self.get(hash).cloned()
    }
}

impl<S: NodeStore + ?Sized> NodeStore for &S {
    fn node(&self, hash: &Hash) -> Option<Vec<u8>> {
        (**self).node(hash)
    }
}

/// Adapts a [`NodeStore`] to what `trie-db` reads through.
struct ReadDb<'a>(&'a dyn NodeStore);

impl HashDBRef<Blake2Hasher, Vec<u8>> for ReadDb<'_> {
    fn get(&self, key: &Hash, _prefix: Prefix) -> Option<Vec<u8>> {
        if *key == empty_root() {
            return Some(alloc::vec![0]);
        }
        self.0.node(key)
    }

    fn contains(&self, key: &Hash, prefix: Prefix) -> bool {
        HashDBRef::get(self, key, prefix).is_some()
    }
}

/// New nodes in memory over a read-only [`NodeStore`], for computing a new root.
struct WriteDb<'a> {
    base: &'a dyn NodeStore,
    new: MemoryDb,
}

impl HashDB<Blake2Hasher, Vec<u8>> for WriteDb<'_> {
    fn get(&self, key: &Hash, prefix: Prefix) -> Option<Vec<u8>> {
        HashDB::get(&self.new, key, prefix).or_else(|| ReadDb(self.base).get(key, prefix))
    }

    fn contains(&self, key: &Hash, prefix: Prefix) -> bool {
        HashDB::get(self, key, prefix).is_some()
    }

    fn insert(&mut self, prefix: Prefix, value: &[u8]) -> Hash {
        self.new.insert(prefix, value)
    }

    fn emplace(&mut self, key: Hash, prefix: Prefix, value: Vec<u8>) {
        self.new.emplace(key, prefix, value)
    }

    fn remove(&mut self, key: &Hash, prefix: Prefix) {
        self.new.remove(key, prefix)
    }
}

impl HashDBRef<Blake2Hasher, Vec<u8>> for WriteDb<'_> {
    fn get(&self, key: &Hash, prefix: Prefix) -> Option<Vec<u8>> {
        HashDB::get(self, key, prefix)
    }

    fn contains(&self, key: &Hash, prefix: Prefix) -> bool {
        HashDB::contains(self, key, prefix)
    }
}

impl AsHashDB<Blake2Hasher, Vec<u8>> for WriteDb<'_> {
    fn as_hash_db(&self) -> &dyn HashDB<Blake2Hasher, Vec<u8>> {
        self
    }

    fn as_hash_db_mut<'b>(&'b mut self) -> &'b mut (dyn HashDB<Blake2Hasher, Vec<u8>> + 'b) {
        self
    }
}

#[allow(clippy::boxed_local)] // trie-db returns its errors boxed.
fn trie_error(err: alloc::boxed::Box<TrieError<Hash, crate::trie::NodeCodecError>>) -> Error {
    match *err {
        TrieError::InvalidStateRoot(hash) | TrieError::IncompleteDatabase(hash) => {
            Error::MissingTrieNode(hash)
        }
        TrieError::ValueAtIncompleteKey(_, _) => Error::MalformedTrieNode {
            hash: Hash::ZERO,
            reason: "value at incomplete key",
        },
        TrieError::DecoderError(hash, _) => Error::MalformedTrieNode {
            hash,
            reason: "node does not decode",
        },
        TrieError::InvalidHash(hash, _) => Error::MalformedTrieNode {
            hash,
            reason: "child reference of the wrong length",
        },
    }
}

/// The result of committing a [`State`]: the new root and what must be stored to keep it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Root of the state after the changes.
    pub root: Hash,
    /// Trie nodes (and hashed values) the new state added, by hash.
    pub new_nodes: Vec<(Hash, Vec<u8>)>,
    /// Every node read, when recording was on: enough to replay the execution statelessly.
    pub proof: Option<StorageProof>,
}

/// Where a [`State`] reads the state it starts from.
enum Base<'a> {
    /// A trie over nodes the caller lends.
    Borrowed(&'a dyn NodeStore),
    /// A trie over nodes it shares (a node's runtime calls, which outlive any borrow).
    Shared(Arc<dyn NodeStore>),
    /// The node's state, through host functions: a runtime executing in a node.
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    Host,
}

/// A state being read and written: a trie root over a [`NodeStore`] (or the node's state, in
/// a runtime executing in a node), plus pending changes.
pub struct State<'a> {
    base: Base<'a>,
    root: Hash,
    overlay: Overlay,
    read_cache: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    recorder: Option<ProofRecorder>,
}

impl<'a> State<'a> {
    /// The state with root `root`, whose nodes are in `store`.
    pub fn new(store: &'a dyn NodeStore, root: Hash) -> Self {
        Self::with_base(Base::Borrowed(store), root)
    }

    fn with_base(base: Base<'a>, root: Hash) -> Self {
        State {
            base,
            root,
            overlay: Overlay::default(),
            read_cache: BTreeMap::new(),
            recorder: None,
        }
    }

    /// The state with root `root`, whose nodes `store` shares (for a call that must own them).
    pub fn shared(store: Arc<dyn NodeStore>, root: Hash) -> State<'static> {
        State::with_base(Base::Shared(store), root)
    }

    /// The node's state (a runtime executing in a node: reads and the commit are host calls;
    /// the node records any proof).
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    pub fn host() -> State<'static> {
        State::with_base(Base::Host, Hash::ZERO)
    }

    /// Records every trie node read from now on, for a storage proof.
    pub fn record_proof(mut self) -> Self {
        self.recorder = Some(ProofRecorder::default());
        self
    }

    /// The root the state started from (zero for [`State::host`]: the node knows it).
    pub fn parent_root(&self) -> Hash {
        self.root
    }

    /// The value under `key`, with pending changes applied.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(key, |value| value.map(<[u8]>::to_vec))
    }

    /// Applies `read` to the value under `key` without copying it.
    pub fn get_with<R>(&mut self, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        if let Some(pending) = self.overlay.get(key) {
            return Ok(read(pending.as_deref()));
        }
        if let Some(cached) = self.read_cache.get(key) {
            return Ok(read(cached.as_deref()));
        }
        let nodes: &dyn NodeStore = match &self.base {
            Base::Borrowed(store) => *store,
            Base::Shared(store) => &**store,
            #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
            Base::Host => {
                let value = crate::wasm::guest::host_storage_get(key);
                let result = read(value.as_deref());
                self.read_cache.insert(key.to_vec(), value);
                return Ok(result);
            }
        };
        let db = ReadDb(nodes);
        let value = match self.recorder.as_mut() {
            Some(recorder) => TrieDBBuilder::<Layout>::new(&db, &self.root)
                .with_recorder(recorder)
                .build()
                .get(key),
            None => TrieDBBuilder::<Layout>::new(&db, &self.root)
                .build()
                .get(key),
        }
        .map_err(trie_error)?;
        let result = read(value.as_deref());
        self.read_cache.insert(key.to_vec(), value);
        Ok(result)
    }

    /// The hash of the value under `key` in the state this one started from (pending changes
    /// are not seen): the trie keeps it beside a long value, which is then not read.
    pub fn value_hash(&self, key: &[u8]) -> Result<Option<Hash>> {
        let nodes: &dyn NodeStore = match &self.base {
            Base::Borrowed(store) => *store,
            Base::Shared(store) => &**store,
            #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
            Base::Host => {
                let value = crate::wasm::guest::host_storage_get(key);
                return Ok(value.map(|value| crate::hashing::blake2_256(&value)));
            }
        };
        let db = ReadDb(nodes);
        TrieDBBuilder::<Layout>::new(&db, &self.root)
            .build()
            .get_hash(key)
            .map_err(trie_error)
    }

    /// The Merkle value (its hash, or the node itself when inlined in its parent) of the trie
    /// node closest to `key` among those whose key starts with it, in the state this one
    /// started from: what changes exactly when something under `key` changes.
    #[cfg(feature = "std")]
    pub fn closest_descendant_merkle_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let nodes: &dyn NodeStore = match &self.base {
            Base::Borrowed(store) => *store,
            Base::Shared(store) => &**store,
        };
        let db = ReadDb(nodes);
        let trie = TrieDBBuilder::<Layout>::new(&db, &self.root).build();
        let value = trie.lookup_first_descendant(key).map_err(trie_error)?;
        Ok(value.map(|value| match value {
            trie_db::MerkleValue::Node(node) => node,
            trie_db::MerkleValue::Hash(hash) => hash.0.to_vec(),
        }))
    }

    /// Up to `count` keys that start with `prefix`, in order, after `start_after` if given
    /// (Substrate's `state_getKeysPaged`), in the state this one started from (pending
    /// changes are not seen).
    #[cfg(feature = "std")]
    pub fn keys_paged(
        &self,
        prefix: &[u8],
        count: usize,
        start_after: Option<&[u8]>,
    ) -> Result<Vec<Vec<u8>>> {
        let nodes: &dyn NodeStore = match &self.base {
            Base::Borrowed(store) => *store,
            Base::Shared(store) => &**store,
        };
        let db = ReadDb(nodes);
        let trie = TrieDBBuilder::<Layout>::new(&db, &self.root).build();
        let start = start_after.filter(|start| start.starts_with(prefix));
        let keys = match start {
            Some(start) => trie_db::TrieDBKeyIterator::new_prefixed_then_seek(&trie, prefix, start),
            None => trie_db::TrieDBKeyIterator::new_prefixed(&trie, prefix),
        }
        .map_err(trie_error)?;
        let mut out = Vec::new();
        for key in keys {
            let key = key.map_err(trie_error)?;
            // The seek lands on `start_after` itself when it is a key: it is not returned.
            if start == Some(&key[..]) {
                continue;
            }
            if out.len() == count {
                break;
            }
            out.push(key);
        }
        Ok(out)
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.set(key, Some(value));
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.overlay.set(key, None);
    }

    /// Opens a nested transaction: changes from here can be committed or rolled back together.
    pub fn start_transaction(&mut self) {
        self.overlay.start_transaction();
    }

    /// Keeps the changes of the innermost transaction.
    pub fn commit_transaction(&mut self) -> Result<()> {
        self.overlay.commit_transaction()
    }

    /// Discards the changes of the innermost transaction.
    pub fn rollback_transaction(&mut self) -> Result<()> {
        self.overlay.rollback_transaction()
    }

    /// Applies all changes to the trie: the new root, new nodes and (if recording) the proof.
    ///
    /// Open transactions are committed first, as if closed successfully.
    pub fn commit(self) -> Result<StateChanges> {
        let State {
            base,
            mut root,
            overlay,
            recorder,
            ..
        } = self;
        let changes = overlay.into_changes();
        let nodes: &dyn NodeStore = match &base {
            Base::Borrowed(store) => *store,
            Base::Shared(store) => &**store,
            #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
            Base::Host => {
                let changes: Vec<_> = changes.into_iter().collect();
                return Ok(StateChanges {
                    root: crate::wasm::guest::host_storage_commit(&changes),
                    new_nodes: Vec::new(),
                    proof: None,
                });
            }
        };
        let mut db = WriteDb {
            base: nodes,
            new: MemoryDb::default(),
        };
        let mut recorder = recorder;
        {
            let mut trie = match recorder.as_mut() {
                Some(recorder) => TrieDBMutBuilder::<Layout>::from_existing(&mut db, &mut root)
                    .with_recorder(recorder)
                    .build(),
                None => TrieDBMutBuilder::<Layout>::from_existing(&mut db, &mut root).build(),
            };
            for (key, value) in &changes {
                match value {
                    Some(value) => trie.insert(key, value).map_err(trie_error)?,
                    None => trie.remove(key).map_err(trie_error)?,
                };
            }
            trie.commit();
        }
        let new_nodes = db
            .new
            .drain()
            .into_iter()
            .filter(|(_, (_, refs))| *refs > 0)
            .map(|(hash, (node, _))| (hash, node))
            .collect();
        Ok(StateChanges {
            root,
            new_nodes,
            proof: recorder.map(ProofRecorder::into_proof),
        })
    }
}
