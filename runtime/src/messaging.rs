//! Cross-chain message queues as the relay chain keeps them and paras prove them.
//!
//! Every queue is a *message queue chain*: its head is `blake2_256((previous head, sent_at,
//! blake2_256(message)))` after each message (Polkadot's `MessageQueueChain`). The relay chain
//! keeps the heads of each para's downward queue and of each HRMP channel in storage; a para
//! block proves them against its relay parent's state root and shows that the messages it
//! processed extend its last processed head to exactly those heads, so it cannot skip,
//! reorder or invent a message. The storage items are declared here, once, so that the relay
//! chain writes and paras read the same keys.

use crate::hashing::blake2_256;
use crate::parachain::ParaId;
use crate::state::StorageProof;
use crate::storage::StorageMap;
use crate::{BlockNumber, Hash};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// Largest downward message the relay chain queues (Polkadot's default `max_downward_message_size`).
pub const MAX_DOWNWARD_MESSAGE_SIZE: u32 = 51_200;
/// Most downward messages waiting for one para. A para block processes its whole queue, so
/// this, with [`MAX_INBOUND_CHANNELS`] and [`MAX_HRMP_CHANNEL_CAPACITY`], bounds what one
/// block must take in (48 messages, under 2.5 MiB): no amount of traffic can make a para's
/// next block too heavy or too large to be valid.
pub const MAX_DOWNWARD_QUEUE_LEN: u32 = 16;
/// Most inbound HRMP channels a para may have.
pub const MAX_INBOUND_CHANNELS: u32 = 4;
/// Largest upward message a candidate may send.
pub const MAX_UPWARD_MESSAGE_SIZE: u32 = 65_531;
/// Most upward messages one candidate may send.
pub const MAX_UPWARD_MESSAGES_PER_CANDIDATE: u32 = 16;
/// Most horizontal messages one candidate may send.
pub const MAX_HORIZONTAL_MESSAGES_PER_CANDIDATE: u32 = 16;
/// Largest channel capacity (messages) a para may ask for (Polkadot's default).
pub const MAX_HRMP_CHANNEL_CAPACITY: u32 = 8;
/// Largest message size a para may ask for on a channel.
pub const MAX_HRMP_MESSAGE_SIZE: u32 = 51_200;

/// A message from the relay chain to a para.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct InboundDownwardMessage {
    /// The relay block that queued it.
    pub sent_at: BlockNumber,
    /// The message.
    pub msg: Vec<u8>,
}

/// A message from a sibling para, as the relay chain keeps it in a channel.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct InboundHrmpMessage {
    /// The relay block whose inclusion of the sender's candidate queued it.
    pub sent_at: BlockNumber,
    /// The message.
    pub data: Vec<u8>,
}

/// A channel from `sender` to `recipient`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, scale_info::TypeInfo,
)]
pub struct HrmpChannelId {
    /// The sending para.
    pub sender: ParaId,
    /// The receiving para.
    pub recipient: ParaId,
}

/// An open channel's limits, fill and head.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct HrmpChannel {
    /// Most messages it holds at once.
    pub max_capacity: u32,
    /// Largest message.
    pub max_message_size: u32,
    /// Messages it holds now.
    pub msg_count: u32,
    /// Bytes it holds now.
    pub total_size: u32,
    /// Head of its message queue chain (zero before the first message).
    pub mqc_head: Hash,
    /// The relay block that opened it: a channel closed and opened again starts a new chain,
    /// and the recipient tells the two apart by this.
    pub opened_at: BlockNumber,
}

/// The head after `head` of a queue that appends `message`, sent at `sent_at`.
pub fn extend_head(head: &Hash, sent_at: BlockNumber, message: &[u8]) -> Hash {
    blake2_256(&(head, sent_at, blake2_256(message)).encode())
}

/// The account that collects XCM execution fees on every Tessera chain. Genesis endows it
/// with the existential deposit, so that fees smaller than that are kept, not burnt.
pub const XCM_FEE_ACCOUNT: crate::AccountId =
    crate::AccountId(*b"modl/xcm/fees\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");

/// The relay chain's module that owns the downward queues.
pub const DMP: &str = "Dmp";
/// The relay chain's module that owns HRMP channels.
pub const HRMP: &str = "Hrmp";

/// Head of each para's downward queue (zero before the first message).
pub static DOWNWARD_QUEUE_HEADS: StorageMap<ParaId, Hash> =
    StorageMap::new(DMP, "DownwardMessageQueueHeads");
/// Each para's unprocessed downward messages, oldest first.
pub static DOWNWARD_QUEUES: StorageMap<ParaId, Vec<InboundDownwardMessage>> =
    StorageMap::new(DMP, "DownwardMessageQueues");
/// Open channels.
pub static HRMP_CHANNELS: StorageMap<HrmpChannelId, HrmpChannel> =
    StorageMap::new(HRMP, "Channels");
/// Unprocessed messages of each channel, oldest first.
pub static HRMP_CONTENTS: StorageMap<HrmpChannelId, Vec<InboundHrmpMessage>> =
    StorageMap::new(HRMP, "ChannelContents");
/// The senders of each para's inbound channels, in order.
pub static HRMP_INGRESS: StorageMap<ParaId, Vec<ParaId>> = StorageMap::new(HRMP, "IngressIndex");
/// The recipients of each para's outbound channels, in order.
pub static HRMP_EGRESS: StorageMap<ParaId, Vec<ParaId>> = StorageMap::new(HRMP, "EgressIndex");

/// The storage items of [`DMP`], described for clients.
pub fn dmp_storage_metadata() -> Vec<crate::metadata::StorageEntryMetadata> {
    alloc::vec![
        DOWNWARD_QUEUE_HEADS.metadata_or_default(),
        DOWNWARD_QUEUES.metadata_or_default(),
    ]
}

/// The storage items of [`HRMP`] declared here (the relay chain declares the rest), described
/// for clients.
pub fn hrmp_storage_metadata() -> Vec<crate::metadata::StorageEntryMetadata> {
    alloc::vec![
        HRMP_CHANNELS.metadata(),
        HRMP_CONTENTS.metadata_or_default(),
        HRMP_INGRESS.metadata_or_default(),
        HRMP_EGRESS.metadata_or_default(),
    ]
}

/// What a para block learns from its relay parent: the relay state it relies on (proven) and
/// the messages it must process, put in the block by its collator as an inherent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct RelayInputs {
    /// The relay parent's number.
    pub relay_parent_number: BlockNumber,
    /// The relay parent's state root, which the proof is checked against.
    pub relay_parent_storage_root: Hash,
    /// Trie nodes of the relay state: the para's downward queue head, its channels and
    /// their heads.
    pub relay_state_proof: StorageProof,
    /// The para's downward messages, oldest first.
    pub downward_messages: Vec<InboundDownwardMessage>,
    /// Messages of each inbound channel, by sender in ascending order, oldest first.
    pub horizontal_messages: Vec<(ParaId, Vec<InboundHrmpMessage>)>,
}

impl RelayInputs {
    /// Inputs from a relay parent `relay_parent_number` whose state is empty: no queues, no
    /// channels (for tests and benchmarks of para blocks without a relay chain).
    pub fn empty(relay_parent_number: BlockNumber) -> RelayInputs {
        RelayInputs {
            relay_parent_number,
            relay_parent_storage_root: crate::trie::empty_root(),
            ..RelayInputs::default()
        }
    }
}
