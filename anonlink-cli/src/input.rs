//! Reading encodings files: a JSON upload document (`clks`, `clknblocks`, or `encodings` with
//! `blocks`), or the binary format.

use std::fs::File;
use std::path::Path;

use anonlink_core::encoding::{Clks, SizeLimits, decode_binary, decode_upload};
use anyhow::{Context, Result, bail};

/// An encodings file: the records, and their block ids when the document had them.
pub struct Input {
    pub clks: Clks,
    pub blocks: Option<Vec<Vec<u64>>>,
}

/// The record size a binary file's name gives: `alice.128.bin`, `alice-128.bin`.
fn size_from_name(path: &Path) -> Option<usize> {
    if path.extension()? != "bin" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let digits = stem.rsplit(['.', '-', '_']).next()?;
    digits.parse().ok()
}

/// Reads `path`: binary when `binary_size` is given or the name ends in `.<size>.bin`,
/// otherwise JSON.
pub fn read_input(path: &Path, binary_size: Option<usize>) -> Result<Input> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let binary_size = binary_size.or_else(|| size_from_name(path));
    if binary_size.is_none() && path.extension().is_some_and(|e| e == "bin") {
        bail!(
            "{}: give the record size with --binary-size, or name the file like alice.128.bin",
            path.display()
        );
    }
    let input = match binary_size {
        None => decode_upload(file, &SizeLimits::any()).map(|u| Input {
            clks: u.clks,
            blocks: u.blocks,
        }),
        Some(size) => {
            let len = file
                .metadata()
                .with_context(|| format!("reading {}", path.display()))?
                .len() as usize;
            if size == 0 || !len.is_multiple_of(size) {
                bail!(
                    "{}: {len} bytes is not a whole number of {size}-byte records",
                    path.display()
                );
            }
            decode_binary(
                std::io::BufReader::new(file),
                len / size,
                size,
                &SizeLimits::any(),
            )
            .map(|clks| Input { clks, blocks: None })
        }
    };
    input.with_context(|| format!("reading {}", path.display()))
}

/// Reads `path` for its records only.
pub fn read_clks(path: &Path, binary_size: Option<usize>) -> Result<Clks> {
    read_input(path, binary_size).map(|i| i.clks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_names() {
        assert_eq!(size_from_name(Path::new("a/alice.128.bin")), Some(128));
        assert_eq!(size_from_name(Path::new("bob-64.bin")), Some(64));
        assert_eq!(size_from_name(Path::new("bob_256.bin")), Some(256));
        assert_eq!(size_from_name(Path::new("bob.bin")), None);
        assert_eq!(size_from_name(Path::new("bob.128.json")), None);
    }
}
