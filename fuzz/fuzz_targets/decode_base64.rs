//! Decoding never panics; what decodes re-encodes to the same bytes; errors name record 0.
#![no_main]

use anonlink_core::encoding::{decode_base64_record, encode_base64_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut out = Vec::new();
    match decode_base64_record(text, 0, &mut out) {
        Ok(()) => {
            let again = encode_base64_record(&out);
            let mut back = Vec::new();
            decode_base64_record(&again, 0, &mut back).expect("own output decodes");
            assert_eq!(back, out);
        }
        Err(e) => assert_eq!(e.record_index(), Some(0)),
    }
});
