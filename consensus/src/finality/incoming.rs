//! Messages from peers: votes (checked in one batch), commits, and catch-up requests and
//! answers.

use super::engine::{FinalityEngine, Output};
use super::error::MessageError;
use super::justification::{verify_justification_with, Justification};
use super::message::{CatchUp, FinalityMessage, Phase, SignedTarget, SignedVote, Target};
use super::pending::{pending_key, PendingKey, MAX_PER_VOTER};
use super::round::Round;
use crate::verify::SignatureCheck;
use crate::PeerId;
use std::collections::BTreeMap;
use tessera_runtime::AccountId;

/// Whether a vote is worth its signature check, and what for.
enum Wanted {
    /// No: another set, a vote held already, or a voter outside the set.
    No,
    /// Yes, to import.
    Yes,
    /// Two or more rounds ahead: only to ask its sender for a catch-up once it verifies.
    FarAhead,
}

impl FinalityEngine {
    /// Handles a batch of messages; the votes among them share one signature batch, which takes
    /// at most two votes per voter, round and kind (counting those waiting already).
    pub(super) fn on_messages(
        &mut self,
        messages: Vec<(PeerId, FinalityMessage)>,
        out: &mut Vec<Output>,
    ) {
        let mut votes: Vec<(PeerId, SignedVote)> = Vec::new();
        let mut far_ahead: Vec<(PeerId, SignedVote)> = Vec::new();
        let mut per_key: BTreeMap<PendingKey, usize> = BTreeMap::new();
        for (peer, message) in messages {
            match message {
                FinalityMessage::Vote(vote) => match self.wants_vote(peer, &vote, out) {
                    Wanted::No => {}
                    // At most one per batch: it only serves to ask its sender for a catch-up.
                    Wanted::FarAhead if far_ahead.is_empty() => far_ahead.push((peer, vote)),
                    Wanted::FarAhead => {}
                    Wanted::Yes => {
                        let taken = per_key
                            .entry(pending_key(&vote))
                            .or_insert_with(|| self.pending.count_for(&vote));
                        if *taken < MAX_PER_VOTER {
                            *taken = taken.saturating_add(1);
                            votes.push((peer, vote));
                        }
                    }
                },
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
        let far_count = far_ahead.len();
        votes.splice(0..0, far_ahead);
        if votes.is_empty() {
            return;
        }
        let checks: Vec<SignatureCheck> = votes.iter().map(|(_, v)| v.check()).collect();
        let valid = self.verify(&checks);
        for (position, ((peer, vote), ok)) in votes.into_iter().zip(valid).enumerate() {
            if ok && position < far_count {
                // Only a vote its voter really signed may send us to its sender for a catch-up.
                self.request_catch_up(peer, out);
            } else if ok {
                if self.is_forwardable(&vote) {
                    out.push(Output::Verified(peer));
                }
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
    /// voter can use, not held already and not from a voter already seen equivocating there.
    /// Asks for a catch-up when the vote is far ahead.
    fn wants_vote(&mut self, peer: PeerId, vote: &SignedVote, out: &mut Vec<Output>) -> Wanted {
        if vote.set_id != self.set.set_id() {
            return Wanted::No;
        }
        if self.set.weight(&vote.id).is_none() {
            out.push(Output::Misbehaviour(
                peer,
                MessageError::UnknownVoter(vote.id),
            ));
            return Wanted::No;
        }
        let current = self.current.number;
        if vote.round >= current.saturating_add(2) {
            return Wanted::FarAhead;
        }
        let held = match (vote.vote.phase(), self.round_of(vote.round)) {
            (Some(phase), Some(round)) => {
                let votes = round.phase(phase);
                votes.holds(&vote.compact()) || votes.is_equivocator(&vote.id)
            }
            (None, Some(round)) => round.proposal.is_some(),
            (_, None) => vote.round != current.saturating_add(1),
        };
        if held || self.pending.contains(vote) {
            Wanted::No
        } else {
            Wanted::Yes
        }
    }

    /// Whether a vote whose signature verified is of use to peers too: a round kept here or
    /// the next one, for a block known here above the finalized one (so its number was
    /// checked). Anything else is used or kept here but not forwarded.
    fn is_forwardable(&self, vote: &SignedVote) -> bool {
        let target = vote.vote.target();
        let round_ok = self.round_of(vote.round).is_some()
            || vote.round == self.current.number.saturating_add(1);
        round_ok
            && target.number > self.tree.root_number()
            && self.tree.number(&target.hash) == Some(target.number)
    }

    fn request_catch_up(&mut self, peer: PeerId, out: &mut Vec<Output>) {
        let waited = self
            .catch_up_sent_at
            .is_none_or(|at| self.now >= at.saturating_add(self.config.catch_up_timeout_ms));
        if waited {
            self.catch_up_sent_at = Some(self.now);
            self.catch_up_peer = Some(peer);
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
            Ok(()) => {
                out.push(Output::Verified(peer));
                self.finalize(target, justification, out)
            }
            Err(error) => out.push(Output::Misbehaviour(peer, error.into())),
        }
    }

    /// Answers with the last completed round, at most once per round and peer.
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
        let answered = previous.number;
        if set_id != self.set.set_id()
            || answered < round
            || self.catch_up_replies.get(&peer) == Some(&answered)
        {
            return;
        }
        let catch_up = CatchUp {
            set_id,
            round: answered,
            prevotes: previous.prevotes.all(),
            precommits: previous.precommits.all(),
        };
        self.catch_up_replies.retain(|_, r| *r >= answered);
        self.catch_up_replies.insert(peer, answered);
        out.push(Output::SendTo(peer, FinalityMessage::CatchUp(catch_up)));
    }

    /// Adopts the answer to our catch-up request if it is ahead of our round and its votes show
    /// it completable. At most two votes per voter and phase are looked at (an honest round
    /// holds no more); votes at or below the finalized block count as seen, votes for blocks
    /// not imported yet wait like gossiped ones.
    fn on_catch_up(&mut self, peer: PeerId, catch_up: CatchUp, out: &mut Vec<Output>) {
        if self.catch_up_peer != Some(peer) {
            // Unsolicited, or not from the peer asked.
            return;
        }
        if catch_up.set_id != self.set.set_id() || catch_up.round < self.current.number {
            return;
        }
        self.catch_up_peer = None;
        let (set_id, number) = (catch_up.set_id, catch_up.round);
        let mut round = Round::new(number, self.now);
        let mut checked: Vec<SignedVote> = Vec::new();
        let mut waiting: Vec<SignedVote> = Vec::new();
        for (phase, list) in [
            (Phase::Prevote, &catch_up.prevotes),
            (Phase::Precommit, &catch_up.precommits),
        ] {
            let mut per_voter: BTreeMap<AccountId, Vec<Target>> = BTreeMap::new();
            for vote in list {
                let Some(weight) = self.set.weight(&vote.id) else {
                    out.push(Output::Misbehaviour(
                        peer,
                        MessageError::UnknownVoter(vote.id),
                    ));
                    return;
                };
                let targets = per_voter.entry(vote.id).or_default();
                if targets.len() >= MAX_PER_VOTER || targets.contains(&vote.target) {
                    continue;
                }
                targets.push(vote.target);
                match self.catch_up_vote(vote) {
                    CatchUpVote::Count => {
                        round.add(&self.tree, phase, *vote, weight);
                    }
                    CatchUpVote::Wait => waiting.push(vote.expand(phase, number, set_id)),
                    CatchUpVote::Drop => continue,
                }
                checked.push(vote.expand(phase, number, set_id));
            }
        }
        let state = round.state(&self.tree, &self.set);
        if !state.completable || round.prevotes.seen_weight() < self.set.threshold() {
            if let Some(highest) = waiting
                .iter()
                .map(|v| v.vote.target())
                .max_by_key(|t| t.number)
            {
                // Votes for blocks this node has not imported yet (it is still syncing) cannot
                // be judged: fetch the blocks; the catch-up is asked for again after a timeout.
                out.push(Output::UnknownBlock(peer, highest));
                return;
            }
            out.push(Output::Misbehaviour(
                peer,
                MessageError::BadCatchUp("the round it shows is not completable"),
            ));
            return;
        }
        let checks: Vec<SignatureCheck> = checked.iter().map(SignedVote::check).collect();
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
        self.start_round(number.saturating_add(1), out);
        for vote in waiting {
            self.import_vote(peer, vote, out);
        }
    }

    /// How a catch-up vote is used: counted now (its block is known, or it is at or below the
    /// finalized block and so supports nothing above it), kept until its block arrives, or
    /// dropped (a known block under a wrong number).
    fn catch_up_vote(&self, vote: &SignedTarget) -> CatchUpVote {
        let target = vote.target;
        match self.tree.number(&target.hash) {
            Some(number) if number == target.number => CatchUpVote::Count,
            Some(_) => CatchUpVote::Drop,
            None if target.number <= self.tree.root_number() => CatchUpVote::Count,
            None => CatchUpVote::Wait,
        }
    }
}

/// What to do with one vote of a catch-up answer.
enum CatchUpVote {
    Count,
    Wait,
    Drop,
}
