//! Arbitrary bytes as a versioned XCM message, location and asset list: decoding never
//! panics, stays within its limits, and what decodes as v5 re-encodes to the same bytes (v3
//! and v4 bytes decode into their v5 conversion, which re-encodes as v5 and decodes again to
//! the same value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Encode;
use tessera_xcm::{VersionedAssets, VersionedLocation, VersionedXcm};

fuzz_target!(|data: &[u8]| {
    let v5 = data.first() == Some(&5);
    if let Ok(message) = VersionedXcm::decode_limited(data) {
        let encoded = message.encode();
        assert!(!v5 || encoded == data);
        assert_eq!(VersionedXcm::decode_limited(&encoded), Ok(message));
    }
    if let Ok(location) = VersionedLocation::decode_limited(data) {
        let encoded = location.encode();
        assert!(!v5 || encoded == data);
        assert_eq!(VersionedLocation::decode_limited(&encoded), Ok(location));
    }
    if let Ok(assets) = VersionedAssets::decode_limited(data) {
        let encoded = assets.encode();
        assert!(!v5 || encoded == data);
        assert_eq!(VersionedAssets::decode_limited(&encoded), Ok(assets));
    }
});
