//! The validation host: runs paras' Wasm validation functions with wasmtime.
//!
//! A validator checks a candidate by running the code its para registered on the candidate's
//! [`ValidationParams`] (the ABI is in [`tessera_runtime::wasm`]). The code comes from chain
//! state, so it is untrusted: it is compiled once per code hash, within its own time limit (on
//! a thread of its own: a compilation that overruns finishes in the background, once per code
//! hash, while the candidate waiting on it is given up), may import only the documented host
//! functions, and runs with a memory cap and a deadline (epoch interruption; the approval
//! deadline is longer than the backing one, as approval checkers must not declare a candidate
//! invalid only because their machine is slower). Host functions run natively, where epoch
//! interruption cannot reach: each checks the deadline before it starts, reads its input in
//! place from the guest's memory (no copy outside the memory cap), and takes at most
//! [`MAX_HOST_INPUT`] bytes or [`MAX_BATCH`] signatures, so one call overruns the deadline by a
//! bounded amount. Code that is not valid Wasm, traps, loops, or allocates too much makes its
//! candidate invalid and leaves the host as it was.

use lru::LruCache;
use parity_scale_codec::{Compact, Decode, DecodeAll, Encode};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use tessera_relay_chain::availability::AvailableData;
use tessera_runtime::crypto::{
    ed25519_verify_natively, verify_batch_natively, AccountId, Signature,
};
use tessera_runtime::executive::{InvalidTransaction, ValidTransaction};
use tessera_runtime::hashing::{blake2_128, blake2_256};
use tessera_runtime::parachain::BuiltBlock;
use tessera_runtime::parachain::ParaGenesis;
use tessera_runtime::parachain::{
    CandidateCommitments, CandidateReceipt, PersistedValidationData, PoV, ValidationCode,
    ValidationParams,
};
use tessera_runtime::state::{NodeStore, State, StateChanges};
use tessera_runtime::storage::CODE_KEY;
use tessera_runtime::wasm::{
    self, host, BuildRequest, BuildResult, GenesisRequest, ValidateRequest, ValidateResult,
    ValidationOutcome,
};
use tessera_runtime::{Block, Hash, Header, OpaqueExtrinsic};
use wasmtime::{
    AsContextMut, Caller, Config, Engine, Extern, ExternType, InstanceAllocationStrategy,
    InstancePre, Linker, Memory, Module, PoolConcurrencyLimitError, PoolingAllocationConfig,
    ResourceLimiter, Store, Trap, TypedFunc, ValType,
};

/// How often the deadline clock ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Where this process's hosts keep compiled code between runs ([`set_artifact_dir`]).
static ARTIFACT_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Compiled code not used for this long is deleted when a node starts (Polkadot prunes its
/// PVF artifacts after a day; runtimes change more rarely).
const ARTIFACT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Keeps the code this process's hosts compile (runtimes and para validation code) in `dir`,
/// so that a restart, or another node of the operator's sharing the directory, loads it
/// instead of compiling it again, as Polkadot keeps its PVF artifacts. What is in it runs as
/// native code, so it must be trusted as the binary is: a directory this user does not own,
/// or that others may write to, is refused. It is created private. Artifacts not loaded from
/// it for a week are deleted now (only files named as artifacts). The first directory set
/// stays.
pub fn set_artifact_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata(dir)?;
        // Whom files made here belong to: this process's user.
        let probe = dir.join(format!(".owner-{}", std::process::id()));
        let mine = std::fs::File::create(&probe)?.metadata()?.uid();
        let _ = std::fs::remove_file(&probe);
        if meta.uid() != mine || meta.mode() & 0o022 != 0 {
            return Err(std::io::Error::other(format!(
                "{} is not this user's alone (owner {}, mode {:o}): compiled code kept there \
                 could be replaced by another user",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o777
            )));
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let named = entry.file_name().to_str().is_some_and(is_artifact_name);
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > ARTIFACT_TTL));
        if named && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = ARTIFACT_DIR.set(dir.to_path_buf());
    Ok(())
}

/// Whether `name` is one [`store_artifact`] writes: `<code hash>-<compatibility>.cwasm`, or
/// its temporary file.
fn is_artifact_name(name: &str) -> bool {
    let hex =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit());
    let Some((code, rest)) = name.split_once('-') else {
        return false;
    };
    let Some((compatibility, suffix)) = rest.split_once('.') else {
        return false;
    };
    hex(code, 64) && hex(compatibility, 16) && (suffix == "cwasm" || suffix.ends_with(".tmp"))
}

/// Where `engine` keeps code `code_hash` compiled, if artifacts are kept: named by the code
/// and by what makes an engine's compiled code compatible with another's.
fn artifact_path(engine: &Engine, code_hash: &Hash) -> Option<PathBuf> {
    use std::hash::{Hash as _, Hasher as _};
    let dir = ARTIFACT_DIR.get()?;
    let mut compatibility = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut compatibility);
    let name = format!(
        "{}-{:016x}.cwasm",
        hex::encode(code_hash.0),
        compatibility.finish()
    );
    Some(dir.join(name))
}

/// The code kept at `path`, if it is there, intact (its checksum holds) and compiled for an
/// engine like `engine`.
fn load_artifact(engine: &Engine, path: &Path) -> Option<Module> {
    let bytes = std::fs::read(path).ok()?;
    let (checksum, artifact) = bytes.split_at_checked(32)?;
    if blake2_256(artifact).0 != checksum {
        return None;
    }
    // Touched, so that pruning counts from the last use.
    let _ =
        std::fs::File::open(path).and_then(|file| file.set_modified(std::time::SystemTime::now()));
    #[allow(unsafe_code)]
    // SAFETY: the artifact directory is this user's alone (`set_artifact_dir` refuses another):
    // only this user's nodes write there, whole files by rename, and the checksum rules out a
    // torn one. Wasmtime checks that the artifact was compiled by a compatible engine.
    let module = unsafe { Module::deserialize(engine, artifact) };
    module.ok()
}

/// Keeps `module` at `path`: written whole to a new file beside it, then renamed over it.
fn store_artifact(module: &Module, path: &Path) {
    use std::io::Write as _;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    static WARNED: AtomicBool = AtomicBool::new(false);
    let Ok(artifact) = module.serialize() else {
        return;
    };
    let mut bytes = blake2_256(&artifact).0.to_vec();
    bytes.extend_from_slice(&artifact);
    let write = WRITES.fetch_add(1, Ordering::Relaxed);
    let temporary = path.with_extension(format!("{}.{write}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let stored = options
        .open(&temporary)
        .and_then(|mut file| file.write_all(&bytes))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(err) = stored {
        let _ = std::fs::remove_file(&temporary);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(%err, path = %path.display(), "compiled code not kept on disk");
        }
    }
}

/// Largest output a validation function may return (commitments can carry new code).
const MAX_OUTPUT_BYTES: u32 = 16 * 1024 * 1024;

/// Instances that can run at once (slots kept mapped and reused between calls: an instance
/// costs no mapping and unmapping of its memory). Calls beyond it fail with
/// [`InvalidCandidate::Busy`], which judges nothing.
const POOLED_INSTANCES: u32 = 128;

/// Bytes of each instance slot's memory reset in place rather than given back to the OS.
const KEEP_RESIDENT: usize = 4 * 1024 * 1024;

/// Stack of the thread a host function runs a nested runtime call on (the nested instance may
/// use `max_wasm_stack`, 1 MiB, on top of the host's own frames).
const NESTED_CALL_STACK: usize = 8 * 1024 * 1024;

/// Compiled modules kept, by code hash.
const MODULE_CACHE_SIZE: usize = 32;

/// Most bytes one host call reads (a hash's input, a signed message, a signature batch): more
/// than a PoV can hold, so honest code never meets it.
pub const MAX_HOST_INPUT: u32 = 8 * 1024 * 1024;

/// Longest storage key a runtime may read (ours are under 200 bytes).
pub const MAX_STORAGE_KEY: u32 = 16 * 1024;

/// Longest log target a runtime's line keeps (longer ones are cut).
const MAX_LOG_TARGET: u32 = 64;
/// Longest log message a runtime's line keeps.
const MAX_LOG_MESSAGE: u32 = 1024;
/// Most lines one runtime call writes to the node's log; a line says when more were dropped.
const MAX_LOG_LINES: u32 = 64;

/// Most signatures one `sr25519_verify_batch` call checks.
pub const MAX_BATCH: u32 = wasm::MAX_VERIFY_BATCH as u32;

/// Why a validation is being run; it sets the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidationPurpose {
    /// A backer checking a candidate before signing a statement: a short deadline.
    Backing,
    /// An approval checker re-checking an included candidate: a longer one.
    Approval,
    /// A node importing a block of its chain through the chain's runtime: the approval one.
    Import,
}

/// What a validation function may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Largest linear memory, in bytes.
    pub max_memory_bytes: usize,
    /// Deadline of a backing validation.
    pub backing_timeout: Duration,
    /// Deadline of an approval validation.
    pub approval_timeout: Duration,
    /// How long compiling a code may take (once per code hash).
    pub compile_timeout: Duration,
}

/// How long compiling a chain's own runtime may take: it is the chain's code, not a
/// candidate's, so only a machine far too slow for the chain gives up on it.
pub const RUNTIME_COMPILE_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            max_memory_bytes: wasm::MAX_MEMORY_BYTES,
            backing_timeout: Duration::from_secs(2),
            approval_timeout: Duration::from_secs(12),
            compile_timeout: Duration::from_secs(10),
        }
    }
}

impl ValidationLimits {
    fn timeout(&self, purpose: ValidationPurpose) -> Duration {
        match purpose {
            ValidationPurpose::Backing => self.backing_timeout,
            ValidationPurpose::Approval | ValidationPurpose::Import => self.approval_timeout,
        }
    }
}

/// Why a candidate is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCandidate {
    /// The code is not a valid Wasm module.
    #[error("validation code is not valid Wasm: {0}")]
    InvalidCode(String),
    /// The code imports something the host does not provide.
    #[error("validation code imports `{module}::{name}`, which is not a host function")]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// The code lacks an export of the ABI, or has it with another type.
    #[error("validation code has no export `{name}` of the right type (expected {expected})")]
    MissingExport {
        /// Export name.
        name: &'static str,
        /// What the ABI expects.
        expected: &'static str,
    },
    /// The deadline passed.
    #[error("validation did not finish within {timeout:?} ({purpose:?} deadline)")]
    Timeout {
        /// The deadline.
        timeout: Duration,
        /// Which one.
        purpose: ValidationPurpose,
    },
    /// Every instance slot of this node was in use: a local limit, not the code's fault.
    #[error("no free Wasm instance slot ({POOLED_INSTANCES} in use)")]
    Busy,
    /// Compiling the code took longer than allowed here (it goes on in the background, and
    /// a later candidate of the code may find it compiled).
    #[error("compiling the validation code took longer than {0:?}")]
    CompileTimeout(Duration),
    /// The code wanted more memory than allowed.
    #[error("validation wanted more than {limit} bytes of memory")]
    MemoryLimit {
        /// The cap.
        limit: usize,
    },
    /// The code panicked (through the `abort` host function).
    #[error("validation function panicked: {0}")]
    Panicked(String),
    /// The code trapped.
    #[error("validation function trapped: {0}")]
    Trap(String),
    /// The code broke the ABI (bad pointers, an output that does not decode).
    #[error("validation function broke the ABI: {0}")]
    BadOutput(String),
    /// The validation function ran and judged the para block invalid.
    #[error("para block is invalid: {0}")]
    InvalidBlock(String),
    /// The PoV is larger than the validation data allows.
    #[error("PoV of {size} bytes exceeds the limit of {max}")]
    PoVTooLarge {
        /// Its encoded size.
        size: usize,
        /// The limit.
        max: u32,
    },
    /// A hash in the descriptor does not match what it names.
    #[error("the descriptor's {what} hash does not match the {what}")]
    HashMismatch {
        /// Which: `PoV`, `validation data`, `validation code`, `erasure root`, `para head` or
        /// `commitments`.
        what: &'static str,
    },
    /// The collator's signature does not verify.
    #[error("the collator's signature does not verify")]
    BadCollatorSignature,
    /// The PoV cannot be erasure-coded for this many validators.
    #[error("cannot erasure-code the PoV: {0}")]
    Erasure(String),
}

/// What a backer receives to check a candidate.
#[derive(Clone, Copy, Debug)]
pub struct CandidateToCheck<'a> {
    /// The receipt.
    pub receipt: &'a CandidateReceipt,
    /// Its PoV.
    pub pov: &'a PoV,
    /// The validation data the para's state on the relay parent gives.
    pub validation_data: &'a PersistedValidationData,
    /// The para's code in force at the relay parent.
    pub code: &'a ValidationCode,
    /// Validators in the set (for the erasure root).
    pub validators: usize,
}

/// Per-execution state the host functions and the limiter see.
struct Execution {
    memory_limit: usize,
    memory_exceeded: bool,
    abort_message: Option<String>,
    /// When the deadline passes, for host functions (which epoch interruption cannot stop).
    deadline: Instant,
    timed_out: bool,
    /// The chain state of a runtime API call (none in validation, which has only its proof).
    runtime: Option<RuntimeState>,
    /// When a block builder's time is up (block building only).
    build_deadline: Option<Instant>,
    /// The instance's allocator, for host functions that return buffers.
    alloc: Option<TypedFunc<u32, u32>>,
    /// Lines the runtime wrote to the log in this call.
    log_lines: u32,
}

impl Execution {
    fn new(memory_limit: usize, timeout: Duration, runtime: Option<RuntimeState>) -> Self {
        Execution {
            memory_limit,
            memory_exceeded: false,
            abort_message: None,
            deadline: Instant::now() + timeout,
            timed_out: false,
            runtime,
            build_deadline: None,
            alloc: None,
            log_lines: 0,
        }
    }
}

/// The node's side of a runtime API call's state: reads at the parent state, and the changes
/// once the runtime committed.
struct RuntimeState {
    /// Taken by the commit.
    state: Option<State<'static>>,
    committed: Option<StateChanges>,
    /// A failure of the node's own store (not the block's fault).
    store_failure: Option<String>,
    /// Bytes of keys and values the host keeps for the call (its reads' cache).
    host_bytes: usize,
}

impl ResourceLimiter for Execution {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }
}

/// Runs validation functions; shared by every validation of a node (it is `Send + Sync`).
pub struct ValidationHost {
    engine: Engine,
    linker: Linker<Execution>,
    modules: Arc<Mutex<LruCache<Hash, Compiled>>>,
    /// Codes being compiled (at most one compilation each), with where its outcome will be.
    compiling: Arc<Mutex<HashMap<Hash, Arc<Compilation>>>>,
    limits: ValidationLimits,
    ticker_stop: Arc<AtomicBool>,
}

/// A compiled code, its imports resolved: what each call instantiates.
#[derive(Clone)]
pub struct Compiled {
    pre: InstancePre<Execution>,
}

/// One compilation's outcome, which every validation of its code waits for.
struct Compilation {
    started: Instant,
    outcome: Mutex<Option<Result<Compiled, InvalidCandidate>>>,
    done: Condvar,
}

impl Compilation {
    /// Its outcome, waiting for it until `timeout` after the compilation started (so that
    /// validations arriving later do not each hold their slot for a whole `timeout`).
    fn wait(&self, timeout: Duration) -> Result<Compiled, InvalidCandidate> {
        let left = timeout.saturating_sub(self.started.elapsed());
        let outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        let (outcome, _) = self
            .done
            .wait_timeout_while(outcome, left, |outcome| outcome.is_none())
            .unwrap_or_else(|e| e.into_inner());
        outcome
            .clone()
            .unwrap_or(Err(InvalidCandidate::CompileTimeout(timeout)))
    }

    /// Sets its outcome (the first one set stands) and wakes who waits for it.
    fn finish(&self, result: Result<Compiled, InvalidCandidate>) {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if outcome.is_none() {
            *outcome = Some(result);
        }
        self.done.notify_all();
    }
}

/// Marks a code as being compiled until dropped: then the code may be compiled again, and
/// if compiling ended without an outcome (it panicked, or its thread never started), those
/// waiting are told at once that it could not finish.
struct Compiling {
    map: Arc<Mutex<HashMap<Hash, Arc<Compilation>>>>,
    compilation: Arc<Compilation>,
    code_hash: Hash,
}

impl Drop for Compiling {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.code_hash);
        self.compilation
            .finish(Err(InvalidCandidate::CompileTimeout(Duration::ZERO)));
    }
}

/// The validation host could not start (a wasmtime configuration error).
#[derive(Debug, thiserror::Error)]
#[error("cannot start the Wasm validation host: {0}")]
pub struct HostStartError(String);

impl ValidationHost {
    /// A host enforcing `limits`.
    pub fn new(limits: ValidationLimits) -> Result<Self, HostStartError> {
        let mut config = Config::new();
        // Validators must agree: no source of non-determinism (threads are not compiled in).
        config
            .epoch_interruption(true)
            .cranelift_nan_canonicalization(true)
            .wasm_relaxed_simd(false)
            .max_wasm_stack(1024 * 1024);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(POOLED_INSTANCES)
            .total_memories(POOLED_INSTANCES)
            .total_tables(POOLED_INSTANCES)
            .max_memory_size(limits.max_memory_bytes)
            .max_tables_per_module(wasm::MAX_TABLES)
            .table_elements(wasm::MAX_TABLE_ELEMENTS)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| HostStartError(e.to_string()))?;
        let linker = host_functions(&engine).map_err(|e| HostStartError(e.to_string()))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.clone(), ticker_stop.clone());
        thread::Builder::new()
            .name("wasm-deadline".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| HostStartError(e.to_string()))?;
        Ok(ValidationHost {
            engine,
            linker,
            modules: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(MODULE_CACHE_SIZE).unwrap_or(NonZeroUsize::MIN),
            ))),
            compiling: Arc::new(Mutex::new(HashMap::new())),
            limits,
            ticker_stop,
        })
    }

    /// The process's host for executing chains' runtimes: one engine, deadline clock and
    /// module cache for every chain the process runs. A chain's own runtime is compiled
    /// however long a busy machine takes (up to [`RUNTIME_COMPILE_TIMEOUT`]): a node that gave
    /// up on it could not start or follow its chain at all.
    pub fn shared() -> Result<Arc<ValidationHost>, HostStartError> {
        static SHARED: OnceLock<Arc<ValidationHost>> = OnceLock::new();
        if let Some(host) = SHARED.get() {
            return Ok(host.clone());
        }
        let limits = ValidationLimits {
            compile_timeout: RUNTIME_COMPILE_TIMEOUT,
            ..ValidationLimits::default()
        };
        let host = Arc::new(ValidationHost::new(limits)?);
        // Another thread may have won the race: its host is the one kept.
        Ok(SHARED.get_or_init(|| host).clone())
    }

    /// The limits enforced.
    pub fn limits(&self) -> &ValidationLimits {
        &self.limits
    }

    /// Compiles `code` (whose hash is `code_hash`) unless it is cached, and checks its imports
    /// and exports against the ABI. A code is compiled once at a time, on a thread of its own:
    /// a validation of a code being compiled waits for that compilation (up to the compile
    /// time limit) rather than starting another or giving up at once.
    pub fn prepare(&self, code_hash: Hash, code: &[u8]) -> Result<Compiled, InvalidCandidate> {
        if let Some(module) = self.cached(&code_hash) {
            return Ok(module);
        }
        let timeout = self.limits.compile_timeout;
        let (compilation, start) = {
            let mut compiling = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
            match compiling.get(&code_hash) {
                Some(compilation) => (compilation.clone(), false),
                None => {
                    let compilation = Arc::new(Compilation {
                        started: Instant::now(),
                        outcome: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    compiling.insert(code_hash, compilation.clone());
                    (compilation, true)
                }
            }
        };
        if start {
            let (engine, modules) = (self.engine.clone(), self.modules.clone());
            let linker = self.linker.clone();
            let marker = Compiling {
                map: self.compiling.clone(),
                compilation: compilation.clone(),
                code_hash,
            };
            let code = code.to_vec();
            let spawned = thread::Builder::new()
                .name("wasm-compile".into())
                .spawn(move || {
                    // Dropped when this thread ends, however it ends.
                    let marker = marker;
                    let invalid =
                        |e: wasmtime::Error| InvalidCandidate::InvalidCode(format!("{e:#}"));
                    let artifact = artifact_path(&engine, &code_hash);
                    let kept = artifact.as_deref().and_then(|p| load_artifact(&engine, p));
                    let loaded = kept.is_some();
                    let started = Instant::now();
                    let module = match kept {
                        Some(module) => Ok(module),
                        None => Module::from_binary(&engine, &code),
                    };
                    let module = module
                        .map_err(invalid)
                        .and_then(|module| check_abi(&module).map(|()| module));
                    // Kept only if it is the code named (a caller's wrong hash must not last
                    // past a restart) and it compiled within the limit (a node loading it
                    // must not judge differently from one compiling it).
                    if let (false, Ok(module), Some(path)) = (loaded, &module, &artifact) {
                        if started.elapsed() <= timeout && blake2_256(&code) == code_hash {
                            store_artifact(module, path);
                        }
                    }
                    let module = module
                        .and_then(|module| linker.instantiate_pre(&module).map_err(invalid))
                        .map(|pre| Compiled { pre });
                    if let Ok(module) = &module {
                        if let Ok(mut modules) = modules.lock() {
                            modules.put(code_hash, module.clone());
                        }
                    }
                    marker.compilation.finish(module);
                });
            if spawned.is_err() {
                // The marker went with the closure that never ran: the code is free again, and
                // those waiting were told.
                return Err(InvalidCandidate::CompileTimeout(Duration::ZERO));
            }
        }
        compilation.wait(timeout)
    }

    fn cached(&self, code_hash: &Hash) -> Option<Compiled> {
        self.modules.lock().ok()?.get(code_hash).cloned()
    }

    /// Runs the validation function `code` (whose hash is `code_hash`) on `params`.
    pub fn validate(
        &self,
        code_hash: Hash,
        code: &[u8],
        params: &ValidationParams,
        purpose: ValidationPurpose,
    ) -> Result<CandidateCommitments, InvalidCandidate> {
        let module = self.prepare(code_hash, code)?;
        self.validate_with(&module, params, purpose)
    }

    /// [`Self::validate`] with a code that `code` reads, only if it is not compiled yet (a
    /// collator checking its own block against its chain's `:code`).
    pub fn validate_lazily(
        &self,
        code_hash: Hash,
        code: impl FnOnce() -> Result<Vec<u8>, ExecutionError>,
        params: &ValidationParams,
        purpose: ValidationPurpose,
    ) -> Result<CandidateCommitments, ExecutionError> {
        let module = match self.cached(&code_hash) {
            Some(module) => module,
            None => self.prepare(code_hash, &code()?)?,
        };
        Ok(self.validate_with(&module, params, purpose)?)
    }

    fn validate_with(
        &self,
        module: &Compiled,
        params: &ValidationParams,
        purpose: ValidationPurpose,
    ) -> Result<CandidateCommitments, InvalidCandidate> {
        let timeout = self.limits.timeout(purpose);
        let execution = Execution::new(self.limits.max_memory_bytes, timeout, None);
        let (output, _) = self
            .call(
                module,
                execution,
                wasm::VALIDATE_BLOCK_EXPORT,
                &params.encode(),
                purpose,
            )
            .map_err(|(err, _)| err)?;
        match ValidationOutcome::decode_all(&mut &*output) {
            Ok(Ok(commitments)) => Ok(commitments),
            Ok(Err(reason)) => Err(InvalidCandidate::InvalidBlock(reason)),
            Err(err) => Err(InvalidCandidate::BadOutput(format!(
                "output does not decode as an outcome: {err}"
            ))),
        }
    }

    /// Executes `block` with the runtime whose hash is `code_hash` (the chain's `:code` at the
    /// block's parent; `code` reads it, only if it is not compiled yet) on its parent's state
    /// `parent_root` in `store`, through the runtime's `Core_execute_block`; returns the state
    /// changes, with a storage proof if `record_proof`. Nothing is written: the caller stores
    /// the changes.
    pub fn execute_block(
        &self,
        code_hash: Hash,
        code: impl FnOnce() -> Result<Vec<u8>, ExecutionError>,
        store: Arc<dyn NodeStore>,
        parent_root: Hash,
        block: &Block,
        record_proof: bool,
    ) -> Result<StateChanges, ExecutionError> {
        let (output, changes) = self.runtime_call(
            code_hash,
            code,
            store,
            parent_root,
            record_proof,
            None,
            wasm::api::CORE_EXECUTE_BLOCK,
            &block.encode(),
        )?;
        match Result::<(), wasm::BlockRejection>::decode_all(&mut &*output) {
            Ok(Ok(())) => changes.ok_or(ExecutionError::NotCommitted),
            Ok(Err(reason)) => Err(ExecutionError::InvalidBlock(reason)),
            Err(err) => Err(bad_output(wasm::api::CORE_EXECUTE_BLOCK, err)),
        }
    }

    /// Builds the block `request` asks for with the runtime whose hash is `code_hash` (the
    /// chain's `:code` at the parent; `code` reads it, only if it is not compiled yet) on the
    /// parent's state in `store`, through the runtime's `BlockBuilder_build_block`: from the
    /// extrinsics in order, leaving out the invalid ones, until the block is full or
    /// `deadline` passes. Records the storage proof if `record_proof`. Nothing is written.
    pub fn build_block(
        &self,
        code_hash: Hash,
        code: impl FnOnce() -> Result<Vec<u8>, ExecutionError>,
        store: Arc<dyn NodeStore>,
        request: &BuildRequest,
        record_proof: bool,
        deadline: Instant,
    ) -> Result<BuiltBlock, ExecutionError> {
        let (output, changes) = self.runtime_call(
            code_hash,
            code,
            store,
            request.parent.state_root,
            record_proof,
            Some(deadline),
            wasm::api::BLOCK_BUILDER_BUILD_BLOCK,
            &request.encode(),
        )?;
        match Result::<BuildResult, String>::decode_all(&mut &*output) {
            Ok(Ok(built)) => Ok(BuiltBlock {
                block: built.block,
                changes: changes.ok_or(ExecutionError::NotCommitted)?,
                rejected: built
                    .rejected
                    .into_iter()
                    .map(|(index, why)| (index as usize, why))
                    .collect(),
                tried: built.tried as usize,
                weight: built.weight,
            }),
            Ok(Err(reason)) => Err(ExecutionError::Refused(reason)),
            Err(err) => Err(bad_output(wasm::api::BLOCK_BUILDER_BUILD_BLOCK, err)),
        }
    }

    /// Checks `request`'s transactions with the runtime whose hash is `code_hash` (the
    /// chain's `:code` at state `root`; `code` reads it, only if it is not compiled yet) on
    /// that state in `store`, through `TaggedTransactionQueue_validate_transactions`: for each,
    /// what the pool needs to know, or why it is invalid. Nothing is written.
    pub fn validate_transactions(
        &self,
        code_hash: Hash,
        code: impl FnOnce() -> Result<Vec<u8>, ExecutionError>,
        store: Arc<dyn NodeStore>,
        root: Hash,
        request: &ValidateRequest,
    ) -> Result<Vec<Result<ValidTransaction, InvalidTransaction>>, ExecutionError> {
        let export = wasm::api::VALIDATE_TRANSACTIONS;
        let checked = self
            .query::<ValidateResult>(code_hash, code, store, root, export, request)?
            .map_err(ExecutionError::Refused)?;
        if checked.len() != request.transactions.len() {
            return Err(InvalidCandidate::BadOutput(format!(
                "`{export}` answered for {} of {} transactions",
                checked.len(),
                request.transactions.len()
            ))
            .into());
        }
        Ok(checked)
    }

    /// Builds a para's genesis from `config` with its runtime `code`, through the runtime's
    /// `GenesisBuilder_build_state`: the genesis header and state (`code` under `:code`).
    pub fn build_genesis(
        &self,
        code: &[u8],
        config: &ParaGenesis,
    ) -> Result<(Header, StateChanges), ExecutionError> {
        let request = GenesisRequest {
            config: config.clone(),
            code: code.to_vec(),
        };
        let export = wasm::api::GENESIS_BUILDER_BUILD_STATE;
        let empty: Arc<dyn NodeStore> = Arc::new(std::collections::BTreeMap::new());
        let (output, changes) = self.runtime_call(
            blake2_256(code),
            || Ok(code.to_vec()),
            empty,
            tessera_runtime::trie::empty_root(),
            false,
            None,
            export,
            &request.encode(),
        )?;
        match Result::<Header, String>::decode_all(&mut &*output) {
            Ok(Ok(header)) => Ok((header, changes.ok_or(ExecutionError::NotCommitted)?)),
            Ok(Err(reason)) => Err(ExecutionError::Refused(reason)),
            Err(err) => Err(bad_output(export, err)),
        }
    }

    /// Calls the runtime API function `export` of the runtime whose hash is `code_hash` (the
    /// chain's `:code` at state `root`; `code` reads it, only if it is not compiled yet) with
    /// `input`, on that state in `store`, for an answer of type `T`. Nothing is written.
    pub fn query<T: Decode>(
        &self,
        code_hash: Hash,
        code: impl FnOnce() -> Result<Vec<u8>, ExecutionError>,
        store: Arc<dyn NodeStore>,
        root: Hash,
        export: &str,
        input: &impl Encode,
    ) -> Result<T, ExecutionError> {
        let (output, _) = self.runtime_call(
            code_hash,
            code,
            store,
            root,
            false,
            None,
            export,
            &input.encode(),
        )?;
        T::decode_all(&mut &*output).map_err(|err| bad_output(export, err))
    }

    /// Calls `export` of the runtime `code_hash` with the node's state at `root` in `store`;
    /// returns its output and the changes it committed, if it did.
    #[allow(clippy::too_many_arguments)]
    fn runtime_call(
        &self,
        code_hash: Hash,
        code: impl FnOnce() -> Result<Vec<u8>, ExecutionError>,
        store: Arc<dyn NodeStore>,
        root: Hash,
        record_proof: bool,
        build_deadline: Option<Instant>,
        export: &str,
        input: &[u8],
    ) -> Result<(Vec<u8>, Option<StateChanges>), ExecutionError> {
        let module = match self.cached(&code_hash) {
            Some(module) => module,
            None => self.prepare(code_hash, &code()?)?,
        };
        let mut state = State::shared(store, root);
        if record_proof {
            state = state.record_proof();
        }
        let purpose = ValidationPurpose::Import;
        let runtime = RuntimeState {
            state: Some(state),
            committed: None,
            store_failure: None,
            host_bytes: 0,
        };
        let mut execution = Execution::new(
            self.limits.max_memory_bytes,
            self.limits.timeout(purpose),
            Some(runtime),
        );
        execution.build_deadline = build_deadline;
        match self.call(&module, execution, export, input, purpose) {
            Ok((output, execution)) => {
                let changes = execution.runtime.and_then(|runtime| runtime.committed);
                Ok((output, changes))
            }
            Err((_, Some(failure))) => Err(ExecutionError::Store(failure)),
            Err((err, None)) => Err(err.into()),
        }
    }

    /// Calls `export` of `module` on `input` in a fresh instance; returns its output and the
    /// execution's state. On failure, also what the node's store reported, if it failed.
    fn call(
        &self,
        module: &Compiled,
        execution: Execution,
        export: &str,
        input: &[u8],
        purpose: ValidationPurpose,
    ) -> Result<(Vec<u8>, Execution), CallFailure> {
        let timeout = self.limits.timeout(purpose);
        let mut store = Store::new(&self.engine, execution);
        store.limiter(|execution| execution);
        let ticks = timeout.as_millis().div_ceil(EPOCH_TICK.as_millis());
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        let output = self.call_in(&mut store, module, export, input, purpose);
        let execution = store.into_data();
        match output {
            Ok(output) => Ok((output, execution)),
            Err(err) => {
                let store_failure = execution.runtime.and_then(|runtime| runtime.store_failure);
                Err((err, store_failure))
            }
        }
    }

    fn call_in(
        &self,
        store: &mut Store<Execution>,
        module: &Compiled,
        export: &str,
        input: &[u8],
        purpose: ValidationPurpose,
    ) -> Result<Vec<u8>, InvalidCandidate> {
        let timeout = self.limits.timeout(purpose);
        let fail = |store: &Store<Execution>, err: wasmtime::Error| {
            classify(store.data(), err, timeout, purpose)
        };
        let instance = match module.pre.instantiate(&mut *store) {
            Ok(instance) => instance,
            Err(err) if err.is::<PoolConcurrencyLimitError>() => {
                return Err(InvalidCandidate::Busy)
            }
            Err(err) => return Err(fail(store, err)),
        };
        let memory = instance
            .get_memory(&mut *store, wasm::MEMORY_EXPORT)
            .ok_or(missing_memory())?;
        let alloc = instance
            .get_typed_func::<u32, u32>(&mut *store, wasm::ALLOC_EXPORT)
            .map_err(|_| missing_alloc())?;
        store.data_mut().alloc = Some(alloc.clone());
        let function = instance
            .get_typed_func::<(u32, u32), u64>(&mut *store, export)
            .map_err(|_| missing_export(export))?;

        let input_len = u32::try_from(input.len())
            .map_err(|_| InvalidCandidate::BadOutput("parameters exceed 4 GiB".into()))?;
        let input_ptr = match alloc.call(&mut *store, input_len) {
            Ok(ptr) => ptr,
            Err(err) => return Err(fail(store, err)),
        };
        memory
            .write(&mut *store, input_ptr as usize, input)
            .map_err(|_| {
                InvalidCandidate::BadOutput(format!(
                    "`{}` returned a buffer outside memory",
                    wasm::ALLOC_EXPORT
                ))
            })?;
        let packed = match function.call(&mut *store, (input_ptr, input_len)) {
            Ok(packed) => packed,
            Err(err) => return Err(fail(store, err)),
        };
        let (output_ptr, output_len) = wasm::unpack_ptr_len(packed);
        if output_len > MAX_OUTPUT_BYTES {
            return Err(InvalidCandidate::BadOutput(format!(
                "output of {output_len} bytes exceeds {MAX_OUTPUT_BYTES}"
            )));
        }
        memory
            .data(&*store)
            .get(output_ptr as usize..(output_ptr as usize).saturating_add(output_len as usize))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| InvalidCandidate::BadOutput("output lies outside memory".into()))
    }
}

/// Runs `call` with the process's runtime host and the runtime under `:code` at state `root`
/// in `nodes`, a relay or para state, or the chain spec's substitute for it (`substitutes`):
/// its hash, and a reader of the blob for when it is not compiled yet (the trie keeps a long
/// value's hash, so a cached runtime costs no read).
pub fn with_runtime_at<T>(
    nodes: Arc<dyn NodeStore>,
    root: Hash,
    substitutes: &CodeSubstitutes,
    call: impl FnOnce(
        &ValidationHost,
        Hash,
        &mut dyn FnMut() -> Result<Vec<u8>, ExecutionError>,
        Arc<dyn NodeStore>,
    ) -> Result<T, ExecutionError>,
) -> Result<T, ExecutionError> {
    let executor = ValidationHost::shared().map_err(|e| ExecutionError::Store(e.to_string()))?;
    let mut state = State::shared(nodes.clone(), root);
    let code_hash = state
        .value_hash(CODE_KEY)
        .map_err(|e| ExecutionError::Store(e.to_string()))?
        .ok_or(ExecutionError::NoCode)?;
    if let Some(substitute) = substitutes.choose(&mut state, &code_hash)? {
        let mut code = || Ok(substitute.code.to_vec());
        return call(&executor, substitute.code_hash, &mut code, nodes);
    }
    let mut code = || match state.get(CODE_KEY) {
        Ok(Some(code)) => Ok(code),
        Ok(None) => Err(ExecutionError::NoCode),
        Err(err) => Err(ExecutionError::Store(err.to_string())),
    };
    call(&executor, code_hash, &mut code, nodes)
}

/// The hash of the runtime that runs on state `root` in `nodes`: the chain's `:code`, or the
/// substitute that replaces it there.
pub fn runtime_hash_at(
    nodes: Arc<dyn NodeStore>,
    root: Hash,
    substitutes: &CodeSubstitutes,
) -> Result<Option<Hash>, ExecutionError> {
    let mut state = State::shared(nodes, root);
    let Some(code_hash) = state
        .value_hash(CODE_KEY)
        .map_err(|e| ExecutionError::Store(e.to_string()))?
    else {
        return Ok(None);
    };
    Ok(Some(
        substitutes
            .choose(&mut state, &code_hash)?
            .map_or(code_hash, |substitute| substitute.code_hash),
    ))
}

/// Runtimes a chain spec runs in place of the chain's own (Substrate's `codeSubstitutes`), to
/// bring back a chain whose runtime fails every block without a hard fork: the substitute for
/// block N runs on the state of block N and of every block after it, as long as the chain's
/// `:code` is the one it had at block N. So the blocks before N execute as they were made, and
/// the chain's first upgrade ends the substitute (Substrate ends it at the first change of
/// `spec_version`; matching the code itself needs no substitute to claim the version of the
/// runtime it replaces).
#[derive(Debug, Default)]
pub struct CodeSubstitutes {
    entries: Vec<Substitute>,
}

#[derive(Debug)]
struct Substitute {
    /// The block whose state it first runs on.
    from: u32,
    code: Arc<Vec<u8>>,
    code_hash: Hash,
    /// The hash of the chain's `:code` at block `from`, once this node has that block.
    replaces: OnceLock<Hash>,
}

impl CodeSubstitutes {
    /// No substitutes.
    pub const NONE: CodeSubstitutes = CodeSubstitutes {
        entries: Vec::new(),
    };

    /// The substitutes of a chain spec, by the block each starts at.
    pub fn new(by_block: &std::collections::BTreeMap<u32, Vec<u8>>) -> Self {
        let entries = by_block
            .iter()
            .map(|(from, code)| Substitute {
                from: *from,
                code_hash: blake2_256(code),
                code: Arc::new(code.clone()),
                replaces: OnceLock::new(),
            })
            .collect();
        CodeSubstitutes { entries }
    }

    /// The blocks of the substitutes that do not know yet which code they replace.
    pub fn unlearned(&self) -> Vec<u32> {
        self.entries
            .iter()
            .filter(|s| s.replaces.get().is_none())
            .map(|s| s.from)
            .collect()
    }

    /// Learns the chain's code at block `number`, whose state is `root`, if a substitute
    /// starts there (the first block of its best chain at that height this node has: a
    /// substitute keeps what it learned).
    pub fn learn(
        &self,
        nodes: &dyn NodeStore,
        number: u32,
        root: Hash,
    ) -> Result<(), ExecutionError> {
        for substitute in self.entries.iter().filter(|s| s.from == number) {
            if substitute.replaces.get().is_some() {
                continue;
            }
            let code_hash = State::new(nodes, root)
                .value_hash(CODE_KEY)
                .map_err(|e| ExecutionError::Store(e.to_string()))?
                .ok_or(ExecutionError::NoCode)?;
            let _first = substitute.replaces.set(code_hash);
            tracing::warn!(
                from = number,
                replaces = %code_hash,
                runs = %substitute.code_hash,
                "the chain spec's code substitute runs in place of the chain's runtime"
            );
        }
        Ok(())
    }

    /// The substitute that runs on `state`, whose `:code` hash is `code_hash`: the latest one
    /// started at or before its block that replaces that code.
    fn choose(
        &self,
        state: &mut State<'_>,
        code_hash: &Hash,
    ) -> Result<Option<&Substitute>, ExecutionError> {
        let mut replacing = self
            .entries
            .iter()
            .filter(|s| s.replaces.get() == Some(code_hash))
            .peekable();
        if replacing.peek().is_none() {
            return Ok(None);
        }
        let number = tessera_runtime::modules::system::NUMBER
            .get(state)
            .map_err(|e| ExecutionError::Store(e.to_string()))?
            .unwrap_or(0);
        Ok(replacing
            .filter(|s| s.from <= number)
            .max_by_key(|s| s.from))
    }
}

/// Checks transactions for the block after `parent` through the runtime in its state, owning
/// what it needs: the chain's lock can be released while it runs.
#[derive(Clone)]
pub struct TxChecker {
    nodes: Arc<dyn NodeStore>,
    root: Hash,
    parent_hash: Hash,
    number: u32,
    substitutes: Arc<CodeSubstitutes>,
}

impl TxChecker {
    /// A checker for the block after `parent`, whose state is in `nodes`.
    pub fn new(nodes: Arc<dyn NodeStore>, parent: &Header) -> Self {
        Self::substituted(nodes, parent, Arc::default())
    }

    /// [`Self::new`], with the chain spec's code `substitutes`.
    pub fn substituted(
        nodes: Arc<dyn NodeStore>,
        parent: &Header,
        substitutes: Arc<CodeSubstitutes>,
    ) -> Self {
        TxChecker {
            nodes,
            root: parent.state_root,
            parent_hash: parent.hash(),
            number: parent.number.saturating_add(1),
            substitutes,
        }
    }

    /// Each of `xts` checked alone (signatures too if `check_signatures`) in one runtime call:
    /// what the pool needs, or why it is invalid.
    pub fn check(
        &self,
        xts: &[OpaqueExtrinsic],
        check_signatures: bool,
    ) -> Result<Vec<Result<ValidTransaction, InvalidTransaction>>, ExecutionError> {
        let request = ValidateRequest {
            parent_hash: self.parent_hash,
            number: self.number,
            transactions: xts.to_vec(),
            check_signatures,
        };
        let root = self.root;
        let nodes = self.nodes.clone();
        with_runtime_at(
            nodes,
            root,
            &self.substitutes,
            |host, code_hash, code, nodes| {
                host.validate_transactions(code_hash, code, nodes, root, &request)
            },
        )
    }
}

fn bad_output(export: &str, err: parity_scale_codec::Error) -> ExecutionError {
    InvalidCandidate::BadOutput(format!("`{export}` output does not decode: {err}")).into()
}

/// A failed call, and what the node's store reported if it was the store that failed.
type CallFailure = (InvalidCandidate, Option<String>);

/// Why executing a block through its chain's runtime failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// The runtime could not run: bad code, a trap, a deadline, memory.
    #[error("the runtime failed: {0}")]
    Runtime(#[from] InvalidCandidate),
    /// The runtime judged the block invalid.
    #[error("invalid block: {0}")]
    InvalidBlock(wasm::BlockRejection),
    /// The runtime could not serve the call (a parent state it cannot use).
    #[error("the runtime could not serve the call: {0}")]
    Refused(String),
    /// The runtime returned success without committing its changes.
    #[error("the runtime returned without committing its state changes")]
    NotCommitted,
    /// The node's store failed while the runtime read it.
    #[error("the node's store failed: {0}")]
    Store(String),
    /// The chain's state holds no runtime under `:code`.
    #[error("the state holds no runtime under `:code`")]
    NoCode,
}

impl ExecutionError {
    /// Whether the failure is this node's (its store, its instance pool, a state without
    /// code, a compile over this machine's time) rather than the block's: no peer is blamed
    /// for it. A block whose execution traps or runs past the deadline is the block's fault.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            ExecutionError::Store(_)
                | ExecutionError::NoCode
                | ExecutionError::Runtime(InvalidCandidate::Busy)
                | ExecutionError::Runtime(InvalidCandidate::CompileTimeout(_))
        )
    }
}

impl ValidationHost {
    /// Checks a candidate as a backer or approval checker does: every hash in its descriptor,
    /// the collator's signature, the PoV size, the erasure root, then the validation function,
    /// whose commitments must be the receipt's. Returns them.
    pub fn validate_candidate(
        &self,
        candidate: CandidateToCheck<'_>,
        purpose: ValidationPurpose,
    ) -> Result<CandidateCommitments, InvalidCandidate> {
        let CandidateToCheck {
            receipt,
            pov,
            validation_data,
            code,
            validators,
        } = candidate;
        let descriptor = &receipt.descriptor;
        let mismatch = |what| Err(InvalidCandidate::HashMismatch { what });
        let size = pov.encoded_size();
        if size > validation_data.max_pov_size as usize {
            return Err(InvalidCandidate::PoVTooLarge {
                size,
                max: validation_data.max_pov_size,
            });
        }
        if pov.hash() != descriptor.pov_hash {
            return mismatch("PoV");
        }
        if validation_data.hash() != descriptor.persisted_validation_data_hash {
            return mismatch("validation data");
        }
        let code_hash = code.hash();
        if code_hash != descriptor.validation_code_hash {
            return mismatch("validation code");
        }
        if !descriptor.check_collator_signature() {
            return Err(InvalidCandidate::BadCollatorSignature);
        }
        let available = AvailableData {
            pov: pov.clone(),
            validation_data: validation_data.clone(),
        };
        let erasure_root = available
            .erasure_root(validators)
            .map_err(|e| InvalidCandidate::Erasure(e.to_string()))?;
        if erasure_root != descriptor.erasure_root {
            return mismatch("erasure root");
        }
        let params = ValidationParams {
            parent_head: validation_data.parent_head.clone(),
            block_data: pov.block_data.clone(),
            relay_parent_number: validation_data.relay_parent_number,
            relay_parent_storage_root: validation_data.relay_parent_storage_root,
        };
        let commitments = self.validate(code_hash, &code.0, &params, purpose)?;
        if commitments.head_data.hash() != descriptor.para_head {
            return mismatch("para head");
        }
        if commitments.hash() != receipt.commitments_hash {
            return mismatch("commitments");
        }
        Ok(commitments)
    }
}

impl Drop for ValidationHost {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn missing_memory() -> InvalidCandidate {
    InvalidCandidate::MissingExport {
        name: wasm::MEMORY_EXPORT,
        expected: "a memory",
    }
}

fn missing_alloc() -> InvalidCandidate {
    InvalidCandidate::MissingExport {
        name: wasm::ALLOC_EXPORT,
        expected: "func (i32) -> i32",
    }
}

fn missing_export(name: &str) -> InvalidCandidate {
    let name = [wasm::VALIDATE_BLOCK_EXPORT, wasm::api::CORE_EXECUTE_BLOCK]
        .into_iter()
        .find(|known| *known == name)
        .unwrap_or("a runtime API function");
    InvalidCandidate::MissingExport {
        name,
        expected: "func (i32, i32) -> i64",
    }
}

/// Refuses modules that import anything but the host functions or lack the memory and the
/// allocator (an export a call needs, such as a para's `validate_block`, is looked up by the
/// call).
fn check_abi(module: &Module) -> Result<(), InvalidCandidate> {
    for import in module.imports() {
        let known = import.module() == wasm::HOST_MODULE
            && (host::ALL.contains(&import.name()) || host::RUNTIME_API.contains(&import.name()))
            && matches!(import.ty(), ExternType::Func(_));
        if !known {
            return Err(InvalidCandidate::UnknownImport {
                module: import.module().to_string(),
                name: import.name().to_string(),
            });
        }
    }
    let func_type = |name: &str| match module.get_export(name) {
        Some(ExternType::Func(ty)) => Some((
            ty.params().map(|t| t.to_string()).collect::<Vec<_>>(),
            ty.results().map(|t| t.to_string()).collect::<Vec<_>>(),
        )),
        _ => None,
    };
    let i32 = ValType::I32.to_string();
    if func_type(wasm::ALLOC_EXPORT) != Some((vec![i32.clone()], vec![i32])) {
        return Err(missing_alloc());
    }
    if !matches!(
        module.get_export(wasm::MEMORY_EXPORT),
        Some(ExternType::Memory(_))
    ) {
        return Err(missing_memory());
    }
    Ok(())
}

/// Turns a wasmtime error from running untrusted code into the reason the candidate is invalid.
fn classify(
    execution: &Execution,
    err: wasmtime::Error,
    timeout: Duration,
    purpose: ValidationPurpose,
) -> InvalidCandidate {
    if execution.memory_exceeded {
        return InvalidCandidate::MemoryLimit {
            limit: execution.memory_limit,
        };
    }
    if let Some(message) = &execution.abort_message {
        return InvalidCandidate::Panicked(message.clone());
    }
    if execution.timed_out {
        return InvalidCandidate::Timeout { timeout, purpose };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => InvalidCandidate::Timeout { timeout, purpose },
        Some(trap) => InvalidCandidate::Trap(trap.to_string()),
        None => InvalidCandidate::Trap(format!("{err:#}")),
    }
}

/// The memory of the calling instance.
fn caller_memory(caller: &mut Caller<'_, Execution>) -> wasmtime::Result<Memory> {
    match caller.get_export(wasm::MEMORY_EXPORT) {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(wasmtime::Error::msg("the module exports no memory")),
    }
}

/// Starts a host call: refuses it once the deadline has passed (epoch interruption stops only
/// Wasm code) or if its input exceeds [`MAX_HOST_INPUT`].
fn host_call(caller: &mut Caller<'_, Execution>, input_len: u32) -> wasmtime::Result<()> {
    if Instant::now() >= caller.data().deadline {
        caller.data_mut().timed_out = true;
        return Err(wasmtime::Error::msg("deadline passed in a host call"));
    }
    if input_len > MAX_HOST_INPUT {
        return Err(wasmtime::Error::msg(format!(
            "host function input of {input_len} bytes exceeds {MAX_HOST_INPUT}"
        )));
    }
    Ok(())
}

/// Runs `f` on `len` bytes at `ptr` of the caller's memory, in place.
fn with_input<T>(
    caller: &mut Caller<'_, Execution>,
    ptr: u32,
    len: u32,
    f: impl FnOnce(&[u8]) -> T,
) -> wasmtime::Result<T> {
    let memory = caller_memory(caller)?;
    let start = ptr as usize;
    memory
        .data(&caller)
        .get(start..start.saturating_add(len as usize))
        .map(f)
        .ok_or_else(|| wasmtime::Error::msg("host function argument lies outside memory"))
}

/// `len` bytes at `ptr` of the caller's memory (small inputs only).
fn read(caller: &mut Caller<'_, Execution>, ptr: u32, len: u32) -> wasmtime::Result<Vec<u8>> {
    with_input(caller, ptr, len, <[u8]>::to_vec)
}

/// `N` bytes at `ptr` of the caller's memory.
fn read_array<const N: usize>(
    caller: &mut Caller<'_, Execution>,
    ptr: u32,
) -> wasmtime::Result<[u8; N]> {
    let bytes = read(caller, ptr, N as u32)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| wasmtime::Error::msg("short read"))
}

/// Copies `bytes` into a buffer of the guest's allocator, now the guest's: `ptr | len << 32`.
fn give(caller: &mut Caller<'_, Execution>, bytes: &[u8]) -> wasmtime::Result<u64> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| wasmtime::Error::msg("a host answer exceeds 4 GiB"))?;
    let alloc = caller
        .data()
        .alloc
        .clone()
        .ok_or_else(|| wasmtime::Error::msg("the module exports no allocator"))?;
    let ptr = alloc.call(&mut *caller, len)?;
    write(caller, ptr, bytes)?;
    Ok(wasm::pack_ptr_len(ptr, len))
}

fn write(caller: &mut Caller<'_, Execution>, ptr: u32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = caller_memory(caller)?;
    memory
        .write(caller, ptr as usize, bytes)
        .map_err(|_| wasmtime::Error::msg("host function output lies outside memory"))
}

/// The state of the runtime API call under way; validation has none.
fn runtime_state<'a>(
    caller: &'a mut Caller<'_, Execution>,
) -> wasmtime::Result<&'a mut RuntimeState> {
    caller
        .data_mut()
        .runtime
        .as_mut()
        .ok_or_else(|| wasmtime::Error::msg("storage is not available in validation"))
}

/// The `runtime_version_for` host function: [`wasm::check_code`] of the blob at `code..code +
/// len` for a `kind` chain (a relay runtime also instantiated), given to the guest.
fn runtime_version_for(
    caller: &mut Caller<'_, Execution>,
    code: u32,
    len: u32,
    kind: wasm::ChainKind,
) -> wasmtime::Result<u64> {
    host_call(caller, len)?;
    // A relay runtime is run once more before it is accepted, in a runtime API call only (a
    // relay block's execution): validation, where any para's code could ask, never compiles
    // or runs another blob. Only then is the blob copied out of the guest's memory.
    let run = kind == wasm::ChainKind::Relay && caller.data().runtime.is_some();
    let checked = with_input(caller, code, len, |code| {
        wasm::check_code(code, kind).map(|version| (version, run.then(|| code.to_vec())))
    })?;
    let answer = match checked {
        Ok((version, Some(code))) => {
            let started = Instant::now();
            let ran = relay_code_runs(code, version);
            // The time it took is not the block's: its execution gets it back.
            let execution = caller.data_mut();
            execution.deadline += started.elapsed();
            let left = execution.deadline.saturating_duration_since(Instant::now());
            let ticks = left.as_millis().div_ceil(EPOCH_TICK.as_millis());
            caller
                .as_context_mut()
                .set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
            ran
        }
        Ok((version, None)) => Ok(Ok(version)),
        Err(refused) => Ok(Err(refused)),
    };
    let answer = match answer {
        Ok(answer) => answer.encode(),
        Err(local) => return Err(store_failed(caller, local)),
    };
    give(caller, &answer)
}

/// A relay runtime offered as new code, statically sound, instantiated and asked its
/// version as Substrate's `runtime_version` does: the next block runs it on every node, so a
/// blob that cannot be instantiated (a data segment out of bounds, an instance over the pool's
/// size) or whose `Core_version` traps or disagrees with its section would halt the chain. The
/// outer error is this node's own failure (a busy pool, a compile over its time): no verdict on
/// the code. The module stays cached by its hash for the block that runs it.
fn relay_code_runs(
    code: Vec<u8>,
    declared: wasm::VersionInfo,
) -> Result<Result<wasm::VersionInfo, wasm::CodeError>, String> {
    let host = ValidationHost::shared().map_err(|err| err.to_string())?;
    let export = wasm::api::CORE_VERSION;
    // On a thread of its own: the calling instance has used part of this thread's stack.
    let asked = thread::Builder::new()
        .name("wasm-runtime-check".into())
        .stack_size(NESTED_CALL_STACK)
        .spawn(move || {
            let empty: Arc<dyn NodeStore> = Arc::new(std::collections::BTreeMap::new());
            let root = tessera_runtime::trie::empty_root();
            let code_hash = blake2_256(&code);
            let fetch = || Ok(code);
            host.query::<wasm::VersionInfo>(code_hash, fetch, empty, root, export, &())
        })
        .map_err(|err| format!("cannot start a thread to check the code: {err}"))?
        .join()
        .map_err(|_| "the thread checking the code panicked".to_string())?;
    match asked {
        Ok(version) if version == declared => Ok(Ok(version)),
        Ok(version) => Ok(Err(wasm::CodeError::Invalid(format!(
            "its `{export}` says {} version {}, its section {} version {}",
            version.spec_name, version.spec_version, declared.spec_name, declared.spec_version
        )))),
        Err(err) if err.is_local() => Err(err.to_string()),
        Err(err) => Ok(Err(wasm::CodeError::Invalid(format!(
            "it does not run: {err}"
        )))),
    }
}

/// Notes that the node's store failed under a host call (not the code's fault), and stops it.
fn store_failed(caller: &mut Caller<'_, Execution>, failure: String) -> wasmtime::Error {
    if let Some(runtime) = caller.data_mut().runtime.as_mut() {
        runtime.store_failure = Some(failure.clone());
    }
    wasmtime::Error::msg(failure)
}

/// A runtime's line in the node's log, under the target `runtime` (filter with
/// `--log info,runtime=debug`), its own target as the `module` field.
fn log_line(level: u32, module: &str, message: &str) {
    match level {
        0 | 1 => tracing::error!(target: "runtime", module, "{message}"),
        2 => tracing::warn!(target: "runtime", module, "{message}"),
        3 => tracing::info!(target: "runtime", module, "{message}"),
        4 => tracing::debug!(target: "runtime", module, "{message}"),
        _ => tracing::trace!(target: "runtime", module, "{message}"),
    }
}

/// The host functions of the ABI ([`tessera_runtime::wasm`]).
fn host_functions(engine: &Engine) -> wasmtime::Result<Linker<Execution>> {
    let mut linker = Linker::new(engine);
    let module = wasm::HOST_MODULE;
    linker.func_wrap(
        module,
        host::BLAKE2_256,
        |mut caller: Caller<'_, Execution>, data: u32, len: u32, out: u32| {
            host_call(&mut caller, len)?;
            let digest = with_input(&mut caller, data, len, blake2_256)?;
            write(&mut caller, out, digest.as_bytes())
        },
    )?;
    linker.func_wrap(
        module,
        host::BLAKE2_128,
        |mut caller: Caller<'_, Execution>, data: u32, len: u32, out: u32| {
            host_call(&mut caller, len)?;
            let digest = with_input(&mut caller, data, len, blake2_128)?;
            write(&mut caller, out, &digest)
        },
    )?;
    linker.func_wrap(
        module,
        host::SR25519_VERIFY,
        |mut caller: Caller<'_, Execution>, signature: u32, message: u32, len: u32, public: u32| {
            host_call(&mut caller, len)?;
            let signature = Signature(read_array::<64>(&mut caller, signature)?);
            let public = AccountId(read_array::<32>(&mut caller, public)?);
            let valid = with_input(&mut caller, message, len, |message| {
                public.verify_natively(message, &signature)
            })?;
            Ok(u32::from(valid))
        },
    )?;
    linker.func_wrap(
        module,
        host::ED25519_VERIFY,
        |mut caller: Caller<'_, Execution>, signature: u32, message: u32, len: u32, public: u32| {
            host_call(&mut caller, len)?;
            let signature = read_array::<64>(&mut caller, signature)?;
            let public = read_array::<32>(&mut caller, public)?;
            let valid = with_input(&mut caller, message, len, |message| {
                ed25519_verify_natively(&signature, message, &public)
            })?;
            Ok(u32::from(valid))
        },
    )?;
    linker.func_wrap(
        module,
        host::SR25519_VERIFY_BATCH,
        |mut caller: Caller<'_, Execution>, items: u32, len: u32| {
            host_call(&mut caller, len)?;
            let valid = with_input(&mut caller, items, len, |mut bytes| {
                // The count first: a batch over the limit is refused before any work.
                let count = Compact::<u32>::decode(&mut bytes)
                    .map_err(|e| format!("batch does not decode: {e}"))?
                    .0;
                if count > MAX_BATCH {
                    return Err(format!("batch of {count} exceeds {MAX_BATCH} signatures"));
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let item = <(AccountId, Vec<u8>, Signature)>::decode(&mut bytes)
                        .map_err(|e| format!("batch does not decode: {e}"))?;
                    items.push(item);
                }
                if !bytes.is_empty() {
                    return Err("batch has trailing bytes".into());
                }
                Ok(verify_batch_natively(items.iter().map(
                    |(signer, message, signature)| (signer, message.as_slice(), signature),
                )))
            })?
            .map_err(wasmtime::Error::msg)?;
            Ok(u32::from(valid))
        },
    )?;
    linker.func_wrap(
        module,
        host::RUNTIME_VERSION_FOR,
        |mut caller: Caller<'_, Execution>,
         code: u32,
         len: u32,
         kind: u32|
         -> wasmtime::Result<u64> {
            let kind = wasm::ChainKind::from_code(kind)
                .ok_or_else(|| wasmtime::Error::msg(format!("no chain kind {kind}")))?;
            runtime_version_for(&mut caller, code, len, kind)
        },
    )?;
    linker.func_wrap(
        module,
        host::RUNTIME_VERSION,
        |mut caller: Caller<'_, Execution>, code: u32, len: u32| -> wasmtime::Result<u64> {
            runtime_version_for(&mut caller, code, len, wasm::ChainKind::Para)
        },
    )?;
    linker.func_wrap(
        module,
        host::STORAGE_GET,
        |mut caller: Caller<'_, Execution>, key: u32, len: u32| -> wasmtime::Result<u64> {
            host_call(&mut caller, len)?;
            if len > MAX_STORAGE_KEY {
                return Err(wasmtime::Error::msg(format!(
                    "a storage key of {len} bytes exceeds {MAX_STORAGE_KEY}"
                )));
            }
            let key = read(&mut caller, key, len)?;
            let memory_limit = caller.data().memory_limit;
            let runtime = runtime_state(&mut caller)?;
            let read = runtime
                .state
                .as_mut()
                .ok_or_else(|| wasmtime::Error::msg("storage read after the commit"))?
                .get(&key);
            let value = match read {
                Ok(value) => value,
                Err(err) => return Err(store_failed(&mut caller, err.to_string())),
            };
            // The host keeps every key read (and its value) for the call: counted against the
            // memory cap, so a runtime cannot grow the node's memory beyond it.
            let kept = key.len() + value.as_ref().map_or(0, Vec::len);
            runtime.host_bytes = runtime.host_bytes.saturating_add(kept);
            if runtime.host_bytes > memory_limit {
                caller.data_mut().memory_exceeded = true;
                return Err(wasmtime::Error::msg("storage reads exceed the memory cap"));
            }
            match value {
                Some(value) => give(&mut caller, &value),
                None => Ok(u64::MAX),
            }
        },
    )?;
    linker.func_wrap(
        module,
        host::STORAGE_COMMIT,
        |mut caller: Caller<'_, Execution>, changes: u32, len: u32, root: u32| {
            host_call(&mut caller, len)?;
            let changes = with_input(&mut caller, changes, len, |bytes| {
                Vec::<(Vec<u8>, Option<Vec<u8>>)>::decode_all(&mut &*bytes)
            })?
            .map_err(|e| wasmtime::Error::msg(format!("state changes do not decode: {e}")))?;
            let mut state = runtime_state(&mut caller)?
                .state
                .take()
                .ok_or_else(|| wasmtime::Error::msg("the state was committed twice"))?;
            for (key, value) in changes {
                match value {
                    Some(value) => state.set(key, value),
                    None => state.remove(key),
                }
            }
            let committed = match state.commit() {
                Ok(committed) => committed,
                Err(err) => return Err(store_failed(&mut caller, err.to_string())),
            };
            if Instant::now() >= caller.data().deadline {
                caller.data_mut().timed_out = true;
                return Err(wasmtime::Error::msg("deadline passed in the commit"));
            }
            write(&mut caller, root, &committed.root.0)?;
            runtime_state(&mut caller)?.committed = Some(committed);
            Ok(())
        },
    )?;
    linker.func_wrap(
        module,
        host::OUT_OF_TIME,
        |caller: Caller<'_, Execution>| -> u32 {
            let deadline = caller.data().build_deadline;
            u32::from(deadline.is_some_and(|deadline| Instant::now() >= deadline))
        },
    )?;
    linker.func_wrap(
        module,
        host::LOG,
        |mut caller: Caller<'_, Execution>,
         level: u32,
         target: u32,
         target_len: u32,
         message: u32,
         message_len: u32|
         -> wasmtime::Result<()> {
            let (target_len, message_len) = (
                target_len.min(MAX_LOG_TARGET),
                message_len.min(MAX_LOG_MESSAGE),
            );
            host_call(&mut caller, target_len.saturating_add(message_len))?;
            // Read whoever calls: a pointer out of bounds traps alike on every node.
            let target = read(&mut caller, target, target_len)?;
            let message = read(&mut caller, message, message_len)?;
            let execution = caller.data_mut();
            // A validation runs a para's code on validators: its lines are not theirs to show.
            if execution.runtime.is_none() || execution.log_lines > MAX_LOG_LINES {
                return Ok(());
            }
            execution.log_lines += 1;
            let target = String::from_utf8_lossy(&target);
            if execution.log_lines > MAX_LOG_LINES {
                tracing::warn!(target: "runtime", module = %target, "more lines dropped");
            } else {
                log_line(level, &target, &String::from_utf8_lossy(&message));
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        module,
        host::ABORT,
        |mut caller: Caller<'_, Execution>, message: u32, len: u32| -> wasmtime::Result<()> {
            let text = read(&mut caller, message, len.min(4096))?;
            let text = String::from_utf8_lossy(&text).into_owned();
            caller.data_mut().abort_message = Some(text.clone());
            Err(wasmtime::Error::msg(text))
        },
    )?;
    Ok(linker)
}

#[cfg(test)]
mod artifact_tests {
    use super::*;

    #[test]
    fn compiled_code_is_kept_loaded_by_the_next_host_and_compiled_again_when_torn() {
        let dir = std::env::temp_dir().join(format!("tessera-artifacts-{}", std::process::id()));
        set_artifact_dir(&dir).unwrap();
        // The template's code with a custom section of its own: a hash no other test uses.
        let name = b"tessera-artifact-test";
        let mut code = parachain_template_runtime::WASM_BINARY.to_vec();
        code.extend([0, name.len() as u8 + 1, name.len() as u8]);
        code.extend(name);
        let code = &code[..];
        let hash = blake2_256(code);
        let first = ValidationHost::new(ValidationLimits::default()).unwrap();
        first.prepare(hash, code).unwrap();
        let path = artifact_path(&first.engine, &hash).unwrap();
        let kept = std::fs::read(&path).unwrap();

        // A later host runs what the directory holds for the code: here another module's
        // artifact, which has no validation function.
        let other = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
        let second = ValidationHost::new(ValidationLimits::default()).unwrap();
        let module = Module::from_binary(&second.engine, &other).unwrap();
        store_artifact(&module, &path);
        assert!(matches!(
            second.prepare(hash, code),
            Err(InvalidCandidate::MissingExport { .. })
        ));

        // A torn file fails its checksum: the code is compiled again and kept whole.
        let mut torn = kept.clone();
        torn.truncate(kept.len() / 2);
        std::fs::write(&path, &torn).unwrap();
        let third = ValidationHost::new(ValidationLimits::default()).unwrap();
        third.prepare(hash, code).unwrap();
        let rewritten = std::fs::read(&path).unwrap();
        let (checksum, artifact) = rewritten.split_at(32);
        assert_eq!(blake2_256(artifact).0, checksum);
        let _ = std::fs::remove_dir_all(&dir);

        // Only artifacts' names are pruned; a directory others may write to is refused.
        let file_name = path.file_name().unwrap().to_str().unwrap();
        assert!(is_artifact_name(file_name), "{file_name}");
        assert!(!is_artifact_name("notes.txt") && !is_artifact_name("a-b.cwasm"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let open = std::env::temp_dir().join(format!("tessera-open-{}", std::process::id()));
            std::fs::create_dir_all(&open).unwrap();
            std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
            assert!(set_artifact_dir(&open).is_err());
            let _ = std::fs::remove_dir_all(&open);
        }
    }
}
