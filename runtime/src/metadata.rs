//! Runtime metadata as Substrate clients read it (frame-metadata V14 and V15, types described
//! by scale-info): every module's calls, events, errors, constants and storage, the extrinsic
//! format with its signed extensions, and the runtime APIs.
//!
//! A runtime's modules come from [`compose_runtime!`](crate::compose_runtime) ([`Modules`]);
//! [`metadata`] adds what the executive defines (`System.Events`, the constants, the
//! extrinsic) and encodes it with the `meta` prefix, as `Metadata_metadata_at_version` returns
//! it. It is built when asked for, in the runtime (Wasm included): clients ask once.

pub use alloc::vec::Vec;
pub use scale_info::meta_type;

use crate::dispatch::EventRecord;
use crate::executive::Runtime;
use crate::extrinsic::{Era, MultiAddress, MultiSignature, SignedExtra, SIGNED_EXTENSIONS};
use crate::hashing::Hash;
use crate::{Balance, Nonce};
use alloc::collections::BTreeMap;
use alloc::vec;
pub use frame_metadata::v14::StorageEntryMetadata;
use frame_metadata::v14::{
    PalletCallMetadata, PalletConstantMetadata, PalletErrorMetadata, PalletEventMetadata,
    PalletStorageMetadata, StorageEntryModifier, StorageEntryType, StorageHasher,
};
use frame_metadata::{v14, v15, RuntimeMetadataPrefixed};
use parity_scale_codec::{Compact, Encode};
use scale_info::form::PortableForm;
use scale_info::{MetaType, TypeInfo};

/// The metadata versions [`metadata`] builds, as `Metadata_metadata_versions` lists them.
pub const VERSIONS: [u32; 2] = [14, 15];

/// The newest of [`VERSIONS`].
pub const LATEST: u32 = 15;

/// The version `Metadata_metadata` and `state_getMetadata` return: V14, as Substrate's do, for
/// clients that read no other (py-substrate-interface); the others ask for V15 by version.
pub const DEFAULT: u32 = 14;

/// One module of a runtime, as [`compose_runtime!`](crate::compose_runtime) lists it.
pub struct ModuleMetadata {
    /// Its name (FRAME's where it does the same job), the prefix of its storage keys.
    pub name: &'static str,
    /// Its index in the runtime's call, event and error enums.
    pub index: u8,
    /// Its call enum.
    pub calls: Option<MetaType>,
    /// Its event enum.
    pub event: Option<MetaType>,
    /// Its error enum.
    pub error: Option<MetaType>,
    /// Its storage items.
    pub storage: Vec<StorageEntryMetadata>,
    /// What it is for.
    pub docs: &'static [&'static str],
}

/// A runtime's modules and outer enums (implemented for its `Call` by
/// [`compose_runtime!`](crate::compose_runtime)).
pub trait Modules: TypeInfo + 'static {
    /// The runtime's event enum.
    type Event: TypeInfo + 'static;
    /// The runtime's error enum (each module's errors under its index).
    type Error: TypeInfo + 'static;

    /// The modules, in index order.
    fn modules() -> Vec<ModuleMetadata>;
}

/// Describes a storage value: `Optional` reads as `None` when unset.
pub fn plain<T: TypeInfo + 'static>(name: &'static str) -> StorageEntryMetadata {
    entry(
        name,
        StorageEntryType::Plain(meta_type::<T>()),
        StorageEntryModifier::Optional,
        vec![0],
    )
}

/// Describes a storage value read as `T::default()` when unset.
pub fn plain_or_default<T: TypeInfo + Encode + Default + 'static>(
    name: &'static str,
) -> StorageEntryMetadata {
    entry(
        name,
        StorageEntryType::Plain(meta_type::<T>()),
        StorageEntryModifier::Default,
        T::default().encode(),
    )
}

/// Describes a `Blake2_128Concat` map whose absent keys read as `None`.
pub fn map<K: TypeInfo + 'static, V: TypeInfo + 'static>(
    name: &'static str,
) -> StorageEntryMetadata {
    entry(
        name,
        map_type::<K, V>(),
        StorageEntryModifier::Optional,
        vec![0],
    )
}

/// Describes a `Blake2_128Concat` map whose absent keys read as `V::default()`.
pub fn map_or_default<K: TypeInfo + 'static, V: TypeInfo + Encode + Default + 'static>(
    name: &'static str,
) -> StorageEntryMetadata {
    entry(
        name,
        map_type::<K, V>(),
        StorageEntryModifier::Default,
        V::default().encode(),
    )
}

fn map_type<K: TypeInfo + 'static, V: TypeInfo + 'static>() -> StorageEntryType {
    StorageEntryType::Map {
        hashers: vec![StorageHasher::Blake2_128Concat],
        key: meta_type::<K>(),
        value: meta_type::<V>(),
    }
}

fn entry(
    name: &'static str,
    ty: StorageEntryType,
    modifier: StorageEntryModifier,
    default: Vec<u8>,
) -> StorageEntryMetadata {
    StorageEntryMetadata {
        name,
        modifier,
        ty,
        default,
        docs: Vec::new(),
    }
}

fn constant<T: TypeInfo + Encode + 'static>(
    name: &'static str,
    value: &T,
    docs: &'static str,
) -> PalletConstantMetadata {
    PalletConstantMetadata {
        name,
        ty: meta_type::<T>(),
        value: value.encode(),
        docs: vec![docs],
    }
}

/// A one-field tuple struct named as Substrate names its counterpart (clients recognise
/// `sp_core::crypto::AccountId32` or `primitive_types::H256` by their paths).
pub(crate) fn newtype<T: TypeInfo + 'static>(
    name: &'static str,
    module: &'static str,
) -> scale_info::Type {
    scale_info::Type::builder()
        .path(scale_info::Path::new(name, module))
        .composite(scale_info::build::Fields::unnamed().field(|field| field.ty::<T>()))
}

/// The SS58 prefix of Tessera's addresses (Substrate's generic 42).
pub const SS58_PREFIX: u16 = 42;

/// The runtime APIs whose functions, inputs and outputs are Substrate's, with Substrate's
/// version of each: what runtime versions list (`System.Version`, `state_getRuntimeVersion`)
/// and what the node's `state_call` reaches.
pub const SUBSTRATE_APIS: [(&str, u32); 4] = [
    ("Metadata", 2),
    ("TaggedTransactionQueue", 3),
    ("AccountNonceApi", 1),
    ("TransactionPaymentApi", 4),
];

/// [`SUBSTRATE_APIS`] by id: the blake2-64 hash of each name, as runtime versions list them.
pub fn substrate_api_ids() -> impl Iterator<Item = ([u8; 8], u32)> {
    SUBSTRATE_APIS
        .iter()
        .map(|(name, version)| (crate::hashing::blake2_64(name.as_bytes()), *version))
}

/// The runtime's version as the `System.Version` constant holds it: Substrate's
/// `sp_version::RuntimeVersion`, which clients sign with (PAPI reads no other).
#[derive(Clone, Debug, PartialEq, Eq, Encode, parity_scale_codec::Decode)]
pub struct SystemVersion {
    /// The runtime's name.
    pub spec_name: alloc::string::String,
    /// The implementation's name.
    pub impl_name: alloc::string::String,
    /// Substrate's authoring version (0: unused).
    pub authoring_version: u32,
    /// The spec version (part of every signed payload).
    pub spec_version: u32,
    /// The implementation's version.
    pub impl_version: u32,
    /// The Substrate APIs the runtime has, by id, with their versions.
    pub apis: Vec<([u8; 8], u32)>,
    /// The transaction version (part of every signed payload).
    pub transaction_version: u32,
    /// The state version (1: long values hashed in the trie).
    pub system_version: u8,
}

impl SystemVersion {
    /// Runtime `R`'s version.
    pub fn of<R: Runtime>() -> Self {
        SystemVersion {
            spec_name: R::VERSION.spec_name.into(),
            impl_name: "tessera".into(),
            authoring_version: 0,
            spec_version: R::VERSION.spec_version,
            impl_version: 0,
            apis: substrate_api_ids().collect(),
            transaction_version: R::VERSION.transaction_version,
            system_version: 1,
        }
    }
}

impl TypeInfo for SystemVersion {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::build::Fields;
        scale_info::Type::builder()
            .path(scale_info::Path::new("RuntimeVersion", "sp_version"))
            .composite(
                Fields::named()
                    .field(|f| f.ty::<alloc::string::String>().name("spec_name"))
                    .field(|f| f.ty::<alloc::string::String>().name("impl_name"))
                    .field(|f| f.ty::<u32>().name("authoring_version"))
                    .field(|f| f.ty::<u32>().name("spec_version"))
                    .field(|f| f.ty::<u32>().name("impl_version"))
                    .field(|f| f.ty::<Vec<([u8; 8], u32)>>().name("apis"))
                    .field(|f| f.ty::<u32>().name("transaction_version"))
                    .field(|f| f.ty::<u8>().name("system_version")),
            )
    }
}

/// The constants clients read, by module name.
fn constants<R: Runtime>(module: &str) -> Vec<PalletConstantMetadata> {
    match module {
        crate::modules::system::NAME => vec![
            constant(
                "BlockHashCount",
                &crate::extrinsic::BLOCK_HASH_COUNT,
                "How many recent block hashes are kept: the longest mortal era.",
            ),
            constant(
                "SS58Prefix",
                &SS58_PREFIX,
                "The prefix of the chain's SS58 addresses.",
            ),
            constant(
                "Version",
                &SystemVersion::of::<R>(),
                "The runtime's version, which signed transactions name.",
            ),
        ],
        crate::modules::balances::NAME => vec![constant::<Balance>(
            "ExistentialDeposit",
            &R::CONFIG.existential_deposit,
            "The least balance an account may hold; below it, it is removed.",
        )],
        _ => Vec::new(),
    }
}

/// The modules in V15 form, with what the executive adds: `System.Events` (typed by the
/// runtime's event enum) and the constants.
fn pallets<R: Runtime>() -> Vec<v15::PalletMetadata>
where
    R::Call: Modules,
{
    <R::Call as Modules>::modules()
        .into_iter()
        .map(|module| {
            let mut storage = module.storage;
            if module.name == crate::modules::system::NAME {
                // An empty list when unset: compact 0.
                storage.push(entry(
                    "Events",
                    StorageEntryType::Plain(meta_type::<
                        Vec<EventRecord<<R::Call as Modules>::Event>>,
                    >()),
                    StorageEntryModifier::Default,
                    vec![0],
                ));
            }
            v15::PalletMetadata {
                name: module.name,
                storage: (!storage.is_empty()).then_some(PalletStorageMetadata {
                    prefix: module.name,
                    entries: storage,
                }),
                calls: module.calls.map(|ty| PalletCallMetadata { ty }),
                event: module.event.map(|ty| PalletEventMetadata { ty }),
                constants: constants::<R>(module.name),
                error: module.error.map(|ty| PalletErrorMetadata { ty }),
                index: module.index,
                docs: module.docs.to_vec(),
            }
        })
        .collect()
}

/// Each signed extension: what the transaction carries for it, and what the chain adds to
/// the signed payload.
fn signed_extensions() -> Vec<(&'static str, MetaType, MetaType)> {
    let none = meta_type::<()>;
    let carried = [
        none(),
        none(),
        none(),
        none(),
        meta_type::<Era>(),
        meta_type::<Compact<Nonce>>(),
        none(),
        meta_type::<Compact<Balance>>(),
    ];
    let added = [
        none(),
        meta_type::<u32>(),
        meta_type::<u32>(),
        meta_type::<Hash>(),
        meta_type::<Hash>(),
        none(),
        none(),
        none(),
    ];
    SIGNED_EXTENSIONS
        .into_iter()
        .zip(carried)
        .zip(added)
        .map(|((name, carried), added)| (name, carried, added))
        .collect()
}

/// The metadata of runtime `R` in `version` (14 or 15), `meta`-prefixed and SCALE-encoded;
/// `None` for another version.
pub fn metadata<R: Runtime>(version: u32) -> Option<Vec<u8>>
where
    R::Call: Modules,
{
    let runtime = meta_type::<()>();
    let metadata: RuntimeMetadataPrefixed = match version {
        14 => v14::RuntimeMetadataV14::new(
            pallets::<R>()
                .into_iter()
                .map(|p| v14::PalletMetadata {
                    name: p.name,
                    storage: p.storage,
                    calls: p.calls,
                    event: p.event,
                    constants: p.constants,
                    error: p.error,
                    index: p.index,
                })
                .collect(),
            v14::ExtrinsicMetadata {
                ty: meta_type::<crate::extrinsic::Extrinsic<R::Call>>(),
                version: crate::extrinsic::EXTRINSIC_FORMAT_VERSION,
                signed_extensions: signed_extensions()
                    .into_iter()
                    .map(
                        |(identifier, ty, additional_signed)| v14::SignedExtensionMetadata {
                            identifier,
                            ty,
                            additional_signed,
                        },
                    )
                    .collect(),
            },
            runtime,
        )
        .into_calls_named_as_frame()
        .into(),
        15 => v15::RuntimeMetadataV15::new(
            pallets::<R>(),
            v15::ExtrinsicMetadata {
                version: crate::extrinsic::EXTRINSIC_FORMAT_VERSION,
                address_ty: meta_type::<MultiAddress>(),
                call_ty: meta_type::<R::Call>(),
                signature_ty: meta_type::<MultiSignature>(),
                extra_ty: meta_type::<SignedExtra>(),
                signed_extensions: signed_extensions()
                    .into_iter()
                    .map(
                        |(identifier, ty, additional_signed)| v15::SignedExtensionMetadata {
                            identifier,
                            ty,
                            additional_signed,
                        },
                    )
                    .collect(),
            },
            runtime,
            runtime_apis::<R>(),
            v15::OuterEnums {
                call_enum_ty: meta_type::<R::Call>(),
                event_enum_ty: meta_type::<<R::Call as Modules>::Event>(),
                error_enum_ty: meta_type::<<R::Call as Modules>::Error>(),
            },
            v15::CustomMetadata {
                map: BTreeMap::new(),
            },
        )
        .into_calls_named_as_frame()
        .into(),
        _ => return None,
    };
    Some(metadata.encode())
}

/// FRAME names calls in snake case (`transfer_keep_alive`), and clients that take names from
/// the metadata (PAPI, subxt) expect them so; Rust's enum variants are in camel case. The
/// calls' variants are renamed in the finished registry, where names are owned strings.
trait CallsNamedAsFrame: Sized {
    fn into_calls_named_as_frame(self) -> Self;
}

impl CallsNamedAsFrame for v14::RuntimeMetadataV14 {
    fn into_calls_named_as_frame(mut self) -> Self {
        snake_case_calls(&mut self.types, self.pallets.iter().map(|p| &p.calls));
        self
    }
}

impl CallsNamedAsFrame for v15::RuntimeMetadataV15 {
    fn into_calls_named_as_frame(mut self) -> Self {
        snake_case_calls(&mut self.types, self.pallets.iter().map(|p| &p.calls));
        self
    }
}

fn snake_case_calls<'a>(
    types: &mut scale_info::PortableRegistry,
    calls: impl Iterator<Item = &'a Option<PalletCallMetadata<PortableForm>>>,
) {
    let enums: Vec<u32> = calls.flatten().map(|calls| calls.ty.id).collect();
    for ty in types.types.iter_mut().filter(|ty| enums.contains(&ty.id)) {
        if let scale_info::TypeDef::Variant(variants) = &mut ty.ty.type_def {
            for variant in &mut variants.variants {
                variant.name = snake_case(&variant.name);
            }
        }
    }
}

/// `TransferKeepAlive` → `transfer_keep_alive`.
fn snake_case(name: &str) -> alloc::string::String {
    let mut out = alloc::string::String::with_capacity(name.len().saturating_mul(2));
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The runtime APIs whose names and encodings are Substrate's, callable through `state_call`.
fn runtime_apis<R: Runtime>() -> Vec<v15::RuntimeApiMetadata>
where
    R::Call: Modules,
{
    let method =
        |name, inputs: Vec<(&'static str, MetaType)>, output, docs| v15::RuntimeApiMethodMetadata {
            name,
            inputs: inputs
                .into_iter()
                .map(|(name, ty)| v15::RuntimeApiMethodParamMetadata { name, ty })
                .collect(),
            output,
            docs: vec![docs],
        };
    let extrinsic = || {
        vec![
            ("uxt", meta_type::<crate::extrinsic::Extrinsic<R::Call>>()),
            ("len", meta_type::<u32>()),
        ]
    };
    vec![
        v15::RuntimeApiMetadata {
            name: "Metadata",
            methods: vec![
                method(
                    "metadata",
                    Vec::new(),
                    meta_type::<Vec<u8>>(),
                    "The metadata in V14, as Substrate's (other versions by version).",
                ),
                method(
                    "metadata_at_version",
                    vec![("version", meta_type::<u32>())],
                    meta_type::<Option<Vec<u8>>>(),
                    "The metadata in a version, if the runtime builds it.",
                ),
                method(
                    "metadata_versions",
                    Vec::new(),
                    meta_type::<Vec<u32>>(),
                    "The metadata versions the runtime builds.",
                ),
            ],
            docs: vec!["The runtime's metadata (Substrate's `Metadata` API)."],
        },
        v15::RuntimeApiMetadata {
            name: "TaggedTransactionQueue",
            methods: vec![method(
                "validate_transaction",
                vec![
                    (
                        "source",
                        meta_type::<crate::transaction_validity::TransactionSource>(),
                    ),
                    ("tx", meta_type::<crate::extrinsic::Extrinsic<R::Call>>()),
                    ("block_hash", meta_type::<crate::Hash>()),
                ],
                meta_type::<crate::transaction_validity::TransactionValidity>(),
                "Whether a transaction may enter a pool, on the state after the block given.",
            )],
            docs: vec!["Transaction checks for pools (Substrate's `TaggedTransactionQueue`)."],
        },
        v15::RuntimeApiMetadata {
            name: "AccountNonceApi",
            methods: vec![method(
                "account_nonce",
                vec![("account", meta_type::<crate::crypto::AccountId>())],
                meta_type::<u32>(),
                "The nonce of the account's next transaction.",
            )],
            docs: vec!["Account nonces (Substrate's `AccountNonceApi`)."],
        },
        v15::RuntimeApiMetadata {
            name: "TransactionPaymentApi",
            methods: vec![
                method(
                    "query_info",
                    extrinsic(),
                    meta_type::<crate::payment::RuntimeDispatchInfo>(),
                    "An extrinsic's weight, class and fee without its tip.",
                ),
                method(
                    "query_fee_details",
                    extrinsic(),
                    meta_type::<crate::payment::FeeDetails>(),
                    "An extrinsic's fee, part by part.",
                ),
                method(
                    "query_weight_to_fee",
                    vec![("weight", meta_type::<crate::payment::Weight>())],
                    meta_type::<Balance>(),
                    "What a weight costs.",
                ),
                method(
                    "query_length_to_fee",
                    vec![("length", meta_type::<u32>())],
                    meta_type::<Balance>(),
                    "What a length in bytes costs.",
                ),
            ],
            docs: vec!["What a transaction costs (Substrate's `TransactionPaymentApi`)."],
        },
    ]
}
