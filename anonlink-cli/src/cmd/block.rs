//! `anonlink block` and `anonlink block-stats`: client-side blocking from PII, compatible
//! with blocklib 0.1.11 and anonlink-client's `block` (same blocks, same document).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anonlink_core::blocking::{
    self, BlockDocument, BlockStats, BlockingSchema, CandidateBlocks, Method, read_csv_records,
};
use anyhow::{Context, Result, bail};
use clap::Args;

/// Arguments of `anonlink block`.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Records as CSV (for λ-fold with `input-clks`: a CLKs JSON document).
    records: PathBuf,
    /// Blocking schema (blocklib's JSON: `p-sig` or `lambda-fold`).
    #[arg(long)]
    schema: PathBuf,
    /// Where to write the block document (`{"blocks": {record: [block ids]}, "meta": ...}`).
    #[arg(long, short)]
    output: PathBuf,
    /// `client`: anonlink-client's document, record → block ids (what `combine` and
    /// uploads use); `blocklib`: blocklib's result, block id → records, with its `stats`.
    #[arg(long, default_value = "client", value_parser = ["client", "blocklib"])]
    format: String,
    /// The CSV has no header row.
    #[arg(long)]
    no_header: bool,
    /// No statistics on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// Reads and validates a blocking schema file: the typed schema and the document as given.
pub fn read_schema(path: &Path) -> Result<(BlockingSchema, serde_json::Value)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON document", path.display()))?;
    let schema =
        BlockingSchema::from_value(&value).with_context(|| format!("in {}", path.display()))?;
    Ok((schema, value))
}

/// The blocks of a records file (`has_header` for CSV), and the number of records.
pub fn block_file(
    schema: &BlockingSchema,
    records: &Path,
    has_header: bool,
) -> Result<(CandidateBlocks, usize)> {
    let clk_input = matches!(&schema.method, Method::LambdaFold(c) if c.input_clks);
    let file = File::open(records).with_context(|| format!("opening {}", records.display()))?;
    let (rows, header) = if clk_input {
        let clks = anonlink_core::encoding::decode_json(BufReader::new(file), &Default::default())
            .with_context(|| format!("reading CLKs from {}", records.display()))?;
        let rows: Vec<Vec<String>> = (0..clks.len())
            .map(|i| {
                vec![anonlink_core::encoding::encode_base64_record(
                    &clks.record_bytes(i),
                )]
            })
            .collect();
        (rows, None)
    } else {
        let records_read = read_csv_records(BufReader::new(file), has_header)
            .with_context(|| format!("reading {}", records.display()))?;
        (records_read.rows, records_read.header)
    };
    let blocks = blocking::candidate_blocks(schema, &rows, header.as_deref())
        .with_context(|| format!("blocking {}", records.display()))?;
    Ok((blocks, rows.len()))
}

pub fn run(args: BlockArgs) -> Result<()> {
    let (schema, schema_value) = read_schema(&args.schema)?;
    let start = Instant::now();
    let (blocks, records) = block_file(&schema, &args.records, !args.no_header)?;
    let out = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut out = BufWriter::new(out);
    if args.format == "blocklib" {
        blocking::write_blocklib_document(&blocks, &mut out)?;
    } else {
        blocking::write_block_document(&blocks, &schema_value, records, &mut out)?;
    }
    out.flush()?;
    if !args.quiet {
        eprintln!(
            "{records} records in {} blocks in {:.2} s → {}",
            blocks.stats.num_of_blocks,
            start.elapsed().as_secs_f64(),
            args.output.display()
        );
        print_summary(&blocks.stats, &mut std::io::stderr())?;
    }
    Ok(())
}

/// blocklib's `print_summary_statistics`.
fn print_summary(stats: &BlockStats, out: &mut dyn Write) -> std::io::Result<()> {
    fn sizes(
        stats: &BlockStats,
        coverage: Option<f64>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        writeln!(out, "\tNumber of Blocks:   {}", stats.num_of_blocks)?;
        writeln!(out, "\tMinimum Block Size: {}", stats.min_size)?;
        writeln!(out, "\tMaximum Block Size: {}", stats.max_size)?;
        writeln!(out, "\tAverage Block Size: {:.4}", stats.avg_size)?;
        writeln!(out, "\tMedian Block Size:  {}", stats.med_size)?;
        writeln!(
            out,
            "\tStandard Deviation of Block Size:  {:.4}",
            stats.std_size
        )?;
        if let Some(c) = coverage {
            writeln!(out, "\tCoverage:           {:.2}%", c * 100.0)?;
        }
        Ok(())
    }
    writeln!(out, "Statistics for the generated blocks:")?;
    sizes(stats, stats.coverage, out)?;
    if let Some(per) = &stats.statistics_per_strategy {
        writeln!(out, "Individual statistics for each strategy:")?;
        for s in per {
            writeln!(out, "Strategy: {}", s.strategy_idx)?;
            sizes(&s.sizes, Some(s.coverage), out)?;
        }
    }
    Ok(())
}

/// Arguments of `anonlink block-stats`.
#[derive(Debug, Args)]
pub struct BlockStatsArgs {
    /// Block documents, one per party (from `anonlink block` in either format, or
    /// anonlink-client's `block`).
    #[arg(required = true)]
    blocks: Vec<PathBuf>,
    /// With two parties: the truth (`party,row,entity`, as `anonlink generate` writes) for
    /// the pairs completeness.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn stats(args: BlockStatsArgs) -> Result<()> {
    if args.truth.is_some() && args.blocks.len() != 2 {
        bail!("--truth needs the block documents of exactly two parties");
    }
    let docs = args
        .blocks
        .iter()
        .map(|p| {
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            BlockDocument::read(BufReader::new(f))
                .with_context(|| format!("reading {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let blocks: Vec<Vec<(String, Vec<usize>)>> = docs.iter().map(BlockDocument::blocks).collect();
    let mut report = Vec::new();
    for ((path, doc), blocks) in args.blocks.iter().zip(&docs).zip(&blocks) {
        report.push(serde_json::json!({
            "file": path.display().to_string(),
            "records": doc.record_count(),
            "stats": blocking::BlockStats::of_sizes(blocks.iter().map(|(_, r)| r.len())),
            "coverage": doc.coverage(),
        }));
    }
    let mut pair = None;
    if let [first, second] = &docs[..] {
        let counts = [first.record_count(), second.record_count()];
        let entities = match &args.truth {
            Some(truth) => crate::cmd::link::read_truth_entities(truth, &counts)?,
            // Without a truth every record is its own entity: comparisons only.
            None => [0, 1].map(|p| {
                (0..counts[p] as u64)
                    .map(|r| (p as u64) << 40 | r)
                    .collect()
            }),
        };
        let assessment =
            blocking::assess_two_party([&blocks[0], &blocks[1]], [&entities[0], &entities[1]])?;
        pair = Some(assessment);
    }
    if args.json {
        let mut out = serde_json::json!({ "parties": report });
        if let Some(a) = &pair {
            out["two_party"] = serde_json::to_value(a)?;
            if args.truth.is_none()
                && let Some(o) = out["two_party"].as_object_mut()
            {
                for key in ["pairs_completeness", "true_matches", "found_matches"] {
                    o.remove(key);
                }
            }
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<28} {:>10} {:>10} {:>6} {:>8} {:>8} {:>10} {:>10} {:>9}",
        "party", "records", "blocks", "min", "median", "max", "mean", "std", "coverage"
    );
    for r in &report {
        let s = &r["stats"];
        println!(
            "{:<28} {:>10} {:>10} {:>6} {:>8} {:>8} {:>10.2} {:>10.2} {:>8.2}%",
            r["file"].as_str().unwrap_or_default(),
            r["records"].as_u64().unwrap_or(0),
            s["num_of_blocks"].as_u64().unwrap_or(0),
            s["min_size"].as_u64().unwrap_or(0),
            s["med_size"].as_u64().unwrap_or(0),
            s["max_size"].as_u64().unwrap_or(0),
            s["avg_size"].as_f64().unwrap_or(0.0),
            s["std_size"].as_f64().unwrap_or(0.0),
            r["coverage"].as_f64().unwrap_or(0.0) * 100.0,
        );
    }
    if let Some(a) = pair {
        println!(
            "comparisons within shared blocks: {} of {} ({:.3e}); reduction ratio {:.6}",
            a.comparisons, a.all_comparisons, a.comparisons as f64, a.reduction_ratio
        );
        if args.truth.is_some() {
            println!(
                "pairs completeness {:.4} ({} of {} true matches share a block)",
                a.pairs_completeness, a.found_matches, a.true_matches
            );
        }
    }
    Ok(())
}
