//! Reading encodings files: the JSON upload document, or the binary format.

use std::fs::File;
use std::path::Path;

use anonlink_core::encoding::{Clks, SizeLimits, decode_binary, decode_json};
use anyhow::{Context, Result, bail};

/// Reads `path`: JSON unless `binary_size` is given, in which case the file is records of
/// that many bytes concatenated.
pub fn read_clks(path: &Path, binary_size: Option<usize>) -> Result<Clks> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let limits = SizeLimits::any();
    let clks = match binary_size {
        None => decode_json(file, &limits),
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
            decode_binary(std::io::BufReader::new(file), len / size, size, &limits)
        }
    };
    clks.with_context(|| format!("reading {}", path.display()))
}
