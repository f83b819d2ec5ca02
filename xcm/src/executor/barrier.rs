//! Building blocks of a chain's barrier ([`Config::should_execute`](super::Config)), after
//! Polkadot's: weight paid for locally, paid execution from anyone, explicitly unpaid
//! execution from trusted locations, answers to known queries, version subscriptions.

use super::BarrierRefusal;
use crate::v5::{Instruction, Junctions, Location, Weight, WeightLimit, MAX_JUNCTIONS};

/// Most instructions before `BuyExecution`/`PayFees` in a paid message (Polkadot's).
const MAX_INSTRUCTIONS_BEFORE_FEES: usize = 5;

/// Uses weight already paid for (a local extrinsic's): passes if `credit` covers `max_weight`,
/// taking it from the credit.
pub fn take_weight_credit(credit: &mut Weight, max_weight: Weight) -> Result<(), BarrierRefusal> {
    if max_weight.ref_time > credit.ref_time || max_weight.proof_size > credit.proof_size {
        return Err(BarrierRefusal("weight credit too low"));
    }
    credit.ref_time = credit.ref_time.saturating_sub(max_weight.ref_time);
    credit.proof_size = credit.proof_size.saturating_sub(max_weight.proof_size);
    Ok(())
}

/// A message that pays for itself: it takes assets into holding (withdraw, reserve deposit,
/// teleport or claim), may change its origin, then buys at least `max_weight` of execution
/// (an unlimited `BuyExecution` is narrowed to `max_weight`) or pays fees.
pub fn allow_paid_execution(
    message: &mut [Instruction],
    max_weight: Weight,
) -> Result<(), BarrierRefusal> {
    let end = message.len().min(MAX_INSTRUCTIONS_BEFORE_FEES);
    let mut instructions = message.iter_mut().take(end);
    match instructions.next() {
        Some(
            Instruction::WithdrawAsset(_)
            | Instruction::ReserveAssetDeposited(_)
            | Instruction::ReceiveTeleportedAsset(_)
            | Instruction::ClaimAsset { .. },
        ) => {}
        _ => {
            return Err(BarrierRefusal(
                "a paid message starts by taking assets into holding",
            ))
        }
    }
    for instruction in instructions {
        match instruction {
            Instruction::ClearOrigin
            | Instruction::AliasOrigin(_)
            | Instruction::SetHints { .. } => {}
            Instruction::DescendOrigin(junctions) if *junctions != Junctions::Here => {}
            Instruction::BuyExecution {
                weight_limit: WeightLimit::Limited(weight),
                ..
            } if weight.ref_time >= max_weight.ref_time
                && weight.proof_size >= max_weight.proof_size =>
            {
                *weight = max_weight;
                return Ok(());
            }
            Instruction::BuyExecution { weight_limit, .. }
                if *weight_limit == WeightLimit::Unlimited =>
            {
                *weight_limit = WeightLimit::Limited(max_weight);
                return Ok(());
            }
            Instruction::PayFees { .. } => return Ok(()),
            _ => return Err(BarrierRefusal("a paid message must buy enough execution")),
        }
    }
    Err(BarrierRefusal("a paid message must buy enough execution"))
}

/// A message from a trusted location that asks to run unpaid: it starts with
/// `UnpaidExecution` whose limit covers `max_weight`.
pub fn allow_explicit_unpaid_execution(
    message: &[Instruction],
    max_weight: Weight,
) -> Result<(), BarrierRefusal> {
    match message.first() {
        Some(Instruction::UnpaidExecution {
            weight_limit: WeightLimit::Unlimited,
            ..
        }) => Ok(()),
        Some(Instruction::UnpaidExecution {
            weight_limit: WeightLimit::Limited(limit),
            ..
        }) if limit.ref_time >= max_weight.ref_time
            && limit.proof_size >= max_weight.proof_size =>
        {
            Ok(())
        }
        _ => Err(BarrierRefusal(
            "unpaid execution must be asked for with its weight",
        )),
    }
}

/// A lone answer to a query (with at most a topic after it); the chain checks it expected it.
pub fn is_query_response(message: &[Instruction]) -> bool {
    matches!(
        message,
        [Instruction::QueryResponse { .. }]
            | [Instruction::QueryResponse { .. }, Instruction::SetTopic(_)]
    )
}

/// A lone version subscription or unsubscription (with at most a topic after it).
pub fn is_version_subscription(message: &[Instruction]) -> bool {
    matches!(
        message,
        [Instruction::SubscribeVersion { .. } | Instruction::UnsubscribeVersion]
            | [
                Instruction::SubscribeVersion { .. } | Instruction::UnsubscribeVersion,
                Instruction::SetTopic(_)
            ]
    )
}

/// A lone HRMP notification (with at most a topic after it), which only the relay chain sends.
pub fn is_hrmp_notification(message: &[Instruction]) -> bool {
    let notification = |instruction: &Instruction| {
        matches!(
            instruction,
            Instruction::HrmpNewChannelOpenRequest { .. }
                | Instruction::HrmpChannelAccepted { .. }
                | Instruction::HrmpChannelClosing { .. }
        )
    };
    match message {
        [only] => notification(only),
        [first, Instruction::SetTopic(_)] => notification(first),
        _ => false,
    }
}

/// The origin after the message's leading `DescendOrigin` instructions (at most 8), and how
/// many there are: barriers judge the rest of the message as coming from that origin, as
/// Polkadot's `WithComputedOrigin` does (a user's message sent through a chain starts so).
pub fn computed_origin(origin: &Location, message: &[Instruction]) -> Option<(Location, usize)> {
    let mut computed = origin.clone();
    let mut skipped: usize = 0;
    for instruction in message.iter().take(MAX_JUNCTIONS) {
        let Instruction::DescendOrigin(junctions) = instruction else {
            break;
        };
        for junction in junctions.as_slice() {
            computed = computed.pushed(*junction)?;
        }
        skipped = skipped.saturating_add(1);
    }
    Some((computed, skipped))
}
