//! The dev paras whose Wasm this binary carries (built from the workspace's runtime crates by
//! `build.rs`, their code not linked), and starting a node of any para from its chain spec
//! with its RPC on a relay node.

use super::node::Started;
use crate::parachains::collator::Collate;
use crate::parachains::{Collator, ParaChain};
use crate::rpc::{self, para::ParaRpc};
use crate::store::RocksDb;
use crate::validation::ValidationHost;
use anyhow::{bail, Context};
use jsonrpsee::server::ServerHandle;
use parity_scale_codec::Encode;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, ParaChainSpec};
use tessera_runtime::crypto::Pair;
use tessera_runtime::state::StateChanges;
use tessera_runtime::Header;

/// A dev para runtime whose Wasm this binary carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParaRuntime {
    /// The parachain template: system, balances, sudo.
    Template,
    /// The example para: system, balances, notes.
    Example,
}

impl ParaRuntime {
    const ALL: [ParaRuntime; 2] = [ParaRuntime::Template, ParaRuntime::Example];

    /// What it is, for people.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ParaRuntime::Template => "parachain template (system, balances, sudo)",
            ParaRuntime::Example => "example para (system, balances, notes)",
        }
    }

    /// Its Wasm validation code.
    pub(crate) fn code(self) -> &'static [u8] {
        match self {
            ParaRuntime::Template => include_bytes!(concat!(env!("OUT_DIR"), "/template.wasm")),
            ParaRuntime::Example => include_bytes!(concat!(env!("OUT_DIR"), "/example.wasm")),
        }
    }

    /// The runtime whose validation code is `code`.
    pub(crate) fn of_code(code: &[u8]) -> Option<ParaRuntime> {
        Self::ALL.into_iter().find(|runtime| runtime.code() == code)
    }

    /// Its dev chain spec as para `id`: dev accounts endowed; Alice is sudo where there is
    /// sudo.
    pub(crate) fn spec(self, id: ParaId) -> ParaChainSpec {
        let mut spec = ParaChainSpec::dev(id.0, self.code().to_vec());
        if self == ParaRuntime::Example {
            spec.genesis.sudo = None;
        }
        spec
    }

    /// Its dev genesis as para `id` (built by its Wasm).
    pub(crate) fn genesis(self, id: ParaId) -> anyhow::Result<(Header, StateChanges)> {
        genesis_of(&self.spec(id))
    }

    /// A node of para `id` from its dev chain spec (see [`spec_node`]).
    pub(crate) fn node(
        self,
        id: ParaId,
        base_path: &Path,
        relay: &ChainSpec,
        collator_key: Option<Pair>,
    ) -> anyhow::Result<Box<dyn Collate>> {
        spec_node(&self.spec(id), base_path, relay, collator_key)
    }
}

/// The genesis header and state the para's runtime builds from its spec.
pub(crate) fn genesis_of(spec: &ParaChainSpec) -> anyhow::Result<(Header, StateChanges)> {
    let host = ValidationHost::shared()?;
    host.build_genesis(&spec.code.0, &spec.genesis_config())
        .with_context(|| {
            format!(
                "building the genesis of para {} from its Wasm",
                spec.para_id
            )
        })
}

/// A node of the para `spec` describes, run from its Wasm with no code of the para in this
/// binary, keeping the para's chain on disk under `base_path` (see [`para_database_path`]): a
/// collator with `collator_key`, else a full node. It resumes from the chain stored there, if
/// any.
pub(crate) fn spec_node(
    spec: &ParaChainSpec,
    base_path: &Path,
    relay: &ChainSpec,
    collator_key: Option<Pair>,
) -> anyhow::Result<Box<dyn Collate>> {
    let id = spec.para();
    let (header, state) = genesis_of(spec)?;
    let path = para_database_path(base_path, relay, id);
    let db = RocksDb::open(&path).with_context(|| {
        format!(
            "cannot open the database of para {} at {}",
            id.0,
            path.display()
        )
    })?;
    let chain = ParaChain::open(id, Box::new(db), header, state.new_nodes)
        .with_context(|| format!("opening the chain of para {} at {}", id.0, path.display()))?;
    Ok(match collator_key {
        Some(key) => Box::new(Collator::new(chain, key)),
        None => Box::new(Collator::full_node(chain)),
    })
}

/// Where a node under `base_path` keeps the chain of para `id` of the relay chain `relay`.
pub(crate) fn para_database_path(base_path: &Path, relay: &ChainSpec, id: ParaId) -> PathBuf {
    base_path
        .join("chains")
        .join(&relay.id)
        .join("paras")
        .join(id.0.to_string())
        .join("db")
}

/// The runtime of para `id` on the chain of `spec`: the one whose code the spec registers,
/// with the spec's genesis head being that runtime's dev genesis.
pub(crate) fn runtime_of(spec: &ChainSpec, id: ParaId) -> anyhow::Result<ParaRuntime> {
    let Some(registered) = spec.genesis.paras.iter().find(|para| para.id == id.0) else {
        let ids: Vec<String> = spec
            .genesis
            .paras
            .iter()
            .map(|p| p.id.to_string())
            .collect();
        bail!(
            "para {} is not registered in the genesis of chain `{}` (registered: {})",
            id.0,
            spec.id,
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        );
    };
    let Some(runtime) = ParaRuntime::of_code(&registered.code.0) else {
        bail!(
            "para {}'s code is neither the template's nor the example's Wasm of this binary",
            id.0
        );
    };
    let (genesis, _) = runtime.genesis(id)?;
    if genesis.encode() != registered.head.0 {
        bail!(
            "para {}'s genesis head in chain `{}` is not the dev genesis of the {}",
            id.0,
            spec.id,
            runtime.name()
        );
    }
    Ok(runtime)
}

/// Runs `node` on the relay node `started` and serves its RPC at `addr`; the address bound.
pub(crate) async fn serve_para(
    started: &mut Started,
    node: Box<dyn Collate>,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let para = node.para();
    let context = ParaRpc::new(node.view(), started.shared.clone());
    let served = rpc::start_para(addr, context)
        .await
        .with_context(|| format!("starting the RPC of para {}", para.0))?;
    started.node.add_collator(node);
    Ok(served)
}
