//! `anonlink`: privacy-preserving record linkage from the command line.
#![forbid(unsafe_code)]

mod cmd;
mod input;
mod progress;
mod traces;

use clap::{Parser, Subcommand};

/// Privacy-preserving record linkage on CLKs: link locally or run the Entity Service.
#[derive(Debug, Parser)]
#[command(name = "anonlink", version, about)]
struct Cli {
    #[command(flatten)]
    server: cmd::client::ServerArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Entity Service (REST API) with embedded storage.
    Serve(cmd::serve::ServeArgs),
    /// Link encodings files locally, without a server.
    Link(cmd::link::LinkArgs),
    /// Estimate the linkage quality from the scores alone: suggested threshold, estimated
    /// matches and precision/recall/F1 over thresholds, the fitted score distributions.
    Estimate(cmd::estimate::EstimateArgs),
    /// Write fake personal records (as clkutil generate), or linked datasets of them with
    /// realistic errors and a truth file.
    Generate(cmd::generate::GenerateArgs),
    /// Describe an encodings file: count, size and popcount histogram.
    Describe(cmd::describe::DescribeArgs),
    /// Encode records (CSV) into CLKs with a linkage schema and a secret (as clkhash).
    Hash(cmd::hash::HashArgs),
    /// Block records (CSV) with a blocking schema, as blocklib and anonlink-client's
    /// `block`: P-Sig or λ-fold block ids per record.
    Block(cmd::block::BlockArgs),
    /// Statistics of block documents: block sizes, coverage; for two parties the
    /// comparisons, reduction ratio and, with a truth, pairs completeness.
    BlockStats(cmd::block::BlockStatsArgs),
    /// Write the default linkage schema.
    GenerateDefaultSchema(cmd::hash::DefaultSchemaArgs),
    /// Check a linkage schema.
    ValidateSchema(cmd::hash::ValidateSchemaArgs),
    /// Show the distribution of candidate scores, to help choose a threshold.
    ScoresHistogram(cmd::histogram::HistogramArgs),
    /// Run benchmark experiments against a server with synthetic CLKs.
    Benchmark(cmd::benchmark::BenchmarkArgs),
    #[command(flatten)]
    Client(cmd::client::ClientCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Link(args) => cmd::link::run(args),
        Command::Describe(args) => cmd::describe::run(args),
        Command::Estimate(args) => cmd::estimate::run(args),
        Command::Generate(args) => cmd::generate::run(args),
        Command::Hash(args) => cmd::hash::run(args),
        Command::Block(args) => cmd::block::run(args),
        Command::BlockStats(args) => cmd::block::stats(args),
        Command::GenerateDefaultSchema(args) => cmd::hash::generate_default_schema(args),
        Command::ValidateSchema(args) => cmd::hash::validate_schema(args),
        Command::ScoresHistogram(args) => cmd::histogram::run(args),
        Command::Benchmark(args) => cmd::benchmark::run(&cli.server, args),
        Command::Client(command) => cmd::client::run(&cli.server, command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A closed pipe (`anonlink describe f | head`) is the reader's choice, not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("anonlink: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
