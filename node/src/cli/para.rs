//! `tessera para`: registering a para on a running relay chain through the registrar, as any
//! account (no root): reserve an id, register its genesis head and code, deregister it.

use super::paras::{genesis_of, ParaRuntime};
use super::submit::{Chain, Settled};
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use parity_scale_codec::{DecodeAll, Encode};
use std::path::PathBuf;
use tessera_relay_chain::paras::{self, HeadData, ParaId, ValidationCode};
use tessera_relay_chain::registrar::{self, PARA_ID_DEPOSIT};
use tessera_relay_chain::{Call, Event, ParaChainSpec};
use tessera_runtime::crypto::Pair;
use tessera_runtime::modules::system;
use tessera_runtime::Header;

/// `tessera para` subcommands.
#[derive(Debug, Subcommand)]
pub enum ParaCommand {
    /// Reserves the next free para id (2000 and up) for the signer, for a deposit, and prints
    /// it.
    Reserve(SignerArgs),
    /// Registers a reserved id's genesis head and code, for a deposit per byte; the para is
    /// onboarded 10 blocks later.
    Register(RegisterArgs),
    /// Removes a para (or a registration waiting for onboarding) and returns its deposits to
    /// the signer, its manager.
    Deregister(DeregisterArgs),
    /// Says where para ID stands: reserved, waiting for onboarding, or onboarded (its head).
    Status(StatusArgs),
}

/// Arguments of `tessera para status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// WebSocket RPC of a relay node.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub rpc: String,
    /// The para id.
    #[arg(long)]
    pub id: u32,
}

/// Who signs, and where.
#[derive(Debug, Clone, Args)]
pub struct SignerArgs {
    /// WebSocket RPC of a relay node.
    #[arg(long, value_name = "URL", default_value = "ws://127.0.0.1:9944")]
    pub rpc: String,
    /// The signer's secret URI (`//Alice`, a phrase, a hex seed).
    #[arg(long, value_name = "SURI")]
    pub from: String,
    /// Seconds to wait for a finalized block to hold the transaction.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// A para runtime this binary carries, to register from its blob and dev genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DevRuntime {
    /// The parachain template.
    Template,
    /// The example para.
    Example,
}

/// Arguments of `tessera para register`.
#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    /// Signer and node.
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The reserved para id.
    #[arg(long)]
    pub id: u32,
    /// The para's Wasm blob (its validation code).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["dev_runtime", "spec"])]
    pub code: Option<PathBuf>,
    /// The para's genesis head: the SCALE of its genesis header, in hex.
    #[arg(long, value_name = "HEX", required_unless_present_any = ["dev_runtime", "spec"])]
    pub genesis_head: Option<String>,
    /// Instead of `--code` and `--genesis-head`: the para's chain spec (`tessera build-spec
    /// --para-wasm`), whose runtime builds the genesis head; its para id must be `--id`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["code", "genesis_head", "dev_runtime"])]
    pub spec: Option<PathBuf>,
    /// Instead of `--code` and `--genesis-head`: a runtime of this binary, with its dev
    /// genesis for the id.
    #[arg(long, value_enum, conflicts_with_all = ["code", "genesis_head"])]
    pub dev_runtime: Option<DevRuntime>,
}

/// Arguments of `tessera para deregister`.
#[derive(Debug, Clone, Args)]
pub struct DeregisterArgs {
    /// Signer and node.
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The para id.
    #[arg(long)]
    pub id: u32,
}

/// Runs a `para` subcommand.
pub(super) fn run(command: ParaCommand) -> anyhow::Result<()> {
    super::node::runtime()?.block_on(async {
        match command {
            ParaCommand::Reserve(signer) => {
                let events = submit(&signer, registrar::Call::Reserve).await?;
                let Some((id, manager)) = events.into_iter().find_map(|event| match event {
                    registrar::Event::Reserved { id, manager } => Some((id, manager)),
                    _ => None,
                }) else {
                    bail!("the reservation was included but reserved no id");
                };
                println!(
                    "reserved para id {} for {manager} (deposit {} UNIT)",
                    id.0,
                    units(PARA_ID_DEPOSIT)
                );
                Ok(())
            }
            ParaCommand::Register(args) => register(args).await,
            ParaCommand::Status(args) => status(args).await,
            ParaCommand::Deregister(args) => {
                let call = registrar::Call::Deregister {
                    id: ParaId(args.id),
                };
                for event in submit(&args.signer, call).await? {
                    if let registrar::Event::Deregistered { id, refunded } = event {
                        println!(
                            "para {} deregistered; {} UNIT returned",
                            id.0,
                            units(refunded)
                        );
                    }
                }
                Ok(())
            }
        }
    })
}

async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let id = ParaId(args.id);
    let (code, head) = match (args.dev_runtime, args.spec) {
        (None, Some(path)) => {
            let spec = ParaChainSpec::load(&path.to_string_lossy())?;
            if spec.para_id != id.0 {
                bail!(
                    "the spec at {} is of para {}, not {}",
                    path.display(),
                    spec.para_id,
                    id.0
                );
            }
            let (header, _) = genesis_of(&spec)?;
            (spec.code.0, header.encode())
        }
        (Some(runtime), _) => {
            let runtime = match runtime {
                DevRuntime::Template => ParaRuntime::Template,
                DevRuntime::Example => ParaRuntime::Example,
            };
            let (header, _) = runtime.genesis(id)?;
            (runtime.code().to_vec(), header.encode())
        }
        (None, None) => {
            let path = args.code.ok_or_else(|| anyhow!("--code is required"))?;
            let code = std::fs::read(&path)
                .with_context(|| format!("cannot read the code at {}", path.display()))?;
            let head = args
                .genesis_head
                .ok_or_else(|| anyhow!("--genesis-head is required"))?;
            let head =
                hex::decode(head.trim_start_matches("0x")).context("--genesis-head is not hex")?;
            (code, head)
        }
    };
    let deposit = registrar::data_deposit(code.len().saturating_add(head.len()));
    println!(
        "registering para {} ({} bytes of code, deposit {} UNIT)",
        id.0,
        code.len(),
        units(deposit)
    );
    let call = registrar::Call::Register {
        id,
        genesis_head: HeadData(head),
        code: ValidationCode(code),
    };
    for event in submit(&args.signer, call).await? {
        if let registrar::Event::Registered { at, .. } = event {
            println!("registered; onboarded in relay block #{at}");
        }
    }
    Ok(())
}

/// `tessera para status`: what the relay's best block says of the para.
async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let id = ParaId(args.id);
    let chain = Chain::connect(&args.rpc).await?;
    let reservation: Option<registrar::Reservation> = chain
        .storage_opt(&registrar::RESERVATIONS.key(&id), None)
        .await?;
    let waiting: Option<registrar::Onboarding> = chain
        .storage_opt(&registrar::ONBOARDING.key(&id), None)
        .await?;
    let info: Option<paras::ParaInfo> = chain.storage_opt(&paras::PARAS.key(&id), None).await?;
    let managed =
        reservation.map(|r| format!("; manager {}, deposit {} UNIT", r.manager, units(r.deposit)));
    let managed = managed.unwrap_or_default();
    match (info, waiting) {
        (Some(info), _) => {
            let number = Header::decode_all(&mut &info.head.0[..])
                .map(|header| format!("#{} ", header.number))
                .unwrap_or_default();
            println!(
                "para {}: onboarded, head {number}({}), code {}{managed}",
                id.0,
                info.head.hash(),
                info.code_hash
            );
        }
        (None, Some(waiting)) => println!(
            "para {}: registered, onboarded in relay block #{}{managed}",
            id.0, waiting.at
        ),
        (None, None) if !managed.is_empty() => {
            println!("para {}: reserved, not registered{managed}", id.0)
        }
        (None, None) => println!("para {}: neither registered nor reserved", id.0),
    }
    Ok(())
}

/// Submits `call` signed by the signer, waits until a finalized block holds it (a deposit
/// or an onboarding block a reorg could take back is not reported), and returns the registrar's
/// events it deposited, or the error it failed with.
async fn submit(
    signer: &SignerArgs,
    call: registrar::Call,
) -> anyhow::Result<Vec<registrar::Event>> {
    let pair = Pair::from_uri(&signer.from).map_err(|err| anyhow!("bad --from: {err}"))?;
    let chain = Chain::connect(&signer.rpc).await?;
    if let Some(para) = chain.para {
        bail!(
            "{} is the RPC of para {para}: give a relay node's",
            signer.rpc
        );
    }
    let mut submitted = chain.submit(&pair, Call::Registrar(call)).await?;
    let included = submitted
        .wait_for(Settled::Finalized, signer.timeout)
        .await?;
    let mut registrar_events = Vec::new();
    for event in chain.events_of::<Event>(&included).await? {
        match event {
            Event::System(system::Event::ExtrinsicFailed {
                dispatch_error: error,
                ..
            }) => {
                let error = chain.describe(&error, included.block).await;
                bail!("included in block {}, but failed: {error}", included.block)
            }
            Event::Registrar(event) => registrar_events.push(event),
            _ => {}
        }
    }
    Ok(registrar_events)
}

/// `planck` in units of 12 decimals, for people.
fn units(planck: u128) -> String {
    let unit = tessera_relay_chain::UNIT;
    let fraction = format!("{:012}", planck % unit);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        (planck / unit).to_string()
    } else {
        format!("{}.{fraction}", planck / unit)
    }
}

#[cfg(test)]
mod tests {
    use super::units;

    #[test]
    fn units_read_as_people_write_them() {
        let unit = tessera_relay_chain::UNIT;
        assert_eq!(units(10 * unit), "10");
        assert_eq!(units(unit / 100), "0.01");
        assert_eq!(units(9_115 * unit / 100 + unit / 1_000_000), "91.150001");
    }
}
