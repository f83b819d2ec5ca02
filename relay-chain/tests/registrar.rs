//! Onboarding paras without root on real relay blocks: reserve an id, register head and code
//! with deposits, onboarding after the delay, deregistration by the manager or root with every
//! deposit returned, and what a caller must not be able to do.

use tessera_relay_chain::paras::{self, HeadData, ParaId, ValidationCode};
use tessera_relay_chain::registrar::{
    self, data_deposit, Event as RegistrarEvent, ONBOARDING_DELAY, PARA_ID_DEPOSIT, POT,
};
use tessera_relay_chain::{Call, Event, RelayRuntime};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::DispatchError;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::modules::{balances, sudo, system};
use tessera_runtime::parachain::{build_block, sign};

mod support;

use support::Relay;

/// The registrar's side of [`Relay`].
trait Registrar {
    /// Applies `call` signed by `name` in a block of its own: the registrar's events, or the
    /// error it failed with.
    fn call(&mut self, name: &str, call: Call) -> Result<Vec<RegistrarEvent>, DispatchError>;
    /// The registered paras.
    fn para_ids(&self) -> Vec<ParaId>;
}

impl Registrar for Relay {
    fn call(&mut self, name: &str, call: Call) -> Result<Vec<RegistrarEvent>, DispatchError> {
        self.dispatch(name, call)
            .map(|events| registrar_events(&events))
    }

    fn para_ids(&self) -> Vec<ParaId> {
        paras::para_ids(&mut self.state()).unwrap()
    }
}

fn registrar_events(events: &[Event]) -> Vec<RegistrarEvent> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Registrar(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn module_error(error: registrar::Error) -> DispatchError {
    tessera_relay_chain::dispatch_error(error)
}

fn register(id: ParaId, head: Vec<u8>, code: Vec<u8>) -> Call {
    Call::Registrar(registrar::Call::Register {
        id,
        genesis_head: HeadData(head),
        code: ValidationCode(code),
    })
}

fn deregister(id: ParaId) -> Call {
    Call::Registrar(registrar::Call::Deregister { id })
}

const RESERVE: Call = Call::Registrar(registrar::Call::Reserve);

#[test]
fn any_account_onboards_a_para_after_the_delay_and_gets_every_deposit_back() {
    let mut relay = Relay::new();
    let bob = Pair::dev("Bob").public();

    // Ids are handed out in turn from 2000, each for a deposit held by the registrar.
    assert_eq!(
        relay.call("Bob", RESERVE),
        Ok(vec![RegistrarEvent::Reserved {
            id: ParaId(2000),
            manager: bob
        }])
    );
    assert_eq!(relay.free(&POT), PARA_ID_DEPOSIT);
    let reserved = relay.call("Charlie", RESERVE).unwrap();
    assert!(matches!(
        reserved[..],
        [RegistrarEvent::Reserved {
            id: ParaId(2001),
            ..
        }]
    ));

    // Only the manager registers its id; the code and head are paid for by the byte.
    let (head, code) = (vec![7u8; 40], vec![1u8; 5_000]);
    assert_eq!(
        relay.call(
            "Charlie",
            register(ParaId(2000), head.clone(), code.clone())
        ),
        Err(module_error(registrar::Error::NotManager))
    );
    assert_eq!(
        relay.call("Bob", register(ParaId(1999), head.clone(), code.clone())),
        Err(module_error(registrar::Error::NotReserved))
    );
    let before = relay.free(&bob);
    let registered = relay
        .call("Bob", register(ParaId(2000), head.clone(), code.clone()))
        .unwrap();
    let at = relay.head.number + ONBOARDING_DELAY;
    assert_eq!(
        registered,
        [RegistrarEvent::Registered {
            id: ParaId(2000),
            manager: bob,
            at
        }]
    );
    let data = data_deposit(head.len() + code.len());
    assert_eq!(relay.free(&bob), before - data - relay.fee_paid(&bob));
    assert_eq!(relay.free(&POT), 2 * PARA_ID_DEPOSIT + data);
    assert_eq!(
        relay.call("Bob", register(ParaId(2000), head.clone(), code.clone())),
        Err(module_error(registrar::Error::AlreadyRegistered))
    );

    // Onboarded by the inherent of block `at`: a core from the next block on.
    while relay.head.number + 1 < at {
        assert!(registrar_events(&relay.block(vec![])).is_empty());
        assert!(!relay.para_ids().contains(&ParaId(2000)));
    }
    let events = relay.block(vec![]);
    assert_eq!(
        registrar_events(&events),
        [RegistrarEvent::Onboarded { id: ParaId(2000) }]
    );
    assert!(relay.para_ids().contains(&ParaId(2000)));
    let info = paras::PARAS
        .get(&mut relay.state(), &ParaId(2000))
        .unwrap()
        .unwrap();
    assert_eq!(
        (info.head, info.code_hash),
        (HeadData(head), ValidationCode(code).hash())
    );

    // Only its manager (or root) deregisters it; the manager gets both deposits back.
    assert_eq!(
        relay.call("Charlie", deregister(ParaId(2000))),
        Err(DispatchError::BadOrigin)
    );
    let before = relay.free(&bob);
    let refunded = PARA_ID_DEPOSIT + data;
    assert_eq!(
        relay.call("Bob", deregister(ParaId(2000))),
        Ok(vec![RegistrarEvent::Deregistered {
            id: ParaId(2000),
            refunded
        }])
    );
    assert_eq!(relay.free(&bob), before + refunded - relay.fee_paid(&bob));
    assert!(!relay.para_ids().contains(&ParaId(2000)));
    assert!(paras::PARAS
        .get(&mut relay.state(), &ParaId(2000))
        .unwrap()
        .is_none());

    // Root releases a reservation too, refunding its manager; the pot is then empty (reaped),
    // and the issuance only ever lost the fees (burnt: these blocks have no author).
    let charlie = Pair::dev("Charlie").public();
    let before = relay.free(&charlie);
    let by_root = Call::Sudo(sudo::Call::Sudo {
        call: Box::new(deregister(ParaId(2001))),
    });
    relay.call("Alice", by_root).unwrap();
    assert_eq!(relay.free(&charlie), before + PARA_ID_DEPOSIT);
    assert_eq!(relay.free(&POT), 0);
    assert_eq!(
        relay.issuance(),
        Relay::new().issuance() - relay.fees,
        "nothing minted or burnt but the fees"
    );

    // A freed id is not handed out again: nodes keep a para's chain under its id.
    let reserved = relay.call("Dave", RESERVE).unwrap();
    assert!(matches!(
        reserved[..],
        [RegistrarEvent::Reserved {
            id: ParaId(2002),
            ..
        }]
    ));
}

#[test]
fn bad_registrations_are_refused_and_leave_the_state_as_it_was() {
    let mut relay = Relay::new();
    relay.call("Bob", RESERVE).unwrap();
    let id = ParaId(2000);
    let head = || vec![0u8; 8];
    let cases = [
        (register(id, head(), vec![]), registrar::Error::EmptyCode),
        (
            register(id, head(), vec![1; paras::MAX_CODE_SIZE + 1]),
            registrar::Error::CodeTooLarge,
        ),
        (
            register(id, vec![0; paras::MAX_HEAD_SIZE + 1], vec![1; 10]),
            registrar::Error::HeadTooLarge,
        ),
    ];
    for (call, error) in cases {
        let pot = relay.free(&POT);
        assert_eq!(relay.call("Bob", call), Err(module_error(error)));
        assert_eq!(relay.free(&POT), pot, "{error:?}: nothing was taken");
        assert!(registrar::ONBOARDING
            .get(&mut relay.state(), &id)
            .unwrap()
            .is_none());
    }

    // A manager who cannot pay the data deposit keeps its reservation and its money.
    let poor = Pair::from_uri("//Poor").unwrap();
    let endow = Call::Balances(balances::Call::TransferKeepAlive {
        dest: poor.public().into(),
        value: PARA_ID_DEPOSIT + tessera_relay_chain::UNIT,
    });
    relay.call("Alice", endow).unwrap();
    // Created after genesis, its nonce starts where it was created.
    let mut nonce = system::ACCOUNT
        .get(&mut relay.state(), &poor.public())
        .unwrap()
        .unwrap()
        .nonce;
    assert!(nonce > 0);
    let mut poor_call = |relay: &mut Relay, call: Call| {
        let xt = sign::<RelayRuntime>(&poor, call, nonce, relay.genesis_hash);
        nonce += 1;
        let events = relay.block(vec![xt]);
        events.into_iter().find_map(|event| match event {
            Event::System(system::Event::ExtrinsicFailed {
                dispatch_error: error,
                ..
            }) => Some(error),
            _ => None,
        })
    };
    assert_eq!(poor_call(&mut relay, RESERVE), None);
    let left = relay.free(&poor.public());
    let failed = poor_call(&mut relay, register(ParaId(2001), head(), vec![1; 100_000]));
    assert!(failed.is_some(), "registered without paying");
    assert_eq!(
        relay.free(&poor.public()),
        left - relay.fee_paid(&poor.public())
    );
    assert!(registrar::RESERVATIONS
        .get(&mut relay.state(), &ParaId(2001))
        .unwrap()
        .is_some());
    // Unsigned, nobody reserves or registers.
    let xt = Extrinsic::<Call> {
        signature: None,
        call: RESERVE,
    }
    .to_opaque();
    let built = build_block::<RelayRuntime>(&relay.nodes, &relay.head, &[xt], None).unwrap();
    assert_eq!(built.rejected.len(), 1);
}

#[test]
fn a_waiting_registration_can_be_withdrawn_and_root_cannot_take_a_reserved_id() {
    let mut relay = Relay::new();
    relay.call("Bob", RESERVE).unwrap();
    let id = ParaId(2000);
    relay
        .call("Bob", register(id, vec![1; 8], vec![2; 100]))
        .unwrap();
    // Root cannot register over a reservation: the manager's registration stands.
    let by_root = |call| {
        Call::Sudo(sudo::Call::Sudo {
            call: Box::new(Call::Paras(call)),
        })
    };
    let over = paras::Call::Register {
        id,
        genesis_head: HeadData(vec![9]),
        code: ValidationCode(vec![9; 10]),
    };
    let xt = relay.signed("Alice", by_root(over));
    let events = relay.block(vec![xt]);
    assert!(events.iter().any(|event| matches!(
        event,
        Event::Sudo(sudo::Event::Sudid { result: Err(error) })
            if *error == module_error(registrar::Error::Reserved)
    )));
    // Withdrawn before its block, it is never onboarded and the deposits go back.
    let refunded = PARA_ID_DEPOSIT + data_deposit(108);
    assert_eq!(
        relay.call("Bob", deregister(id)),
        Ok(vec![RegistrarEvent::Deregistered { id, refunded }])
    );
    for _ in 0..ONBOARDING_DELAY + 1 {
        assert!(registrar_events(&relay.block(vec![])).is_empty());
    }
    assert!(!relay.para_ids().contains(&id));
    assert_eq!(relay.free(&POT), 0);

    // An id root registered ahead of the registrar's counter is never handed out.
    let ahead = paras::Call::Register {
        id: ParaId(2001),
        genesis_head: HeadData(vec![9]),
        code: ValidationCode(vec![9; 10]),
    };
    relay.call("Alice", by_root(ahead)).unwrap();
    let deregister_by_root = by_root(paras::Call::Deregister { id: ParaId(2001) });
    relay.call("Alice", deregister_by_root).unwrap();
    let reserved = relay.call("Bob", RESERVE).unwrap();
    assert!(matches!(
        reserved[..],
        [RegistrarEvent::Reserved {
            id: ParaId(2002),
            ..
        }]
    ));
}

#[test]
fn registrations_stop_while_every_validator_has_a_core() {
    // Four validators: four paras at most, onboarded or waiting.
    let mut relay = Relay::new();
    let names = ["Alice", "Bob", "Charlie", "Dave", "Eve"];
    for name in names {
        relay.call(name, RESERVE).unwrap();
    }
    // All five register in one block: the fifth finds no free core.
    let registrations: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let id = ParaId(2000 + index as u32);
            relay.signed(name, register(id, vec![1; 8], vec![2; 100]))
        })
        .collect();
    let events = relay.block(registrations);
    let registered = registrar_events(&events).len();
    let failed: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            Event::System(system::Event::ExtrinsicFailed {
                dispatch_error: error,
                ..
            }) => Some(*error),
            _ => None,
        })
        .collect();
    assert_eq!(registered, 4);
    assert_eq!(failed, [module_error(registrar::Error::NoFreeCore)]);
    // Due in the same block, they are onboarded two a block; all four end up with a core.
    let mut onboarded = Vec::new();
    for _ in 0..ONBOARDING_DELAY + 4 {
        let events = registrar_events(&relay.block(vec![]));
        assert!(
            events.len() <= registrar::MAX_ONBOARDED_PER_BLOCK,
            "{events:?}"
        );
        onboarded.extend(events);
    }
    assert_eq!(onboarded.len(), 4, "{onboarded:?}");
    assert_eq!(relay.para_ids().len(), 4);
}
