//! The relay runtime's parachain host API (`tessera_relay_chain::runtime_api`), called through
//! the runtime under `:code` at a relay block: what the parachain protocol asks of relay state.

use super::host::ParachainError;
use crate::client::{Client, QueryError};
use crate::store::StoreError;
use tessera_relay_chain::messaging::{self, InboundMessages};
use tessera_relay_chain::paras::{ParaId, ValidationCode};
use tessera_relay_chain::runtime_api::{self as api, CandidateValidation, CoreState};
use tessera_runtime::messaging::RelayInputs;
use tessera_runtime::{Hash, Header};

fn call<T: parity_scale_codec::Decode>(
    client: &Client,
    at: &Hash,
    export: &str,
    input: &impl parity_scale_codec::Encode,
) -> Result<T, ParachainError> {
    client
        .runtime_query(at, export, input)
        .map_err(|err| match err {
            QueryError::Store(StoreError::MissingBlock(hash)) => {
                ParachainError::UnknownRelayParent(hash)
            }
            err => ParachainError::State(format!("`{export}`: {err}")),
        })
}

/// Validators disabled for an offence this session, by index, at block `at`.
pub fn disabled_validators(client: &Client, at: &Hash) -> Result<Vec<u32>, ParachainError> {
    call(client, at, api::DISABLED_VALIDATORS, &())
}

/// Each core's para and candidate pending availability at block `at`.
pub fn availability_cores(client: &Client, at: &Hash) -> Result<Vec<CoreState>, ParachainError> {
    call(client, at, api::AVAILABILITY_CORES, &())
}

/// The validators (by index) backing `para`'s candidates on relay parent `relay_parent`.
pub fn backing_group(
    client: &Client,
    relay_parent: &Header,
    para: ParaId,
) -> Result<Vec<u32>, ParachainError> {
    let number = relay_parent.number.saturating_add(1);
    let input = (para, number);
    call::<Option<Vec<u32>>>(client, &relay_parent.hash(), api::BACKING_GROUP, &input)?
        .ok_or(ParachainError::UnknownPara(para))
}

/// What a candidate of `para` on relay parent `relay_parent` is validated with.
pub fn candidate_validation(
    client: &Client,
    relay_parent: &Header,
    para: ParaId,
) -> Result<CandidateValidation, ParachainError> {
    let input = (relay_parent.clone(), para);
    let export = api::CANDIDATE_VALIDATION;
    call::<Option<CandidateValidation>>(client, &relay_parent.hash(), export, &input)?
        .ok_or(ParachainError::UnknownPara(para))
}

/// What `para`'s candidate on relay parent `relay_parent` takes in: the messages the runtime
/// says wait for it, and the proof of the relay state its block checks them against.
pub fn relay_inputs(
    client: &Client,
    relay_parent: &Header,
    para: ParaId,
) -> Result<RelayInputs, ParachainError> {
    let messages: InboundMessages =
        call(client, &relay_parent.hash(), api::INBOUND_MESSAGES, &para)?;
    messaging::relay_inputs_with(client.store(), relay_parent, para, messages)
        .map_err(|err| ParachainError::State(format!("relay state proof: {err}")))
}

/// Para code by its hash, as of block `at`.
pub fn validation_code_by_hash(
    client: &Client,
    at: &Hash,
    code_hash: &Hash,
) -> Result<Option<ValidationCode>, ParachainError> {
    call(client, at, api::VALIDATION_CODE_BY_HASH, code_hash)
}

/// The checks of new para code under way at block `at`, oldest first, with their votes.
pub fn pvf_checks(
    client: &Client,
    at: &Hash,
) -> Result<Vec<(Hash, tessera_relay_chain::pvf_check::Precheck)>, ParachainError> {
    call(client, at, api::PVF_CHECKS, &())
}

/// The parachains inherent for the block after `parent` that the relay runtime at `parent`
/// makes from `offer`, with what it left out.
pub fn create_inherent(
    client: &Client,
    parent: &Header,
    offer: &api::InherentOffer,
) -> Result<api::CreatedInherent, ParachainError> {
    call::<Result<api::CreatedInherent, String>>(
        client,
        &parent.hash(),
        api::CREATE_INHERENT,
        offer,
    )?
    .map_err(ParachainError::State)
}
