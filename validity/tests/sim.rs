//! The approval protocol over a thousand seeded networks: no invalid candidate is ever approved
//! by an honest validator, and every valid one is approved by all of them within the no-show
//! bound, whatever the delays, losses, no-shows and byzantine checkers.
//!
//! `make test` runs a thousand networks of 20 to 60 validators and one of 300; a thousand of
//! hundreds of validators (100 to 300, on 10 to 30 cores) take about 21 minutes on two cores:
//! `cargo test --release -p tessera-validity --test sim -- --ignored`.

use tessera_validity::sim::{run, SimConfig, SimReport};

/// The size of the networks drawn: validators, cores and checkers needed, each from `.0` to
/// `.1`.
struct Sizes {
    validators: (u32, u32),
    cores: (u32, u32),
    needed: (u32, u32),
}

/// What `make test` runs: 20 to 60 validators, 2 to 8 cores, 10 to 15 checkers.
const SMALL: Sizes = Sizes {
    validators: (20, 60),
    cores: (2, 8),
    needed: (10, 15),
};

/// Polkadot's scale: 100 to 300 validators, 10 to 30 cores, 20 to 30 checkers.
const LARGE: Sizes = Sizes {
    validators: (100, 300),
    cores: (10, 30),
    needed: (20, 30),
};

/// A network of `sizes` drawn from `seed`, with fewer checkers needed than two thirds of the
/// validators, and fewer than a third of the validators faulty: some vanishing after
/// announcing (up to a tenth), up to two disputing every candidate they check, and the rest
/// approving blindly and backing invalid candidates (a tenth of the candidates); up to 2% of
/// messages late by a retransmission.
fn network(seed: u64, sizes: &Sizes) -> SimConfig {
    let word =
        |shift: u32, modulo: u64| (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) % modulo;
    let within =
        |shift: u32, (low, high): (u32, u32)| low + word(shift, u64::from(high - low) + 1) as u32;
    let validators = within(0, sizes.validators);
    let cores = within(8, sizes.cores);
    let mut config = SimConfig::new(seed, validators, cores);
    // At most what the honest validators outside a backing group can give.
    config.approval.needed_approvals = within(16, sizes.needed).min(validators * 2 / 3 - 2);
    config.approval.relay_vrf_modulo_samples = (config.approval.needed_approvals * cores)
        .div_ceil(validators)
        .max(1);
    config.blocks = 3;
    let faulty = (validators - 1) / 3;
    config.no_shows = (validators / 10).min(word(32, 8) as u32);
    config.disputers = word(48, 3).min(u64::from(faulty - config.no_shows)) as u32;
    config.byzantine = word(
        24,
        u64::from(faulty - config.no_shows - config.disputers) + 1,
    ) as u32;
    config.invalid_ppm = 100_000;
    config.loss_ppm = word(40, 20_001) as u32;
    config
}

/// The bound on approving a valid candidate: its tranches' span, a check, a no-show period for
/// each round of covering (no-shows in the first checkers, then among those covering them), and
/// a dispute's check when a byzantine validator disputes it.
fn bound(config: &SimConfig) -> u64 {
    let approval = &config.approval;
    approval.tranche_ms * u64::from(approval.n_delay_tranches)
        + 2 * config.check_ms.1
        + 2 * approval.no_show_ms
}

/// Runs the networks of `sizes` drawn from `seeds`, on every core.
fn sweep(seeds: std::ops::Range<u64>, sizes: &Sizes) -> Vec<(u64, SimConfig, SimReport)> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..threads)
            .map(|thread| {
                let seeds = seeds.clone().filter(move |seed| seed % threads == thread);
                scope.spawn(move || {
                    seeds
                        .map(|seed| {
                            let config = network(seed, sizes);
                            let report = run(&config);
                            (seed, config, report)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter()
            .flat_map(|run| run.join().unwrap())
            .collect()
    })
}

fn check(results: &[(u64, SimConfig, SimReport)]) {
    let (mut invalid, mut disputes) = (0, 0);
    for (seed, config, report) in results {
        invalid += report.invalid;
        disputes += report.concluded_valid + report.concluded_invalid;
        assert_eq!(
            report.invalid_approved, 0,
            "seed {seed}: {config:?} {report:?}"
        );
        assert_eq!(
            report.valid_unapproved, 0,
            "seed {seed}: {config:?} {report:?}"
        );
        assert!(
            report.max_lag_ms <= bound(config),
            "seed {seed}: {config:?} {report:?}"
        );
        // Every dispute concludes, and never against an honest validator.
        assert_eq!(report.unconcluded, 0, "seed {seed}: {config:?} {report:?}");
        assert_eq!(
            report.honest_offenders, 0,
            "seed {seed}: {config:?} {report:?}"
        );
    }
    assert!(
        invalid > 100,
        "the sweep includes invalid candidates ({invalid})"
    );
    assert!(disputes > 100, "the sweep includes disputes ({disputes})");
}

#[test]
fn seeds_0_to_999_never_approve_an_invalid_candidate_and_approve_every_valid_one_in_time() {
    check(&sweep(0..1_000, &SMALL));
}

#[test]
#[ignore = "about 21 minutes on two cores in release; run with --ignored"]
fn a_thousand_networks_of_hundreds_of_validators_never_approve_an_invalid_candidate() {
    check(&sweep(0..1_000, &LARGE));
}

#[test]
fn three_hundred_validators_on_thirty_cores_cover_no_shows_catch_invalid_candidates_and_name_disputers(
) {
    let mut config = SimConfig::new(7, 300, 30);
    config.blocks = 3;
    config.no_shows = 30;
    config.byzantine = 50;
    config.disputers = 10;
    config.invalid_ppm = 50_000;
    config.loss_ppm = 5_000;
    let report = run(&config);
    assert!(report.invalid > 0, "{report:?}");
    assert_eq!(report.invalid_approved, 0, "{report:?}");
    assert_eq!(report.valid_unapproved, 0, "{report:?}");
    // Some checker vanished and was covered: approval took a no-show period, and no more.
    assert!(report.max_lag_ms > config.approval.no_show_ms, "{report:?}");
    assert!(report.max_lag_ms <= bound(&config), "{report:?}");
    // Invalid candidates were disputed and concluded invalid; the disputers' disputes of valid
    // ones concluded valid, and named each of them, and no honest validator.
    assert!(report.concluded_invalid > 0, "{report:?}");
    assert!(report.concluded_valid >= 10, "{report:?}");
    assert_eq!(report.unconcluded, 0, "{report:?}");
    assert_eq!(report.honest_offenders, 0, "{report:?}");
    assert!(report.offenders.len() >= 10, "{report:?}");
    // One message for all of a validator's tranche-0 assignments in a block, one for the
    // approvals of each tick's checks: fewer than one of each per check.
    assert!(
        report.messages_per_validator_block(&config)
            < report.unaggregated_per_validator_block(&config),
        "{report:?}"
    );
}
