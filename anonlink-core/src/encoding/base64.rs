//! One record as base64 text.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::{Error, Result};

/// Standard alphabet; padding accepted but not required, as the reference's lenient decoder.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes one base64 record (standard alphabet) into `out`, replacing its contents.
///
/// Line breaks (`\n`, `\r`) inside the text are skipped: encoders that wrap base64 every 76
/// characters produce them. `index` only serves the error message.
///
/// # Errors
/// [`Error::Base64`] naming `index`.
///
/// # Examples
/// ```
/// let mut out = Vec::new();
/// anonlink_core::encoding::decode_base64_record("AAECAwQFBgc=", 0, &mut out)?;
/// assert_eq!(out, [0, 1, 2, 3, 4, 5, 6, 7]);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn decode_base64_record(text: &str, index: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let bytes = text.as_bytes();
    let result = if bytes.iter().any(|&b| b == b'\n' || b == b'\r') {
        let joined: Vec<u8> = bytes
            .iter()
            .copied()
            .filter(|&b| b != b'\n' && b != b'\r')
            .collect();
        LENIENT.decode_vec(&joined, out)
    } else {
        LENIENT.decode_vec(bytes, out)
    };
    result.map_err(|e| Error::Base64 {
        index,
        reason: e.to_string(),
    })
}

/// Encodes one record as padded, standard-alphabet base64.
pub fn encode_base64_record(record: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_wrapped_and_unpadded_text() {
        let data: Vec<u8> = (0..128u8).collect();
        let text = encode_base64_record(&data);
        let wrapped: String = text
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        let mut out = Vec::new();
        decode_base64_record(&wrapped, 0, &mut out).unwrap();
        assert_eq!(out, data);
        decode_base64_record(text.trim_end_matches('='), 0, &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn bad_text_names_the_record() {
        let mut out = Vec::new();
        let err = decode_base64_record("not*base64", 7, &mut out).unwrap_err();
        assert_eq!(err.record_index(), Some(7));
        assert!(err.to_string().starts_with("record 7: invalid base64"));
    }
}
