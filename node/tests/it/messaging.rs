//! The message queues between the relay chain and a para: a para block must process exactly
//! the messages the relay chain queued for it, in order, proven against its relay parent;
//! skipping, reordering, inventing a message or leaving out part of the proof makes the block
//! invalid. The relay chain accepts a candidate's messages only within its channels' limits.

use crate::validation::Para;
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use tessera_node::validation::ValidationHost;
use tessera_relay_chain::inclusion::{self, PendingCandidate};
use tessera_relay_chain::messaging::{self, CommitmentError};
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, Event, GenesisPara, HexBytes, RelayRuntime};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::Context;
use tessera_runtime::executive::Runtime;
use tessera_runtime::messaging::RelayInputs;
use tessera_runtime::parachain::{
    CandidateCommitments, CandidateDescriptor, OutboundHrmpMessage, ParaGenesis,
};
use tessera_runtime::state::State;
use tessera_runtime::{Hash, Header};

const A: ParaId = ParaId(1000);
const B: ParaId = ParaId(1001);

/// A relay chain state with paras 1000 and 1001 and channels both ways.
struct Relay {
    nodes: BTreeMap<Hash, Vec<u8>>,
    header: Header,
}

impl Relay {
    fn new() -> Relay {
        let mut spec = ChainSpec::dev();
        for id in [A, B] {
            let head = ParaGenesis::dev(id).head::<TemplateRuntime>().unwrap();
            spec.genesis.paras.push(GenesisPara {
                id: id.0,
                head: HexBytes(head.0),
                code: HexBytes(template::WASM_BINARY.to_vec()),
            });
        }
        spec.genesis.open_all_channels();
        let genesis = spec.build_genesis().unwrap();
        Relay {
            nodes: genesis.state.new_nodes.into_iter().collect(),
            header: genesis.header,
        }
    }

    /// Runs `change` in the next relay block and makes it the head.
    fn block<T>(&mut self, change: impl FnOnce(&mut Context<'_, Event>) -> T) -> T {
        let number = self.header.number + 1;
        let state = State::new(&self.nodes, self.header.state_root);
        let mut ctx = Context::new(state, number, RelayRuntime::CONFIG);
        let result = change(&mut ctx);
        let (state, _) = ctx.into_parts();
        let changes = state.commit().unwrap();
        self.nodes.extend(changes.new_nodes);
        self.header = Header {
            parent_hash: self.header.hash(),
            number,
            state_root: changes.root,
            ..self.header.clone()
        };
        result
    }

    /// The para's relay inputs; the messages in them are what the relay runtime's Wasm says
    /// (`ParachainHost_inbound_messages`, which collators ask), checked against the native
    /// reading.
    fn inputs(&self, para: ParaId) -> RelayInputs {
        let inputs = messaging::relay_inputs(&self.nodes, &self.header, para).unwrap();
        let wasm = tessera_relay_chain::WASM_BINARY;
        let asked: Result<messaging::InboundMessages, String> = ValidationHost::shared()
            .unwrap()
            .query(
                tessera_runtime::hashing::blake2_256(wasm),
                || Ok(wasm.to_vec()),
                std::sync::Arc::new(self.nodes.clone()),
                self.header.state_root,
                tessera_relay_chain::runtime_api::INBOUND_MESSAGES,
                &para,
            )
            .unwrap();
        let asked = asked.unwrap();
        assert_eq!(asked.downward, inputs.downward_messages);
        assert_eq!(asked.horizontal, inputs.horizontal_messages);
        inputs
    }

    fn check(
        &self,
        para: ParaId,
        commitments: &CandidateCommitments,
    ) -> Result<(), CommitmentError> {
        let mut state = State::new(&self.nodes, self.header.state_root);
        messaging::check_commitments(&mut state, para, commitments, self.header.number).unwrap()
    }
}

/// A relay chain that queued two downward messages for 1000 and has one message from 1001
/// waiting in the channel to 1000.
fn relay_with_messages() -> Relay {
    let mut relay = Relay::new();
    relay.block(|ctx| {
        for message in [b"first".to_vec(), b"second".to_vec()] {
            messaging::queue_downward(ctx, A, message).unwrap().unwrap();
        }
        let sent = CandidateCommitments {
            horizontal_messages: vec![OutboundHrmpMessage {
                recipient: A,
                data: b"from 1001".to_vec(),
            }],
            ..CandidateCommitments::default()
        };
        messaging::enact(ctx, B, &sent).unwrap();
    });
    relay
}

fn refused(inputs: RelayInputs) -> String {
    Para::new().try_next_on(inputs, 0).unwrap_err()
}

#[test]
fn a_para_block_processes_exactly_the_queued_messages_in_order() {
    let relay = relay_with_messages();
    let inputs = relay.inputs(A);
    assert_eq!(inputs.downward_messages.len(), 2);
    assert_eq!(inputs.horizontal_messages.len(), 1);

    let (data, params) = Para::new().next_on(inputs.clone(), 0);
    let commitments = template::validate(params.clone()).unwrap();
    assert_eq!(commitments.processed_downward_messages, 2);
    assert_eq!(commitments.hrmp_watermark, relay.header.number);
    assert_eq!(data.block.extrinsics.len(), 1, "the inherent alone");
    assert_eq!(relay.check(A, &commitments), Ok(()));

    let mut skipped = inputs.clone();
    skipped.downward_messages.remove(0);
    assert!(refused(skipped).contains("DownwardMessagesMismatch"));
    let mut reordered = inputs.clone();
    reordered.downward_messages.swap(0, 1);
    assert!(refused(reordered).contains("DownwardMessagesMismatch"));
    let mut invented = inputs.clone();
    let mut extra = invented.downward_messages[1].clone();
    extra.msg = b"invented".to_vec();
    invented.downward_messages.push(extra);
    assert!(refused(invented).contains("DownwardMessagesMismatch"));
    let mut no_horizontal = inputs.clone();
    no_horizontal.horizontal_messages.clear();
    assert!(refused(no_horizontal).contains("HorizontalMessagesMismatch"));
    let mut forged_sender = inputs.clone();
    forged_sender.horizontal_messages[0].0 = ParaId(1005);
    assert!(refused(forged_sender).contains("HorizontalMessagesNotInChannels"));
    let mut short_proof = inputs.clone();
    short_proof.relay_state_proof.nodes.pop();
    assert!(refused(short_proof).contains("IncompleteRelayProof"));

    // A block validated against another relay parent than the one it proved is invalid.
    let mut other_parent = params.clone();
    other_parent.relay_parent_number += 1;
    assert!(template::validate(other_parent)
        .unwrap_err()
        .contains("not on the relay parent"));
}

#[test]
fn the_relay_chain_takes_only_messages_that_fit_and_prunes_what_was_processed() {
    let mut relay = relay_with_messages();
    let processed = CandidateCommitments {
        processed_downward_messages: 2,
        hrmp_watermark: relay.header.number,
        ..CandidateCommitments::default()
    };
    let too_many = CandidateCommitments {
        processed_downward_messages: 3,
        ..processed.clone()
    };
    assert!(matches!(
        relay.check(A, &too_many),
        Err(CommitmentError::TooManyProcessed { .. })
    ));
    let future = CandidateCommitments {
        hrmp_watermark: relay.header.number + 1,
        ..processed.clone()
    };
    assert!(matches!(
        relay.check(A, &future),
        Err(CommitmentError::BadWatermark { .. })
    ));
    let no_channel = CandidateCommitments {
        horizontal_messages: vec![OutboundHrmpMessage {
            recipient: ParaId(1005),
            data: vec![1],
        }],
        ..processed.clone()
    };
    assert_eq!(
        relay.check(A, &no_channel),
        Err(CommitmentError::NoRoom(1005))
    );
    let oversized = CandidateCommitments {
        horizontal_messages: vec![OutboundHrmpMessage {
            recipient: B,
            data: vec![0; tessera_relay_chain::DEFAULT_CHANNEL_MESSAGE_SIZE as usize + 1],
        }],
        ..processed.clone()
    };
    assert_eq!(
        relay.check(A, &oversized),
        Err(CommitmentError::NoRoom(B.0))
    );
    let over_capacity = CandidateCommitments {
        horizontal_messages: (0..=tessera_relay_chain::DEFAULT_CHANNEL_CAPACITY)
            .map(|i| OutboundHrmpMessage {
                recipient: B,
                data: vec![i as u8],
            })
            .collect(),
        ..processed.clone()
    };
    assert_eq!(
        relay.check(A, &over_capacity),
        Err(CommitmentError::NoRoom(B.0))
    );
    assert_eq!(relay.check(A, &processed), Ok(()));

    // Once included, the processed messages leave the queues; the heads stay.
    relay.block(|ctx| messaging::enact(ctx, A, &processed).unwrap());
    let after = relay.inputs(A);
    assert!(after.downward_messages.is_empty() && after.horizontal_messages.is_empty());
    // And the para's next block, having processed them, proves the same heads with no messages.
    let mut para = Para::new();
    let (data, _) = para.next_on(relay_with_messages().inputs(A), 0);
    para.apply(&data);
    para.next_on(after, 0);
}

/// Puts a candidate of `para` with `commitments` pending availability, as if backed now.
fn pend(ctx: &mut Context<'_, Event>, para: ParaId, commitments: CandidateCommitments) {
    let descriptor = CandidateDescriptor {
        para_id: para,
        relay_parent: Hash::default(),
        collator: Pair::dev("Ferdie").public(),
        persisted_validation_data_hash: Hash::default(),
        pov_hash: Hash::default(),
        erasure_root: Hash::default(),
        signature: tessera_runtime::Signature([0; 64]),
        para_head: commitments.head_data.hash(),
        validation_code_hash: Hash::default(),
    };
    let pending = PendingCandidate {
        hash: Hash([7; 32]),
        descriptor,
        commitments,
        backed_in: ctx.block_number,
        availability: vec![false; 4],
        backing: [0, 1]
            .map(|validator| inclusion::ValidityVote {
                validator,
                signature: tessera_runtime::Signature([0; 64]),
            })
            .to_vec(),
    };
    inclusion::PENDING.insert(&mut ctx.state, &para, &pending);
}

#[test]
fn a_block_built_on_a_pending_candidate_processes_only_the_messages_it_left() {
    let mut relay = relay_with_messages();
    let mut para = Para::new();
    let (first, params) = para.next_on(relay.inputs(A), 0);
    let first_commitments = template::validate(params).unwrap();
    para.apply(&first);

    // While the first block is pending availability, one more message arrives each way.
    relay.block(|ctx| {
        pend(ctx, A, first_commitments.clone());
        messaging::queue_downward(ctx, A, b"third".to_vec())
            .unwrap()
            .unwrap();
        let sent = CandidateCommitments {
            horizontal_messages: vec![OutboundHrmpMessage {
                recipient: A,
                data: b"later".to_vec(),
            }],
            ..CandidateCommitments::default()
        };
        messaging::enact(ctx, B, &sent).unwrap();
    });
    let inputs = relay.inputs(A);
    let downward: Vec<&[u8]> = inputs
        .downward_messages
        .iter()
        .map(|m| m.msg.as_slice())
        .collect();
    assert_eq!(downward, [b"third".as_slice()]);
    let horizontal: Vec<(ParaId, Vec<&[u8]>)> = inputs
        .horizontal_messages
        .iter()
        .map(|(from, messages)| (*from, messages.iter().map(|m| m.data.as_slice()).collect()))
        .collect();
    assert_eq!(horizontal, [(B, vec![b"later".as_slice()])]);

    // The block on the pending one takes exactly those: each message is processed once.
    let (_, params) = para.next_on(inputs, 0);
    let second_commitments = template::validate(params).unwrap();
    assert_eq!(second_commitments.processed_downward_messages, 1);
    assert_eq!(second_commitments.hrmp_watermark, relay.header.number);
    // The relay chain backs it in the block that includes the first.
    relay.block(|ctx| {
        inclusion::PENDING.remove(&mut ctx.state, &A);
        messaging::enact(ctx, A, &first_commitments).unwrap();
    });
    assert_eq!(relay.check(A, &second_commitments), Ok(()));
}

#[test]
fn a_block_sending_xcm_validates_in_wasm_as_natively() {
    use tessera_xcm::module::{self as xcm, account_location};
    use tessera_xcm::v5::{Asset, Assets, Location, WeightLimit};
    use tessera_xcm::{VersionedAssets, VersionedLocation};
    let relay = Relay::new();
    let mut para = Para::new();
    let genesis_hash = para.head.hash();
    let call = template::Call::PolkadotXcm(xcm::Call::TransferAssets {
        dest: VersionedLocation::V5(Location::sibling_para(B.0)),
        beneficiary: VersionedLocation::V5(account_location(&Pair::dev("Bob").public())),
        assets: VersionedAssets::V5(
            Assets::from_unsorted(vec![Asset::fungible(Location::here(), template::UNIT)]).unwrap(),
        ),
        fee_asset_item: 0,
        weight_limit: WeightLimit::Unlimited,
    });
    let xt = template::sign(&Pair::dev("Alice"), call, 0, genesis_hash);
    let (_, params) = para.try_next_with(relay.inputs(A), vec![xt]).unwrap();
    let native = template::validate(params.clone()).unwrap();
    assert_eq!(native.horizontal_messages.len(), 1, "the transfer went out");
    let wasm = crate::validation::validate(&crate::validation::host(), &params).unwrap();
    assert_eq!(wasm, native.head_data);
}

/// Dispatches `call` (a relay call or a module's) on the relay chain's next block as
/// `origin`; the call's result.
fn relay_call(
    relay: &mut Relay,
    origin: tessera_runtime::dispatch::Origin,
    call: impl tessera_runtime::dispatch::Dispatch<Event>,
) -> tessera_runtime::dispatch::CallResult {
    use tessera_runtime::dispatch::Dispatch;
    relay.block(|ctx| {
        ctx.state.start_transaction();
        let result = Dispatch::<Event>::dispatch(call, ctx, origin);
        if result.is_ok() {
            ctx.state.commit_transaction().unwrap();
        } else {
            ctx.state.rollback_transaction().unwrap();
        }
        result
    })
}

fn sovereign(para: ParaId) -> tessera_runtime::dispatch::Origin {
    let account = tessera_xcm::module::account_of(&tessera_xcm::v5::Location::child_para(para.0));
    tessera_runtime::dispatch::Origin::Signed(account.unwrap())
}

#[test]
fn paras_open_accept_and_close_channels_through_relay_calls_and_hear_of_them() {
    use tessera_runtime::messaging::{HrmpChannelId, HRMP_CHANNELS, HRMP_EGRESS, HRMP_INGRESS};
    let mut relay = Relay::new();
    let c = ParaId(1002);
    relay.block(|ctx| {
        let head = ParaGenesis::dev(c).head::<TemplateRuntime>().unwrap();
        let code = tessera_runtime::parachain::ValidationCode(template::WASM_BINARY.to_vec());
        tessera_relay_chain::paras::register(&mut ctx.state, c, head, code).unwrap();
    });
    let read = |relay: &Relay, f: &dyn Fn(&mut State<'_>) -> bool| {
        f(&mut State::new(&relay.nodes, relay.header.state_root))
    };
    let id = HrmpChannelId {
        sender: A,
        recipient: c,
    };
    let open = messaging::Call::HrmpInitOpenChannel {
        recipient: c,
        max_capacity: 4,
        max_message_size: 1_000,
    };
    // Only a para's sovereign account speaks for it, and within the limits.
    let alice = tessera_runtime::dispatch::Origin::Signed(Pair::dev("Alice").public());
    assert!(relay_call(&mut relay, alice, open.clone()).is_err());
    let too_big = messaging::Call::HrmpInitOpenChannel {
        recipient: c,
        max_capacity: 4,
        max_message_size: 10_000_000,
    };
    assert!(relay_call(&mut relay, sovereign(A), too_big).is_err());
    relay_call(&mut relay, sovereign(A), open.clone()).unwrap();
    assert!(
        relay_call(&mut relay, sovereign(A), open).is_err(),
        "asked twice"
    );
    // The recipient heard of it by downward message, and accepting opens the channel.
    assert_eq!(relay.inputs(c).downward_messages.len(), 1);
    assert!(relay_call(
        &mut relay,
        sovereign(B),
        messaging::Call::HrmpAcceptOpenChannel { sender: A }
    )
    .is_err());
    relay_call(
        &mut relay,
        sovereign(c),
        messaging::Call::HrmpAcceptOpenChannel { sender: A },
    )
    .unwrap();
    assert!(read(&relay, &|state| HRMP_CHANNELS
        .get(state, &id)
        .unwrap()
        .is_some_and(|ch| ch.max_capacity == 4)));
    assert!(read(&relay, &|state| HRMP_INGRESS
        .get_or_default(state, &c)
        .unwrap()
        == vec![A]));
    assert_eq!(
        relay.inputs(A).downward_messages.len(),
        1,
        "the sender heard it was accepted"
    );
    // The sender's next block can use it; the recipient's next block proves it.
    let (_, params) = Para::new().next_on(relay.inputs(A), 0);
    template::validate(params).unwrap();
    // Either end closes it; the other hears of it.
    let close = messaging::Call::HrmpCloseChannel { channel: id };
    assert!(relay_call(&mut relay, sovereign(B), close.clone()).is_err());
    relay_call(&mut relay, sovereign(c), close).unwrap();
    assert!(read(&relay, &|state| HRMP_CHANNELS
        .get(state, &id)
        .unwrap()
        .is_none()));
    assert!(read(&relay, &|state| !HRMP_EGRESS
        .get_or_default(state, &A)
        .unwrap()
        .contains(&c)));
    assert_eq!(
        relay.inputs(A).downward_messages.len(),
        2,
        "the sender heard it closed"
    );
}

/// An upward message from `para` whose weight is about `weight_limit` (that of the relay call
/// it carries), paid from the para's sovereign account so that it runs and uses its weight.
fn upward_weighing(para: ParaId, weight_limit: u64) -> Vec<u8> {
    use tessera_xcm::v5::{
        Asset, AssetFilter, Assets, DoubleEncoded, Instruction, Location, OriginKind, WeightLimit,
        WildAsset, Xcm,
    };
    use tessera_xcm::VersionedXcm;
    let call = tessera_relay_chain::Call::Messaging(messaging::Call::ExecuteOverweight {
        index: 99,
        weight_limit,
    });
    let fees = Asset::fungible(Location::here(), tessera_relay_chain::UNIT);
    VersionedXcm::V5(Xcm(vec![
        Instruction::WithdrawAsset(Assets::from_unsorted(vec![fees.clone()]).unwrap()),
        Instruction::BuyExecution {
            fees,
            weight_limit: WeightLimit::Unlimited,
        },
        Instruction::Transact {
            origin_kind: OriginKind::SovereignAccount,
            fallback_max_weight: None,
            call: DoubleEncoded {
                encoded: call.encode(),
            },
        },
        Instruction::DepositAsset {
            assets: AssetFilter::Wild(WildAsset::All),
            beneficiary: Location::child_para(para.0),
        },
    ]))
    .encode()
}

fn fund_sovereign(relay: &mut Relay, para: ParaId, funds: u128) {
    let account = messaging::sovereign_account(para);
    relay.block(|ctx| {
        tessera_runtime::modules::balances::force_set_balance(ctx, &account, funds).unwrap();
    });
}

fn read<T>(relay: &Relay, read: impl FnOnce(&mut State<'_>) -> T) -> T {
    let mut state = State::new(&relay.nodes, relay.header.state_root);
    read(&mut state)
}

fn waiting_upward(relay: &Relay, para: ParaId) -> u64 {
    read(relay, |state| {
        messaging::UPWARD_QUEUES
            .get_or_default(state, &para)
            .unwrap()
            .count()
    })
}

fn sovereign_balance(relay: &Relay, para: ParaId) -> u128 {
    free_balance(relay, &messaging::sovereign_account(para))
}

fn upward(messages: Vec<Vec<u8>>) -> CandidateCommitments {
    CandidateCommitments {
        upward_messages: messages,
        ..CandidateCommitments::default()
    }
}

#[test]
fn upward_messages_run_within_the_block_budget_and_heavy_ones_wait_paid_by_their_para() {
    use tessera_runtime::dispatch::Origin;
    let mut relay = Relay::new();
    let unit = tessera_relay_chain::UNIT;
    fund_sovereign(&mut relay, A, 100 * unit);
    let mut messages = vec![upward_weighing(A, 4_800_000_000); 5];
    let heavy = upward_weighing(A, 6_000_000_000);
    messages.push(heavy.clone());
    let sent = upward(messages);
    let overweight =
        |relay: &Relay| read(relay, |state| messaging::OVERWEIGHT.get(state, &0).unwrap());
    // Four fit the 20 ms budget; the fifth waits for the next block, and the heavy one behind it.
    relay.block(|ctx| {
        messaging::enact(ctx, A, &sent).unwrap();
        messaging::process_upward(ctx).unwrap();
    });
    assert_eq!(waiting_upward(&relay, A), 2);
    let before = sovereign_balance(&relay, A);
    relay.block(|ctx| messaging::process_upward(ctx).unwrap());
    assert_eq!(waiting_upward(&relay, A), 0);
    let deposit = messaging::overweight_deposit(heavy.len());
    let kept = overweight(&relay).expect("the heavy message is kept");
    assert_eq!(
        (kept.para, &kept.message, kept.deposit),
        (A, &heavy, deposit)
    );
    // The deposit came out of the para's sovereign account (beside the fifth message's fees).
    assert!(before - sovereign_balance(&relay, A) >= deposit);

    // Anyone may run it, with enough weight; its deposit goes back to the para.
    let run = |weight_limit| messaging::Call::ExecuteOverweight {
        index: 0,
        weight_limit,
    };
    let anyone = Origin::Signed(Pair::dev("Dave").public());
    assert!(relay_call(&mut relay, Origin::None, run(10_000_000_000)).is_err());
    assert!(relay_call(&mut relay, anyone.clone(), run(1_000)).is_err());
    assert!(overweight(&relay).is_some());
    let before = sovereign_balance(&relay, A);
    relay_call(&mut relay, anyone, run(10_000_000_000)).unwrap();
    assert_eq!(overweight(&relay), None);
    // Its call costs the para 1 UNIT of fees at most; the deposit came back.
    assert!(sovereign_balance(&relay, A) + unit >= before + deposit);
}

#[test]
fn overweight_messages_are_kept_only_while_their_para_pays_and_within_its_share() {
    let mut relay = Relay::new();
    let heavy = upward_weighing(A, 6_000_000_000);
    let deposit = messaging::overweight_deposit(heavy.len());
    let kept = |relay: &Relay| {
        read(relay, |state| {
            messaging::OVERWEIGHT_HELD
                .get_or_default(state, &A)
                .unwrap()
        })
    };
    let discarded = |events: &[Event]| {
        events
            .iter()
            .filter(|event| {
                matches!(
                    event,
                    Event::Messaging(messaging::Event::OverweightDiscarded { para: A, .. })
                )
            })
            .count()
    };
    // A para whose sovereign account cannot pay the deposit loses the message.
    let events = relay.block(|ctx| {
        messaging::enact(ctx, A, &upward(vec![heavy.clone()])).unwrap();
        messaging::process_upward(ctx).unwrap();
        ctx.events()
            .iter()
            .map(|r| r.event.clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(discarded(&events), 1);
    assert_eq!(kept(&relay), 0);
    assert_eq!(waiting_upward(&relay, A), 0, "nothing blocks the queue");

    // One that can pay keeps at most its share, whatever it holds.
    let share = messaging::MAX_OVERWEIGHT_PER_PARA;
    fund_sovereign(&mut relay, A, deposit * u128::from(share + 16));
    let mut dropped = 0;
    for _ in 0..(share + 16) / 16 {
        let events = relay.block(|ctx| {
            messaging::enact(ctx, A, &upward(vec![heavy.clone(); 16])).unwrap();
            messaging::process_upward(ctx).unwrap();
            ctx.events()
                .iter()
                .map(|r| r.event.clone())
                .collect::<Vec<_>>()
        });
        dropped += discarded(&events);
    }
    assert_eq!(kept(&relay), share);
    assert_eq!(dropped, 16);
    assert_eq!(
        sovereign_balance(&relay, A),
        deposit * 16,
        "the dropped ones cost nothing"
    );
}

#[test]
fn a_para_flooding_the_upward_queue_delays_only_itself() {
    let mut relay = Relay::new();
    fund_sovereign(&mut relay, A, 1_000 * tessera_relay_chain::UNIT);
    fund_sovereign(&mut relay, B, 1_000 * tessera_relay_chain::UNIT);
    // B fills its queue with messages that take a quarter of a block each.
    let flood = upward(vec![upward_weighing(B, 4_800_000_000); 16]);
    for _ in 0..4 {
        relay.block(|ctx| messaging::enact(ctx, B, &flood).unwrap());
    }
    assert_eq!(waiting_upward(&relay, B), 64);
    // A's one message runs in the next block all the same, between B's.
    relay.block(|ctx| {
        messaging::enact(ctx, A, &upward(vec![upward_weighing(A, 1_000_000_000)])).unwrap();
        messaging::process_upward(ctx).unwrap();
    });
    assert_eq!(waiting_upward(&relay, A), 0);
    assert!(waiting_upward(&relay, B) >= 60);
}

#[test]
fn a_candidate_whose_upward_messages_do_not_fit_its_para_queue_is_refused_not_truncated() {
    let mut relay = Relay::new();
    let full = messaging::UpwardQueue {
        first: 0,
        next: u64::from(messaging::MAX_UPWARD_QUEUE_COUNT),
        bytes: 0,
    };
    relay.block(|ctx| messaging::UPWARD_QUEUES.insert(&mut ctx.state, &B, &full));
    let one = upward(vec![vec![1]]);
    assert_eq!(relay.check(B, &one), Err(CommitmentError::UpwardQueueFull));
    assert_eq!(relay.check(B, &CandidateCommitments::default()), Ok(()));
    // Another para's queue is its own.
    assert_eq!(relay.check(A, &one), Ok(()));
    // Bytes count too.
    let large = messaging::UpwardQueue {
        first: 0,
        next: 1,
        bytes: messaging::MAX_UPWARD_QUEUE_SIZE,
    };
    relay.block(|ctx| messaging::UPWARD_QUEUES.insert(&mut ctx.state, &A, &large));
    assert_eq!(relay.check(A, &one), Err(CommitmentError::UpwardQueueFull));
}

#[test]
fn a_channel_closed_and_opened_again_starts_a_new_chain_the_recipient_follows() {
    let mut relay = Relay::new();
    let message_to_a = |relay: &mut Relay, data: &[u8]| {
        let sent = CandidateCommitments {
            horizontal_messages: vec![OutboundHrmpMessage {
                recipient: A,
                data: data.to_vec(),
            }],
            ..CandidateCommitments::default()
        };
        relay.block(|ctx| messaging::enact(ctx, B, &sent).unwrap());
    };
    let mut para = Para::new();
    let next = |relay: &Relay, para: &mut Para| {
        let (data, params) = para.next_on(relay.inputs(A), 0);
        let commitments = template::validate(params).unwrap();
        para.apply(&data);
        commitments
    };
    message_to_a(&mut relay, b"before");
    next(&relay, &mut para);
    let id = tessera_runtime::messaging::HrmpChannelId {
        sender: B,
        recipient: A,
    };
    relay_call(
        &mut relay,
        sovereign(A),
        messaging::Call::HrmpCloseChannel { channel: id },
    )
    .unwrap();
    let reopen = messaging::Call::ForceOpenHrmpChannel {
        sender: B,
        recipient: A,
        max_capacity: 4,
        max_message_size: 1_000,
    };
    relay_call(&mut relay, tessera_runtime::dispatch::Origin::Root, reopen).unwrap();
    message_to_a(&mut relay, b"after");
    // The para's next block proves the new channel from its zero head.
    let commitments = next(&relay, &mut para);
    assert_eq!(commitments.hrmp_watermark, relay.header.number);
}

fn free_balance(relay: &Relay, who: &tessera_runtime::AccountId) -> u128 {
    read(relay, |state| {
        tessera_runtime::modules::system::ACCOUNT
            .get(state, who)
            .unwrap()
            .map_or(0, |account| account.data.free)
    })
}

#[test]
fn downward_senders_pay_a_fee_that_rises_with_the_queue_and_leave_room_for_notices() {
    use tessera_runtime::dispatch::Origin;
    use tessera_xcm::module::Call as XcmCall;
    use tessera_xcm::v5::{Instruction, Location, Xcm};
    use tessera_xcm::{VersionedLocation, VersionedXcm};
    let mut relay = Relay::new();
    let dave = Pair::dev("Dave").public();
    let unit = tessera_relay_chain::UNIT;
    relay.block(|ctx| {
        tessera_runtime::modules::balances::force_set_balance(ctx, &dave, 100 * unit).unwrap();
    });
    let send = tessera_relay_chain::Call::PolkadotXcm(XcmCall::Send {
        dest: VersionedLocation::V5(Location::child_para(A.0)),
        message: VersionedXcm::V5(Xcm(vec![Instruction::ClearOrigin])),
    });
    let queued = |relay: &Relay| relay.inputs(A).downward_messages.len() as u32;
    let room = tessera_runtime::messaging::MAX_DOWNWARD_QUEUE_LEN - messaging::DOWNWARD_NOTICE_ROOM;
    let mut fees = Vec::new();
    for _ in 0..room {
        let before = free_balance(&relay, &dave);
        relay_call(&mut relay, Origin::Signed(dave), send.clone()).unwrap();
        fees.push(before - free_balance(&relay, &dave));
    }
    assert_eq!(queued(&relay), room);
    // The fee doubles every few messages waiting: keeping a queue full costs more and more.
    assert!(fees[0] >= messaging::DOWNWARD_FEE_BASE);
    let step = messaging::DOWNWARD_FEE_STEP as usize;
    assert_eq!(fees[step], 2 * fees[0]);
    assert_eq!(fees[room as usize - 1], 8 * fees[0]);
    // A full share refuses senders and takes nothing from them.
    let before = free_balance(&relay, &dave);
    assert!(relay_call(&mut relay, Origin::Signed(dave), send.clone()).is_err());
    assert_eq!(free_balance(&relay, &dave), before);
    // A sender who cannot pay is refused.
    let broke = Pair::dev("Eve").public();
    relay.block(|ctx| {
        tessera_runtime::modules::balances::force_set_balance(ctx, &broke, unit / 100).unwrap();
    });
    let drained = |relay: &mut Relay| {
        let processed = CandidateCommitments {
            processed_downward_messages: queued(relay),
            hrmp_watermark: relay.header.number,
            ..CandidateCommitments::default()
        };
        relay.block(|ctx| messaging::enact(ctx, A, &processed).unwrap());
    };
    drained(&mut relay);
    assert_eq!(
        relay_call(&mut relay, Origin::Signed(broke), send.clone()),
        Err(tessera_relay_chain::dispatch_error(tessera_xcm::module::Error::FeesNotMet).into())
    );

    // The relay chain's own notices still find room in a queue senders filled.
    for _ in 0..room {
        relay_call(&mut relay, Origin::Signed(dave), send.clone()).unwrap();
    }
    let closing = messaging::Call::HrmpCloseChannel {
        channel: tessera_runtime::messaging::HrmpChannelId {
            sender: B,
            recipient: A,
        },
    };
    relay_call(&mut relay, sovereign(B), closing).unwrap();
    assert_eq!(
        queued(&relay),
        room + 1,
        "A heard that B closed its channel"
    );
}

#[test]
fn a_transfer_to_a_para_pays_delivery_from_the_senders_account_not_from_the_assets_sent() {
    use tessera_runtime::dispatch::Origin;
    use tessera_xcm::module::Call as XcmCall;
    use tessera_xcm::v5::{Asset, Assets, Location, WeightLimit};
    use tessera_xcm::{VersionedAssets, VersionedLocation};
    let mut relay = Relay::new();
    let dave = Pair::dev("Dave").public();
    let unit = tessera_relay_chain::UNIT;
    relay.block(|ctx| {
        tessera_runtime::modules::balances::force_set_balance(ctx, &dave, 100 * unit).unwrap();
    });
    let a_sovereign = messaging::sovereign_account(A);
    let reserve_before = free_balance(&relay, &a_sovereign);
    let transfer = tessera_relay_chain::Call::PolkadotXcm(XcmCall::TransferAssets {
        dest: VersionedLocation::V5(Location::child_para(A.0)),
        beneficiary: VersionedLocation::V5(tessera_xcm::module::account_location(&dave)),
        assets: VersionedAssets::V5(
            Assets::from_unsorted(vec![Asset::fungible(Location::here(), 10 * unit)]).unwrap(),
        ),
        fee_asset_item: 0,
        weight_limit: WeightLimit::Unlimited,
    });
    relay_call(&mut relay, Origin::Signed(dave), transfer).unwrap();
    // All ten units reached the para's reserve account; the delivery fee came on top.
    assert_eq!(
        free_balance(&relay, &a_sovereign) - reserve_before,
        10 * unit
    );
    let paid = 100 * unit - free_balance(&relay, &dave);
    assert!(
        paid > 10 * unit + messaging::DOWNWARD_FEE_BASE - 1,
        "{paid}"
    );
    assert!(paid < 10 * unit + unit / 10, "{paid}");
}

#[test]
fn a_reserve_transfer_through_the_relay_to_another_para_arrives_when_nothing_is_left_for_delivery()
{
    use tessera_xcm::executor::Outcome;
    use tessera_xcm::v5::{
        Asset, AssetFilter, Assets, Instruction, Location, Weight as XcmWeight, WeightLimit,
        WildAsset, Xcm,
    };
    use tessera_xcm::VersionedXcm;
    let mut relay = Relay::new();
    let unit = tessera_relay_chain::UNIT;
    fund_sovereign(&mut relay, A, 100 * unit);
    // What para A's remote-reserve transfer of relay tokens to B runs on the relay chain: all
    // it withdrew, less execution, goes on to B, and nothing is left to pay delivery with.
    let fees = Asset::fungible(Location::here(), unit);
    let on_b = Xcm(vec![
        Instruction::BuyExecution {
            fees: Asset::fungible(Location::parent(), unit / 2),
            weight_limit: WeightLimit::Unlimited,
        },
        Instruction::DepositAsset {
            assets: AssetFilter::Wild(WildAsset::AllCounted(1)),
            beneficiary: tessera_xcm::module::account_location(&Pair::dev("Bob").public()),
        },
    ]);
    let message = VersionedXcm::V5(Xcm(vec![
        Instruction::WithdrawAsset(
            Assets::from_unsorted(vec![Asset::fungible(Location::here(), 10 * unit)]).unwrap(),
        ),
        Instruction::ClearOrigin,
        Instruction::BuyExecution {
            fees,
            weight_limit: WeightLimit::Unlimited,
        },
        Instruction::DepositReserveAsset {
            assets: AssetFilter::Wild(WildAsset::AllCounted(1)),
            dest: Location::child_para(B.0),
            xcm: on_b,
        },
    ]))
    .encode();
    let waiting = relay.inputs(B).downward_messages.len();
    let outcome = relay.block(|ctx| {
        let limit = XcmWeight::from_parts(10_000_000_000, 1 << 20);
        tessera_xcm::module::receive(ctx, Location::child_para(A.0), &message, limit)
            .unwrap()
            .1
    });
    assert!(matches!(outcome, Outcome::Complete { .. }), "{outcome:?}");
    assert_eq!(relay.inputs(B).downward_messages.len(), waiting + 1);
}
