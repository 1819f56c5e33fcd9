//! `anonlink link`: compare → solve → output on local files.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anonlink_core::candidates::{self, MemoryBudget, total_comparisons};
use anonlink_core::encoding::Clks;
use anonlink_core::linkage::{self, LinkSpec, Linkage, ResultType, Solver};
use anonlink_core::output;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::input::read_parties;
use crate::progress;

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
enum SolverName {
    /// The reference's greedy solver (the default for a numeric threshold).
    Greedy,
    /// The reference's probabilistic greedy solver.
    Probabilistic,
    /// Match probabilities from a model of the scores (the default under `auto`).
    Bayes,
}

/// A threshold given on the command line: a number, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ThresholdArg {
    Auto,
    Value(f64),
}

fn parse_threshold(s: &str) -> Result<ThresholdArg, String> {
    if s == "auto" {
        return Ok(ThresholdArg::Auto);
    }
    s.parse()
        .map(ThresholdArg::Value)
        .map_err(|_| format!("{s:?} is neither a number in [0, 1] nor auto"))
}

/// Arguments of `anonlink link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Encodings files, one per party: JSON (`clks`; or `clknblocks` / `encodings` + `blocks`
    /// for blocked linkage: then every file must carry blocks), or binary records
    /// (--binary-size, or a name like alice.128.bin).
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Similarity threshold in [0, 1]; pairs scoring at least this are candidates. `auto`
    /// chooses it (and, without --solver, the solver) from the data: a model of the scores
    /// estimates which pairs are matches; the choice and the estimates go to stderr.
    #[arg(long, short, value_parser = parse_threshold)]
    threshold: ThresholdArg,
    /// Result type.
    #[arg(long = "type", default_value = "groups", value_parser = parse_result_type)]
    result_type: ResultType,
    /// Solver for mapping, permutations and groups [default: greedy; under `--threshold
    /// auto`, bayes].
    #[arg(long, value_enum)]
    solver: Option<SolverName>,
    /// Merge threshold of the probabilistic solver, in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    merge_threshold: f64,
    /// Let the probabilistic solver put two records of one dataset in a group.
    #[arg(long)]
    allow_duplicates: bool,
    /// Keep only each record's k best candidates.
    #[arg(long)]
    k: Option<usize>,
    /// Read inputs as binary records of this many bytes.
    #[arg(long)]
    binary_size: Option<usize>,
    /// Write the result here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// True matches as CSV `row_a,row_b` (with a header): print precision, recall and F1.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// No progress bar and no summary.
    #[arg(long, short)]
    quiet: bool,
    /// Memory the candidate pairs may take before they are sorted into runs on disk, in
    /// MiB (the result is the same; only where the pairs wait differs).
    #[arg(long, env = "ANONLINK_MEMORY_LIMIT", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    memory_limit: u64,
    /// Where the comparisons run: `cpu`, or `gpu` (a build with the `gpu` feature and a
    /// CUDA GPU; without one it says so and uses the CPU; top-k and blocking use the CPU).
    #[arg(long, env = "ANONLINK_DEVICE", value_parser = ["cpu", "gpu"])]
    device: Option<String>,
    /// Directory for the candidate runs (default: the system's temporary directory);
    /// removed when the linkage ends, whichever way.
    #[arg(long, env = "ANONLINK_TEMP_DIR")]
    temp_dir: Option<PathBuf>,
}

fn parse_result_type(s: &str) -> Result<ResultType, String> {
    s.parse()
}

pub fn run(args: LinkArgs) -> Result<()> {
    let (datasets, blocks) = read_parties(&args.inputs, args.binary_size)?;
    let refs: Vec<&Clks> = datasets.iter().collect();
    let sizes: Vec<usize> = datasets.iter().map(Clks::len).collect();

    let bar = progress::comparisons_bar(total_comparisons(&sizes), args.quiet);
    let threshold = match args.threshold {
        ThresholdArg::Value(t) => t,
        ThresholdArg::Auto => 0.0,
    };
    let mut spec = LinkSpec::new(args.result_type, threshold);
    spec.candidates = spec.candidates.with_progress(progress::callback(&bar));
    if let Some(k) = args.k {
        spec.candidates = spec.candidates.with_k(k);
    }
    spec.blocks = blocks;
    let solver = args.solver.map(|name| match name {
        SolverName::Greedy => Solver::Greedy,
        SolverName::Probabilistic => Solver::Probabilistic {
            merge_threshold: args.merge_threshold,
            deduplicated: !args.allow_duplicates,
        },
        SolverName::Bayes => Solver::Bayes,
    });
    spec.solver = solver.unwrap_or(Solver::Greedy);
    if args.threshold == ThresholdArg::Auto {
        if args.k.is_some() {
            bail!(
                "--k does not apply under --threshold auto (the model needs every record's candidates)"
            );
        }
        return run_auto(&args, &refs, &spec, solver, &bar);
    }
    if !args.quiet {
        // Know before computing: what the candidates will take (blocking only lowers it).
        let estimate = candidates::estimate(&refs, &spec.candidates).context("estimating")?;
        eprintln!(
            "{} comparisons; estimated candidates: {}{}, up to {:.1} MiB",
            estimate.comparisons,
            estimate.describe(),
            if spec.blocks.is_some() {
                " before blocking"
            } else {
                ""
            },
            estimate.bytes_high() as f64 / (1 << 20) as f64
        );
    }
    let start = Instant::now();
    let budget = MemoryBudget {
        bytes: usize::try_from(args.memory_limit.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        dir: args.temp_dir.clone(),
    };
    // With blocks, the comparisons made are those within shared blocks.
    let total = match &spec.blocks {
        Some(blocks) => candidates::blocked_comparisons(blocks),
        None => total_comparisons(&sizes),
    };
    let (device, fallback) = anonlink_core::gpu::Backend::choose(args.device.as_deref())?.open();
    if let Some(why) = fallback {
        eprintln!("anonlink: {why}");
    }
    spec.device = device;
    if spec.device.is_some() && !spec.compares_on_device() {
        eprintln!("anonlink: blocked and top-k searches compare on the CPU");
    }
    let stream = linkage::find_candidates_bounded(&refs, &spec, &budget).context("linking")?;
    let found = stream.found();
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // Similarity scores go out as they stream; the other results are solved first (their
    // size follows the records, not the pairs).
    let result = if args.result_type == ResultType::SimilarityScores && args.truth.is_none() {
        output::write_similarity_scores(stream, &mut out).context("writing the scores")?;
        None
    } else if args.result_type == ResultType::SimilarityScores {
        let pairs: Vec<_> = stream.collect::<anonlink_core::Result<_>>()?;
        let pairs = candidates::CandidatePairs::from_sorted(pairs)?;
        let result = linkage::solve_candidates(&pairs, &sizes, &spec)?;
        serde_json::to_writer(&mut out, &result)?;
        Some(result)
    } else {
        let result = linkage::solve_stream(stream, &sizes, &spec).context("linking")?;
        serde_json::to_writer(&mut out, &result)?;
        Some(result)
    };
    if args.output.is_none() {
        writeln!(out)?;
    }
    out.flush()?;
    drop(out);
    let elapsed = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let stats = linkage::LinkStats {
        total_comparisons: total,
        candidates: found,
    };

    if !args.quiet {
        eprintln!(
            "{} comparisons{}, {} candidates in {:.2} s ({:.3e} comparisons/s)",
            stats.total_comparisons,
            if spec.blocks.is_some() {
                format!(" within blocks (of {} without)", total_comparisons(&sizes))
            } else {
                String::new()
            },
            stats.candidates,
            elapsed,
            stats.total_comparisons as f64 / elapsed.max(1e-9)
        );
    }
    if let (Some(truth), Some(result)) = (&args.truth, &result) {
        report_accuracy(truth, result)?;
    }
    Ok(())
}

/// `link --threshold auto`: the threshold and solver chosen from a model of the scores.
fn run_auto(
    args: &LinkArgs,
    datasets: &[&Clks],
    spec: &LinkSpec,
    solver: Option<Solver>,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let start = Instant::now();
    let (result, choice, _model) = linkage::link_auto(datasets, spec, solver).context("linking")?;
    bar.finish_and_clear();
    write_result(args.output.as_deref(), &result)?;
    if !args.quiet {
        let s = &choice.suggested;
        eprintln!(
            "auto: {} candidates above the floor {:.3} in {:.2} s; solver {}, threshold {:.3}",
            choice.candidates,
            choice.floor,
            start.elapsed().as_secs_f64(),
            choice.solver,
            choice.threshold
        );
        eprintln!(
            "estimated: {} record pairs, precision {:.4}, recall {:.4}, F1 {:.4} (best greedy \
             threshold {:.3}: F1 {:.4})",
            choice.expected.pairs,
            choice.expected.precision,
            choice.expected.recall,
            choice.expected.f1,
            s.threshold,
            s.f1
        );
        eprintln!(
            "confidence {:?}: {}",
            choice.confidence.level, choice.confidence.note
        );
    }
    if let Some(truth) = &args.truth {
        report_accuracy(truth, &result)?;
    }
    Ok(())
}

/// Writes a result document to `path`, or stdout with a newline.
fn write_result(path: Option<&std::path::Path>, result: &Linkage) -> Result<()> {
    match path {
        Some(path) => {
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            );
            serde_json::to_writer(&mut out, result)?;
            out.flush()?;
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_json::to_writer(&mut out, result)?;
            writeln!(out)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Precision, recall and F1 of a result against the truth: `row_a,row_b` true pairs of
/// two datasets, or the `party,row,entity` file of `anonlink generate` (pairwise, any
/// number of datasets).
fn report_accuracy(truth: &PathBuf, result: &Linkage) -> Result<()> {
    let text =
        std::fs::read_to_string(truth).with_context(|| format!("reading {}", truth.display()))?;
    if text.starts_with("party,row,entity") {
        let Linkage::Groups(groups) = result else {
            bail!("--truth with entities needs a groups result");
        };
        let entities = read_entities(truth, &text)?;
        let a = anonlink_core::stats::pairwise_accuracy(groups, &entities)?;
        eprintln!(
            "pairwise precision {:.4}, recall {:.4}, F1 {:.4}",
            a.precision, a.recall, a.f1
        );
        return Ok(());
    }
    let mut pairs = HashSet::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let parsed = line.split_once(',').and_then(|(a, b)| {
            Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
        });
        match parsed {
            Some(p) => {
                pairs.insert(p);
            }
            None if line.trim().is_empty() => {}
            None => bail!("{}: line {}: expected row_a,row_b", truth.display(), n + 1),
        }
    }
    let found: Vec<(u32, u32)> = match result {
        Linkage::Mapping(m) => m.iter().map(|(a, b)| (*a, *b)).collect(),
        Linkage::Groups(g) => g
            .pairs()
            .into_iter()
            .filter(|(a, b)| a.dataset == 0 && b.dataset == 1)
            .map(|(a, b)| (a.row, b.row))
            .collect(),
        Linkage::SimilarityScores(s) => s.iter().map(|(a, b, _)| (*a, *b)).collect(),
        Linkage::Permutations(_) => {
            bail!("--truth needs a mapping, groups or similarity_scores result")
        }
    };
    let correct = found.iter().filter(|p| pairs.contains(p)).count() as f64;
    let precision = correct / (found.len() as f64).max(1.0);
    let recall = correct / (pairs.len() as f64).max(1.0);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    eprintln!("precision {precision:.4}, recall {recall:.4}, F1 {f1:.4}");
    Ok(())
}

/// The entities of two parties' records (`counts` of them) from a `party,row,entity` truth
/// file; records it does not name are entities of their own.
pub(crate) fn read_truth_entities(
    path: &std::path::Path,
    counts: &[usize; 2],
) -> Result<[Vec<u64>; 2]> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if !text.starts_with("party,row,entity") {
        bail!("{}: expected a party,row,entity truth file", path.display());
    }
    let mut rows = read_entities(path, &text)?;
    rows.resize(2.max(rows.len()), Vec::new());
    let mut fresh = rows.iter().flatten().copied().max().map_or(0, |m| m + 1);
    let mut out = [Vec::new(), Vec::new()];
    for party in 0..2 {
        let mut ids = std::mem::take(&mut rows[party]);
        if ids.len() > counts[party] {
            bail!(
                "{}: party {party} has {} rows in the truth but {} records",
                path.display(),
                ids.len(),
                counts[party]
            );
        }
        while ids.len() < counts[party] {
            ids.push(fresh);
            fresh += 1;
        }
        out[party] = ids;
    }
    Ok(out)
}

/// The entity of every record from `party,row,entity` lines; records not named are
/// entities of their own.
fn read_entities(path: &std::path::Path, text: &str) -> Result<Vec<Vec<u64>>> {
    let mut rows: Vec<Vec<u64>> = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.splitn(3, ',');
        let parsed = (|| {
            let party: usize = fields.next()?.trim().parse().ok()?;
            let row: usize = fields.next()?.trim().parse().ok()?;
            Some((party, row, fields.next()?.trim().to_string()))
        })();
        let Some((party, row, entity)) = parsed else {
            bail!(
                "{}: line {}: expected party,row,entity",
                path.display(),
                n + 1
            );
        };
        let next = ids.len() as u64;
        let id = *ids.entry(entity).or_insert(next);
        if rows.len() <= party {
            rows.resize(party + 1, Vec::new());
        }
        if rows[party].len() <= row {
            rows[party].resize(row + 1, u64::MAX);
        }
        rows[party][row] = id;
    }
    // Unnamed records: distinct ids above every named one.
    let mut fresh = ids.len() as u64;
    for party in &mut rows {
        for id in party.iter_mut().filter(|id| **id == u64::MAX) {
            *id = fresh;
            fresh += 1;
        }
    }
    Ok(rows)
}
