//! What a running node shares between its tasks: the client, the pool and chain events.

use crate::client::{check_for_pool, Client};
use crate::metrics::Metrics;
use crate::pool::{Admitted, Pool, PoolError, MAX_BUILD_INPUT, MAX_TRANSACTION_SIZE};
use std::collections::{HashSet, VecDeque};
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
/// Most bytes of submitted transactions that wait for the runtime's check.
pub const MAX_AWAITING_BYTES: usize = 4 * MAX_BUILD_INPUT;
/// Most submitted transactions checked in one runtime call (and at most [`MAX_BUILD_INPUT`]
/// bytes of them).
const CHECK_BATCH: usize = 256;

/// A submitted transaction waiting for the runtime's check, and whom to tell.
struct Submission {
    xt: OpaqueExtrinsic,
    hash: Hash,
    reply: oneshot::Sender<Result<Admitted, PoolError>>,
    /// Whether to gossip it once pooled (it came from a client, not from a peer's gossip,
    /// which the network forwards itself).
    announce: bool,
}

/// Most pooled transactions waiting to be gossiped; newer ones are not gossiped while it is
/// full (they are in this node's pool all the same).
pub const MAX_ANNOUNCE: usize = 4_096;

/// Submitted transactions waiting for the runtime's check, and whether a thread checks them.
#[derive(Default)]
struct Submissions {
    waiting: VecDeque<Submission>,
    /// Hashes of those waiting: the same bytes twice are refused before any check.
    hashes: HashSet<Hash>,
    bytes: usize,
    checking: bool,
}

impl Submissions {
    /// The next batch: in order, up to [`CHECK_BATCH`] and [`MAX_BUILD_INPUT`] bytes (one
    /// at least).
    fn next_batch(&mut self) -> Vec<Submission> {
        let batch = pop_batch(&mut self.waiting, CHECK_BATCH, MAX_BUILD_INPUT, |s| {
            s.xt.0.len()
        });
        for submission in &batch {
            self.bytes = self.bytes.saturating_sub(submission.xt.0.len());
            self.hashes.remove(&submission.hash);
        }
        batch
    }
}

/// The first items of `queue`, in order: up to `count` of them and `bytes` of their `size`s,
/// one at least if any waits.
fn pop_batch<T>(
    queue: &mut VecDeque<T>,
    count: usize,
    bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<T> {
    let mut batch = Vec::new();
    let mut total = 0usize;
    while let Some(next) = queue.front() {
        total = total.saturating_add(size(next));
        if !batch.is_empty() && (batch.len() >= count || total > bytes) {
            break;
        }
        batch.extend(queue.pop_front());
    }
    batch
}

/// The node's shared state.
pub struct Shared {
    client: Mutex<Client>,
    pool: Mutex<Pool>,
    submissions: Mutex<Submissions>,
    /// Transactions clients submitted here, pooled, waiting to be gossiped to the authors.
    announce: Mutex<VecDeque<OpaqueExtrinsic>>,
    events: broadcast::Sender<ChainEvent>,
    /// The chain's name from its spec.
    pub chain_name: String,
    /// The node's metrics.
    pub metrics: Arc<Metrics>,
    network: Mutex<NetworkStatus>,
    /// What this node's approval checking knows (empty on a node that does not check).
    pub approval: crate::parachains::approval::SharedApproval,
    /// The validator's keystore (none on a node without one).
    keystore: std::sync::OnceLock<Arc<crate::keystore::Keystore>>,
    /// Whether methods that change the node (`author_rotateKeys`) are served: only to
    /// clients on this machine.
    unsafe_rpc: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Shares `client` with an empty pool.
    pub fn new(client: Client, chain_name: String) -> Self {
        Shared {
            client: Mutex::new(client),
            pool: Mutex::new(Pool::default()),
            submissions: Mutex::default(),
            announce: Mutex::default(),
            events: broadcast::channel(EVENT_BUFFER).0,
            chain_name,
            metrics: Arc::new(Metrics::new()),
            network: Mutex::new(NetworkStatus::default()),
            approval: Default::default(),
            keystore: std::sync::OnceLock::new(),
            unsafe_rpc: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Gives the node its keystore (once); its keys join the authorship engine.
    pub fn set_keystore(&self, keystore: Arc<crate::keystore::Keystore>) {
        {
            let mut client = self.client();
            for pair in keystore.pairs() {
                client.add_session_key(tessera_consensus::AuthorityKey::from_pair(&pair));
            }
        }
        let _set_before = self.keystore.set(keystore);
    }

    /// The node's keystore, if it has one.
    pub fn keystore(&self) -> Option<&Arc<crate::keystore::Keystore>> {
        self.keystore.get()
    }

    /// Serves methods that change the node (the RPC listens on this machine only).
    pub fn allow_unsafe_rpc(&self, allowed: bool) {
        self.unsafe_rpc
            .store(allowed, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether methods that change the node are served.
    pub fn unsafe_rpc_allowed(&self) -> bool {
        self.unsafe_rpc.load(std::sync::atomic::Ordering::Relaxed)
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
    /// node's imports and authoring, and costs one instantiation per batch. Nothing here
    /// waits for the pool or the client, which a block's author holds while it builds.
    /// A transaction pooled here is then gossiped to the other nodes, so that it reaches
    /// the block authors from any node.
    pub async fn submit(self: &Arc<Self>, xt: OpaqueExtrinsic) -> Result<Admitted, PoolError> {
        self.submit_from(xt, true).await
    }

    /// [`Self::submit`] for a transaction a peer gossiped: the network forwards it if it is
    /// pooled here, so it is not gossiped again.
    pub async fn submit_gossiped(
        self: &Arc<Self>,
        xt: OpaqueExtrinsic,
    ) -> Result<Admitted, PoolError> {
        self.submit_from(xt, false).await
    }

    async fn submit_from(
        self: &Arc<Self>,
        xt: OpaqueExtrinsic,
        announce: bool,
    ) -> Result<Admitted, PoolError> {
        let size = xt.0.len();
        if size > MAX_TRANSACTION_SIZE {
            return Err(PoolError::TooLarge {
                size,
                max: MAX_TRANSACTION_SIZE,
            });
        }
        let hash = xt.hash();
        let (reply, answer) = oneshot::channel();
        let start_checking = {
            let mut submissions = self.submissions();
            if submissions.hashes.contains(&hash) {
                return Err(PoolError::AlreadyImported(hash));
            }
            if submissions.waiting.len() >= MAX_AWAITING_CHECK
                || submissions.bytes.saturating_add(size) > MAX_AWAITING_BYTES
            {
                return Err(PoolError::Busy(submissions.waiting.len()));
            }
            submissions.hashes.insert(hash);
            submissions.bytes = submissions.bytes.saturating_add(size);
            submissions.waiting.push_back(Submission {
                xt,
                hash,
                reply,
                announce,
            });
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
        // A panic below must not leave submissions waiting for a thread that is gone: they
        // are dropped (their submitters hear the check was abandoned), and the next
        // submission starts another thread.
        struct Checking<'a>(&'a Shared);
        impl Drop for Checking<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut submissions = self.0.submissions();
                    *submissions = Submissions::default();
                }
            }
        }
        let _checking = Checking(self);
        loop {
            let batch = {
                let mut submissions = self.submissions();
                let batch = submissions.next_batch();
                if batch.is_empty() {
                    submissions.checking = false;
                    return;
                }
                batch
            };
            let announced: Vec<Option<OpaqueExtrinsic>> = batch
                .iter()
                .map(|s| s.announce.then(|| s.xt.clone()))
                .collect();
            let (xts, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|s| (s.xt, s.reply)).unzip();
            // What the pool refuses at once (full, or holding it already) costs no check.
            let offer = self.pool().triage(xts);
            // Its own statement: the client's lock ends before the runtime runs.
            let checker = self.client().tx_checker();
            let verdicts = checker.map(|checker| check_for_pool(&checker, offer.to_check(), true));
            let outcomes = offer.admit(&mut self.pool(), verdicts);
            let pooled = outcomes
                .iter()
                .zip(announced)
                .filter_map(|(outcome, xt)| outcome.as_ref().ok().and(xt));
            {
                let mut announce = self.announce();
                let room = MAX_ANNOUNCE.saturating_sub(announce.len());
                announce.extend(pooled.take(room));
            }
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The submitter may have gone (its connection closed): nothing to tell.
                let _ = reply.send(outcome);
            }
        }
    }

    fn announce(&self) -> MutexGuard<'_, VecDeque<OpaqueExtrinsic>> {
        self.announce
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Transactions clients submitted here to gossip, oldest first: at most `count` and
    /// `bytes` (one at least, if any waits).
    pub fn take_announced(&self, count: usize, bytes: usize) -> Vec<OpaqueExtrinsic> {
        pop_batch(&mut self.announce(), count, bytes, |xt| xt.0.len())
    }

    /// Puts back transactions whose gossip failed (no peer yet), ahead of the rest.
    pub fn announce_again(&self, xts: Vec<OpaqueExtrinsic>) {
        let mut announce = self.announce();
        let room = MAX_ANNOUNCE.saturating_sub(announce.len());
        for xt in xts.into_iter().take(room).rev() {
            announce.push_front(xt);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(
        sizes: &[usize],
    ) -> (
        Submissions,
        Vec<oneshot::Receiver<Result<Admitted, PoolError>>>,
    ) {
        let mut submissions = Submissions::default();
        let mut answers = Vec::new();
        for (n, &size) in sizes.iter().enumerate() {
            let mut bytes = vec![0u8; size];
            bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
            let xt = OpaqueExtrinsic(bytes);
            let (reply, answer) = oneshot::channel();
            submissions.hashes.insert(xt.hash());
            submissions.bytes += size;
            submissions.waiting.push_back(Submission {
                hash: xt.hash(),
                xt,
                reply,
                announce: false,
            });
            answers.push(answer);
        }
        (submissions, answers)
    }

    #[test]
    fn batches_keep_order_within_their_count_and_bytes_and_take_an_oversized_one_alone() {
        let (mut submissions, _answers) = waiting(&[100; CHECK_BATCH + 10]);
        assert_eq!(submissions.next_batch().len(), CHECK_BATCH);
        let rest = submissions.next_batch();
        assert_eq!(rest.len(), 10);
        assert_eq!(rest[0].xt.0[..8], (CHECK_BATCH as u64).to_le_bytes());
        assert!(submissions.next_batch().is_empty());
        assert_eq!((submissions.bytes, submissions.hashes.len()), (0, 0));

        let big = MAX_BUILD_INPUT / 2 + 1;
        let (mut submissions, _answers) = waiting(&[big, big, MAX_BUILD_INPUT + 1, 100]);
        let sizes = |batch: Vec<Submission>| batch.iter().map(|s| s.xt.0.len()).collect::<Vec<_>>();
        assert_eq!(sizes(submissions.next_batch()), [big]);
        assert_eq!(sizes(submissions.next_batch()), [big]);
        assert_eq!(sizes(submissions.next_batch()), [MAX_BUILD_INPUT + 1]);
        assert_eq!(sizes(submissions.next_batch()), [100]);
    }
}
