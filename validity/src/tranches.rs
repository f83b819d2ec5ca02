//! When a candidate is approved, tranche by tranche.
//!
//! Tranche `t` of a block starts `t × tranche_ms` after the block's slot. A checker assigned in
//! tranche `t` that has not approved `no_show_ms` after its tranche started (or after its
//! assignment arrived, if later) is a *no-show*. Taking tranches in order, the candidate's
//! *required tranche* is the first at which the checkers assigned so far, less the no-shows among
//! them, number `needed_approvals`: each no-show is thereby covered by one more checker, drawn
//! later. The candidate is approved once every checker assigned up to its required tranche
//! approved or is a no-show. A checker of a later tranche announces itself only while no earlier
//! tranche is the required one.
//!
//! So a candidate with enough honest checkers in tranche 0 is approved as soon as they all
//! approved; each checker that vanishes after announcing delays it by at most one no-show period
//! and brings in one more; and approving it takes the approval of every checker counted, so an
//! honest one that finds it invalid (and so never approves) holds it until covered, while its
//! invalid vote starts a dispute.

use crate::{ApprovalConfig, DelayTranche};

/// One checker assigned to a candidate, as a node knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// Its tranche.
    pub tranche: DelayTranche,
    /// When its assignment reached this node.
    pub received_ms: u64,
    /// Whether its approval reached this node.
    pub approved: bool,
}

/// When a tranche of a block starts.
pub fn tranche_start(config: &ApprovalConfig, slot_ms: u64, tranche: DelayTranche) -> u64 {
    slot_ms.saturating_add(config.tranche_ms.saturating_mul(u64::from(tranche)))
}

/// The latest tranche that has started at `now_ms`.
pub fn current_tranche(config: &ApprovalConfig, slot_ms: u64, now_ms: u64) -> DelayTranche {
    let elapsed = now_ms.saturating_sub(slot_ms);
    let tranche = elapsed.checked_div(config.tranche_ms).unwrap_or(u64::MAX);
    u32::try_from(tranche).unwrap_or(u32::MAX)
}

/// When a checker counts as a no-show if it has not approved by then: `no_show_ms` after its
/// tranche started or its assignment arrived, whichever is later, but an assignment announced
/// late buys at most one more no-show period (else checkers announcing one after another,
/// each just before the last one's deadline, could hold approval back without end).
pub fn no_show_at(config: &ApprovalConfig, slot_ms: u64, assigned: &Assigned) -> u64 {
    let start = tranche_start(config, slot_ms, assigned.tranche);
    let latest = start.saturating_add(config.no_show_ms);
    start
        .max(assigned.received_ms.min(latest))
        .saturating_add(config.no_show_ms)
}

/// What the checkers of a candidate, up to the current tranche, say at `now_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    /// The first tranche at which the checkers so far, less no-shows, are enough; none if no
    /// started tranche is.
    pub required: Option<DelayTranche>,
    /// Whether every checker up to the required tranche approved or is a no-show.
    pub approved: bool,
    /// Checkers up to the required tranche (or all started ones) that are no-shows.
    pub no_shows: u32,
    /// The earliest moment a checker counted becomes a no-show, if one may.
    pub next_no_show_ms: Option<u64>,
}

/// Tallies `assigned` (in any order) at `now_ms`.
pub fn tally(config: &ApprovalConfig, slot_ms: u64, now_ms: u64, assigned: &[Assigned]) -> Tally {
    let current = current_tranche(config, slot_ms, now_ms);
    let mut by_tranche: Vec<&Assigned> = assigned.iter().filter(|a| a.tranche <= current).collect();
    by_tranche.sort_unstable_by_key(|a| a.tranche);
    let (mut live, mut pending, mut no_shows) = (0u32, 0u32, 0u32);
    let mut next_no_show_ms: Option<u64> = None;
    let mut taken = 0usize;
    while let Some(first) = by_tranche.get(taken) {
        let tranche = first.tranche;
        for checker in by_tranche
            .iter()
            .skip(taken)
            .take_while(|a| a.tranche == tranche)
        {
            taken = taken.saturating_add(1);
            if checker.approved {
                live = live.saturating_add(1);
                continue;
            }
            let deadline = no_show_at(config, slot_ms, checker);
            if now_ms >= deadline {
                no_shows = no_shows.saturating_add(1);
            } else {
                live = live.saturating_add(1);
                pending = pending.saturating_add(1);
                next_no_show_ms = Some(next_no_show_ms.map_or(deadline, |at| at.min(deadline)));
            }
        }
        if live >= config.needed_approvals {
            return Tally {
                required: Some(tranche),
                approved: pending == 0,
                no_shows,
                next_no_show_ms,
            };
        }
    }
    Tally {
        required: None,
        approved: false,
        no_shows,
        next_no_show_ms,
    }
}

/// Whether a checker assigned in `tranche` should announce itself and check at `now_ms`: its
/// tranche has started, and no earlier tranche is the required one.
pub fn should_trigger(
    config: &ApprovalConfig,
    slot_ms: u64,
    now_ms: u64,
    assigned: &[Assigned],
    tranche: DelayTranche,
) -> bool {
    if tranche > current_tranche(config, slot_ms, now_ms) {
        return false;
    }
    if tranche == 0 {
        return true;
    }
    let earlier: Vec<Assigned> = assigned
        .iter()
        .filter(|a| a.tranche < tranche)
        .copied()
        .collect();
    tally(config, slot_ms, now_ms, &earlier).required.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config() -> ApprovalConfig {
        ApprovalConfig {
            needed_approvals: 3,
            tranche_ms: 100,
            no_show_ms: 1_000,
            ..ApprovalConfig::dev()
        }
    }

    fn at(tranche: DelayTranche, approved: bool) -> Assigned {
        Assigned {
            tranche,
            received_ms: u64::from(tranche) * 100,
            approved,
        }
    }

    #[test]
    fn enough_tranche_zero_approvals_approve_and_a_missing_one_waits() {
        let all = [at(0, true), at(0, true), at(0, true)];
        assert!(tally(&config(), 0, 10, &all).approved);
        let one_short = [at(0, true), at(0, true), at(0, false)];
        let waiting = tally(&config(), 0, 10, &one_short);
        assert_eq!(waiting.required, Some(0));
        assert!(!waiting.approved);
        assert_eq!(waiting.next_no_show_ms, Some(1_000));
        // Too few checkers: nothing is required yet, and later tranches are called in.
        assert_eq!(tally(&config(), 0, 10, &all[..2]).required, None);
        assert!(should_trigger(&config(), 0, 150, &all[..2], 1));
        assert!(!should_trigger(&config(), 0, 150, &all, 1));
        assert!(
            !should_trigger(&config(), 0, 50, &all[..2], 1),
            "tranche 1 not begun"
        );
    }

    #[test]
    fn a_no_show_is_covered_by_a_later_checker_and_then_its_tranche_is_required() {
        let mut checkers = vec![at(0, true), at(0, true), at(0, false)];
        // Before the no-show deadline: waiting on the third.
        assert!(!tally(&config(), 0, 999, &checkers).approved);
        // After it: the third is a no-show, so tranche 0 is not enough and tranche 2 triggers.
        let late = tally(&config(), 0, 1_000, &checkers);
        assert_eq!((late.required, late.no_shows), (None, 1));
        assert!(should_trigger(&config(), 0, 1_000, &checkers, 2));
        // A tranche-2 checker announces at 1,000 ms: required, and approval waits for it.
        checkers.push(Assigned {
            tranche: 2,
            received_ms: 1_000,
            approved: false,
        });
        let covering = tally(&config(), 0, 1_000, &checkers);
        assert_eq!((covering.required, covering.approved), (Some(2), false));
        assert_eq!(covering.next_no_show_ms, Some(2_000));
        checkers[3].approved = true;
        assert!(tally(&config(), 0, 1_010, &checkers).approved);
        // The no-show's late approval is as good as any.
        checkers[3].approved = false;
        checkers[2].approved = true;
        assert!(tally(&config(), 0, 1_010, &checkers).approved);
    }

    #[test]
    fn checkers_of_tranches_not_yet_begun_do_not_count() {
        let early = [at(0, true), at(0, true), at(5, true)];
        assert!(!tally(&config(), 0, 499, &early).approved);
        assert!(tally(&config(), 0, 500, &early).approved);
    }

    proptest! {
        /// Approval takes at least `needed_approvals` approvals, and never counts a checker
        /// still within its time that has not approved.
        #[test]
        fn approval_means_enough_approvals_and_no_pending_checker(
            checkers in proptest::collection::vec((0u32..8, 0u64..3_000, any::<bool>()), 0..12),
            now in 0u64..4_000,
        ) {
            let config = config();
            let assigned: Vec<Assigned> = checkers
                .iter()
                .map(|&(tranche, received_ms, approved)| Assigned { tranche, received_ms, approved })
                .collect();
            let tally = tally(&config, 0, now, &assigned);
            if tally.approved {
                let required = tally.required.unwrap();
                let counted: Vec<_> = assigned.iter().filter(|a| a.tranche <= required).collect();
                let approvals = counted.iter().filter(|a| a.approved).count() as u32;
                prop_assert!(approvals >= config.needed_approvals);
                prop_assert!(counted
                    .iter()
                    .all(|a| a.approved || now >= no_show_at(&config, 0, a)));
                // Each no-show counted is covered by one more checker than needed.
                prop_assert!(counted.len() as u32 >= config.needed_approvals + tally.no_shows);
            }
        }
    }
}
