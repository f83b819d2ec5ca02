//! The XCM configuration of a para built with Tessera: where it is (its id from state), how
//! its messages leave (upward to the relay chain, horizontally to siblings with an open
//! channel, through `parachain_system`), and what it accepts (the relay token and siblings'
//! tokens, at one unit of fee per unit of weight, like its own token).

use crate::executor::Fault;
use crate::module::{self, XcmChain, XcmRuntime};
use crate::v5::{
    AssetId, Error as XcmError, Junction, Junctions, Location, NetworkId, PalletInfo, Weight,
};
use alloc::vec::Vec;
use tessera_runtime::crypto::AccountId;
use tessera_runtime::dispatch::{Context, Weight as RefTime};
use tessera_runtime::modules::parachain_system::{self, SendError};
use tessera_runtime::parachain::{ParaId, PARA_ID};

/// The consensus system of a Tessera network, as the first junction of universal locations.
pub const NETWORK: NetworkId =
    NetworkId::ByGenesis(*b"tessera-network-v1\0\0\0\0\0\0\0\0\0\0\0\0\0\0");

/// The account that collects XCM execution fees on Tessera chains.
pub const FEE_ACCOUNT: AccountId = tessera_runtime::messaging::XCM_FEE_ACCOUNT;

/// Proof size given with a message's weight (our weights count time only).
const PROOF_SIZE_PER_MESSAGE: u64 = 1 << 20;

/// A para built with Tessera.
pub struct Para;

/// The sibling para a location names, if it names one.
fn sibling(dest: &Location) -> Option<ParaId> {
    match (dest.parents, dest.interior.as_slice()) {
        (1, [Junction::Parachain(id)]) => Some(ParaId(*id)),
        _ => None,
    }
}

impl XcmChain for Para {
    fn universal_location<E>(ctx: &mut Context<'_, E>) -> tessera_runtime::Result<Junctions> {
        let id = PARA_ID
            .get(&mut ctx.state)?
            .map(|id| id.0)
            .unwrap_or_default();
        Ok(
            Junctions::from_slice(&[Junction::GlobalConsensus(NETWORK), Junction::Parachain(id)])
                .unwrap_or(Junctions::Here),
        )
    }

    fn fee_account() -> AccountId {
        FEE_ACCOUNT
    }

    fn fee_rate(id: &AssetId) -> Option<u128> {
        (id.0 == Location::here() || Self::accepts_unregistered(id)).then_some(1)
    }

    fn accepts_unregistered(id: &AssetId) -> bool {
        id.0 == Location::parent() || sibling(&id.0).is_some()
    }

    fn is_superuser(origin: &Location) -> bool {
        *origin == Location::parent()
    }

    fn is_unpaid_allowed(origin: &Location) -> bool {
        *origin == Location::parent()
    }

    fn deliver<E>(
        ctx: &mut Context<'_, E>,
        dest: &Location,
        message: Vec<u8>,
    ) -> Result<(), Fault> {
        let sent = if *dest == Location::parent() {
            parachain_system::send_upward(ctx, message)
        } else if let Some(para) = sibling(dest) {
            parachain_system::send_horizontal(ctx, para, message)
        } else {
            return Err(XcmError::Unroutable.into());
        };
        let error = match sent? {
            Ok(()) => return Ok(()),
            Err(SendError::TooLarge) => XcmError::ExceedsMaxMessageSize,
            Err(SendError::NoChannel | SendError::NoRelayInputs) => XcmError::Unroutable,
            Err(SendError::TooMany | SendError::ChannelFull) => XcmError::Transport,
        };
        Err(error.into())
    }

    fn pallets() -> Vec<PalletInfo> {
        Vec::new()
    }
}

fn weight(limit: RefTime) -> Weight {
    Weight::from_parts(limit, PROOF_SIZE_PER_MESSAGE)
}

/// Runs a downward message (for a runtime's `ParachainRuntime::on_downward`).
pub fn on_downward<E: XcmRuntime>(
    ctx: &mut Context<'_, E>,
    message: &[u8],
    limit: RefTime,
) -> tessera_runtime::Result<()> {
    module::receive(ctx, Location::parent(), message, weight(limit)).map(|_| ())
}

/// Runs a message from sibling `sender` (for `ParachainRuntime::on_horizontal`).
pub fn on_horizontal<E: XcmRuntime>(
    ctx: &mut Context<'_, E>,
    sender: ParaId,
    message: &[u8],
    limit: RefTime,
) -> tessera_runtime::Result<()> {
    module::receive(
        ctx,
        Location::sibling_para(sender.0),
        message,
        weight(limit),
    )
    .map(|_| ())
}

/// Connects a para runtime's `Event` and `Call` to XCM: its messages run through the `xcm`
/// module with [`Para`]'s configuration, and `parachain_system` hands it what it receives.
///
/// ```ignore
/// tessera_xcm::para_xcm!(Event, Call);
/// ```
#[macro_export]
macro_rules! para_xcm {
    ($event:ty, $call:ty) => {
        impl $crate::module::XcmRuntime for $event {
            type Chain = $crate::para::Para;
            type Call = $call;
        }

        impl tessera_runtime::modules::parachain_system::ParachainRuntime for $event {
            fn on_downward(
                ctx: &mut tessera_runtime::dispatch::Context<'_, Self>,
                message: &[u8],
                weight: tessera_runtime::dispatch::Weight,
            ) -> tessera_runtime::Result<()> {
                $crate::para::on_downward(ctx, message, weight)
            }

            fn on_horizontal(
                ctx: &mut tessera_runtime::dispatch::Context<'_, Self>,
                sender: tessera_runtime::parachain::ParaId,
                message: &[u8],
                weight: tessera_runtime::dispatch::Weight,
            ) -> tessera_runtime::Result<()> {
                $crate::para::on_horizontal(ctx, sender, message, weight)
            }
        }

        impl From<tessera_runtime::modules::parachain_system::Call> for $call {
            fn from(call: tessera_runtime::modules::parachain_system::Call) -> Self {
                <$call>::ParachainSystem(call)
            }
        }
    };
}
