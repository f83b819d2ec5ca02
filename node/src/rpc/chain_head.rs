//! The new JSON-RPC spec's `chainHead_v1_*` group (what PAPI and light clients follow a chain
//! with), for the relay chain and for paras: a client follows the blocks above the finalized
//! one, each reported block stays pinned for it until it unpins it, and it asks for pinned
//! blocks' headers, bodies, storage and runtime calls, whose answers come as events on the
//! follow subscription.
//!
//! | method | result |
//! |---|---|
//! | `chainHead_v1_follow(withRuntime)` | events: `initialized` (the finalized block, with its runtime if asked), `newBlock` (each block above it, parents first, with `newRuntime` when its runtime differs from its parent's), `bestBlockChanged`, `finalized` (the newly finalized blocks in order and the reported blocks that can no longer be), the operations' events, `stop` |
//! | `chainHead_v1_unfollow(sub)` | ends the subscription |
//! | `chainHead_v1_header(sub, hash)` | the SCALE header, hex; null for an unknown subscription |
//! | `chainHead_v1_body(sub, hash)` | `{result: "started", operationId}`, then `operationBodyDone {value: [extrinsic hex, …]}` |
//! | `chainHead_v1_call(sub, hash, function, params)` | started, then `operationCallDone {output}` (the functions `state_call` calls) or `operationError` |
//! | `chainHead_v1_storage(sub, hash, items, null)` | `{result: "started", operationId, discardedItems}`, then `operationStorageItems`, `operationWaitingForContinue` every 1,024 descendants, `operationStorageDone` |
//! | `chainHead_v1_continue(sub, op)`, `chainHead_v1_stopOperation(sub, op)` | null |
//! | `chainHead_v1_unpin(sub, hash or [hash, …])` | null; nothing is unpinned if one hash is not pinned |
//!
//! What a caller can make the node keep is bounded: 4 follow subscriptions per connection and
//! 256 per server, 1,024 pinned blocks per subscription (past them the subscription is
//! stopped, as the spec has it), 16 operations at once per subscription (a storage item counts
//! as one, as the spec counts them); past those, `limitReached` or discarded items. A
//! subscription that falls behind the chain's events is stopped rather than left with a gap.
//! The spec's error codes: -32800 too many follows, -32801 a block not pinned, -32802 a call
//! on a subscription without runtime, -32803 continue on an operation that is not waiting,
//! -32804 a hash unpinned twice in one call.

use super::json;
use super::methods::{internal, invalid_params, parse_hash, parse_hex, state_call_allowed};
use super::watch::Watchers;
use jsonrpsee::core::server::{ConnectionId, Extensions, ResponsePayload};
use jsonrpsee::core::{RegisterMethodError, SubscriptionResult};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule};
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_runtime::state::State;
use tessera_runtime::wasm::VersionInfo;
use tessera_runtime::{Hash, Header, OpaqueExtrinsic};
use tokio::sync::{mpsc, Notify};

type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Most follow subscriptions one connection holds (the spec asks for at least 2).
const MAX_FOLLOWS_PER_CONNECTION: usize = 4;

/// Most follow subscriptions one server holds: each reads every new block's header. Four for
/// each of the 100 connections a server takes at once (jsonrpsee's default), so a few callers
/// cannot take every place from the others.
const MAX_FOLLOWS: usize = 400;

/// Most finalized or pruned blocks a subscription keeps pinned (its client has not unpinned);
/// past it the subscription is stopped. Only these count, as the spec advises: a client
/// cannot unpin blocks above the finalized one and still follow the chain.
const MAX_PINNED_FINAL: usize = 1_024;

/// Most blocks above the finalized one a subscription follows; past it (finality stalled
/// that long) it is stopped, so that what it keeps stays bounded.
const MAX_UNFINALIZED: usize = 8_192;

/// Most operations one subscription runs at once (the spec asks for at least 16).
const MAX_OPERATIONS: usize = 16;

/// Descendant items a storage operation sends before it waits for `chainHead_v1_continue`.
const ITEMS_BEFORE_CONTINUE: usize = 1_024;

/// Items per `operationStorageItems` event, and keys read per trie walk.
const ITEMS_PER_EVENT: usize = 128;

/// Operation events queued for a subscription's client before operations wait for it.
const EVENT_QUEUE: usize = 64;

const TOO_MANY_FOLLOWS: i32 = -32800;
const NOT_PINNED: i32 = -32801;
const NO_RUNTIME: i32 = -32802;
const NOT_WAITING: i32 = -32803;
const DUPLICATE_HASH: i32 = -32804;

/// What moved on a followed chain.
pub(super) enum Wake {
    /// Block `hash` was imported (or became the head): it may be new.
    Imported(Hash),
    /// The best or finalized block may have moved.
    Moved,
    /// Events were missed: the subscription can no longer be followed without a gap.
    Lagged,
    /// The chain's events ended (the node is stopping).
    Closed,
}

/// Where a followed chain's wake-ups come from.
pub(super) trait Wakes: Send + 'static {
    /// The next wake-up.
    fn next(&mut self) -> impl Future<Output = Wake> + Send;
}

/// A chain `chainHead_v1_*` follows: the relay chain, or a para.
pub(super) trait HeadChain: Send + Sync + 'static {
    /// Its wake-ups.
    type Wakes: Wakes;

    /// Wake-ups from now on.
    fn wakes(&self) -> Self::Wakes;
    /// The finalized block and the best block.
    fn heads(&self) -> Result<(Hash, Hash), String>;
    /// A stored block's header.
    fn header(&self, hash: &Hash) -> Result<Option<Header>, String>;
    /// A stored block's body.
    fn body(&self, hash: &Hash) -> Result<Option<Vec<OpaqueExtrinsic>>, String>;
    /// The blocks above the finalized one the node keeps, on every fork.
    fn unfinalized(&self) -> Vec<Hash>;
    /// The state after block `at`.
    fn state(&self, at: &Hash) -> Result<State<'static>, String>;
    /// The hash of the runtime after block `at`.
    fn code_hash(&self, at: &Hash) -> Result<Option<Hash>, String>;
    /// The version of the runtime after block `at`.
    fn runtime_version(&self, at: &Hash) -> Result<VersionInfo, String>;
    /// Runtime function `function`'s answer to `input` at block `at`.
    fn call(&self, at: &Hash, function: &str, input: &[u8]) -> Result<Vec<u8>, String>;
}

/// The follow subscriptions of one server.
#[derive(Clone)]
pub(super) struct Follows {
    open: Arc<Mutex<HashMap<String, Arc<Follow>>>>,
    /// Follow subscriptions by connection, counted when they start.
    per_connection: Arc<Mutex<HashMap<Option<usize>, usize>>>,
    slots: Watchers,
}

impl Default for Follows {
    fn default() -> Self {
        Follows {
            open: Arc::default(),
            per_connection: Arc::default(),
            slots: Watchers::with_limit(MAX_FOLLOWS),
        }
    }
}

/// A connection's place for one follow subscription, given back when it ends.
struct ConnectionPlace(Follows, Option<usize>);

impl Drop for ConnectionPlace {
    fn drop(&mut self) {
        let mut counts = lock(&self.0.per_connection);
        if let Some(count) = counts.get_mut(&self.1) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.1);
            }
        }
    }
}

/// One follow subscription, as its methods see it.
struct Follow {
    /// The connection that opened it (`None` for in-process calls).
    connection: Option<usize>,
    with_runtime: bool,
    pinned: Mutex<HashSet<Hash>>,
    operations: Mutex<HashMap<String, Arc<Operation>>>,
    next_operation: AtomicU64,
    /// Operation events, sent on the subscription by its task.
    events: mpsc::Sender<Value>,
}

/// An operation under way.
#[derive(Default)]
struct Operation {
    /// Set when the client stops it.
    stopped: std::sync::atomic::AtomicBool,
    /// Set while it waits for `chainHead_v1_continue`.
    waiting: std::sync::atomic::AtomicBool,
    wake: Notify,
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connection_of(extensions: &Extensions) -> Option<usize> {
    extensions.get::<ConnectionId>().map(|id| id.0)
}

/// A subscription id as the client gives it back (a string, or a number from other servers).
fn subscription_param(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl Follows {
    /// The subscription `id` of `connection`, if it is open.
    fn get(&self, id: &str, connection: Option<usize>) -> Option<Arc<Follow>> {
        lock(&self.open)
            .get(id)
            .filter(|follow| follow.connection == connection)
            .cloned()
    }

    /// A place for one more follow subscription of `connection`, if it has fewer than
    /// [`MAX_FOLLOWS_PER_CONNECTION`].
    fn enter(&self, connection: Option<usize>) -> Option<ConnectionPlace> {
        let mut counts = lock(&self.per_connection);
        let count = counts.entry(connection).or_default();
        if *count >= MAX_FOLLOWS_PER_CONNECTION {
            return None;
        }
        *count += 1;
        Some(ConnectionPlace(self.clone(), connection))
    }
}

impl Follow {
    fn is_pinned(&self, hash: &Hash) -> bool {
        lock(&self.pinned).contains(hash)
    }

    /// Checks that `hash` is pinned: the spec's error for a block the client may not ask for.
    fn check_pinned(&self, hash: &Hash) -> RpcResult<()> {
        if self.is_pinned(hash) {
            Ok(())
        } else {
            Err(super::methods::error(
                NOT_PINNED,
                format!("block {hash} is not pinned by this subscription"),
            ))
        }
    }

    /// Starts an operation of up to `wanted` items (at least one place, which an operation
    /// of no items takes too), as many as the free places allow: its id, handle and the
    /// number of items it took; none when no place is free.
    fn start(&self, wanted: usize) -> Option<(String, Arc<Operation>, usize)> {
        let mut operations = lock(&self.operations);
        let free = MAX_OPERATIONS.saturating_sub(operations.len());
        if free == 0 {
            return None;
        }
        let taken = wanted.min(free);
        let cost = taken.max(1);
        let id = self
            .next_operation
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        let operation = Arc::new(Operation::default());
        // An operation's items each count; the extra entries hold their places.
        for extra in 1..cost {
            operations.insert(format!("{id}/{extra}"), operation.clone());
        }
        operations.insert(id.clone(), operation.clone());
        Some((id, operation, taken))
    }

    /// Ends operation `id` (and the places its items held).
    fn finish(&self, id: &str) {
        let prefix = format!("{id}/");
        lock(&self.operations).retain(|key, _| key != id && !key.starts_with(&prefix));
    }

    /// Sends an operation's event; false when the subscription has ended.
    async fn send(&self, event: Value) -> bool {
        self.events.send(event).await.is_ok()
    }
}

/// What a subscription has reported: the finalized block and the blocks above it.
struct Reported {
    with_runtime: bool,
    finalized: Hash,
    finalized_number: u32,
    best: Hash,
    /// The finalized block and each reported block above it.
    blocks: HashMap<Hash, ReportedBlock>,
}

#[derive(Clone, Copy)]
struct ReportedBlock {
    parent: Hash,
    number: u32,
    /// The hash of its runtime (when runtimes are reported).
    code: Option<Hash>,
}

/// Why a subscription cannot go on.
struct Stop(String);

/// What became of a block a subscription was to report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Announced {
    /// Reported, now or before.
    Reported,
    /// The chain does not have it (or an ancestor) yet: a para node still importing.
    Missing,
    /// On a fork below the finalized block: never reported.
    Dead,
}

impl<E: ToString> From<E> for Stop {
    fn from(err: E) -> Self {
        Stop(err.to_string())
    }
}

/// A runtime as `initialized` and `newBlock` report it.
fn runtime_json<C: HeadChain>(chain: &C, at: &Hash) -> Value {
    match chain.runtime_version(at) {
        Ok(version) => {
            let apis: serde_json::Map<String, Value> = super::methods::substrate_apis()
                .map(|(id, version)| (id, Value::from(version)))
                .collect();
            json!({
                "type": "valid",
                "spec": {
                    "specName": version.spec_name,
                    "implName": "tessera",
                    "specVersion": version.spec_version,
                    "implVersion": 0,
                    "transactionVersion": version.transaction_version,
                    "apis": apis,
                },
            })
        }
        Err(error) => json!({ "type": "invalid", "error": error }),
    }
}

impl Reported {
    /// The `initialized` event and the blocks above the finalized one; pins what it reports.
    fn start<C: HeadChain>(
        chain: &C,
        with_runtime: bool,
        pinned: &Mutex<HashSet<Hash>>,
        out: &mut Vec<Value>,
    ) -> Result<Reported, Stop> {
        let (finalized, _) = chain.heads()?;
        let header = chain
            .header(&finalized)?
            .ok_or_else(|| Stop(format!("the finalized block {finalized} is missing")))?;
        let code = if with_runtime {
            chain.code_hash(&finalized)?
        } else {
            None
        };
        let mut initialized = json!({
            "event": "initialized",
            "finalizedBlockHashes": [finalized.to_string()],
        });
        if with_runtime {
            initialized["finalizedBlockRuntime"] = runtime_json(chain, &finalized);
        }
        out.push(initialized);
        lock(pinned).insert(finalized);
        let mut reported = Reported {
            with_runtime,
            finalized,
            finalized_number: header.number,
            best: finalized,
            blocks: HashMap::from([(
                finalized,
                ReportedBlock {
                    parent: header.parent_hash,
                    number: header.number,
                    code,
                },
            )]),
        };
        for hash in chain.unfinalized() {
            reported.announce(chain, &hash, pinned, out)?;
        }
        reported.update(chain, None, pinned, out)?;
        if reported.best == finalized {
            // The spec wants a best block named after the blocks, even when it is the finalized.
            out.push(
                json!({ "event": "bestBlockChanged", "bestBlockHash": finalized.to_string() }),
            );
        }
        Ok(reported)
    }

    /// Reports `hash` and its unreported ancestors above the finalized block, parents first.
    fn announce<C: HeadChain>(
        &mut self,
        chain: &C,
        hash: &Hash,
        pinned: &Mutex<HashSet<Hash>>,
        out: &mut Vec<Value>,
    ) -> Result<Announced, Stop> {
        let mut path = Vec::new();
        let mut cursor = *hash;
        while !self.blocks.contains_key(&cursor) {
            let Some(header) = chain.header(&cursor)? else {
                return Ok(Announced::Missing);
            };
            if header.number <= self.finalized_number {
                return Ok(Announced::Dead);
            }
            if path.len().saturating_add(self.blocks.len()) >= MAX_UNFINALIZED {
                return Err(Stop(format!(
                    "more than {MAX_UNFINALIZED} blocks above the finalized one"
                )));
            }
            cursor = header.parent_hash;
            path.push(header);
        }
        for header in path.into_iter().rev() {
            let hash = header.hash();
            let parent_code = self.blocks.get(&header.parent_hash).and_then(|b| b.code);
            let mut event = json!({
                "event": "newBlock",
                "blockHash": hash.to_string(),
                "parentBlockHash": header.parent_hash.to_string(),
            });
            let mut code = None;
            if self.with_runtime {
                code = chain.code_hash(&hash)?;
                event["newRuntime"] = if code == parent_code {
                    Value::Null
                } else {
                    runtime_json(chain, &hash)
                };
            }
            self.blocks.insert(
                hash,
                ReportedBlock {
                    parent: header.parent_hash,
                    number: header.number,
                    code,
                },
            );
            lock(pinned).insert(hash);
            out.push(event);
        }
        Ok(Announced::Reported)
    }

    /// How many of the pinned blocks are finalized or pruned: pinned, and no longer above
    /// the finalized block.
    fn pinned_final(&self, pinned: &Mutex<HashSet<Hash>>) -> usize {
        lock(pinned)
            .iter()
            .filter(|hash| !self.blocks.contains_key(hash))
            .count()
    }

    /// Whether reported block `hash` is `ancestor` (of number `ancestor_number`) or above it.
    fn descends(&self, hash: &Hash, ancestor: &Hash, ancestor_number: u32) -> bool {
        let mut cursor = *hash;
        loop {
            if cursor == *ancestor {
                return true;
            }
            match self.blocks.get(&cursor) {
                Some(block) if block.number > ancestor_number => cursor = block.parent,
                _ => return false,
            }
        }
    }

    /// Reports what moved: block `imported` if it is new, the best block, the finalized one.
    fn update<C: HeadChain>(
        &mut self,
        chain: &C,
        imported: Option<Hash>,
        pinned: &Mutex<HashSet<Hash>>,
        out: &mut Vec<Value>,
    ) -> Result<(), Stop> {
        let (finalized, best) = chain.heads()?;
        if let Some(imported) = imported {
            self.announce(chain, &imported, pinned, out)?;
        }
        let best_known = self.announce(chain, &best, pinned, out)? == Announced::Reported;
        if finalized != self.finalized {
            match self.announce(chain, &finalized, pinned, out)? {
                Announced::Reported => self.finalize(finalized, best_known.then_some(best), out),
                // Reported once the chain has it (a para node's view may lag the relay).
                Announced::Missing => {}
                Announced::Dead => {
                    return Err(Stop(format!(
                        "the finalized block {finalized} does not descend from {}",
                        self.finalized
                    )))
                }
            }
        }
        if best_known
            && best != self.best
            && self.descends(&best, &self.finalized, self.finalized_number)
        {
            self.best = best;
            out.push(json!({ "event": "bestBlockChanged", "bestBlockHash": best.to_string() }));
        }
        Ok(())
    }

    /// Reports `finalized` (reported, above the finalized block) and its ancestors final, and
    /// the blocks that no longer can be pruned; the best block moves first if it would be.
    fn finalize(&mut self, finalized: Hash, best: Option<Hash>, out: &mut Vec<Value>) {
        let number = self.blocks.get(&finalized).map_or(0, |b| b.number);
        let mut path = Vec::new();
        let mut cursor = finalized;
        while cursor != self.finalized {
            path.push(cursor);
            match self.blocks.get(&cursor) {
                Some(block) => cursor = block.parent,
                None => break,
            }
        }
        path.reverse();
        let on_path: HashSet<&Hash> = path.iter().collect();
        let pruned: Vec<Hash> = self
            .blocks
            .keys()
            .filter(|hash| {
                **hash != self.finalized
                    && !on_path.contains(hash)
                    && !self.descends(hash, &finalized, number)
            })
            .copied()
            .collect();
        // A best block below the new finalized one, or off its chain, would be pruned.
        if !self.descends(&self.best, &finalized, number) {
            let new_best = best
                .filter(|best| self.descends(best, &finalized, number))
                .unwrap_or(finalized);
            if new_best != self.best {
                self.best = new_best;
                out.push(
                    json!({ "event": "bestBlockChanged", "bestBlockHash": new_best.to_string() }),
                );
            }
        }
        for hash in pruned.iter().chain(std::iter::once(&self.finalized)) {
            self.blocks.remove(hash);
        }
        for hash in &path[..path.len().saturating_sub(1)] {
            self.blocks.remove(hash);
        }
        self.finalized = finalized;
        self.finalized_number = number;
        let hashes = |list: &[Hash]| list.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        out.push(json!({
            "event": "finalized",
            "finalizedBlockHashes": hashes(&path),
            "prunedBlockHashes": hashes(&pruned),
        }));
    }
}

/// `chainHead_v1_follow`: reports the chain until the client unfollows, the chain's events
/// end, or the subscription has to stop.
async fn follow<C: HeadChain>(
    chain: Arc<C>,
    follows: Follows,
    with_runtime: bool,
    pending: PendingSubscriptionSink,
    connection: Option<usize>,
) -> SubscriptionResult {
    let Some(_place) = follows.enter(connection) else {
        let message =
            format!("a connection follows at most {MAX_FOLLOWS_PER_CONNECTION} chains at once");
        pending
            .reject(super::methods::error(TOO_MANY_FOLLOWS, message))
            .await;
        return Ok(());
    };
    let _slot = match follows.slots.enter_for("chainHead follow subscriptions") {
        Ok(slot) => slot,
        Err(mut err) => {
            err = super::methods::error(TOO_MANY_FOLLOWS, err.message().to_string());
            pending.reject(err).await;
            return Ok(());
        }
    };
    // Subscribed before the chain is read, so nothing falls between.
    let mut wakes = chain.wakes();
    let sink = pending.accept().await?;
    let id = subscription_param(&Value::from(sink.subscription_id()));
    let (events, mut operation_events) = mpsc::channel(EVENT_QUEUE);
    let handle = Arc::new(Follow {
        connection,
        with_runtime,
        pinned: Mutex::default(),
        operations: Mutex::default(),
        next_operation: AtomicU64::new(0),
        events,
    });
    lock(&follows.open).insert(id.clone(), handle.clone());
    /// Forgets the subscription when it ends, and stops its operations (one waiting for
    /// `chainHead_v1_continue` would otherwise wait for good).
    struct Registered(Follows, String, Arc<Follow>);
    impl Drop for Registered {
        fn drop(&mut self) {
            lock(&self.0.open).remove(&self.1);
            for operation in lock(&self.2.operations).values() {
                operation.stopped.store(true, Ordering::Release);
                operation.wake.notify_one();
            }
        }
    }
    let _registered = Registered(follows, id, handle.clone());

    let send = |value: Value| {
        let sink = &sink;
        async move {
            let raw = serde_json::value::to_raw_value(&value)?;
            sink.send(raw).await?;
            Ok::<(), jsonrpsee::core::SubscriptionError>(())
        }
    };
    let stop = json!({ "event": "stop" });
    let mut out = Vec::new();
    let started = Reported::start(&*chain, with_runtime, &handle.pinned, &mut out);
    for event in out.drain(..) {
        send(event).await?;
    }
    let mut reported = match started {
        Ok(reported) => reported,
        Err(Stop(reason)) => {
            tracing::debug!(%reason, "chainHead follow stopped");
            return send(stop).await;
        }
    };
    loop {
        let wake = tokio::select! {
            () = sink.closed() => return Ok(()),
            Some(event) = operation_events.recv() => {
                send(event).await?;
                continue;
            }
            wake = wakes.next() => wake,
        };
        let imported = match wake {
            Wake::Imported(hash) => Some(hash),
            Wake::Moved => None,
            Wake::Lagged => return send(stop).await,
            Wake::Closed => return Ok(()),
        };
        let updated = reported.update(&*chain, imported, &handle.pinned, &mut out);
        for event in out.drain(..) {
            send(event).await?;
        }
        let reason = match updated {
            Err(Stop(reason)) => reason,
            Ok(()) => match reported.pinned_final(&handle.pinned) {
                pinned if pinned > MAX_PINNED_FINAL => format!(
                    "{pinned} finalized or pruned blocks pinned (at most {MAX_PINNED_FINAL})"
                ),
                _ => continue,
            },
        };
        tracing::debug!(%reason, "chainHead follow stopped");
        return send(stop).await;
    }
}

/// The subscription and pinned block a method names, as its first two parameters: `None`
/// when the subscription is unknown (the spec's "invalid or stale").
fn pinned_target(
    follows: &Follows,
    seq: &mut jsonrpsee::types::params::ParamsSequence<'_>,
    extensions: &Extensions,
) -> RpcResult<Option<(Arc<Follow>, Hash)>> {
    let id: Value = seq.next()?;
    let hash: String = seq.next()?;
    let hash = parse_hash(&hash)?;
    let Some(follow) = follows.get(&subscription_param(&id), connection_of(extensions)) else {
        return Ok(None);
    };
    follow.check_pinned(&hash)?;
    Ok(Some((follow, hash)))
}

fn limit_reached() -> ResponsePayload<'static, Value> {
    ResponsePayload::success(json!({ "result": "limitReached" }))
}

/// Answers `started` with `response`, and runs `work` once that answer is sent (the client
/// learns the operation's id before its events), with the operation ended afterwards.
fn run_operation<F>(
    follow: Arc<Follow>,
    id: String,
    response: Value,
    work: F,
) -> ResponsePayload<'static, Value>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (payload, sent) = ResponsePayload::success(response).notify_on_completion();
    tokio::spawn(async move {
        if sent.await.is_ok() {
            work.await;
        }
        follow.finish(&id);
    });
    payload
}

/// A method's answer, or its error.
fn respond(result: RpcResult<ResponsePayload<'static, Value>>) -> ResponsePayload<'static, Value> {
    result.unwrap_or_else(ResponsePayload::error)
}

/// `started` with the id of an operation of one item.
fn started(id: &str) -> Value {
    json!({ "result": "started", "operationId": id })
}

/// Starts an operation of one place that runs `work` on a blocking thread once `started` is
/// sent: its event is `done(id, output)`, `operationError` with its error, or
/// `operationInaccessible` when it found nothing or did not finish.
fn blocking_operation<T: Send + 'static>(
    follow: Arc<Follow>,
    work: impl FnOnce() -> Result<Option<T>, String> + Send + 'static,
    done: impl FnOnce(&str, T) -> Value + Send + 'static,
) -> ResponsePayload<'static, Value> {
    let Some((id, _, _)) = follow.start(1) else {
        return limit_reached();
    };
    let task_follow = follow.clone();
    let op = id.clone();
    run_operation(follow, id.clone(), started(&id), async move {
        let event = match tokio::task::spawn_blocking(work).await {
            Ok(Ok(Some(output))) => done(&op, output),
            Ok(Ok(None)) | Err(_) => json!({ "event": "operationInaccessible", "operationId": op }),
            Ok(Err(error)) => {
                json!({ "event": "operationError", "operationId": op, "error": error })
            }
        };
        task_follow.send(event).await;
    })
}

/// `chainHead_v1_body(sub, hash)`: starts reading the block's body.
fn start_body<C: HeadChain>(
    follows: &Follows,
    params: &Params<'static>,
    chain: Arc<C>,
    extensions: &Extensions,
) -> RpcResult<ResponsePayload<'static, Value>> {
    let mut seq = params.sequence();
    let Some((follow, hash)) = pinned_target(follows, &mut seq, extensions)? else {
        return Ok(limit_reached());
    };
    Ok(blocking_operation(
        follow,
        move || chain.body(&hash),
        |op, body| {
            let value: Vec<String> = body.iter().map(|xt| json::hex(&xt.encode())).collect();
            json!({ "event": "operationBodyDone", "operationId": op, "value": value })
        },
    ))
}

/// `chainHead_v1_call(sub, hash, function, input)`: starts a runtime call (one of those
/// `state_call` makes; another is the spec's operation error, as a missing one would be).
fn start_call<C: HeadChain>(
    follows: &Follows,
    params: &Params<'static>,
    chain: Arc<C>,
    extensions: &Extensions,
) -> RpcResult<ResponsePayload<'static, Value>> {
    let mut seq = params.sequence();
    let Some((follow, hash)) = pinned_target(follows, &mut seq, extensions)? else {
        return Ok(limit_reached());
    };
    let function: String = seq.next()?;
    let input: String = seq.next()?;
    if !follow.with_runtime {
        return Err(super::methods::error(
            NO_RUNTIME,
            "this subscription follows without runtime: calls need chainHead_v1_follow(true)",
        ));
    }
    // PAPI sends an empty input as "", not "0x".
    let input = if input.is_empty() {
        Vec::new()
    } else {
        parse_hex(&input)?
    };
    Ok(blocking_operation(
        follow,
        move || {
            state_call_allowed(&function).map_err(|refused| refused.message().to_string())?;
            chain.call(&hash, &function, &input).map(Some)
        },
        |op, output| json!({ "event": "operationCallDone", "operationId": op, "output": json::hex(&output) }),
    ))
}

/// `chainHead_v1_storage(sub, hash, items, childTrie)`: starts reading the items that fit in
/// the subscription's free operations; the rest are discarded and counted.
fn start_storage<C: HeadChain>(
    follows: &Follows,
    params: &Params<'_>,
    chain: &C,
    extensions: &Extensions,
) -> RpcResult<ResponsePayload<'static, Value>> {
    let mut seq = params.sequence();
    let Some((follow, hash)) = pinned_target(follows, &mut seq, extensions)? else {
        return Ok(limit_reached());
    };
    let items: Vec<Value> = seq.next()?;
    let child_trie: Option<Value> = seq.optional_next()?;
    let mut items = parse_items(items)?;
    if let Some(child_trie) = child_trie.filter(|child| !child.is_null()) {
        let key = child_trie
            .as_str()
            .ok_or_else(|| invalid_params("childTrie is null or a hex key"))?;
        parse_hex(key)?;
        // Tessera's state has no child tries: nothing is stored under one.
        items.clear();
    }
    let state = chain.state(&hash).map_err(internal)?;
    let Some((id, operation, taken)) = follow.start(items.len()) else {
        return Ok(limit_reached());
    };
    let discarded = items.len() - taken;
    items.truncate(taken);
    let task_follow = follow.clone();
    let op = id.clone();
    let response = json!({ "result": "started", "operationId": id, "discardedItems": discarded });
    Ok(run_operation(follow, id, response, async move {
        storage_operation(&task_follow, &operation, &op, state, items).await;
    }))
}

/// One item of a `chainHead_v1_storage` request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ItemKind {
    Value,
    Hash,
    ClosestDescendantMerkleValue,
    DescendantsValues,
    DescendantsHashes,
}

fn parse_items(items: Vec<Value>) -> RpcResult<Vec<(Vec<u8>, ItemKind)>> {
    items
        .into_iter()
        .map(|item| {
            let key = item
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_params("each item needs a hex `key`"))?;
            let kind = match item.get("type").and_then(Value::as_str) {
                Some("value") => ItemKind::Value,
                Some("hash") => ItemKind::Hash,
                Some("closestDescendantMerkleValue") => ItemKind::ClosestDescendantMerkleValue,
                Some("descendantsValues") => ItemKind::DescendantsValues,
                Some("descendantsHashes") => ItemKind::DescendantsHashes,
                other => {
                    return Err(invalid_params(format!(
                        "item type {other:?} is none of value, hash, closestDescendantMerkleValue, descendantsValues, descendantsHashes"
                    )))
                }
            };
            Ok((parse_hex(key)?, kind))
        })
        .collect()
}

/// Runs a storage operation: each item's answer in `operationStorageItems` events, waiting for
/// `chainHead_v1_continue` every [`ITEMS_BEFORE_CONTINUE`] descendants, then
/// `operationStorageDone` (or `operationError`).
async fn storage_operation(
    follow: &Follow,
    operation: &Operation,
    id: &str,
    mut state: State<'static>,
    items: Vec<(Vec<u8>, ItemKind)>,
) {
    let event = |items: Vec<Value>| json!({ "event": "operationStorageItems", "operationId": id, "items": items });
    let error = |err: tessera_runtime::Error| json!({ "event": "operationError", "operationId": id, "error": err.to_string() });
    let mut since_continue = 0;
    for (key, kind) in items {
        if operation.stopped.load(Ordering::Acquire) {
            return;
        }
        let found = match kind {
            ItemKind::Value => state
                .get(&key)
                .map(|value| value.map(|v| json!({ "key": json::hex(&key), "value": json::hex(&v) }))),
            ItemKind::Hash => state
                .value_hash(&key)
                .map(|hash| hash.map(|h| json!({ "key": json::hex(&key), "hash": h.to_string() }))),
            ItemKind::ClosestDescendantMerkleValue => {
                state.closest_descendant_merkle_value(&key).map(|merkle| {
                    merkle.map(|m| {
                        json!({ "key": json::hex(&key), "closestDescendantMerkleValue": json::hex(&m) })
                    })
                })
            }
            ItemKind::DescendantsValues | ItemKind::DescendantsHashes => {
                let mut after: Option<Vec<u8>> = None;
                loop {
                    let keys = match state.keys_paged(&key, ITEMS_PER_EVENT, after.as_deref()) {
                        Ok(keys) => keys,
                        Err(err) => {
                            follow.send(error(err)).await;
                            return;
                        }
                    };
                    let Some(last) = keys.last().cloned() else {
                        break;
                    };
                    let mut found = Vec::with_capacity(keys.len());
                    for key in &keys {
                        let item = if kind == ItemKind::DescendantsValues {
                            state.get(key).map(|value| {
                                value.map(|v| json!({ "key": json::hex(key), "value": json::hex(&v) }))
                            })
                        } else {
                            state.value_hash(key).map(|hash| {
                                hash.map(|h| json!({ "key": json::hex(key), "hash": h.to_string() }))
                            })
                        };
                        match item {
                            Ok(item) => found.extend(item),
                            Err(err) => {
                                follow.send(error(err)).await;
                                return;
                            }
                        }
                    }
                    since_continue += found.len();
                    if !follow.send(event(found)).await {
                        return;
                    }
                    if keys.len() < ITEMS_PER_EVENT {
                        break;
                    }
                    after = Some(last);
                    if since_continue >= ITEMS_BEFORE_CONTINUE {
                        since_continue = 0;
                        operation.waiting.store(true, Ordering::Release);
                        let waiting = json!({ "event": "operationWaitingForContinue", "operationId": id });
                        if !follow.send(waiting).await {
                            return;
                        }
                        operation.wake.notified().await;
                        if operation.stopped.load(Ordering::Acquire) {
                            return;
                        }
                    }
                }
                continue;
            }
        };
        match found {
            Ok(Some(item)) => {
                if !follow.send(event(vec![item])).await {
                    return;
                }
            }
            Ok(None) => {}
            Err(err) => {
                follow.send(error(err)).await;
                return;
            }
        }
    }
    follow
        .send(json!({ "event": "operationStorageDone", "operationId": id }))
        .await;
}

/// Registers `chainHead_v1_*` on `module`, whose context is the chain followed.
pub(super) fn register<C: HeadChain>(module: &mut RpcModule<C>) -> Result<(), RegisterMethodError> {
    let follows = Follows::default();

    let opened = follows.clone();
    module.register_subscription(
        "chainHead_v1_follow",
        "chainHead_v1_followEvent",
        "chainHead_v1_unfollow",
        move |params, pending, chain, extensions| {
            let follows = opened.clone();
            async move {
                let with_runtime: bool = match params.one() {
                    Ok(with_runtime) => with_runtime,
                    Err(err) => {
                        pending.reject(err).await;
                        return Ok(());
                    }
                };
                follow(
                    chain,
                    follows,
                    with_runtime,
                    pending,
                    connection_of(&extensions),
                )
                .await
            }
        },
    )?;

    let headers = follows.clone();
    module.register_method(
        "chainHead_v1_header",
        move |params, chain, extensions| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let Some((_, hash)) = pinned_target(&headers, &mut seq, extensions)? else {
                return Ok(Value::Null);
            };
            let header = chain.header(&hash).map_err(internal)?;
            Ok(header.map_or(Value::Null, |header| {
                Value::String(json::hex(&header.encode()))
            }))
        },
    )?;

    let bodies = follows.clone();
    module.register_async_method("chainHead_v1_body", move |params, chain, extensions| {
        let follows = bodies.clone();
        async move { respond(start_body(&follows, &params, chain, &extensions)) }
    })?;

    let calls = follows.clone();
    module.register_async_method("chainHead_v1_call", move |params, chain, extensions| {
        let follows = calls.clone();
        async move { respond(start_call(&follows, &params, chain, &extensions)) }
    })?;

    let storages = follows.clone();
    module.register_method("chainHead_v1_storage", move |params, chain, extensions| {
        respond(start_storage(&storages, &params, chain, extensions))
    })?;

    let continues = follows.clone();
    module.register_method(
        "chainHead_v1_continue",
        move |params, _, extensions| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let id: Value = seq.next()?;
            let operation: String = seq.next()?;
            let Some(follow) = continues.get(&subscription_param(&id), connection_of(extensions))
            else {
                return Ok(Value::Null);
            };
            let Some(operation) = lock(&follow.operations).get(&operation).cloned() else {
                return Ok(Value::Null);
            };
            if !operation.waiting.swap(false, Ordering::AcqRel) {
                return Err(super::methods::error(
                    NOT_WAITING,
                    "the operation is not waiting for continue",
                ));
            }
            operation.wake.notify_one();
            Ok(Value::Null)
        },
    )?;

    let stops = follows.clone();
    module.register_method(
        "chainHead_v1_stopOperation",
        move |params, _, extensions| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let id: Value = seq.next()?;
            let operation: String = seq.next()?;
            if let Some(follow) = stops.get(&subscription_param(&id), connection_of(extensions)) {
                let found = lock(&follow.operations).get(&operation).cloned();
                // Its places are given back when its work has ended, not before: a client
                // that stops operations cannot have more than the limit running.
                if let Some(found) = found {
                    found.stopped.store(true, Ordering::Release);
                    found.wake.notify_one();
                }
            }
            Ok(Value::Null)
        },
    )?;

    let unpins = follows;
    module.register_method(
        "chainHead_v1_unpin",
        move |params, _, extensions| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let id: Value = seq.next()?;
            let hashes: Value = seq.next()?;
            let hashes: Vec<String> = match hashes {
                Value::String(one) => vec![one],
                Value::Array(_) => {
                    serde_json::from_value(hashes).map_err(|e| invalid_params(e.to_string()))?
                }
                other => {
                    return Err(invalid_params(format!(
                        "`{other}` is neither a hash nor a list of hashes"
                    )))
                }
            };
            let hashes = hashes
                .iter()
                .map(|h| parse_hash(h))
                .collect::<RpcResult<Vec<_>>>()?;
            let Some(follow) = unpins.get(&subscription_param(&id), connection_of(extensions))
            else {
                return Ok(Value::Null);
            };
            let unique: HashSet<&Hash> = hashes.iter().collect();
            if unique.len() != hashes.len() {
                return Err(super::methods::error(
                    DUPLICATE_HASH,
                    "a hash is listed twice",
                ));
            }
            let mut pinned = lock(&follow.pinned);
            if let Some(missing) = hashes.iter().find(|hash| !pinned.contains(hash)) {
                return Err(super::methods::error(
                    NOT_PINNED,
                    format!("block {missing} is not pinned by this subscription"),
                ));
            }
            for hash in &hashes {
                pinned.remove(hash);
            }
            Ok(Value::Null)
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tessera_runtime::state::NodeStore;

    /// A state of `count` keys under one prefix, and that prefix.
    fn state_with(count: u32) -> (State<'static>, Vec<u8>) {
        let prefix = b"items:".to_vec();
        let empty: Arc<dyn NodeStore> = Arc::new(BTreeMap::<Hash, Vec<u8>>::new());
        let mut state = State::shared(empty, tessera_runtime::trie::empty_root());
        for i in 0..count {
            let mut key = prefix.clone();
            key.extend_from_slice(&i.to_be_bytes());
            state.set(key, i.encode());
        }
        let changes = state.commit().unwrap();
        let nodes: BTreeMap<Hash, Vec<u8>> = changes.new_nodes.into_iter().collect();
        (State::shared(Arc::new(nodes), changes.root), prefix)
    }

    fn follow_with_queue() -> (Arc<Follow>, mpsc::Receiver<Value>) {
        let (events, received) = mpsc::channel(EVENT_QUEUE);
        let follow = Arc::new(Follow {
            connection: None,
            with_runtime: true,
            pinned: Mutex::default(),
            operations: Mutex::default(),
            next_operation: AtomicU64::new(0),
            events,
        });
        (follow, received)
    }

    /// A descendants query pauses every [`ITEMS_BEFORE_CONTINUE`] items until continued, and
    /// a stopped one sends nothing more.
    #[tokio::test]
    async fn descendants_wait_for_continue_and_stop_when_told() {
        let (state, prefix) = state_with(2_500);
        let (follow, mut events) = follow_with_queue();
        let (id, operation, _) = follow.start(1).unwrap();
        let task = {
            let (follow, operation, id) = (follow.clone(), operation.clone(), id.clone());
            tokio::spawn(async move {
                let items = vec![(prefix, ItemKind::DescendantsValues)];
                storage_operation(&follow, &operation, &id, state, items).await;
            })
        };
        let mut received = 0;
        let mut pauses = 0;
        loop {
            let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
                .await
                .unwrap()
                .unwrap();
            match event["event"].as_str().unwrap() {
                "operationStorageItems" => received += event["items"].as_array().unwrap().len(),
                "operationWaitingForContinue" => {
                    pauses += 1;
                    assert_eq!(received, pauses * ITEMS_BEFORE_CONTINUE);
                    assert!(operation.waiting.swap(false, Ordering::AcqRel));
                    operation.wake.notify_one();
                }
                "operationStorageDone" => break,
                other => panic!("unexpected {other}"),
            }
        }
        task.await.unwrap();
        assert_eq!((received, pauses), (2_500, 2));

        // Stopped while it waits: it ends without another event.
        let (state, prefix) = state_with(1_500);
        let (id, operation, _) = follow.start(1).unwrap();
        let task = {
            let (follow, operation, id) = (follow.clone(), operation.clone(), id.clone());
            tokio::spawn(async move {
                let items = vec![(prefix, ItemKind::DescendantsHashes)];
                storage_operation(&follow, &operation, &id, state, items).await;
            })
        };
        loop {
            let event = events.recv().await.unwrap();
            if event["event"] == "operationWaitingForContinue" {
                break;
            }
        }
        operation.stopped.store(true, Ordering::Release);
        operation.wake.notify_one();
        task.await.unwrap();
        assert!(events.try_recv().is_err(), "nothing after a stop");
    }

    /// Operations are limited per subscription; a storage item counts as one, the items past
    /// the free places are left out, and an operation's places come back only when it ends.
    #[test]
    fn operations_are_limited_and_given_back() {
        let (follow, _events) = follow_with_queue();
        let (big, _, taken) = follow.start(MAX_OPERATIONS - 1).unwrap();
        assert_eq!(taken, MAX_OPERATIONS - 1);
        let (one, _, taken) = follow.start(5).unwrap();
        assert_eq!(taken, 1, "only one place was left");
        assert!(follow.start(1).is_none(), "all places taken");
        follow.finish(&big);
        let (empty, _, taken) = follow.start(0).unwrap();
        assert_eq!(taken, 0, "an operation of no items takes one place");
        assert_eq!(lock(&follow.operations).len(), 2);
        follow.finish(&one);
        follow.finish(&empty);
        assert!(lock(&follow.operations).is_empty());
    }
}
