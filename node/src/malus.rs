//! Hostile validator behaviours, to test that honest validators catch them (`tessera run
//! --malus`). A validator with any of them lies the way an attacker in its place would; it is
//! never meant for a real network.

use std::fmt;

/// One hostile behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// Backs a garbage candidate for every collation its group gets (the collator's PoV with a
    /// made-up head, the same for every such backer, so two of them back it together), says
    /// every candidate is valid when checking approval, and never votes in a dispute (its
    /// vote could only name it; its backing statements must).
    BackGarbage,
    /// Approves every candidate it is assigned, and votes valid in disputes, without checking.
    ApproveBlindly,
    /// Checks every candidate included, assigned or not, and finds it invalid: disputes every
    /// valid candidate.
    DisputeValid,
    /// Never answers a request for an availability chunk.
    WithholdChunks,
    /// Signs a second prevote and precommit in every round it votes in, for its last
    /// finalized block: a finality equivocation every voter sees.
    DoubleVote,
}

/// The hostile behaviours of a validator; none for an honest one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Malus {
    /// [`Behaviour::BackGarbage`].
    pub back_garbage: bool,
    /// [`Behaviour::ApproveBlindly`].
    pub approve_blindly: bool,
    /// [`Behaviour::DisputeValid`].
    pub dispute_valid: bool,
    /// [`Behaviour::WithholdChunks`].
    pub withhold_chunks: bool,
    /// [`Behaviour::DoubleVote`].
    pub double_vote: bool,
}

/// The byte a garbage-backing validator appends to a candidate's head.
const GARBAGE: u8 = 0xBA;

impl Malus {
    /// The behaviours listed.
    pub fn of(behaviours: &[Behaviour]) -> Self {
        let has = |b| behaviours.contains(&b);
        Malus {
            back_garbage: has(Behaviour::BackGarbage),
            approve_blindly: has(Behaviour::ApproveBlindly),
            dispute_valid: has(Behaviour::DisputeValid),
            withhold_chunks: has(Behaviour::WithholdChunks),
            double_vote: has(Behaviour::DoubleVote),
        }
    }

    /// Whether it has no hostile behaviour.
    pub fn is_honest(&self) -> bool {
        *self == Malus::default()
    }

    /// Whether it keeps out of disputes, as a backer of garbage would.
    pub fn silent_in_disputes(&self) -> bool {
        self.back_garbage
    }

    /// What its approval checks and dispute votes say without validating, if it lies there.
    pub fn verdict(&self) -> Option<bool> {
        if self.dispute_valid {
            Some(false)
        } else if self.approve_blindly || self.back_garbage {
            Some(true)
        } else {
            None
        }
    }

    /// A garbage candidate made from `candidate`: the same PoV, erasure root and collator
    /// signature (which do not cover the head), with a head no valid execution produces.
    pub fn garbage(
        candidate: &tessera_runtime::parachain::CommittedCandidateReceipt,
    ) -> tessera_runtime::parachain::CommittedCandidateReceipt {
        let mut garbage = candidate.clone();
        garbage.commitments.head_data.0.push(GARBAGE);
        garbage.descriptor.para_head = garbage.commitments.head_data.hash();
        garbage
    }
}

impl fmt::Display for Malus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = [
            (self.back_garbage, "back-garbage"),
            (self.approve_blindly, "approve-blindly"),
            (self.dispute_valid, "dispute-valid"),
            (self.withhold_chunks, "withhold-chunks"),
            (self.double_vote, "double-vote"),
        ];
        let on: Vec<&str> = named
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&on.join(","))
    }
}
