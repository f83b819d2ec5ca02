//! The paras registry: registration by root or genesis, code stored once by hash with a size
//! limit, delayed code upgrades, deregistration.

use std::collections::BTreeMap;
use tessera_relay_chain::paras::{
    self, HeadData, ParaId, ValidationCode, MAX_CODE_SIZE, UPGRADE_DELAY,
};
use tessera_relay_chain::{inclusion, Call, ChainSpec, Event, GenesisPara, HexBytes, RelayRuntime};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::{CallError, Context, Dispatch, DispatchError, Origin};
use tessera_runtime::executive::Runtime;
use tessera_runtime::state::State;
use tessera_runtime::Hash;

fn store_of(spec: &ChainSpec) -> (BTreeMap<Hash, Vec<u8>>, Hash) {
    let genesis = spec.build_genesis().unwrap();
    let store = genesis.state.new_nodes.iter().cloned().collect();
    (store, genesis.header.state_root)
}

fn call(ctx: &mut Context<'_, Event>, origin: Origin, call: paras::Call) -> Result<(), CallError> {
    Dispatch::<Event>::dispatch(Call::Paras(call), ctx, origin)
}

fn module_error(error: paras::Error) -> CallError {
    tessera_relay_chain::dispatch_error(error).into()
}

fn code(byte: u8) -> ValidationCode {
    ValidationCode(vec![byte; 100])
}

#[test]
fn register_upgrade_and_deregister() {
    let (store, root) = store_of(&ChainSpec::dev());
    let state = State::new(&store, root);
    let mut ctx = Context::<Event>::new(state, 5, RelayRuntime::CONFIG);
    let register = |id, c| paras::Call::Register {
        id: ParaId(id),
        genesis_head: HeadData(vec![id as u8]),
        code: c,
    };

    // Only root registers.
    let alice = Origin::Signed(Pair::dev("Alice").public());
    assert_eq!(
        call(&mut ctx, alice, register(1000, code(1))),
        Err(DispatchError::BadOrigin.into())
    );
    call(&mut ctx, Origin::Root, register(1000, code(1))).unwrap();
    call(&mut ctx, Origin::Root, register(1001, code(1))).unwrap();
    assert_eq!(
        call(&mut ctx, Origin::Root, register(1000, code(2))),
        Err(module_error(paras::Error::AlreadyRegistered))
    );
    let too_big = ValidationCode(vec![0; MAX_CODE_SIZE + 1]);
    assert_eq!(
        call(&mut ctx, Origin::Root, register(1002, too_big)),
        Err(module_error(paras::Error::CodeTooLarge))
    );
    // One copy of the shared code, two references.
    let hash = code(1).hash();
    assert_eq!(
        paras::CODE_REFS.get(&mut ctx.state, &hash).unwrap(),
        Some(2)
    );
    assert_eq!(
        paras::para_ids(&mut ctx.state).unwrap(),
        vec![ParaId(1000), ParaId(1001)]
    );

    // An upgrade takes effect UPGRADE_DELAY blocks later.
    let upgrade = paras::Call::ScheduleCodeUpgrade {
        id: ParaId(1000),
        code: code(3),
    };
    call(&mut ctx, Origin::Root, upgrade.clone()).unwrap();
    assert_eq!(
        call(&mut ctx, Origin::Root, upgrade),
        Err(module_error(paras::Error::UpgradePending))
    );
    let at = 5 + UPGRADE_DELAY;
    let before = paras::para_at(&mut ctx.state, ParaId(1000), at - 1)
        .unwrap()
        .unwrap();
    let after = paras::para_at(&mut ctx.state, ParaId(1000), at)
        .unwrap()
        .unwrap();
    assert_eq!(before.code_hash, hash);
    assert_eq!(after.code_hash, code(3).hash());
    assert!(paras::code(&mut ctx.state, &code(3).hash())
        .unwrap()
        .is_some());

    // Enacted by the first call touching the para at or after that block.
    let (state, _) = ctx.into_parts();
    let mut ctx = Context::<Event>::new(state, at, RelayRuntime::CONFIG);
    paras::enact_due_upgrade(&mut ctx, ParaId(1000)).unwrap();
    assert!(ctx.events().iter().any(|r| r.event
        == Event::Paras(paras::Event::CodeUpgraded {
            id: ParaId(1000),
            code_hash: code(3).hash()
        })));
    assert_eq!(
        paras::CODE_REFS.get(&mut ctx.state, &hash).unwrap(),
        Some(1)
    );

    // Deregistering releases the code with its last reference.
    call(
        &mut ctx,
        Origin::Root,
        paras::Call::Deregister { id: ParaId(1001) },
    )
    .unwrap();
    assert!(paras::code(&mut ctx.state, &hash).unwrap().is_none());
    assert_eq!(paras::para_ids(&mut ctx.state).unwrap(), vec![ParaId(1000)]);
    assert_eq!(
        call(
            &mut ctx,
            Origin::Root,
            paras::Call::Deregister { id: ParaId(1001) }
        ),
        Err(module_error(paras::Error::NotRegistered))
    );
}

#[test]
fn genesis_registers_paras_from_the_chain_spec() {
    let mut spec = ChainSpec::dev();
    spec.genesis.paras = vec![GenesisPara {
        id: 2000,
        head: HexBytes(vec![0xab; 4]),
        code: HexBytes(b"\0asm wasm blob".to_vec()),
    }];
    let json = spec.to_json();
    assert!(json.contains("\"code\": \"0x0061736d"), "{json}");
    let parsed = ChainSpec::from_json(&json).unwrap();
    assert_eq!(parsed, spec);
    let (store, root) = store_of(&parsed);
    let mut state = State::new(&store, root);
    let info = paras::para_at(&mut state, ParaId(2000), 0)
        .unwrap()
        .unwrap();
    assert_eq!(info.head, HeadData(vec![0xab; 4]));
    let code = paras::code(&mut state, &info.code_hash).unwrap().unwrap();
    assert_eq!(code.0, b"\0asm wasm blob");

    let bad = json.replace("\"code\": \"0x", "\"code\": \"0xzz");
    let err = ChainSpec::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("genesis.paras[0].code"), "{err}");
    let mut twice = spec.clone();
    twice.genesis.paras.push(twice.genesis.paras[0].clone());
    let err = ChainSpec::from_json(&twice.to_json())
        .unwrap_err()
        .to_string();
    assert!(err.contains("genesis.paras[1].id"), "{err}");
}

#[test]
fn root_replaces_a_paras_own_upgrade_unless_a_block_that_switched_may_be_pending() {
    let (store, root) = store_of(&ChainSpec::dev());
    let at = 5 + UPGRADE_DELAY;
    let scheduled_by_para = |now| {
        let mut ctx = Context::<Event>::new(State::new(&store, root), 5, RelayRuntime::CONFIG);
        let register = paras::Call::Register {
            id: ParaId(1000),
            genesis_head: HeadData(vec![0]),
            code: code(1),
        };
        call(&mut ctx, Origin::Root, register).unwrap();
        paras::schedule_code_upgrade(&mut ctx, ParaId(1000), code(2), true).unwrap();
        let (state, _) = ctx.into_parts();
        Context::<Event>::new(state, now, RelayRuntime::CONFIG)
    };
    let by_root = paras::Call::ScheduleCodeUpgrade {
        id: ParaId(1000),
        code: code(3),
    };

    // Up to the upgrade's block no para block can have switched: root's replaces it.
    let mut ctx = scheduled_by_para(at);
    call(&mut ctx, Origin::Root, by_root.clone()).unwrap();
    assert_eq!(
        paras::PARA_UPGRADES
            .get(&mut ctx.state, &ParaId(1000))
            .unwrap(),
        None
    );
    let info = paras::PARAS
        .get(&mut ctx.state, &ParaId(1000))
        .unwrap()
        .unwrap();
    assert_eq!(info.pending.unwrap().code_hash, code(3).hash());
    assert_eq!(
        paras::CODE_REFS
            .get(&mut ctx.state, &code(2).hash())
            .unwrap(),
        None
    );

    // After it, a para block built on the upgrade's block may have switched: root waits for
    // this block's parachains inherent, which shows whether one is pending availability.
    let mut ctx = scheduled_by_para(at + 1);
    assert_eq!(
        call(&mut ctx, Origin::Root, by_root.clone()),
        Err(module_error(paras::Error::UpgradePending))
    );
    // And time alone does not enact the para's upgrade.
    let info = paras::para_at(&mut ctx.state, ParaId(1000), at + 5)
        .unwrap()
        .unwrap();
    assert_eq!(info.code_hash, code(1).hash());
    // None is (the para is stalled): root recovers it.
    inclusion::ENTERED.put(&mut ctx.state, &(at + 1));
    call(&mut ctx, Origin::Root, by_root).unwrap();
    let info = paras::PARAS
        .get(&mut ctx.state, &ParaId(1000))
        .unwrap()
        .unwrap();
    assert_eq!(info.pending.unwrap().code_hash, code(3).hash());
}
