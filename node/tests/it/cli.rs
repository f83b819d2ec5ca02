//! The command line: clear errors and non-zero exits for bad input.

pub(crate) use crate::process::tessera;

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

/// A reserve transfer paid with `PayFees`, as seen on a live network (xcm/tests/codec.rs).
const LIVE_MESSAGE: &str = "0x0514010401000007d67e7427d10a3001000007ddc1e887010d010204000101008eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a482c23847985de8cbcea96dcaaf1687627ccca71f728abe90ae61e91c33ccaa1c949";

#[test]
fn xcm_decode_and_encode_round_trip_and_say_where_input_is_wrong() {
    let (code, json) = tessera(&["xcm", "decode", LIVE_MESSAGE]);
    assert_eq!(code, 0, "{json}");
    assert!(json.contains("\"reserveAssetDeposited\""), "{json}");
    assert!(json.contains("\"payFees\""), "{json}");
    let (code, hex) = tessera(&["xcm", "encode", json.trim()]);
    assert_eq!(code, 0, "{hex}");
    assert_eq!(hex.trim(), LIVE_MESSAGE);

    let (code, json) = tessera(&["xcm", "decode", "--type", "location", "0x050100"]);
    assert_eq!(code, 0, "{json}");
    let (code, hex) = tessera(&["xcm", "encode", "--type", "location", json.trim()]);
    assert_eq!((code, hex.trim()), (0, "0x050100"));

    let (code, text) = tessera(&["xcm", "decode", "0x05zz"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not hex"), "{text}");
    let (code, text) = tessera(&["xcm", "decode", "0x0200"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("XCM version 2 is not supported"), "{text}");
    // A v4 message is shown as the v5 message it converts to.
    let (code, json) = tessera(&["xcm", "decode", "0x04040a"]);
    assert_eq!(code, 0, "{json}");
    assert!(
        json.contains("\"v5\"") && json.contains("clearOrigin"),
        "{json}"
    );
    let bad = r#"{"v5": [{"clearOrigin": null}, {"buyExecution": {"fees": 7}}]}"#;
    let (code, text) = tessera(&["xcm", "encode", bad]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("v5[1].buyExecution.fees"), "{text}");
}
