//! The JSON decoder never panics; slice and reader decoders agree; a decoded document
//! re-encodes to one that decodes to the same records.
#![no_main]

use anonlink_core::encoding::{SizeLimits, decode_json, decode_json_slice, encode_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = SizeLimits::default();
    let from_slice = decode_json_slice(data, &limits);
    let from_reader = decode_json(data, &limits);
    match (&from_slice, &from_reader) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.words(), b.words());
            let mut doc = Vec::new();
            encode_json(a, &mut doc).expect("writing to memory");
            let again = decode_json_slice(&doc, &limits).expect("own output decodes");
            assert_eq!(again.words(), a.words());
        }
        // Same kind of error; positions in parser messages may differ between the two.
        (Err(a), Err(b)) => assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b)),
        _ => panic!("slice and reader decoders disagree: {from_slice:?} vs {from_reader:?}"),
    }
});
