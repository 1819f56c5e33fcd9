//! Encodings files: a JSON upload document (`clks`, `clknblocks`, or `encodings` with
//! `blocks`), or the binary format, whose record size comes from the caller or from the
//! file's name (`alice.128.bin`). One reader for every shell.

use std::fs::File;
use std::path::Path;

use super::{Clks, SizeLimits, decode_binary, decode_upload};
use crate::error::{Error, Result};

/// An encodings file's contents: the records, and their block ids when the document had
/// them.
#[derive(Debug)]
pub struct EncodingsFile {
    /// The records.
    pub clks: Clks,
    /// Block ids per record, when the document carried them.
    pub blocks: Option<Vec<Vec<u64>>>,
}

/// The record size a binary file's name gives: `alice.128.bin`, `alice-128.bin`,
/// `alice_128.bin`.
///
/// ```
/// use anonlink_core::encoding::size_from_name;
/// use std::path::Path;
///
/// assert_eq!(size_from_name(Path::new("a/alice.128.bin")), Some(128));
/// assert_eq!(size_from_name(Path::new("bob.bin")), None);
/// assert_eq!(size_from_name(Path::new("bob.128.json")), None);
/// ```
pub fn size_from_name(path: &Path) -> Option<usize> {
    if path.extension()? != "bin" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let digits = stem.rsplit(['.', '-', '_']).next()?;
    digits.parse().ok()
}

/// Reads the encodings file at `path`: binary when `binary_size` is given or the name
/// gives a size, otherwise a JSON upload document. A binary file must hold a whole number
/// of records.
///
/// # Errors
/// [`Error::File`], naming the file, around what went wrong: it cannot be opened, a
/// `.bin` file without a size, a length that is not a whole number of records, or a
/// decoding error.
pub fn read_path(path: &Path, binary_size: Option<usize>) -> Result<EncodingsFile> {
    let in_file = |source: Error| Error::File {
        path: path.display().to_string(),
        cause: Box::new(source),
    };
    let file = File::open(path).map_err(|e| in_file(Error::Io(e)))?;
    let binary_size = binary_size.or_else(|| size_from_name(path));
    if binary_size.is_none() && path.extension().is_some_and(|e| e == "bin") {
        return Err(in_file(Error::Usage {
            reason: "give the record size (--binary-size), or name the file like alice.128.bin"
                .into(),
        }));
    }
    let Some(size) = binary_size else {
        let upload = decode_upload(file, &SizeLimits::any()).map_err(in_file)?;
        return Ok(EncodingsFile {
            clks: upload.clks,
            blocks: upload.blocks,
        });
    };
    let len = file.metadata().map_err(|e| in_file(Error::Io(e)))?.len();
    if size == 0 || !len.is_multiple_of(size as u64) {
        return Err(in_file(Error::Usage {
            reason: format!("{len} bytes is not a whole number of {size}-byte records"),
        }));
    }
    let count = usize::try_from(len / size as u64).map_err(|_| {
        in_file(Error::Usage {
            reason: format!("{len} bytes is more than this machine can address"),
        })
    })?;
    let clks = decode_binary(
        std::io::BufReader::new(file),
        count,
        size,
        &SizeLimits::any(),
    )
    .map_err(in_file)?;
    Ok(EncodingsFile { clks, blocks: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_names() {
        assert_eq!(size_from_name(Path::new("bob-64.bin")), Some(64));
        assert_eq!(size_from_name(Path::new("bob_256.bin")), Some(256));
    }

    #[test]
    fn binary_files_hold_whole_records() {
        let dir = std::env::temp_dir().join(format!("anonlink-read-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let whole = dir.join("a.8.bin");
        std::fs::write(&whole, [0xffu8; 16]).unwrap();
        let read = read_path(&whole, None).unwrap();
        assert_eq!((read.clks.len(), read.clks.popcount(1)), (2, 64));
        let partial = dir.join("b.8.bin");
        std::fs::write(&partial, [0u8; 12]).unwrap();
        let err = read_path(&partial, None).unwrap_err().to_string();
        assert!(
            err.contains("b.8.bin") && err.contains("whole number"),
            "{err}"
        );
        let unsized_ = dir.join("c.bin");
        std::fs::write(&unsized_, [0u8; 8]).unwrap();
        assert!(
            read_path(&unsized_, None)
                .unwrap_err()
                .to_string()
                .contains("record size")
        );
        assert_eq!(read_path(&unsized_, Some(8)).unwrap().clks.len(), 1);
        let json = dir.join("d.json");
        std::fs::write(&json, br#"{"clknblocks": [["AAAAAAAAAP8=", "x"]]}"#).unwrap();
        assert!(read_path(&json, None).unwrap().blocks.is_some());
        let missing = read_path(&dir.join("nope.json"), None).unwrap_err();
        assert!(matches!(&missing, Error::File { cause, .. } if matches!(**cause, Error::Io(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
