//! Collation: turning a para block into the candidate a collator sends its backing group.

use tessera_relay_chain::availability::{AvailableData, ErasureError};
use tessera_runtime::crypto::{AccountId, Pair, Signature};
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

/// A collator's signed word that it collates for `para` from the peer it sends with: a backer
/// takes a collation only with the declaration of the key that signed it, made for the very
/// peer that sent it, so no peer can pass another's collations off as its own.
#[derive(Clone, Debug, PartialEq, Eq, parity_scale_codec::Encode, parity_scale_codec::Decode)]
pub struct CollatorDeclaration {
    /// The collator key.
    pub collator: AccountId,
    /// The para it collates for.
    pub para: ParaId,
    /// Its signature over [`CollatorDeclaration::payload`].
    pub signature: Signature,
}

impl CollatorDeclaration {
    /// What the collator signs: itself, its para and the peer id it sends from.
    pub fn payload(collator: &AccountId, para: ParaId, peer: &[u8]) -> Vec<u8> {
        parity_scale_codec::Encode::encode(&(b"tessera/collator", collator, para, peer))
    }

    /// `key`'s declaration for `para`, sending from `peer`.
    pub fn sign(key: &Pair, para: ParaId, peer: &libp2p::PeerId) -> Self {
        let collator = key.public();
        let signature = key.sign(&Self::payload(&collator, para, &peer.to_bytes()));
        CollatorDeclaration {
            collator,
            para,
            signature,
        }
    }
}

/// A collation with its collator's declaration, as it travels to backers.
#[derive(Clone, Debug, PartialEq, Eq, parity_scale_codec::Encode, parity_scale_codec::Decode)]
pub struct DeclaredCollation {
    /// The declaration.
    pub declaration: CollatorDeclaration,
    /// The collation.
    pub collation: Collation,
}

/// Why a collation is not taken from the peer that sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeclarationError {
    /// The declaration is for another para.
    #[error("the collator declared another para")]
    WrongPara,
    /// The candidate is signed by another key than the one declared.
    #[error("the candidate is not signed by the declared collator")]
    WrongCollator,
    /// The declaration was not signed by its collator for this peer.
    #[error("the declaration was not made for this peer")]
    BadSignature,
}

impl DeclaredCollation {
    /// Whether `peer` may send it: the declaration names the candidate's para and collator,
    /// and that collator signed it for `peer`. (The candidate's own signature is checked with
    /// the rest of the candidate.)
    pub fn check(&self, peer: &libp2p::PeerId) -> Result<(), DeclarationError> {
        let declaration = &self.declaration;
        let descriptor = &self.collation.candidate.descriptor;
        if declaration.para != descriptor.para_id {
            return Err(DeclarationError::WrongPara);
        }
        if declaration.collator != descriptor.collator {
            return Err(DeclarationError::WrongCollator);
        }
        let payload =
            CollatorDeclaration::payload(&declaration.collator, declaration.para, &peer.to_bytes());
        if !declaration
            .collator
            .verify(&payload, &declaration.signature)
        {
            return Err(DeclarationError::BadSignature);
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Decode;

    fn declared(key: &Pair, para: ParaId, peer: &libp2p::PeerId) -> DeclaredCollation {
        let zeros = vec![0u8; 1024];
        let mut collation = Collation::decode(&mut &zeros[..]).unwrap();
        collation.candidate.descriptor.para_id = para;
        collation.candidate.descriptor.collator = key.public();
        DeclaredCollation {
            declaration: CollatorDeclaration::sign(key, para, peer),
            collation,
        }
    }

    #[test]
    fn a_collation_is_taken_only_from_the_peer_its_collator_declared_for_its_para() {
        let key = Pair::dev("Ferdie");
        let (peer, other) = (libp2p::PeerId::random(), libp2p::PeerId::random());
        let para = ParaId(1000);
        let ok = declared(&key, para, &peer);
        assert_eq!(ok.check(&peer), Ok(()));
        // Replayed by another peer.
        assert_eq!(ok.check(&other), Err(DeclarationError::BadSignature));
        // Declared for another para than the candidate's.
        let mut wrong_para = ok.clone();
        wrong_para.collation.candidate.descriptor.para_id = ParaId(1001);
        assert_eq!(wrong_para.check(&peer), Err(DeclarationError::WrongPara));
        // A candidate signed by someone else, under this collator's declaration.
        let mut wrong_key = ok;
        wrong_key.collation.candidate.descriptor.collator = Pair::dev("Eve").public();
        assert_eq!(wrong_key.check(&peer), Err(DeclarationError::WrongCollator));
    }
}
