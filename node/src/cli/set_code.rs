//! `tessera set-code`: replaces a chain's runtime as its sudo key, on the relay chain or on a
//! para built from the template, and follows the upgrade until the chain runs it.

use super::submit::{Chain, Settled};
use anyhow::{anyhow, bail, Context};
use clap::Args;
use parity_scale_codec::{Decode, Encode, Input, Output};
use std::path::PathBuf;
use std::time::Duration;
use tessera_runtime::crypto::{AccountId, Pair};
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::modules::parachain_system::{PendingCode, PENDING_CODE};
use tessera_runtime::modules::{sudo, system};
use tessera_runtime::parachain::MAX_UPGRADE_CODE_SIZE;
use tessera_runtime::wasm::{check_code, ChainKind};

/// Arguments of `tessera set-code`.
#[derive(Debug, Clone, Args)]
pub struct SetCodeArgs {
    /// WebSocket RPC of a relay node, or of a para node (its `--para-rpc-port`).
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub rpc: String,
    /// The chain's sudo key (a secret URI: `//Alice`, a phrase, a hex seed).
    #[arg(long, value_name = "SURI")]
    pub sudo: String,
    /// The new runtime's Wasm blob.
    #[arg(long, value_name = "FILE")]
    pub wasm: PathBuf,
    /// Seconds to wait for the chain to run it (a para switches once the relay chain enacts
    /// its upgrade, some relay blocks after it was sent).
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
}

/// Polls a second apart that must find a para's pending code gone, its version unchanged,
/// before the command says the para dropped it.
const DROPPED_POLLS: u32 = 3;

/// Index of `system` in the relay's and the template's calls.
const SYSTEM_INDEX: u8 = 0;
/// Index of `sudo` in the relay's and the template's calls.
const SUDO_INDEX: u8 = 2;
/// `sudo.sudo(system.set_code(..))`, up to the code: the module and call indices.
const PREFIX: [u8; 4] = [SUDO_INDEX, 0, SYSTEM_INDEX, 2];

/// `sudo.sudo(system.set_code(code))` as the relay chain and paras built from the template
/// encode it (`system` at index 0, `sudo` at 2): the command needs no para's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SudoSetCode(pub(super) Vec<u8>);

impl Encode for SudoSetCode {
    fn size_hint(&self) -> usize {
        PREFIX.len().saturating_add(self.0.size_hint())
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&PREFIX);
        self.0.encode_to(dest);
    }
}

impl Decode for SudoSetCode {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let mut prefix = [0u8; 4];
        input.read(&mut prefix)?;
        if prefix != PREFIX {
            return Err("not sudo.sudo(system.set_code)".into());
        }
        Ok(SudoSetCode(Vec::decode(input)?))
    }
}

/// Runs `tessera set-code`.
pub(super) fn run(args: SetCodeArgs) -> anyhow::Result<()> {
    super::node::runtime()?.block_on(set_code(args))
}

async fn set_code(args: SetCodeArgs) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let code = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read {}", args.wasm.display()))?;
    let pair = Pair::from_uri(&args.sudo).map_err(|err| anyhow!("--sudo: {err}"))?;
    let chain = Chain::connect(&args.rpc).await?;
    let (kind, max_size, what) = match chain.para {
        None => (
            ChainKind::Relay,
            system::MAX_RUNTIME_CODE_SIZE,
            "the relay chain".to_string(),
        ),
        Some(id) => (ChainKind::Para, MAX_UPGRADE_CODE_SIZE, format!("para {id}")),
    };

    // What the runtime checks without running the blob, checked here first: a refusal says why
    // before a fee is paid. (The relay's runtime also instantiates a relay runtime.) What kind
    // of blob it is comes before its size, which says less about a wrong file (a relay
    // runtime offered to a para is larger than a para takes), unless it is too large for
    // either.
    let too_large = |max: usize| {
        anyhow!(
            "{} is {} bytes; {what} takes at most {max}",
            args.wasm.display(),
            code.len()
        )
    };
    let largest = system::MAX_RUNTIME_CODE_SIZE.max(MAX_UPGRADE_CODE_SIZE);
    if code.len() > largest {
        return Err(too_large(max_size));
    }
    let offered = check_code(&code, kind).map_err(|err| {
        anyhow!(
            "{} is no runtime {what} can run: it {err}",
            args.wasm.display()
        )
    })?;
    if code.len() > max_size {
        return Err(too_large(max_size));
    }
    let running = chain.runtime_version(None).await?;
    if offered.spec_name != running.spec_name {
        bail!(
            "{} is a `{}` runtime; {what} runs `{}`",
            args.wasm.display(),
            offered.spec_name,
            running.spec_name
        );
    }
    if offered.spec_version <= running.spec_version {
        bail!(
            "{} is version {}; {what} runs version {} already",
            args.wasm.display(),
            offered.spec_version,
            running.spec_version
        );
    }
    let key: Option<AccountId> = chain.storage_opt(&sudo::KEY.key(), None).await?;
    if key != Some(pair.public()) {
        bail!("{} is not the sudo key of {what}", pair.public());
    }
    if chain.para.is_some() {
        let pending: Option<PendingCode> = chain.storage_opt(&PENDING_CODE.key(), None).await?;
        if let Some(pending) = pending {
            bail!(
                "{what} has an upgrade pending since its block #{} (code {}): one at a time",
                pending.block,
                pending.code_hash
            );
        }
    }
    let code_hash = blake2_256(&code);
    println!(
        "offering {what} `{}` version {} ({} bytes, code hash {code_hash})",
        offered.spec_name,
        offered.spec_version,
        code.len()
    );

    let mut submitted = chain.submit(&pair, SudoSetCode(code)).await?;
    // The relay chain runs the code from the block after the one holding it: wait for that
    // block to be final. A para runs it only once the relay chain enacts it: wait for that.
    let settled = match chain.para {
        None => Settled::Finalized,
        Some(_) => Settled::InBestBlock,
    };
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let included = submitted.wait_for(settled, left.as_secs().max(1)).await?;
    match chain.para {
        None => {
            let version = chain.runtime_version(Some(included.block)).await?;
            if version.spec_version != offered.spec_version {
                let events: Vec<tessera_relay_chain::Event> = chain.events_of(&included).await?;
                let why = events.iter().find_map(|event| match event {
                    tessera_relay_chain::Event::Sudo(sudo::Event::Sudid { result: Err(err) }) => {
                        Some(*err)
                    }
                    _ => None,
                });
                let why = match why {
                    Some(err) => chain.describe(&err, included.block).await,
                    None => "no reason recorded".into(),
                };
                bail!("the relay chain refused the code: {why}");
            }
            println!(
                "finalized relay block {} holds it: every node runs version {} from the next block",
                included.block, offered.spec_version
            );
        }
        Some(id) => {
            let pending: Option<PendingCode> = chain
                .storage_opt(&PENDING_CODE.key(), Some(included.block))
                .await?;
            if pending.map(|pending| pending.code_hash) != Some(code_hash) {
                bail!(
                    "para block {} holds the call, but para {id} did not accept the code (an \
                     upgrade the relay chain listed meanwhile? its `Sudid` event says why)",
                    included.block
                );
            }
            println!(
                "para {id} accepted it in block {}; the relay chain's validators check it, and \
                 it switches once the relay chain enacts it",
                included.block
            );
            // Polls in a row that found the code dropped: a para block of a relay fork may
            // not hold it yet for a moment.
            let mut dropped_polls = 0u32;
            while tokio::time::Instant::now() < deadline {
                // Pending first: code gone from there while the old version still runs (read
                // after) was dropped, not switched to.
                let pending: Result<Option<PendingCode>, _> =
                    chain.storage_opt(&PENDING_CODE.key(), None).await;
                let gone = matches!(pending, Ok(None));
                dropped_polls = if gone {
                    dropped_polls.saturating_add(1)
                } else {
                    0
                };
                // The upgrade goes on whatever the node says: one failed answer is not fatal.
                match chain.runtime_version(None).await {
                    Ok(version) if version.spec_version == offered.spec_version => {
                        println!("para {id} runs version {}", version.spec_version);
                        return Ok(());
                    }
                    Ok(version) if dropped_polls >= DROPPED_POLLS => bail!(
                        "para {id} dropped the code and still runs version {}: the relay \
                         chain's validators rejected it, or did not decide in time (its \
                         `Paras.PvfCheckRejected` event), or never included the candidate \
                         carrying it",
                        version.spec_version
                    ),
                    Ok(_) => {}
                    Err(err) => {
                        eprintln!("asking para {id}'s version failed ({err}); asking again")
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            bail!(
                "para {id} did not switch to version {} within {} s",
                offered.spec_version,
                args.timeout
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_relay_chain::Call;

    #[test]
    fn the_call_is_the_relay_runtimes_sudo_set_code() {
        let code = vec![7u8; 300];
        let call = Call::Sudo(sudo::Call::Sudo {
            call: Box::new(Call::System(system::Call::SetCode { code: code.clone() })),
        });
        assert_eq!(SudoSetCode(code.clone()).encode(), call.encode());
        assert_eq!(
            SudoSetCode::decode(&mut &call.encode()[..]).unwrap(),
            SudoSetCode(code)
        );
        assert!(SudoSetCode::decode(&mut &[1u8, 0, 0, 2, 0][..]).is_err());
    }
}
