//! `parachain_system`: a para's side of the relay chain.
//!
//! Every para block starts with the [`Call::SetRelayInputs`] inherent: its relay parent, a
//! proof of the relay state it relies on, and the downward and horizontal messages the relay
//! chain holds for the para. The inherent checks the proof against the relay parent's state
//! root, checks that the messages extend the para's last processed queue heads to exactly the
//! proven heads (see [`crate::messaging`]), and hands each message to the runtime
//! ([`ParachainRuntime`]). Messages the para sends wait in [`OUTPUTS`] until the block ends;
//! [`crate::parachain::validate_block`] turns them into the candidate's commitments, and checks
//! that the inherent's relay parent is the one the candidate is validated against.
//!
//! Code upgrades: `system.set_code` on a para calls [`schedule_code_upgrade`], which checks the
//! blob and keeps it in [`PENDING_CODE_BLOB`]; the block's candidate carries it to the relay
//! chain, whose validators check it ([`crate::parachain::PARA_UPGRADE_CHECKS`]) before it
//! schedules it ([`crate::parachain::PARA_UPGRADES`]); code they reject is no longer listed, and
//! the para drops it [`UPGRADE_SIGNAL_WAIT`] relay blocks after its block's relay parent. The
//! first block whose relay parent is at or after the scheduled block writes it under `:code`
//! (the relay chain enacts it when it includes that block), so the next block runs it on every
//! node and validator.

use crate::dispatch::{CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight};
use crate::messaging::{
    extend_head, HrmpChannel, HrmpChannelId, RelayInputs, DOWNWARD_QUEUE_HEADS, HRMP_CHANNELS,
    HRMP_EGRESS, HRMP_INGRESS, MAX_HORIZONTAL_MESSAGES_PER_CANDIDATE,
    MAX_UPWARD_MESSAGES_PER_CANDIDATE, MAX_UPWARD_MESSAGE_SIZE,
};
use crate::parachain::{OutboundHrmpMessage, ParaId, PARA_ID};
use crate::state::State;
use crate::storage::{StorageMap, StorageValue};
use crate::{BlockNumber, Hash};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "ParachainSystem";

/// Weight given to each received message (its execution may use up to this).
pub const MESSAGE_WEIGHT: Weight = 1_000_000_000;
const BASE_WEIGHT: Weight = 50_000_000;

/// What the current block commits to besides its head.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BlockOutputs {
    /// The para block these belong to.
    pub block: BlockNumber,
    /// The relay parent the inherent proved.
    pub relay_parent_number: BlockNumber,
    /// Its state root.
    pub relay_parent_storage_root: Hash,
    /// Messages to the relay chain.
    pub upward_messages: Vec<Vec<u8>>,
    /// Messages to siblings.
    pub horizontal_messages: Vec<OutboundHrmpMessage>,
    /// Downward messages processed.
    pub processed_downward_messages: u32,
    /// Relay block up to which horizontal messages were processed.
    pub hrmp_watermark: BlockNumber,
    /// Open outbound channels as of the relay parent.
    pub egress: Vec<(ParaId, HrmpChannel)>,
}

/// The current block's outputs.
pub static OUTPUTS: StorageValue<BlockOutputs> = StorageValue::new(NAME, "Outputs");
/// Head of the downward queue up to the last processed message.
pub static LAST_DOWNWARD_HEAD: StorageValue<Hash> = StorageValue::new(NAME, "LastDownwardHead");
/// What is known of the new code `set_code` accepted, waiting for the relay chain's go-ahead
/// (read by every block: the blob itself is apart, read only to send and to apply it).
pub static PENDING_CODE: StorageValue<PendingCode> = StorageValue::new(NAME, "PendingCode");
/// The block whose relay parent lists an upgrade of this para, if the latest does (no new
/// upgrade until it is done). Apart from [`OUTPUTS`], whose layout a new runtime must read.
pub static UPGRADE_LISTED_IN: StorageValue<BlockNumber> =
    StorageValue::new(NAME, "UpgradeListedIn");
/// The blob of [`PENDING_CODE`].
pub static PENDING_CODE_BLOB: StorageValue<Vec<u8>> = StorageValue::new(NAME, "PendingCodeBlob");

/// Relay blocks after the one a pending code's block was built on within which the relay
/// chain must list the upgrade (its candidate included) before the para drops it.
pub const UPGRADE_SIGNAL_WAIT: BlockNumber = 32;

/// Code waiting for the relay chain's go-ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PendingCode {
    /// The para block that accepted it (its candidate carries the code).
    pub block: BlockNumber,
    /// That block's relay parent.
    pub relay_parent_number: BlockNumber,
    /// The blob's hash.
    pub code_hash: Hash,
}

/// Head of each inbound channel up to the last processed message, with the relay block that
/// opened the channel (a reopened channel starts from the zero head).
pub static LAST_HRMP_HEADS: StorageMap<ParaId, (BlockNumber, Hash)> =
    StorageMap::new(NAME, "LastHrmpHeads");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<crate::metadata::StorageEntryMetadata> {
    alloc::vec![
        OUTPUTS.metadata(),
        LAST_DOWNWARD_HEAD.metadata_or_default(),
        PENDING_CODE.metadata(),
        UPGRADE_LISTED_IN.metadata(),
        PENDING_CODE_BLOB.metadata(),
        LAST_HRMP_HEADS.metadata(),
    ]
}

/// Calls of `parachain_system`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// The inherent: what the relay parent holds for this para.
    #[codec(index = 0)]
    SetRelayInputs {
        /// The relay parent's state and messages for this para.
        data: RelayInputs,
    },
}

/// Events of `parachain_system`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// The relay inputs of this block were checked and their messages handed on.
    #[codec(index = 0)]
    RelayInputsSet {
        /// The relay parent.
        relay_parent_number: BlockNumber,
        /// Downward messages received.
        downward: u32,
        /// Horizontal messages received.
        horizontal: u32,
    },
    /// The relay chain gave the go-ahead: the pending code is under `:code` from this block
    /// on, and runs the next block.
    #[codec(index = 1)]
    ValidationFunctionApplied {
        /// The relay parent that gave it.
        relay_parent_number: BlockNumber,
        /// The code's hash.
        code_hash: Hash,
    },
    /// The relay chain did not schedule the pending code (it refused it, or another upgrade
    /// was in the way): it is dropped, and `set_code` may be called again.
    #[codec(index = 2)]
    ValidationFunctionDiscarded {
        /// The code's hash.
        code_hash: Hash,
    },
}

/// What a para runtime does with the messages it receives.
pub trait ParachainRuntime: Sized {
    /// Handles `message` from the relay chain with at most `weight` (a failing message is
    /// recorded by the handler; only a state error fails the block).
    fn on_downward(
        ctx: &mut Context<'_, Self>,
        message: &[u8],
        weight: Weight,
    ) -> crate::Result<()>;

    /// Handles `message` from sibling `sender`, likewise.
    fn on_horizontal(
        ctx: &mut Context<'_, Self>,
        sender: ParaId,
        message: &[u8],
        weight: Weight,
    ) -> crate::Result<()>;
}

/// Why a message cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The block has no relay inputs yet (the inherent comes first).
    NoRelayInputs,
    /// Larger than the relay chain accepts on that route.
    TooLarge,
    /// This block already sends as many messages as a candidate may.
    TooMany,
    /// No open channel to that para.
    NoChannel,
    /// The channel is full.
    ChannelFull,
}

crate::module_error! {
    /// Errors of `parachain_system`.
    pub enum Error for NAME {
        /// The relay state proof lacks a value the block reads.
        IncompleteRelayProof,
        /// The relay inputs were already set in this block.
        AlreadySet,
        /// The relay parent is older than the last block's.
        RelayParentWentBack,
        /// The chain's para id is not set.
        NoParaId,
        /// A message was sent after the relay parent.
        MessageFromTheFuture,
        /// The downward messages do not chain to the relay chain's queue head.
        DownwardMessagesMismatch,
        /// A horizontal message comes from a para with no channel to this one.
        HorizontalMessagesNotInChannels,
        /// Horizontal messages are not ordered by sender and block.
        HorizontalMessagesOutOfOrder,
        /// The horizontal messages do not chain to the relay chain's channel heads.
        HorizontalMessagesMismatch,
        /// The relay chain enacted code this para does not hold.
        PendingCodeMissing,
        /// The block has no relay inputs yet (the inherent comes first).
        NoRelayInputs,
        /// A code upgrade is already pending.
        OverlappingUpgrades,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

/// Reads the relay state from the proof; a missing node is the proof's fault, not ours.
fn relay_read<T>(result: crate::Result<T>) -> Result<T, CallError> {
    result.map_err(|_| error(Error::IncompleteRelayProof))
}

impl<E: From<Event> + ParachainRuntime> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        let Call::SetRelayInputs { data: inputs } = self;
        let messages = inputs
            .horizontal_messages
            .iter()
            .map(|(_, messages)| messages.len())
            .fold(inputs.downward_messages.len(), usize::saturating_add);
        BASE_WEIGHT.saturating_add(MESSAGE_WEIGHT.saturating_mul(messages as Weight))
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        if origin != Origin::None {
            return Err(DispatchError::BadOrigin.into());
        }
        let Call::SetRelayInputs { data: inputs } = self;
        let now = ctx.block_number;
        let previous = OUTPUTS.get(&mut ctx.state)?;
        if previous
            .as_ref()
            .is_some_and(|outputs| outputs.block == now)
        {
            return Err(error(Error::AlreadySet));
        }
        if previous.is_some_and(|outputs| outputs.relay_parent_number > inputs.relay_parent_number)
        {
            return Err(error(Error::RelayParentWentBack));
        }
        let para = PARA_ID
            .get(&mut ctx.state)?
            .ok_or_else(|| error(Error::NoParaId))?;
        let store = inputs.relay_state_proof.into_store();
        let mut relay = State::new(&store, inputs.relay_parent_storage_root);

        // Downward: the messages must lead from our last head to the relay's.
        let mut head = LAST_DOWNWARD_HEAD.get_or_default(&mut ctx.state)?;
        for message in &inputs.downward_messages {
            if message.sent_at > inputs.relay_parent_number {
                return Err(error(Error::MessageFromTheFuture));
            }
            head = extend_head(&head, message.sent_at, &message.msg);
        }
        let relay_head = relay_read(DOWNWARD_QUEUE_HEADS.get_or_default(&mut relay, &para))?;
        if head != relay_head {
            return Err(error(Error::DownwardMessagesMismatch));
        }
        LAST_DOWNWARD_HEAD.put(&mut ctx.state, &head);

        // Horizontal: every inbound channel, with or without messages, must match.
        let ingress = relay_read(HRMP_INGRESS.get_or_default(&mut relay, &para))?;
        let senders: Vec<ParaId> = inputs
            .horizontal_messages
            .iter()
            .map(|(sender, _)| *sender)
            .collect();
        if senders.windows(2).any(|pair| pair.first() >= pair.get(1))
            || senders.iter().any(|sender| !ingress.contains(sender))
        {
            return Err(error(Error::HorizontalMessagesNotInChannels));
        }
        let mut received = 0u32;
        for sender in &ingress {
            let channel_id = HrmpChannelId {
                sender: *sender,
                recipient: para,
            };
            let channel = relay_read(HRMP_CHANNELS.get(&mut relay, &channel_id))?
                .ok_or_else(|| error(Error::IncompleteRelayProof))?;
            let mut head = match LAST_HRMP_HEADS.get(&mut ctx.state, sender)? {
                Some((opened_at, head)) if opened_at == channel.opened_at => head,
                _ => Hash::default(),
            };
            let messages = inputs
                .horizontal_messages
                .iter()
                .find(|(from, _)| from == sender)
                .map(|(_, messages)| messages.as_slice())
                .unwrap_or_default();
            let mut sent_at = 0;
            for message in messages {
                if message.sent_at > inputs.relay_parent_number || message.sent_at < sent_at {
                    return Err(error(Error::HorizontalMessagesOutOfOrder));
                }
                sent_at = message.sent_at;
                head = extend_head(&head, message.sent_at, &message.data);
                received = received.saturating_add(1);
            }
            if head != channel.mqc_head {
                return Err(error(Error::HorizontalMessagesMismatch));
            }
            LAST_HRMP_HEADS.insert(&mut ctx.state, sender, &(channel.opened_at, head));
        }

        let mut egress = Vec::new();
        for recipient in relay_read(HRMP_EGRESS.get_or_default(&mut relay, &para))? {
            let channel_id = HrmpChannelId {
                sender: para,
                recipient,
            };
            let channel = relay_read(HRMP_CHANNELS.get(&mut relay, &channel_id))?
                .ok_or_else(|| error(Error::IncompleteRelayProof))?;
            egress.push((recipient, channel));
        }
        if upgrade_go_ahead(ctx, &mut relay, para, inputs.relay_parent_number)? {
            UPGRADE_LISTED_IN.put(&mut ctx.state, &now);
        } else {
            UPGRADE_LISTED_IN.kill(&mut ctx.state);
        }
        let downward = inputs.downward_messages.len() as u32;
        OUTPUTS.put(
            &mut ctx.state,
            &BlockOutputs {
                block: now,
                relay_parent_number: inputs.relay_parent_number,
                relay_parent_storage_root: inputs.relay_parent_storage_root,
                processed_downward_messages: downward,
                hrmp_watermark: inputs.relay_parent_number,
                egress,
                ..BlockOutputs::default()
            },
        );
        ctx.deposit_event(Event::RelayInputsSet {
            relay_parent_number: inputs.relay_parent_number,
            downward,
            horizontal: received,
        });

        for message in &inputs.downward_messages {
            E::on_downward(ctx, &message.msg, MESSAGE_WEIGHT)?;
        }
        for (sender, messages) in &inputs.horizontal_messages {
            for message in messages {
                E::on_horizontal(ctx, *sender, &message.data, MESSAGE_WEIGHT)?;
            }
        }
        Ok(())
    }

    fn is_inherent(&self) -> bool {
        true
    }
}

/// Applies or drops the pending code as the relay parent's state (`relay`) says; returns
/// whether the relay parent lists an upgrade of this para (scheduled, or under check).
fn upgrade_go_ahead<E: From<Event>>(
    ctx: &mut Context<'_, E>,
    relay: &mut State<'_>,
    para: ParaId,
    relay_parent_number: BlockNumber,
) -> Result<bool, CallError> {
    let scheduled = relay_read(crate::parachain::PARA_UPGRADES.get(relay, &para))?;
    let checking = relay_read(crate::parachain::PARA_UPGRADE_CHECKS.get(relay, &para))?;
    let listed_any = scheduled.is_some() || checking.is_some();
    let Some(pending) = PENDING_CODE.get(&mut ctx.state)? else {
        return Ok(listed_any);
    };
    let code_hash = pending.code_hash;
    let listed = scheduled.filter(|upgrade| upgrade.code_hash == code_hash);
    match listed {
        // Validators are still checking it: the go-ahead, or its refusal, comes later.
        None if checking == Some(code_hash) => {}
        Some(upgrade) if relay_parent_number >= upgrade.at => {
            let code = PENDING_CODE_BLOB
                .get(&mut ctx.state)?
                .ok_or_else(|| error(Error::PendingCodeMissing))?;
            PENDING_CODE.kill(&mut ctx.state);
            PENDING_CODE_BLOB.kill(&mut ctx.state);
            ctx.state.set(crate::storage::CODE_KEY.to_vec(), code);
            ctx.deposit_event(Event::ValidationFunctionApplied {
                relay_parent_number,
                code_hash,
            });
        }
        // Listed: the go-ahead comes with a later relay parent.
        Some(_) => {}
        None if relay_parent_number
            > pending
                .relay_parent_number
                .saturating_add(UPGRADE_SIGNAL_WAIT) =>
        {
            PENDING_CODE.kill(&mut ctx.state);
            PENDING_CODE_BLOB.kill(&mut ctx.state);
            ctx.deposit_event(Event::ValidationFunctionDiscarded { code_hash });
        }
        None => {}
    }
    Ok(listed_any)
}

/// `system.set_code` on a para: checks `code` as a runtime that can follow this one (a valid
/// module importing only host functions, with every export nodes call, the same spec name
/// and a higher spec version, at most [`crate::parachain::MAX_UPGRADE_CODE_SIZE`] bytes) and
/// keeps it for this block's candidate, unless an upgrade is under way. Returns its hash.
pub fn schedule_code_upgrade<E>(
    ctx: &mut Context<'_, E>,
    code: Vec<u8>,
) -> Result<Hash, CallError> {
    let outputs = match outputs(ctx)? {
        Ok(outputs) => outputs,
        Err(_) => return Err(error(Error::NoRelayInputs)),
    };
    // One upgrade at a time: this para's earlier one is pending here or listed by the relay
    // parent (until the relay chain enacts it, it would refuse another).
    let listed = UPGRADE_LISTED_IN.get(&mut ctx.state)? == Some(ctx.block_number);
    if PENDING_CODE.get(&mut ctx.state)?.is_some() || listed {
        return Err(error(Error::OverlappingUpgrades));
    }
    crate::modules::system::check_upgrade(
        ctx,
        &code,
        crate::wasm::ChainKind::Para,
        crate::parachain::MAX_UPGRADE_CODE_SIZE,
    )?;
    let code_hash = crate::hashing::blake2_256(&code);
    PENDING_CODE.put(
        &mut ctx.state,
        &PendingCode {
            block: ctx.block_number,
            relay_parent_number: outputs.relay_parent_number,
            code_hash,
        },
    );
    PENDING_CODE_BLOB.put(&mut ctx.state, &code);
    Ok(code_hash)
}

/// The code this block's candidate carries to the relay chain, if `set_code` accepted some in
/// it (read from the block's post-state).
pub fn new_validation_code(
    state: &mut State<'_>,
    block: BlockNumber,
) -> crate::Result<Option<Vec<u8>>> {
    match PENDING_CODE.get(state)? {
        Some(pending) if pending.block == block => PENDING_CODE_BLOB.get(state),
        _ => Ok(None),
    }
}

fn outputs<E>(ctx: &mut Context<'_, E>) -> crate::Result<Result<BlockOutputs, SendError>> {
    Ok(match OUTPUTS.get(&mut ctx.state)? {
        Some(outputs) if outputs.block == ctx.block_number => Ok(outputs),
        _ => Err(SendError::NoRelayInputs),
    })
}

/// Queues `message` for the relay chain, to leave with this block's candidate.
pub fn send_upward<E>(
    ctx: &mut Context<'_, E>,
    message: Vec<u8>,
) -> crate::Result<Result<(), SendError>> {
    let mut outputs = match outputs(ctx)? {
        Ok(outputs) => outputs,
        Err(error) => return Ok(Err(error)),
    };
    if message.len() > MAX_UPWARD_MESSAGE_SIZE as usize {
        return Ok(Err(SendError::TooLarge));
    }
    if outputs.upward_messages.len() >= MAX_UPWARD_MESSAGES_PER_CANDIDATE as usize {
        return Ok(Err(SendError::TooMany));
    }
    outputs.upward_messages.push(message);
    OUTPUTS.put(&mut ctx.state, &outputs);
    Ok(Ok(()))
}

/// Queues `message` for sibling `recipient` over the open channel to it.
pub fn send_horizontal<E>(
    ctx: &mut Context<'_, E>,
    recipient: ParaId,
    message: Vec<u8>,
) -> crate::Result<Result<(), SendError>> {
    let mut outputs = match outputs(ctx)? {
        Ok(outputs) => outputs,
        Err(error) => return Ok(Err(error)),
    };
    let Some((_, channel)) = outputs.egress.iter().find(|(to, _)| *to == recipient) else {
        return Ok(Err(SendError::NoChannel));
    };
    if message.len() > channel.max_message_size as usize {
        return Ok(Err(SendError::TooLarge));
    }
    let queued = outputs
        .horizontal_messages
        .iter()
        .filter(|queued| queued.recipient == recipient)
        .count() as u32;
    if channel.msg_count.saturating_add(queued) >= channel.max_capacity {
        return Ok(Err(SendError::ChannelFull));
    }
    if outputs.horizontal_messages.len() >= MAX_HORIZONTAL_MESSAGES_PER_CANDIDATE as usize {
        return Ok(Err(SendError::TooMany));
    }
    outputs.horizontal_messages.push(OutboundHrmpMessage {
        recipient,
        data: message,
    });
    OUTPUTS.put(&mut ctx.state, &outputs);
    Ok(Ok(()))
}
