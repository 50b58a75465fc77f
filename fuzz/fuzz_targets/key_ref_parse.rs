//! `tern_core::ids::KeyRef::parse` must never panic on any string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_core::ids::KeyRef;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // A bare key id is only accepted in its canonical form, so it prints back
    // exactly as given.
    if let Ok(KeyRef::Id(id)) = KeyRef::parse(s) {
        assert_eq!(id.to_string(), s);
    }
});
