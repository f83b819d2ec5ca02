//! What a running node shares between its tasks: the client, the pool and chain events.

use crate::client::{check_for_pool, Client};
use crate::metrics::Metrics;
use crate::pool::{Admitted, Pool, PoolError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_runtime::{Hash, Header, OpaqueExtrinsic};
use tokio::sync::{broadcast, oneshot};

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

/// Most submitted transactions that wait for the runtime's check; more are refused until
/// it catches up.
pub const MAX_AWAITING_CHECK: usize = 4_096;
/// Most submitted transactions checked in one runtime call.
const CHECK_BATCH: usize = 256;

/// Submitted transactions waiting for the runtime's check, and whether a thread checks them.
#[derive(Default)]
struct Submissions {
    waiting: VecDeque<(
        OpaqueExtrinsic,
        oneshot::Sender<Result<Admitted, PoolError>>,
    )>,
    checking: bool,
}

/// The node's shared state.
pub struct Shared {
    client: Mutex<Client>,
    pool: Mutex<Pool>,
    submissions: Mutex<Submissions>,
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
            submissions: Mutex::default(),
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

    /// Checks a submitted transaction against the best state and pools it. Submissions are
    /// checked in batches, one runtime call each, on a blocking thread that holds neither the
    /// client nor the pool while the runtime runs: a flood of them does not hold up the
    /// node's imports and authoring, and costs one instantiation per batch.
    pub async fn submit(self: &Arc<Self>, xt: OpaqueExtrinsic) -> Result<Admitted, PoolError> {
        if let Some(refused) = self.pool().refuses(&xt) {
            return Err(refused);
        }
        let (reply, answer) = oneshot::channel();
        let start_checking = {
            let mut submissions = self.submissions();
            if submissions.waiting.len() >= MAX_AWAITING_CHECK {
                return Err(PoolError::Busy(MAX_AWAITING_CHECK));
            }
            submissions.waiting.push_back((xt, reply));
            !std::mem::replace(&mut submissions.checking, true)
        };
        if start_checking {
            let shared = self.clone();
            tokio::task::spawn_blocking(move || shared.check_submissions());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(PoolError::State("its check was abandoned".into())))
    }

    /// Checks and pools submitted transactions until none waits.
    fn check_submissions(&self) {
        // A panic below must not leave submissions waiting for a thread that is gone.
        struct Checking<'a>(&'a Shared);
        impl Drop for Checking<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.submissions().checking = false;
                }
            }
        }
        let _checking = Checking(self);
        loop {
            let batch: Vec<_> = {
                let mut submissions = self.submissions();
                if submissions.waiting.is_empty() {
                    submissions.checking = false;
                    return;
                }
                let count = submissions.waiting.len().min(CHECK_BATCH);
                submissions.waiting.drain(..count).collect()
            };
            let (xts, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            // Its own statement: the client's lock ends before the runtime runs.
            let checker = self.client().tx_checker();
            let verdicts = checker.and_then(|checker| check_for_pool(&checker, &xts, true));
            let outcomes: Vec<_> = match verdicts {
                Ok(verdicts) => {
                    let mut pool = self.pool();
                    xts.into_iter()
                        .zip(verdicts)
                        .map(|(xt, verdict)| pool.admit(xt, verdict))
                        .collect()
                }
                Err(err) => replies.iter().map(|_| Err(err.clone())).collect(),
            };
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The submitter may have gone (its connection closed): nothing to tell.
                let _ = reply.send(outcome);
            }
        }
    }

    fn submissions(&self) -> MutexGuard<'_, Submissions> {
        self.submissions
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
