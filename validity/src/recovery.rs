//! Rebuilding a candidate's available data (its PoV and validation data) after inclusion, as
//! approval checkers and disputes need it.
//!
//! First one backer (chosen by the seed, so checkers spread over them) is asked for the whole
//! data: a backer keeps it, and one answer is cheapest; only one, as each backer that does not
//! answer costs a request's timeout. Data that does not code to the candidate's erasure root is
//! the answering backer's fault and is dropped. Failing that, chunks are fetched from the
//! validators holding them (validator `i` keeps chunk `i`, a backer every chunk), each checked
//! against the erasure root with its proof, until [`recovery_threshold`] of them rebuild the
//! data; the root is then computed again from the rebuilt data, and a mismatch means the
//! backers committed to a root of no valid coding: the candidate is invalid, their fault.
//!
//! [`Recovery`] decides what to ask whom and judges the answers; the node sends the requests.
//! What it keeps is bounded by the session's validator count.

use parity_scale_codec::{DecodeAll, Encode};
use std::collections::{BTreeMap, BTreeSet};
use tessera_relay_chain::availability::{
    reconstruct, recovery_threshold, verify_chunk, AvailableData, ErasureChunk, ErasureError,
};
use tessera_runtime::Hash;

/// What to ask of a validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The whole available data, of a backer.
    Full {
        /// The validator asked.
        from: u32,
    },
    /// Its chunk: validator `from` keeps chunk `from`.
    Chunk {
        /// The validator asked, and the chunk's index.
        from: u32,
    },
}

/// Why a recovery ended without the data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// Too few validators answered with a valid chunk.
    #[error("only {got} of the {needed} chunks needed could be fetched")]
    Unavailable {
        /// Valid chunks received.
        got: usize,
        /// The recovery threshold.
        needed: usize,
    },
    /// Enough valid chunks rebuild data that does not code to the erasure root, or does not
    /// decode: the backers committed to garbage, and the candidate is invalid.
    #[error("the rebuilt data does not match the candidate's erasure root: {0}")]
    Invalid(String),
    /// The session's size cannot be coded for.
    #[error(transparent)]
    Erasure(#[from] ErasureError),
}

/// What an answer showed about its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Useful, or an honest "don't have it".
    Fine,
    /// Data or a chunk that does not match the erasure root: blame the sender.
    Bad(String),
}

/// One candidate's recovery.
#[derive(Debug)]
pub struct Recovery {
    erasure_root: Hash,
    validators: u32,
    threshold: usize,
    /// The backer to ask for the whole data, until asked.
    whole_from: Option<u32>,
    /// Validators not yet asked for their chunk, in asking order.
    holders: Vec<u32>,
    /// Requests sent and not answered.
    in_flight: BTreeSet<(bool, u32)>,
    chunks: BTreeMap<u32, ErasureChunk>,
    done: Option<Result<AvailableData, RecoveryError>>,
}

impl Recovery {
    /// Recovers the data under `erasure_root` in a session of `validators`, asking one of
    /// `backers` first; `seed` orders whom to ask (different per node, so load spreads).
    pub fn new(
        erasure_root: Hash,
        validators: u32,
        backers: &[u32],
        seed: u64,
    ) -> Result<Self, RecoveryError> {
        let threshold = recovery_threshold(validators as usize)?;
        let mut backers: Vec<u32> = backers
            .iter()
            .copied()
            .filter(|b| *b < validators)
            .collect();
        backers.sort_unstable();
        backers.dedup();
        let rotate = |list: &mut Vec<u32>| {
            if !list.is_empty() {
                let by = usize::try_from(seed)
                    .unwrap_or(0)
                    .checked_rem(list.len())
                    .unwrap_or(0);
                list.rotate_left(by);
            }
        };
        rotate(&mut backers);
        // Backers hold every chunk: ask them for chunks last, as they were asked already.
        let mut holders: Vec<u32> = (0..validators).filter(|v| !backers.contains(v)).collect();
        rotate(&mut holders);
        holders.extend(backers.iter().copied());
        Ok(Recovery {
            erasure_root,
            validators,
            threshold,
            whole_from: backers.first().copied(),
            holders,
            in_flight: BTreeSet::new(),
            chunks: BTreeMap::new(),
            done: None,
        })
    }

    /// The outcome, once there is one.
    pub fn outcome(&self) -> Option<&Result<AvailableData, RecoveryError>> {
        self.done.as_ref()
    }

    /// Takes the outcome, once there is one.
    pub fn take_outcome(&mut self) -> Option<Result<AvailableData, RecoveryError>> {
        self.done.take()
    }

    /// The requests to send now, keeping at most `parallel` (at least one) chunk requests in
    /// flight, and one request for the whole data at a time. Every request must be answered,
    /// with `None` when it fails or times out: nothing else moves recovery on. Once nothing is
    /// in flight and nothing is left to ask, the recovery ends as unavailable.
    pub fn requests(&mut self, parallel: usize) -> Vec<Request> {
        let parallel = parallel.max(1);
        if self.done.is_some() {
            return Vec::new();
        }
        let mut requests = Vec::new();
        let full_in_flight = self.in_flight.iter().any(|(full, _)| *full);
        if !full_in_flight && self.chunks.is_empty() {
            if let Some(from) = self.whole_from.take() {
                self.in_flight.insert((true, from));
                return vec![Request::Full { from }];
            }
        }
        if full_in_flight {
            return requests;
        }
        let wanted = self.threshold.saturating_sub(self.chunks.len());
        while self.in_flight.len() < parallel.min(wanted.max(1)) && !self.holders.is_empty() {
            let from = self.holders.remove(0);
            self.in_flight.insert((false, from));
            requests.push(Request::Chunk { from });
        }
        if requests.is_empty() && self.in_flight.is_empty() {
            self.done = Some(Err(RecoveryError::Unavailable {
                got: self.chunks.len(),
                needed: self.threshold,
            }));
        }
        requests
    }

    /// A backer's answer to [`Request::Full`] (none: it has nothing, or did not answer).
    pub fn on_full(&mut self, from: u32, data: Option<AvailableData>) -> Answer {
        if !self.in_flight.remove(&(true, from)) || self.done.is_some() {
            return Answer::Fine;
        }
        let Some(data) = data else {
            return Answer::Fine;
        };
        match data.erasure_root(self.validators as usize) {
            Ok(root) if root == self.erasure_root => {
                self.done = Some(Ok(data));
                Answer::Fine
            }
            Ok(_) | Err(_) => {
                Answer::Bad("available data that does not match the erasure root".into())
            }
        }
    }

    /// A validator's answer to [`Request::Chunk`] (none: it has nothing, or did not answer).
    pub fn on_chunk(&mut self, from: u32, chunk: Option<ErasureChunk>) -> Answer {
        if !self.in_flight.remove(&(false, from)) || self.done.is_some() {
            return Answer::Fine;
        }
        let Some(chunk) = chunk else {
            return Answer::Fine;
        };
        if chunk.index != from {
            return Answer::Bad(format!("chunk {} sent for chunk {from}", chunk.index));
        }
        if let Err(err) = verify_chunk(&self.erasure_root, self.validators as usize, &chunk) {
            return Answer::Bad(err.to_string());
        }
        self.chunks.insert(from, chunk);
        if self.chunks.len() >= self.threshold {
            self.done = Some(self.rebuild());
        }
        Answer::Fine
    }

    fn rebuild(&self) -> Result<AvailableData, RecoveryError> {
        let validators = self.validators as usize;
        let pieces = self
            .chunks
            .values()
            .map(|c| (c.index as usize, c.chunk.as_slice()));
        let bytes =
            reconstruct(validators, pieces).map_err(|e| RecoveryError::Invalid(e.to_string()))?;
        let data = AvailableData::decode_all(&mut &bytes[..])
            .map_err(|e| RecoveryError::Invalid(format!("the data does not decode: {e}")))?;
        // Chunks that each match the root can still rebuild data of another coding: only the
        // root of the rebuilt data proves it is what the backers committed to.
        let root = data
            .erasure_root(validators)
            .map_err(|e| RecoveryError::Invalid(e.to_string()))?;
        if root != self.erasure_root || bytes.len() != data.encoded_size() {
            return Err(RecoveryError::Invalid(format!(
                "the rebuilt data's root is {root}, the candidate's {}",
                self.erasure_root
            )));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_relay_chain::availability::{chunks_with_proofs, encode_chunks};
    use tessera_runtime::parachain::{PersistedValidationData, PoV};

    fn data(byte: u8) -> AvailableData {
        AvailableData {
            pov: PoV {
                block_data: tessera_runtime::parachain::BlockData(vec![byte; 3_000]),
            },
            validation_data: PersistedValidationData {
                parent_head: tessera_runtime::parachain::HeadData(vec![byte; 8]),
                relay_parent_number: 1,
                relay_parent_storage_root: Hash::default(),
                max_pov_size: 5 << 20,
            },
        }
    }

    /// Answers every request from `chunks` (or `full`), except those `withheld`.
    fn drive(
        recovery: &mut Recovery,
        chunks: &[ErasureChunk],
        full: Option<&AvailableData>,
        withheld: &[u32],
    ) -> (
        Result<AvailableData, RecoveryError>,
        Vec<(u32, Answer)>,
        usize,
    ) {
        let mut blamed = Vec::new();
        let mut asked = 0;
        loop {
            let requests = recovery.requests(4);
            if let Some(outcome) = recovery.take_outcome() {
                return (outcome, blamed, asked);
            }
            for request in requests {
                asked += 1;
                let (from, answer) = match request {
                    Request::Full { from } => {
                        let given = full.filter(|_| !withheld.contains(&from)).cloned();
                        (from, recovery.on_full(from, given))
                    }
                    Request::Chunk { from } => {
                        let given = chunks
                            .get(from as usize)
                            .filter(|_| !withheld.contains(&from))
                            .cloned();
                        (from, recovery.on_chunk(from, given))
                    }
                };
                if answer != Answer::Fine {
                    blamed.push((from, answer));
                }
            }
        }
    }

    #[test]
    fn a_backer_answering_with_the_data_is_all_it_takes() {
        let good = data(1);
        let (root, chunks) = encode_chunks(&good.encode(), 10).unwrap();
        let mut recovery = Recovery::new(root, 10, &[3, 7], 0).unwrap();
        let (outcome, blamed, asked) = drive(&mut recovery, &chunks, Some(&good), &[]);
        assert_eq!(outcome, Ok(good));
        assert!(blamed.is_empty());
        assert_eq!(asked, 1);
    }

    #[test]
    fn with_the_backers_and_a_third_of_the_rest_silent_the_chunks_still_rebuild_it() {
        let good = data(2);
        let (root, chunks) = encode_chunks(&good.encode(), 10).unwrap();
        let mut recovery = Recovery::new(root, 10, &[0, 1], 5).unwrap();
        // The two backers and three others withhold: 5 of 10 answer, 4 are needed.
        let (outcome, blamed, _) = drive(&mut recovery, &chunks, Some(&good), &[0, 1, 4, 6, 8]);
        assert_eq!(outcome, Ok(good));
        assert!(blamed.is_empty());
    }

    #[test]
    fn wrong_data_or_chunks_are_blamed_on_their_sender_and_recovery_goes_on() {
        let good = data(3);
        let (root, mut chunks) = encode_chunks(&good.encode(), 10).unwrap();
        let liar = data(4);
        chunks[5].chunk[0] ^= 1;
        let mut recovery = Recovery::new(root, 10, &[2], 0).unwrap();
        // Validators 0, 1 and 3 are silent, so chunk 5 is among those fetched.
        let (outcome, blamed, _) = drive(&mut recovery, &chunks, Some(&liar), &[0, 1, 3]);
        assert_eq!(outcome, Ok(good));
        assert!(matches!(blamed[0], (2, Answer::Bad(_))), "{blamed:?}");
        assert!(blamed.iter().any(|(from, _)| *from == 5), "{blamed:?}");
    }

    #[test]
    fn too_few_chunks_end_as_unavailable() {
        let good = data(5);
        let (root, chunks) = encode_chunks(&good.encode(), 10).unwrap();
        let mut recovery = Recovery::new(root, 10, &[0], 0).unwrap();
        let (outcome, _, asked) = drive(&mut recovery, &chunks, None, &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            outcome,
            Err(RecoveryError::Unavailable { got: 2, needed: 4 })
        );
        assert_eq!(
            asked, 11,
            "the backer for the data, then every validator once"
        );
    }

    #[test]
    fn chunks_of_a_root_that_codes_no_valid_data_make_the_candidate_invalid() {
        // Backers committed to chunks that are not a coding of anything: each chunk matches
        // the root, but the rebuilt data does not code back to it.
        let garbage: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 64]).collect();
        let (root, chunks) = chunks_with_proofs(garbage);
        let mut recovery = Recovery::new(root, 10, &[0], 0).unwrap();
        let (outcome, blamed, _) = drive(&mut recovery, &chunks, None, &[]);
        assert!(
            matches!(outcome, Err(RecoveryError::Invalid(_))),
            "{outcome:?}"
        );
        assert!(
            blamed.is_empty(),
            "every chunk matched the root: {blamed:?}"
        );
    }
}
