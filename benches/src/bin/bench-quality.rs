//! The quality benchmark: on CLK files with a known truth, the best F1 the reference's
//! solvers reach over a grid of thresholds (and merge thresholds), chosen with the truth,
//! against what `--threshold auto` gives with no truth and no setting.
//!
//! `bench-quality NAME TRUTH.csv CLKS...`; the truth is CSV `party,row,entity` with a
//! header (every record of every party, `entity` any text). Prints one Markdown table row.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anonlink_core::candidates::{CandidatePairs, Config, find, floor_for};
use anonlink_core::encoding::{Clks, read_path};
use anonlink_core::linkage::{LinkSpec, ResultType, link_auto};
use anonlink_core::solve::{self, Groups};
use anonlink_core::stats::pairwise_accuracy;

/// Merge thresholds of the probabilistic solver tried at every threshold.
const MERGE_THRESHOLDS: [f64; 6] = [0.05, 0.1, 0.2, 0.3, 0.5, 1.0];

fn main() {
    if let Err(e) = run() {
        eprintln!("bench-quality: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: bench-quality NAME TRUTH.csv CLKS CLKS...".into());
    }
    let name = &args[0];
    let datasets: Vec<Clks> = args[2..]
        .iter()
        .map(|p| read_path(Path::new(p), None).map(|f| f.clks))
        .collect::<Result<_, _>>()?;
    let entities = read_truth(Path::new(&args[1]), &datasets)?;
    let refs: Vec<&Clks> = datasets.iter().collect();
    let records: usize = datasets.iter().map(Clks::len).sum();

    // The reference's solvers over a grid, from a floor of at most 50 candidates per record.
    let grid_floor = (floor_for(&refs, 50.0, None)? * 100.0).ceil() / 100.0;
    let pairs = find(&refs, &Config::new(grid_floor))?;
    let prefix = |t: f64| {
        let n = pairs.as_slice().partition_point(|p| p.score >= t);
        CandidatePairs::from_sorted(pairs.as_slice()[..n].to_vec())
    };
    let f1 = |g: &Groups| pairwise_accuracy(g, &entities).map(|a| a.f1);
    let thresholds: Vec<f64> = (0..)
        .map(|i| grid_floor + 0.01 * f64::from(i))
        .take_while(|&t| t <= 0.995)
        .collect();
    let (mut greedy_best, mut prob_best) = ((0.0, 0.0), (0.0, 0.0, 0.0));
    for &t in &thresholds {
        let kept = prefix(t)?;
        let g = f1(&solve::greedy(kept.as_slice()))?;
        if g > greedy_best.0 {
            greedy_best = (g, t);
        }
        if datasets.len() > 2 {
            for m in MERGE_THRESHOLDS {
                let p = f1(&solve::probabilistic(kept.as_slice(), m, true)?)?;
                if p > prob_best.0 {
                    prob_best = (p, t, m);
                }
            }
        }
    }

    let start = Instant::now();
    let spec = LinkSpec::new(ResultType::Groups, 0.0);
    let (result, choice, _) = link_auto(&refs, &spec, None)?;
    let auto_time = start.elapsed().as_secs_f64();
    let anonlink_core::linkage::Linkage::Groups(groups) = result else {
        return Err("auto did not give groups".into());
    };
    let truth = pairwise_accuracy(&groups, &entities)?;
    let probabilistic = if datasets.len() > 2 {
        format!(
            "{:.4} (t {:.2}, m {})",
            prob_best.0, prob_best.1, prob_best.2
        )
    } else {
        "—".into()
    };
    let best = greedy_best.0.max(prob_best.0);
    println!(
        "| {name} | {} | {records} | {:.4} (t {:.2}) | {probabilistic} | {:.4} | {:+.4} | {:.3} | {:.4} | {:+.4} | {:?} | {auto_time:.2} s |",
        datasets.len(),
        greedy_best.0,
        greedy_best.1,
        truth.f1,
        truth.f1 - best,
        choice.floor,
        choice.expected.f1,
        choice.expected.f1 - truth.f1,
        choice.confidence.level,
    );
    Ok(())
}

/// Reads `party,row,entity` rows into the entity number of every record.
fn read_truth(path: &Path, datasets: &[Clks]) -> Result<Vec<Vec<u64>>, Box<dyn std::error::Error>> {
    let mut ids: HashMap<String, u64> = HashMap::new();
    // Records the truth does not name are entities of their own.
    let mut entities: Vec<Vec<u64>> = datasets
        .iter()
        .enumerate()
        .map(|(d, c)| {
            (0..c.len())
                .map(|r| (1 << 63) | ((d as u64) << 40) | r as u64)
                .collect()
        })
        .collect();
    let mut reader = csv::Reader::from_path(path)?;
    for row in reader.records() {
        let row = row?;
        let party: usize = row.get(0).ok_or("party missing")?.parse()?;
        let rec: usize = row.get(1).ok_or("row missing")?.parse()?;
        let entity = row.get(2).ok_or("entity missing")?.to_string();
        let next = ids.len() as u64;
        let id = *ids.entry(entity).or_insert(next);
        *entities
            .get_mut(party)
            .and_then(|rows| rows.get_mut(rec))
            .ok_or_else(|| format!("{}: no record {rec} in party {party}", path.display()))? = id;
    }
    Ok(entities)
}
