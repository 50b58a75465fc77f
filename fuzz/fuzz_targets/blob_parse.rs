//! `tern_core::blob::parse` must never panic, and whatever it accepts must be
//! a well-formed blob that describes exactly its input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_core::blob;
use tern_core::ids::KeyId;

fuzz_target!(|data: &[u8]| {
    let Ok(b) = blob::parse(data) else {
        return;
    };

    // Layout: header (50) | nonce (12) | ciphertext | tag (16).
    assert_eq!(b.header.len(), 50);
    assert!(
        b.sealed.len() >= 16,
        "sealed part shorter than the tag: {}",
        b.sealed.len()
    );
    assert_eq!(b.header.len() + 12 + b.sealed.len(), data.len());
    assert!(data.len() <= blob::MAX_CIPHERTEXT_BLOB_BYTES);

    // The slices are the input's own bytes, in order.
    assert_eq!(b.header, &data[..50]);
    assert_eq!(&b.nonce[..], &data[50..62]);
    assert_eq!(b.sealed, &data[62..]);

    // Re-writing the header from the parsed ids reproduces it byte for byte.
    let mut header = Vec::with_capacity(blob::HEADER_LEN);
    blob::write_header(&mut header, &b.key_id, &b.material_id);
    assert_eq!(header, b.header);

    // The key id's text form parses back to the same id.
    let text = b.key_id.to_string();
    match KeyId::parse(&text) {
        Ok(back) => assert_eq!(back, b.key_id, "key id {text} did not round-trip"),
        Err(e) => panic!("key id {text} from a parsed blob does not parse: {e}"),
    }
});
