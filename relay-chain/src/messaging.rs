//! `messaging`: the relay chain's message routes between itself and its paras.
//!
//! - **DMP** (relay to para): [`queue_downward`] appends to the para's downward queue; the para
//!   processes the whole queue in its next block and commits how many it processed. XCM
//!   senders pay [`downward_fee`], doubling with every [`DOWNWARD_FEE_STEP`] messages queued,
//!   and may fill the queue only up to [`DOWNWARD_NOTICE_ROOM`] short of full, so that the
//!   relay chain's own HRMP notices find room however many messages senders queue (only more
//!   than four channel changes before the para's next block drop one).
//! - **UMP** (para to relay): an included candidate's upward messages wait in its para's own
//!   queue, one storage entry per message, at most [`MAX_UPWARD_QUEUE_COUNT`] messages and
//!   [`MAX_UPWARD_QUEUE_SIZE`] bytes per para. They run through the relay chain's XCM executor
//!   within [`UPWARD_WEIGHT_PER_BLOCK`] per block, one message per para in turn, so a busy
//!   para cannot starve the others. A message heavier than [`MAX_UPWARD_MESSAGE_WEIGHT`] is
//!   kept for [`Call::ExecuteOverweight`] against a deposit from its para's sovereign account
//!   (at most [`MAX_OVERWEIGHT_PER_PARA`] per para); one the para cannot pay for is discarded.
//! - **HRMP** (para to para, through the relay chain): a para asks to open a channel
//!   ([`Call::HrmpInitOpenChannel`], dispatched by its sovereign account, i.e. with XCM
//!   `Transact` from the para), the recipient accepts, either closes; both ends hear of it by
//!   DMP. An included candidate's horizontal messages are appended to their channels, within
//!   capacity and size; the recipient commits a watermark up to which the relay chain drops them.
//!
//! Every queue is a hash chain ([`tessera_runtime::messaging`]) whose head paras prove in
//! their blocks, so a para cannot skip, reorder or invent messages. [`check_commitments`] is
//! what a candidate's message commitments must satisfy to be backed; [`enact`] applies them
//! when it is included.

use crate::prelude::*;

use crate::paras::{self, ParaId};
use crate::UNIT;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{
    CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight,
};
use tessera_runtime::messaging::{
    extend_head, HrmpChannel, HrmpChannelId, InboundDownwardMessage, InboundHrmpMessage,
    RelayInputs, DOWNWARD_QUEUES, DOWNWARD_QUEUE_HEADS, HRMP, HRMP_CHANNELS, HRMP_CONTENTS,
    HRMP_EGRESS, HRMP_INGRESS, MAX_DOWNWARD_MESSAGE_SIZE, MAX_DOWNWARD_QUEUE_LEN,
    MAX_HORIZONTAL_MESSAGES_PER_CANDIDATE, MAX_HRMP_CHANNEL_CAPACITY, MAX_HRMP_MESSAGE_SIZE,
    MAX_INBOUND_CHANNELS, MAX_UPWARD_MESSAGES_PER_CANDIDATE, MAX_UPWARD_MESSAGE_SIZE,
};
use tessera_runtime::modules::balances::{self, Existence};
use tessera_runtime::parachain::CandidateCommitments;
use tessera_runtime::state::{NodeStore, State};
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{AccountId, Balance, BlockNumber, Hash, Header};
use tessera_xcm::executor::{self, Outcome};
use tessera_xcm::module::{ChainConfig, XcmRuntime};
use tessera_xcm::v5::{Instruction, Location, Weight as XcmWeight, Xcm};
use tessera_xcm::VersionedXcm;

/// The module's name, the prefix of its own storage keys (queues shared with paras are under
/// `Dmp` and `Hrmp`).
pub const NAME: &str = "Messaging";
/// Weight of upward messages the relay chain runs per block.
pub const UPWARD_WEIGHT_PER_BLOCK: Weight = 20_000_000_000;
/// Heaviest upward message run automatically.
pub const MAX_UPWARD_MESSAGE_WEIGHT: Weight = 5_000_000_000;
/// Proof size given with the weight of an upward message (our weights count time only).
const UPWARD_PROOF_SIZE: u64 = 1 << 20;
/// Weight of taking one upward message off its queue (read, remove, events), whatever it
/// then does: it bounds how many messages one block handles, refused or overweight ones too.
pub const UPWARD_MESSAGE_BASE_WEIGHT: Weight = 10_000_000;
/// Most upward messages waiting to run, per para (Polkadot's `max_upward_queue_count` scale).
pub const MAX_UPWARD_QUEUE_COUNT: u32 = 1_024;
/// Most bytes of upward messages waiting to run, per para (Polkadot's `max_upward_queue_size`).
pub const MAX_UPWARD_QUEUE_SIZE: u32 = 1 << 20;
/// Downward queue slots kept for the relay chain's HRMP notices: XCM senders fill the queue
/// up to this many short of [`MAX_DOWNWARD_QUEUE_LEN`].
pub const DOWNWARD_NOTICE_ROOM: u32 = 4;
/// Base fee for delivering a downward message.
pub const DOWNWARD_FEE_BASE: Balance = UNIT / 100;
/// Fee per byte of a downward message.
pub const DOWNWARD_FEE_PER_BYTE: Balance = UNIT / 1_000_000;
/// The downward fee doubles with every this many messages already waiting for the para.
pub const DOWNWARD_FEE_STEP: u32 = 3;
/// Most overweight messages kept per para.
pub const MAX_OVERWEIGHT_PER_PARA: u32 = 64;
/// Deposit for keeping an overweight message, on top of [`OVERWEIGHT_DEPOSIT_PER_BYTE`].
pub const OVERWEIGHT_DEPOSIT_BASE: Balance = UNIT / 10;
/// Deposit per byte of a kept overweight message.
pub const OVERWEIGHT_DEPOSIT_PER_BYTE: Balance = UNIT / 10_000;
/// The account holding overweight deposits until their messages run.
pub const OVERWEIGHT_DEPOSITS: AccountId =
    AccountId(*b"modl/ump/overweight\0\0\0\0\0\0\0\0\0\0\0\0\0");

/// A request to open a channel, waiting for the recipient.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct OpenRequest {
    /// Most messages the channel holds.
    pub max_capacity: u32,
    /// Largest message.
    pub max_message_size: u32,
}

/// Requests to open channels.
pub static HRMP_OPEN_REQUESTS: StorageMap<HrmpChannelId, OpenRequest> =
    StorageMap::new(HRMP, "OpenRequests");
/// Relay block up to which each para processed its inbound channels.
pub static HRMP_WATERMARKS: StorageMap<ParaId, BlockNumber> = StorageMap::new(HRMP, "Watermarks");
/// One para's upward queue: messages `first..next` wait, `bytes` long in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct UpwardQueue {
    /// Index of the oldest waiting message.
    pub first: u64,
    /// Index the next message gets.
    pub next: u64,
    /// Bytes of the waiting messages.
    pub bytes: u32,
}

impl UpwardQueue {
    /// Messages waiting.
    pub fn count(&self) -> u64 {
        self.next.saturating_sub(self.first)
    }
}

/// An upward message kept because it was too heavy to run automatically.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct OverweightMessage {
    /// Its sender.
    pub para: ParaId,
    /// The message.
    pub message: Vec<u8>,
    /// What its sender's sovereign account deposited for keeping it; returned when it runs.
    pub deposit: Balance,
}

/// Each para's upward queue bookkeeping.
pub static UPWARD_QUEUES: StorageMap<ParaId, UpwardQueue> = StorageMap::new(NAME, "UpwardQueues");
/// Upward messages waiting for weight, by sender and index.
pub static UPWARD_MESSAGES: StorageMap<(ParaId, u64), Vec<u8>> =
    StorageMap::new(NAME, "UpwardMessages");
/// Paras with upward messages waiting, in the order they are served.
pub static UPWARD_READY: StorageValue<Vec<ParaId>> = StorageValue::new(NAME, "UpwardReady");
/// Upward messages too heavy to run automatically, by index.
pub static OVERWEIGHT: StorageMap<u64, OverweightMessage> = StorageMap::new(NAME, "Overweight");
/// The next overweight index.
pub static OVERWEIGHT_COUNT: StorageValue<u64> = StorageValue::new(NAME, "OverweightCount");
/// How many overweight messages each para has kept.
pub static OVERWEIGHT_HELD: StorageMap<ParaId, u32> = StorageMap::new(NAME, "OverweightHeld");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        UPWARD_QUEUES.metadata_or_default(),
        UPWARD_MESSAGES.metadata(),
        UPWARD_READY.metadata_or_default(),
        OVERWEIGHT.metadata(),
        OVERWEIGHT_COUNT.metadata_or_default(),
        OVERWEIGHT_HELD.metadata_or_default(),
    ]
}

/// The storage of `Hrmp` (channels and their requests), described for clients.
pub fn hrmp_storage_metadata() -> Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    let mut entries = tessera_runtime::messaging::hrmp_storage_metadata();
    entries.push(HRMP_OPEN_REQUESTS.metadata());
    entries.push(HRMP_WATERMARKS.metadata_or_default());
    entries
}

/// Calls of `messaging`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Asks to open a channel from the calling para to `recipient`.
    #[codec(index = 0)]
    HrmpInitOpenChannel {
        /// The receiving para.
        recipient: ParaId,
        /// Most messages the channel holds.
        max_capacity: u32,
        /// Largest message.
        max_message_size: u32,
    },
    /// Accepts `sender`'s request to open a channel to the calling para; it opens at once.
    #[codec(index = 1)]
    HrmpAcceptOpenChannel {
        /// The sending para.
        sender: ParaId,
    },
    /// Closes a channel the calling para is an end of; its unprocessed messages are dropped.
    #[codec(index = 2)]
    HrmpCloseChannel {
        /// The channel.
        channel: HrmpChannelId,
    },
    /// Opens a channel at once (root).
    #[codec(index = 3)]
    ForceOpenHrmpChannel {
        /// The sending para.
        sender: ParaId,
        /// The receiving para.
        recipient: ParaId,
        /// Most messages the channel holds.
        max_capacity: u32,
        /// Largest message.
        max_message_size: u32,
    },
    /// Runs an overweight upward message with up to `weight_limit` (anyone signed, who pays
    /// for the weight in the call's fee, or root); its deposit goes back to its para.
    #[codec(index = 4)]
    ExecuteOverweight {
        /// Its index.
        index: u64,
        /// Most weight it may use.
        weight_limit: Weight,
    },
}

/// Events of `messaging`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A para asked to open a channel.
    #[codec(index = 0)]
    OpenChannelRequested {
        /// The channel.
        channel: HrmpChannelId,
        /// Its capacity.
        max_capacity: u32,
        /// Its largest message.
        max_message_size: u32,
    },
    /// A channel opened.
    #[codec(index = 1)]
    ChannelOpened {
        /// The channel.
        channel: HrmpChannelId,
    },
    /// A channel closed.
    #[codec(index = 2)]
    ChannelClosed {
        /// The channel.
        channel: HrmpChannelId,
    },
    /// An upward message was too heavy to run automatically.
    #[codec(index = 3)]
    OverweightEnqueued {
        /// The sender.
        para: ParaId,
        /// Its overweight index.
        index: u64,
        /// Its weight.
        weight: Weight,
    },
    /// Messages of an included candidate were queued: `upward` to run here, `horizontal` in
    /// channels.
    #[codec(index = 4)]
    MessagesQueued {
        /// The sender.
        para: ParaId,
        /// Upward messages.
        upward: u32,
        /// Horizontal messages.
        horizontal: u32,
    },
    /// An overweight upward message was dropped: its para already keeps
    /// [`MAX_OVERWEIGHT_PER_PARA`] or its sovereign account could not pay the deposit.
    #[codec(index = 5)]
    OverweightDiscarded {
        /// The sender.
        para: ParaId,
        /// Its weight.
        weight: Weight,
        /// The deposit it needed.
        deposit: Balance,
    },
    /// An overweight upward message ran and its deposit went back to its para.
    #[codec(index = 6)]
    OverweightExecuted {
        /// Its overweight index.
        index: u64,
        /// The sender.
        para: ParaId,
    },
}

/// Why a candidate's message commitments are not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    /// It claims more downward messages than were queued.
    #[error("processed {processed} downward messages of {queued} queued")]
    TooManyProcessed {
        /// Claimed.
        processed: u32,
        /// Queued.
        queued: u32,
    },
    /// Too many or too large upward messages.
    #[error("upward messages exceed {MAX_UPWARD_MESSAGES_PER_CANDIDATE} or {MAX_UPWARD_MESSAGE_SIZE} bytes")]
    UpwardLimits,
    /// The para's upward queue on the relay chain has no room for them.
    #[error("the para's upward queue has no room for these messages ({MAX_UPWARD_QUEUE_COUNT} messages, {MAX_UPWARD_QUEUE_SIZE} bytes)")]
    UpwardQueueFull,
    /// Too many horizontal messages.
    #[error("more than {MAX_HORIZONTAL_MESSAGES_PER_CANDIDATE} horizontal messages")]
    TooManyHorizontal,
    /// A horizontal message to a para without an open channel, too large, or over capacity.
    #[error("horizontal message to para {0} does not fit an open channel")]
    NoRoom(u32),
    /// The watermark goes back or past the relay parent.
    #[error(
        "HRMP watermark {watermark} is before {last} or after the relay parent {relay_parent}"
    )]
    BadWatermark {
        /// The candidate's watermark.
        watermark: BlockNumber,
        /// The last one.
        last: BlockNumber,
        /// The relay parent.
        relay_parent: BlockNumber,
    },
}

tessera_runtime::module_error! {
    /// Errors of `messaging`.
    pub enum Error for NAME {
        /// A para cannot open a channel to itself.
        ChannelToSelf,
        /// The para is not registered.
        UnknownPara,
        /// The channel exists or is requested already.
        ChannelExists,
        /// The channel's capacity or message size is zero or above the configured limit.
        BadCapacity,
        /// The message is larger than the route accepts.
        BadMessageSize,
        /// The recipient has as many inbound channels as it may.
        TooManyInboundChannels,
        /// There is no such channel.
        NoChannel,
        /// There is no request to open that channel.
        NoOpenRequest,
        /// No overweight message has that index.
        UnknownOverweight,
        /// The weight limit is below what the message needs.
        WeightLimitTooLow,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

/// The para whose sovereign account `who` is (`b"para" ++ id ++ zeros`), as XCM `Transact`
/// from that para with `SovereignAccount` dispatches.
pub fn para_of(who: &AccountId) -> Option<ParaId> {
    let (tag, rest) = who.0.split_first_chunk::<4>()?;
    let (id, zeros) = rest.split_first_chunk::<4>()?;
    (tag == b"para" && zeros.iter().all(|byte| *byte == 0)).then(|| ParaId(u32::from_le_bytes(*id)))
}

/// A downward XCM message with one HRMP notification.
fn notification(instruction: Instruction) -> Vec<u8> {
    VersionedXcm::V5(Xcm(vec![instruction])).encode()
}

/// The fee for delivering a downward message of `len` bytes to `para` now: base plus bytes,
/// doubled for every [`DOWNWARD_FEE_STEP`] messages already waiting, so that keeping a para's
/// queue full costs more the fuller it is.
pub fn downward_fee(
    state: &mut State<'_>,
    para: ParaId,
    len: usize,
) -> tessera_runtime::Result<Balance> {
    let waiting = DOWNWARD_QUEUES.get_or_default(state, &para)?.len() as u32;
    let doublings = waiting.checked_div(DOWNWARD_FEE_STEP).unwrap_or_default();
    Ok(DOWNWARD_FEE_PER_BYTE
        .saturating_mul(len as Balance)
        .saturating_add(DOWNWARD_FEE_BASE)
        .saturating_mul(1u128.checked_shl(doublings).unwrap_or(u128::MAX)))
}

/// Appends an XCM `message` to the downward queue of `para`, leaving
/// [`DOWNWARD_NOTICE_ROOM`] for the relay chain's notices.
pub fn queue_downward<E>(
    ctx: &mut Context<'_, E>,
    para: ParaId,
    message: Vec<u8>,
) -> tessera_runtime::Result<Result<(), tessera_xcm::v5::Error>> {
    let room = MAX_DOWNWARD_QUEUE_LEN.saturating_sub(DOWNWARD_NOTICE_ROOM);
    append_downward(ctx, para, message, room)
}

/// Appends `message` to the downward queue of `para` if it holds fewer than `room`.
fn append_downward<E>(
    ctx: &mut Context<'_, E>,
    para: ParaId,
    message: Vec<u8>,
    room: u32,
) -> tessera_runtime::Result<Result<(), tessera_xcm::v5::Error>> {
    use tessera_xcm::v5::Error as XcmError;
    if paras::PARAS.get(&mut ctx.state, &para)?.is_none() {
        return Ok(Err(XcmError::Unroutable));
    }
    if message.len() > MAX_DOWNWARD_MESSAGE_SIZE as usize {
        return Ok(Err(XcmError::ExceedsMaxMessageSize));
    }
    let mut queue = DOWNWARD_QUEUES.get_or_default(&mut ctx.state, &para)?;
    if queue.len() >= room as usize {
        return Ok(Err(XcmError::Transport));
    }
    let sent_at = ctx.block_number;
    let head = DOWNWARD_QUEUE_HEADS.get_or_default(&mut ctx.state, &para)?;
    DOWNWARD_QUEUE_HEADS.insert(
        &mut ctx.state,
        &para,
        &extend_head(&head, sent_at, &message),
    );
    queue.push(InboundDownwardMessage {
        sent_at,
        msg: message,
    });
    DOWNWARD_QUEUES.insert(&mut ctx.state, &para, &queue);
    Ok(Ok(()))
}

/// Whether `commitments` of a candidate of `para` built on relay block `relay_parent` may be
/// backed given the current state.
pub fn check_commitments(
    state: &mut State<'_>,
    para: ParaId,
    commitments: &CandidateCommitments,
    relay_parent: BlockNumber,
) -> tessera_runtime::Result<Result<(), CommitmentError>> {
    let queued = DOWNWARD_QUEUES.get_or_default(state, &para)?.len() as u32;
    if commitments.processed_downward_messages > queued {
        return Ok(Err(CommitmentError::TooManyProcessed {
            processed: commitments.processed_downward_messages,
            queued,
        }));
    }
    let upward = &commitments.upward_messages;
    if upward.len() > MAX_UPWARD_MESSAGES_PER_CANDIDATE as usize
        || upward
            .iter()
            .any(|message| message.len() > MAX_UPWARD_MESSAGE_SIZE as usize)
    {
        return Ok(Err(CommitmentError::UpwardLimits));
    }
    // Messages are never dropped after their sender committed them: a full queue refuses
    // the candidate instead, and the para sends them again later. Only this para's own
    // backlog counts, so one para's flood never refuses another's candidates.
    if !upward.is_empty() {
        let queue = UPWARD_QUEUES.get_or_default(state, &para)?;
        let count = queue.count().saturating_add(upward.len() as u64);
        let bytes = upward.iter().fold(u64::from(queue.bytes), |sum, message| {
            sum.saturating_add(message.len() as u64)
        });
        if count > u64::from(MAX_UPWARD_QUEUE_COUNT) || bytes > u64::from(MAX_UPWARD_QUEUE_SIZE) {
            return Ok(Err(CommitmentError::UpwardQueueFull));
        }
    }
    if commitments.horizontal_messages.len() > MAX_HORIZONTAL_MESSAGES_PER_CANDIDATE as usize {
        return Ok(Err(CommitmentError::TooManyHorizontal));
    }
    let mut added: Vec<(ParaId, u32)> = Vec::new();
    for message in &commitments.horizontal_messages {
        let recipient = message.recipient;
        let channel = HRMP_CHANNELS.get(
            state,
            &HrmpChannelId {
                sender: para,
                recipient,
            },
        )?;
        let count = match added.iter_mut().find(|(to, _)| *to == recipient) {
            Some((_, count)) => {
                *count = count.saturating_add(1);
                *count
            }
            None => {
                added.push((recipient, 1));
                1
            }
        };
        let fits = channel.is_some_and(|channel| {
            message.data.len() <= channel.max_message_size as usize
                && channel.msg_count.saturating_add(count) <= channel.max_capacity
        });
        if !fits {
            return Ok(Err(CommitmentError::NoRoom(recipient.0)));
        }
    }
    let last = HRMP_WATERMARKS.get_or_default(state, &para)?;
    if commitments.hrmp_watermark < last || commitments.hrmp_watermark > relay_parent {
        return Ok(Err(CommitmentError::BadWatermark {
            watermark: commitments.hrmp_watermark,
            last,
            relay_parent,
        }));
    }
    Ok(Ok(()))
}

/// Applies the message commitments of an included candidate of `para` (checked by
/// [`check_commitments`] when it was backed).
pub fn enact<E: XcmRuntime + From<Event>>(
    ctx: &mut Context<'_, E>,
    para: ParaId,
    commitments: &CandidateCommitments,
) -> Result<(), CallError> {
    // Downward messages it processed.
    let processed = commitments.processed_downward_messages as usize;
    if processed > 0 {
        let mut queue = DOWNWARD_QUEUES.get_or_default(&mut ctx.state, &para)?;
        queue.drain(..processed.min(queue.len()));
        if queue.is_empty() {
            DOWNWARD_QUEUES.remove(&mut ctx.state, &para);
        } else {
            DOWNWARD_QUEUES.insert(&mut ctx.state, &para, &queue);
        }
    }
    // Horizontal messages it processed, up to its watermark.
    let watermark = commitments.hrmp_watermark;
    for sender in HRMP_INGRESS.get_or_default(&mut ctx.state, &para)? {
        let id = HrmpChannelId {
            sender,
            recipient: para,
        };
        let mut contents = HRMP_CONTENTS.get_or_default(&mut ctx.state, &id)?;
        let before = contents.len();
        contents.retain(|message| message.sent_at > watermark);
        if contents.len() == before {
            continue;
        }
        if let Some(mut channel) = HRMP_CHANNELS.get(&mut ctx.state, &id)? {
            channel.msg_count = contents.len() as u32;
            channel.total_size = contents.iter().map(|m| m.data.len() as u32).sum();
            HRMP_CHANNELS.insert(&mut ctx.state, &id, &channel);
        }
        HRMP_CONTENTS.insert(&mut ctx.state, &id, &contents);
    }
    HRMP_WATERMARKS.insert(&mut ctx.state, &para, &watermark);
    // Horizontal messages it sent.
    let now = ctx.block_number;
    for message in &commitments.horizontal_messages {
        let id = HrmpChannelId {
            sender: para,
            recipient: message.recipient,
        };
        let Some(mut channel) = HRMP_CHANNELS.get(&mut ctx.state, &id)? else {
            // Closed since the candidate was backed: the message is dropped with the channel.
            continue;
        };
        let mut contents = HRMP_CONTENTS.get_or_default(&mut ctx.state, &id)?;
        contents.push(InboundHrmpMessage {
            sent_at: now,
            data: message.data.clone(),
        });
        channel.msg_count = channel.msg_count.saturating_add(1);
        channel.total_size = channel.total_size.saturating_add(message.data.len() as u32);
        channel.mqc_head = extend_head(&channel.mqc_head, now, &message.data);
        HRMP_CHANNELS.insert(&mut ctx.state, &id, &channel);
        HRMP_CONTENTS.insert(&mut ctx.state, &id, &contents);
    }
    // Upward messages: queued, then run within a block's budget. `check_commitments` saw
    // room when the candidate was backed, and only inclusions add to the queue.
    if !commitments.upward_messages.is_empty() {
        let mut queue = UPWARD_QUEUES.get_or_default(&mut ctx.state, &para)?;
        if queue.count() == 0 {
            let mut ready = UPWARD_READY.get_or_default(&mut ctx.state)?;
            push_unique(&mut ready, para);
            UPWARD_READY.put(&mut ctx.state, &ready);
        }
        for message in &commitments.upward_messages {
            UPWARD_MESSAGES.insert(&mut ctx.state, &(para, queue.next), message);
            queue.next = queue.next.saturating_add(1);
            queue.bytes = queue.bytes.saturating_add(message.len() as u32);
        }
        UPWARD_QUEUES.insert(&mut ctx.state, &para, &queue);
    }
    ctx.deposit_event(Event::MessagesQueued {
        para,
        upward: commitments.upward_messages.len() as u32,
        horizontal: commitments.horizontal_messages.len() as u32,
    });
    Ok(())
}

/// Runs queued upward messages within [`UPWARD_WEIGHT_PER_BLOCK`]: one message of each
/// waiting para in turn, each para's oldest first.
pub fn process_upward<E: XcmRuntime + From<Event>>(
    ctx: &mut Context<'_, E>,
) -> Result<(), CallError> {
    let mut ready = UPWARD_READY.get_or_default(&mut ctx.state)?;
    let mut budget = UPWARD_WEIGHT_PER_BLOCK;
    // A para's turn comes round while it has messages and the budget lasts; one whose next
    // message does not fit stays first, so the next block begins with it.
    while let Some(&para) = ready.first() {
        let mut queue = UPWARD_QUEUES.get_or_default(&mut ctx.state, &para)?;
        let key = (para, queue.first);
        let Some(message) = UPWARD_MESSAGES.get(&mut ctx.state, &key)? else {
            // Nothing left (cannot happen while the bookkeeping holds): stop serving it.
            UPWARD_QUEUES.remove(&mut ctx.state, &para);
            ready.remove(0);
            continue;
        };
        let weight = match VersionedXcm::decode_limited(&message) {
            Ok(VersionedXcm::V5(xcm)) => executor::weigh::<ChainConfig<E>>(&xcm)
                .map(|weight| weight.ref_time)
                .unwrap_or(0),
            // Refused at once, with an event saying why.
            Err(_) => 0,
        };
        let needs = if weight > MAX_UPWARD_MESSAGE_WEIGHT {
            UPWARD_MESSAGE_BASE_WEIGHT
        } else {
            weight.saturating_add(UPWARD_MESSAGE_BASE_WEIGHT)
        };
        if needs > budget {
            break;
        }
        UPWARD_MESSAGES.remove(&mut ctx.state, &key);
        queue.first = queue.first.saturating_add(1);
        queue.bytes = queue.bytes.saturating_sub(message.len() as u32);
        ready.remove(0);
        if queue.count() == 0 {
            UPWARD_QUEUES.remove(&mut ctx.state, &para);
        } else {
            UPWARD_QUEUES.insert(&mut ctx.state, &para, &queue);
            ready.push(para);
        }
        budget = budget.saturating_sub(UPWARD_MESSAGE_BASE_WEIGHT);
        if weight > MAX_UPWARD_MESSAGE_WEIGHT {
            keep_overweight(ctx, para, message, weight)?;
            continue;
        }
        let limit = XcmWeight::from_parts(weight, UPWARD_PROOF_SIZE);
        let (_, outcome) =
            tessera_xcm::module::receive(ctx, Location::child_para(para.0), &message, limit)?;
        // A refused message costs only its base; one that ran costs what it used.
        budget = budget.saturating_sub(outcome.used().ref_time);
    }
    UPWARD_READY.put(&mut ctx.state, &ready);
    Ok(())
}

/// The deposit for keeping an overweight message of `len` bytes.
pub fn overweight_deposit(len: usize) -> Balance {
    OVERWEIGHT_DEPOSIT_PER_BYTE
        .saturating_mul(len as Balance)
        .saturating_add(OVERWEIGHT_DEPOSIT_BASE)
}

/// Keeps an overweight `message` of `para` for [`Call::ExecuteOverweight`], paid by a deposit
/// from the para's sovereign account, or discards it if the para keeps too many or cannot pay.
fn keep_overweight<E: XcmRuntime + From<Event>>(
    ctx: &mut Context<'_, E>,
    para: ParaId,
    message: Vec<u8>,
    weight: Weight,
) -> Result<(), CallError> {
    let deposit = overweight_deposit(message.len());
    let held = OVERWEIGHT_HELD.get_or_default(&mut ctx.state, &para)?;
    let paid = held < MAX_OVERWEIGHT_PER_PARA && {
        ctx.state.start_transaction();
        let moved = balances::transfer(
            ctx,
            &sovereign_account(para),
            &OVERWEIGHT_DEPOSITS,
            deposit,
            Existence::AllowDeath,
        );
        match moved {
            Ok(()) => {
                ctx.state.commit_transaction()?;
                true
            }
            Err(CallError::Dispatch(_)) => {
                ctx.state.rollback_transaction()?;
                false
            }
            Err(error) => {
                let _ = ctx.state.rollback_transaction();
                return Err(error);
            }
        }
    };
    if !paid {
        ctx.deposit_event(Event::OverweightDiscarded {
            para,
            weight,
            deposit,
        });
        return Ok(());
    }
    let index = OVERWEIGHT_COUNT.get_or_default(&mut ctx.state)?;
    OVERWEIGHT.insert(
        &mut ctx.state,
        &index,
        &OverweightMessage {
            para,
            message,
            deposit,
        },
    );
    OVERWEIGHT_COUNT.put(&mut ctx.state, &index.saturating_add(1));
    OVERWEIGHT_HELD.insert(&mut ctx.state, &para, &held.saturating_add(1));
    ctx.deposit_event(Event::OverweightEnqueued {
        para,
        index,
        weight,
    });
    Ok(())
}

/// The sovereign account of `para` on the relay chain, the inverse of [`para_of`].
pub fn sovereign_account(para: ParaId) -> AccountId {
    let mut id = [0u8; 32];
    for (byte, from) in id
        .iter_mut()
        .zip(b"para".iter().chain(&para.0.to_le_bytes()))
    {
        *byte = *from;
    }
    AccountId(id)
}

fn notify<E>(
    ctx: &mut Context<'_, E>,
    para: ParaId,
    instruction: Instruction,
) -> Result<(), CallError> {
    // Notices may use the room XCM senders leave. One that still cannot be queued (four
    // channel changes before the para's next block) is dropped: the channel's state is what
    // counts, and paras read it from the relay state.
    let _ = append_downward(ctx, para, notification(instruction), MAX_DOWNWARD_QUEUE_LEN)?;
    Ok(())
}

/// Adds `para` at the end of `list` unless it is in it.
fn push_unique(list: &mut Vec<ParaId>, para: ParaId) {
    if !list.contains(&para) {
        list.push(para);
    }
}

fn add_sorted(list: &mut Vec<ParaId>, para: ParaId) {
    if let Err(position) = list.binary_search(&para) {
        list.insert(position, para);
    }
}

/// Opens channel `id` now.
pub fn open_channel<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    id: HrmpChannelId,
    max_capacity: u32,
    max_message_size: u32,
) -> CallResult {
    if id.sender == id.recipient {
        return Err(error(Error::ChannelToSelf));
    }
    for para in [id.sender, id.recipient] {
        if paras::PARAS.get(&mut ctx.state, &para)?.is_none() {
            return Err(error(Error::UnknownPara));
        }
    }
    if HRMP_CHANNELS.get(&mut ctx.state, &id)?.is_some() {
        return Err(error(Error::ChannelExists));
    }
    if max_capacity == 0 || max_capacity > MAX_HRMP_CHANNEL_CAPACITY {
        return Err(error(Error::BadCapacity));
    }
    if max_message_size == 0 || max_message_size > MAX_HRMP_MESSAGE_SIZE {
        return Err(error(Error::BadMessageSize));
    }
    let mut ingress = HRMP_INGRESS.get_or_default(&mut ctx.state, &id.recipient)?;
    if ingress.len() >= MAX_INBOUND_CHANNELS as usize {
        return Err(error(Error::TooManyInboundChannels));
    }
    HRMP_OPEN_REQUESTS.remove(&mut ctx.state, &id);
    HRMP_CHANNELS.insert(
        &mut ctx.state,
        &id,
        &HrmpChannel {
            max_capacity,
            max_message_size,
            opened_at: ctx.block_number,
            ..HrmpChannel::default()
        },
    );
    add_sorted(&mut ingress, id.sender);
    HRMP_INGRESS.insert(&mut ctx.state, &id.recipient, &ingress);
    let mut egress = HRMP_EGRESS.get_or_default(&mut ctx.state, &id.sender)?;
    add_sorted(&mut egress, id.recipient);
    HRMP_EGRESS.insert(&mut ctx.state, &id.sender, &egress);
    ctx.deposit_event(Event::ChannelOpened { channel: id });
    Ok(())
}

fn close_channel<E: From<Event>>(ctx: &mut Context<'_, E>, id: HrmpChannelId) -> CallResult {
    if HRMP_CHANNELS.get(&mut ctx.state, &id)?.is_none() {
        return Err(error(Error::NoChannel));
    }
    HRMP_CHANNELS.remove(&mut ctx.state, &id);
    HRMP_CONTENTS.remove(&mut ctx.state, &id);
    let mut ingress = HRMP_INGRESS.get_or_default(&mut ctx.state, &id.recipient)?;
    ingress.retain(|para| *para != id.sender);
    HRMP_INGRESS.insert(&mut ctx.state, &id.recipient, &ingress);
    let mut egress = HRMP_EGRESS.get_or_default(&mut ctx.state, &id.sender)?;
    egress.retain(|para| *para != id.recipient);
    HRMP_EGRESS.insert(&mut ctx.state, &id.sender, &egress);
    ctx.deposit_event(Event::ChannelClosed { channel: id });
    Ok(())
}

fn calling_para(origin: &Origin) -> Result<ParaId, CallError> {
    let who = origin.ensure_signed()?;
    para_of(who).ok_or_else(|| DispatchError::BadOrigin.into())
}

impl<E: XcmRuntime + From<Event>> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        match self {
            Call::ExecuteOverweight { weight_limit, .. } => weight_limit.saturating_add(10_000_000),
            _ => 50_000_000,
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        match self {
            Call::HrmpInitOpenChannel {
                recipient,
                max_capacity,
                max_message_size,
            } => {
                let sender = calling_para(&origin)?;
                let id = HrmpChannelId { sender, recipient };
                if sender == recipient {
                    return Err(error(Error::ChannelToSelf));
                }
                if paras::PARAS.get(&mut ctx.state, &recipient)?.is_none() {
                    return Err(error(Error::UnknownPara));
                }
                if HRMP_CHANNELS.get(&mut ctx.state, &id)?.is_some()
                    || HRMP_OPEN_REQUESTS.get(&mut ctx.state, &id)?.is_some()
                {
                    return Err(error(Error::ChannelExists));
                }
                if max_capacity == 0 || max_capacity > MAX_HRMP_CHANNEL_CAPACITY {
                    return Err(error(Error::BadCapacity));
                }
                if max_message_size == 0 || max_message_size > MAX_HRMP_MESSAGE_SIZE {
                    return Err(error(Error::BadMessageSize));
                }
                HRMP_OPEN_REQUESTS.insert(
                    &mut ctx.state,
                    &id,
                    &OpenRequest {
                        max_capacity,
                        max_message_size,
                    },
                );
                notify(
                    ctx,
                    recipient,
                    Instruction::HrmpNewChannelOpenRequest {
                        sender: sender.0,
                        max_message_size,
                        max_capacity,
                    },
                )?;
                ctx.deposit_event(Event::OpenChannelRequested {
                    channel: id,
                    max_capacity,
                    max_message_size,
                });
                Ok(())
            }
            Call::HrmpAcceptOpenChannel { sender } => {
                let recipient = calling_para(&origin)?;
                let id = HrmpChannelId { sender, recipient };
                let request = HRMP_OPEN_REQUESTS
                    .get(&mut ctx.state, &id)?
                    .ok_or_else(|| error(Error::NoOpenRequest))?;
                open_channel(ctx, id, request.max_capacity, request.max_message_size)?;
                notify(
                    ctx,
                    sender,
                    Instruction::HrmpChannelAccepted {
                        recipient: recipient.0,
                    },
                )
            }
            Call::HrmpCloseChannel { channel } => {
                let initiator = calling_para(&origin)?;
                let other = if initiator == channel.sender {
                    channel.recipient
                } else if initiator == channel.recipient {
                    channel.sender
                } else {
                    return Err(DispatchError::BadOrigin.into());
                };
                close_channel(ctx, channel)?;
                notify(
                    ctx,
                    other,
                    Instruction::HrmpChannelClosing {
                        initiator: initiator.0,
                        sender: channel.sender.0,
                        recipient: channel.recipient.0,
                    },
                )
            }
            Call::ForceOpenHrmpChannel {
                sender,
                recipient,
                max_capacity,
                max_message_size,
            } => {
                origin.ensure_root()?;
                open_channel(
                    ctx,
                    HrmpChannelId { sender, recipient },
                    max_capacity,
                    max_message_size,
                )
            }
            Call::ExecuteOverweight {
                index,
                weight_limit,
            } => {
                // Anyone may run it: a signed caller pays for `weight_limit` in its fee.
                if !matches!(origin, Origin::Root | Origin::Signed(_)) {
                    return Err(DispatchError::BadOrigin.into());
                }
                let OverweightMessage {
                    para,
                    message,
                    deposit,
                } = OVERWEIGHT
                    .get(&mut ctx.state, &index)?
                    .ok_or_else(|| error(Error::UnknownOverweight))?;
                let limit = XcmWeight::from_parts(weight_limit, UPWARD_PROOF_SIZE);
                let (_, outcome) = tessera_xcm::module::receive(
                    ctx,
                    Location::child_para(para.0),
                    &message,
                    limit,
                )?;
                if let Outcome::Error {
                    error: tessera_xcm::v5::Error::WeightLimitReached(_),
                } = outcome
                {
                    return Err(error(Error::WeightLimitTooLow));
                }
                OVERWEIGHT.remove(&mut ctx.state, &index);
                let held = OVERWEIGHT_HELD.get_or_default(&mut ctx.state, &para)?;
                match held.saturating_sub(1) {
                    0 => OVERWEIGHT_HELD.remove(&mut ctx.state, &para),
                    left => OVERWEIGHT_HELD.insert(&mut ctx.state, &para, &left),
                }
                balances::transfer(
                    ctx,
                    &OVERWEIGHT_DEPOSITS,
                    &sovereign_account(para),
                    deposit,
                    Existence::AllowDeath,
                )?;
                ctx.deposit_event(Event::OverweightExecuted { index, para });
                Ok(())
            }
        }
    }
}

/// The messages a candidate of a para built on a relay block receives (the parachain host
/// API's answer).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct InboundMessages {
    /// Its downward messages, oldest first.
    pub downward: Vec<InboundDownwardMessage>,
    /// Messages of each inbound channel, by sender in ascending order, oldest first.
    pub horizontal: Vec<(ParaId, Vec<InboundHrmpMessage>)>,
}

/// What a collator of `para` puts in its block built on relay block `relay_parent` (whose
/// state is in `store`): the messages waiting for it ([`inbound_messages`]) and the proof
/// they must match ([`relay_state_proof`]).
pub fn relay_inputs(
    store: &dyn NodeStore,
    relay_parent: &Header,
    para: ParaId,
) -> tessera_runtime::Result<RelayInputs> {
    let messages = inbound_messages(&mut State::new(store, relay_parent.state_root), para)?;
    relay_inputs_with(store, relay_parent, para, messages)
}

/// [`relay_inputs`] with the `messages` read elsewhere (from the relay runtime's
/// `ParachainHost_inbound_messages`, as a collator asks them).
pub fn relay_inputs_with(
    store: &dyn NodeStore,
    relay_parent: &Header,
    para: ParaId,
    messages: InboundMessages,
) -> tessera_runtime::Result<RelayInputs> {
    let root = relay_parent.state_root;
    Ok(RelayInputs {
        relay_parent_number: relay_parent.number,
        relay_parent_storage_root: root,
        relay_state_proof: relay_state_proof(store, root, para)?,
        downward_messages: messages.downward,
        horizontal_messages: messages.horizontal,
    })
}

/// The messages waiting for `para`'s candidate built on the relay block whose state is
/// `state`. One built on the candidate pending availability (see
/// [`crate::inclusion::persisted_validation_data`]) gets only the messages that candidate
/// left: the downward messages after those it processed, and horizontal ones sent after its
/// watermark.
pub fn inbound_messages(
    state: &mut State<'_>,
    para: ParaId,
) -> tessera_runtime::Result<InboundMessages> {
    let (processed, watermark) = match crate::inclusion::PENDING.get(state, &para)? {
        Some(pending) => (
            pending.commitments.processed_downward_messages as usize,
            Some(pending.commitments.hrmp_watermark),
        ),
        None => (0, None),
    };
    let mut downward = DOWNWARD_QUEUES.get_or_default(state, &para)?;
    downward.drain(..processed.min(downward.len()));
    let mut horizontal = Vec::new();
    for sender in HRMP_INGRESS.get_or_default(state, &para)? {
        let id = HrmpChannelId {
            sender,
            recipient: para,
        };
        let mut messages = HRMP_CONTENTS.get_or_default(state, &id)?;
        if let Some(watermark) = watermark {
            messages.retain(|message| message.sent_at > watermark);
        }
        if !messages.is_empty() {
            horizontal.push((sender, messages));
        }
    }
    Ok(InboundMessages {
        downward,
        horizontal,
    })
}

/// The proof of the relay state `para`'s block checks its inputs against, at state root
/// `root`: its downward queue head, its scheduled upgrade (its go-ahead) or one under check, its
/// channel lists and each of those channels. These keys are the contract between the relay runtime and para
/// runtimes (Polkadot's well-known keys), so a collator reads them by key.
fn relay_state_proof(
    store: &dyn NodeStore,
    root: Hash,
    para: ParaId,
) -> tessera_runtime::Result<tessera_runtime::state::StorageProof> {
    let mut proven = State::new(store, root).record_proof();
    DOWNWARD_QUEUE_HEADS.get(&mut proven, &para)?;
    tessera_runtime::parachain::PARA_UPGRADES.get(&mut proven, &para)?;
    tessera_runtime::parachain::PARA_UPGRADE_CHECKS.get(&mut proven, &para)?;
    for sender in HRMP_INGRESS.get_or_default(&mut proven, &para)? {
        let id = HrmpChannelId {
            sender,
            recipient: para,
        };
        HRMP_CHANNELS.get(&mut proven, &id)?;
    }
    for recipient in HRMP_EGRESS.get_or_default(&mut proven, &para)? {
        HRMP_CHANNELS.get(
            &mut proven,
            &HrmpChannelId {
                sender: para,
                recipient,
            },
        )?;
    }
    Ok(proven.commit()?.proof.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_para_sovereign_account_is_the_one_xcm_derives_and_para_of_inverts() {
        for id in [0, 1000, 2004, u32::MAX] {
            let account = sovereign_account(ParaId(id));
            assert_eq!(para_of(&account), Some(ParaId(id)));
            let from_xcm = tessera_xcm::module::account_of(&Location::child_para(id));
            assert_eq!(Some(account), from_xcm);
        }
    }
}
