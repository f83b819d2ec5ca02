//! Properties of the era election on arbitrary ballots: who can win, how many, that every
//! voter's stake is split to the unit over winners it chose, and the 256-bit arithmetic
//! underneath against an independent big-integer implementation.

use num_bigint::BigUint;
use proptest::prelude::*;
use std::collections::BTreeSet;
use tessera_relay_chain::election::{mul_div_floor, seq_phragmen, supports, Voter};

fn ballots() -> impl Strategy<Value = (usize, Vec<u8>, Vec<Voter<u8>>)> {
    let voter = (
        any::<u8>(),
        0u64..=u64::MAX,
        prop::collection::vec(0u8..40, 0..20),
    );
    (
        0usize..12,
        prop::collection::vec(0u8..40, 0..30),
        prop::collection::vec(voter, 0..60),
    )
        .prop_map(|(seats, candidates, voters)| {
            let voters = voters
                .into_iter()
                .enumerate()
                .map(|(i, (_, weight, targets))| Voter {
                    who: i as u8,
                    weight,
                    targets,
                })
                .collect();
            (seats, candidates, voters)
        })
}

proptest! {
    #[test]
    fn winners_are_approved_candidates_and_stakes_split_exactly(
        (seats, candidates, voters) in ballots(),
        stake_scale in 1u128..1_000_000_000_000,
    ) {
        let election = seq_phragmen(seats, &candidates, &voters);
        let listed: BTreeSet<u8> = candidates.iter().copied().collect();
        let approved: BTreeSet<u8> = voters
            .iter()
            .filter(|v| v.weight > 0)
            .flat_map(|v| v.targets.iter().copied())
            .filter(|t| listed.contains(t))
            .collect();
        let winners: Vec<u8> = election.winners.iter().map(|(w, _)| *w).collect();
        let distinct: BTreeSet<u8> = winners.iter().copied().collect();
        prop_assert_eq!(distinct.len(), winners.len(), "a candidate won twice");
        prop_assert!(distinct.is_subset(&approved));
        prop_assert_eq!(winners.len(), seats.min(approved.len()));
        // Scores never fall from one round to the next.
        for pair in election.winners.windows(2) {
            prop_assert!(pair[0].1 <= pair[1].1);
        }
        let stake = |who: &u8| u128::from(*who) * stake_scale + 1;
        for assignment in &election.assignments {
            let voter = voters.iter().find(|v| v.who == assignment.who).unwrap();
            for (winner, _) in &assignment.edges {
                prop_assert!(voter.targets.contains(winner) && distinct.contains(winner));
            }
            let parts = assignment.split(stake(&assignment.who));
            prop_assert_eq!(parts.iter().map(|p| p.1).sum::<u128>(), stake(&assignment.who));
        }
        // Every voter with weight that approved a winner backs one.
        for voter in voters.iter().filter(|v| v.weight > 0) {
            let backs = voter.targets.iter().any(|t| distinct.contains(t));
            let assigned = election.assignments.iter().any(|a| a.who == voter.who);
            prop_assert_eq!(backs, assigned, "voter {}", voter.who);
        }
        let all = supports(&election, stake);
        let backed: u128 = election.assignments.iter().map(|a| stake(&a.who)).sum();
        prop_assert_eq!(all.values().map(|s| s.total).sum::<u128>(), backed);
        // The same ballots elect the same way.
        prop_assert_eq!(seq_phragmen(seats, &candidates, &voters), election);
    }

    #[test]
    fn mul_div_floor_is_exact(a in any::<u128>(), b in any::<u128>(), c in 1u128..) {
        let exact = BigUint::from(a) * BigUint::from(b) / BigUint::from(c);
        let expected = u128::try_from(exact).unwrap_or(u128::MAX);
        prop_assert_eq!(mul_div_floor(a, b, c), expected);
    }

    #[test]
    fn mul_div_floor_is_exact_for_small_divisors(a in any::<u128>(), b in any::<u64>(), c in 1u128..1 << 70) {
        let b = u128::from(b);
        let exact = BigUint::from(a) * BigUint::from(b) / BigUint::from(c);
        let expected = u128::try_from(exact).unwrap_or(u128::MAX);
        prop_assert_eq!(mul_div_floor(a, b, c), expected);
    }
}
