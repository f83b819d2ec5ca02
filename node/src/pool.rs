//! The transaction pool: transactions checked on entry, handed to the block builder in nonce
//! order per sender and by tip across senders, and dropped with a reason once invalid.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use tessera_runtime::executive::{InvalidTransaction, ValidTransaction};
use tessera_runtime::{AccountId, Balance, BlockNumber, Hash, Nonce, OpaqueExtrinsic};

/// Default number of transactions a pool holds.
pub const DEFAULT_POOL_LIMIT: usize = 8_192;

/// Why the pool refused a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The runtime says it is invalid.
    #[error("invalid transaction: {0}")]
    Invalid(#[from] InvalidTransaction),
    /// The same bytes are already in the pool.
    #[error("transaction {0} is already in the pool")]
    AlreadyImported(Hash),
    /// Another transaction of the sender with the same nonce and at least the same tip is in.
    #[error("a transaction with nonce {nonce} and tip {tip} or more is already in the pool")]
    TooLowPriority {
        /// The nonce.
        nonce: Nonce,
        /// The tip to beat.
        tip: Balance,
    },
    /// The pool is full.
    #[error("the pool is full ({0} transactions)")]
    Full(usize),
    /// As many submitted transactions as the node queues wait for their check already.
    #[error("the node is checking {0} submitted transactions already; try again later")]
    Busy(usize),
    /// It waits for an earlier nonce of its sender that no one has sent, and the room kept
    /// for such transactions is taken.
    #[error("nonce {nonce} waits for nonce {missing}, and the pool holds as many waiting transactions as it may ({limit})")]
    TooManyWaiting {
        /// Its nonce.
        nonce: Nonce,
        /// The first nonce missing before it.
        missing: Nonce,
        /// The most the pool keeps.
        limit: usize,
    },
    /// The chain state could not be read to check it.
    #[error("cannot check the transaction: {0}")]
    State(String),
    /// Larger than any block would take.
    #[error("the transaction is {size} bytes; at most {max} are taken")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Largest transaction taken (a relay runtime of 3 MiB offered by `set_code` fits): one must
/// fit in a block, whose size [`MAX_BUILD_INPUT`] bounds.
pub const MAX_TRANSACTION_SIZE: usize = 3 * 1024 * 1024 + 64 * 1024;
/// Most bytes of extrinsics, inherents included, offered to the runtime for one block: the
/// block stays within what gossip carries (4 MiB), and its state changes and the runtime's
/// copies of them within what the Wasm host takes.
pub const MAX_BUILD_INPUT: usize = 4 * 1024 * 1024 - 128 * 1024;

/// A transaction the pool took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// Its hash.
    pub hash: Hash,
    /// What the runtime's check said (signer, nonce, tip).
    pub info: ValidTransaction,
    /// The pooled transaction with its sender and nonce it replaced (with a higher tip).
    pub replaced: Option<Hash>,
}

/// Transactions offered to a pool ([`Pool::triage`]): what it refused at once, and those the
/// runtime must check before [`Offer::admit`].
#[derive(Debug)]
pub struct Offer {
    /// Per offered transaction, in order: its refusal, or none while it waits for its check.
    outcomes: Vec<Option<Result<Admitted, PoolError>>>,
    /// Where each of `to_check` stands in `outcomes`.
    indices: Vec<usize>,
    to_check: Vec<OpaqueExtrinsic>,
}

impl Offer {
    /// The transactions the runtime must check.
    pub fn to_check(&self) -> &[OpaqueExtrinsic] {
        &self.to_check
    }

    /// Adds to `pool` those the runtime's check (`verdicts`, one per [`Self::to_check`], or
    /// why there are none) found valid; the outcome of every offered transaction, in order.
    pub fn admit(
        self,
        pool: &mut Pool,
        verdicts: Result<Vec<Result<ValidTransaction, PoolError>>, PoolError>,
    ) -> Vec<Result<Admitted, PoolError>> {
        let Offer {
            mut outcomes,
            indices,
            to_check,
        } = self;
        let verdicts = match verdicts {
            Ok(verdicts) => verdicts,
            Err(err) => to_check.iter().map(|_| Err(err.clone())).collect(),
        };
        for ((index, xt), verdict) in indices.into_iter().zip(to_check).zip(verdicts) {
            outcomes[index] = Some(pool.admit(xt, verdict));
        }
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome
                    .unwrap_or_else(|| Err(PoolError::State("the runtime gave no answer".into())))
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
struct Entry {
    xt: OpaqueExtrinsic,
    info: ValidTransaction,
    seq: u64,
}

/// Pending transactions. Those that wait for an earlier nonce nobody has sent yet (a gap)
/// may take only a sixteenth of the room: they cost their sender nothing until they are
/// included, so one funded account must not fill the pool with them.
#[derive(Debug)]
pub struct Pool {
    by_hash: HashMap<Hash, Entry>,
    by_sender: HashMap<AccountId, BTreeMap<Nonce, Hash>>,
    /// Transactions that had a gap before them when they came (until it is filled here).
    waiting: std::collections::HashSet<Hash>,
    limit: usize,
    next_seq: u64,
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new(DEFAULT_POOL_LIMIT)
    }
}

impl Pool {
    /// An empty pool holding at most `limit` transactions.
    pub fn new(limit: usize) -> Self {
        Pool {
            by_hash: HashMap::new(),
            by_sender: HashMap::new(),
            waiting: std::collections::HashSet::new(),
            limit,
            next_seq: 0,
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether the pool holds as many transactions as it may.
    pub fn is_full(&self) -> bool {
        self.by_hash.len() >= self.limit
    }

    /// Most transactions waiting for a missing earlier nonce the pool keeps.
    pub fn waiting_limit(&self) -> usize {
        (self.limit / 16).max(1)
    }

    /// How many pooled transactions wait for a missing earlier nonce.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether pooled transaction `hash` waits for a missing earlier nonce of its sender.
    pub fn is_waiting(&self, hash: &Hash) -> bool {
        self.waiting.contains(hash)
    }

    /// Whether the pool holds the transaction with this hash.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Adds a transaction the runtime validated as `info`; a higher tip replaces a pending
    /// transaction with the same sender and nonce.
    pub fn insert(
        &mut self,
        xt: OpaqueExtrinsic,
        info: ValidTransaction,
    ) -> Result<Hash, PoolError> {
        self.insert_replacing(xt, info).map(|(hash, _)| hash)
    }

    /// [`Self::insert`]; its hash, and the one it replaced, if any.
    pub fn insert_replacing(
        &mut self,
        xt: OpaqueExtrinsic,
        info: ValidTransaction,
    ) -> Result<(Hash, Option<Hash>), PoolError> {
        let hash = xt.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(PoolError::AlreadyImported(hash));
        }
        let replaced = self
            .by_sender
            .get(&info.signer)
            .and_then(|txs| txs.get(&info.nonce))
            .copied();
        // Ready if it is the sender's next nonce in state, or follows a pooled transaction
        // that is itself ready (kept in logarithmic time: a sender may pool thousands).
        let before = info.nonce.checked_sub(1).and_then(|previous| {
            self.by_sender
                .get(&info.signer)
                .and_then(|txs| txs.get(&previous))
        });
        let gap = info.nonce > info.next_nonce
            && before.is_none_or(|previous| self.waiting.contains(previous));
        if let Some(old) = replaced.and_then(|old| self.by_hash.get(&old)) {
            if old.info.tip >= info.tip {
                return Err(PoolError::TooLowPriority {
                    nonce: info.nonce,
                    tip: old.info.tip,
                });
            }
        } else if self.by_hash.len() >= self.limit {
            return Err(PoolError::Full(self.limit));
        } else if gap && self.waiting.len() >= self.waiting_limit() {
            return Err(PoolError::TooManyWaiting {
                nonce: info.nonce,
                missing: self.next_nonce(&info.signer, info.next_nonce),
                limit: self.waiting_limit(),
            });
        }
        if let Some(old) = replaced {
            self.remove(&old);
        }
        self.by_sender
            .entry(info.signer)
            .or_default()
            .insert(info.nonce, hash);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let (signer, nonce) = (info.signer, info.nonce);
        self.by_hash.insert(hash, Entry { xt, info, seq });
        if gap {
            self.waiting.insert(hash);
        } else if !self.waiting.is_empty() {
            // It may have filled a gap: the waiting ones right after it wait no longer.
            if let Some(txs) = self.by_sender.get(&signer) {
                let mut next = nonce.saturating_add(1);
                for (pooled_nonce, pooled) in txs.range(next..) {
                    if *pooled_nonce != next || !self.waiting.remove(pooled) {
                        break;
                    }
                    next = next.saturating_add(1);
                }
            }
        }
        Ok((hash, replaced))
    }

    /// Why `xt` is refused before the runtime is asked, if it is: a full pool, a size no
    /// block takes, or the same bytes already pooled (a flood of them costs no checks).
    pub fn refuses(&self, xt: &OpaqueExtrinsic) -> Option<PoolError> {
        if self.is_full() {
            Some(PoolError::Full(self.len()))
        } else if xt.0.len() > MAX_TRANSACTION_SIZE {
            Some(PoolError::TooLarge {
                size: xt.0.len(),
                max: MAX_TRANSACTION_SIZE,
            })
        } else {
            let hash = xt.hash();
            self.contains(&hash)
                .then_some(PoolError::AlreadyImported(hash))
        }
    }

    /// Sorts `xts` offered to the pool into those it refuses at once ([`Self::refuses`]) and
    /// those the runtime must check first.
    pub fn triage(&self, xts: Vec<OpaqueExtrinsic>) -> Offer {
        let mut offer = Offer {
            outcomes: Vec::with_capacity(xts.len()),
            indices: Vec::new(),
            to_check: Vec::new(),
        };
        for (index, xt) in xts.into_iter().enumerate() {
            let refused = self.refuses(&xt);
            if refused.is_none() {
                offer.indices.push(index);
                offer.to_check.push(xt);
            }
            offer.outcomes.push(refused.map(Err));
        }
        offer
    }

    /// Adds `xt` as the runtime's check found it (`verdict`), if it is valid.
    fn admit(
        &mut self,
        xt: OpaqueExtrinsic,
        verdict: Result<ValidTransaction, PoolError>,
    ) -> Result<Admitted, PoolError> {
        let info = verdict?;
        let (hash, replaced) = self.insert_replacing(xt, info.clone())?;
        Ok(Admitted {
            hash,
            info,
            replaced,
        })
    }

    /// The pooled transaction with this hash.
    pub fn get(&self, hash: &Hash) -> Option<&OpaqueExtrinsic> {
        self.by_hash.get(hash).map(|entry| &entry.xt)
    }

    /// Marks again which transactions wait for a missing nonce, from each sender's next nonce
    /// in state now (found by revalidating them after a block): those in an unbroken run from
    /// it are ready, the rest wait. Waiting ones beyond the pool's room for them are dropped,
    /// the newest first, and returned with why. Senders not in `next_nonce` keep their marks.
    pub fn refresh_waiting(
        &mut self,
        next_nonce: &HashMap<AccountId, Nonce>,
    ) -> Vec<(Hash, InvalidTransaction)> {
        let mut missing_of: HashMap<Hash, Nonce> = HashMap::new();
        for (sender, txs) in &self.by_sender {
            let Some(&from) = next_nonce.get(sender) else {
                continue;
            };
            let mut run = Some(from);
            for (nonce, hash) in txs.range(from..) {
                if run == Some(*nonce) {
                    self.waiting.remove(hash);
                    run = nonce.checked_add(1);
                } else {
                    self.waiting.insert(*hash);
                    missing_of.entry(*hash).or_insert(run.unwrap_or(from));
                    run = None;
                }
            }
        }
        let mut excess = Vec::new();
        let limit = self.waiting_limit();
        if self.waiting.len() > limit {
            let mut waiting: Vec<(u64, Hash)> = self
                .waiting
                .iter()
                .filter_map(|hash| Some((self.by_hash.get(hash)?.seq, *hash)))
                .collect();
            waiting.sort_unstable();
            let over = waiting.len().saturating_sub(limit);
            for (_, hash) in waiting.into_iter().rev().take(over) {
                let Some(entry) = self.by_hash.get(&hash) else {
                    continue;
                };
                let got = entry.info.nonce;
                let expected = missing_of
                    .get(&hash)
                    .copied()
                    .unwrap_or(entry.info.next_nonce);
                self.remove(&hash);
                excess.push((hash, InvalidTransaction::Future { expected, got }));
            }
        }
        excess
    }

    /// Removes a transaction.
    pub fn remove(&mut self, hash: &Hash) -> Option<OpaqueExtrinsic> {
        let entry = self.by_hash.remove(hash)?;
        self.waiting.remove(hash);
        if let Some(txs) = self.by_sender.get_mut(&entry.info.signer) {
            txs.remove(&entry.info.nonce);
            if txs.is_empty() {
                self.by_sender.remove(&entry.info.signer);
            }
        }
        Some(entry.xt)
    }

    /// Transactions in the order a block should try them: each sender's in nonce order, and
    /// among senders the highest tip (then the oldest) first.
    pub fn ordered(&self) -> Vec<(Hash, OpaqueExtrinsic)> {
        self.ordered_up_to(usize::MAX)
    }

    /// The first `limit` of [`Self::ordered`], without copying the rest: a block builder
    /// that cannot take more need not pay for a full pool.
    pub fn ordered_up_to(&self, limit: usize) -> Vec<(Hash, OpaqueExtrinsic)> {
        // Heap of each sender's next transaction, by (tip, oldest first).
        let mut heads = BinaryHeap::new();
        let mut queues: HashMap<AccountId, std::collections::btree_map::Values<'_, Nonce, Hash>> =
            HashMap::new();
        for (sender, txs) in &self.by_sender {
            let mut queue = txs.values();
            if let Some(hash) = queue.next() {
                if let Some(entry) = self.by_hash.get(hash) {
                    heads.push((entry.info.tip, std::cmp::Reverse(entry.seq), *hash));
                }
            }
            queues.insert(*sender, queue);
        }
        let mut ordered = Vec::with_capacity(self.by_hash.len().min(limit));
        while let Some((_, _, hash)) = heads.pop() {
            if ordered.len() >= limit {
                break;
            }
            let Some(entry) = self.by_hash.get(&hash) else {
                continue;
            };
            ordered.push((hash, entry.xt.clone()));
            let next = queues.get_mut(&entry.info.signer).and_then(Iterator::next);
            if let Some(next_entry) = next.and_then(|h| self.by_hash.get(h)) {
                if let Some(next_hash) = next {
                    heads.push((
                        next_entry.info.tip,
                        std::cmp::Reverse(next_entry.seq),
                        *next_hash,
                    ));
                }
            }
        }
        ordered
    }

    /// The nonce a new transaction of `who` should take, whose next nonce in state is
    /// `from`: after those of its pooled transactions that follow `from` without a gap.
    pub fn next_nonce(&self, who: &AccountId, from: Nonce) -> Nonce {
        let mut next = from;
        if let Some(txs) = self.by_sender.get(who) {
            for nonce in txs.range(from..).map(|(nonce, _)| *nonce) {
                if nonce != next {
                    break;
                }
                next = next.saturating_add(1);
            }
        }
        next
    }

    /// Removes the transactions whose mortal era ended before block `next` (the next block),
    /// as their admission found it: the chain cannot tell (past its era, a transaction's birth
    /// block is another block and its signature fails), so revalidation without signatures
    /// would keep them.
    pub fn remove_expired(&mut self, next: BlockNumber) -> Vec<(Hash, InvalidTransaction)> {
        let expired: Vec<(Hash, BlockNumber)> = self
            .by_hash
            .iter()
            .filter_map(|(hash, entry)| {
                let last = entry.info.last_valid?;
                (last < next).then_some((*hash, last))
            })
            .collect();
        expired
            .into_iter()
            .map(|(hash, last_valid)| {
                self.remove(&hash);
                (
                    hash,
                    InvalidTransaction::Expired {
                        last_valid,
                        now: next,
                    },
                )
            })
            .collect()
    }

    /// Every pending transaction.
    pub fn all(&self) -> Vec<(Hash, OpaqueExtrinsic)> {
        self.by_hash
            .iter()
            .map(|(hash, entry)| (*hash, entry.xt.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;
    use tessera_runtime::crypto::Pair;

    /// A transaction of `who` with `nonce` and `tip` (its bytes say which, and `variant`),
    /// `who`'s next nonce in state being 0.
    fn pooled(pool: &mut Pool, who: &Pair, tx: (Nonce, Balance, u8)) -> Result<Hash, PoolError> {
        pooled_from(pool, who, 0, tx)
    }

    /// [`pooled`], `who`'s next nonce in state being `from`.
    fn pooled_from(
        pool: &mut Pool,
        who: &Pair,
        from: Nonce,
        (nonce, tip, variant): (Nonce, Balance, u8),
    ) -> Result<Hash, PoolError> {
        let info = ValidTransaction {
            signer: who.public(),
            nonce,
            next_nonce: from,
            tip,
            last_valid: None,
        };
        let bytes = (who.public(), nonce, tip, variant).encode();
        pool.insert(OpaqueExtrinsic(bytes), info)
    }

    #[test]
    fn the_next_nonce_follows_the_pooled_run_and_a_full_pool_says_so() {
        let (alice, bob) = (Pair::dev("Alice"), Pair::dev("Bob"));
        let mut pool = Pool::new(4);
        for nonce in [3, 4, 6] {
            pooled_from(&mut pool, &alice, 3, (nonce, 0, 0)).unwrap();
        }
        // After 3 and 4; 6 waits for 5, which a wallet should take next.
        assert_eq!(pool.next_nonce(&alice.public(), 3), 5);
        // Pooled ones below the state's nonce do not count.
        assert_eq!(pool.next_nonce(&alice.public(), 5), 5);
        assert_eq!(pool.next_nonce(&bob.public(), 9), 9);
        assert_eq!(
            pooled_from(&mut pool, &alice, 3, (4, 0, 1)),
            Err(PoolError::TooLowPriority { nonce: 4, tip: 0 })
        );
        assert!(!pool.is_full());
        pooled(&mut pool, &bob, (0, 5, 0)).unwrap();
        assert!(pool.is_full());
        // In block order: Bob's higher tip first, then Alice's in nonce order; the first two only.
        let first: Vec<Hash> = pool.ordered_up_to(2).into_iter().map(|(h, _)| h).collect();
        let all: Vec<Hash> = pool.ordered().into_iter().map(|(h, _)| h).collect();
        assert_eq!(first, all[..2]);
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn after_a_block_the_waiting_marks_follow_the_state_and_the_excess_is_dropped() {
        let alice = Pair::dev("Alice");
        let mut pool = Pool::new(64);
        // 2 and 3 wait for 0 and 1, which another node's block then includes.
        for nonce in [2, 3] {
            pooled(&mut pool, &alice, (nonce, 0, 0)).unwrap();
        }
        assert_eq!(pool.waiting_len(), 2);
        let state = |nonce| HashMap::from([(alice.public(), nonce)]);
        assert!(pool.refresh_waiting(&state(2)).is_empty());
        assert_eq!(pool.waiting_len(), 0);
        // A run of 16 that becomes a gap (say, nonce 2 expired): 4 may wait, the 12 newest go.
        for nonce in 4..18 {
            pooled_from(&mut pool, &alice, 2, (nonce, 0, 0)).unwrap();
        }
        let first = pool.ordered()[0].0;
        pool.remove(&first);
        let dropped = pool.refresh_waiting(&state(2));
        assert_eq!(dropped.len(), 11);
        assert_eq!(pool.waiting_len(), 4);
        assert!(dropped
            .iter()
            .all(|(_, why)| matches!(why, InvalidTransaction::Future { expected: 2, .. })));
        assert_eq!(pool.len(), 4);
    }

    #[test]
    fn transactions_waiting_for_a_missing_nonce_take_a_sixteenth_of_the_pool_at_most() {
        let (alice, bob) = (Pair::dev("Alice"), Pair::dev("Bob"));
        let mut pool = Pool::new(64);
        assert_eq!(pool.waiting_limit(), 4);
        // Alice's next nonce is 0: 1..=4 wait for it, the fifth is refused.
        for nonce in 1..=4 {
            pooled(&mut pool, &alice, (nonce, 0, 0)).unwrap();
        }
        assert_eq!(
            pooled(&mut pool, &alice, (9, 0, 0)),
            Err(PoolError::TooManyWaiting {
                nonce: 9,
                missing: 0,
                limit: 4
            })
        );
        // Others' ready transactions still go in: the rest of the pool is theirs.
        for nonce in 0..40 {
            pooled(&mut pool, &bob, (nonce, 0, 0)).unwrap();
        }
        // The missing nonce comes: Alice's run is unbroken, none waits any more.
        pooled(&mut pool, &alice, (0, 0, 0)).unwrap();
        assert_eq!(pool.waiting_len(), 0);
        pooled(&mut pool, &alice, (9, 0, 0)).unwrap();
        assert_eq!(pool.waiting_len(), 1);
        let gone = pool.ordered()[0].0;
        pool.remove(&gone);
        assert!(pool.waiting_len() <= 1);
    }

    #[test]
    fn transactions_past_their_era_are_removed() {
        let alice = Pair::dev("Alice");
        let mut pool = Pool::new(8);
        let mortal = |nonce: Nonce, last_valid| ValidTransaction {
            signer: alice.public(),
            nonce,
            next_nonce: 0,
            tip: 0,
            last_valid,
        };
        for (nonce, last_valid) in [(0, Some(9)), (1, Some(10)), (2, None)] {
            let bytes = (nonce, last_valid).encode();
            pool.insert(OpaqueExtrinsic(bytes), mortal(nonce, last_valid))
                .unwrap();
        }
        // Valid through block 9: kept for block 9, removed for block 10.
        assert!(pool.remove_expired(9).is_empty());
        let expired = pool.remove_expired(10);
        assert_eq!(expired.len(), 1);
        assert_eq!(
            expired[0].1,
            InvalidTransaction::Expired {
                last_valid: 9,
                now: 10
            }
        );
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.remove_expired(u32::MAX).len(), 1);
        assert_eq!(pool.len(), 1);
    }
}
