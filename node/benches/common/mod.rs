//! What the benches share.

use std::time::{Duration, Instant};

/// Median times of `native` and `wasm` run in turns for at least `min` (at least 5 runs each):
/// measured one after the other, either could inherit a kinder or harsher machine state (as
/// the erasure bench found of the allocator).
pub(crate) fn median_pair(
    min: Duration,
    mut native: impl FnMut(),
    mut wasm: impl FnMut(),
) -> (Duration, Duration) {
    let timed = |op: &mut dyn FnMut()| {
        let started = Instant::now();
        op();
        started.elapsed()
    };
    native();
    wasm();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < min || a.len() < 5 {
        a.push(timed(&mut native));
        b.push(timed(&mut wasm));
    }
    let median = |mut runs: Vec<Duration>| {
        runs.sort();
        runs[runs.len() / 2]
    };
    (median(a), median(b))
}
