//! Parachain primitives shared by the relay chain and every parachain: para ids, heads and
//! validation code; the validation function's parameters and result; candidate descriptors,
//! commitments and receipts.
//!
//! A collator builds a para block and sends its PoV with a [`CandidateReceipt`]; the
//! [`CandidateDescriptor`] is signed by the collator over
//! [`CandidateDescriptor::signature_payload`]; the [`CandidateCommitments`] are what running the
//! para's validation function on [`ValidationParams`] must output.

use crate::block::{extrinsics_root, Block, OpaqueExtrinsic};
use crate::crypto::{AccountId, Signature};
use crate::executive::{
    execute_block, ApplyError, BlockError, Executive, FullBlock, InvalidTransaction, Runtime,
};
use crate::hashing::blake2_256;
use crate::header::DigestItem;
use crate::state::{NodeStore, State, StateChanges, StorageProof};
use crate::wasm::ValidationOutcome;
use crate::{BlockNumber, Hash, Header};
use alloc::format;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, DecodeAll, Encode};

/// A parachain's id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
pub struct ParaId(pub u32);

/// A para's head: whatever its chain commits to (usually its SCALE block header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct HeadData(pub Vec<u8>);

impl HeadData {
    /// Its hash, which descriptors name.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.0)
    }
}

/// A Wasm validation function.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ValidationCode(pub Vec<u8>);

impl ValidationCode {
    /// Its hash, by which the relay chain stores it and receipts name it.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.0)
    }
}

/// The para block and the storage proof its validation needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BlockData(pub Vec<u8>);

/// A proof of validity: what a collator gives backers and what availability stores.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PoV {
    /// The para block and its storage proof.
    pub block_data: BlockData,
}

impl PoV {
    /// Its hash, which descriptors name.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }

    /// Its size, encoded.
    pub fn encoded_size(&self) -> usize {
        Encode::encoded_size(self)
    }
}

/// The relay-chain data a candidate is validated against, fixed by its relay parent.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PersistedValidationData {
    /// The para's head the candidate builds on.
    pub parent_head: HeadData,
    /// The relay parent's number.
    pub relay_parent_number: BlockNumber,
    /// The relay parent's state root.
    pub relay_parent_storage_root: Hash,
    /// Largest PoV accepted.
    pub max_pov_size: u32,
}

impl PersistedValidationData {
    /// Its hash, which descriptors name.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }
}

/// What the validation function `validate_block` takes, SCALE-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ValidationParams {
    /// The para's head the block builds on.
    pub parent_head: HeadData,
    /// The PoV's block data.
    pub block_data: BlockData,
    /// The relay parent's number.
    pub relay_parent_number: BlockNumber,
    /// The relay parent's state root.
    pub relay_parent_storage_root: Hash,
}

/// A message to a sibling para, routed through the relay chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct OutboundHrmpMessage {
    /// The receiving para.
    pub recipient: ParaId,
    /// The message.
    pub data: Vec<u8>,
}

/// What `validate_block` returns, SCALE-encoded, and what a candidate commits to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct CandidateCommitments {
    /// Messages to the relay chain.
    pub upward_messages: Vec<Vec<u8>>,
    /// Messages to sibling paras.
    pub horizontal_messages: Vec<OutboundHrmpMessage>,
    /// New validation code, if the para upgrades itself.
    pub new_validation_code: Option<ValidationCode>,
    /// The para's new head.
    pub head_data: HeadData,
    /// How many downward messages the block processed.
    pub processed_downward_messages: u32,
    /// The relay block up to which horizontal messages were processed.
    pub hrmp_watermark: BlockNumber,
}

impl CandidateCommitments {
    /// Its hash, which receipts carry.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }
}

/// What identifies a candidate and binds it to its collator, relay parent, data and code.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct CandidateDescriptor {
    /// The para.
    pub para_id: ParaId,
    /// The relay block the candidate is built against.
    pub relay_parent: Hash,
    /// The collator that made it.
    pub collator: AccountId,
    /// Hash of the [`PersistedValidationData`].
    pub persisted_validation_data_hash: Hash,
    /// Hash of the [`PoV`].
    pub pov_hash: Hash,
    /// Merkle root of the PoV's erasure-coded chunks.
    pub erasure_root: Hash,
    /// The collator's signature over [`Self::signature_payload`].
    pub signature: Signature,
    /// Hash of the new head.
    pub para_head: Hash,
    /// Hash of the validation code the candidate is valid under.
    pub validation_code_hash: Hash,
}

impl CandidateDescriptor {
    /// What the collator signs: relay parent, para, validation data, PoV and code hashes.
    pub fn signature_payload(
        relay_parent: &Hash,
        para_id: ParaId,
        persisted_validation_data_hash: &Hash,
        pov_hash: &Hash,
        validation_code_hash: &Hash,
    ) -> Vec<u8> {
        (
            relay_parent,
            para_id,
            persisted_validation_data_hash,
            pov_hash,
            validation_code_hash,
        )
            .encode()
    }

    /// Whether the signature is the collator's over this descriptor's payload.
    pub fn check_collator_signature(&self) -> bool {
        let payload = Self::signature_payload(
            &self.relay_parent,
            self.para_id,
            &self.persisted_validation_data_hash,
            &self.pov_hash,
            &self.validation_code_hash,
        );
        self.collator.verify(&payload, &self.signature)
    }
}

/// A candidate as the relay chain tracks it: the descriptor and the commitments' hash.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct CandidateReceipt {
    /// The descriptor.
    pub descriptor: CandidateDescriptor,
    /// Hash of the [`CandidateCommitments`].
    pub commitments_hash: Hash,
}

impl CandidateReceipt {
    /// The candidate's hash: what statements and bitfields refer to.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }
}

/// A receipt with the commitments in full, as backers gossip it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct CommittedCandidateReceipt {
    /// The descriptor.
    pub descriptor: CandidateDescriptor,
    /// The commitments.
    pub commitments: CandidateCommitments,
}

impl CommittedCandidateReceipt {
    /// The plain receipt (same hash as the candidate's).
    pub fn to_plain(&self) -> CandidateReceipt {
        CandidateReceipt {
            descriptor: self.descriptor.clone(),
            commitments_hash: self.commitments.hash(),
        }
    }

    /// The candidate's hash.
    pub fn hash(&self) -> Hash {
        self.to_plain().hash()
    }
}

/// Largest validation code a relay chain accepts (3 MiB, Polkadot's default).
pub const MAX_CODE_SIZE: usize = 3 * 1024 * 1024;
/// Largest code a para sends itself by `set_code`: its block carries it twice (the extrinsic
/// in the PoV, the code in the commitments), and a collation must fit the network's limit.
pub const MAX_UPGRADE_CODE_SIZE: usize = 2 * 1024 * 1024;

/// A code upgrade waiting for its relay block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PendingUpgrade {
    /// Hash of the new code.
    pub code_hash: Hash,
    /// The first relay block whose candidates may switch to it.
    pub at: BlockNumber,
}

/// Relay chain storage: the upgrade each para sent in a candidate, from its scheduling until
/// it is enacted. The para reads it from its relay parent's state: the first para block
/// whose relay parent is at or after `at` puts the new code under its own `:code` (the
/// go-ahead), and the relay chain switches when it includes that block.
pub static PARA_UPGRADES: crate::storage::StorageMap<ParaId, PendingUpgrade> =
    crate::storage::StorageMap::new("Paras", "ParaUpgrades");

/// Relay chain storage: the code hash of the upgrade each para sent in a candidate while
/// validators check it (before it is scheduled and listed in [`PARA_UPGRADES`]); the para
/// keeps waiting for its go-ahead while it finds it here.
pub static PARA_UPGRADE_CHECKS: crate::storage::StorageMap<ParaId, Hash> =
    crate::storage::StorageMap::new("Paras", "UpgradeChecks");

/// Where a para built with this framework keeps its own id.
pub static PARA_ID: crate::storage::StorageValue<ParaId> =
    crate::storage::StorageValue::new("ParachainInfo", "ParaId");

/// The storage of `ParachainInfo` (a para's id), described for clients.
pub fn parachain_info_storage_metadata() -> Vec<crate::metadata::StorageEntryMetadata> {
    alloc::vec![PARA_ID.metadata()]
}

/// What a para built with this framework puts in [`BlockData`]: its block and the storage proof
/// of everything executing the block reads.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ParachainBlockData {
    /// The para block; its header is the new head.
    pub block: Block,
    /// The trie nodes executing it reads, against the parent's state root.
    pub proof: StorageProof,
}

/// The validation function of a para whose runtime is `R` and whose heads are its SCALE
/// [`Header`]s: re-executes the block against the PoV's storage proof alone, and checks that it
/// builds on the parent head and that its state root is the one execution gives.
pub fn validate_block<R: Runtime>(params: ValidationParams) -> ValidationOutcome {
    let parent = Header::decode_all(&mut &*params.parent_head.0)
        .map_err(|err| format!("parent head does not decode as a header: {err}"))?;
    let ParachainBlockData { block, proof } =
        ParachainBlockData::decode_all(&mut &*params.block_data.0)
            .map_err(|err| format!("block data does not decode: {err}"))?;
    let parent_hash = parent.hash();
    if block.header.parent_hash != parent_hash {
        return Err(format!(
            "block builds on {}, not on the parent head {parent_hash}",
            block.header.parent_hash
        ));
    }
    if Some(block.header.number) != parent.number.checked_add(1) {
        return Err(format!(
            "block number {} does not follow the parent's {}",
            block.header.number, parent.number
        ));
    }
    let mut store = proof.into_store();
    let changes = execute_block::<R>(&store, parent.state_root, &block, false)
        .map_err(|err| format!("block {} is invalid: {err}", block.header.number))?;
    // What the block sends is in its post-state: the proof's nodes and those it wrote.
    store.extend(changes.new_nodes);
    let mut post_state = State::new(&store, changes.root);
    let new_validation_code =
        crate::modules::parachain_system::new_validation_code(&mut post_state, block.header.number)
            .map_err(|err| format!("the block's new code cannot be read: {err}"))?
            .map(ValidationCode);
    let outputs = crate::modules::parachain_system::OUTPUTS
        .get(&mut post_state)
        .map_err(|err| format!("block outputs cannot be read: {err}"))?
        .filter(|outputs| outputs.block == block.header.number)
        .ok_or_else(|| format!("block {} has no relay inputs inherent", block.header.number))?;
    if outputs.relay_parent_number != params.relay_parent_number
        || outputs.relay_parent_storage_root != params.relay_parent_storage_root
    {
        return Err(format!(
            "block was built on relay block {} ({}), not on the relay parent {} ({})",
            outputs.relay_parent_number,
            outputs.relay_parent_storage_root,
            params.relay_parent_number,
            params.relay_parent_storage_root
        ));
    }
    Ok(CandidateCommitments {
        upward_messages: outputs.upward_messages,
        horizontal_messages: outputs.horizontal_messages,
        new_validation_code,
        head_data: HeadData(block.header.encode()),
        processed_downward_messages: outputs.processed_downward_messages,
        hrmp_watermark: outputs.hrmp_watermark,
    })
}

/// The unsigned inherent that gives a para block of runtime `R` its relay inputs; it must be
/// the block's first extrinsic.
pub fn relay_inputs_inherent<R: Runtime>(inputs: crate::messaging::RelayInputs) -> OpaqueExtrinsic
where
    R::Call: From<crate::modules::parachain_system::Call>,
{
    let call =
        R::Call::from(crate::modules::parachain_system::Call::SetRelayInputs { data: inputs });
    crate::extrinsic::Extrinsic {
        signature: None,
        call,
    }
    .to_opaque()
}

/// The genesis of a para built with this framework: its id, endowed accounts and sudo key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ParaGenesis {
    /// The para's id on the relay chain.
    pub para_id: ParaId,
    /// Endowed accounts.
    pub balances: Vec<(AccountId, crate::Balance)>,
    /// The sudo key, if the para has `sudo`.
    pub sudo: Option<AccountId>,
}

impl ParaGenesis {
    /// A dev para with id `para_id`: each dev account holds a million units (of 12 decimals),
    /// Alice is sudo.
    #[cfg(feature = "std")]
    pub fn dev(para_id: ParaId) -> Self {
        let account = |name: &str| crate::crypto::Pair::dev(name).public();
        ParaGenesis {
            para_id,
            balances: crate::crypto::DEV_ACCOUNTS
                .iter()
                .map(|name| (account(name), 1_000_000 * 1_000_000_000_000))
                .collect(),
            sudo: Some(account("Alice")),
        }
    }

    /// The genesis header and state for a para of runtime `R`, its blob ([`Runtime::CODE`])
    /// under `:code`; the header's encoding is the para's genesis head.
    pub fn build<R: Runtime>(&self) -> Result<(Header, StateChanges), crate::dispatch::CallError> {
        let empty = alloc::collections::BTreeMap::new();
        self.build_on::<R>(State::new(&empty, crate::trie::empty_root()), R::CODE)
    }

    /// [`Self::build`] on `state` (empty; the node's, for a runtime in Wasm) with `code`
    /// under `:code`.
    pub fn build_on<R: Runtime>(
        &self,
        state: State<'_>,
        code: &[u8],
    ) -> Result<(Header, StateChanges), crate::dispatch::CallError> {
        crate::executive::build_genesis_on::<R>(state, |ctx| {
            PARA_ID.put(&mut ctx.state, &self.para_id);
            let fees = crate::messaging::XCM_FEE_ACCOUNT;
            crate::modules::balances::force_set_balance(ctx, &fees, R::CONFIG.existential_deposit)?;
            for (who, balance) in &self.balances {
                crate::modules::balances::force_set_balance(ctx, who, *balance)?;
            }
            if let Some(key) = self.sudo {
                crate::modules::sudo::KEY.put(&mut ctx.state, &key);
            }
            ctx.state
                .set(crate::storage::CODE_KEY.to_vec(), code.to_vec());
            Ok(())
        })
    }

    /// The genesis head of a para of runtime `R`, to register on the relay chain.
    pub fn head<R: Runtime>(&self) -> Result<HeadData, crate::dispatch::CallError> {
        self.build::<R>()
            .map(|(header, _)| HeadData(header.encode()))
    }
}

/// `call` signed by `pair` with `nonce` for the para of runtime `R` whose genesis hash is
/// `genesis_hash`, valid forever.
#[cfg(feature = "std")]
pub fn sign<R: Runtime>(
    pair: &crate::crypto::Pair,
    call: R::Call,
    nonce: crate::Nonce,
    genesis_hash: Hash,
) -> OpaqueExtrinsic {
    use crate::extrinsic::{ChainContext, Era, Extrinsic, SignedExtra};
    let extra = SignedExtra {
        era: Era::Immortal,
        nonce,
        tip: 0,
    };
    let chain = ChainContext {
        spec_version: R::VERSION.spec_version,
        transaction_version: R::VERSION.transaction_version,
        genesis_hash,
        birth_hash: genesis_hash,
    };
    Extrinsic::signed(pair, call, extra, &chain).to_opaque()
}

/// A para block a collator built, with what it changes and what it left out.
#[derive(Debug)]
pub struct BuiltBlock {
    /// The block; its header's encoding is the new head.
    pub block: Block,
    /// The state it leads to (with the storage proof, if recorded).
    pub changes: StateChanges,
    /// Extrinsics left out, by index in the input, and why.
    pub rejected: Vec<(usize, InvalidTransaction)>,
    /// Index of the first extrinsic not tried: the block was full or out of time there
    /// (the input's length if every extrinsic was tried).
    pub tried: usize,
    /// The block's weight: its extrinsics' and what its start (`on_initialize`) found to do.
    pub weight: crate::dispatch::Weight,
}

/// How [`build_block_with`] builds.
pub struct BuildOptions<'a> {
    /// Record every trie node read, so the block's PoV proof comes from this one execution.
    pub record_proof: bool,
    /// Asked before each extrinsic after the first (the inherent): `true` ends the block there.
    /// The builder's time budget.
    pub out_of_time: &'a mut dyn FnMut() -> bool,
}

/// Builds the para block after `parent` (whose state is in `store`) from `extrinsics` in order,
/// leaving out those that are invalid; fees go to `author`.
pub fn build_block<R: Runtime>(
    store: &dyn NodeStore,
    parent: &Header,
    extrinsics: &[OpaqueExtrinsic],
    author: Option<AccountId>,
) -> Result<BuiltBlock, crate::Error> {
    let options = BuildOptions {
        record_proof: false,
        out_of_time: &mut || false,
    };
    build_block_with::<R>(store, parent, extrinsics, author, options)
}

/// [`build_block`], stopping early when `options` say time is up or when the block is full
/// ([`FullBlock`]), and recording the proof if asked.
pub fn build_block_with<R: Runtime>(
    store: &dyn NodeStore,
    parent: &Header,
    extrinsics: &[OpaqueExtrinsic],
    author: Option<AccountId>,
    options: BuildOptions<'_>,
) -> Result<BuiltBlock, crate::Error> {
    let mut state = State::new(store, parent.state_root);
    if options.record_proof {
        state = state.record_proof();
    }
    build_block_on::<R>(state, parent, extrinsics, author, options.out_of_time)
}

/// [`build_block_with`] on `state`, the parent's state (the node's, for a runtime in Wasm),
/// asking `out_of_time` before each extrinsic after the first.
pub fn build_block_on<R: Runtime>(
    state: State<'_>,
    parent: &Header,
    extrinsics: &[OpaqueExtrinsic],
    author: Option<AccountId>,
    out_of_time: &mut dyn FnMut() -> bool,
) -> Result<BuiltBlock, crate::Error> {
    build_block_with_digest::<R>(state, parent, extrinsics, Vec::new(), author, out_of_time)
}

/// [`build_block_on`] for a block whose header starts with the pre-runtime items
/// `pre_runtime` (a relay block's slot claim): the header carries them, the author's, and the
/// consensus logs the runtime deposits.
pub fn build_block_with_digest<R: Runtime>(
    state: State<'_>,
    parent: &Header,
    extrinsics: &[OpaqueExtrinsic],
    pre_runtime: Vec<DigestItem>,
    author: Option<AccountId>,
    out_of_time: &mut dyn FnMut() -> bool,
) -> Result<BuiltBlock, crate::Error> {
    let number = parent.number.saturating_add(1);
    let parent_hash = parent.hash();
    let mut executive =
        Executive::<R>::initialize_with(state, number, parent_hash, pre_runtime, author)?;
    let mut included = Vec::new();
    let mut rejected = Vec::new();
    let mut tried = extrinsics.len();
    let mut full = FullBlock::default();
    for (index, xt) in extrinsics.iter().enumerate() {
        if index > 0 && (full.is_full() || out_of_time()) {
            tried = index;
            break;
        }
        match executive.apply(xt) {
            Ok(_call_outcome) => {
                full.included();
                included.push(xt.clone());
            }
            Err(ApplyError::Invalid(reason)) => {
                full.rejected(&reason);
                rejected.push((index, reason));
            }
            Err(ApplyError::State(err)) => return Err(err),
        }
    }
    let digest = executive.digest()?;
    let weight = executive.weight();
    let changes = executive.finalize()?;
    let header = Header {
        parent_hash,
        number,
        state_root: changes.root,
        extrinsics_root: extrinsics_root(&included),
        digest,
    };
    Ok(BuiltBlock {
        block: Block {
            header,
            extrinsics: included,
        },
        changes,
        rejected,
        tried,
        weight,
    })
}

/// The block data of `block` for its PoV: the block and the proof of what executing it on
/// `parent_state_root` (in `store`) reads, recorded by executing it exactly as validators will.
pub fn prove_block<R: Runtime>(
    store: &dyn NodeStore,
    parent_state_root: Hash,
    block: Block,
) -> Result<ParachainBlockData, BlockError> {
    let changes = execute_block::<R>(store, parent_state_root, &block, true)?;
    Ok(ParachainBlockData {
        block,
        proof: changes.proof.unwrap_or_default(),
    })
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::crypto::Pair;

    fn descriptor(collator: &Pair) -> CandidateDescriptor {
        let (relay_parent, pvd, pov, code) =
            (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]), Hash([4; 32]));
        let payload =
            CandidateDescriptor::signature_payload(&relay_parent, ParaId(1000), &pvd, &pov, &code);
        CandidateDescriptor {
            para_id: ParaId(1000),
            relay_parent,
            collator: collator.public(),
            persisted_validation_data_hash: pvd,
            pov_hash: pov,
            erasure_root: Hash([5; 32]),
            signature: collator.sign(&payload),
            para_head: Hash([6; 32]),
            validation_code_hash: code,
        }
    }

    #[test]
    fn the_collator_signature_binds_para_relay_parent_data_and_code() {
        let collator = Pair::dev("Ferdie");
        let good = descriptor(&collator);
        assert!(good.check_collator_signature());
        let mut other_para = good.clone();
        other_para.para_id = ParaId(1001);
        assert!(!other_para.check_collator_signature());
        let mut other_code = good.clone();
        other_code.validation_code_hash = Hash([9; 32]);
        assert!(!other_code.check_collator_signature());
        let mut impostor = good.clone();
        impostor.collator = Pair::dev("Eve").public();
        assert!(!impostor.check_collator_signature());
    }

    #[test]
    fn a_committed_receipt_hashes_as_its_plain_receipt() {
        let committed = CommittedCandidateReceipt {
            descriptor: descriptor(&Pair::dev("Ferdie")),
            commitments: CandidateCommitments {
                head_data: HeadData(vec![1, 2, 3]),
                upward_messages: vec![vec![7]],
                ..CandidateCommitments::default()
            },
        };
        let plain = committed.to_plain();
        assert_eq!(plain.commitments_hash, committed.commitments.hash());
        assert_eq!(plain.hash(), committed.hash());
        let decoded = CommittedCandidateReceipt::decode(&mut &committed.encode()[..]).unwrap();
        assert_eq!(decoded, committed);
    }
}
