//! Arbitrary bytes as a para's validation code: the Wasm validation host compiles and runs
//! whatever it is given under its limits, and says why the candidate is invalid, without a
//! panic, a hang past the deadline, or harm to later validations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;
use tessera_node::validation::{ValidationHost, ValidationLimits, ValidationPurpose};
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::parachain::{BlockData, HeadData, ValidationParams};
use tessera_runtime::Hash;

fn host() -> &'static ValidationHost {
    static HOST: OnceLock<ValidationHost> = OnceLock::new();
    HOST.get_or_init(|| {
        ValidationHost::new(ValidationLimits {
            max_memory_bytes: 16 * 1024 * 1024,
            backing_timeout: Duration::from_millis(200),
            approval_timeout: Duration::from_millis(400),
            compile_timeout: Duration::from_secs(5),
        })
        .expect("wasmtime")
    })
}

fuzz_target!(|code: &[u8]| {
    let params = ValidationParams {
        parent_head: HeadData(vec![1, 2, 3]),
        block_data: BlockData(code.iter().rev().copied().collect()),
        relay_parent_number: 1,
        relay_parent_storage_root: Hash::ZERO,
    };
    let _ = host().validate(blake2_256(code), code, &params, ValidationPurpose::Backing);
});
