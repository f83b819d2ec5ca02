//! Substrate's JSON shapes for headers and blocks.

use parity_scale_codec::Encode;
use serde_json::{json, Value};
use tessera_runtime::{Block, Header};

/// `0x`-prefixed hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

/// A header as Substrate's RPC returns it: number as a hex string, digest logs as SCALE hex.
pub(crate) fn header(header: &Header) -> Value {
    json!({
        "parentHash": header.parent_hash.to_string(),
        "number": format!("0x{:x}", header.number),
        "stateRoot": header.state_root.to_string(),
        "extrinsicsRoot": header.extrinsics_root.to_string(),
        "digest": { "logs": header.digest.logs.iter().map(|log| hex(&log.encode())).collect::<Vec<_>>() },
    })
}

/// The engine id Substrate gives GRANDPA justifications.
const FINALITY_ENGINE_ID: &str = "FRNK";

/// A signed block as Substrate's `chain_getBlock` returns it; `justification` (SCALE) appears as
/// `[["FRNK", "0x…"]]` when the block was finalized directly.
pub(crate) fn block(block: &Block, justification: Option<&[u8]>) -> Value {
    json!({
        "block": {
            "header": header(&block.header),
            "extrinsics": block.extrinsics.iter().map(|xt| hex(&xt.encode())).collect::<Vec<_>>(),
        },
        "justifications": justification.map(|j| json!([[FINALITY_ENGINE_ID, hex(j)]])),
    })
}
