//! Watching a submitted transaction until it is finalized or can never be, for the relay
//! chain and for paras.
//!
//! Two subscriptions carry the same statuses: Substrate's `author_submitAndWatchExtrinsic`
//! (`"ready"`, `{"inBlock": hash}`, `{"finalized": hash}`, `"invalid"`, `"dropped"`), which
//! wallets know, and the JSON-RPC spec's `transactionWatch_v1_submitAndWatch`, whose `invalid`
//! and `dropped` events also say why. A watched transaction that becomes invalid while it
//! waits (another transaction took its nonce, its fee can no longer be paid) is reported as
//! such and the subscription ends: nothing vanishes silently.

use super::methods::{error, parse_hex, POOL_INVALID_TX};
use super::para::ParaRpc;
use crate::parachains::chain::{ParaTxError, TxEvent};
use crate::service::{ChainEvent, Shared};
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionSink};
use parity_scale_codec::Decode;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_runtime::executive::ValidTransaction;
use tessera_runtime::{Hash, OpaqueExtrinsic};
use tokio::sync::broadcast::error::RecvError;

/// What has become of a watched transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TxStatus {
    /// In the pool, ready for the next block.
    Ready,
    /// In the pool, waiting for an earlier nonce.
    Future,
    /// In a block of the best chain (for a para: included on the relay chain).
    InBlock {
        /// The block.
        hash: Hash,
        /// Its number.
        number: u32,
    },
    /// In a finalized block.
    Finalized {
        /// The block.
        hash: Hash,
        /// Its number.
        number: u32,
    },
    /// It can never be included, and why.
    Invalid(String),
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
        let block = |hash: &Hash, number: &u32| json!({"hash": hash.to_string(), "index": number});
        match (flavour, self) {
            (Flavour::Author, TxStatus::Ready) => json!("ready"),
            (Flavour::Author, TxStatus::Future) => json!("future"),
            (Flavour::Author, TxStatus::InBlock { hash, .. }) => {
                json!({"inBlock": hash.to_string()})
            }
            (Flavour::Author, TxStatus::Finalized { hash, .. }) => {
                json!({"finalized": hash.to_string()})
            }
            (Flavour::Author, TxStatus::Invalid(_)) => json!("invalid"),
            (Flavour::V1, TxStatus::Ready | TxStatus::Future) => json!({"event": "validated"}),
            (Flavour::V1, TxStatus::InBlock { hash, number }) => {
                json!({"event": "bestChainBlockIncluded", "block": block(hash, number)})
            }
            (Flavour::V1, TxStatus::Finalized { hash, number }) => {
                json!({"event": "finalized", "block": block(hash, number)})
            }
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
}

/// A subscription's sink and the flavour it speaks.
struct StatusSink {
    sink: SubscriptionSink,
    flavour: Flavour,
}

impl StatusSink {
    async fn send(&self, status: &TxStatus) -> SubscriptionResult {
        let value = serde_json::value::to_raw_value(&status.json(self.flavour))?;
        self.sink.send(value).await?;
        Ok(())
    }
}

/// The extrinsic in the subscription's one parameter: the hex of its SCALE encoding.
fn extrinsic(params: &Params<'static>) -> Result<OpaqueExtrinsic, ErrorObjectOwned> {
    let text: String = params.one()?;
    let bytes = parse_hex(&text)?;
    OpaqueExtrinsic::decode(&mut &bytes[..])
        .ok()
        .filter(|xt| parity_scale_codec::Encode::encoded_size(xt) == bytes.len())
        .ok_or_else(|| {
            error(
                POOL_INVALID_TX,
                "Invalid Transaction: not a length-prefixed extrinsic",
            )
        })
}

/// Submits a relay transaction and follows it.
pub(super) async fn watch_relay(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    shared: &Shared,
    flavour: Flavour,
) -> SubscriptionResult {
    let xt = match extrinsic(&params) {
        Ok(xt) => xt,
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    // Subscribe before submitting, so the block including it cannot be missed.
    let mut events = shared.subscribe();
    let (hash, info) = match super::methods::submit_checked(shared, xt.clone()) {
        Ok(submitted) => submitted,
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
    let mut included: Option<(Hash, u32)> = None;
    loop {
        let event = tokio::select! {
            () = sink.sink.closed() => return Ok(()),
            event = events.recv() => event,
        };
        let still_valid = || match shared.client().revalidate(&xt) {
            Err(crate::pool::PoolError::Invalid(reason)) => Err(reason.to_string()),
            _ => Ok(()),
        };
        match event {
            Ok(ChainEvent::Imported {
                header, extrinsics, ..
            }) if extrinsics.contains(&hash) => {
                let (block, number) = (header.hash(), header.number);
                included = Some((block, number));
                sink.send(&TxStatus::InBlock {
                    hash: block,
                    number,
                })
                .await?;
            }
            Ok(ChainEvent::Imported { best: true, .. }) | Err(RecvError::Lagged(_))
                if included.is_none() =>
            {
                if let Err(reason) = still_valid() {
                    sink.send(&TxStatus::Invalid(reason)).await?;
                    return Ok(());
                }
            }
            Ok(ChainEvent::Finalized(header)) => {
                let Some((block, number)) = included else {
                    continue;
                };
                let canonical = shared.client().store().canonical_hash(number)?;
                if header.number >= number && canonical == Some(block) {
                    sink.send(&TxStatus::Finalized {
                        hash: block,
                        number,
                    })
                    .await?;
                    return Ok(());
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return Ok(()),
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
    let xt = match extrinsic(&params) {
        Ok(xt) => xt,
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    let mut events = rpc.view().tx_events();
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
    let mut included: Option<(Hash, u32)> = None;
    loop {
        tokio::select! {
            () = sink.sink.closed() => return Ok(()),
            event = events.recv() => {
                let still_valid = || match rpc.view().revalidate(&xt) {
                    Err(ParaTxError::Invalid(reason)) => Err(reason.to_string()),
                    Ok(()) | Err(_) => Ok(()),
                };
                match event {
                    Ok(TxEvent::Included { number, hash: block, extrinsics })
                        if extrinsics.contains(&hash) =>
                    {
                        included = Some((block, number));
                        sink.send(&TxStatus::InBlock { hash: block, number }).await?;
                    }
                    Ok(TxEvent::Dropped { hash: dropped, reason }) if dropped == hash => {
                        sink.send(&TxStatus::Invalid(reason.to_string())).await?;
                        return Ok(());
                    }
                    Ok(TxEvent::Included { .. }) | Err(RecvError::Lagged(_))
                        if included.is_none() =>
                    {
                        if let Err(reason) = still_valid() {
                            sink.send(&TxStatus::Invalid(reason)).await?;
                            return Ok(());
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
            event = relay_events.recv() => {
                let Some((block, number)) = included else { continue };
                match event {
                    Ok(ChainEvent::Finalized(_)) | Err(RecvError::Lagged(_)) => {
                        if rpc.is_finalized(&block, number)? {
                            sink.send(&TxStatus::Finalized { hash: block, number }).await?;
                            return Ok(());
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_speak_both_flavours() {
        let block = Hash([7; 32]);
        let in_block = TxStatus::InBlock {
            hash: block,
            number: 3,
        };
        assert_eq!(
            in_block.json(Flavour::Author),
            json!({"inBlock": block.to_string()})
        );
        assert_eq!(
            in_block.json(Flavour::V1),
            json!({"event": "bestChainBlockIncluded", "block": {"hash": block.to_string(), "index": 3}})
        );
        let invalid = TxStatus::Invalid("stale".into());
        assert_eq!(invalid.json(Flavour::Author), json!("invalid"));
        assert_eq!(
            invalid.json(Flavour::V1),
            json!({"event": "invalid", "error": "stale"})
        );
        assert_eq!(TxStatus::Ready.json(Flavour::Author), json!("ready"));
        assert_eq!(
            TxStatus::Future.json(Flavour::V1),
            json!({"event": "validated"})
        );
    }
}
