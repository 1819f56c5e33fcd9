//! Links the two febrl4 datasets shipped with the tests and reports precision and recall.
//!
//! Run with `cargo run --release -p anonlink-core --example link_febrl4 [THRESHOLD]`.

use std::error::Error;
use std::fs::File;

use anonlink_core::{candidates, encoding, solve};

fn main() -> Result<(), Box<dyn Error>> {
    let threshold: f64 = std::env::args()
        .nth(1)
        .map(|t| t.parse())
        .transpose()?
        .unwrap_or(0.8);
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/febrl4");
    let limits = encoding::SizeLimits::default();
    let a = encoding::decode_json(File::open(format!("{data}/febrl4_a.json"))?, &limits)?;
    let b = encoding::decode_json(File::open(format!("{data}/febrl4_b.json"))?, &limits)?;

    let start = std::time::Instant::now();
    let pairs = candidates::find(&[&a, &b], &candidates::Config::new(threshold))?;
    let groups = solve::greedy(pairs.as_slice());
    let elapsed = start.elapsed();

    let truth = std::fs::read_to_string(format!("{data}/febrl4_truth.csv"))?;
    let truth: std::collections::HashSet<(u32, u32)> = truth
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (x, y) = l.split_once(',')?;
            Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
        })
        .collect();
    let found: Vec<(u32, u32)> = groups.iter().map(|g| (g[0].row, g[1].row)).collect();
    let correct = found.iter().filter(|p| truth.contains(p)).count();
    println!(
        "threshold {threshold}: {} candidates, {} matches in {:.1} ms; precision {:.4}, recall {:.4}",
        pairs.len(),
        found.len(),
        elapsed.as_secs_f64() * 1e3,
        correct as f64 / found.len().max(1) as f64,
        correct as f64 / truth.len().max(1) as f64,
    );
    Ok(())
}
