//! The message queues between the relay chain and a para: a para block must process exactly
//! the messages the relay chain queued for it, in order, proven against its relay parent;
//! skipping, reordering, inventing a message or leaving out part of the proof makes the block
//! invalid. The relay chain accepts a candidate's messages only within its channels' limits.

use crate::validation::Para;
use parachain_template_runtime::{self as template, TemplateRuntime};
use std::collections::BTreeMap;
use tessera_relay_chain::messaging::{self, CommitmentError};
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, Event, GenesisPara, HexBytes, RelayRuntime};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::Context;
use tessera_runtime::executive::Runtime;
use tessera_runtime::messaging::RelayInputs;
use tessera_runtime::parachain::{CandidateCommitments, OutboundHrmpMessage, ParaGenesis};
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

    fn inputs(&self, para: ParaId) -> RelayInputs {
        messaging::relay_inputs(&self.nodes, &self.header, para).unwrap()
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

#[test]
fn a_block_sending_xcm_validates_in_wasm_as_natively() {
    use tessera_xcm::module::{self as xcm, account_location};
    use tessera_xcm::v5::{Asset, Assets, Location, WeightLimit};
    use tessera_xcm::{VersionedAssets, VersionedLocation};
    let relay = Relay::new();
    let mut para = Para::new();
    let genesis_hash = para.head.hash();
    let call = template::Call::Xcm(xcm::Call::TransferAssets {
        dest: VersionedLocation::V5(Location::sibling_para(B.0)),
        beneficiary: VersionedLocation::V5(account_location(&Pair::dev("Bob").public())),
        assets: VersionedAssets::V5(
            Assets::from_unsorted(vec![Asset::fungible(Location::here(), template::UNIT)]).unwrap(),
        ),
        fee_asset_index: 0,
        weight_limit: WeightLimit::Unlimited,
    });
    let xt = template::sign(&Pair::dev("Alice"), call, 0, genesis_hash);
    let (_, params) = para.try_next_with(relay.inputs(A), vec![xt]).unwrap();
    let native = template::validate(params.clone()).unwrap();
    assert_eq!(native.horizontal_messages.len(), 1, "the transfer went out");
    let wasm = crate::validation::validate(&crate::validation::host(), &params).unwrap();
    assert_eq!(wasm, native.head_data);
}
