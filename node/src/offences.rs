//! Equivocation reports: what the engines found (two blocks sealed for one slot, two finality
//! votes in one round and phase) as the relay runtime's unsigned report extrinsics, which the
//! client offers in the blocks this node authors ([`crate::client::Client::report`]). A
//! validator's signed approval tally goes the same way.
//!
//! Reports are not gossiped, as on Polkadot: every validator sees the equivocation itself, and
//! any one of them that authors next gets it included.

use tessera_consensus::authorship::AuthorEquivocation;
use tessera_consensus::finality::VoteEquivocation;
use tessera_relay_chain::approval_rewards::{self, ApprovalTally};
use tessera_relay_chain::{babe, grandpa, Call};
use tessera_runtime::dispatch::Dispatch;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::{OpaqueExtrinsic, Signature};

/// The report of an authority that sealed two headers for one slot.
pub fn authorship_report(equivocation: AuthorEquivocation) -> OpaqueExtrinsic {
    let proof = babe::EquivocationProof {
        offender: equivocation.offender,
        slot: equivocation.slot,
        first_header: equivocation.first,
        second_header: equivocation.second,
    };
    unsigned(Call::Babe(babe::Call::ReportEquivocationUnsigned {
        equivocation_proof: Box::new(proof),
    }))
}

/// The report of a voter that signed two votes in one round and phase.
pub fn finality_report(equivocation: &VoteEquivocation) -> OpaqueExtrinsic {
    let (first, second) = (&equivocation.first, &equivocation.second);
    let proof = grandpa::EquivocationProof {
        set_id: first.set_id,
        round: first.round,
        offender: first.id,
        first: (first.vote, first.signature),
        second: (second.vote, second.signature),
    };
    unsigned(Call::Grandpa(grandpa::Call::ReportEquivocationUnsigned {
        equivocation_proof: Box::new(proof),
    }))
}

/// A validator's signed tally of a session's approvals.
pub fn tally_report(tally: ApprovalTally, signature: Signature) -> OpaqueExtrinsic {
    unsigned(Call::ApprovalRewards(approval_rewards::Call::SubmitTally {
        tally,
        signature,
    }))
}

/// Whether `xt` is an unsigned report.
pub fn is_report(xt: &OpaqueExtrinsic) -> bool {
    Extrinsic::<Call>::decode_exact(&xt.0)
        .is_ok_and(|xt| xt.signature.is_none() && xt.call.is_report())
}

fn unsigned(call: Call) -> OpaqueExtrinsic {
    Extrinsic::<Call> {
        signature: None,
        call,
    }
    .to_opaque()
}
