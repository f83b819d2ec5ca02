//! The parachain protocol in a node: a validator's backing, availability and inherent
//! ([`host`], no I/O), its approval checking and disputes ([`approval`]), its votes on new para
//! code ([`pvf_check`]), its wiring to the network ([`service`]), para chains as para nodes
//! keep them ([`chain`]), and collators that build para blocks on a relay node and send them to
//! backing groups ([`collator`]), watching what becomes of them ([`tracking`]).

pub mod approval;
pub mod chain;
pub mod collator;
pub mod early;
pub mod host;
pub mod nodes;
pub mod own_messages;
pub mod pvf_check;
pub mod relay_api;
pub mod service;
pub mod tracking;

pub use chain::ParaChain;
pub use collator::Collator;
pub use host::{
    CandidateCheck, CollationOutcome, IdentityError, MissingChunk, ParachainError, ParachainHost,
    ParachainMessage, Statement, ValidatorIdentity, MAX_STATEMENTS_PER_VALIDATOR,
};
pub use service::ParachainService;
pub use tessera_validity::backing::BackingError;

use crate::client::Client;
use parity_scale_codec::Decode;
use tessera_relay_chain::paras::{self, HeadData, ParaId};
use tessera_runtime::state::State;
use tessera_runtime::{Hash, Header};

/// Which of `keys` is a validator's parachain key in `session`, with its index there.
pub fn place_in<'a>(
    keys: &'a [tessera_consensus::AuthorityKey],
    session: &tessera_relay_chain::session::ParaValidators,
) -> Option<(u32, &'a tessera_consensus::AuthorityKey)> {
    keys.iter()
        .find_map(|key| Some((session.index_of(&key.public())?, key)))
}

/// A para head as the relay chain records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParaHead {
    /// The para block's number, if the head is a header of this framework.
    pub number: Option<u32>,
    /// The head's hash (the para block's hash).
    pub hash: Hash,
}

impl ParaHead {
    fn of(head: &HeadData) -> Self {
        ParaHead {
            number: Header::decode(&mut &head.0[..]).ok().map(|h| h.number),
            hash: head.hash(),
        }
    }
}

/// A para's heads on the relay chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParaStatus {
    /// The para.
    pub id: ParaId,
    /// Its latest included head, at the relay's best block.
    pub included: ParaHead,
    /// Its head as of the relay's latest finalized block (none if registered after it).
    pub finalized: Option<ParaHead>,
    /// Its head as of the newest relay block this node's approval checking approved (none on
    /// a node that does not check, or before the first approval).
    pub approved: Option<ParaHead>,
}

/// Every registered para's included, approved (as of relay block `approved`) and finalized
/// heads.
pub fn para_statuses(client: &Client, approved: Option<Hash>) -> Result<Vec<ParaStatus>, String> {
    let meta = client.info().map_err(|e| e.to_string())?;
    let header_of = |hash: &Hash| -> Result<Header, String> {
        client
            .header(hash)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("block {hash} is missing"))
    };
    let best = header_of(&meta.best_hash)?;
    let finalized = header_of(&meta.finalized_hash)?;
    let mut at_best = State::new(client.store(), best.state_root);
    let mut at_finalized = State::new(client.store(), finalized.state_root);
    let approved = approved.map(|hash| header_of(&hash)).transpose()?;
    let mut at_approved = approved.map(|h| State::new(client.store(), h.state_root));
    let mut statuses = Vec::new();
    for id in paras::para_ids(&mut at_best).map_err(|e| e.to_string())? {
        let Some(included) = paras::PARAS
            .get(&mut at_best, &id)
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let finalized = paras::PARAS
            .get(&mut at_finalized, &id)
            .map_err(|e| e.to_string())?
            .map(|info| ParaHead::of(&info.head));
        let approved = match &mut at_approved {
            Some(state) => paras::PARAS
                .get(state, &id)
                .map_err(|e| e.to_string())?
                .map(|info| ParaHead::of(&info.head)),
            None => None,
        };
        statuses.push(ParaStatus {
            id,
            included: ParaHead::of(&included.head),
            finalized,
            approved,
        });
    }
    Ok(statuses)
}

/// The first relay block that backed a candidate still pending availability as of `header`
/// (finality must not pass it), if any.
pub fn unavailable_since(client: &Client, header: &Header) -> Option<u32> {
    let mut state = State::new(client.store(), header.state_root);
    let paras = paras::para_ids(&mut state).ok()?;
    paras
        .iter()
        .filter_map(|para| {
            tessera_relay_chain::inclusion::PENDING
                .get(&mut state, para)
                .ok()?
        })
        .map(|pending| pending.backed_in)
        .min()
}
