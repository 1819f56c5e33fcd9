//! CLK encoding: records to keyed Bloom filters, bit for bit as clkhash 0.18.3 makes them
//! (see `shared/reference/clk-encoding.md` for the rules this follows).
//!
//! [`Schema`] reads linkage schemas v1–v3; [`Encoder`] derives the keys from a secret (HKDF)
//! and encodes records: format each value (`format`), tokenise it (`tokens`), hash each
//! token into bit positions (`bloom`: keyed BLAKE2b or HMAC double hashing), OR the fields
//! together and XOR-fold. [`encode_records`] and [`encode_csv`] do it for many records, in
//! parallel batches.
//!
//! Known limits against the reference: integer values accept ASCII digits only (Python also
//! accepts other Unicode decimal digits); date formats use chrono's `strptime`-like parser
//! (`%Y %m %d %y %b %B %j` and literals behave as Python's; locale-specific names do not);
//! `pattern` is a Rust `regex` (no look-around or back-references); numeric comparisons use
//! 128-bit integers (Python's are unbounded).

mod bloom;
mod csv;
mod format;
mod schema;
mod text;
mod tokens;

pub use schema::{
    Comparison, Feature, Format, HashKind, Hashing, Kdf, MissingValue, Schema, Strategy,
    TextEncoding, default_schema,
};

pub use self::csv::{Header, encode_csv, encode_records};

use self::bloom::{
    KeyedHashes, blake_positions, derive_keys, double_positions, fold_to_bytes, set_bit,
};
use self::format::{format_value, validate_value};
use self::text::{push_bom, push_encoded};
use self::tokens::{for_each_ngram, k_of, tokenize};
use crate::error::{Error, Result};

/// Bit positions already computed, per feature: token bytes → positions (for the largest `k`
/// seen; a smaller `k` uses a prefix, since both hashes give positions in a fixed order).
/// Tokens repeat a lot across records (the reference caches them too).
#[derive(Default)]
pub struct TokenCache {
    maps: Vec<rustc_hash::FxHashMap<Vec<u8>, Vec<u32>>>,
    /// Per feature: formatted value → the bits it sets (field values repeat even more than
    /// tokens: names, places, dates).
    values: Vec<rustc_hash::FxHashMap<String, Box<[u64]>>>,
    token: Vec<u8>,
    chars: Vec<char>,
}

impl TokenCache {
    /// Entries kept per feature before its cache starts over.
    const LIMIT: usize = 1 << 18;
}

/// Encodes records with a schema and a secret.
#[derive(Clone)]
pub struct Encoder {
    schema: Schema,
    /// Two keys per feature (ignored ones included).
    keys: Vec<(Vec<u8>, Vec<u8>)>,
    hashes: Vec<KeyedHashes>,
    /// Compiled `pattern`s, per feature.
    patterns: Vec<Option<regex::Regex>>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys.
        f.debug_struct("Encoder")
            .field("features", &self.schema.features.len())
            .field("l", &self.schema.l)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for `schema` with keys derived from `secret`.
    ///
    /// # Errors
    /// [`Error::Schema`] when the keys cannot be derived.
    pub fn new(schema: Schema, secret: &str) -> Result<Encoder> {
        let keys = derive_keys(&schema, secret)?;
        let patterns = schema
            .features
            .iter()
            .map(|f| match &f.spec {
                Some((
                    Format::String {
                        pattern: Some(p), ..
                    },
                    _,
                )) => regex::Regex::new(&format!("^(?:{p})$")).ok(),
                _ => None,
            })
            .collect();
        let hashes = keys
            .iter()
            .map(|(k0, k1)| KeyedHashes::new(k0, k1))
            .collect();
        Ok(Encoder {
            schema,
            keys,
            hashes,
            patterns,
        })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Size of the encodings in bytes.
    pub fn bytes_per_record(&self) -> usize {
        self.schema.l.div_ceil(8)
    }

    /// Encodes one record (one value per feature, in schema order); `row` only serves error
    /// messages. With `validate`, values are checked against their format first.
    ///
    /// # Errors
    /// [`Error::Value`] naming the row and field.
    pub fn encode(&self, record: &[&str], row: usize, validate: bool) -> Result<Vec<u8>> {
        self.encode_cached(record, row, validate, &mut TokenCache::default())
    }

    /// As [`Encoder::encode`], reusing the bit positions of tokens seen before.
    ///
    /// # Errors
    /// As [`Encoder::encode`].
    pub fn encode_cached(
        &self,
        record: &[&str],
        row: usize,
        validate: bool,
        cache: &mut TokenCache,
    ) -> Result<Vec<u8>> {
        if record.len() != self.schema.features.len() {
            return Err(Error::Csv {
                reason: format!(
                    "row {row} has {} values, the schema {} features",
                    record.len(),
                    self.schema.features.len()
                ),
            });
        }
        let hash_l = self.schema.l << self.schema.xor_folds;
        let mut bits = vec![0u64; hash_l.div_ceil(64)];
        for (i, (value, feature)) in record.iter().zip(&self.schema.features).enumerate() {
            let Some((format, hashing)) = &feature.spec else {
                continue;
            };
            let err = |reason: String| Error::Value {
                row,
                field: feature.identifier.clone(),
                reason,
            };
            let missing = hashing.missing.as_ref().filter(|m| m.sentinel == *value);
            let formatted = match missing {
                Some(m) => m.replace_with.clone(),
                None => {
                    if validate {
                        validate_value(self.patterns[i].as_ref(), format, value).map_err(err)?;
                    }
                    format_value(format, value).map_err(err)?
                }
            };
            let encoding = match format {
                Format::String { encoding, .. } => *encoding,
                _ => TextEncoding::Utf8,
            };
            if cache.maps.len() < self.schema.features.len() {
                cache
                    .maps
                    .resize_with(self.schema.features.len(), Default::default);
                cache
                    .values
                    .resize_with(self.schema.features.len(), Default::default);
            }
            if let Some(field_bits) = cache.values[i].get(formatted.as_str()) {
                for (b, f) in bits.iter_mut().zip(field_bits.iter()) {
                    *b |= f;
                }
                continue;
            }
            if cache.maps[i].len() > TokenCache::LIMIT {
                cache.maps[i].clear();
            }
            if cache.values[i].len() > TokenCache::LIMIT / 4 {
                cache.values[i].clear();
            }
            let mut field_bits = vec![0u64; bits.len()];
            let mut token = std::mem::take(&mut cache.token);
            let mut add = |token: &[u8], idx: usize, count: usize| {
                let k = k_of(hashing.strategy, count, idx);
                self.set_token_bits(
                    i,
                    hashing.hash,
                    token,
                    k,
                    hash_l,
                    &mut cache.maps[i],
                    &mut field_bits,
                );
            };
            let outcome = (|| -> std::result::Result<(), String> {
                match &hashing.comparison {
                    Comparison::Ngram { n, positional } => {
                        // The fast path: tokens are built in one buffer, never as Strings.
                        for_each_ngram(&formatted, *n, &mut cache.chars, |idx, count, gram| {
                            token.clear();
                            push_bom(&mut token, encoding);
                            if *positional {
                                push_encoded(
                                    &mut token,
                                    (idx + 1).to_string().chars().chain([' ']),
                                    encoding,
                                )?;
                            }
                            push_encoded(&mut token, gram.iter().copied(), encoding)?;
                            add(&token, idx, count);
                            Ok(())
                        })?;
                    }
                    other => {
                        let tokens = tokenize(other, &formatted)?;
                        for (idx, t) in tokens.iter().enumerate() {
                            token.clear();
                            push_bom(&mut token, encoding);
                            push_encoded(&mut token, t.chars(), encoding)?;
                            add(&token, idx, tokens.len());
                        }
                    }
                }
                Ok(())
            })();
            cache.token = token;
            outcome.map_err(err)?;
            for (b, f) in bits.iter_mut().zip(&field_bits) {
                *b |= f;
            }
            cache.values[i].insert(formatted, field_bits.into_boxed_slice());
        }
        Ok(fold_to_bytes(&bits, hash_l, self.schema.xor_folds))
    }

    /// Every value of a record that fails its format, each as an [`Error::Value`].
    pub fn validate_record(&self, record: &[&str], row: usize) -> Vec<Error> {
        record
            .iter()
            .zip(&self.schema.features)
            .enumerate()
            .filter_map(|(i, (value, feature))| {
                let (format, hashing) = feature.spec.as_ref()?;
                if hashing
                    .missing
                    .as_ref()
                    .is_some_and(|m| m.sentinel == *value)
                {
                    return None;
                }
                validate_value(self.patterns[i].as_ref(), format, value)
                    .err()
                    .map(|reason| Error::Value {
                        row,
                        field: feature.identifier.clone(),
                        reason,
                    })
            })
            .collect()
    }

    /// Sets the `k` bits of one token, from the cache or freshly hashed.
    #[allow(clippy::too_many_arguments)]
    fn set_token_bits(
        &self,
        feature: usize,
        hash: HashKind,
        token: &[u8],
        k: u32,
        hash_l: usize,
        cache: &mut rustc_hash::FxHashMap<Vec<u8>, Vec<u32>>,
        bits: &mut [u64],
    ) {
        if let Some(positions) = cache.get(token)
            && positions.len() >= k as usize
        {
            for &p in &positions[..k as usize] {
                set_bit(bits, p as usize);
            }
            return;
        }
        let mut positions = Vec::with_capacity(k as usize);
        match hash {
            HashKind::Blake => blake_positions(
                token,
                k,
                &self.keys[feature].0,
                &self.hashes[feature],
                hash_l,
                &mut positions,
            ),
            HashKind::Double {
                prevent_singularity,
            } => double_positions(
                token,
                k,
                &self.hashes[feature],
                hash_l,
                prevent_singularity,
                &mut positions,
            ),
        }
        for &p in &positions {
            set_bit(bits, p as usize);
        }
        cache.insert(token.to_vec(), positions);
    }
}

#[cfg(test)]
mod tests {
    use super::bloom::fold_to_bytes;
    use super::format::python_int;
    use super::text::encode_text;
    use super::tokens::tokenize;
    use super::*;

    #[test]
    fn python_int_formatting() {
        for (s, out) in [
            (" +0042 ", "42"),
            ("-1_000", "-1000"),
            ("0", "0"),
            ("-0", "0"),
        ] {
            assert_eq!(python_int(s).unwrap(), out);
        }
        for s in ["", "1__0", "_1", "1.5", "x", "--1"] {
            assert!(python_int(s).is_err(), "{s}");
        }
    }

    #[test]
    fn tokens_as_the_reference() {
        let ngram = |n, positional| Comparison::Ngram { n, positional };
        assert_eq!(
            tokenize(&ngram(2, false), "ab").unwrap(),
            vec![" a", "ab", "b "]
        );
        assert_eq!(
            tokenize(&ngram(2, true), "ab").unwrap(),
            vec!["1  a", "2 ab", "3 b "]
        );
        assert_eq!(tokenize(&ngram(1, true), "12").unwrap(), vec!["1 1", "2 2"]);
        assert!(tokenize(&ngram(2, false), "").unwrap().is_empty());
        let numeric = Comparison::Numeric {
            threshold_distance: 8.0,
            resolution: 2,
            fractional_precision: 0,
        };
        // The reference's docstring example: x = 25 gives [88, 96, 104, 112, 120].
        assert_eq!(
            tokenize(&numeric, "25").unwrap(),
            vec!["88", "96", "104", "112", "120"]
        );
        assert_eq!(
            (0..3)
                .map(|i| k_of(Strategy::BitsPerFeature(10), 3, i))
                .collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
        assert_eq!(
            encode_text("a", TextEncoding::Utf16).unwrap(),
            vec![0xff, 0xfe, b'a', 0]
        );
    }

    /// Found by fuzz target clk_schema_csv: keys longer than BLAKE2b's 64 bytes made the
    /// encoder panic even when no feature used blakeHash.
    #[test]
    fn regression_fuzz_long_keys_without_blake() {
        let schema = Schema::from_json(
            r#"{"version": 3, "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "keySize": 65}},
                "features": [{"identifier": "a", "ignored": true}]}"#,
        )
        .unwrap();
        assert!(Encoder::new(schema, "s").is_ok());
        let err = Schema::from_json(
            r#"{"version": 3, "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "keySize": 65}},
                "features": [{"identifier": "a", "format": {"type": "string"},
                  "hashing": {"comparison": {"type": "exact"}, "strategy": {"bitsPerToken": 3}}}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("at most 64 bytes"), "{err}");
    }

    #[test]
    fn validation_reports_every_bad_value() {
        let schema = Schema::from_json(
            r#"{"version": 3, "clkConfig": {"l": 1024, "kdf": {"type": "HKDF"}},
                "features": [{"identifier": "age", "format": {"type": "integer", "maximum": 130},
                  "hashing": {"comparison": {"type": "ngram", "n": 1}, "strategy": {"bitsPerToken": 3}}},
                  {"identifier": "sex", "format": {"type": "enum", "values": ["M", "F"]},
                  "hashing": {"comparison": {"type": "exact"}, "strategy": {"bitsPerToken": 3}}}]}"#,
        )
        .unwrap();
        let encoder = Encoder::new(schema, "s").unwrap();
        let csv = "age,sex\n30,M\n200,F\nx,Q\n";
        let err = encode_csv(&encoder, csv.as_bytes(), Header::Check, true, &|_| {}).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("3 invalid values"), "{text}");
        assert!(
            text.contains("row 1, field \"age\"") && text.contains("row 2, field \"age\""),
            "{text}"
        );
        assert!(text.contains("row 2, field \"sex\""), "{text}");
        // Without validation only unencodable values count: "x" is not an integer.
        let err = encode_csv(&encoder, csv.as_bytes(), Header::Check, false, &|_| {}).unwrap_err();
        assert!(err.to_string().starts_with("1 invalid values"), "{err}");

        // Rows of values give what the CSV gives, and the same errors.
        let rows = vec![vec!["30", "M"], vec!["200", "F"], vec!["x", "Q"]];
        let err = encode_records(&encoder, &rows, true, &|_| true).unwrap_err();
        assert!(err.to_string().starts_with("3 invalid values"), "{err}");
        let good: Vec<Vec<String>> = (0..25_000)
            .map(|i| vec![(i % 120).to_string(), ["M", "F"][i % 2].to_string()])
            .collect();
        let text: String = std::iter::once("age,sex\n".to_string())
            .chain(good.iter().map(|r| format!("{},{}\n", r[0], r[1])))
            .collect();
        let from_csv = encode_csv(&encoder, text.as_bytes(), Header::Check, true, &|_| {}).unwrap();
        let seen = std::sync::atomic::AtomicU64::new(0);
        let from_rows = encode_records(&encoder, &good, true, &|n| {
            seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            true
        })
        .unwrap();
        assert_eq!(from_rows.len(), 25_000 * 128);
        let csv_bytes: Vec<u8> = from_csv
            .words()
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(from_rows, csv_bytes);
        assert_eq!(seen.into_inner(), 25_000);
        // Cancelled after the first batch.
        let cancelled = encode_records(&encoder, &good, true, &|_| false);
        assert!(matches!(cancelled, Err(Error::Cancelled)));
    }

    #[test]
    fn folding_halves() {
        let mut bits = vec![0u64; 1];
        set_bit(&mut bits, 0);
        set_bit(&mut bits, 32);
        set_bit(&mut bits, 1);
        // Bits 0 and 32 cancel; bit 1 stays.
        assert_eq!(fold_to_bytes(&bits, 64, 1), vec![0x40, 0, 0, 0]);
    }
}
