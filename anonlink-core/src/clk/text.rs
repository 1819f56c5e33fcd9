//! Text in a field's encoding (Python's codecs: UTF-8, ASCII, UTF-16 and UTF-32, the last
//! two little-endian with a BOM), as tokens are hashed.

use super::schema::TextEncoding;

/// Appends `text` to `out` in `encoding`, without the BOM.
pub(super) fn push_encoded(
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

pub(super) fn push_bom(out: &mut Vec<u8>, encoding: TextEncoding) {
    match encoding {
        TextEncoding::Utf16 => out.extend_from_slice(&[0xff, 0xfe]),
        TextEncoding::Utf32 => out.extend_from_slice(&[0xff, 0xfe, 0, 0]),
        _ => {}
    }
}

/// A token's bytes in the field's encoding; UTF-16/32 start with a (little-endian) BOM as
/// Python's codecs write it.
pub(super) fn encode_text(
    token: &str,
    encoding: TextEncoding,
) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(token.len() + 4);
    push_bom(&mut out, encoding);
    push_encoded(&mut out, token.chars(), encoding)
        .map_err(|_| format!("{token:?} cannot be encoded as ascii"))?;
    Ok(out)
}
