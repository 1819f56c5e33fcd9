//! CLK encoding is bit-identical to clkhash 0.18.3 on the reference vectors.

mod common;

use anonlink_core::clk::{Encoder, Header, Schema, encode_csv};
use anonlink_core::encoding::Clks;
use common::*;

fn check(schema: &str, secret: &str, csv: &str, expected: &str, header: Header) {
    let schema = Schema::from_json(&std::fs::read_to_string(data(schema)).unwrap()).unwrap();
    let encoder = Encoder::new(schema, secret).unwrap();
    let file = std::fs::File::open(data(csv)).unwrap();
    let got = encode_csv(&encoder, file, header, false, &|_| {}).unwrap();
    let want: Clks = clks(expected);
    assert_eq!(got.len(), want.len(), "{csv}");
    for i in 0..got.len() {
        assert_eq!(
            got.record_bytes(i),
            want.record_bytes(i),
            "{csv}: record {i} differs"
        );
    }
}

#[test]
fn febrl4_schema_v3_double_hash() {
    for side in ["a", "b"] {
        check(
            "febrl4/febrl4_schema.json",
            "horse staple",
            &format!("febrl4/febrl4_{side}_pii.csv"),
            &format!("febrl4/febrl4_{side}.json"),
            Header::Check,
        );
    }
}

#[test]
fn abc_schema_v2_blake_hash() {
    for party in ["alice", "bob", "charlie"] {
        check(
            "abc/schema_ABC.json",
            "correct horse",
            &format!("abc/dataset-{party}.csv"),
            &format!("abc/clks-{party}.json"),
            Header::Ignore,
        );
    }
}
