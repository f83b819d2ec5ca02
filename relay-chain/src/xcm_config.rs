//! The relay chain's XCM configuration: it is the reserve of its token, pays fees in it,
//! trusts nobody as root, and routes messages to its paras' downward queues for a delivery
//! fee ([`messaging::downward_fee`]).

use crate::prelude::*;

use crate::messaging;
use crate::paras::ParaId;
use tessera_runtime::crypto::AccountId;
use tessera_runtime::dispatch::Context;
use tessera_xcm::executor::Fault;
use tessera_xcm::module::XcmChain;
use tessera_xcm::para::{FEE_ACCOUNT, NETWORK};
use tessera_xcm::v5::{AssetId, Error as XcmError, Junction, Junctions, Location, PalletInfo};

/// The relay chain.
pub struct Relay;

impl XcmChain for Relay {
    fn universal_location<E>(_ctx: &mut Context<'_, E>) -> tessera_runtime::Result<Junctions> {
        Ok(Junctions::from_slice(&[Junction::GlobalConsensus(NETWORK)]).unwrap_or(Junctions::Here))
    }

    fn fee_account() -> AccountId {
        FEE_ACCOUNT
    }

    fn fee_rate(id: &AssetId) -> Option<u128> {
        (id.0 == Location::here()).then_some(1)
    }

    fn is_superuser(_origin: &Location) -> bool {
        false
    }

    fn is_unpaid_allowed(_origin: &Location) -> bool {
        false
    }

    fn deliver<E>(
        ctx: &mut Context<'_, E>,
        dest: &Location,
        message: Vec<u8>,
    ) -> Result<(), Fault> {
        let (0, [Junction::Parachain(id)]) = (dest.parents, dest.interior.as_slice()) else {
            return Err(XcmError::Unroutable.into());
        };
        messaging::queue_downward(ctx, ParaId(*id), message)?.map_err(Fault::Xcm)
    }

    fn delivery_fee<E>(
        ctx: &mut Context<'_, E>,
        dest: &Location,
        len: usize,
    ) -> tessera_runtime::Result<Option<u128>> {
        let (0, [Junction::Parachain(id)]) = (dest.parents, dest.interior.as_slice()) else {
            return Ok(None);
        };
        messaging::downward_fee(&mut ctx.state, ParaId(*id), len).map(Some)
    }

    fn pallets() -> Vec<PalletInfo> {
        Vec::new()
    }
}
