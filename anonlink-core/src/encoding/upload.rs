//! The upload document's forms with block ids (API reference §9): `clknblocks` (each
//! record with its block ids) and `encodings` with an optional `blocks` map, beside plain
//! `clks`; and the ids blocks are known by. The decoder here reads every form as a stream
//! (serde visitors, never a DOM); [`super::json`] is the plain `clks` form on top of it.

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Clks, ClksBuilder, SizeLimits, decode_base64_record};
use crate::error::{Error, Result};

/// Which of the upload document's forms was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadForm {
    /// `{"clks": ["<b64>", ...]}`.
    Clks,
    /// `{"clknblocks": [["<b64>", "<block id>", ...], ...]}`.
    ClksAndBlocks,
    /// `{"encodings": ["<b64>", ...], "blocks": {"<record index>": ["<block id>", ...]}}`,
    /// with `blocks` optional.
    Encodings,
}

/// A decoded upload document: the encodings and, where the document had them, each
/// record's block ids.
#[derive(Debug)]
pub struct Upload {
    /// The encodings.
    pub clks: Clks,
    /// Block ids per record (see [`block_id`]); `None` when the document carried none.
    pub blocks: Option<Vec<Vec<u64>>>,
    /// The form used.
    pub form: UploadForm,
}

/// The internal id of a block named `name`: the first 8 bytes of its SHA-256.
///
/// Integer block ids are named by their decimal text, so `1` and `"1"` are one block.
pub fn block_id(name: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The block records without blocking information belong to: `"1"`, as in the reference.
pub const DEFAULT_BLOCK: &str = "1";

/// Block ids for `n` records without blocking information: each in [`DEFAULT_BLOCK`].
pub fn default_blocks(n: usize) -> Vec<Vec<u64>> {
    vec![vec![block_id(DEFAULT_BLOCK)]; n]
}

/// Decodes any of the upload document's forms from a reader, streaming (API reference §9:
/// `clks`, `clknblocks`, or `encodings` with optional `blocks`).
///
/// # Errors
/// As [`decode_json`](super::decode_json); [`Error::Json`] also for block lists that name missing records.
///
/// # Examples
/// ```
/// use anonlink_core::encoding::{SizeLimits, UploadForm, block_id, decode_upload};
///
/// let doc = br#"{"clknblocks": [["AAAAAAAAAP8=", "a", 7], ["AQAAAAAAAAA=", "7"]]}"#;
/// let upload = decode_upload(&doc[..], &SizeLimits::default())?;
/// assert_eq!(upload.form, UploadForm::ClksAndBlocks);
/// let blocks = upload.blocks.unwrap();
/// assert_eq!(blocks[0], vec![block_id("a"), block_id("7")]);
/// assert_eq!(blocks[1], vec![block_id("7")]);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn decode_upload<R: Read>(reader: R, limits: &SizeLimits) -> Result<Upload> {
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    decode_upload_with(&mut de, limits)
}

struct BlockIdSeed;

impl<'de> DeserializeSeed<'de> for BlockIdSeed {
    type Value = u64;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BlockIdSeed {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a block id (string or integer)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        Ok(block_id(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(block_id(&v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        Ok(block_id(&v.to_string()))
    }
}

struct BlockListSeed;

impl<'de> DeserializeSeed<'de> for BlockListSeed {
    type Value = Vec<u64>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<u64>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BlockListSeed {
    type Value = Vec<u64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of block ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
        let mut ids = Vec::new();
        while let Some(id) = seq.next_element_seed(BlockIdSeed)? {
            ids.push(id);
        }
        Ok(ids)
    }
}

struct BlockMapSeed;

impl<'de> DeserializeSeed<'de> for BlockMapSeed {
    type Value = std::collections::BTreeMap<usize, Vec<u64>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BlockMapSeed {
    type Value = std::collections::BTreeMap<usize, Vec<u64>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object from record index to block ids")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = std::collections::BTreeMap::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let index: usize = key.parse().map_err(|_| {
                de::Error::custom(format!("block key {key:?} is not a record index"))
            })?;
            let ids = map.next_value_seed(BlockListSeed)?;
            out.insert(index, ids);
        }
        Ok(out)
    }
}

struct ClknblocksSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for ClknblocksSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ClknblocksSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of [base64, block id, ...] lists")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(RecordAndBlocksSeed(&mut *self.0))?
            .is_some()
        {}
        Ok(())
    }
}

struct RecordAndBlocksSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for RecordAndBlocksSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordAndBlocksSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list: a base64 string, then block ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if seq.next_element_seed(RecordSeed(&mut *self.0))?.is_none() {
            return Err(de::Error::custom("an empty [base64, block id, ...] list"));
        }
        let mut ids = Vec::new();
        while let Some(id) = seq.next_element_seed(BlockIdSeed)? {
            ids.push(id);
        }
        self.0.record_blocks.push(ids);
        Ok(())
    }
}

pub(super) fn decode_upload_with<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    limits: &SizeLimits,
) -> Result<Upload> {
    let mut state = State {
        builder: ClksBuilder::new(*limits),
        failure: None,
        seen_clks: false,
        scratch: Vec::new(),
        form: None,
        record_blocks: Vec::new(),
        block_map: None,
    };
    let parsed = DocumentSeed(&mut state)
        .deserialize(&mut *de)
        .and_then(|()| de.end());
    // A record error travels through serde as an opaque message; the original is kept aside
    // so that callers get the structured error with its record index.
    if let Some(failure) = state.failure.take() {
        return Err(failure);
    }
    parsed.map_err(|e| {
        if e.is_io() {
            // The reader's own error, as it was (serde_json hands I/O errors back whole).
            Error::Io(std::io::Error::from(e))
        } else {
            Error::Json {
                reason: e.to_string(),
            }
        }
    })?;
    let (Some(form), true) = (state.form, state.seen_clks) else {
        return Err(Error::NoEncodings);
    };
    let clks = state.builder.finish().ok_or(Error::NoEncodings)?;
    let blocks = match form {
        UploadForm::Clks => None,
        UploadForm::ClksAndBlocks => Some(state.record_blocks),
        UploadForm::Encodings => match state.block_map {
            None => None,
            Some(map) => {
                if let Some((&index, _)) = map.range(clks.len()..).next() {
                    return Err(Error::Json {
                        reason: format!(
                            "blocks name record {index}, but there are {} records",
                            clks.len()
                        ),
                    });
                }
                let default = default_blocks(1).remove(0);
                Some(
                    (0..clks.len())
                        .map(|i| map.get(&i).cloned().unwrap_or_else(|| default.clone()))
                        .collect(),
                )
            }
        },
    };
    Ok(Upload { clks, blocks, form })
}

struct DocumentSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a \"clks\" list")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let form = match key.as_ref() {
                "clks" => UploadForm::Clks,
                "clknblocks" => UploadForm::ClksAndBlocks,
                "encodings" => UploadForm::Encodings,
                "blocks" => {
                    if self.0.block_map.is_some() {
                        return Err(de::Error::duplicate_field("blocks"));
                    }
                    let map_value = map.next_value_seed(BlockMapSeed)?;
                    self.0.block_map = Some(map_value);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if self.0.seen_clks {
                return Err(de::Error::custom(
                    "more than one of \"clks\", \"clknblocks\" and \"encodings\"",
                ));
            }
            self.0.seen_clks = true;
            self.0.form = Some(form);
            match form {
                UploadForm::ClksAndBlocks => map.next_value_seed(ClknblocksSeed(&mut *self.0))?,
                _ => map.next_value_seed(ClksSeed(&mut *self.0))?,
            }
        }
        Ok(())
    }
}

struct State {
    builder: ClksBuilder,
    failure: Option<Error>,
    seen_clks: bool,
    scratch: Vec<u8>,
    /// Which form the document used, once known.
    form: Option<UploadForm>,
    /// `clknblocks`: block ids of each record, in record order.
    record_blocks: Vec<Vec<u64>>,
    /// `blocks` of the `encodings` form: record index → block ids.
    block_map: Option<std::collections::BTreeMap<usize, Vec<u64>>>,
}

impl State {
    fn fail<E: de::Error>(&mut self, error: Error) -> E {
        let message = error.to_string();
        self.failure = Some(error);
        E::custom(message)
    }
}

struct ClksSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for ClksSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ClksSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of base64 strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(RecordSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct RecordSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a base64 string")
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        let state = self.0;
        let index = state.builder.len();
        let mut scratch = std::mem::take(&mut state.scratch);
        let decoded = decode_base64_record(text, index, &mut scratch)
            .and_then(|()| state.builder.push(&scratch));
        state.scratch = scratch;
        decoded.map_err(|e| state.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::decode_json_slice;

    #[test]
    fn encodings_with_blocks_default_to_block_1() {
        let doc = br#"{"blocks": {"1": ["x", 2]}, "encodings": ["AAAAAAAAAP8=", "AQAAAAAAAAA=", "AQAAAAAAAAA="]}"#;
        let upload = decode_upload(&doc[..], &SizeLimits::default()).unwrap();
        assert_eq!(upload.form, UploadForm::Encodings);
        let blocks = upload.blocks.unwrap();
        assert_eq!(blocks[0], vec![block_id("1")]);
        assert_eq!(blocks[1], vec![block_id("x"), block_id("2")]);
        assert_eq!(blocks[2], vec![block_id("1")]);

        let plain = decode_upload(
            &br#"{"encodings": ["AAAAAAAAAP8="]}"#[..],
            &SizeLimits::default(),
        )
        .unwrap();
        assert!(plain.blocks.is_none());
        let clks = decode_upload(
            &br#"{"clks": ["AAAAAAAAAP8="]}"#[..],
            &SizeLimits::default(),
        )
        .unwrap();
        assert_eq!(clks.form, UploadForm::Clks);
    }

    #[test]
    fn bad_block_documents() {
        let limits = SizeLimits::default();
        for bad in [
            &br#"{"blocks": {"5": ["x"]}, "encodings": ["AAAAAAAAAP8="]}"#[..],
            br#"{"blocks": {"a": ["x"]}, "encodings": ["AAAAAAAAAP8="]}"#,
            br#"{"clknblocks": [[]]}"#,
            br#"{"clknblocks": [["AAAAAAAAAP8=", {"x": 1}]]}"#,
            br#"{"clks": ["AAAAAAAAAP8="], "encodings": ["AAAAAAAAAP8="]}"#,
            br#"{"encodings": {"file": {"bucket": "b", "path": "p"}}}"#,
        ] {
            let err = decode_upload(bad, &limits).unwrap_err();
            assert!(
                matches!(err, Error::Json { .. }),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            decode_upload(&br#"{"blocks": {}}"#[..], &limits),
            Err(Error::NoEncodings)
        ));
        // The plain decoder takes only the clks form.
        assert!(decode_json_slice(br#"{"encodings": ["AAAAAAAAAP8="]}"#, &limits).is_err());
    }
}
