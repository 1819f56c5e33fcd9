//! `anonlink hash`, `generate-default-schema`, `validate-schema`: CLK encoding, compatible
//! with clkhash 0.18.3 (`clkutil hash`).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::progress;
use anonlink_core::clk::{Encoder, Header, Schema, default_schema, encode_csv};
use anonlink_core::encoding::{encode_binary, encode_json, encode_json_with_blocks};
use anyhow::{Context, Result, bail};
use clap::Args;

/// Arguments of `anonlink hash`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// Records as CSV, one column per schema feature.
    records: PathBuf,
    /// Linkage schema (JSON, version 1, 2 or 3).
    #[arg(long)]
    schema: PathBuf,
    /// The secret shared by the parties. Prefer --secret-file or ANONLINK_SECRET: command
    /// lines are visible to other users of the machine.
    #[arg(long, env = "ANONLINK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Read the secret from this file (trailing newline removed).
    #[arg(long, conflicts_with = "secret")]
    secret_file: Option<PathBuf>,
    /// Where to write the CLKs.
    #[arg(long, short)]
    output: PathBuf,
    /// Write raw records (the service's binary upload format) instead of JSON.
    #[arg(long, conflicts_with = "blocking")]
    binary: bool,
    /// Also block the records with this blocking schema (blocklib's JSON) and write a
    /// `clknblocks` upload document: each CLK followed by its block ids.
    #[arg(long)]
    blocking: Option<PathBuf>,
    /// The CSV has no header row.
    #[arg(long, conflicts_with = "ignore_header")]
    no_header: bool,
    /// The CSV has a header row that is not checked against the schema.
    #[arg(long)]
    ignore_header: bool,
    /// Check every value against its feature's format first.
    #[arg(long)]
    validate: bool,
    /// No progress bar or summary.
    #[arg(long, short)]
    quiet: bool,
}

fn read_schema(path: &PathBuf) -> Result<Schema> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Schema::from_json(&text).with_context(|| format!("in {}", path.display()))
}

pub fn run(args: HashArgs) -> Result<()> {
    let secret = match (&args.secret, &args.secret_file) {
        (Some(s), _) => s.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the secret file {}", path.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
        (None, None) => bail!("give the secret with --secret-file, ANONLINK_SECRET or --secret"),
    };
    if secret.is_empty() {
        bail!("the secret is empty");
    }
    let schema = read_schema(&args.schema)?;
    // The blocking schema is checked before any hashing, so a bad one costs nothing.
    let blocking = args
        .blocking
        .as_deref()
        .map(crate::cmd::block::read_schema)
        .transpose()?;
    let encoder = Encoder::new(schema, &secret).context("deriving keys")?;
    let header = if args.no_header {
        Header::Absent
    } else if args.ignore_header {
        Header::Ignore
    } else {
        Header::Check
    };
    let file =
        File::open(&args.records).with_context(|| format!("opening {}", args.records.display()))?;
    let bar = progress::hashing_spinner(args.quiet);
    let start = Instant::now();
    let progress = |n: u64| bar.inc(n);
    let clks = encode_csv(
        &encoder,
        std::io::BufReader::new(file),
        header,
        args.validate,
        &progress,
    )
    .with_context(|| format!("hashing {}", args.records.display()))?;
    bar.finish_and_clear();
    let blocks = match &blocking {
        Some((schema, _)) => {
            let (blocks, rows) =
                crate::cmd::block::block_file(schema, &args.records, !args.no_header)?;
            if rows != clks.len() {
                bail!("{} rows were blocked but {} hashed", rows, clks.len());
            }
            Some(blocks)
        }
        None => None,
    };
    let out = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut out = std::io::BufWriter::new(out);
    if let Some(blocks) = &blocks {
        encode_json_with_blocks(&clks, &blocks.record_blocks(clks.len()), &mut out)?;
    } else if args.binary {
        encode_binary(&clks, &mut out)?;
    } else {
        encode_json(&clks, &mut out)?;
    }
    out.flush()?;
    if !args.quiet {
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{} CLKs of {} bytes in {secs:.2} s ({:.0} CLKs/s) → {}",
            clks.len(),
            clks.bytes_per_record(),
            clks.len() as f64 / secs.max(1e-9),
            args.output.display()
        );
        if let Some(blocks) = &blocks {
            let s = &blocks.stats;
            eprintln!(
                "with {} blocks (sizes {}..{}, median {}){}",
                s.num_of_blocks,
                s.min_size,
                s.max_size,
                s.med_size,
                s.coverage
                    .map(|c| format!(", coverage {:.2}%", c * 100.0))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Arguments of `anonlink generate-default-schema`.
#[derive(Debug, Args)]
pub struct DefaultSchemaArgs {
    /// Where to write the schema.
    output: PathBuf,
}

pub fn generate_default_schema(args: DefaultSchemaArgs) -> Result<()> {
    let text = serde_json::to_string_pretty(&default_schema())?;
    std::fs::write(&args.output, text + "\n")
        .with_context(|| format!("writing {}", args.output.display()))
}

/// Arguments of `anonlink validate-schema`.
#[derive(Debug, Args)]
pub struct ValidateSchemaArgs {
    /// The schema to check.
    schema: PathBuf,
}

pub fn validate_schema(args: ValidateSchemaArgs) -> Result<()> {
    let schema = read_schema(&args.schema)?;
    let hashed = schema.features.iter().filter(|f| f.spec.is_some()).count();
    println!(
        "{}: valid; {} features ({hashed} hashed), {} bits",
        args.schema.display(),
        schema.features.len(),
        schema.l
    );
    Ok(())
}
