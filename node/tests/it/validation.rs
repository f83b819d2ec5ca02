//! The Wasm validation host against the template's real validation function and against
//! hand-written hostile modules.

use parachain_template_runtime::{self as template, GenesisConfig, TemplateRuntime, WASM_BINARY};
use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_node::collation::{collate, Collation, CollationInput};
use tessera_node::validation::{
    CandidateToCheck, ExecutionError, InvalidCandidate, ValidationHost, ValidationLimits,
    ValidationPurpose,
};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::{
    execute_block, ApplyError, Executive, InvalidTransaction, ValidTransaction, MAX_SKIPPED_FULL,
};
use tessera_runtime::messaging::RelayInputs;
use tessera_runtime::modules::balances;
use tessera_runtime::parachain::{
    build_block, build_block_with, prove_block, relay_inputs_inherent, BlockData, BuildOptions,
    CandidateCommitments, HeadData, ParaId, ParachainBlockData, PersistedValidationData,
    ValidationCode, ValidationParams,
};
use tessera_runtime::state::{NodeStore, State};
use tessera_runtime::storage::CODE_KEY;
use tessera_runtime::wasm::{BlockRejection, BuildRequest, ValidateRequest};
use tessera_runtime::{Hash, Header, Nonce, OpaqueExtrinsic};

/// A template para in memory: its nodes, head and the signers' next nonces.
pub(crate) struct Para {
    pub(crate) nodes: BTreeMap<Hash, Vec<u8>>,
    pub(crate) head: Header,
    genesis_hash: Hash,
    nonces: BTreeMap<usize, Nonce>,
}

impl Para {
    pub(crate) fn new() -> Self {
        let (head, changes) = template::genesis(&GenesisConfig::dev(ParaId(1000))).unwrap();
        Para {
            nodes: changes.new_nodes.into_iter().collect(),
            genesis_hash: head.hash(),
            head,
            nonces: BTreeMap::new(),
        }
    }

    /// `count` transfers among the dev accounts.
    fn transfers(&mut self, count: usize) -> Vec<OpaqueExtrinsic> {
        let pairs: Vec<Pair> = template::DEV_ACCOUNTS
            .iter()
            .map(|n| Pair::dev(n))
            .collect();
        (0..count)
            .map(|i| {
                let from = i % pairs.len();
                let nonce = self.nonces.entry(from).or_default();
                let call = template::Call::Balances(balances::Call::Transfer {
                    dest: pairs[(from + 1) % pairs.len()].public().into(),
                    value: template::UNIT,
                });
                *nonce += 1;
                template::sign(&pairs[from], call, *nonce - 1, self.genesis_hash)
            })
            .collect()
    }

    /// The next block (not applied) on a relay parent with empty state, and its validation
    /// parameters.
    pub(crate) fn next(&mut self, transfers: usize) -> (ParachainBlockData, ValidationParams) {
        self.next_on(RelayInputs::empty(7), transfers)
    }

    /// The next block (not applied) with relay inputs `inputs`, and its validation parameters.
    pub(crate) fn next_on(
        &mut self,
        inputs: RelayInputs,
        transfers: usize,
    ) -> (ParachainBlockData, ValidationParams) {
        self.try_next_on(inputs, transfers).unwrap()
    }

    /// Like [`Self::next_on`], or why the block cannot be built.
    pub(crate) fn try_next_on(
        &mut self,
        inputs: RelayInputs,
        transfers: usize,
    ) -> Result<(ParachainBlockData, ValidationParams), String> {
        let transfers = self.transfers(transfers);
        self.try_next_with(inputs, transfers)
    }

    /// The next block with relay inputs `inputs` and `extrinsics`, or why it cannot be built.
    pub(crate) fn try_next_with(
        &mut self,
        inputs: RelayInputs,
        more: Vec<OpaqueExtrinsic>,
    ) -> Result<(ParachainBlockData, ValidationParams), String> {
        let (number, root) = (inputs.relay_parent_number, inputs.relay_parent_storage_root);
        let mut extrinsics = vec![relay_inputs_inherent::<TemplateRuntime>(inputs)];
        extrinsics.extend(more);
        let built =
            build_block::<TemplateRuntime>(&self.nodes, &self.head, &extrinsics, None).unwrap();
        if let Some((_, why)) = built.rejected.first() {
            return Err(why.to_string());
        }
        let data =
            prove_block::<TemplateRuntime>(&self.nodes, self.head.state_root, built.block).unwrap();
        let mut params = params(&self.head, &data);
        params.relay_parent_number = number;
        params.relay_parent_storage_root = root;
        Ok((data, params))
    }

    /// Makes `data`'s block the head.
    pub(crate) fn apply(&mut self, data: &ParachainBlockData) {
        let built =
            build_block::<TemplateRuntime>(&self.nodes, &self.head, &data.block.extrinsics, None)
                .unwrap();
        assert_eq!(built.block.header, data.block.header);
        self.nodes.extend(built.changes.new_nodes);
        self.head = built.block.header;
    }
}

fn params(parent: &Header, data: &ParachainBlockData) -> ValidationParams {
    ValidationParams {
        parent_head: HeadData(parent.encode()),
        block_data: BlockData(data.encode()),
        relay_parent_number: 7,
        relay_parent_storage_root: tessera_runtime::trie::empty_root(),
    }
}

pub(crate) fn host() -> ValidationHost {
    ValidationHost::new(ValidationLimits {
        max_memory_bytes: 64 * 1024 * 1024,
        backing_timeout: Duration::from_millis(300),
        approval_timeout: Duration::from_millis(900),
        compile_timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn template_code() -> (Hash, &'static [u8]) {
    (ValidationCode(WASM_BINARY.to_vec()).hash(), WASM_BINARY)
}

pub(crate) fn validate(
    host: &ValidationHost,
    params: &ValidationParams,
) -> Result<HeadData, InvalidCandidate> {
    let (hash, code) = template_code();
    host.validate(hash, code, params, ValidationPurpose::Backing)
        .map(|commitments| commitments.head_data)
}

#[test]
fn template_blocks_validate_in_wasm_with_the_same_commitments_as_natively() {
    let host = host();
    let (hash, code) = template_code();
    let mut para = Para::new();
    for _ in 0..3 {
        let (data, params) = para.next(30);
        let in_wasm = host
            .validate(hash, code, &params, ValidationPurpose::Backing)
            .unwrap();
        let native = template::validate(params).unwrap();
        assert_eq!(in_wasm, native);
        assert_eq!(in_wasm.head_data, HeadData(data.block.header.encode()));
        assert_eq!(in_wasm.hrmp_watermark, 7);
        para.apply(&data);
    }
}

/// The para's runtime under `:code` in its genesis state, executed in Wasm on the node's state
/// (`Core_execute_block`), makes the same changes as the native runtime that built the blocks;
/// a block it refuses is refused with the runtime's reason and changes nothing.
#[test]
fn template_blocks_import_through_the_wasm_under_code_with_the_same_changes_as_natively() {
    let host = host();
    let mut para = Para::new();
    let code_hash = State::new(&para.nodes, para.head.state_root)
        .value_hash(CODE_KEY)
        .unwrap()
        .expect("genesis puts the runtime under :code");
    assert_eq!(code_hash, template_code().0, "the registered blob is :code");
    for transfers in [0, 40, 200] {
        let (data, params) = para.next(transfers);
        // Built in Wasm from the same extrinsics: the same block, and a proof that validates.
        let request = BuildRequest {
            parent: para.head.clone(),
            author: None,
            extrinsics: data.block.extrinsics.clone(),
            pre_runtime: Vec::new(),
        };
        let nodes: Arc<dyn NodeStore> = Arc::new(para.nodes.clone());
        let code = || Ok(WASM_BINARY.to_vec());
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut built = host
            .build_block(code_hash, code, nodes, &request, true, deadline)
            .unwrap();
        assert_eq!(built.block, data.block);
        assert!(built.rejected.is_empty());
        let proven = ParachainBlockData {
            block: built.block.clone(),
            proof: built.changes.proof.take().unwrap(),
        };
        let from_wasm = ValidationParams {
            block_data: BlockData(proven.encode()),
            ..params
        };
        let head = validate(&host, &from_wasm).unwrap();
        assert_eq!(head, HeadData(data.block.header.encode()));
        let nodes: Arc<dyn NodeStore> = Arc::new(para.nodes.clone());
        let native =
            execute_block::<TemplateRuntime>(&para.nodes, para.head.state_root, &data.block, false)
                .unwrap();
        let code = || Ok(WASM_BINARY.to_vec());
        let in_wasm = host
            .execute_block(
                code_hash,
                code,
                nodes,
                para.head.state_root,
                &data.block,
                false,
            )
            .unwrap();
        assert_eq!(in_wasm.root, data.block.header.state_root);
        let sorted = |mut nodes: Vec<(Hash, Vec<u8>)>| {
            nodes.sort();
            nodes
        };
        assert_eq!(sorted(in_wasm.new_nodes), sorted(native.new_nodes));
        para.apply(&data);
    }

    let (mut data, _) = para.next(5);
    data.block.header.state_root = Hash([1; 32]);
    let nodes: Arc<dyn NodeStore> = Arc::new(para.nodes.clone());
    let code = || Ok(WASM_BINARY.to_vec());
    let err = host
        .execute_block(
            code_hash,
            code,
            nodes,
            para.head.state_root,
            &data.block,
            false,
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ExecutionError::InvalidBlock(BlockRejection::StateRoot { .. })
        ),
        "{err}"
    );
}

/// The genesis a para's Wasm builds from its config (`GenesisBuilder_build_state`) is the one
/// the native runtime builds, for both dev runtimes; bytes that are no runtime build none.
#[test]
fn genesis_built_by_the_wasm_is_the_native_one() {
    let host = host();
    let config = GenesisConfig::dev(ParaId(2000));
    let (header, changes) = host.build_genesis(WASM_BINARY, &config).unwrap();
    let (native_header, native) = config.build::<TemplateRuntime>().unwrap();
    assert_eq!(header, native_header);
    let sorted = |mut nodes: Vec<(Hash, Vec<u8>)>| {
        nodes.sort();
        nodes
    };
    assert_eq!(sorted(changes.new_nodes), sorted(native.new_nodes));

    let example = example_parachain_runtime::WASM_BINARY;
    let config = GenesisConfig {
        sudo: None,
        ..GenesisConfig::dev(ParaId(2001))
    };
    let (header, _) = host.build_genesis(example, &config).unwrap();
    let (native_header, _) = config
        .build::<example_parachain_runtime::ExampleRuntime>()
        .unwrap();
    assert_eq!(header, native_header);

    // Bytes that are no runtime build nothing.
    let Err(err) = host.build_genesis(b"not wasm", &config) else {
        panic!("a genesis from bytes that are not Wasm");
    };
    assert!(
        matches!(
            err,
            ExecutionError::Runtime(InvalidCandidate::InvalidCode(_))
        ),
        "{err}"
    );
}

/// Transactions checked through the para's Wasm (`TaggedTransactionQueue_validate_transactions`)
/// get the native runtime's verdicts: valid with its nonces, a future nonce, a stale one, a bad
/// signature (only when signatures are checked), bytes that are no extrinsic.
#[test]
fn transactions_are_checked_through_the_wasm_as_natively() {
    let host = host();
    let mut para = Para::new();
    let mut txs = para.transfers(3);
    // Signed for another chain: the signature does not verify for this one.
    let call = template::Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public().into(),
        value: template::UNIT,
    });
    txs.push(template::sign(&Pair::dev("Dave"), call, 0, Hash([9; 32])));
    txs.push(OpaqueExtrinsic(vec![7, 7, 7]));
    let (data, _) = para.next(0);
    para.apply(&data);
    let code_hash = template_code().0;
    let check = |txs: &[OpaqueExtrinsic], check_signatures: bool| {
        let request = ValidateRequest {
            parent_hash: para.head.hash(),
            number: para.head.number + 1,
            transactions: txs.to_vec(),
            check_signatures,
        };
        let nodes: Arc<dyn NodeStore> = Arc::new(para.nodes.clone());
        let code = || Ok(WASM_BINARY.to_vec());
        let in_wasm = host
            .validate_transactions(code_hash, code, nodes, para.head.state_root, &request)
            .unwrap();
        let state = State::new(&para.nodes, para.head.state_root);
        let mut executive = Executive::<TemplateRuntime>::initialize(
            state,
            request.number,
            request.parent_hash,
            None,
        )
        .unwrap();
        let native: Vec<_> = txs
            .iter()
            .map(|xt| {
                let checked = if check_signatures {
                    executive.validate(xt)
                } else {
                    executive.revalidate(xt)
                };
                checked.map_err(|err| match err {
                    ApplyError::Invalid(why) => why,
                    ApplyError::State(err) => panic!("{err}"),
                })
            })
            .collect();
        // The codec's error texts are left out of no_std builds: a malformed extrinsic's
        // reason is generic in Wasm.
        let kind = |verdicts: &[Result<ValidTransaction, InvalidTransaction>]| {
            verdicts
                .iter()
                .map(|verdict| match verdict {
                    Err(InvalidTransaction::Malformed(_)) => {
                        Err(InvalidTransaction::Malformed(String::new()))
                    }
                    other => other.clone(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(kind(&in_wasm), kind(&native));
        in_wasm
    };
    let verdicts = check(&txs, true);
    assert!(verdicts[0].is_ok() && verdicts[1].is_ok() && verdicts[2].is_ok());
    assert_eq!(verdicts[3], Err(InvalidTransaction::BadSignature));
    assert!(matches!(verdicts[4], Err(InvalidTransaction::Malformed(_))));
    let unsigned_checks = check(&txs, false);
    assert!(
        unsigned_checks[3].is_ok(),
        "signatures are not checked again"
    );
}

#[test]
fn a_builder_stops_when_out_of_time_or_full_and_its_recorded_proof_validates() {
    let host = host();
    let mut para = Para::new();
    let mut extrinsics = vec![relay_inputs_inherent::<TemplateRuntime>(
        RelayInputs::empty(7),
    )];
    extrinsics.extend(para.transfers(40));
    // Out of time after 10 extrinsics: the rest is not even tried.
    let mut asked = 0;
    let mut out_of_time = || {
        asked += 1;
        asked > 10
    };
    let options = BuildOptions {
        record_proof: true,
        out_of_time: &mut out_of_time,
    };
    let mut built =
        build_block_with::<TemplateRuntime>(&para.nodes, &para.head, &extrinsics, None, options)
            .unwrap();
    assert_eq!(built.tried, 11);
    assert_eq!(built.block.extrinsics.len(), 11);
    assert!(built.rejected.is_empty());
    // The proof recorded while building is the PoV: the Wasm function accepts it.
    let data = ParachainBlockData {
        block: built.block.clone(),
        proof: built.changes.proof.take().unwrap(),
    };
    let head = validate(&host, &params(&para.head, &data)).unwrap();
    assert_eq!(head, HeadData(built.block.header.encode()));

    // A full block: past what fits, the builder stops after MAX_SKIPPED_FULL refusals instead
    // of checking every transaction left.
    let mut para = Para::new();
    let mut extrinsics = vec![relay_inputs_inherent::<TemplateRuntime>(
        RelayInputs::empty(7),
    )];
    extrinsics.extend(para.transfers(1_300));
    let options = BuildOptions {
        record_proof: false,
        out_of_time: &mut || false,
    };
    let built =
        build_block_with::<TemplateRuntime>(&para.nodes, &para.head, &extrinsics, None, options)
            .unwrap();
    // 60 ms of weight: the inherent's 50 µs and 1,199 transfers of 50 µs.
    assert_eq!(built.block.extrinsics.len(), 1_200);
    assert_eq!(built.tried, 1_200 + MAX_SKIPPED_FULL);
    assert_eq!(built.rejected.len(), MAX_SKIPPED_FULL);
}

#[test]
fn a_block_with_a_wrong_state_root_is_invalid() {
    let mut para = Para::new();
    let (mut data, _) = para.next(5);
    data.block.header.state_root = Hash([1; 32]);
    let err = validate(&host(), &params(&para.head, &data)).unwrap_err();
    assert!(
        matches!(&err, InvalidCandidate::InvalidBlock(why) if why.contains("state root mismatch")),
        "{err}"
    );
}

#[test]
fn a_block_with_a_bad_signature_inside_is_invalid() {
    let mut para = Para::new();
    let (mut data, _) = para.next(5);
    // Flip a byte of the last signature and keep the extrinsics root consistent.
    let xt = &mut data.block.extrinsics[2].0;
    let at = xt.len() - 20;
    xt[at] ^= 1;
    data.block.header.extrinsics_root =
        tessera_runtime::block::extrinsics_root(&data.block.extrinsics);
    let err = validate(&host(), &params(&para.head, &data)).unwrap_err();
    assert!(
        matches!(&err, InvalidCandidate::InvalidBlock(why) if why.contains("extrinsic 2 is invalid")),
        "{err}"
    );
}

#[test]
fn a_proof_missing_a_node_or_a_wrong_parent_is_invalid() {
    let host = host();
    let mut para = Para::new();
    let (mut data, _) = para.next(5);
    let (other_parent, _) = template::genesis(&GenesisConfig::dev(ParaId(2000))).unwrap();
    let err = validate(&host, &params(&other_parent, &data)).unwrap_err();
    assert!(
        matches!(&err, InvalidCandidate::InvalidBlock(why) if why.contains("not on the parent head")),
        "{err}"
    );

    data.proof.nodes.remove(data.proof.nodes.len() / 2);
    let err = validate(&host, &params(&para.head, &data)).unwrap_err();
    assert!(
        matches!(&err, InvalidCandidate::InvalidBlock(why) if why.contains("missing")),
        "{err}"
    );
}

#[test]
fn parameters_that_do_not_decode_are_refused_by_the_function() {
    let mut para = Para::new();
    let (_, mut params) = para.next(1);
    params.block_data = BlockData(vec![1, 2, 3]);
    let err = validate(&host(), &params).unwrap_err();
    assert!(
        matches!(&err, InvalidCandidate::InvalidBlock(why) if why.contains("does not decode")),
        "{err}"
    );
}

/// A module with the ABI's exports whose `validate_block` runs `body`.
fn module(imports: &str, body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            {imports}
            (memory (export "memory") 2)
            (data (i32.const 16) "boom")
            (func (export "tessera_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "validate_block") (param i32 i32) (result i64) {body})
        )"#
    ))
    .unwrap()
}

fn run(host: &ValidationHost, code: &[u8], purpose: ValidationPurpose) -> InvalidCandidate {
    let mut para = Para::new();
    let (_, params) = para.next(1);
    host.validate(ValidationCode(code.to_vec()).hash(), code, &params, purpose)
        .unwrap_err()
}

#[test]
fn code_that_is_not_wasm_or_breaks_the_abi_is_refused() {
    let host = host();
    let err = run(&host, b"\0asm but not really", ValidationPurpose::Backing);
    assert!(matches!(err, InvalidCandidate::InvalidCode(_)), "{err}");

    let imports_env = module(
        r#"(import "env" "random" (func (result i32)))"#,
        "i64.const 0",
    );
    let err = run(&host, &imports_env, ValidationPurpose::Backing);
    assert_eq!(
        err,
        InvalidCandidate::UnknownImport {
            module: "env".into(),
            name: "random".into()
        }
    );

    let no_exports = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    let err = run(&host, &no_exports, ValidationPurpose::Backing);
    assert!(
        matches!(
            err,
            InvalidCandidate::MissingExport {
                name: "tessera_alloc",
                ..
            }
        ),
        "{err}"
    );

    // An output pointer far outside memory.
    let bad_output = module("", "i64.const 0x0000_0010_ffff_0000");
    let err = run(&host, &bad_output, ValidationPurpose::Backing);
    assert!(matches!(err, InvalidCandidate::BadOutput(_)), "{err}");
}

/// A validation function may log (validators show none of it), but its pointers are checked
/// as for any host call: out of bounds, the validation traps on every validator alike.
#[test]
fn a_validation_function_logs_nothing_on_validators_and_its_pointers_are_checked() {
    let host = host();
    let import = r#"(import "tessera" "log" (func $log (param i32 i32 i32 i32 i32)))"#;
    // Logs "boom" under "boom" a thousand times (past the per-call limit), then returns an
    // output the host cannot read: it got as far as its end.
    let logs = module(
        import,
        "(local $n i32)
         (loop $again
           (call $log (i32.const 3) (i32.const 16) (i32.const 4) (i32.const 16) (i32.const 4))
           (local.set $n (i32.add (local.get $n) (i32.const 1)))
           (br_if $again (i32.lt_u (local.get $n) (i32.const 1000))))
         i64.const 0x0000_0010_ffff_0000",
    );
    let err = run(&host, &logs, ValidationPurpose::Backing);
    assert!(matches!(err, InvalidCandidate::BadOutput(_)), "{err}");

    let out_of_bounds = module(
        import,
        "(call $log (i32.const 3) (i32.const 16) (i32.const 4) (i32.const 200000) (i32.const 8))
         i64.const 0",
    );
    let err = run(&host, &out_of_bounds, ValidationPurpose::Backing);
    assert!(matches!(err, InvalidCandidate::Trap(_)), "{err}");
}

#[test]
fn a_compilation_over_its_time_limit_gives_up_the_candidate_and_finishes_in_the_background() {
    let host = ValidationHost::new(ValidationLimits {
        compile_timeout: Duration::ZERO,
        ..ValidationLimits::default()
    })
    .unwrap();
    let (code_hash, code) = template_code();
    assert!(matches!(
        host.prepare(code_hash, code),
        Err(InvalidCandidate::CompileTimeout(_))
    ));
    // The one compilation goes on; once done, the code is ready without compiling again.
    let ready = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        host.prepare(code_hash, code).is_ok()
    });
    assert!(ready, "the background compilation never finished");
}

#[test]
fn a_validation_of_a_code_being_compiled_waits_for_that_compilation() {
    let host = std::sync::Arc::new(host());
    // Four validations of one code start together: one compiles it and the others wait for
    // that compilation (before, they gave up at once while it ran).
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let validations: Vec<_> = (0..4)
        .map(|_| {
            let (host, start) = (host.clone(), start.clone());
            std::thread::spawn(move || {
                let (code_hash, code) = template_code();
                start.wait();
                host.prepare(code_hash, code).map(drop)
            })
        })
        .collect();
    for validation in validations {
        assert_eq!(validation.join().unwrap(), Ok(()));
    }
}

#[test]
fn host_calls_are_bounded_and_stop_at_the_deadline() {
    let host = host();
    // A signature batch claiming 100,000 items (compact 100,000 at offset 16): refused
    // before any signature is decoded or checked.
    let batch = wat::parse_str(
        r#"(module
            (import "tessera" "sr25519_verify_batch" (func $batch (param i32 i32) (result i32)))
            (memory (export "memory") 2)
            (data (i32.const 16) "\82\1a\06\00")
            (func (export "tessera_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "validate_block") (param i32 i32) (result i64)
                (drop (call $batch (i32.const 16) (i32.const 4096)))
                i64.const 0)
        )"#,
    )
    .unwrap();
    let err = run(&host, &batch, ValidationPurpose::Backing);
    assert!(
        matches!(&err, InvalidCandidate::Trap(why) if why.contains("exceeds 4096")),
        "{err}"
    );
    // Hashing more than a host call may read.
    let big = module(
        r#"(import "tessera" "blake2_256" (func $hash (param i32 i32 i32)))"#,
        "(call $hash (i32.const 0) (i32.const 0x00900000) (i32.const 0)) i64.const 0",
    );
    let err = run(&host, &big, ValidationPurpose::Backing);
    assert!(
        matches!(&err, InvalidCandidate::Trap(why) if why.contains("exceeds")),
        "{err}"
    );
    // Host calls in a loop: the deadline stops it within a host call's time of the limit.
    let hashing = module(
        r#"(import "tessera" "blake2_256" (func $hash (param i32 i32 i32)))"#,
        "(loop (call $hash (i32.const 0) (i32.const 65536) (i32.const 0)) (br 0)) i64.const 0",
    );
    let started = Instant::now();
    let err = run(&host, &hashing, ValidationPurpose::Backing);
    assert!(matches!(err, InvalidCandidate::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn traps_loops_panics_and_memory_hogs_make_the_candidate_invalid_and_leave_the_host_working() {
    let host = host();

    let trap = module("", "unreachable");
    let err = run(&host, &trap, ValidationPurpose::Backing);
    assert!(
        matches!(&err, InvalidCandidate::Trap(why) if why.contains("unreachable")),
        "{err}"
    );

    let endless = module("", "(loop br 0) i64.const 0");
    let started = Instant::now();
    let err = run(&host, &endless, ValidationPurpose::Backing);
    assert_eq!(
        err,
        InvalidCandidate::Timeout {
            timeout: Duration::from_millis(300),
            purpose: ValidationPurpose::Backing
        }
    );
    let backing = started.elapsed();
    let started = Instant::now();
    let err = run(&host, &endless, ValidationPurpose::Approval);
    assert!(matches!(
        err,
        InvalidCandidate::Timeout {
            purpose: ValidationPurpose::Approval,
            ..
        }
    ));
    assert!(
        started.elapsed() > backing,
        "the approval deadline is the longer one"
    );

    // Grows memory by 1 MiB at a time until refused, then traps as an allocator would.
    let hog = module(
        "",
        "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
    );
    let err = run(&host, &hog, ValidationPurpose::Backing);
    assert_eq!(
        err,
        InvalidCandidate::MemoryLimit {
            limit: 64 * 1024 * 1024
        }
    );

    let panics = module(
        r#"(import "tessera" "abort" (func $abort (param i32 i32)))"#,
        "(call $abort (i32.const 16) (i32.const 4)) i64.const 0",
    );
    let err = run(&host, &panics, ValidationPurpose::Backing);
    assert_eq!(err, InvalidCandidate::Panicked("boom".into()));

    let deep = wat::parse_str(
        r#"(module
            (memory (export "memory") 1)
            (func (export "tessera_alloc") (param i32) (result i32) i32.const 0)
            (func $down (param i64) (result i64) (call $down (local.get 0)))
            (func (export "validate_block") (param i32 i32) (result i64) (call $down (i64.const 1))))"#,
    )
    .unwrap();
    let err = run(&host, &deep, ValidationPurpose::Backing);
    assert!(
        matches!(&err, InvalidCandidate::Trap(why) if why.contains("stack")),
        "{err}"
    );

    // None of that harmed the host: a real block still validates.
    let mut para = Para::new();
    let (data, params) = para.next(3);
    assert_eq!(
        validate(&host, &params).unwrap(),
        HeadData(data.block.header.encode())
    );
}

const VALIDATORS: usize = 4;

fn validation_data(parent: &Header, max_pov_size: u32) -> PersistedValidationData {
    PersistedValidationData {
        parent_head: HeadData(parent.encode()),
        relay_parent_number: 7,
        relay_parent_storage_root: tessera_runtime::trie::empty_root(),
        max_pov_size,
    }
}

/// Ferdie's candidate of `data` on `parent`, claiming `commitments`.
fn candidate(
    parent: &Header,
    data: &ParachainBlockData,
    commitments: CandidateCommitments,
    max_pov_size: u32,
) -> Collation {
    collate(
        &Pair::dev("Ferdie"),
        CollationInput {
            para: ParaId(1000),
            relay_parent: Hash([3; 32]),
            validation_data: validation_data(parent, max_pov_size),
            block_data: BlockData(data.encode()),
            code_hash: template_code().0,
            commitments,
            validators: VALIDATORS,
        },
    )
    .unwrap()
}

fn check(
    host: &ValidationHost,
    parent: &Header,
    collation: &Collation,
    max_pov_size: u32,
    code: &ValidationCode,
) -> Result<CandidateCommitments, InvalidCandidate> {
    host.validate_candidate(
        CandidateToCheck {
            receipt: &collation.candidate.to_plain(),
            pov: &collation.pov,
            validation_data: &validation_data(parent, max_pov_size),
            code,
            validators: VALIDATORS,
        },
        ValidationPurpose::Backing,
    )
}

#[test]
fn an_honest_candidate_passes_and_each_defect_of_a_dishonest_one_is_named() {
    const MAX_POV: u32 = 5 * 1024 * 1024;
    let host = host();
    let code = ValidationCode(WASM_BINARY.to_vec());
    let mut para = Para::new();
    let parent = para.head.clone();
    let (data, params) = para.next(20);
    let honest_commitments = template::validate(params).unwrap();
    let honest = candidate(&parent, &data, honest_commitments.clone(), MAX_POV);
    assert_eq!(
        check(&host, &parent, &honest, MAX_POV, &code),
        Ok(honest_commitments.clone())
    );

    // A PoV over the size limit.
    let small = honest.pov.encoded_size() as u32 - 1;
    let oversized = candidate(&parent, &data, honest_commitments.clone(), small);
    assert!(matches!(
        check(&host, &parent, &oversized, small, &code),
        Err(InvalidCandidate::PoVTooLarge { .. })
    ));

    // Code other than the para's.
    let other_code = ValidationCode(module("", "unreachable"));
    assert_eq!(
        check(&host, &parent, &honest, MAX_POV, &other_code),
        Err(InvalidCandidate::HashMismatch {
            what: "validation code"
        })
    );

    // A block with a state root execution does not give, claimed as its head.
    let mut bad_root = data.clone();
    bad_root.block.header.state_root = Hash([1; 32]);
    let claimed = CandidateCommitments {
        head_data: HeadData(bad_root.block.header.encode()),
        ..honest_commitments.clone()
    };
    let dishonest = candidate(&parent, &bad_root, claimed.clone(), MAX_POV);
    let err = check(&host, &parent, &dishonest, MAX_POV, &code).unwrap_err();
    assert!(
        matches!(&err, InvalidCandidate::InvalidBlock(why) if why.contains("state root")),
        "{err}"
    );

    // A block with a forged signature inside.
    let mut forged = data.clone();
    let xt = &mut forged.block.extrinsics[0].0;
    let at = xt.len() - 10;
    xt[at] ^= 0xff;
    forged.block.header.extrinsics_root =
        tessera_runtime::block::extrinsics_root(&forged.block.extrinsics);
    let claimed = CandidateCommitments {
        head_data: HeadData(forged.block.header.encode()),
        ..honest_commitments.clone()
    };
    let dishonest = candidate(&parent, &forged, claimed, MAX_POV);
    let err = check(&host, &parent, &dishonest, MAX_POV, &code).unwrap_err();
    assert!(
        matches!(&err, InvalidCandidate::InvalidBlock(why) if why.contains("extrinsic 0 is invalid")),
        "{err}"
    );

    // Commitments other than what validation gives.
    let inflated = CandidateCommitments {
        upward_messages: vec![b"mint me".to_vec()],
        ..honest_commitments.clone()
    };
    let dishonest = candidate(&parent, &data, inflated, MAX_POV);
    assert_eq!(
        check(&host, &parent, &dishonest, MAX_POV, &code),
        Err(InvalidCandidate::HashMismatch {
            what: "commitments"
        })
    );

    // Tampering after signing.
    let mut swapped_pov = honest.clone();
    swapped_pov.pov.block_data.0.push(0);
    assert_eq!(
        check(&host, &parent, &swapped_pov, MAX_POV, &code),
        Err(InvalidCandidate::HashMismatch { what: "PoV" })
    );
    let mut wrong_root = honest.clone();
    wrong_root.candidate.descriptor.erasure_root = Hash([2; 32]);
    assert_eq!(
        check(&host, &parent, &wrong_root, MAX_POV, &code),
        Err(InvalidCandidate::HashMismatch {
            what: "erasure root"
        }),
        "the collator does not sign the erasure root (as in Polkadot); validators recompute it"
    );
    let mut impostor = honest.clone();
    impostor.candidate.descriptor.collator = Pair::dev("Eve").public();
    assert_eq!(
        check(&host, &parent, &impostor, MAX_POV, &code),
        Err(InvalidCandidate::BadCollatorSignature)
    );
    let other_parent = Para::new().next(1).0.block.header;
    assert_eq!(
        check(&host, &other_parent, &honest, MAX_POV, &code),
        Err(InvalidCandidate::HashMismatch {
            what: "validation data"
        })
    );
}

#[test]
fn a_blob_offered_as_code_is_checked_without_running_it() {
    use tessera_runtime::wasm::{check_code, ChainKind::Para, CodeError, VersionInfo};
    let next = std::fs::read(env!("TEMPLATE_NEXT_WASM")).unwrap();
    let version = |spec_version| VersionInfo {
        spec_name: "tessera-parachain-template".into(),
        spec_version,
        transaction_version: 1,
    };
    assert_eq!(check_code(WASM_BINARY, Para), Ok(version(1)));
    assert_eq!(check_code(&next, Para), Ok(version(2)));
    assert!(matches!(
        check_code(b"\0asm garbage", Para),
        Err(CodeError::Invalid(_))
    ));
    // The relay chain's runtime is a runtime, but no para's: it has no validation function.
    let relay = tessera_relay_chain::WASM_BINARY;
    let relay_version = VersionInfo {
        spec_name: "tessera-relay".into(),
        spec_version: 1,
        transaction_version: 1,
    };
    assert_eq!(
        check_code(relay, tessera_runtime::wasm::ChainKind::Relay),
        Ok(relay_version)
    );
    assert_eq!(
        check_code(relay, Para),
        Err(CodeError::MissingExport("validate_block".into()))
    );
    let truncated = &WASM_BINARY[..WASM_BINARY.len() / 2];
    assert!(matches!(
        check_code(truncated, Para),
        Err(CodeError::Invalid(_))
    ));
    // A validation function alone is no runtime: nodes could not build or import with it.
    let bare = module("", "i64.const 0");
    assert_eq!(
        check_code(&bare, Para),
        Err(CodeError::MissingExport("Core_version".into()))
    );
    let foreign = wat::parse_str(r#"(module (import "env" "time" (func)))"#).unwrap();
    assert_eq!(
        check_code(&foreign, Para),
        Err(CodeError::UnknownImport("env::time".into()))
    );
    // A host function with another signature would not link.
    let mistyped =
        wat::parse_str(r#"(module (import "tessera" "blake2_256" (func (param i32))))"#).unwrap();
    assert_eq!(
        check_code(&mistyped, Para),
        Err(CodeError::UnknownImport("tessera::blake2_256".into()))
    );
    // Every export nodes call, with its type, and memory a host can give.
    let api_with = |memory_pages: u32, version_result: &str, extra: &str| {
        let exports: String = Para
            .required_exports()
            .map(|name| {
                let result = if name == "Core_version" { version_result } else { "i64" };
                format!(
                    r#"(func (export "{name}") (param i32 i32) (result {result}) ({result}.const 0))"#
                )
            })
            .collect();
        wat::parse_str(format!(
            r#"(module {extra} (memory (export "memory") {memory_pages})
                (func (export "tessera_alloc") (param i32) (result i32) i32.const 0) {exports})"#
        ))
        .unwrap()
    };
    let api = |memory_pages: u32, version_result: &str| api_with(memory_pages, version_result, "");
    assert_eq!(check_code(&api(2, "i64"), Para), Err(CodeError::NoVersion));
    assert_eq!(
        check_code(&api(2, "i32"), Para),
        Err(CodeError::MissingExport("Core_version".into()))
    );
    assert_eq!(
        check_code(&api(4097, "i64"), Para),
        Err(CodeError::MemoryTooLarge)
    );

    // What valid Wasm could still fail at instantiation, after the upgrade, on every node: a
    // segment beyond the memory or table it starts with, or more per-instance metadata than
    // the pool holds. Within bounds, the check goes on to the (missing) version.
    let unsupported = |extra: &str| match check_code(&api_with(2, "i64", extra), Para) {
        Err(CodeError::Unsupported(what)) => what,
        other => panic!("{extra}: {other:?}"),
    };
    let fits = |extra: &str| check_code(&api_with(2, "i64", extra), Para);
    assert_eq!(
        fits(r#"(data (i32.const 131068) "four")"#),
        Err(CodeError::NoVersion)
    );
    assert!(unsupported(r#"(data (i32.const 131069) "four")"#).contains("a data segment beyond"));
    assert!(unsupported(r#"(data (i32.const -1) "x")"#).contains("a data segment beyond"));
    let table = r#"(table 2 funcref) (func $f)"#;
    assert_eq!(
        fits(&format!("{table} (elem (i32.const 1) $f)")),
        Err(CodeError::NoVersion)
    );
    assert!(unsupported(&format!("{table} (elem (i32.const 1) $f $f)"))
        .contains("an element segment beyond"));
    let globals = |count: usize| "(global i32 (i32.const 0))".repeat(count);
    assert_eq!(fits(&globals(1_000)), Err(CodeError::NoVersion));
    // wasmtime's pool refuses 66,000 globals or 18,000 imports (I measured), at compile.
    assert!(unsupported(&globals(70_000)).contains("instance metadata"));
    // The same host function imported over and over costs as much.
    let imports =
        |count: usize| r#"(import "tessera" "abort" (func (param i32 i32)))"#.repeat(count);
    assert!(unsupported(&imports(20_000)).contains("instance metadata"));
}
