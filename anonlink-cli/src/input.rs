//! Reading encodings files, with the core's one reader ([`encoding::read_path`]).

use std::path::Path;

use anonlink_core::encoding::{self, Clks, EncodingsFile};
use anyhow::{Result, bail};

/// Reads `path`: binary when `binary_size` is given or the name ends in `.<size>.bin`,
/// otherwise JSON.
pub fn read_input(path: &Path, binary_size: Option<usize>) -> Result<EncodingsFile> {
    Ok(encoding::read_path(path, binary_size)?)
}

/// Reads `path` for its records only.
pub fn read_clks(path: &Path, binary_size: Option<usize>) -> Result<Clks> {
    read_input(path, binary_size).map(|i| i.clks)
}

/// Block ids of one dataset: a list per record.
pub type BlockIds = Vec<Vec<u64>>;

/// Reads one encodings file per party, with their block ids when every file carries them.
///
/// # Errors
/// A file that cannot be read, or blocks in some files but not in others.
pub fn read_parties(
    paths: &[std::path::PathBuf],
    binary_size: Option<usize>,
) -> Result<(Vec<Clks>, Option<Vec<BlockIds>>)> {
    let inputs = paths
        .iter()
        .map(|p| read_input(p, binary_size))
        .collect::<Result<Vec<_>>>()?;
    let with_blocks = inputs.iter().filter(|i| i.blocks.is_some()).count();
    if with_blocks != 0 && with_blocks != inputs.len() {
        bail!(
            "some inputs carry block ids and some do not: give blocks for every party or for none"
        );
    }
    let (datasets, blocks): (Vec<Clks>, Vec<Option<BlockIds>>) =
        inputs.into_iter().map(|i| (i.clks, i.blocks)).unzip();
    Ok((datasets, blocks.into_iter().collect()))
}
