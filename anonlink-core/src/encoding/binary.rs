//! The binary upload format: records concatenated, each exactly `Hash-Size` raw bytes, with
//! the number of records declared up front (`Hash-Count`).

use std::io::{ErrorKind, Read, Write};

use super::{Clks, SizeLimits};
use crate::error::{Error, Result};

/// Reads exactly `count` records of `bytes_per_record` bytes, and checks nothing follows.
///
/// # Errors
/// A size error (record index 0) when `bytes_per_record` is outside `limits` or not a
/// multiple of 8; [`Error::Truncated`] naming the first incomplete record;
/// [`Error::TrailingData`] when the body is longer than declared; [`Error::Io`].
///
/// # Examples
/// ```
/// use anonlink_core::encoding::{SizeLimits, decode_binary};
///
/// let body = [0u8; 24];
/// let clks = decode_binary(&body[..], 3, 8, &SizeLimits::default())?;
/// assert_eq!(clks.len(), 3);
/// assert!(decode_binary(&body[..], 4, 8, &SizeLimits::default()).is_err());
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn decode_binary<R: Read>(
    mut reader: R,
    count: usize,
    bytes_per_record: usize,
    limits: &SizeLimits,
) -> Result<Clks> {
    limits.check(0, bytes_per_record)?;
    let mut clks = Clks::with_record_size(bytes_per_record)?;
    // The count is declared by the sender: reserve by what arrives, not by what is promised.
    clks.reserve(count.min(1 << 16));
    let mut buf = vec![0u8; bytes_per_record];
    for index in 0..count {
        let got = read_full(&mut reader, &mut buf)?;
        if got < bytes_per_record {
            return Err(Error::Truncated {
                index,
                got: (index * bytes_per_record + got) as u64,
                expected: count as u64 * bytes_per_record as u64,
            });
        }
        clks.push(&buf)?;
    }
    let mut probe = [0u8; 1];
    if read_full(&mut reader, &mut probe)? != 0 {
        return Err(Error::TrailingData {
            count,
            size: bytes_per_record,
        });
    }
    Ok(clks)
}

/// Writes `clks` in the binary format (the count and size travel separately).
///
/// # Errors
/// [`Error::Io`] when writing fails.
pub fn encode_binary<W: Write>(clks: &Clks, mut writer: W) -> Result<()> {
    for word in clks.words() {
        writer.write_all(&word.to_be_bytes())?;
    }
    Ok(())
}

/// Fills `buf` as far as the reader allows; returns the number of bytes read.
pub(crate) fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let body: Vec<u8> = (0..64u8).collect();
        let limits = SizeLimits::default();
        let clks = decode_binary(&body[..], 4, 16, &limits).unwrap();
        let mut out = Vec::new();
        encode_binary(&clks, &mut out).unwrap();
        assert_eq!(out, body);

        let err = decode_binary(&body[..60], 4, 16, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated {
                    index: 3,
                    got: 60,
                    expected: 64
                }
            ),
            "{err}"
        );
        let err = decode_binary(&body[..], 3, 16, &limits).unwrap_err();
        assert!(
            matches!(err, Error::TrailingData { count: 3, size: 16 }),
            "{err}"
        );
        let err = decode_binary(&body[..], 16, 4, &limits).unwrap_err();
        assert!(
            matches!(err, Error::SizeNotMultipleOf8 { index: 0, size: 4 }),
            "{err}"
        );
        let err = decode_binary(&body[..], 1, 2048, &limits).unwrap_err();
        assert!(matches!(err, Error::SizeOutOfRange { .. }), "{err}");
    }
}
