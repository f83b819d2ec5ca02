//! The relay runtime's metadata, decoded as a Substrate client decodes it (frame-metadata):
//! modules under FRAME's names and indices, storage under Substrate's hashers, the extrinsic
//! format with its signed extensions, and errors as `DispatchError::Module` finds them.

use frame_metadata::v14::{StorageEntryModifier, StorageEntryType, StorageHasher};
use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed, META_RESERVED};
use parity_scale_codec::{Decode, Encode};
use scale_info::{PortableRegistry, TypeDef};
use tessera_relay_chain::RelayRuntime;
use tessera_runtime::extrinsic::SIGNED_EXTENSIONS;
use tessera_runtime::metadata::{metadata, VERSIONS};
use tessera_runtime::modules::balances;

fn decode(version: u32) -> RuntimeMetadata {
    let bytes = metadata::<RelayRuntime>(version).expect("a version the runtime builds");
    let prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).expect("decodes");
    assert_eq!(prefixed.0, META_RESERVED, "starts with `meta`");
    prefixed.1
}

fn path(types: &PortableRegistry, id: u32) -> String {
    types
        .resolve(id)
        .expect("registered")
        .path
        .segments
        .join("::")
}

fn variant_names(types: &PortableRegistry, id: u32) -> Vec<(String, u8)> {
    match &types.resolve(id).expect("registered").type_def {
        TypeDef::Variant(variants) => variants
            .variants
            .iter()
            .map(|v| (v.name.clone(), v.index))
            .collect(),
        other => panic!("not an enum: {other:?}"),
    }
}

#[test]
fn only_versions_14_and_15_are_built() {
    assert_eq!(VERSIONS, [14, 15]);
    assert!(metadata::<RelayRuntime>(13).is_none());
    assert!(metadata::<RelayRuntime>(16).is_none());
}

#[test]
fn v15_names_modules_storage_calls_events_errors_and_the_extrinsic() {
    let RuntimeMetadata::V15(meta) = decode(15) else {
        panic!("not V15")
    };
    let modules: Vec<(&str, u8)> = meta
        .pallets
        .iter()
        .map(|p| (p.name.as_str(), p.index))
        .collect();
    assert_eq!(
        modules,
        [
            ("System", 0),
            ("Balances", 1),
            ("Sudo", 2),
            ("Paras", 3),
            ("ParaInclusion", 4),
            ("Messaging", 5),
            ("PolkadotXcm", 6),
            ("Registrar", 7),
            ("Session", 8),
            ("Configuration", 9),
            ("ParasDisputes", 10),
            ("PvfCheck", 11),
            ("Dmp", 12),
            ("Hrmp", 13),
            ("TransactionPayment", 14),
            ("Staking", 15),
            ("Babe", 16),
            ("Grandpa", 17),
            ("Offences", 18),
            ("ApprovalRewards", 19),
        ]
    );
    let types = &meta.types;
    let pallet = |name: &str| meta.pallets.iter().find(|p| p.name == name).unwrap();

    // `System.Account`: a Blake2_128Concat map from `AccountId32`, read as a default when
    // absent (as FRAME does), under the System prefix.
    let system = pallet("System");
    let storage = system.storage.as_ref().unwrap();
    assert_eq!(storage.prefix, "System");
    let account = storage
        .entries
        .iter()
        .find(|e| e.name == "Account")
        .unwrap();
    assert_eq!(account.modifier, StorageEntryModifier::Default);
    let StorageEntryType::Map { hashers, key, .. } = &account.ty else {
        panic!("a map")
    };
    assert_eq!(hashers, &[StorageHasher::Blake2_128Concat]);
    assert_eq!(path(types, key.id), "sp_core::crypto::AccountId32");
    // `System.Events`: event records whose parameter is the runtime's event enum.
    let events = storage.entries.iter().find(|e| e.name == "Events").unwrap();
    let StorageEntryType::Plain(events) = &events.ty else {
        panic!("a value")
    };
    let TypeDef::Sequence(records) = &types.resolve(events.id).unwrap().type_def else {
        panic!("a list")
    };
    let record = types.resolve(records.type_param.id).unwrap();
    assert_eq!(record.path.segments, ["frame_system", "EventRecord"]);
    assert_eq!(
        record.type_params[0].ty.unwrap().id,
        meta.outer_enums.event_enum_ty.id
    );

    // Balances: its calls, its `Transfer` event, its errors in declaration order, and the
    // existential deposit as a constant.
    let balances = pallet("Balances");
    let calls = variant_names(types, balances.calls.as_ref().unwrap().ty.id);
    // Named as FRAME names them, for clients that call `Balances.transfer_keep_alive`.
    assert!(
        calls.contains(&("transfer_keep_alive".into(), 3)),
        "{calls:?}"
    );
    let events = variant_names(types, balances.event.as_ref().unwrap().ty.id);
    assert!(events.contains(&("Transfer".into(), 2)), "{events:?}");
    let errors = variant_names(types, balances.error.as_ref().unwrap().ty.id);
    assert_eq!(errors[0], ("InsufficientBalance".into(), 0));
    let deposit = balances
        .constants
        .iter()
        .find(|c| c.name == "ExistentialDeposit")
        .unwrap();
    assert_eq!(
        u128::decode(&mut &deposit.value[..]).unwrap(),
        <RelayRuntime as tessera_runtime::executive::Runtime>::CONFIG.existential_deposit
    );
    // The runtime's version as FRAME's `System.Version`, which PAPI signs with.
    let version = pallet("System")
        .constants
        .iter()
        .find(|c| c.name == "Version")
        .unwrap();
    assert_eq!(path(types, version.ty.id), "sp_version::RuntimeVersion");
    let version =
        tessera_runtime::metadata::SystemVersion::decode(&mut &version.value[..]).unwrap();
    let own = <RelayRuntime as tessera_runtime::executive::Runtime>::VERSION;
    assert_eq!(
        (
            version.spec_name.as_str(),
            version.spec_version,
            version.transaction_version
        ),
        (own.spec_name, own.spec_version, own.transaction_version)
    );
    assert_eq!(
        version.apis.len(),
        tessera_runtime::metadata::SUBSTRATE_APIS.len()
    );
    let issuance = &balances.storage.as_ref().unwrap().entries[0];
    assert_eq!(issuance.name, "TotalIssuance");
    assert_eq!(issuance.default, 0u128.encode());

    // A module with storage and errors but no calls.
    let disputes = pallet("ParasDisputes");
    assert!(disputes.calls.is_none() && disputes.error.is_some());

    // The extrinsic: version 4, Substrate's address and signature types, the signed
    // extensions in order.
    assert_eq!(meta.extrinsic.version, 4);
    assert_eq!(
        path(types, meta.extrinsic.address_ty.id),
        "sp_runtime::multiaddress::MultiAddress"
    );
    assert_eq!(
        path(types, meta.extrinsic.signature_ty.id),
        "sp_runtime::MultiSignature"
    );
    assert_eq!(meta.extrinsic.call_ty.id, meta.outer_enums.call_enum_ty.id);
    let extensions: Vec<&str> = meta
        .extrinsic
        .signed_extensions
        .iter()
        .map(|e| e.identifier.as_str())
        .collect();
    assert_eq!(extensions, SIGNED_EXTENSIONS);
    let mortality = &meta.extrinsic.signed_extensions[4];
    assert_eq!(
        path(types, mortality.ty.id),
        "sp_runtime::generic::era::Era"
    );
    assert_eq!(
        path(types, mortality.additional_signed.id),
        "primitive_types::H256"
    );

    // The address names its account type by its first type parameter, as polkadot.js reads it.
    let address = types.resolve(meta.extrinsic.address_ty.id).unwrap();
    let account_ty = address.type_params[0].ty.unwrap().id;
    assert_eq!(path(types, account_ty), "sp_core::crypto::AccountId32");

    // A header's logs decode with `System.Digest`'s type, as py-substrate-interface finds it.
    let digest = storage.entries.iter().find(|e| e.name == "Digest").unwrap();
    let StorageEntryType::Plain(digest) = &digest.ty else {
        panic!("a value")
    };
    assert_eq!(
        path(types, digest.id),
        "sp_runtime::generic::digest::Digest"
    );
    let items = variant_names(
        types,
        types
            .types
            .iter()
            .find(|t| t.ty.path.segments.last().is_some_and(|s| s == "DigestItem"))
            .unwrap()
            .id,
    );
    assert!(items.contains(&("PreRuntime".into(), 6)), "{items:?}");
    assert!(items.contains(&("Seal".into(), 5)), "{items:?}");

    // `ExtrinsicSuccess` carries FRAME's `DispatchInfo`; each fee is a `TransactionFeePaid`.
    let system_events = system.event.as_ref().unwrap().ty.id;
    let TypeDef::Variant(system_events) = &types.resolve(system_events).unwrap().type_def else {
        panic!("an enum")
    };
    let success = &system_events.variants[0];
    assert_eq!(success.name, "ExtrinsicSuccess");
    assert_eq!(success.fields[0].name.as_deref(), Some("dispatch_info"));
    assert_eq!(
        path(types, success.fields[0].ty.id),
        "frame_support::dispatch::DispatchInfo"
    );
    let fees = variant_names(
        types,
        pallet("TransactionPayment").event.as_ref().unwrap().ty.id,
    );
    assert_eq!(fees, [("TransactionFeePaid".into(), 0)]);

    // The runtime APIs it describes are callable by those names; the fee query takes the
    // extrinsic as Substrate's `UncheckedExtrinsic`, where clients find the call type.
    let apis: Vec<&str> = meta.apis.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        apis,
        [
            "Metadata",
            "TaggedTransactionQueue",
            "AccountNonceApi",
            "TransactionPaymentApi"
        ]
    );
    let validity = &meta.apis[1].methods[0];
    assert_eq!(validity.name, "validate_transaction");
    assert_eq!(
        path(types, validity.output.id),
        "Result",
        "Substrate's TransactionValidity"
    );
    let query_info = &meta.apis[3].methods[0];
    assert_eq!(query_info.name, "query_info");
    assert_eq!(
        path(types, query_info.inputs[0].ty.id),
        "sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic"
    );
    assert_eq!(
        path(types, query_info.output.id),
        "pallet_transaction_payment::types::RuntimeDispatchInfo"
    );
}

#[test]
fn v14_describes_the_extrinsic_as_substrates_unchecked_extrinsic() {
    let RuntimeMetadata::V14(meta) = decode(14) else {
        panic!("not V14")
    };
    assert_eq!(meta.pallets.len(), 20);
    let extrinsic = meta.types.resolve(meta.extrinsic.ty.id).unwrap();
    assert_eq!(
        extrinsic.path.segments,
        [
            "sp_runtime",
            "generic",
            "unchecked_extrinsic",
            "UncheckedExtrinsic"
        ]
    );
    let params: Vec<(&str, String)> = extrinsic
        .type_params
        .iter()
        .map(|p| (p.name.as_str(), path(&meta.types, p.ty.unwrap().id)))
        .collect();
    assert_eq!(
        params[0],
        ("Address", "sp_runtime::multiaddress::MultiAddress".into())
    );
    assert_eq!(params[1].0, "Call");
    assert_eq!(
        params[2],
        ("Signature", "sp_runtime::MultiSignature".into())
    );
    assert_eq!(params[3].0, "Extra");
}

/// A client turns `DispatchError::Module { index, error }` back into a name through the
/// metadata: the module with that index, the variant with the error's first byte.
#[test]
fn module_errors_are_found_by_index_as_clients_find_them() {
    let RuntimeMetadata::V15(meta) = decode(15) else {
        panic!("not V15")
    };
    let error = tessera_relay_chain::dispatch_error(balances::Error::KeepAlive);
    let tessera_runtime::dispatch::DispatchError::Module(module) = error else {
        panic!("a module error")
    };
    let pallet = meta
        .pallets
        .iter()
        .find(|p| p.index == module.index)
        .unwrap();
    let names = variant_names(&meta.types, pallet.error.as_ref().unwrap().ty.id);
    let found = names
        .iter()
        .find(|(_, index)| *index == module.error[0])
        .unwrap();
    assert_eq!(
        (pallet.name.as_str(), found.0.as_str()),
        ("Balances", "KeepAlive")
    );
    // Every module error the runtime raises names a module the metadata lists.
    for name in [
        "System",
        "Balances",
        "Sudo",
        "Paras",
        "ParaInclusion",
        "Messaging",
        "PolkadotXcm",
        "Registrar",
        "ParasDisputes",
        "PvfCheck",
    ] {
        assert!(tessera_relay_chain::module_index(name).is_some(), "{name}");
    }
}

/// The type registry covers every type it references (no dangling ids), as a client needs.
#[test]
fn every_referenced_type_is_registered() {
    let RuntimeMetadata::V15(meta) = decode(15) else {
        panic!("not V15")
    };
    let count = meta.types.types.len() as u32;
    for ty in &meta.types.types {
        let ids: Vec<u32> = match &ty.ty.type_def {
            TypeDef::Composite(c) => c.fields.iter().map(|f| f.ty.id).collect(),
            TypeDef::Variant(v) => v
                .variants
                .iter()
                .flat_map(|v| v.fields.iter().map(|f| f.ty.id))
                .collect(),
            TypeDef::Sequence(s) => vec![s.type_param.id],
            TypeDef::Array(a) => vec![a.type_param.id],
            TypeDef::Tuple(t) => t.fields.iter().map(|f| f.id).collect(),
            TypeDef::Compact(c) => vec![c.type_param.id],
            TypeDef::Primitive(_) | TypeDef::BitSequence(_) => vec![],
        };
        assert!(ids.iter().all(|id| *id < count), "{:?}", ty.ty.path);
    }
}
