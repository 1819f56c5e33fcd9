//! Bloom filter positions and keys: HKDF key derivation per feature, keyed BLAKE2b and HMAC
//! double hashing into bit positions, and the XOR fold.

use blake2::digest::{FixedOutput, Update};
use hmac::Hmac;

use super::schema::Schema;
use crate::error::{Error, Result};

/// Keyed hash states per feature, ready to clone: keying HMAC or BLAKE2b costs a
/// compression per call, and every token needs it.
#[derive(Clone)]
pub(super) struct KeyedHashes {
    pub(super) sha1: Hmac<sha1::Sha1>,
    pub(super) md5: Hmac<md5::Md5>,
    /// BLAKE2b keyed with key 0 and salted with `str(i)`, for the first few `i`.
    pub(super) blake: Vec<blake2::Blake2bMac512>,
}

impl KeyedHashes {
    /// The hash states keyed with a feature's two keys.
    pub(super) fn new(k0: &[u8], k1: &[u8]) -> KeyedHashes {
        KeyedHashes {
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
        }
    }
}

/// Derives `2 × features` keys of `key_size` bytes with HKDF (RFC 5869) from the secret's
/// UTF-8 bytes; feature `i` gets keys `2i` and `2i + 1`.
pub(super) fn derive_keys(schema: &Schema, secret: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
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

pub(super) fn set_bit(bits: &mut [u64], index: usize) {
    // Bit i of the filter is bit (63 - i % 64) of word i / 64: big-endian bit order, so the
    // words serialise as the reference's bytes.
    bits[index / 64] |= 1u64 << (63 - index % 64);
}

/// blakeHash: `ceil(k/32)` keyed BLAKE2b-512 digests (salt `str(i)`), read as 32 little-endian
/// u16 each; the first `k` values mod `l` are the bit positions.
pub(super) fn blake_positions(
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
pub(super) fn digest_mod(digest: &[u8], l: usize) -> usize {
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
pub(super) fn double_positions(
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
pub(super) fn fold_to_bytes(bits: &[u64], l: usize, folds: u32) -> Vec<u8> {
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
