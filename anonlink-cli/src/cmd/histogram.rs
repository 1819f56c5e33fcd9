//! `anonlink scores-histogram`: the distribution of candidate scores, to choose a threshold.

use std::path::PathBuf;

use anonlink_core::candidates::{Config, find, total_comparisons};
use anonlink_core::encoding::Clks;
use anonlink_core::output::score_histogram;
use anyhow::{Context, Result};
use clap::Args;

use crate::input::read_clks;
use crate::progress;

/// Arguments of `anonlink scores-histogram`.
#[derive(Debug, Args)]
pub struct HistogramArgs {
    /// Encodings files, one per party.
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Lowest score shown (candidates below it are not searched for).
    #[arg(long, default_value_t = 0.5)]
    from: f64,
    /// Number of bins.
    #[arg(long, default_value_t = 20)]
    bins: usize,
    /// Read inputs as binary records of this many bytes.
    #[arg(long)]
    binary_size: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: HistogramArgs) -> Result<()> {
    let datasets: Vec<Clks> = args
        .inputs
        .iter()
        .map(|p| read_clks(p, args.binary_size))
        .collect::<Result<_>>()?;
    let refs: Vec<&Clks> = datasets.iter().collect();
    let sizes: Vec<usize> = datasets.iter().map(Clks::len).collect();
    let bar = progress::comparisons_bar(total_comparisons(&sizes), args.quiet);
    let config = Config::new(args.from).with_progress(progress::callback(&bar));
    let pairs = find(&refs, &config).context("comparing")?;
    bar.finish_and_clear();
    let bins = score_histogram(pairs.as_slice(), args.from, args.bins);
    let most = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    println!(
        "{} candidate pairs with score >= {}",
        pairs.len(),
        args.from
    );
    for b in &bins {
        let bar = "#".repeat(((b.count * 50).div_ceil(most)) as usize);
        println!("  {:.3}..{:.3} {:>10} {bar}", b.low, b.high, b.count);
    }
    Ok(())
}
