//! `election`: the sequential Phragmén method, which [`crate::staking`] runs at each era's end
//! to choose the validators and spread each voter's stake over the winners it voted for.
//!
//! The method (Brill et al., "Phragmén's Voting Methods and Justified Representation", AAAI
//! 2017; in its weighted form as Web3 Foundation's reference `NPoS/simplePhragmén.py` and the
//! Polkadot wiki's "NPoS Election Algorithms" page describe it) elects one candidate per
//! round: the one whose election would leave its voters with the lowest load, where a voter's
//! load is the share of the seats filled so far that it carries per unit of its stake. The
//! winner's voters all take its score as their new load, and what each of them took on in
//! that round is the edge's load. At the end each voter's stake is split over the winners it
//! voted for in proportion to its edge loads.
//!
//! Everything is integer arithmetic, so every node and the Wasm runtime agree to the unit:
//! loads are fixed-point with [`LOAD_ONE`] as 1, vote weights are `u64` (staking scales
//! balances down to fit) and ties go to the candidate listed first. The sum of `weight × load`
//! over all voters is at most `LOAD_ONE` per seat filled (each round adds exactly one in exact
//! arithmetic and the rounding only takes away), which is what keeps every product in `u128`.

use crate::prelude::*;

use alloc::collections::BTreeMap;
use tessera_runtime::Balance;

/// A voter's weight in the election (its stake, scaled to fit).
pub type VoteWeight = u64;

/// A load or score: a fixed-point number with [`LOAD_ONE`] as 1.
pub type Load = u128;

/// The fixed-point 1 of [`Load`]: 2^96, leaving 2^32 seats of headroom in `u128` and, for
/// approval stakes up to 2^64, 2^32 steps of precision in a first-round score.
pub const LOAD_ONE: Load = 1 << 96;

/// Most seats one election fills (far above any validator count; it bounds the arithmetic).
pub const MAX_SEATS: usize = 1 << 20;

/// One voter's ballot: who votes, with what weight, for which candidates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voter<T> {
    /// The voter.
    pub who: T,
    /// Its weight.
    pub weight: VoteWeight,
    /// The candidates it approves (others than [`Election`]'s candidates are ignored, and so
    /// is a candidate named twice).
    pub targets: Vec<T>,
}

/// A voter's share of the winners: the load each edge to a winner carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment<T> {
    /// The voter.
    pub who: T,
    /// The winners it backs and the load on each edge (all non-zero).
    pub edges: Vec<(T, Load)>,
    /// Its load: the sum of its edges' loads.
    pub load: Load,
}

impl<T: Copy> Assignment<T> {
    /// Splits `stake` over the winners in proportion to the edges' loads, to the unit: the last
    /// edge takes what rounding left, so the parts add up to `stake` exactly.
    pub fn split(&self, stake: Balance) -> Vec<(T, Balance)> {
        let mut left = stake;
        let mut parts = Vec::with_capacity(self.edges.len());
        let last = self.edges.len().saturating_sub(1);
        for (position, (winner, load)) in self.edges.iter().enumerate() {
            let part = if position == last {
                left
            } else {
                mul_div_floor(stake, *load, self.load).min(left)
            };
            left = left.saturating_sub(part);
            parts.push((*winner, part));
        }
        parts
    }
}

/// What an election found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Election<T> {
    /// The winners in the order they were elected, with their scores.
    pub winners: Vec<(T, Load)>,
    /// Each voter that backs at least one winner, in the voters' order.
    pub assignments: Vec<Assignment<T>>,
}

/// The stake behind one winner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Support<T> {
    /// All of it.
    pub total: Balance,
    /// Who gave it, and how much each.
    pub voters: Vec<(T, Balance)>,
}

/// Elects up to `seats` of `candidates` by sequential Phragmén over `voters`. Fewer are
/// elected when fewer candidates have any approval; candidates listed twice count once.
pub fn seq_phragmen<T: Copy + Ord>(
    seats: usize,
    candidates: &[T],
    voters: &[Voter<T>],
) -> Election<T> {
    let seats = seats.min(MAX_SEATS);
    let mut index = BTreeMap::new();
    let mut names = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if !index.contains_key(candidate) {
            index.insert(*candidate, names.len());
            names.push(*candidate);
        }
    }
    // Each voter's edges as candidate positions, without repeats.
    let mut edges: Vec<Vec<usize>> = Vec::with_capacity(voters.len());
    let mut approval: Vec<u128> = vec![0; names.len()];
    for voter in voters {
        let mut mine: Vec<usize> = Vec::with_capacity(voter.targets.len());
        for target in &voter.targets {
            if let Some(&position) = index.get(target) {
                if !mine.contains(&position) {
                    mine.push(position);
                }
            }
        }
        if voter.weight > 0 {
            for &position in &mine {
                if let Some(stake) = approval.get_mut(position) {
                    *stake = stake.saturating_add(u128::from(voter.weight));
                }
            }
        }
        edges.push(mine);
    }
    // Who votes for each candidate, as (voter, edge) positions.
    let mut backers: Vec<Vec<(usize, usize)>> = vec![Vec::new(); names.len()];
    for (voter, mine) in edges.iter().enumerate() {
        for (edge, &position) in mine.iter().enumerate() {
            if let Some(list) = backers.get_mut(position) {
                list.push((voter, edge));
            }
        }
    }
    let mut elected = vec![false; names.len()];
    let mut voter_load: Vec<Load> = vec![0; voters.len()];
    let mut edge_load: Vec<Vec<Load>> = edges.iter().map(|e| vec![0; e.len()]).collect();
    // Each open candidate's score numerator, 1 + Σ weight × load over its voters, kept up to
    // date as loads change: a round touches only the winner's voters' edges, not every edge.
    let mut numerator: Vec<Load> = vec![LOAD_ONE; names.len()];
    let mut winners = Vec::with_capacity(seats.min(names.len()));
    while winners.len() < seats {
        let mut best: Option<(usize, Load)> = None;
        for (position, (value, stake)) in numerator.iter().zip(&approval).enumerate() {
            if *stake == 0 || elected.get(position).copied().unwrap_or(true) {
                continue;
            }
            let score = value.checked_div(*stake).unwrap_or(Load::MAX);
            if best.is_none_or(|(_, lowest)| score < lowest) {
                best = Some((position, score));
            }
        }
        let Some((winner, score)) = best else { break };
        if let Some(flag) = elected.get_mut(winner) {
            *flag = true;
        }
        if let Some(name) = names.get(winner) {
            winners.push((*name, score));
        }
        for &(voter, edge) in backers.get(winner).map_or(&[][..], Vec::as_slice) {
            let (Some(load), Some(loads), Some(mine), Some(ballot)) = (
                voter_load.get_mut(voter),
                edge_load.get_mut(voter),
                edges.get(voter),
                voters.get(voter),
            ) else {
                continue;
            };
            // Scores never fall from round to round, so this is never below the voter's
            // load but for rounding; it then saturates, as Substrate's does.
            let added = score.saturating_sub(*load);
            if let Some(slot) = loads.get_mut(edge) {
                *slot = added;
            }
            *load = score;
            let raised = u128::from(ballot.weight).saturating_mul(added);
            for &position in mine {
                if let (Some(false), Some(value)) =
                    (elected.get(position), numerator.get_mut(position))
                {
                    *value = value.saturating_add(raised);
                }
            }
        }
    }
    let mut assignments = Vec::new();
    for ((voter, mine), loads) in voters.iter().zip(&edges).zip(&edge_load) {
        let backed: Vec<(T, Load)> = mine
            .iter()
            .zip(loads)
            .filter(|(&position, &load)| load > 0 && elected.get(position) == Some(&true))
            .filter_map(|(&position, &load)| Some((*names.get(position)?, load)))
            .collect();
        if backed.is_empty() {
            continue;
        }
        let load = backed
            .iter()
            .fold(0u128, |sum, (_, load)| sum.saturating_add(*load));
        assignments.push(Assignment {
            who: voter.who,
            edges: backed,
            load,
        });
    }
    Election {
        winners,
        assignments,
    }
}

/// Each winner's support when every voter's stake (`stake_of`) is split as its assignment
/// says. A winner nobody backs (it cannot happen after [`seq_phragmen`]) has an empty one.
pub fn supports<T: Copy + Ord>(
    election: &Election<T>,
    mut stake_of: impl FnMut(&T) -> Balance,
) -> BTreeMap<T, Support<T>> {
    let mut supports: BTreeMap<T, Support<T>> = election
        .winners
        .iter()
        .map(|(winner, _)| {
            let support = Support {
                total: 0,
                voters: Vec::new(),
            };
            (*winner, support)
        })
        .collect();
    for assignment in &election.assignments {
        for (winner, part) in assignment.split(stake_of(&assignment.who)) {
            if let Some(support) = supports.get_mut(&winner) {
                support.total = support.total.saturating_add(part);
                support.voters.push((assignment.who, part));
            }
        }
    }
    supports
}

/// `a × b / c` rounded down, through a 256-bit product; `u128::MAX` if the quotient does not
/// fit, and 0 when `c` is 0.
pub fn mul_div_floor(a: u128, b: u128, c: u128) -> u128 {
    if c == 0 {
        return 0;
    }
    let (high, low) = mul_wide(a, b);
    if high == 0 {
        return low.checked_div(c).unwrap_or(0);
    }
    if high >= c {
        return u128::MAX;
    }
    // Long division of (high, low) by c, one bit of `low` at a time.
    let mut remainder = high;
    let mut quotient: u128 = 0;
    for bit in (0..128u32).rev() {
        let carry = remainder >> 127;
        remainder = (remainder << 1) | (low.wrapping_shr(bit) & 1);
        quotient <<= 1;
        if carry == 1 || remainder >= c {
            remainder = remainder.wrapping_sub(c);
            quotient |= 1;
        }
    }
    quotient
}

/// The 256-bit product of `a` and `b` as (high, low) halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const HALF: u32 = 64;
    let mask = u128::from(u64::MAX);
    let (a_high, a_low) = (a >> HALF, a & mask);
    let (b_high, b_low) = (b >> HALF, b & mask);
    // Each partial product of two 64-bit halves fits in u128.
    let low_low = a_low.wrapping_mul(b_low);
    let high_low = a_high.wrapping_mul(b_low);
    let low_high = a_low.wrapping_mul(b_high);
    let high_high = a_high.wrapping_mul(b_high);
    let middle = (low_low >> HALF)
        .wrapping_add(high_low & mask)
        .wrapping_add(low_high & mask);
    let low = (middle << HALF) | (low_low & mask);
    let high = high_high
        .wrapping_add(high_low >> HALF)
        .wrapping_add(low_high >> HALF)
        .wrapping_add(middle >> HALF);
    (high, low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voter(who: char, weight: VoteWeight, targets: &str) -> Voter<char> {
        Voter {
            who,
            weight,
            targets: targets.chars().collect(),
        }
    }

    fn as_f64(load: Load) -> f64 {
        load as f64 / LOAD_ONE as f64
    }

    fn names(election: &Election<char>) -> String {
        election.winners.iter().map(|(who, _)| *who).collect()
    }

    /// The Polkadot wiki's "Basic Phragmén" example (NPoS Election Algorithms, w3f/polkadot-wiki
    /// `docs/learn/learn-phragmen.md`): five voters of equal weight, four candidates, three
    /// seats; B, D and C win in that order, with the voters' loads the page tabulates.
    #[test]
    fn wiki_basic_example() {
        let voters = [
            voter('1', 1, "B"),
            voter('2', 1, "CD"),
            voter('3', 1, "BD"),
            voter('4', 1, "AB"),
            voter('5', 1, "BCD"),
        ];
        let election = seq_phragmen(3, &['A', 'B', 'C', 'D'], &voters);
        assert_eq!(names(&election), "BDC");
        let scores: Vec<f64> = election.winners.iter().map(|(_, s)| as_f64(*s)).collect();
        for (score, expected) in scores.iter().zip([0.25, 0.5, 1.0]) {
            assert!((score - expected).abs() < 1e-12, "{scores:?}");
        }
        // The loads after round 3 (column L3): 1/4, 1, 1/2, 1/4, 1.
        let loads: Vec<(char, f64)> = election
            .assignments
            .iter()
            .map(|a| (a.who, as_f64(a.load)))
            .collect();
        let expected = [('1', 0.25), ('2', 1.0), ('3', 0.5), ('4', 0.25), ('5', 1.0)];
        for ((who, load), (want_who, want)) in loads.iter().zip(expected) {
            assert_eq!(*who, want_who);
            assert!((load - want).abs() < 1e-12, "{loads:?}");
        }
    }

    /// The wiki's "Weighted Phragmén" example (same page): voters V1..V5 with stakes 1..5,
    /// candidates A..E, three seats. A, D and B win with stakes 6.807, 4.545 and 3.647, and
    /// each voter's split is the page's to three decimals. Stakes are in thousandths here.
    #[test]
    fn wiki_weighted_example() {
        let voters = [
            voter('1', 1, "AB"),
            voter('2', 2, "AB"),
            voter('3', 3, "A"),
            voter('4', 4, "BCD"),
            voter('5', 5, "AD"),
        ];
        let election = seq_phragmen(3, &['A', 'B', 'C', 'D', 'E'], &voters);
        assert_eq!(names(&election), "ADB");
        let scores: Vec<f64> = election.winners.iter().map(|(_, s)| as_f64(*s)).collect();
        for (score, expected) in scores.iter().zip([0.091, 0.162, 0.274]) {
            assert!((score - expected).abs() < 5e-4, "{scores:?}");
        }
        let thousandths = |who: &char| -> Balance {
            let weight = voters
                .iter()
                .find(|v| v.who == *who)
                .map_or(0, |v| v.weight);
            u128::from(weight) * 1_000_000
        };
        let supports = supports(&election, thousandths);
        let total = |who| supports[&who].total as f64 / 1e6;
        assert!((total('A') - 6.807).abs() < 1.5e-3, "A {}", total('A'));
        assert!((total('D') - 4.545).abs() < 1.5e-3, "D {}", total('D'));
        assert!((total('B') - 3.647).abs() < 1.5e-3, "B {}", total('B'));
        let expected = [
            ('1', vec![('A', 0.332), ('B', 0.668)]),
            ('2', vec![('A', 0.663), ('B', 1.337)]),
            ('3', vec![('A', 3.0)]),
            ('4', vec![('B', 1.642), ('D', 2.358)]),
            ('5', vec![('A', 2.813), ('D', 2.187)]),
        ];
        for (assignment, (who, split)) in election.assignments.iter().zip(expected) {
            assert_eq!(assignment.who, who);
            let mut parts = assignment.split(thousandths(&who));
            parts.sort();
            assert_eq!(parts.len(), split.len(), "{who}: {parts:?}");
            for ((winner, part), (want_winner, want)) in parts.iter().zip(split) {
                assert_eq!(*winner, want_winner);
                let part = *part as f64 / 1e6;
                assert!((part - want).abs() < 1.5e-3, "{who} to {winner}: {part}");
            }
        }
        // Everyone backed a winner: all 15 is behind the three.
        let all: Balance = supports.values().map(|s| s.total).sum();
        assert_eq!(all, 15_000_000);
    }

    /// `example1` of Web3 Foundation's reference implementation (w3f/consensus,
    /// `NPoS/simplePhragmén.py`, `testexample1_phragmén`): Z wins with score 0.02, then Y
    /// with 0.04.
    #[test]
    fn w3f_reference_example() {
        let voters = [
            voter('A', 10, "XY"),
            voter('B', 20, "XZ"),
            voter('C', 30, "YZ"),
        ];
        let election = seq_phragmen(2, &['X', 'Y', 'Z'], &voters);
        assert_eq!(names(&election), "ZY");
        assert!((as_f64(election.winners[0].1) - 0.02).abs() < 1e-12);
        assert!((as_f64(election.winners[1].1) - 0.04).abs() < 1e-12);
    }

    #[test]
    fn ties_go_to_the_candidate_listed_first_and_unknown_targets_are_ignored() {
        let voters = [voter('1', 5, "QPZ"), voter('2', 5, "PQQ")];
        let election = seq_phragmen(1, &['Q', 'P'], &voters);
        assert_eq!(names(&election), "Q");
        let election = seq_phragmen(1, &['P', 'Q'], &voters);
        assert_eq!(names(&election), "P");
        // Seats beyond the approved candidates stay empty.
        let election = seq_phragmen(5, &['P', 'Q', 'R'], &voters);
        assert_eq!(names(&election), "PQ");
        assert!(seq_phragmen(3, &['P'], &[]).winners.is_empty());
    }

    #[test]
    fn mul_div_matches_exact_division() {
        assert_eq!(mul_div_floor(u128::MAX, u128::MAX, u128::MAX), u128::MAX);
        assert_eq!(mul_div_floor(u128::MAX, 3, 4), u128::MAX / 4 * 3 + 2);
        assert_eq!(mul_div_floor(1 << 100, 1 << 100, 1 << 90), 1 << 110);
        assert_eq!(mul_div_floor(1 << 127, 4, 2), u128::MAX);
        assert_eq!(mul_div_floor(5, 7, 0), 0);
    }
}
