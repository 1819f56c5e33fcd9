//! Candidate files: reading never panics; what reads writes back and reads the same;
//! merging a file with itself never panics.
#![no_main]

use anonlink_core::candidates::{merge_files, read_file, write_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = read_file(data) {
        let mut out = Vec::new();
        write_file(&pairs, &mut out).expect("writing to memory");
        let again = read_file(&out[..]).expect("own output reads");
        assert_eq!(again.len(), pairs.len());
        for (a, b) in again.iter().zip(&pairs) {
            assert_eq!(a.score.to_bits(), b.score.to_bits());
            assert_eq!((a.dataset0, a.dataset1, a.row0, a.row1), (b.dataset0, b.dataset1, b.row0, b.row1));
        }
    }
    let _ = merge_files(vec![data, data], Vec::new());
});
