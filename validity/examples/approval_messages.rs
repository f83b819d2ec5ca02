//! What approval voting costs each validator per relay block, in messages and bytes, on a
//! simulated network (1,000 validators and 100 cores unless given), beside Polkadot's
//! unaggregated cost of one assignment and one approval message per check.
//!
//! `cargo run --release -p tessera-validity --example approval_messages [validators cores seeds]`

use tessera_validity::sim::{run, SimConfig};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let validators = args.first().copied().unwrap_or(1_000) as u32;
    let cores = args.get(1).copied().unwrap_or(100) as u32;
    let seeds = args.get(2).copied().unwrap_or(3);
    println!("{validators} validators, {cores} cores, {seeds} seeds, 4 relay blocks each");
    println!("seed  checks/block  msgs/validator/block  unaggregated  ratio  bytes/validator/block  mean lag ms  max lag ms");
    for seed in 0..seeds {
        let config = SimConfig::new(seed, validators, cores);
        let started = std::time::Instant::now();
        let report = run(&config);
        let ours = report.messages_per_validator_block(&config);
        let unaggregated = report.unaggregated_per_validator_block(&config);
        println!(
            "{seed:>4}  {:>12.0}  {ours:>20.2}  {unaggregated:>12.2}  {:>5.2}  {:>21.0}  {:>11}  {:>10}   ({:.1} s)",
            report.checks as f64 / f64::from(config.blocks),
            ours / unaggregated,
            report.bytes_per_validator_block(&config),
            report.mean_lag_ms,
            report.max_lag_ms,
            started.elapsed().as_secs_f64(),
        );
        assert_eq!(report.valid_unapproved, 0, "{report:?}");
    }
}
