//! A node's part in checking new para code before the relay chain schedules it
//! (`tessera_relay_chain::pvf_check`): a validator compiles each code under check at its best
//! block, oldest check first, signs its verdict and gossips it, again every
//! [`REPUBLISH_EVERY`] blocks until the chain counts it (a peer that had not imported the
//! check's block dropped it). Every node keeps the verdicts on code still under check at its
//! best block (signature checked, one per validator and code: a bounded set, forwarded only
//! once checked), and a validator hands its block author those the chain has not counted
//! yet, up to the decision.
//!
//! Compiling is the same as for validation ([`ValidationHost::prepare`]), so the code it
//! accepts is compiled and cached before any candidate needs it. A verdict is only ever about
//! the code: a compile this node could not run (no thread) is no vote, and is tried again.

use super::host::ParachainError;
use super::relay_api;
use crate::client::Client;
use crate::validation::{InvalidCandidate, ValidationHost};
use std::collections::{BTreeMap, HashMap, HashSet};
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::pvf_check::{
    statement_payload, Precheck, PvfCheckStatement, MAX_STATEMENTS_PER_BLOCK,
};
use tessera_relay_chain::session::{self, ParaValidators};
use tessera_runtime::state::State;
use tessera_runtime::{Hash, Header};
use tessera_validity::backing::BackingError;

/// Relay blocks after which a validator publishes its verdict again while the chain has not
/// counted it.
pub const REPUBLISH_EVERY: u32 = 4;

/// A check: the code's hash, the block that started it and the session its votes are for (a
/// verdict is for one check, and votes restart when other validators take over).
type CheckId = (Hash, u32, u32);

/// What a node keeps of the checks under way at its best block.
pub struct PvfChecks {
    /// The keys a validator may vote with: the one that is a validator's `para_validator` key
    /// in the session.
    keys: Vec<AuthorityKey>,
    /// The best block the checks were read at, and the checks, oldest first.
    active: Option<(Hash, Vec<(Hash, Precheck)>)>,
    /// The session's validators at that block.
    session: ParaValidators,
    /// Verdicts known, by check (code and the block that started it) then validator: only for
    /// checks under way at the best block.
    statements: BTreeMap<CheckId, BTreeMap<u32, PvfCheckStatement>>,
    /// Checks this validator judged or is judging.
    judged: HashSet<CheckId>,
    /// The best block number at which this validator last published its verdict, by check.
    published: HashMap<CheckId, u32>,
}

/// A code this validator is to compile and vote on.
pub struct ToJudge {
    /// The code's hash.
    pub code_hash: Hash,
    /// The code.
    pub code: Vec<u8>,
    /// The session the vote is for.
    pub session: u32,
    /// The block that started the check.
    pub started_at: u32,
}

/// This validator's verdict on code, if compiling it said anything about the code: it
/// compiled, or failed to, or took longer than the compile limit. A compile that could not
/// run here says nothing.
pub fn judge(host: &ValidationHost, code_hash: Hash, code: &[u8]) -> Option<bool> {
    match host.prepare(code_hash, code) {
        Ok(_) => Some(true),
        Err(InvalidCandidate::CompileTimeout(waited)) if waited.is_zero() => None,
        Err(InvalidCandidate::Busy) => None,
        Err(err) => {
            tracing::warn!(%code_hash, %err, "new para code rejected");
            Some(false)
        }
    }
}

impl PvfChecks {
    /// The checks of a node; `key` for a validator, which votes.
    pub fn new(key: Option<AuthorityKey>) -> Self {
        PvfChecks {
            keys: key.into_iter().collect(),
            active: None,
            session: ParaValidators::default(),
            statements: BTreeMap::new(),
            judged: HashSet::new(),
            published: HashMap::new(),
        }
    }

    /// Adds a key this validator may vote with (a session key made by `author_rotateKeys`).
    pub fn add_key(&mut self, key: AuthorityKey) {
        if !self.keys.is_empty() && !self.keys.iter().any(|k| k.public() == key.public()) {
            self.keys.push(key);
        }
    }

    /// The check of `code_hash` under way at the best block.
    fn check(&self, code_hash: &Hash) -> Option<&Precheck> {
        let (_, checks) = self.active.as_ref()?;
        checks
            .iter()
            .find_map(|(hash, check)| (hash == code_hash).then_some(check))
    }

    /// Whether check `id` is under way in `checks`.
    fn is_under_way(checks: &[(Hash, Precheck)], id: &CheckId) -> bool {
        checks
            .iter()
            .any(|(hash, check)| *id == (*hash, check.started_at, check.session))
    }

    /// This validator's index and key in the session at the best block.
    fn me(&self) -> Option<(u32, &AuthorityKey)> {
        super::place_in(&self.keys, &self.session)
    }

    /// Reads the checks under way at `best` if it is new, forgetting verdicts on code no
    /// longer under check; returns up to `room` codes this validator has yet to judge, oldest
    /// check first.
    pub fn on_best(&mut self, client: &Client, best: &Header, room: usize) -> Vec<ToJudge> {
        let best_hash = best.hash();
        if self.active.as_ref().is_some_and(|(at, _)| *at == best_hash) {
            return Vec::new();
        }
        let checks = match relay_api::pvf_checks(client, &best_hash) {
            Ok(checks) => checks,
            Err(err) => {
                tracing::debug!(%err, "code checks not read");
                return Vec::new();
            }
        };
        let mut state = State::new(client.store(), best.state_root);
        match session::para_validators(&mut state) {
            Ok(session) => self.session = session,
            Err(err) => {
                tracing::debug!(%err, "session validators not read");
                return Vec::new();
            }
        }
        self.statements
            .retain(|id, _| Self::is_under_way(&checks, id));
        self.judged.retain(|id| Self::is_under_way(&checks, id));
        self.published
            .retain(|id, _| Self::is_under_way(&checks, id));
        let mut to_judge = Vec::new();
        if let Some((me, _)) = self.me() {
            for (code_hash, check) in &checks {
                let voted = check.votes.get(me as usize).is_some_and(Option::is_some);
                let id = (*code_hash, check.started_at, check.session);
                if voted || self.judged.contains(&id) {
                    continue;
                }
                if to_judge.len() >= room {
                    break;
                }
                match relay_api::validation_code_by_hash(client, &best_hash, code_hash) {
                    Ok(Some(code)) => {
                        self.judged.insert(id);
                        to_judge.push(ToJudge {
                            code_hash: *code_hash,
                            code: code.0,
                            session: check.session,
                            started_at: check.started_at,
                        });
                    }
                    Ok(None) => tracing::warn!(%code_hash, "code under check is not stored"),
                    Err(err) => tracing::debug!(%code_hash, %err, "code under check not read"),
                }
            }
        }
        self.active = Some((best_hash, checks));
        to_judge
    }

    /// This validator's verdicts the chain has not counted at the best block (number
    /// `best_number`) and that it published [`REPUBLISH_EVERY`] blocks ago or more: to publish
    /// again, now.
    pub fn to_republish(&mut self, best_number: u32) -> Vec<PvfCheckStatement> {
        let Some((me, _)) = self.me() else {
            return Vec::new();
        };
        let mut again = Vec::new();
        for (id, by) in &self.statements {
            let Some(own) = by.get(&me) else {
                continue;
            };
            let counted = self
                .check(&id.0)
                .is_none_or(|check| check.votes.get(me as usize).is_some_and(Option::is_some));
            let last = self.published.get(id).copied().unwrap_or_default();
            if !counted && best_number >= last.saturating_add(REPUBLISH_EVERY) {
                again.push((*id, own.clone()));
            }
        }
        again
            .into_iter()
            .map(|(id, statement)| {
                self.published.insert(id, best_number);
                statement
            })
            .collect()
    }

    /// Signs this validator's verdict on a code it judged and keeps it; `None` for a node
    /// that does not vote, or a verdict that says nothing (then the code is judged again).
    pub fn sign(
        &mut self,
        judged: &ToJudge,
        verdict: Option<bool>,
        best_number: u32,
    ) -> Option<PvfCheckStatement> {
        let id = (judged.code_hash, judged.started_at, judged.session);
        let (Some(accept), Some((me, key))) = (verdict, self.me()) else {
            self.judged.remove(&id);
            return None;
        };
        let payload =
            statement_payload(&judged.code_hash, judged.session, judged.started_at, accept);
        let statement = PvfCheckStatement {
            accept,
            code_hash: judged.code_hash,
            session: judged.session,
            validator: me,
            signature: key.sign(&payload),
        };
        self.published.insert(id, best_number);
        self.statements
            .entry(id)
            .or_default()
            .insert(me, statement.clone());
        Some(statement)
    }

    /// Checks and keeps a validator's gossiped verdict; whether it was news here. One about
    /// code not under check at the best block (concluded, or started on a block not imported
    /// here yet) is not news, nor is a second verdict of one validator on one code.
    pub fn on_statement(&mut self, statement: PvfCheckStatement) -> Result<bool, ParachainError> {
        let Some(check) = self.check(&statement.code_hash) else {
            return Ok(false);
        };
        let index = statement.validator as usize;
        let signer = self
            .session
            .key(statement.validator)
            .ok_or(BackingError::NotAllowed(statement.validator))?;
        let id = (statement.code_hash, check.started_at, check.session);
        let counted = check.votes.get(index).is_some_and(Option::is_some);
        let known = self
            .statements
            .get(&id)
            .is_some_and(|by| by.contains_key(&statement.validator));
        if statement.session != check.session || counted || known {
            return Ok(false);
        }
        let payload = statement_payload(
            &statement.code_hash,
            statement.session,
            check.started_at,
            statement.accept,
        );
        if !signer.verify(&payload, &statement.signature) {
            return Err(BackingError::BadSignature(statement.validator).into());
        }
        self.statements
            .entry(id)
            .or_default()
            .insert(statement.validator, statement);
        Ok(true)
    }

    /// The verdicts for the inherent of a block on `parent`: for each code under check there,
    /// those of validators it has not counted, in validator order, until they decide it.
    pub fn for_inherent(&self, client: &Client, parent: &Header) -> Vec<PvfCheckStatement> {
        if self.statements.is_empty() {
            return Vec::new();
        }
        let checks = match relay_api::pvf_checks(client, &parent.hash()) {
            Ok(checks) => checks,
            Err(err) => {
                tracing::debug!(%err, "code checks not read for the inherent");
                return Vec::new();
            }
        };
        let mut chosen = Vec::new();
        for (code_hash, mut check) in checks {
            let id = (code_hash, check.started_at, check.session);
            let Some(known) = self.statements.get(&id) else {
                continue;
            };
            for (validator, statement) in known {
                if check.outcome().is_some() || chosen.len() >= MAX_STATEMENTS_PER_BLOCK {
                    break;
                }
                let Some(vote) = check.votes.get_mut(*validator as usize) else {
                    continue;
                };
                if vote.is_some() || statement.session != check.session {
                    continue;
                }
                *vote = Some(statement.accept);
                chosen.push(statement.clone());
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::ValidationLimits;
    use tessera_runtime::hashing::blake2_256;

    fn verdict(host: &ValidationHost, code: &[u8]) -> Option<bool> {
        judge(host, blake2_256(code), code)
    }

    #[test]
    fn code_that_compiles_to_a_validation_function_is_accepted_and_anything_else_rejected() {
        let host = ValidationHost::new(ValidationLimits::default()).unwrap();
        assert_eq!(verdict(&host, b"\0asm not a module"), Some(false));
        let no_exports = wat::parse_str("(module (memory (export \"memory\") 1))").unwrap();
        assert_eq!(verdict(&host, &no_exports), Some(false));
        let runtime = parachain_template_runtime::WASM_BINARY;
        assert_eq!(verdict(&host, runtime), Some(true));
    }
}
