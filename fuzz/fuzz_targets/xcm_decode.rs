//! Arbitrary bytes as a versioned XCM message, location and asset list: decoding never
//! panics, stays within its limits, and what decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Encode;
use tessera_xcm::{VersionedAssets, VersionedLocation, VersionedXcm};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = VersionedXcm::decode_limited(data) {
        assert_eq!(message.encode(), data);
    }
    if let Ok(location) = VersionedLocation::decode_limited(data) {
        assert_eq!(location.encode(), data);
    }
    if let Ok(assets) = VersionedAssets::decode_limited(data) {
        assert_eq!(assets.encode(), data);
    }
});
