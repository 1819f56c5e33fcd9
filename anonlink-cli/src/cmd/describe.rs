//! `anonlink describe`: what is in an encodings file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::input::read_clks;

/// Arguments of `anonlink describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Encodings file (JSON, or binary with --binary-size).
    file: PathBuf,
    /// Read the file as binary records of this many bytes.
    #[arg(long)]
    binary_size: Option<usize>,
}

pub fn run(args: DescribeArgs) -> Result<()> {
    let clks = read_clks(&args.file, args.binary_size)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let pops = clks.popcounts();
    writeln!(out, "{}", args.file.display())?;
    writeln!(
        out,
        "  {} records of {} bytes ({} bits)",
        clks.len(),
        clks.bytes_per_record(),
        clks.bits_per_record()
    )?;
    if pops.is_empty() {
        return Ok(());
    }
    let min = *pops.iter().min().unwrap_or(&0);
    let max = *pops.iter().max().unwrap_or(&0);
    let mean = pops.iter().map(|&p| f64::from(p)).sum::<f64>() / pops.len() as f64;
    let zero = pops.iter().filter(|&&p| p == 0).count();
    writeln!(
        out,
        "  popcount min {min}, mean {mean:.1}, max {max}; {zero} records with no bit set"
    )?;
    const BINS: u32 = 12;
    let width = ((max - min) / BINS + 1).max(1);
    let mut counts = vec![0usize; BINS as usize + 1];
    for &p in pops {
        counts[((p - min) / width) as usize] += 1;
    }
    let most = *counts.iter().max().unwrap_or(&1);
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let lo = min + i as u32 * width;
        let bar = "#".repeat((c * 50).div_ceil(most));
        writeln!(out, "  {lo:>5}..{:<5} {c:>8} {bar}", lo + width - 1)?;
    }
    Ok(())
}
