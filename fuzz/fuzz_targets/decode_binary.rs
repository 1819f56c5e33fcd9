//! The binary decoder never panics, whatever the declared count and size; what decodes
//! re-encodes to the body.
#![no_main]

use anonlink_core::encoding::{SizeLimits, decode_binary, encode_binary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, u16, &[u8])| {
    let (count, size, body) = input;
    let limits = SizeLimits::default();
    if let Ok(clks) = decode_binary(body, usize::from(count), usize::from(size), &limits) {
        let mut out = Vec::new();
        encode_binary(&clks, &mut out).expect("writing to memory");
        assert_eq!(out, body);
    }
});
