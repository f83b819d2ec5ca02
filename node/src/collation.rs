//! Collation: turning a para block into the candidate a collator sends its backing group.

use tessera_relay_chain::availability::{AvailableData, ErasureError};
use tessera_runtime::crypto::Pair;
use tessera_runtime::parachain::{
    BlockData, CandidateCommitments, CandidateDescriptor, CommittedCandidateReceipt, ParaId,
    PersistedValidationData, PoV,
};
use tessera_runtime::Hash;

/// A candidate and its PoV, as a collator sends them.
#[derive(Clone, Debug, PartialEq, Eq, parity_scale_codec::Encode, parity_scale_codec::Decode)]
pub struct Collation {
    /// The candidate with its commitments.
    pub candidate: CommittedCandidateReceipt,
    /// Its proof of validity.
    pub pov: PoV,
}

/// What a collator knows of the candidate it makes.
#[derive(Clone, Debug)]
pub struct CollationInput {
    /// The para.
    pub para: ParaId,
    /// The relay block it builds against.
    pub relay_parent: Hash,
    /// The validation data the relay parent gives the para.
    pub validation_data: PersistedValidationData,
    /// The para block and its storage proof.
    pub block_data: BlockData,
    /// Hash of the para's code in force.
    pub code_hash: Hash,
    /// What validating the block gives (the collator runs it natively).
    pub commitments: CandidateCommitments,
    /// Validators in the relay's set (for the erasure root).
    pub validators: usize,
}

/// Makes and signs the candidate of `input` with the collator key `collator`.
pub fn collate(collator: &Pair, input: CollationInput) -> Result<Collation, ErasureError> {
    let pov = PoV {
        block_data: input.block_data,
    };
    let pov_hash = pov.hash();
    let validation_data_hash = input.validation_data.hash();
    let available = AvailableData {
        pov,
        validation_data: input.validation_data,
    };
    let erasure_root = available.erasure_root(input.validators)?;
    let payload = CandidateDescriptor::signature_payload(
        &input.relay_parent,
        input.para,
        &validation_data_hash,
        &pov_hash,
        &input.code_hash,
    );
    let descriptor = CandidateDescriptor {
        para_id: input.para,
        relay_parent: input.relay_parent,
        collator: collator.public(),
        persisted_validation_data_hash: validation_data_hash,
        pov_hash,
        erasure_root,
        signature: collator.sign(&payload),
        para_head: input.commitments.head_data.hash(),
        validation_code_hash: input.code_hash,
    };
    Ok(Collation {
        candidate: CommittedCandidateReceipt {
            descriptor,
            commitments: input.commitments,
        },
        pov: available.pov,
    })
}
