//! Messages from peers: votes (checked in one batch), commits, and catch-up requests and
//! answers.

use super::engine::{FinalityEngine, Output};
use super::error::MessageError;
use super::justification::{verify_justification_with, Justification};
use super::message::{CatchUp, FinalityMessage, Phase, SignedVote};
use super::round::Round;
use crate::verify::SignatureCheck;
use crate::PeerId;

impl FinalityEngine {
    /// Handles a batch of messages; the votes among them share one signature batch.
    pub(super) fn on_messages(
        &mut self,
        messages: Vec<(PeerId, FinalityMessage)>,
        out: &mut Vec<Output>,
    ) {
        let mut votes: Vec<(PeerId, SignedVote)> = Vec::new();
        for (peer, message) in messages {
            match message {
                FinalityMessage::Vote(vote) => {
                    if self.wants_vote(peer, &vote, out) {
                        votes.push((peer, vote));
                    }
                }
                FinalityMessage::Commit {
                    set_id,
                    justification,
                } => self.on_commit(peer, set_id, justification, out),
                FinalityMessage::CatchUpRequest { set_id, round } => {
                    self.on_catch_up_request(peer, set_id, round, out)
                }
                FinalityMessage::CatchUp(catch_up) => self.on_catch_up(peer, catch_up, out),
            }
        }
        if votes.is_empty() {
            return;
        }
        let checks: Vec<SignatureCheck> = votes.iter().map(|(_, v)| v.check()).collect();
        let valid = self.verify(&checks);
        for ((peer, vote), ok) in votes.into_iter().zip(valid) {
            if ok {
                self.import_vote(peer, vote, out);
            } else {
                out.push(Output::Misbehaviour(
                    peer,
                    MessageError::BadSignature(vote.id),
                ));
            }
        }
    }

    /// Checks signatures through the engine's verifier, counting them.
    pub(super) fn verify(&mut self, checks: &[SignatureCheck]) -> Vec<bool> {
        self.stats.signatures_checked = self
            .stats
            .signatures_checked
            .saturating_add(checks.len() as u64);
        self.verifier.verify(checks)
    }

    /// Whether a vote is worth a signature check: right set, a known voter, a round this
    /// voter can use, and not held already. Asks for a catch-up when the vote is far ahead.
    fn wants_vote(&mut self, peer: PeerId, vote: &SignedVote, out: &mut Vec<Output>) -> bool {
        if vote.set_id != self.set.set_id() {
            return false;
        }
        if self.set.weight(&vote.id).is_none() {
            out.push(Output::Misbehaviour(
                peer,
                MessageError::UnknownVoter(vote.id),
            ));
            return false;
        }
        let current = self.current.number;
        if vote.round >= current.saturating_add(2) {
            self.request_catch_up(peer, out);
            return false;
        }
        let held = match (vote.vote.phase(), self.round_of(vote.round)) {
            (Some(phase), Some(round)) => round.phase(phase).holds(&vote.compact()),
            (None, Some(round)) => round.proposal.is_some(),
            (_, None) => vote.round != current.saturating_add(1),
        };
        !held && !self.is_pending(vote)
    }

    fn request_catch_up(&mut self, peer: PeerId, out: &mut Vec<Output>) {
        let waited = self
            .catch_up_sent_at
            .is_none_or(|at| self.now >= at.saturating_add(self.config.catch_up_timeout_ms));
        if waited {
            self.catch_up_sent_at = Some(self.now);
            out.push(Output::SendTo(
                peer,
                FinalityMessage::CatchUpRequest {
                    set_id: self.set.set_id(),
                    round: self.current.number,
                },
            ));
        }
    }

    fn on_commit(
        &mut self,
        peer: PeerId,
        set_id: u64,
        justification: Justification,
        out: &mut Vec<Output>,
    ) {
        let target = justification.target;
        if set_id != self.set.set_id()
            || target.number <= self.tree.root_number()
            || self.tree.number(&target.hash) != Some(target.number)
        {
            return;
        }
        let count = justification.precommits.len() as u64;
        self.stats.signatures_checked = self.stats.signatures_checked.saturating_add(count);
        match verify_justification_with(&self.set, target, &justification, self.verifier.as_mut()) {
            Ok(()) => self.finalize(target, justification, out),
            Err(error) => out.push(Output::Misbehaviour(peer, error.into())),
        }
    }

    fn on_catch_up_request(
        &mut self,
        peer: PeerId,
        set_id: u64,
        round: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(previous) = self.past.back() else {
            return;
        };
        if set_id != self.set.set_id() || previous.number < round {
            return;
        }
        out.push(Output::SendTo(
            peer,
            FinalityMessage::CatchUp(CatchUp {
                set_id,
                round: previous.number,
                prevotes: previous.prevotes.all(),
                precommits: previous.precommits.all(),
            }),
        ));
    }

    /// Adopts a peer's completed round if it is ahead of ours and its votes show it completable.
    fn on_catch_up(&mut self, peer: PeerId, catch_up: CatchUp, out: &mut Vec<Output>) {
        if catch_up.set_id != self.set.set_id() || catch_up.round < self.current.number {
            return;
        }
        let set_id = catch_up.set_id;
        let votes: Vec<SignedVote> = catch_up
            .prevotes
            .iter()
            .map(|v| v.expand(Phase::Prevote, catch_up.round, set_id))
            .chain(
                catch_up
                    .precommits
                    .iter()
                    .map(|v| v.expand(Phase::Precommit, catch_up.round, set_id)),
            )
            .collect();
        let mut round = Round::new(catch_up.round, self.now);
        for vote in &votes {
            let target = vote.vote.target();
            let Some(weight) = self.set.weight(&vote.id) else {
                out.push(Output::Misbehaviour(
                    peer,
                    MessageError::UnknownVoter(vote.id),
                ));
                return;
            };
            if self.tree.number(&target.hash) != Some(target.number) {
                // Blocks we do not have yet (or pruned): we cannot judge the round.
                return;
            }
            if let Some(phase) = vote.vote.phase() {
                round.add(&self.tree, phase, vote.compact(), weight);
            }
        }
        let state = round.state(&self.tree, &self.set);
        if !state.completable || round.prevotes.seen_weight() < self.set.threshold() {
            out.push(Output::Misbehaviour(
                peer,
                MessageError::BadCatchUp("the round it shows is not completable"),
            ));
            return;
        }
        let checks: Vec<SignatureCheck> = votes.iter().map(SignedVote::check).collect();
        if self.verify(&checks).contains(&false) {
            out.push(Output::Misbehaviour(
                peer,
                MessageError::BadCatchUp("a vote signature does not verify"),
            ));
            return;
        }
        round.prevoted = true;
        round.precommitted = true;
        round.proposed = true;
        self.current = round;
        self.catch_up_sent_at = None;
        self.stats.catch_ups = self.stats.catch_ups.saturating_add(1);
        self.start_round(catch_up.round.saturating_add(1), out);
    }
}
