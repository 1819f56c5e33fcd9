//! Reading encodings files, with the core's one reader ([`encoding::read_path`]).

use std::path::Path;

use anonlink_core::encoding::{self, Clks, EncodingsFile};
use anyhow::Result;

/// Reads `path`: binary when `binary_size` is given or the name ends in `.<size>.bin`,
/// otherwise JSON.
pub fn read_input(path: &Path, binary_size: Option<usize>) -> Result<EncodingsFile> {
    Ok(encoding::read_path(path, binary_size)?)
}

/// Reads `path` for its records only.
pub fn read_clks(path: &Path, binary_size: Option<usize>) -> Result<Clks> {
    read_input(path, binary_size).map(|i| i.clks)
}
