//! Signing and submitting calls to a node over its WebSocket RPC, and following them until a
//! block includes or finalizes them: what `tessera xcm` and `tessera para` share.

use anyhow::{anyhow, bail, Context};
use jsonrpsee_core::client::{ClientT, Error as ClientError, Subscription, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::{WsClient, WsClientBuilder};
use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::{DispatchError, EventRecord, ModuleError, Phase};
use tessera_runtime::extrinsic::{ChainContext, Era, Extrinsic, SignedExtra};
use tessera_runtime::modules::system;
use tessera_runtime::wasm::VersionInfo;
use tessera_runtime::{Hash, Nonce};

/// Substrate's pool code for "a transaction with this nonce is already in the pool".
const NONCE_TAKEN: i32 = 1014;

/// A node's RPC, and what kind of chain it serves.
pub(super) struct Chain {
    client: WsClient,
    /// The para it serves, or none for the relay chain.
    pub(super) para: Option<u32>,
}

/// A transaction a block included: the block's hash and the transaction's index in it.
#[derive(Debug)]
pub(super) struct Included {
    /// The block.
    pub(super) block: Hash,
    /// Its index in the block's body.
    pub(super) index: u32,
}

impl Chain {
    /// Connects to the node at `url`.
    pub(super) async fn connect(url: &str) -> anyhow::Result<Chain> {
        let client = WsClientBuilder::default()
            .build(url)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let name: String = client.request("system_chain", rpc_params![]).await?;
        let para = name.strip_prefix("para ").and_then(|id| id.parse().ok());
        Ok(Chain { client, para })
    }

    /// The node's RPC client.
    pub(super) fn client(&self) -> &WsClient {
        &self.client
    }

    /// `error` as people read it: a module error named from the chain's metadata at block
    /// `at` (`Registrar: NotManager`), as Substrate clients name it; other errors, or one the
    /// metadata does not name, as they are.
    pub(super) async fn describe(&self, error: &DispatchError, at: Hash) -> String {
        let DispatchError::Module(module) = error else {
            return error.to_string();
        };
        match self.module_error_name(module, at).await {
            Ok(Some((module, name))) => format!("{module}: {name}"),
            Ok(None) | Err(_) => error.to_string(),
        }
    }

    async fn module_error_name(
        &self,
        error: &ModuleError,
        at: Hash,
    ) -> anyhow::Result<Option<(String, String)>> {
        use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
        let text: String = self
            .client
            .request("state_getMetadata", rpc_params![at.to_string()])
            .await?;
        let bytes = hex::decode(text.trim_start_matches("0x"))?;
        // The module's name and error type, in V14 (what Substrate nodes serve here) or V15.
        let metadata = RuntimeMetadataPrefixed::decode(&mut &bytes[..])?.1;
        let (module, types) = match &metadata {
            RuntimeMetadata::V14(m) => (
                m.pallets
                    .iter()
                    .find(|p| p.index == error.index)
                    .map(|p| (&p.name, p.error.as_ref().map(|e| e.ty.id))),
                &m.types,
            ),
            RuntimeMetadata::V15(m) => (
                m.pallets
                    .iter()
                    .find(|p| p.index == error.index)
                    .map(|p| (&p.name, p.error.as_ref().map(|e| e.ty.id))),
                &m.types,
            ),
            _ => return Ok(None),
        };
        let Some((name, Some(errors))) = module else {
            return Ok(None);
        };
        let Some(scale_info::TypeDef::Variant(errors)) =
            types.resolve(errors).map(|ty| &ty.type_def)
        else {
            return Ok(None);
        };
        Ok(errors
            .variants
            .iter()
            .find(|variant| variant.index == error.error[0])
            .map(|variant| (name.clone(), variant.name.clone())))
    }

    /// The value under `key` at block `at` (the best block if none), or the default.
    pub(super) async fn storage_at<T: Decode + Default>(
        &self,
        key: &[u8],
        at: Option<Hash>,
    ) -> anyhow::Result<T> {
        Ok(self.storage_opt(key, at).await?.unwrap_or_default())
    }

    /// The value under `key` at block `at` (the best block if none), if set.
    pub(super) async fn storage_opt<T: Decode>(
        &self,
        key: &[u8],
        at: Option<Hash>,
    ) -> anyhow::Result<Option<T>> {
        let key = format!("0x{}", hex::encode(key));
        let value: Option<String> = match at {
            Some(at) => {
                self.client
                    .request("state_getStorage", rpc_params![key, at.to_string()])
                    .await?
            }
            None => {
                self.client
                    .request("state_getStorage", rpc_params![key])
                    .await?
            }
        };
        let Some(value) = value else {
            return Ok(None);
        };
        let bytes = hex::decode(value.trim_start_matches("0x"))?;
        T::decode(&mut &bytes[..])
            .map(Some)
            .map_err(|err| anyhow!("unexpected storage value: {err}"))
    }

    /// The value under `key` at the best block, or the default.
    pub(super) async fn storage<T: Decode + Default>(&self, key: &[u8]) -> anyhow::Result<T> {
        self.storage_at(key, None).await
    }

    /// The events the transaction at `included` deposited (its call's, and the fee's).
    pub(super) async fn events_of<E: Decode>(&self, included: &Included) -> anyhow::Result<Vec<E>> {
        let records: Vec<EventRecord<E>> = self
            .storage_at(&system::events_key(), Some(included.block))
            .await
            .context("reading the including block's events")?;
        Ok(records
            .into_iter()
            .filter(|record| record.phase == Phase::ApplyExtrinsic(included.index))
            .map(|record| record.event)
            .collect())
    }

    /// The version of the runtime at block `at` (the best block if none; a para node says its
    /// head's).
    pub(super) async fn runtime_version(&self, at: Option<Hash>) -> anyhow::Result<VersionInfo> {
        let version: Value = match at {
            Some(at) => {
                self.client
                    .request("state_getRuntimeVersion", rpc_params![at.to_string()])
                    .await?
            }
            None => {
                self.client
                    .request("state_getRuntimeVersion", rpc_params![])
                    .await?
            }
        };
        let spec_name = version["specName"].as_str();
        let number = |field: &str| version[field].as_u64().and_then(|v| u32::try_from(v).ok());
        match (
            spec_name,
            number("specVersion"),
            number("transactionVersion"),
        ) {
            (Some(name), Some(spec_version), Some(transaction_version)) => Ok(VersionInfo {
                spec_name: name.into(),
                spec_version,
                transaction_version,
            }),
            _ => bail!("the node did not say its runtime version: {version}"),
        }
    }

    /// Whether `who`'s next nonce is past `used` now.
    async fn nonce_moved(&self, who: &tessera_runtime::AccountId, used: Nonce) -> bool {
        let next: Result<Nonce, _> = self
            .client
            .request("system_accountNextIndex", rpc_params![who.to_ss58(42)])
            .await;
        next.is_ok_and(|next| next > used)
    }

    /// Signs `call` from `pair` with the account's next nonce (after what the node's pool
    /// holds) and submits it watched; follow it with [`Submitted::wait_for`].
    pub(super) async fn submit<'a, C: Encode + Decode + Clone>(
        &'a self,
        pair: &'a Pair,
        call: C,
    ) -> anyhow::Result<Submitted<'a, C>> {
        let genesis: String = self
            .client
            .request("chain_getBlockHash", rpc_params![0])
            .await?;
        let genesis_hash: Hash = genesis
            .parse()
            .map_err(|_| anyhow!("bad genesis hash {genesis}"))?;
        let version = self.runtime_version(None).await?;
        let context = ChainContext {
            spec_version: version.spec_version,
            transaction_version: version.transaction_version,
            genesis_hash,
            birth_hash: genesis_hash,
        };
        let account: system::AccountInfo =
            self.storage(&system::ACCOUNT.key(&pair.public())).await?;
        let (watch, nonce) = self.sign_and_watch(pair, &call, &context).await?;
        Ok(Submitted {
            chain: self,
            pair,
            call,
            context,
            watch,
            nonce,
            pending: nonce.saturating_sub(account.nonce),
        })
    }

    /// Signs `call` with the account's next nonce and submits it watched; the watch and the
    /// nonce. Another transaction of the signer may take the nonce between reading and
    /// submitting (the node says so with Substrate's code 1014, or calls it stale): then the
    /// nonce is read again.
    async fn sign_and_watch<C: Encode + Decode + Clone>(
        &self,
        pair: &Pair,
        call: &C,
        context: &ChainContext,
    ) -> anyhow::Result<(Subscription<Value>, Nonce)> {
        let who = pair.public();
        let mut attempt = 0;
        loop {
            let nonce: Nonce = self
                .client
                .request("system_accountNextIndex", rpc_params![who.to_ss58(42)])
                .await?;
            let extra = SignedExtra {
                era: Era::Immortal,
                nonce,
                tip: 0,
            };
            let xt = Extrinsic::signed(pair, call.clone(), extra, context).to_opaque();
            let submitted = self
                .client
                .subscribe::<Value, _>(
                    "transactionWatch_v1_submitAndWatch",
                    rpc_params![format!("0x{}", hex::encode(xt.encode()))],
                    "transactionWatch_v1_unwatch",
                )
                .await;
            match submitted {
                Ok(watch) => return Ok((watch, nonce)),
                Err(ClientError::Call(err)) if err.code() == NONCE_TAKEN && attempt < RESIGNS => {
                    attempt += 1;
                }
                Err(ClientError::Call(err))
                    if attempt < RESIGNS && self.nonce_moved(&who, nonce).await =>
                {
                    tracing::debug!(
                        reason = err.message(),
                        "nonce taken meanwhile; signing again"
                    );
                    attempt += 1;
                }
                Err(ClientError::Call(err)) => {
                    bail!("the node refused the transaction: {}", err.message())
                }
                Err(err) => return Err(err).context("submitting the transaction"),
            }
        }
    }
}

/// How many times a transaction whose nonce another one of the signer took is signed again.
const RESIGNS: u32 = 3;

/// A signed call the node accepted, watched until a block holds it.
pub(super) struct Submitted<'a, C> {
    chain: &'a Chain,
    pair: &'a Pair,
    call: C,
    context: ChainContext,
    watch: Subscription<Value>,
    nonce: Nonce,
    /// How many earlier transactions of the account were pending in the node's pool.
    pub(super) pending: Nonce,
}

impl<C: Encode + Decode + Clone> Submitted<'_, C> {
    /// Follows the transaction until it is `settled`. Fails with the node's reason if it became
    /// invalid or was dropped, and after `timeout` seconds. One that became invalid before any
    /// block held it because another transaction of the signer took its nonce (the dev network's
    /// workload signs with the dev accounts too) never runs: it is signed again with the next
    /// nonce, the call unchanged.
    pub(super) async fn wait_for(
        &mut self,
        settled: Settled,
        timeout: u64,
    ) -> anyhow::Result<Included> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
        let (mut included_once, mut resigned) = (false, 0);
        loop {
            let event = match tokio::time::timeout_at(deadline, self.watch.next()).await {
                Err(_) if settled == Settled::Finalized => {
                    bail!("the transaction was not in a finalized block after {timeout} s")
                }
                Err(_) => bail!("the transaction was not included in a block after {timeout} s"),
                Ok(None) => bail!("the node closed the transaction's subscription"),
                Ok(Some(event)) => event.context("unexpected transaction event")?,
            };
            let kind = event["event"].as_str();
            match kind {
                Some("bestChainBlockIncluded") if settled == Settled::Finalized => {
                    included_once |= !event["block"].is_null();
                }
                Some("bestChainBlockIncluded") | Some("finalized") => {
                    let block = event["block"]["hash"].as_str().and_then(|h| h.parse().ok());
                    let index = event["block"]["index"]
                        .as_u64()
                        .and_then(|i| u32::try_from(i).ok());
                    if let (Some(block), Some(index)) = (block, index) {
                        return Ok(Included { block, index });
                    }
                }
                Some("invalid")
                    if !included_once
                        && resigned < RESIGNS
                        && self
                            .chain
                            .nonce_moved(&self.pair.public(), self.nonce)
                            .await =>
                {
                    resigned += 1;
                    println!(
                        "note: another transaction of the account took nonce {} first; signing \
                         again",
                        self.nonce
                    );
                    (self.watch, self.nonce) = self
                        .chain
                        .sign_and_watch(self.pair, &self.call, &self.context)
                        .await?;
                }
                Some(kind @ ("invalid" | "dropped" | "error")) => {
                    let reason = event["error"].as_str().unwrap_or("no reason given");
                    bail!("the transaction is {kind}: {reason}");
                }
                _ => {}
            }
        }
    }
}

/// How settled a watched transaction must be before [`Submitted::wait_for`] returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    /// In a block of the best chain (which a reorg may still take back).
    InBestBlock,
    /// In a finalized block.
    Finalized,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee::server::Server;
    use jsonrpsee::types::Params;
    use jsonrpsee::RpcModule;
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use tessera_runtime::OpaqueExtrinsic;

    /// A node's answers: the account's next nonce, and the events each submission's watch
    /// sends, in order.
    #[derive(Default)]
    struct Node {
        next_nonce: Nonce,
        /// What the account's next nonce becomes once a transaction is submitted (another
        /// transaction of the account took the nonce meanwhile), if it moves.
        moved_to: Option<Nonce>,
        watches: Vec<Vec<Value>>,
        /// The nonce and call of each submitted transaction.
        submitted: Vec<(Nonce, Vec<u8>)>,
    }

    async fn serve(node: Node) -> (Chain, Arc<Mutex<Node>>, jsonrpsee::server::ServerHandle) {
        let node = Arc::new(Mutex::new(node));
        let mut module = RpcModule::new(node.clone());
        module
            .register_method("system_chain", |_, _, _| "tessera-dev")
            .unwrap();
        module
            .register_method("chain_getBlockHash", |_, _, _| Hash::default().to_string())
            .unwrap();
        module
            .register_method(
                "state_getRuntimeVersion",
                |_, _, _| {
                    json!({"specName": "tessera-relay", "specVersion": 1, "transactionVersion": 1})
                },
            )
            .unwrap();
        module
            .register_method("state_getStorage", |_, _, _| Value::Null)
            .unwrap();
        module
            .register_method("system_accountNextIndex", |_, node, _| {
                node.lock().unwrap().next_nonce
            })
            .unwrap();
        module
            .register_subscription(
                "transactionWatch_v1_submitAndWatch",
                "transactionWatch_v1_watchEvent",
                "transactionWatch_v1_unwatch",
                |params: Params<'static>, pending, node, _| async move {
                    let text: String = params.one()?;
                    let bytes = hex::decode(text.trim_start_matches("0x"))?;
                    let opaque = OpaqueExtrinsic::decode(&mut &bytes[..])?;
                    let xt = Extrinsic::<Vec<u8>>::decode_exact(&opaque.0)?;
                    let nonce = xt.signature.map_or(0, |s| s.extra.nonce);
                    let events = {
                        let mut node = node.lock().unwrap();
                        let index = node.submitted.len();
                        node.submitted.push((nonce, xt.call));
                        if let Some(moved) = node.moved_to.take() {
                            node.next_nonce = moved;
                        }
                        node.watches.get(index).cloned().unwrap_or_default()
                    };
                    let sink = pending.accept().await?;
                    for event in events {
                        sink.send(serde_json::value::to_raw_value(&event)?).await?;
                    }
                    // Keep the subscription open, as a node does until the transaction settles.
                    sink.closed().await;
                    Ok(())
                },
            )
            .unwrap();
        let server = Server::builder().build("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.start(module);
        let chain = Chain::connect(&format!("ws://{addr}")).await.unwrap();
        (chain, node, handle)
    }

    fn included(kind: &str) -> Value {
        json!({"event": kind, "block": {"hash": Hash::default().to_string(), "index": 1}})
    }

    fn invalid(reason: &str) -> Value {
        json!({"event": "invalid", "error": reason})
    }

    #[tokio::test]
    async fn a_transaction_whose_nonce_another_took_first_is_signed_again_with_the_next() {
        let node = Node {
            next_nonce: 8,
            moved_to: Some(10),
            watches: vec![
                vec![invalid("nonce 8 is stale: the account's next nonce is 10")],
                vec![included("bestChainBlockIncluded"), included("finalized")],
            ],
            ..Node::default()
        };
        let (chain, node, _server) = serve(node).await;
        let pair = Pair::dev("Bob");
        let mut submitted = chain.submit(&pair, b"reserve".to_vec()).await.unwrap();
        let included = submitted.wait_for(Settled::Finalized, 10).await.unwrap();
        assert_eq!(included.index, 1);
        let call = b"reserve".to_vec();
        assert_eq!(
            node.lock().unwrap().submitted,
            [(8, call.clone()), (10, call)]
        );
    }

    /// What waiting for Bob's transaction on `node` fails with, and how many were submitted.
    async fn refused(node: Node) -> (String, usize) {
        let (chain, node, _server) = serve(node).await;
        let pair = Pair::dev("Bob");
        let mut submitted = chain.submit(&pair, b"reserve".to_vec()).await.unwrap();
        let err = submitted
            .wait_for(Settled::Finalized, 10)
            .await
            .unwrap_err();
        let count = node.lock().unwrap().submitted.len();
        (err.to_string(), count)
    }

    #[tokio::test]
    async fn a_transaction_invalid_for_another_reason_or_after_a_block_held_it_is_not_resent() {
        // Its nonce did not move: the reason is the transaction's own.
        let (err, submitted) = refused(Node {
            next_nonce: 8,
            watches: vec![vec![invalid("cannot pay the fee")]],
            ..Node::default()
        })
        .await;
        assert!(err.contains("cannot pay the fee"), "{err}");
        assert_eq!(submitted, 1);

        // A best block held it before (a reorg took it back): it may still be final elsewhere.
        let (err, submitted) = refused(Node {
            next_nonce: 8,
            moved_to: Some(9),
            watches: vec![vec![included("bestChainBlockIncluded"), invalid("stale")]],
            ..Node::default()
        })
        .await;
        assert!(err.contains("invalid: stale"), "{err}");
        assert_eq!(submitted, 1);
    }
}
