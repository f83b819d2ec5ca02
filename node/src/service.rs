//! What a running node shares between its tasks: the client, the pool and chain events.

use crate::client::Client;
use crate::metrics::Metrics;
use crate::pool::Pool;
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_runtime::{Hash, Header};
use tokio::sync::broadcast;

/// Chain events, for RPC subscriptions and status output.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A block was imported or authored; `best` if it became the best block.
    Imported {
        /// Its header.
        header: Header,
        /// Hashes of its extrinsics, in order.
        extrinsics: Vec<Hash>,
        /// Whether it is the new best block.
        best: bool,
    },
    /// A block (and its ancestors) became final.
    Finalized(Header),
    /// A pooled transaction was replaced by another with its nonce and a higher tip.
    TxReplaced {
        /// The one replaced.
        hash: Hash,
        /// The one that replaced it.
        by: Hash,
    },
    /// A pooled transaction was dropped: it can never be included.
    TxDropped {
        /// Its hash.
        hash: Hash,
        /// Why.
        reason: String,
    },
}

/// What the network looks like to this node, for `system_health` and `system_peers`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkStatus {
    /// Connected peers and the best block number each announced.
    pub peers: Vec<(String, u32)>,
    /// Whether a block download is under way.
    pub syncing: bool,
    /// Whether this node is meant to have peers (it was given bootnodes or is on a network).
    pub should_have_peers: bool,
}

/// How many chain events a slow subscriber may lag before it misses some.
const EVENT_BUFFER: usize = 256;

/// The node's shared state.
pub struct Shared {
    client: Mutex<Client>,
    pool: Mutex<Pool>,
    events: broadcast::Sender<ChainEvent>,
    /// The chain's name from its spec.
    pub chain_name: String,
    /// The node's metrics.
    pub metrics: Arc<Metrics>,
    network: Mutex<NetworkStatus>,
    /// What this node's approval checking knows (empty on a node that does not check).
    pub approval: crate::parachains::approval::SharedApproval,
}

impl Shared {
    /// Shares `client` with an empty pool.
    pub fn new(client: Client, chain_name: String) -> Self {
        Shared {
            client: Mutex::new(client),
            pool: Mutex::new(Pool::default()),
            events: broadcast::channel(EVENT_BUFFER).0,
            chain_name,
            metrics: Arc::new(Metrics::new()),
            network: Mutex::new(NetworkStatus::default()),
            approval: Default::default(),
        }
    }

    /// Locks the client. A panic while it was held poisons nothing that matters: the store
    /// is only changed by atomic batches, so the lock is taken over.
    pub fn client(&self) -> MutexGuard<'_, Client> {
        self.client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Locks the pool (taking over a poisoned lock, as for the client).
    pub fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The network as last reported by the node loop.
    pub fn network_status(&self) -> NetworkStatus {
        self.network
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Records the network's state (the node loop calls this as peers come and go).
    pub fn set_network_status(&self, status: NetworkStatus) {
        self.metrics.peers.set(status.peers.len() as i64);
        *self
            .network
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = status;
    }

    /// Publishes a chain event to subscribers (none listening is fine).
    pub fn publish(&self, event: ChainEvent) {
        let _no_subscribers = self.events.send(event);
    }

    /// Subscribes to chain events.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }
}
