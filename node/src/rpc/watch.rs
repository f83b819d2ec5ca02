//! Watching a submitted transaction until it is finalized or can never be, for the relay
//! chain and for paras.
//!
//! Two subscriptions carry the same statuses: Substrate's `author_submitAndWatchExtrinsic`
//! (`"ready"`, `{"inBlock": hash}`, `{"retracted": hash}`, `{"finalized": hash}`,
//! `{"usurped": hash}`, `"invalid"`), which wallets know, and the JSON-RPC spec's
//! `transactionWatch_v1_submitAndWatch`, whose `invalid` event also says why. A block that
//! included the transaction and lost to the finalized chain is reported retracted before
//! where the transaction is now. The subscription ends when the transaction is finalized,
//! replaced in the pool by another with its nonce and a higher tip (usurped), dropped by the
//! pool with a reason, or found invalid on the best state (another transaction took its nonce,
//! its fee can no longer be paid) and in none of the blocks since it was submitted.
//!
//! Not reported: a transaction sent through a para full node (which keeps no pool) that the
//! para's collators refuse, say because their pool is full; it waits until the watcher gives
//! up. Each RPC server follows at most [`MAX_WATCHERS`] transactions at once.

use super::methods::{error, parse_extrinsic};
use super::para::ParaRpc;
use crate::parachains::chain::{ParaTxError, TxEvent};
use crate::service::{ChainEvent, Shared};
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionSink};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tessera_runtime::executive::ValidTransaction;
use tessera_runtime::{Block, Hash, OpaqueExtrinsic};
use tokio::sync::broadcast::error::RecvError;

/// Most transactions one RPC server watches at once: each is checked again on every new
/// block until it is included.
pub(super) const MAX_WATCHERS: usize = 1_024;

/// Blocks below the last one searched that are searched again for a watched transaction (a
/// reorg may have put it in another block there).
const REORG_DEPTH: u32 = 16;

/// JSON-RPC's "too many subscriptions" code (as jsonrpsee uses it).
const TOO_MANY_SUBSCRIPTIONS: i32 = -32006;

/// What has become of a watched transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TxStatus {
    /// In the pool, ready for the next block.
    Ready,
    /// In the pool, waiting for an earlier nonce.
    Future,
    /// In a block of the best chain (for a para: included on the relay chain).
    InBlock(Included),
    /// In a finalized block.
    Finalized(Included),
    /// The block it was in left the best chain (it may be in a block again later).
    Retracted(Hash),
    /// Replaced in the pool by this transaction, with the same nonce and a higher tip.
    Usurped(Hash),
    /// It can never be included, and why.
    Invalid(String),
}

/// Where a transaction was included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Included {
    /// The block's hash.
    hash: Hash,
    /// The block's number.
    number: u32,
    /// The transaction's index in the block's body.
    index: usize,
}

/// Which subscription a status is sent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavour {
    /// `author_submitAndWatchExtrinsic`.
    Author,
    /// `transactionWatch_v1_submitAndWatch`.
    V1,
}

impl TxStatus {
    fn json(&self, flavour: Flavour) -> Value {
        let block = |at: &Included| json!({"hash": at.hash.to_string(), "index": at.index});
        match (flavour, self) {
            (Flavour::Author, TxStatus::Ready) => json!("ready"),
            (Flavour::Author, TxStatus::Future) => json!("future"),
            (Flavour::Author, TxStatus::InBlock(at)) => json!({"inBlock": at.hash.to_string()}),
            (Flavour::Author, TxStatus::Finalized(at)) => {
                json!({"finalized": at.hash.to_string()})
            }
            (Flavour::Author, TxStatus::Retracted(block)) => {
                json!({"retracted": block.to_string()})
            }
            (Flavour::Author, TxStatus::Usurped(by)) => json!({"usurped": by.to_string()}),
            (Flavour::Author, TxStatus::Invalid(_)) => json!("invalid"),
            (Flavour::V1, TxStatus::Ready | TxStatus::Future) => json!({"event": "validated"}),
            (Flavour::V1, TxStatus::InBlock(at)) => {
                json!({"event": "bestChainBlockIncluded", "block": block(at)})
            }
            // The new spec's way to say the best chain no longer includes it.
            (Flavour::V1, TxStatus::Retracted(_)) => {
                json!({"event": "bestChainBlockIncluded", "block": null})
            }
            (Flavour::V1, TxStatus::Finalized(at)) => {
                json!({"event": "finalized", "block": block(at)})
            }
            (Flavour::V1, TxStatus::Usurped(by)) => json!({
                "event": "invalid",
                "error": format!("replaced by {by}, with the same nonce and a higher tip"),
            }),
            (Flavour::V1, TxStatus::Invalid(reason)) => {
                json!({"event": "invalid", "error": reason})
            }
        }
    }

    /// The first status of a transaction the pool took.
    fn pooled(info: &ValidTransaction) -> Self {
        if info.nonce > info.next_nonce {
            TxStatus::Future
        } else {
            TxStatus::Ready
        }
    }

    /// Whether the subscription ends with this status.
    fn is_final(&self) -> bool {
        matches!(
            self,
            TxStatus::Finalized(_) | TxStatus::Usurped(_) | TxStatus::Invalid(_)
        )
    }
}

/// The watchers of one RPC server, counted against a limit ([`MAX_WATCHERS`] by default).
#[derive(Clone, Debug)]
pub(super) struct Watchers {
    taken: Arc<AtomicUsize>,
    limit: usize,
}

impl Default for Watchers {
    fn default() -> Self {
        Watchers::with_limit(MAX_WATCHERS)
    }
}

/// One watcher's place, given back when the watch ends.
pub(super) struct WatcherSlot(Arc<AtomicUsize>);

impl Watchers {
    /// Watchers of which at most `limit` run at once.
    pub(super) fn with_limit(limit: usize) -> Self {
        Watchers {
            taken: Arc::default(),
            limit,
        }
    }

    fn enter(&self) -> Result<WatcherSlot, ErrorObjectOwned> {
        self.enter_for("transactions")
    }

    /// A place for one more subscription that follows `what` (a counter of its own per
    /// kind), or the error a caller gets when [`MAX_WATCHERS`] are taken.
    pub(super) fn enter_for(&self, what: &str) -> Result<WatcherSlot, ErrorObjectOwned> {
        let taken = self.taken.fetch_add(1, Ordering::AcqRel);
        let slot = WatcherSlot(self.taken.clone());
        if taken >= self.limit {
            return Err(error(
                TOO_MANY_SUBSCRIPTIONS,
                format!("this node already follows {} {what}", self.limit),
            ));
        }
        Ok(slot)
    }
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A subscription's sink and the flavour it speaks.
struct StatusSink {
    sink: SubscriptionSink,
    flavour: Flavour,
}

impl StatusSink {
    /// Sends `status`; whether the subscription ends with it.
    async fn send(&self, status: &TxStatus) -> Result<bool, jsonrpsee::core::SubscriptionError> {
        let value = serde_json::value::to_raw_value(&status.json(self.flavour))?;
        self.sink.send(value).await?;
        Ok(status.is_final())
    }
}

/// A watch's place and the extrinsic in its one parameter (the hex of its SCALE encoding).
fn start(
    watchers: &Watchers,
    params: &Params<'static>,
) -> Result<(WatcherSlot, OpaqueExtrinsic), ErrorObjectOwned> {
    let slot = watchers.enter()?;
    let text: String = params.one()?;
    Ok((slot, parse_extrinsic(&text)?))
}

/// Where `hash` is in `block`'s body, if it is.
fn position(block: &Block, hash: &Hash) -> Option<Included> {
    let index = block.extrinsics.iter().position(|xt| xt.hash() == *hash)?;
    Some(Included {
        hash: block.header.hash(),
        number: block.header.number,
        index,
    })
}

/// Searches the canonical blocks from `searched` (less [`REORG_DEPTH`]) up to the head for
/// the transaction `hash`, moving `searched` on; where it is, if anywhere.
fn search(
    hash: &Hash,
    searched: &mut u32,
    head: u32,
    block_at: impl Fn(u32) -> Option<Block>,
) -> Option<Included> {
    let from = searched.saturating_sub(REORG_DEPTH).saturating_add(1);
    *searched = head;
    (from..=head).find_map(|number| position(&block_at(number)?, hash))
}

/// Submits a relay transaction and follows it.
pub(super) async fn watch_relay(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    shared: &Arc<Shared>,
    watchers: &Watchers,
    flavour: Flavour,
) -> SubscriptionResult {
    let (_slot, xt) = match start(watchers, &params) {
        Ok(checked) => checked,
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    // Subscribe before submitting, so the block including it cannot be missed.
    let mut events = shared.subscribe();
    let mut searched = shared.client().info().map_or(0, |meta| meta.best_number);
    let submitted = super::methods::submit_checked(shared, xt.clone()).await;
    let (hash, info) = match submitted {
        Ok(admitted) => (admitted.hash, admitted.info),
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    let sink = StatusSink {
        sink: pending.accept().await?,
        flavour,
    };
    sink.send(&TxStatus::pooled(&info)).await?;
    let mut included: Option<Included> = None;
    // A block that included it and lost, to report before what follows.
    let mut retracted: Option<Hash> = None;
    // Where the transaction is on the best chain, else whether it is still valid there; none
    // while events of blocks not looked at yet are queued.
    let settle = |searched: &mut u32, events_queued: bool| -> Option<TxStatus> {
        let client = shared.client();
        if events_queued {
            return None;
        }
        let best = client.info().ok()?.best_number;
        let store = client.store();
        let block_at = |number| {
            let at = store.canonical_hash(number).ok()??;
            let header = store.header(&at).ok()??;
            let extrinsics = store.body(&at).ok()??;
            Some(Block { header, extrinsics })
        };
        if let Some(at) = search(&hash, searched, best, block_at) {
            return Some(TxStatus::InBlock(at));
        }
        match client.revalidate(&xt) {
            Err(crate::pool::PoolError::Invalid(reason)) => {
                Some(TxStatus::Invalid(reason.to_string()))
            }
            _ => None,
        }
    };
    loop {
        let event = tokio::select! {
            () = sink.sink.closed() => return Ok(()),
            event = events.recv() => event,
        };
        let status = match event {
            Ok(ChainEvent::Imported {
                header, extrinsics, ..
            }) if included.is_none() && extrinsics.contains(&hash) => {
                let index = extrinsics.iter().position(|x| *x == hash).unwrap_or(0);
                Some(TxStatus::InBlock(Included {
                    hash: header.hash(),
                    number: header.number,
                    index,
                }))
            }
            Ok(ChainEvent::TxReplaced { hash: old, by }) if old == hash => {
                Some(TxStatus::Usurped(by))
            }
            // Once a block holds it, its pool entry goes as stale wherever another node's
            // block took it (a gossiped transaction): that is no refusal.
            Ok(ChainEvent::TxDropped {
                hash: dropped,
                reason,
            }) if dropped == hash && included.is_none() => Some(TxStatus::Invalid(reason)),
            Ok(ChainEvent::Imported { best: true, .. }) | Err(RecvError::Lagged(_))
                if included.is_none() =>
            {
                settle(&mut searched, !events.is_empty())
            }
            Ok(ChainEvent::Finalized(header)) => match included {
                Some(at) if header.number >= at.number => {
                    let canonical = shared.client().store().canonical_hash(at.number)?;
                    if canonical == Some(at.hash) {
                        Some(TxStatus::Finalized(at))
                    } else {
                        // Its block lost to the finalized chain: where is it now?
                        retracted = Some(at.hash);
                        included = None;
                        searched = at.number.saturating_sub(1);
                        settle(&mut searched, false)
                    }
                }
                _ => None,
            },
            Ok(_) | Err(RecvError::Lagged(_)) => None,
            Err(RecvError::Closed) => return Ok(()),
        };
        if let Some(block) = retracted.take() {
            sink.send(&TxStatus::Retracted(block)).await?;
        }
        if let Some(status) = status {
            if let TxStatus::InBlock(at) = status {
                included = Some(at);
            }
            if sink.send(&status).await? {
                return Ok(());
            }
        }
    }
}

/// Submits a para transaction and follows it: in a block once the relay chain includes it,
/// finalized once the relay block that included it is.
pub(super) async fn watch_para(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    rpc: Arc<ParaRpc>,
    flavour: Flavour,
) -> SubscriptionResult {
    let (_slot, xt) = match start(&rpc.watchers, &params) {
        Ok(checked) => checked,
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    let (mut events, mut searched) = {
        let view = rpc.view();
        (view.tx_events(), view.head().number)
    };
    let mut relay_events = rpc.relay.subscribe();
    let submitted = match rpc.submit(xt.clone()) {
        Ok(submitted) => submitted,
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    let hash = submitted.hash;
    let sink = StatusSink {
        sink: pending.accept().await?,
        flavour,
    };
    sink.send(&TxStatus::pooled(&submitted.info)).await?;
    let mut included: Option<Included> = None;
    // A block that included it and lost, to report before what follows.
    let mut retracted: Option<Hash> = None;
    // As the relay's: where it is on the para's chain, else whether it is still valid.
    let settle = |searched: &mut u32, events: &tokio::sync::broadcast::Receiver<TxEvent>| {
        let view = rpc.view();
        // Events are sent under this lock: none queued means none missed.
        if !events.is_empty() {
            return None;
        }
        let block_at = |number| view.block(&view.canonical_hash(number)?);
        if let Some(at) = search(&hash, searched, view.head().number, block_at) {
            return Some(TxStatus::InBlock(at));
        }
        match view.revalidate(&xt) {
            Err(ParaTxError::Invalid(reason)) => Some(TxStatus::Invalid(reason.to_string())),
            Ok(()) | Err(_) => None,
        }
    };
    loop {
        let status = tokio::select! {
            () = sink.sink.closed() => return Ok(()),
            event = events.recv() => match event {
                Ok(TxEvent::Included { number, hash: block, extrinsics })
                    if included.is_none() && extrinsics.contains(&hash) =>
                {
                    let index = extrinsics.iter().position(|x| *x == hash).unwrap_or(0);
                    Some(TxStatus::InBlock(Included { hash: block, number, index }))
                }
                Ok(TxEvent::Dropped { hash: dropped, reason }) if dropped == hash => {
                    Some(TxStatus::Invalid(reason.to_string()))
                }
                Ok(TxEvent::Replaced { hash: old, by }) if old == hash => {
                    Some(TxStatus::Usurped(by))
                }
                Ok(TxEvent::Included { .. }) | Err(RecvError::Lagged(_))
                    if included.is_none() =>
                {
                    settle(&mut searched, &events)
                }
                // A relay reorg took its block back: where is it now?
                Ok(TxEvent::Included { .. }) | Err(RecvError::Lagged(_))
                    if included.is_some_and(|at| {
                        rpc.view().canonical_hash(at.number) != Some(at.hash)
                    }) =>
                {
                    searched = included.map_or(0, |at| at.number.saturating_sub(1));
                    retracted = included.map(|at| at.hash);
                    included = None;
                    settle(&mut searched, &events)
                }
                Ok(_) | Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => return Ok(()),
            },
            event = relay_events.recv() => match (event, included) {
                (Ok(ChainEvent::Finalized(_)) | Err(RecvError::Lagged(_)), Some(at)) => {
                    match rpc.finality_of(&at.hash, at.number)? {
                        Finality::Final => Some(TxStatus::Finalized(at)),
                        Finality::Pending => None,
                        Finality::Lost => {
                            // Its block is not in the finalized chain: where is it now?
                            retracted = Some(at.hash);
                            included = None;
                            searched = at.number.saturating_sub(1);
                            settle(&mut searched, &events)
                        }
                    }
                }
                (Err(RecvError::Closed), _) => return Ok(()),
                _ => None,
            },
        };
        if let Some(block) = retracted.take() {
            sink.send(&TxStatus::Retracted(block)).await?;
        }
        if let Some(status) = status {
            if let TxStatus::InBlock(at) = status {
                included = Some(at);
            }
            if sink.send(&status).await? {
                return Ok(());
            }
        }
    }
}

/// Whether a para block is final.
pub(super) enum Finality {
    /// In the para's chain as of the relay's finalized block.
    Final,
    /// Above it.
    Pending,
    /// At or below it, but not in it: on a branch that lost.
    Lost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_speak_both_flavours() {
        let at = Included {
            hash: Hash([7; 32]),
            number: 3,
            index: 2,
        };
        let block = at.hash.to_string();
        let in_block = TxStatus::InBlock(at);
        assert_eq!(in_block.json(Flavour::Author), json!({"inBlock": block}));
        assert_eq!(
            in_block.json(Flavour::V1),
            json!({"event": "bestChainBlockIncluded", "block": {"hash": block, "index": 2}})
        );
        let invalid = TxStatus::Invalid("stale".into());
        assert_eq!(invalid.json(Flavour::Author), json!("invalid"));
        assert_eq!(
            invalid.json(Flavour::V1),
            json!({"event": "invalid", "error": "stale"})
        );
        let retracted = TxStatus::Retracted(Hash([8; 32]));
        assert_eq!(
            retracted.json(Flavour::Author),
            json!({"retracted": Hash([8; 32]).to_string()})
        );
        assert_eq!(
            retracted.json(Flavour::V1),
            json!({"event": "bestChainBlockIncluded", "block": null})
        );
        assert!(!retracted.is_final());
        let usurped = TxStatus::Usurped(Hash([9; 32]));
        assert_eq!(
            usurped.json(Flavour::Author),
            json!({"usurped": Hash([9; 32]).to_string()})
        );
        assert_eq!(usurped.json(Flavour::V1)["event"], "invalid");
        assert_eq!(TxStatus::Ready.json(Flavour::Author), json!("ready"));
        assert_eq!(
            TxStatus::Future.json(Flavour::V1),
            json!({"event": "validated"})
        );
        assert!(!in_block.is_final() && invalid.is_final() && usurped.is_final());
    }

    #[test]
    fn a_search_looks_again_below_where_it_stopped_and_moves_on() {
        let xt = OpaqueExtrinsic(vec![1, 2, 3]);
        let block = |number: u32| {
            let extrinsics = if number == 5 {
                vec![xt.clone()]
            } else {
                Vec::new()
            };
            Some(Block {
                header: tessera_runtime::Header {
                    parent_hash: Hash::ZERO,
                    number,
                    state_root: Hash::ZERO,
                    extrinsics_root: Hash::ZERO,
                    digest: Default::default(),
                },
                extrinsics,
            })
        };
        let mut searched = 30;
        assert_eq!(search(&xt.hash(), &mut searched, 40, block), None);
        assert_eq!(searched, 40);
        let mut searched = 10;
        let found = search(&xt.hash(), &mut searched, 12, block).unwrap();
        assert_eq!((found.number, found.index), (5, 0));
    }
}
