//! Signing and submitting calls to a node over its WebSocket RPC, and following them until a
//! block includes or finalizes them: what `tessera xcm` and `tessera para` share.

use anyhow::{anyhow, bail, Context};
use jsonrpsee_core::client::{ClientT, Error as ClientError, Subscription, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::{WsClient, WsClientBuilder};
use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::{EventRecord, Phase};
use tessera_runtime::extrinsic::{ChainContext, Era, Extrinsic, SignedExtra};
use tessera_runtime::modules::system;
use tessera_runtime::wasm::VersionInfo;
use tessera_runtime::Hash;

/// Substrate's pool code for "a transaction with this nonce is already in the pool".
const NONCE_TAKEN: i32 = 1014;

/// A node's RPC, and what kind of chain it serves.
pub(super) struct Chain {
    client: WsClient,
    /// The para it serves, or none for the relay chain.
    pub(super) para: Option<u32>,
}

/// A transaction a block included: the block's hash and the transaction's index in it.
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
        let spec_version = version["specVersion"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok());
        match (spec_name, spec_version) {
            (Some(name), Some(spec_version)) => Ok(VersionInfo {
                spec_name: name.into(),
                spec_version,
            }),
            _ => bail!("the node did not say its runtime version: {version}"),
        }
    }

    /// Whether `who`'s next nonce is past `used` now.
    async fn nonce_moved(&self, who: &tessera_runtime::AccountId, used: u32) -> bool {
        let next: Result<u32, _> = self
            .client
            .request("system_accountNextIndex", rpc_params![who.to_ss58(42)])
            .await;
        next.is_ok_and(|next| next > used)
    }

    /// Signs `call` from `pair` with the account's next nonce (after what the node's pool
    /// holds) and submits it watched. The watch, and how many earlier transactions of the
    /// account were pending in the node's pool.
    pub(super) async fn submit<C: Encode + Decode + Clone>(
        &self,
        pair: &Pair,
        call: C,
    ) -> anyhow::Result<(Subscription<Value>, u32)> {
        let who = pair.public();
        let genesis: String = self
            .client
            .request("chain_getBlockHash", rpc_params![0])
            .await?;
        let genesis_hash: Hash = genesis
            .parse()
            .map_err(|_| anyhow!("bad genesis hash {genesis}"))?;
        let spec_version = self.runtime_version(None).await?.spec_version;
        let chain = ChainContext {
            spec_version,
            genesis_hash,
            birth_hash: genesis_hash,
        };
        let account: system::AccountInfo = self.storage(&system::ACCOUNT.key(&who)).await?;
        // Another transaction of the signer may take the nonce between reading and
        // submitting (the node says so with Substrate's code 1014): read it again.
        let mut attempt = 0;
        loop {
            let nonce: u32 = self
                .client
                .request("system_accountNextIndex", rpc_params![who.to_ss58(42)])
                .await?;
            let extra = SignedExtra {
                era: Era::Immortal,
                nonce,
                tip: 0,
            };
            let xt = Extrinsic::signed(pair, call.clone(), extra, &chain).to_opaque();
            let submitted = self
                .client
                .subscribe::<Value, _>(
                    "transactionWatch_v1_submitAndWatch",
                    rpc_params![format!("0x{}", hex::encode(xt.encode()))],
                    "transactionWatch_v1_unwatch",
                )
                .await;
            match submitted {
                Ok(watch) => return Ok((watch, nonce.saturating_sub(account.nonce))),
                Err(ClientError::Call(err)) if err.code() == NONCE_TAKEN && attempt < 3 => {
                    attempt += 1;
                }
                // A block took the nonce meanwhile (the node calls it stale): read it again.
                Err(ClientError::Call(err))
                    if attempt < 3 && self.nonce_moved(&who, nonce).await =>
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

/// How settled a watched transaction must be before [`wait_for`] returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    /// In a block of the best chain (which a reorg may still take back).
    InBestBlock,
    /// In a finalized block.
    Finalized,
}

/// Follows a watched transaction until it is `settled`. Fails with the node's reason if it
/// became invalid or was dropped, and after `timeout` seconds.
pub(super) async fn wait_for(
    watch: &mut Subscription<Value>,
    settled: Settled,
    timeout: u64,
) -> anyhow::Result<Included> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
    loop {
        let event = match tokio::time::timeout_at(deadline, watch.next()).await {
            Err(_) if settled == Settled::Finalized => {
                bail!("the transaction was not in a finalized block after {timeout} s")
            }
            Err(_) => bail!("the transaction was not included in a block after {timeout} s"),
            Ok(None) => bail!("the node closed the transaction's subscription"),
            Ok(Some(event)) => event.context("unexpected transaction event")?,
        };
        let kind = event["event"].as_str();
        match kind {
            Some("bestChainBlockIncluded") if settled == Settled::Finalized => {}
            Some("bestChainBlockIncluded") | Some("finalized") => {
                let block = event["block"]["hash"].as_str().and_then(|h| h.parse().ok());
                let index = event["block"]["index"]
                    .as_u64()
                    .and_then(|i| u32::try_from(i).ok());
                if let (Some(block), Some(index)) = (block, index) {
                    return Ok(Included { block, index });
                }
            }
            Some(kind @ ("invalid" | "dropped" | "error")) => {
                let reason = event["error"].as_str().unwrap_or("no reason given");
                bail!("the transaction is {kind}: {reason}");
            }
            _ => {}
        }
    }
}
