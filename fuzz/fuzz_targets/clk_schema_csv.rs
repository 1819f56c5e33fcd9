//! Schemas and CSV records from arbitrary bytes: errors, never panics. The input is a schema
//! document, a NUL byte, then CSV text.
#![no_main]

use anonlink_core::clk::{Encoder, Header, Schema, encode_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (schema, csv) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(text) = std::str::from_utf8(schema) else {
        return;
    };
    let Ok(schema) = Schema::from_json(text) else {
        return;
    };
    let Ok(encoder) = Encoder::new(schema, "secret") else {
        return;
    };
    for header in [Header::Absent, Header::Ignore] {
        for validate in [false, true] {
            let _ = encode_csv(&encoder, csv, header, validate, &|_| {});
        }
    }
});
