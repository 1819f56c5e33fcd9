//! `anonlink generate`: fake people as the seed tutorial's `clkutil generate` writes them,
//! or linked datasets of them with realistic errors and a truth file.

use std::path::{Path, PathBuf};

use anonlink_core::synthetic::people::{self, Corruption, LinkedSpec};
use anyhow::{Context, Result};
use clap::Args;

/// Arguments of `anonlink generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Records to write (per party).
    records: usize,
    /// The CSV to write (`INDEX,NAME freetext,DOB YYYY/MM/DD,GENDER M or F`); with
    /// --parties, `NAME-1.csv` … `NAME-P.csv` and `NAME-truth.csv` (`party,row,entity`).
    output: PathBuf,
    /// Parties: write linked datasets that share people.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    parties: u32,
    /// With --parties: `OVERLAP × RECORDS` people are shared, each by 2 to P parties.
    #[arg(long, default_value_t = 0.5)]
    overlap: f64,
    /// With --parties: noise of every record, a number in [0, 1] or clean, low, medium,
    /// high, very-high (typos, swapped and missing fields, date slips).
    #[arg(long, default_value = "medium", value_parser = parse_corruption)]
    corruption: Corruption,
    /// Seed: the same arguments write the same files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn parse_corruption(s: &str) -> Result<Corruption, String> {
    s.parse().map_err(|e: anonlink_core::Error| e.to_string())
}

pub fn run(args: GenerateArgs) -> Result<()> {
    if args.parties == 1 {
        let records = people::people(args.records, args.seed);
        return write(&args.output, |out| people::write_people(&records, out));
    }
    let spec = LinkedSpec {
        records: args.records,
        parties: args.parties as usize,
        overlap: args.overlap,
        corruption: args.corruption,
        seed: args.seed,
    };
    let sets = people::linked(&spec)?;
    for (p, records) in sets.parties.iter().enumerate() {
        let path = sibling(&args.output, &(p + 1).to_string());
        write(&path, |out| people::write_people(records, out))?;
        eprintln!("wrote {}", path.display());
    }
    let truth = sibling(&args.output, "truth");
    write(&truth, |out| people::write_truth(&sets.entities, out))?;
    eprintln!("wrote {}", truth.display());
    Ok(())
}

/// `dir/name-SUFFIX.ext` for `dir/name.ext`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{suffix}"),
    };
    path.with_file_name(name)
}

fn write(
    path: &Path,
    body: impl FnOnce(std::io::BufWriter<std::fs::File>) -> anonlink_core::Result<()>,
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    body(std::io::BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))
}
