//! `tessera xcm`: XCM messages, locations and asset lists between their SCALE bytes (as chains
//! carry them, Polkadot's layout) and JSON (as people read and write them).

use super::submit::{Chain, Settled, Submitted};
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::rpc_params;
use parity_scale_codec::{Decode, Encode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::io::Read;
use tessera_runtime::crypto::{AccountId, Pair};
use tessera_xcm::module;
use tessera_xcm::v5::{Asset, Assets, Junction, Junctions, Location, WeightLimit};
use tessera_xcm::{VersionedAssets, VersionedLocation, VersionedXcm};

/// What the bytes or JSON are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XcmType {
    /// A `VersionedXcm` message.
    Xcm,
    /// A `VersionedLocation`.
    Location,
    /// A `VersionedAssets` list.
    Assets,
}

/// `tessera xcm` subcommands.
#[derive(Debug, Subcommand)]
pub enum XcmCommand {
    /// Prints SCALE hex (0x-prefixed or not) as JSON.
    Decode {
        /// The bytes, in hex.
        hex: String,
        /// What they encode.
        #[arg(long = "type", value_enum, default_value = "xcm")]
        kind: XcmType,
    },
    /// Prints JSON (as `decode` writes it; `-` reads standard input) as SCALE hex.
    Encode {
        /// The JSON text, or `-`.
        json: String,
        /// What it describes.
        #[arg(long = "type", value_enum, default_value = "xcm")]
        kind: XcmType,
    },
    /// Signs and submits `xcm.transfer_assets`, prints the message id, and waits until the
    /// message was sent (and, with `--dest-rpc`, ran on the destination).
    Transfer(TransferArgs),
    /// Signs and submits `xcm.send` of a JSON message, and follows it like `transfer`.
    Send(SendArgs),
}

/// Runs an `xcm` subcommand.
pub(super) fn run(command: XcmCommand) -> anyhow::Result<()> {
    match command {
        XcmCommand::Decode { hex, kind } => {
            println!("{}", decode(&hex, kind)?);
            Ok(())
        }
        XcmCommand::Encode { json, kind } => {
            let json = if json == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading standard input")?;
                text
            } else {
                json
            };
            println!("{}", encode(&json, kind)?);
            Ok(())
        }
        XcmCommand::Transfer(args) => super::node::runtime()?.block_on(transfer(args)),
        XcmCommand::Send(args) => super::node::runtime()?.block_on(send(args)),
    }
}

/// The JSON of `hex` read as `kind`, with Polkadot's decoding limits.
pub fn decode(hex: &str, kind: XcmType) -> anyhow::Result<String> {
    let digits = hex.trim().trim_start_matches("0x");
    let bytes = hex::decode(digits).map_err(|err| anyhow!("not hex: {err}"))?;
    let json = match kind {
        XcmType::Xcm => to_json(&VersionedXcm::decode_limited(&bytes))?,
        XcmType::Location => to_json(&VersionedLocation::decode_limited(&bytes))?,
        XcmType::Assets => to_json(&VersionedAssets::decode_limited(&bytes))?,
    };
    Ok(json)
}

fn to_json<T: Serialize>(decoded: &Result<T, tessera_xcm::DecodeError>) -> anyhow::Result<String> {
    match decoded {
        Ok(value) => Ok(serde_json::to_string_pretty(value)?),
        Err(err) => bail!("cannot decode: {err}"),
    }
}

/// The SCALE hex of `json` read as `kind`; refuses what a chain would refuse to decode.
pub fn encode(json: &str, kind: XcmType) -> anyhow::Result<String> {
    let bytes = match kind {
        XcmType::Xcm => from_json::<VersionedXcm>(json)?.encode(),
        XcmType::Location => from_json::<VersionedLocation>(json)?.encode(),
        XcmType::Assets => from_json::<VersionedAssets>(json)?.encode(),
    };
    // Limits JSON cannot express (nesting, instruction count) are checked as a chain would.
    let checked = match kind {
        XcmType::Xcm => VersionedXcm::decode_limited(&bytes).map(drop),
        XcmType::Location => VersionedLocation::decode_limited(&bytes).map(drop),
        XcmType::Assets => VersionedAssets::decode_limited(&bytes).map(drop),
    };
    checked.map_err(|err| anyhow!("a chain would refuse these bytes: {err}"))?;
    Ok(format!("0x{}", hex::encode(bytes)))
}

fn from_json<T: DeserializeOwned>(json: &str) -> anyhow::Result<T> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        anyhow!("invalid JSON at `{path}`: {}", err.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|err| anyhow!("trailing characters after the JSON value: {err}"))?;
    Ok(value)
}

/// Where a transfer goes, as the sending chain sees it.
fn chain_location(text: &str, from_para: bool) -> anyhow::Result<Location> {
    let parent = u8::from(from_para);
    if text == "relay" {
        if !from_para {
            bail!("the relay chain cannot send to itself");
        }
        return Ok(Location::parent());
    }
    let id: u32 = text
        .strip_prefix("para:")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow!("`{text}` is not `relay` or `para:ID`"))?;
    Location::new(parent, &[Junction::Parachain(id)]).ok_or_else(|| anyhow!("bad location"))
}

/// An asset class, as the sending chain sees it: `native`, `relay` or `para:ID`.
fn asset_location(text: &str, from_para: bool) -> anyhow::Result<Location> {
    match text {
        "native" => Ok(Location::here()),
        other => chain_location(other, from_para)
            .with_context(|| format!("asset `{text}` is not `native`, `relay` or `para:ID`")),
    }
}

/// `amount` in units of 12 decimals (`1.5` is 1_500_000_000_000).
fn planck(amount: &str) -> anyhow::Result<u128> {
    const DECIMALS: usize = 12;
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    if fraction.len() > DECIMALS || whole.is_empty() && fraction.is_empty() {
        bail!("`{amount}` is not an amount with at most {DECIMALS} decimals");
    }
    let digits = format!("{whole}{fraction:0<DECIMALS$}");
    let value: u128 = digits
        .parse()
        .map_err(|_| anyhow!("`{amount}` is not an amount"))?;
    if value == 0 {
        bail!("the amount must not be zero");
    }
    Ok(value)
}

/// Where a message is sent from, by whom, and how long to follow it.
#[derive(Debug, Clone, Args)]
pub struct SendingArgs {
    /// WebSocket RPC of the sending chain (a relay node, or a para node's RPC).
    #[arg(long, value_name = "URL")]
    pub rpc: String,
    /// The signer's secret URI (`//Alice`, a phrase, a hex seed).
    #[arg(long, value_name = "SURI")]
    pub from: String,
    /// WebSocket RPC of the destination chain: wait there until the message has run.
    #[arg(long, value_name = "URL")]
    pub dest_rpc: Option<String>,
    /// Seconds to wait for each step (inclusion, sending, running on the destination) before
    /// giving up with an error.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// Arguments of `tessera xcm transfer`.
#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// Sender and following.
    #[command(flatten)]
    pub sending: SendingArgs,
    /// The destination chain: `relay` or `para:ID`.
    #[arg(long, value_name = "CHAIN")]
    pub dest: String,
    /// Who receives the assets there (SS58 address).
    #[arg(long, value_name = "ADDRESS")]
    pub beneficiary: String,
    /// How much, in units of 12 decimals (`1.5`).
    #[arg(long)]
    pub amount: String,
    /// Which asset, as the sending chain sees it: `native`, `relay` or `para:ID`.
    #[arg(long, default_value = "native")]
    pub asset: String,
}

/// Arguments of `tessera xcm send`; the message runs with the signer's account as its origin.
#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Sender and following.
    #[command(flatten)]
    pub sending: SendingArgs,
    /// The destination, as JSON of a `VersionedLocation` (see `tessera xcm decode`).
    #[arg(long, value_name = "JSON")]
    pub dest: String,
    /// The message, as JSON of a `VersionedXcm`.
    #[arg(long, value_name = "JSON")]
    pub message: String,
}

/// Index of `xcm` among a runtime's calls: the relay chain's, and that of paras built from
/// the template (keep it at 4 in your para to use these commands).
const RELAY_XCM_CALL_INDEX: u8 = 6;
const PARA_XCM_CALL_INDEX: u8 = 4;

/// A runtime call to the `xcm` module, encoded as any Tessera runtime encodes it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
struct RuntimeCall {
    module: u8,
    call: module::Call,
}

/// Signs `call` from `pair` and submits it watched; the id of the message it sends, and the
/// submitted transaction.
async fn submit_xcm<'a>(
    chain: &'a Chain,
    pair: &'a Pair,
    call: module::Call,
) -> anyhow::Result<([u8; 32], Submitted<'a, RuntimeCall>)> {
    let who = pair.public();
    let sent: u64 = chain.storage(&module::SENT_COUNT.key(&who)).await?;
    let module = if chain.para.is_some() {
        PARA_XCM_CALL_INDEX
    } else {
        RELAY_XCM_CALL_INDEX
    };
    let submitted = chain.submit(pair, RuntimeCall { module, call }).await?;
    let pending = submitted.pending;
    if pending > 0 {
        // The id counts the messages the account sent before; a pending one would be counted
        // first.
        println!(
            "note: {pending} earlier transaction(s) of this account are pending; if one sends \
             XCM, the message id below is that one's"
        );
    }
    let network = Junction::GlobalConsensus(tessera_xcm::para::NETWORK);
    let place = match chain.para {
        Some(id) => vec![network, Junction::Parachain(id)],
        None => vec![network],
    };
    let location = Junctions::from_slice(&place).ok_or_else(|| anyhow!("bad chain location"))?;
    Ok((module::message_id_of(&location, &who, sent), submitted))
}

/// The XCM records (`xcm_messageStatus`) of message `id` at `chain`.
async fn records(chain: &Chain, id: &[u8; 32]) -> anyhow::Result<Vec<Value>> {
    let records: Value = chain
        .client()
        .request(
            "xcm_messageStatus",
            rpc_params![format!("0x{}", hex::encode(id))],
        )
        .await?;
    Ok(records.as_array().cloned().unwrap_or_default())
}

/// Polls `chain` until message `id` has a record of `kind` (`sent` or `executed`).
async fn wait_for_record(
    chain: &Chain,
    id: &[u8; 32],
    kind: &str,
    timeout: u64,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
    loop {
        if let Some(record) = records(chain, id)
            .await?
            .into_iter()
            .find_map(|r| r.get(kind).cloned())
        {
            return Ok(record);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "no `{kind}` record of message 0x{} after {timeout} s",
                hex::encode(id)
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Sends `call` and follows its message to the destination.
async fn send_and_follow(
    sending: &SendingArgs,
    build: impl FnOnce(bool) -> anyhow::Result<module::Call>,
) -> anyhow::Result<()> {
    let timeout = sending.timeout;
    let pair = Pair::from_uri(&sending.from).map_err(|err| anyhow!("bad --from: {err}"))?;
    let source = Chain::connect(&sending.rpc).await?;
    let call = build(source.para.is_some())?;
    let (id, mut submitted) = submit_xcm(&source, &pair, call).await?;
    println!("message id 0x{}", hex::encode(id));
    let included = submitted.wait_for(Settled::InBestBlock, timeout).await?;
    println!("included in block {}", included.block);
    // The including block is the head the node reads at now: the record is there at once
    // unless the call failed.
    let sent = wait_for_record(&source, &id, "sent", timeout.min(10))
        .await
        .context("the transaction was included but its call sent no message (it failed)")?;
    println!("sent at block {} to {}", sent["at"], sent["dest"]);
    let Some(dest_rpc) = &sending.dest_rpc else {
        return Ok(());
    };
    let dest = Chain::connect(dest_rpc).await?;
    let executed = wait_for_record(&dest, &id, "executed", timeout).await?;
    let outcome = &executed["outcome"];
    println!("executed at block {}: {outcome}", executed["at"]);
    if outcome.get("complete").is_none() {
        bail!("the message failed on the destination: {outcome}");
    }
    Ok(())
}

/// `tessera xcm transfer`.
async fn transfer(args: TransferArgs) -> anyhow::Result<()> {
    let (beneficiary, _) = AccountId::from_ss58(&args.beneficiary)
        .map_err(|err| anyhow!("bad --beneficiary: {err}"))?;
    let amount = planck(&args.amount)?;
    let build = |from_para: bool| {
        let dest = chain_location(&args.dest, from_para).context("bad --dest")?;
        let asset = asset_location(&args.asset, from_para)?;
        let assets = Assets::from_unsorted(vec![Asset::fungible(asset, amount)])
            .map_err(|err| anyhow!("bad asset: {err:?}"))?;
        Ok(module::Call::TransferAssets {
            dest: VersionedLocation::V5(dest),
            beneficiary: VersionedLocation::V5(module::account_location(&beneficiary)),
            assets: VersionedAssets::V5(assets),
            fee_asset_item: 0,
            weight_limit: WeightLimit::Unlimited,
        })
    };
    send_and_follow(&args.sending, build).await
}

/// `tessera xcm send`.
async fn send(args: SendArgs) -> anyhow::Result<()> {
    let dest: VersionedLocation = from_json(&args.dest).context("bad --dest")?;
    let message: VersionedXcm = from_json(&args.message).context("bad --message")?;
    VersionedXcm::decode_limited(&message.encode())
        .map_err(|err| anyhow!("bad --message: {err}"))?;
    let build = |_| Ok(module::Call::Send { dest, message });
    send_and_follow(&args.sending, build).await
}
