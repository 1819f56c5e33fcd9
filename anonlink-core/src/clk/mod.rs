//! CLK encoding: records to keyed Bloom filters, bit for bit as clkhash 0.18.3 makes them
//! (see `shared/reference/clk-encoding.md` for the rules this follows).
//!
//! [`Schema`] reads linkage schemas v1–v3; [`Encoder`] derives the keys from a secret (HKDF)
//! and encodes records: format each value, tokenise it, hash each token into bit positions
//! (keyed BLAKE2b or HMAC double hashing), OR the fields together and XOR-fold.
//! [`encode_csv`] does it for a CSV file, in parallel.
//!
//! Known limits against the reference: integer values accept ASCII digits only (Python also
//! accepts other Unicode decimal digits); date formats use chrono's `strptime`-like parser
//! (`%Y %m %d %y %b %B %j` and literals behave as Python's; locale-specific names do not);
//! `pattern` is a Rust `regex` (no look-around or back-references); numeric comparisons use
//! 128-bit integers (Python's are unbounded).

mod schema;

pub use schema::{
    Comparison, Feature, Format, HashKind, Hashing, Kdf, MissingValue, Schema, Strategy,
    TextEncoding, default_schema,
};

use std::io::Read;

use blake2::digest::{FixedOutput, Update};
use hmac::Hmac;
use rayon::prelude::*;

use crate::encoding::Clks;
use crate::error::{Error, Result};

/// Records read and encoded per parallel batch.
const BATCH: usize = 10_000;

/// Keyed hash states per feature, ready to clone: keying HMAC or BLAKE2b costs a
/// compression per call, and every token needs it.
#[derive(Clone)]
struct KeyedHashes {
    sha1: Hmac<sha1::Sha1>,
    md5: Hmac<md5::Md5>,
    /// BLAKE2b keyed with key 0 and salted with `str(i)`, for the first few `i`.
    blake: Vec<blake2::Blake2bMac512>,
}

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

/// Bits for token `index` of `count` under `strategy`.
fn k_of(strategy: Strategy, count: usize, index: usize) -> u32 {
    match strategy {
        Strategy::BitsPerToken(k) => k,
        Strategy::BitsPerFeature(b) => {
            let count = count as u32;
            let base = b / count;
            if (index as u32) < b % count {
                base + 1
            } else {
                base
            }
        }
    }
}

/// Appends `text` to `out` in `encoding`, without the BOM.
fn push_encoded(
    out: &mut Vec<u8>,
    text: impl Iterator<Item = char>,
    encoding: TextEncoding,
) -> std::result::Result<(), String> {
    for c in text {
        match encoding {
            TextEncoding::Utf8 => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            TextEncoding::Ascii => {
                if !c.is_ascii() {
                    return Err(format!("{c:?} cannot be encoded as ascii"));
                }
                out.push(c as u8);
            }
            TextEncoding::Utf16 => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.extend_from_slice(&unit.to_le_bytes());
                }
            }
            TextEncoding::Utf32 => out.extend_from_slice(&(c as u32).to_le_bytes()),
        }
    }
    Ok(())
}

fn push_bom(out: &mut Vec<u8>, encoding: TextEncoding) {
    match encoding {
        TextEncoding::Utf16 => out.extend_from_slice(&[0xff, 0xfe]),
        TextEncoding::Utf32 => out.extend_from_slice(&[0xff, 0xfe, 0, 0]),
        _ => {}
    }
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

/// Derives `2 × features` keys of `key_size` bytes with HKDF (RFC 5869) from the secret's
/// UTF-8 bytes; feature `i` gets keys `2i` and `2i + 1`.
fn derive_keys(schema: &Schema, secret: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let n = schema.key_slots();
    let size = schema.kdf.key_size;
    let mut okm = vec![0u8; 2 * n * size];
    let salt = schema.kdf.salt.as_deref();
    let info = schema.kdf.info.as_deref().unwrap_or(&[]);
    let expanded = if schema.kdf.sha512 {
        hkdf::Hkdf::<sha2::Sha512>::new(salt, secret.as_bytes()).expand(info, &mut okm)
    } else {
        hkdf::Hkdf::<sha2::Sha256>::new(salt, secret.as_bytes()).expand(info, &mut okm)
    };
    expanded.map_err(|_| Error::Schema {
        feature: None,
        reason: "too many key bytes for HKDF".into(),
    })?;
    Ok(okm
        .chunks_exact(2 * size)
        .map(|pair| (pair[..size].to_vec(), pair[size..].to_vec()))
        .collect())
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
            .map(|(k0, k1)| KeyedHashes {
                sha1: <Hmac<sha1::Sha1> as hmac::digest::KeyInit>::new_from_slice(k0)
                    .expect("HMAC takes keys of any size"),
                md5: <Hmac<md5::Md5> as hmac::digest::KeyInit>::new_from_slice(k1)
                    .expect("HMAC takes keys of any size"),
                // BLAKE2b keys are at most 64 bytes (the schema check refuses blakeHash
                // features with longer keys; other features never use these).
                blake: (0..if k0.len() <= 64 { 8 } else { 0 })
                    .filter_map(|i: usize| {
                        blake2::Blake2bMac512::new_with_salt_and_personal(
                            k0,
                            i.to_string().as_bytes(),
                            &[],
                        )
                        .ok()
                    })
                    .collect(),
            })
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
                        self.validate(i, format, value).map_err(err)?;
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
                self.validate(i, format, value)
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

    fn validate(
        &self,
        feature: usize,
        format: &Format,
        value: &str,
    ) -> std::result::Result<(), String> {
        match format {
            Format::String {
                encoding,
                case,
                min_length,
                max_length,
                ..
            } => {
                if let Some(re) = &self.patterns[feature]
                    && !re.is_match(value)
                {
                    return Err(format!("{value:?} does not match the pattern"));
                }
                let len = value.chars().count();
                if min_length.is_some_and(|m| len < m) || max_length.is_some_and(|m| len > m) {
                    return Err(format!("length {len} is outside the allowed range"));
                }
                match case.as_deref() {
                    Some("upper") if value.to_uppercase() != value => {
                        return Err(format!("{value:?} is not upper case"));
                    }
                    Some("lower") if value.to_lowercase() != value => {
                        return Err(format!("{value:?} is not lower case"));
                    }
                    _ => {}
                }
                encode_text(value, *encoding).map(|_| ())
            }
            Format::Integer { minimum, maximum } => {
                let canonical = python_int(value)?;
                let n: i128 = canonical
                    .parse()
                    .map_err(|_| format!("{value:?} is out of range"))?;
                if minimum.is_some_and(|m| n < m) || maximum.is_some_and(|m| n > m) {
                    return Err(format!("{n} is outside the allowed range"));
                }
                Ok(())
            }
            Format::Date { format } => parse_date(value, format).map(|_| ()),
            Format::Enum { values } => {
                if values.iter().any(|v| v == value) {
                    Ok(())
                } else {
                    Err(format!("{value:?} is not one of the allowed values"))
                }
            }
        }
    }
}

/// `str(int(s, 10))` for ASCII digits: whitespace around, a sign, `_` between digits.
fn python_int(s: &str) -> std::result::Result<String, String> {
    let bad = || format!("{s:?} is not an integer");
    let t = s.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(bad());
    }
    let mut clean = String::with_capacity(digits.len());
    for c in digits.chars() {
        match c {
            '0'..='9' => clean.push(c),
            '_' => {}
            _ => return Err(bad()),
        }
    }
    let trimmed = clean.trim_start_matches('0');
    Ok(match (trimmed.is_empty(), negative) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.to_string(),
    })
}

fn parse_date(value: &str, format: &str) -> std::result::Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(value, format)
        .map_err(|e| format!("{value:?} is not a date in the format {format:?}: {e}"))
}

/// The value as hashed (`format_value` of the reference).
fn format_value(format: &Format, value: &str) -> std::result::Result<String, String> {
    match format {
        Format::Integer { .. } => python_int(value),
        Format::Date { format } => {
            use chrono::Datelike;
            let d = parse_date(value, format)?;
            // Python's strftime('%Y%m%d') does not pad years below 1000.
            Ok(format!("{}{:02}{:02}", d.year(), d.month(), d.day()))
        }
        Format::String { .. } | Format::Enum { .. } => Ok(value.to_string()),
    }
}

/// Calls `emit(index, count, gram)` for each of the `count` n-grams of `word` padded with
/// `n - 1` spaces on each side, as the reference tokenizes (nothing for an empty word);
/// `chars` is scratch space.
fn for_each_ngram(
    word: &str,
    n: usize,
    chars: &mut Vec<char>,
    mut emit: impl FnMut(usize, usize, &[char]) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    chars.clear();
    if word.is_empty() {
        return Ok(());
    }
    let pad = n.saturating_sub(1);
    chars.extend(std::iter::repeat_n(' ', pad));
    chars.extend(word.chars());
    chars.extend(std::iter::repeat_n(' ', pad));
    let count = (chars.len() + 1).saturating_sub(n);
    for idx in 0..count {
        emit(idx, count, &chars[idx..idx + n])?;
    }
    Ok(())
}

/// Tokens of a formatted value (n-grams as the encoder's fast path makes them).
fn tokenize(comparison: &Comparison, word: &str) -> std::result::Result<Vec<String>, String> {
    if word.is_empty() {
        return Ok(Vec::new());
    }
    match comparison {
        Comparison::Exact => Ok(vec![word.to_string()]),
        Comparison::Ngram { n, positional } => {
            let mut tokens = Vec::new();
            for_each_ngram(word, *n, &mut Vec::new(), |idx, _, gram| {
                let gram: String = gram.iter().collect();
                tokens.push(if *positional {
                    format!("{} {gram}", idx + 1)
                } else {
                    gram
                });
                Ok(())
            })?;
            Ok(tokens)
        }
        Comparison::Numeric {
            threshold_distance,
            resolution,
            fractional_precision,
        } => {
            let scale = 10i128.pow(*fractional_precision);
            let interval = (threshold_distance * 10f64.powi(*fractional_precision as i32))
                .round_ties_even() as i128;
            let v: i128 = match python_int(word) {
                Ok(canonical) => canonical
                    .parse::<i128>()
                    .map_err(|_| format!("{word:?} is out of range"))?
                    .checked_mul(scale)
                    .ok_or_else(|| format!("{word:?} is out of range"))?,
                Err(_) => {
                    let f: f64 = word
                        .trim()
                        .parse()
                        .map_err(|_| format!("{word:?} is not a number"))?;
                    if !f.is_finite() {
                        return Err(format!("{word:?} is not a finite number"));
                    }
                    if *fractional_precision > 0 {
                        (f * 10f64.powi(*fractional_precision as i32)).round_ties_even() as i128
                    } else {
                        f.trunc() as i128
                    }
                }
            };
            let res = i128::from(*resolution);
            let v = v
                .checked_mul(2 * res)
                .ok_or_else(|| format!("{word:?} is out of range"))?;
            let residue = v.rem_euclid(interval);
            let v = if residue == 0 {
                v
            } else if (residue as f64) < interval as f64 / 2.0 {
                v - residue
            } else {
                v + (interval - residue)
            };
            Ok((-res..=res)
                .map(|i| (v + i * interval).to_string())
                .collect())
        }
    }
}

/// A token's bytes in the field's encoding; UTF-16/32 start with a (little-endian) BOM as
/// Python's codecs write it.
fn encode_text(token: &str, encoding: TextEncoding) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(token.len() + 4);
    push_bom(&mut out, encoding);
    push_encoded(&mut out, token.chars(), encoding)
        .map_err(|_| format!("{token:?} cannot be encoded as ascii"))?;
    Ok(out)
}

fn set_bit(bits: &mut [u64], index: usize) {
    // Bit i of the filter is bit (63 - i % 64) of word i / 64: big-endian bit order, so the
    // words serialise as the reference's bytes.
    bits[index / 64] |= 1u64 << (63 - index % 64);
}

/// blakeHash: `ceil(k/32)` keyed BLAKE2b-512 digests (salt `str(i)`), read as 32 little-endian
/// u16 each; the first `k` values mod `l` are the bit positions.
fn blake_positions(
    token: &[u8],
    k: u32,
    key: &[u8],
    keyed: &KeyedHashes,
    l: usize,
    out: &mut Vec<u32>,
) {
    let macs = (k as usize).div_ceil(32);
    for i in 0..macs {
        let mut mac = match keyed.blake.get(i) {
            Some(m) => m.clone(),
            None => blake2::Blake2bMac512::new_with_salt_and_personal(
                key,
                i.to_string().as_bytes(),
                &[],
            )
            .expect("64-byte keys and short salts are valid for BLAKE2b"),
        };
        Update::update(&mut mac, token);
        let digest = mac.finalize_fixed();
        for pair in digest.chunks_exact(2) {
            if out.len() == k as usize {
                return;
            }
            let v = u16::from_le_bytes([pair[0], pair[1]]) as usize;
            out.push((v % l) as u32);
        }
    }
}

/// A big-endian digest modulo `l` (the reference's `int(hexdigest, 16) % l`).
fn digest_mod(digest: &[u8], l: usize) -> usize {
    if (l as u64) < (1 << 48) {
        // acc < l, so acc · 256 + 255 stays below 2^56: u64 arithmetic is exact and fast.
        let l = l as u64;
        return digest
            .iter()
            .fold(0u64, |acc, &b| (acc * 256 + u64::from(b)) % l) as usize;
    }
    let l = l as u128;
    digest
        .iter()
        .fold(0u128, |acc, &b| (acc * 256 + u128::from(b)) % l) as usize
}

/// doubleHash: positions `(h1 + i·h2) mod l` with `h1 = HMAC-SHA1(key0)`, `h2 =
/// HMAC-MD5(key1)`, both mod `l`; with `prevent_singularity`, a zero `h2` is rehashed with
/// `chr(i)` appended.
fn double_positions(
    token: &[u8],
    k: u32,
    keyed: &KeyedHashes,
    l: usize,
    prevent_singularity: bool,
    out: &mut Vec<u32>,
) {
    let mut sha1 = keyed.sha1.clone();
    Update::update(&mut sha1, token);
    let h1 = digest_mod(&sha1.finalize_fixed(), l);
    let mut md5 = keyed.md5.clone();
    Update::update(&mut md5, token);
    let mut h2 = digest_mod(&md5.finalize_fixed(), l);
    if prevent_singularity {
        let mut i: u32 = 0;
        while h2 == 0 {
            let c = char::from_u32(i).unwrap_or('\u{fffd}');
            let mut buf = [0u8; 4];
            let mut md5 = keyed.md5.clone();
            Update::update(&mut md5, token);
            Update::update(&mut md5, c.encode_utf8(&mut buf).as_bytes());
            h2 = digest_mod(&md5.finalize_fixed(), l);
            i += 1;
        }
    }
    // h1, h2 < l; with l < 2^32 and k < 2^31 the sum fits in a u64.
    let (h1, h2, l) = (h1 as u64, h2 as u64, l as u64);
    for i in 0..u64::from(k) {
        out.push(((h1 + i * h2) % l) as u32);
    }
}

/// XOR-folds `l` bits `folds` times and serialises them as bytes (bit 0 = MSB of byte 0).
fn fold_to_bytes(bits: &[u64], l: usize, folds: u32) -> Vec<u8> {
    let get = |v: &[u64], i: usize| (v[i / 64] >> (63 - i % 64)) & 1;
    let mut current: Vec<u64> = bits.to_vec();
    let mut len = l;
    for _ in 0..folds {
        let half = len / 2;
        let mut next = vec![0u64; half.div_ceil(64)];
        for i in 0..half {
            if get(&current, i) ^ get(&current, i + half) == 1 {
                set_bit(&mut next, i);
            }
        }
        current = next;
        len = half;
    }
    let mut out: Vec<u8> = current.iter().flat_map(|w| w.to_be_bytes()).collect();
    out.truncate(len.div_ceil(8));
    out
}

/// What to do with the first CSV row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// There is a header; its names must be the schema's identifiers.
    Check,
    /// There is a header; skip it unchecked.
    Ignore,
    /// There is no header.
    Absent,
}

/// Encodes every record of a CSV file, in parallel batches, into a [`Clks`] store; `progress`
/// hears the number of records done after each batch.
///
/// # Errors
/// [`Error::Csv`] for unreadable CSV, a wrong header or a wrong number of columns;
/// [`Error::InvalidValues`] listing the row and field of the values that fail validation
/// (with `validate`) or cannot be encoded — every record is checked before failing.
pub fn encode_csv<R: Read>(
    encoder: &Encoder,
    reader: R,
    header: Header,
    validate: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Clks> {
    let size = encoder.bytes_per_record();
    if !size.is_multiple_of(8) {
        return Err(Error::Schema {
            feature: None,
            reason: format!(
                "clkConfig.l = {} bits is not a multiple of 64",
                encoder.schema.l
            ),
        });
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(header != Header::Absent)
        .flexible(true)
        .from_reader(reader);
    if header == Header::Check {
        let names: Vec<String> = csv
            .headers()
            .map_err(|e| Error::Csv {
                reason: e.to_string(),
            })?
            .iter()
            .map(str::to_string)
            .collect();
        let expected: Vec<&str> = encoder
            .schema
            .features
            .iter()
            .map(|f| f.identifier.as_str())
            .collect();
        if names != expected {
            return Err(Error::Csv {
                reason: format!(
                    "header {names:?} does not match the schema's identifiers {expected:?}"
                ),
            });
        }
    }
    let mut clks = Clks::with_record_size(size)?;
    // One token cache per thread, kept across batches: each thread encodes one contiguous
    // slice of every batch.
    let threads = rayon::current_num_threads().max(1);
    let mut caches: Vec<TokenCache> = (0..threads).map(|_| TokenCache::default()).collect();
    let mut records = csv.into_records();
    let mut row = 0usize;
    const MAX_REPORTED: usize = 100;
    let mut invalid: Vec<String> = Vec::new();
    let mut invalid_count = 0usize;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        for record in records.by_ref().take(BATCH) {
            batch.push(record.map_err(|e| Error::Csv {
                reason: e.to_string(),
            })?);
        }
        if batch.is_empty() {
            break;
        }
        let first = row;
        let slice = batch.len().div_ceil(threads);
        let encoded: Vec<Vec<std::result::Result<Vec<u8>, Vec<Error>>>> = batch
            .par_chunks(slice)
            .zip(caches.par_iter_mut())
            .enumerate()
            .map(|(c, (chunk, cache))| {
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let values: Vec<&str> = r.iter().collect();
                        let row = first + c * slice + i;
                        if validate && values.len() == encoder.schema.features.len() {
                            let problems = encoder.validate_record(&values, row);
                            if !problems.is_empty() {
                                return Err(problems);
                            }
                        }
                        encoder
                            .encode_cached(&values, row, validate, cache)
                            .map_err(|e| vec![e])
                    })
                    .collect::<Vec<std::result::Result<Vec<u8>, Vec<Error>>>>()
            })
            .collect::<Vec<_>>();
        clks.reserve(batch.len());
        for result in encoded.into_iter().flatten() {
            match result {
                Ok(e) if invalid.is_empty() => clks.push(&e)?,
                Ok(_) => {}
                Err(errors) => {
                    for e in errors {
                        match e {
                            Error::Value { .. } => {
                                invalid_count += 1;
                                if invalid.len() < MAX_REPORTED {
                                    invalid.push(e.to_string());
                                }
                            }
                            other => return Err(other),
                        }
                    }
                }
            }
        }
        row += batch.len();
        progress(batch.len() as u64);
    }
    if invalid_count > 0 {
        return Err(Error::InvalidValues {
            count: invalid_count,
            problems: invalid,
        });
    }
    Ok(clks)
}

#[cfg(test)]
mod tests {
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
