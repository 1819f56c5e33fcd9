//! Entity Service client commands: they work against this service and the reference one.
//!
//! `--server` is the service's root (`http://host:8851`); `/api/v1` is appended, as the
//! reference's own clients do. Server errors are shown with their status and detail, and make
//! the command exit non-zero.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::progress;
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

/// Where the service is.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// The service's root URL (the API is under /api/v1).
    #[arg(
        long,
        env = "SERVER",
        default_value = "http://127.0.0.1:8851",
        global = true
    )]
    server: String,
}

impl ServerArgs {
    /// The service's root URL.
    pub fn url(&self) -> &str {
        &self.server
    }
}

/// Client subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show the service's status (project count, comparison rate).
    Status,
    /// Show the service's versions.
    Version,
    /// Create a linkage project; prints (or saves) its id and tokens.
    CreateProject(CreateProjectArgs),
    /// Upload a party's encodings with its update token.
    Upload(UploadArgs),
    /// Create a run (a linkage at a threshold) in a project.
    Create(CreateRunArgs),
    /// Fetch a run's result; with --watch, follow its progress until it ends.
    Results(ResultsArgs),
    /// List a project's runs.
    ListRuns(ProjectArgs),
    /// Delete a project with its encodings and results.
    DeleteProject(ProjectArgs),
    /// Delete a run and its results.
    DeleteRun(RunArgs),
}

/// Arguments of `create-project`.
#[derive(Debug, Args)]
pub struct CreateProjectArgs {
    /// Result type: groups, mapping, permutations or similarity_scores.
    #[arg(long = "type", default_value = "groups")]
    result_type: String,
    /// Linkage schema file (JSON); `{}` when omitted.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Number of parties.
    #[arg(long, default_value_t = 2)]
    parties: u32,
    /// Project name.
    #[arg(long, default_value = "")]
    name: String,
    /// Project notes.
    #[arg(long, default_value = "")]
    notes: String,
    /// Whether uploads carry block ids.
    #[arg(long)]
    blocking: bool,
    /// Save the credentials here (they are only shown once).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// A project and a token: given directly, or read from the credentials file that
/// `create-project --output` wrote.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Project id.
    #[arg(long)]
    project: Option<String>,
    /// Token (the result token for most commands, an update token to upload).
    #[arg(long)]
    apikey: Option<String>,
    /// Credentials file from `create-project --output`: supplies the project id and the
    /// result token (or, with --party, that party's update token).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// With --credentials: use this party's update token.
    #[arg(long)]
    party: Option<usize>,
}

impl ProjectArgs {
    /// The project id and token.
    fn resolve(&self) -> Result<(String, String)> {
        let creds: Option<Value> = match &self.credentials {
            Some(path) => Some(
                serde_json::from_reader(
                    File::open(path).with_context(|| format!("opening {}", path.display()))?,
                )
                .with_context(|| format!("reading the credentials {}", path.display()))?,
            ),
            None => None,
        };
        let from_creds = |key: &str| -> Option<String> {
            creds.as_ref()?.get(key)?.as_str().map(str::to_string)
        };
        let project = match &self.project {
            Some(p) => p.clone(),
            None => from_creds("project_id")
                .context("give --project, or --credentials with a project_id")?,
        };
        let token = match (&self.apikey, self.party) {
            (Some(t), _) => t.clone(),
            (None, Some(party)) => creds
                .as_ref()
                .and_then(|c| c["update_tokens"].get(party))
                .and_then(Value::as_str)
                .map(str::to_string)
                .with_context(|| {
                    format!("the credentials have no update token for party {party}")
                })?,
            (None, None) => from_creds("result_token")
                .context("give --apikey, or --credentials with a result_token")?,
        };
        Ok((project, token))
    }
}

/// Arguments of `upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Send the file as binary records (octet-stream) instead of JSON.
    #[arg(long)]
    binary: bool,
    /// Record size in bytes for --binary.
    #[arg(long, default_value_t = 128)]
    hash_size: u64,
    /// The encodings file.
    file: PathBuf,
    /// Save the receipt token here.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// Arguments of `create`.
#[derive(Debug, Args)]
pub struct CreateRunArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Similarity threshold in (0, 1], or `auto`: chosen by the service from the data (an
    /// extension of the reference's API).
    #[arg(long, value_parser = parse_run_threshold)]
    threshold: Value,
    /// Solver: greedy (the reference's), probabilistic or bayes [default: greedy; under
    /// `auto`, bayes] (an extension of the reference's API).
    #[arg(long, value_parser = ["greedy", "probabilistic", "bayes"])]
    solver: Option<String>,
    /// Run name.
    #[arg(long, default_value = "")]
    name: String,
    /// Run notes.
    #[arg(long, default_value = "")]
    notes: String,
    /// Save the run description here.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// A run.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Run id.
    #[arg(long)]
    run: Option<String>,
    /// Run file from `create --output`, instead of --run.
    #[arg(long)]
    run_file: Option<PathBuf>,
}

impl RunArgs {
    fn resolve(&self) -> Result<(String, String, String)> {
        let (project, token) = self.project.resolve()?;
        let run = match (&self.run, &self.run_file) {
            (Some(r), _) => r.clone(),
            (None, Some(path)) => {
                let doc: Value = serde_json::from_reader(
                    File::open(path).with_context(|| format!("opening {}", path.display()))?,
                )
                .with_context(|| format!("reading {}", path.display()))?;
                doc["run_id"]
                    .as_str()
                    .map(str::to_string)
                    .with_context(|| format!("{} has no run_id", path.display()))?
            }
            (None, None) => bail!("give --run or --run-file"),
        };
        Ok((project, token, run))
    }
}

/// Arguments of `results`.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Follow state, stage and progress until the run completes or fails.
    #[arg(long)]
    watch: bool,
    /// Seconds between status polls with --watch.
    #[arg(long, default_value_t = 0.5)]
    interval: f64,
    /// Fetch the score model's estimate of an auto or bayes run instead of its result.
    #[arg(long)]
    estimate: bool,
    /// Save the result here.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// `auto`, or a number (the service checks its range).
fn parse_run_threshold(s: &str) -> Result<Value, String> {
    if s == "auto" {
        return Ok(json!("auto"));
    }
    s.parse::<f64>()
        .map(|t| json!(t))
        .map_err(|_| format!("{s:?} is neither a number nor auto"))
}

/// An Entity Service at a URL.
pub struct Service {
    api: String,
    client: Client,
}

impl Service {
    /// A client for the service rooted at `server`.
    pub fn new(server: &str) -> Result<Service> {
        Ok(Service {
            api: format!("{}/api/v1", server.trim_end_matches('/')),
            client: Client::builder()
                .timeout(Duration::from_secs(3600))
                .build()
                .context("building the HTTP client")?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.api, path.trim_start_matches('/'))
    }

    /// Sends a request; non-2xx answers become errors with the server's detail.
    pub fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request
            .send()
            .map_err(|e| anyhow!("cannot reach the server at {}: {e}", self.api))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().unwrap_or_default();
        let detail = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(body);
        bail!("server answered {status}: {detail}")
    }

    /// GET `path` with an optional token, as JSON.
    pub fn get(&self, path: &str, token: Option<&str>) -> Result<Value> {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        self.send(req)?
            .json()
            .context("reading the server's answer")
    }

    /// POST a JSON body to `path`.
    pub fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Result<Value> {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        self.send(req)?
            .json()
            .context("reading the server's answer")
    }

    /// POST a body read from `reader` (`len` bytes) to a project's upload endpoint.
    pub fn upload(
        &self,
        project: &str,
        token: &str,
        body: reqwest::blocking::Body,
        binary: Option<(u64, u64)>,
    ) -> Result<Value> {
        let mut req = self
            .client
            .post(self.url(&format!("projects/{project}/clks")))
            .header("Authorization", token)
            .body(body);
        req = match binary {
            Some((count, size)) => req
                .header("Content-Type", "application/octet-stream")
                .header("Hash-Count", count.to_string())
                .header("Hash-Size", size.to_string()),
            None => req.header("Content-Type", "application/json"),
        };
        self.send(req)?
            .json()
            .context("reading the server's answer")
    }

    /// DELETE `path`.
    pub fn delete(&self, path: &str, token: &str) -> Result<()> {
        self.send(
            self.client
                .delete(self.url(path))
                .header("Authorization", token),
        )?;
        Ok(())
    }
}

/// Writes `value` to `output`, or pretty-prints it to stdout.
fn emit(value: &Value, output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) => {
            let mut file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            serde_json::to_writer_pretty(&mut file, value)?;
            writeln!(file)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            serde_json::to_writer_pretty(&mut out, value)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Runs a client subcommand.
pub fn run(server: &ServerArgs, command: ClientCommand) -> Result<()> {
    let service = Service::new(&server.server)?;
    match command {
        ClientCommand::Status => emit(&service.get("status", None)?, None),
        ClientCommand::Version => emit(&service.get("version", None)?, None),
        ClientCommand::CreateProject(args) => {
            let schema: Value = match &args.schema {
                Some(path) => serde_json::from_reader(
                    File::open(path).with_context(|| format!("opening {}", path.display()))?,
                )
                .with_context(|| format!("reading the schema {}", path.display()))?,
                None => json!({}),
            };
            let mut body = json!({
                "schema": schema,
                "result_type": args.result_type,
                "number_parties": args.parties,
                "name": args.name,
                "notes": args.notes,
            });
            if args.blocking {
                body["uses_blocking"] = json!(true);
            }
            let created = service.post_json("projects", None, &body)?;
            emit(&created, args.output.as_deref())
        }
        ClientCommand::Upload(args) => {
            let file = File::open(&args.file)
                .with_context(|| format!("opening {}", args.file.display()))?;
            let len = file
                .metadata()
                .with_context(|| format!("reading {}", args.file.display()))?
                .len();
            let binary = if args.binary {
                if args.hash_size == 0 || len % args.hash_size != 0 {
                    bail!(
                        "{}: {len} bytes is not a whole number of {}-byte records",
                        args.file.display(),
                        args.hash_size
                    );
                }
                Some((len / args.hash_size, args.hash_size))
            } else {
                None
            };
            let bar = progress::upload_bar(len);
            let body = reqwest::blocking::Body::sized(bar.wrap_read(file), len);
            let (project, token) = args.project.resolve()?;
            let answer = service.upload(&project, &token, body, binary);
            bar.finish_and_clear();
            emit(&answer?, args.output.as_deref())
        }
        ClientCommand::Create(args) => {
            let (project, token) = args.project.resolve()?;
            let run = service.post_json(&format!("projects/{project}/runs"), Some(&token), &{
                let mut body =
                    json!({"threshold": args.threshold, "name": args.name, "notes": args.notes});
                if let Some(solver) = &args.solver {
                    body["solver"] = json!(solver);
                }
                body
            })?;
            emit(&run, args.output.as_deref())
        }
        ClientCommand::Results(args) => results(&service, &args),
        ClientCommand::ListRuns(args) => {
            let (project, token) = args.resolve()?;
            emit(
                &service.get(&format!("projects/{project}/runs"), Some(&token))?,
                None,
            )
        }
        ClientCommand::DeleteProject(args) => {
            let (project, token) = args.resolve()?;
            service.delete(&format!("projects/{project}"), &token)?;
            eprintln!("deleted project {project}");
            Ok(())
        }
        ClientCommand::DeleteRun(args) => {
            let (project, token, run) = args.resolve()?;
            service.delete(&format!("projects/{project}/runs/{run}"), &token)?;
            eprintln!("deleted run {run}");
            Ok(())
        }
    }
}

fn results(service: &Service, args: &ResultsArgs) -> Result<()> {
    let (project, token, run) = args.run.resolve()?;
    let base = format!("projects/{project}/runs/{run}");
    let token = token.as_str();
    if args.watch {
        watch(service, &format!("{base}/status"), token, args.interval)?;
    }
    let what = if args.estimate { "estimate" } else { "result" };
    emit(
        &service.get(&format!("{base}/{what}"), Some(token))?,
        args.output.as_deref(),
    )
}

/// Follows a run's status until it completes (Ok) or fails (Err with its message).
pub fn watch(service: &Service, status_path: &str, token: &str, interval: f64) -> Result<Value> {
    let terminal = std::io::stderr().is_terminal();
    let bar = progress::run_bar();
    let mut last_line = String::new();
    loop {
        let status = service.get(status_path, Some(token))?;
        let state = status["state"].as_str().unwrap_or("unknown").to_string();
        let stage = &status["current_stage"];
        let line = format!(
            "{state}: stage {}/{} {}",
            stage["number"],
            status["stages"],
            stage["description"].as_str().unwrap_or("")
        );
        let relative = stage["progress"]["relative"].as_f64().unwrap_or(0.0);
        if terminal {
            bar.set_message(line.clone());
            bar.set_position((relative * 1000.0) as u64);
        } else if line != last_line {
            eprintln!("{line}");
        }
        last_line = line;
        match state.as_str() {
            "completed" => {
                bar.finish_and_clear();
                if !terminal {
                    eprintln!("completed");
                }
                return Ok(status);
            }
            "error" => {
                bar.finish_and_clear();
                bail!(
                    "the run failed: {}",
                    status["message"].as_str().unwrap_or("no message")
                );
            }
            _ => std::thread::sleep(Duration::from_secs_f64(interval.max(0.05))),
        }
    }
}
