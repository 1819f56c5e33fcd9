//! `anonlink benchmark`: the reference benchmark's experiments against a server, with
//! synthetic CLKs generated deterministically here.

use std::path::PathBuf;
use std::time::Instant;

use anonlink_core::encoding::encode_binary;
use anonlink_core::synthetic::synthetic_datasets;
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{ServerArgs, Service, watch};

/// The experiments shipped with the project (benchmarks/experiments.json).
const DEFAULT_EXPERIMENTS: &str = include_str!("../../../benchmarks/experiments.json");

/// Arguments of `anonlink benchmark`.
#[derive(Debug, Args)]
pub struct BenchmarkArgs {
    /// Experiments file: `[{"sizes": ["100K", "100K"], "threshold": 0.95, "repetitions": 1}, ...]`;
    /// the shipped benchmarks/experiments.json when omitted.
    #[arg(long)]
    experiments: Option<PathBuf>,
    /// Result type of the projects.
    #[arg(long = "type", default_value = "groups")]
    result_type: String,
    /// Share of the smallest dataset planted in the others as near-duplicates.
    #[arg(long, default_value_t = 0.5)]
    overlap: f64,
    /// Save the timings here as JSON (they are printed either way).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Experiment {
    sizes: Vec<Size>,
    threshold: f64,
    #[serde(default = "one")]
    repetitions: usize,
}

fn one() -> usize {
    1
}

/// `"100K"`, `"1M"`, `"5000"` or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Number(usize),
    Text(String),
}

impl Size {
    fn records(&self) -> Result<usize> {
        match self {
            Size::Number(n) => Ok(*n),
            Size::Text(t) => {
                let t = t.trim();
                let (digits, factor) = match t.chars().last() {
                    Some('K' | 'k') => (&t[..t.len() - 1], 1_000),
                    Some('M' | 'm') => (&t[..t.len() - 1], 1_000_000),
                    _ => (t, 1),
                };
                let n: f64 = digits
                    .parse()
                    .with_context(|| format!("size {t:?} is not like 5000, 100K or 1M"))?;
                Ok((n * factor as f64) as usize)
            }
        }
    }
}

pub fn run(server: &ServerArgs, args: BenchmarkArgs) -> Result<()> {
    let text = match &args.experiments {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => DEFAULT_EXPERIMENTS.to_string(),
    };
    let experiments: Vec<Experiment> =
        serde_json::from_str(&text).context("reading the experiments")?;
    let service = Service::new(server.url())?;
    let mut results = Vec::new();
    for (e, experiment) in experiments.iter().enumerate() {
        let sizes: Vec<usize> = experiment
            .sizes
            .iter()
            .map(Size::records)
            .collect::<Result<_>>()?;
        if sizes.len() < 2 {
            bail!("experiment {e}: needs at least 2 sizes");
        }
        eprintln!(
            "experiment {e}: sizes {sizes:?}, threshold {}",
            experiment.threshold
        );
        let datasets = synthetic_datasets(&sizes, args.overlap, 1000 + e as u64);
        let bodies: Vec<Vec<u8>> = datasets
            .iter()
            .map(|d| {
                let mut body = Vec::new();
                encode_binary(d, &mut body).map(|()| body)
            })
            .collect::<Result<_, _>>()?;
        for repetition in 0..experiment.repetitions.max(1) {
            let project = service.post_json(
                "projects",
                None,
                &json!({"schema": {}, "result_type": args.result_type, "number_parties": sizes.len(),
                        "name": format!("benchmark {e}.{repetition}")}),
            )?;
            let pid = project["project_id"]
                .as_str()
                .context("project id")?
                .to_string();
            let result_token = project["result_token"]
                .as_str()
                .context("result token")?
                .to_string();
            let start = Instant::now();
            for (party, body) in bodies.iter().enumerate() {
                let token = project["update_tokens"][party]
                    .as_str()
                    .context("update token")?;
                service.upload(
                    &pid,
                    token,
                    body.clone().into(),
                    Some(((body.len() / 128) as u64, 128)),
                )?;
            }
            let upload_s = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let run = service.post_json(
                &format!("projects/{pid}/runs"),
                Some(&result_token),
                &json!({"threshold": experiment.threshold}),
            )?;
            let rid = run["run_id"].as_str().context("run id")?.to_string();
            let status = watch(
                &service,
                &format!("projects/{pid}/runs/{rid}/status"),
                &result_token,
                0.1,
            )?;
            let run_s = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let result = service.get(
                &format!("projects/{pid}/runs/{rid}/result"),
                Some(&result_token),
            )?;
            let result_s = start.elapsed().as_secs_f64();
            let comparisons = status["total_number_comparisons"]
                .as_u64()
                .unwrap_or_else(|| anonlink_core::candidates::total_comparisons(&sizes));
            let record = json!({
                "experiment": e,
                "repetition": repetition,
                "sizes": sizes,
                "threshold": experiment.threshold,
                "upload_seconds": upload_s,
                "run_seconds": run_s,
                "result_seconds": result_s,
                "comparisons": comparisons,
                "comparisons_per_second": comparisons as f64 / run_s.max(1e-9),
                "groups": result.get("groups").and_then(Value::as_array).map(Vec::len),
            });
            eprintln!(
                "  upload {upload_s:.2} s, run {run_s:.2} s ({:.3e} comparisons/s), result {result_s:.3} s",
                comparisons as f64 / run_s.max(1e-9)
            );
            service.delete(&format!("projects/{pid}"), &result_token)?;
            results.push(record);
        }
    }
    let report = Value::Array(results);
    if let Some(path) = &args.output {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
