//! `anonlink estimate`: what a model of the scores says, without the truth: the suggested
//! threshold, estimated matches and precision/recall/F1 over thresholds, the fitted score
//! distributions; as a table, JSON (`--output`) and an SVG chart (`--plot`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anonlink_core::candidates::{Config, total_comparisons};
use anonlink_core::encoding::Clks;
use anonlink_core::model::{self, Report};
use anyhow::{Context, Result, bail};
use clap::Args;
use plotters::prelude::*;

use crate::input::read_parties;
use crate::progress;

/// Arguments of `anonlink estimate`.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Encodings files, one per party (as for `link`; blocks, when every file has them,
    /// restrict the comparisons).
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Read inputs as binary records of this many bytes.
    #[arg(long)]
    binary_size: Option<usize>,
    /// Write the whole estimate as JSON here.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Draw the score distributions and the estimated quality as an SVG chart here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: EstimateArgs) -> Result<()> {
    let (datasets, blocks) = read_parties(&args.inputs, args.binary_size)?;
    let refs: Vec<&Clks> = datasets.iter().collect();
    let sizes: Vec<usize> = datasets.iter().map(Clks::len).collect();
    let bar = progress::comparisons_bar(total_comparisons(&sizes), args.quiet);
    let config = Config::new(0.0).with_progress(progress::callback(&bar));
    let (model, pairs) =
        model::estimate(&refs, &config, blocks.as_deref()).context("estimating")?;
    bar.finish_and_clear();
    let report = model.report(pairs.len() as u64);
    if let Some(path) = &args.output {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, &report)?;
        out.flush()?;
    }
    if let Some(path) = &args.plot {
        plot(&report, path).with_context(|| format!("drawing {}", path.display()))?;
    }
    print_table(&report, &mut std::io::stdout().lock())?;
    Ok(())
}

/// The readable summary: the suggestion, the confidence, and the curve every 0.02.
fn print_table(r: &Report, out: &mut impl Write) -> Result<()> {
    let s = &r.suggested;
    writeln!(
        out,
        "{} candidate pairs above the floor {:.3}; {} links, about {:.0} matches",
        r.candidates, r.floor, r.links, r.estimated_matches
    )?;
    writeln!(
        out,
        "suggested threshold {:.3}: estimated precision {:.4}, recall {:.4}, F1 {:.4}",
        s.threshold, s.precision, s.recall, s.f1
    )?;
    writeln!(
        out,
        "confidence {:?}: {}",
        r.confidence.level, r.confidence.note
    )?;
    writeln!(
        out,
        "(the estimates count the matches the scores show: a match that does not stand out \
         from its records' other candidates is not counted, so on noisy data recall can be \
         lower than estimated)"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>9} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "threshold", "links", "matches", "precision", "recall", "F1"
    )?;
    for p in r
        .curve
        .iter()
        .filter(|p| ((p.threshold * 100.0).round() as u32).is_multiple_of(2))
    {
        writeln!(
            out,
            "{:>9.2} {:>9} {:>10.1} {:>9.4} {:>9.4} {:>9.4}",
            p.threshold, p.links, p.matches, p.precision, p.recall, p.f1
        )?;
    }
    Ok(())
}

/// Two panels: the link scores split into expected matches and non-matches, and the
/// estimated precision, recall and F1 of the links above each threshold.
fn plot(r: &Report, path: &Path) -> Result<()> {
    if r.distribution.is_empty() {
        bail!("no links to draw");
    }
    let root = SVGBackend::new(path, (900, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(360);
    let low = r.floor.min(r.distribution[0].low);
    let tallest = r
        .distribution
        .iter()
        .map(|b| b.links as f64)
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "Link scores: expected matches and non-matches",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(low..1.0, 0.0..tallest * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("score")
        .y_desc("links")
        .draw()?;
    let bars = |value: fn(&model::ScoreBin) -> f64, base: fn(&model::ScoreBin) -> f64| {
        r.distribution.iter().map(move |b| {
            Rectangle::new(
                [(b.low, base(b)), (b.high, base(b) + value(b))],
                ShapeStyle::from(&BLACK).filled(),
            )
        })
    };
    let blue = RGBColor(52, 101, 164);
    let orange = RGBColor(237, 125, 49);
    chart
        .draw_series(bars(|b| b.non_matches, |_| 0.0).map(|mut bar| {
            bar.set_style(orange.filled());
            bar
        }))?
        .label("non-matches")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], orange.filled()));
    chart
        .draw_series(bars(|b| b.matches, |b| b.non_matches).map(|mut bar| {
            bar.set_style(blue.filled());
            bar
        }))?
        .label("matches")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], blue.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!(
                "Estimated quality above each threshold (suggested {:.3}, F1 {:.4})",
                r.suggested.threshold, r.suggested.f1
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(low..1.0, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("threshold")
        .y_desc("estimate")
        .draw()?;
    let green = RGBColor(56, 142, 60);
    for (name, color, value) in [
        (
            "precision",
            blue,
            (|p: &model::QualityPoint| p.precision) as fn(&_) -> f64,
        ),
        ("recall", orange, |p| p.recall),
        ("F1", green, |p| p.f1),
    ] {
        chart
            .draw_series(LineSeries::new(
                r.curve.iter().map(|p| (p.threshold, value(p))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(r.suggested.threshold, 0.0), (r.suggested.threshold, 1.02)],
        BLACK.mix(0.5),
    )))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
