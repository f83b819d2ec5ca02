//! Lines a runtime writes to the log of the node that runs it, through the `log` host
//! function. A node shows them from its own chain's runtime calls (import, building, queries)
//! and drops them from validations, where the code is a para's run by validators; it shows at
//! most 64 a call. Natively (tests and benches, with no node around the runtime) nothing is
//! written.

/// How important a line is, as Substrate numbers its levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something may be wrong.
    Warn = 2,
    /// What an operator wants to see (an upgrade, say).
    Info = 3,
    /// What a developer wants to see.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

/// Writes `message` to the node's log at `level` under `target` (`runtime::system`, say).
pub fn log(level: Level, target: &str, message: &str) {
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    crate::wasm::guest::host_log(level as u32, target, message);
    #[cfg(not(all(target_arch = "wasm32", not(feature = "std"))))]
    let _ = (level, target, message);
}
