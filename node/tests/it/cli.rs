//! The command line: clear errors and non-zero exits for bad input.

use std::process::Command;

fn tessera(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();

    let (code, text) = tessera(&["run", "--base-path", base, "--bogus-flag"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--bogus-flag"), "{text}");

    let (code, text) = tessera(&["run", "--base-path", base, "--validator"]);
    assert_ne!(code, 0);
    assert!(text.contains("--key"), "{text}");

    let (code, text) = tessera(&[
        "run",
        "--base-path",
        base,
        "--chain",
        "/nonexistent/spec.json",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("cannot read chain spec /nonexistent/spec.json"),
        "{text}"
    );

    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, r#"{"name": "x"}"#).unwrap();
    let (code, text) = tessera(&["build-spec", "--chain", spec.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("invalid chain spec"), "{text}");

    let (code, text) = tessera(&["key", "inspect", "not a valid phrase"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("invalid secret URI"), "{text}");

    let (code, text) = tessera(&["key", "inspect", "//Alice"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
        "{text}"
    );
}
