//! The JSON upload document `{"clks": ["<base64>", ...]}`, decoded as a stream.
//!
//! The document is never held as a DOM: each string is decoded and packed as soon as the
//! parser reaches it, so memory is the packed records plus the parser's scratch buffer.
//! Other top-level keys are skipped. The streaming decoder itself, which reads every form
//! of the upload document, is [`super::upload`]'s; this is the plain `clks` form.

use std::io::{Read, Write};

use super::upload::{UploadForm, decode_upload_with};
use super::{Clks, SizeLimits, encode_base64_record};
use crate::error::{Error, Result};

/// Decodes an upload document from a reader, streaming.
///
/// # Errors
/// [`Error::Json`] for malformed JSON (with line and column), [`Error::NoEncodings`] for a
/// missing or empty `clks` list, and the record-level errors of [`decode_base64_record`](super::decode_base64_record) and
/// [`SizeLimits::check`], each naming the record index.
pub fn decode_json<R: Read>(reader: R, limits: &SizeLimits) -> Result<Clks> {
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    decode_with(&mut de, limits)
}

/// Decodes an upload document held in memory.
///
/// # Errors
/// As [`decode_json`].
///
/// # Examples
/// ```
/// use anonlink_core::encoding::{SizeLimits, decode_json_slice};
///
/// let clks = decode_json_slice(br#"{"clks": ["AAAAAAAAAP8=", "AQAAAAAAAAA="]}"#, &SizeLimits::default())?;
/// assert_eq!(clks.len(), 2);
/// assert_eq!(clks.popcount(0), 8);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn decode_json_slice(bytes: &[u8], limits: &SizeLimits) -> Result<Clks> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    decode_with(&mut de, limits)
}

/// Writes `clks` with their block ids as a `clknblocks` upload document (each record
/// followed by its block ids).
///
/// # Errors
/// [`Error::Io`] when writing fails; [`Error::Json`] when `blocks` has not one entry per
/// record.
pub fn encode_json_with_blocks<W: Write>(
    clks: &Clks,
    blocks: &[Vec<String>],
    mut writer: W,
) -> Result<()> {
    if blocks.len() != clks.len() {
        return Err(Error::Json {
            reason: format!("{} block lists for {} records", blocks.len(), clks.len()),
        });
    }
    writer.write_all(b"{\"clknblocks\": [")?;
    for (i, ids) in blocks.iter().enumerate() {
        if i > 0 {
            writer.write_all(b", ")?;
        }
        writer.write_all(b"[\"")?;
        writer.write_all(encode_base64_record(&clks.record_bytes(i)).as_bytes())?;
        writer.write_all(b"\"")?;
        for id in ids {
            writer.write_all(b", ")?;
            serde_json::to_writer(&mut writer, id).map_err(|e| Error::Json {
                reason: e.to_string(),
            })?;
        }
        writer.write_all(b"]")?;
    }
    writer.write_all(b"]}")?;
    Ok(())
}

/// Writes `clks` as an upload document.
///
/// # Errors
/// [`Error::Io`] when writing fails.
pub fn encode_json<W: Write>(clks: &Clks, mut writer: W) -> Result<()> {
    writer.write_all(b"{\"clks\": [")?;
    for i in 0..clks.len() {
        if i > 0 {
            writer.write_all(b", ")?;
        }
        writer.write_all(b"\"")?;
        writer.write_all(encode_base64_record(&clks.record_bytes(i)).as_bytes())?;
        writer.write_all(b"\"")?;
    }
    writer.write_all(b"]}")?;
    Ok(())
}

fn decode_with<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    limits: &SizeLimits,
) -> Result<Clks> {
    let upload = decode_upload_with(de, limits)?;
    match upload.form {
        UploadForm::Clks => Ok(upload.clks),
        _ => Err(Error::Json {
            reason: "expected a \"clks\" list".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(records: &[&[u8]]) -> String {
        let items: Vec<String> = records
            .iter()
            .map(|r| format!("\"{}\"", encode_base64_record(r)))
            .collect();
        format!(
            "{{\"other\": {{\"a\": [1, 2]}}, \"clks\": [{}]}}",
            items.join(",")
        )
    }

    #[test]
    fn decodes_from_reader_and_slice_alike() {
        let a = [1u8; 16];
        let b = [2u8; 16];
        let text = doc(&[&a, &b]);
        let from_slice = decode_json_slice(text.as_bytes(), &SizeLimits::default()).unwrap();
        let from_reader = decode_json(text.as_bytes(), &SizeLimits::default()).unwrap();
        assert_eq!(from_slice.words(), from_reader.words());
        assert_eq!(from_slice.record_bytes(1), b);
        let mut out = Vec::new();
        encode_json(&from_slice, &mut out).unwrap();
        let again = decode_json_slice(&out, &SizeLimits::default()).unwrap();
        assert_eq!(again.words(), from_slice.words());
    }

    /// Found by fuzz target decode_json: the slice and reader parsers report different
    /// columns for the same error; both must still be a JSON error.
    #[test]
    fn regression_fuzz_trailing_bytes_after_number() {
        let input = b"\n0\x9d";
        let limits = SizeLimits::default();
        assert!(matches!(
            decode_json_slice(input, &limits),
            Err(Error::Json { .. })
        ));
        assert!(matches!(
            decode_json(&input[..], &limits),
            Err(Error::Json { .. })
        ));
    }

    #[test]
    fn errors_are_specific() {
        let limits = SizeLimits::default();
        let mixed = doc(&[&[0u8; 16], &[0u8; 16], &[0u8; 8]]);
        let err = decode_json_slice(mixed.as_bytes(), &limits).unwrap_err();
        assert!(matches!(err, Error::SizeMismatch { index: 2, .. }), "{err}");

        let err = decode_json_slice(br#"{"clks": ["AAAA", "!!"]}"#, &limits).unwrap_err();
        assert!(
            matches!(err, Error::SizeNotMultipleOf8 { index: 0, .. }),
            "{err}"
        );

        let err = decode_json_slice(br#"{"clks": ["AAAAAAAAAAA=", "!!"]}"#, &limits).unwrap_err();
        assert!(matches!(err, Error::Base64 { index: 1, .. }), "{err}");

        for bad in [&br#"{"clks": []}"#[..], br#"{"x": 1}"#] {
            assert!(matches!(
                decode_json_slice(bad, &limits),
                Err(Error::NoEncodings)
            ));
        }
        for bad in [
            &br#"{"clks": ["AAAAAAAAAAA="]"#[..],
            br#"{"clks": [1]}"#,
            br#"[]"#,
            br#"{"clks": ["AAAAAAAAAAA="]} x"#,
            br#"{"clks": ["AAAAAAAAAAA="], "clks": []}"#,
        ] {
            assert!(
                matches!(decode_json_slice(bad, &limits), Err(Error::Json { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
