//! Runs: one linkage of a project at a threshold (API reference §3.9–3.13, §5.5).

use super::Timestamp;
use super::project::Project;
use crate::candidates::Threshold;
use crate::linkage::{ResultType, Solver};

/// The solver a run asks for (an extension of the API: the reference always solves
/// greedily).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunSolver {
    /// The reference's greedy solver (the default for a numeric threshold).
    Greedy,
    /// The reference's probabilistic solver (merge threshold 0.5, one record per party).
    Probabilistic,
    /// Match probabilities from a model of the scores (the default for `auto`).
    Bayes,
}

impl RunSolver {
    /// Parses the API's name (`greedy`, `probabilistic`, `bayes`).
    pub fn parse(name: &str) -> Option<RunSolver> {
        match name {
            "greedy" => Some(RunSolver::Greedy),
            "probabilistic" => Some(RunSolver::Probabilistic),
            "bayes" => Some(RunSolver::Bayes),
            _ => None,
        }
    }

    /// The linkage solver.
    pub fn solver(self) -> Solver {
        match self {
            RunSolver::Greedy => Solver::Greedy,
            RunSolver::Probabilistic => Solver::Probabilistic {
                merge_threshold: 0.5,
                deduplicated: true,
            },
            RunSolver::Bayes => Solver::Bayes,
        }
    }
}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Posted before every party uploaded.
    Created,
    /// Waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Results are available.
    Completed,
    /// It failed; `message` says why.
    Error,
}

impl RunState {
    /// The API's name for the state.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Error => "error",
        }
    }
}

/// A worker's claim on a run, valid until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    /// Who holds it.
    pub holder: String,
    /// When it lapses unless renewed.
    pub expires: Timestamp,
}

/// A run. Its fields change only through its transitions (and the queue, which drives
/// them); read them through the accessors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// 48 hex characters.
    id: String,
    /// Its project.
    project_id: String,
    /// Free text.
    name: String,
    /// Free text.
    notes: String,
    /// Similarity threshold in (0, 1].
    threshold: Threshold,
    /// Where it stands.
    state: RunState,
    /// Stage 1 waiting for data, 2 similarity, 3 output.
    stage: u8,
    /// Comparisons done in stage 2.
    comparisons_done: u64,
    /// Comparisons stage 2 makes in all.
    total_comparisons: u64,
    /// Candidate pairs found.
    candidates: Option<u64>,
    /// When it was posted.
    time_added: Timestamp,
    /// When a worker started it.
    time_started: Option<Timestamp>,
    /// When it completed or failed.
    time_completed: Option<Timestamp>,
    /// Why it failed.
    message: Option<String>,
    /// The worker holding it, while running.
    lease: Option<Lease>,
    /// How many times a worker started solving it (more than one after a crash).
    attempts: u32,
    /// Number of chunks its comparisons were split into, once planned.
    #[serde(default)]
    chunks: Option<u32>,
    /// Candidate pairs estimated before the comparisons (from a sample).
    #[serde(default)]
    estimated_candidates: Option<u64>,
    /// Whether the threshold is chosen from the data (`"threshold": "auto"`).
    #[serde(default)]
    auto: bool,
    /// The floor an auto run's comparisons use, once chosen.
    #[serde(default)]
    floor: Option<f64>,
    /// The solver asked for, if any.
    #[serde(default)]
    solver: Option<RunSolver>,
    /// The lowest score in an auto run's result, once solved.
    #[serde(default)]
    chosen_threshold: Option<f64>,
}

impl Run {
    /// A new run of `project` posted at `now`, with a fresh id: queued when every party has
    /// uploaded, else created (it is queued when the last upload is accepted).
    pub fn create(
        project: &Project,
        threshold: Threshold,
        name: String,
        notes: String,
        now: Timestamp,
    ) -> Run {
        Run {
            id: super::token::generate(),
            project_id: project.id().to_string(),
            name,
            notes,
            threshold,
            state: if project.ready() {
                RunState::Queued
            } else {
                RunState::Created
            },
            stage: 1,
            comparisons_done: 0,
            total_comparisons: 0,
            candidates: None,
            time_added: now,
            time_started: None,
            time_completed: None,
            message: None,
            lease: None,
            attempts: 0,
            chunks: None,
            estimated_candidates: None,
            auto: false,
            floor: None,
            solver: None,
            chosen_threshold: None,
        }
    }

    /// A new run whose threshold (and, without `solver`, solver) is chosen from the data:
    /// its comparisons wait for a worker to choose their floor ([`Run::needs_floor`]).
    pub fn create_auto(
        project: &Project,
        solver: Option<RunSolver>,
        name: String,
        notes: String,
        now: Timestamp,
    ) -> Run {
        // Until the floor is chosen the search threshold is a placeholder nobody uses.
        let placeholder = Threshold::positive(1.0).unwrap_or_else(|_| unreachable!());
        let mut run = Run::create(project, placeholder, name, notes, now);
        run.auto = true;
        run.solver = solver;
        run
    }

    /// The same run solved by `solver` (an extension: the reference solves greedily).
    pub fn with_solver(mut self, solver: Option<RunSolver>) -> Run {
        self.solver = solver;
        self
    }

    /// Whether the threshold is chosen from the data.
    pub fn is_auto(&self) -> bool {
        self.auto
    }

    /// Whether a worker must choose the floor of an auto run before its comparisons.
    pub fn needs_floor(&self) -> bool {
        self.auto && self.floor.is_none()
    }

    /// The solver asked for, if any.
    pub fn solver_asked(&self) -> Option<RunSolver> {
        self.solver
    }

    /// The solver the run uses: the one asked for, else Bayes for auto runs and greedy
    /// (the reference's) for the others.
    pub fn solver(&self) -> RunSolver {
        self.solver.unwrap_or(if self.auto {
            RunSolver::Bayes
        } else {
            RunSolver::Greedy
        })
    }

    /// The threshold as clients see it: the requested one; for an auto run the lowest
    /// score of its result once solved (before that the floor, or nothing).
    pub fn shown_threshold(&self) -> Option<f64> {
        if self.auto {
            self.chosen_threshold.or(self.floor)
        } else {
            Some(self.threshold.get())
        }
    }

    /// Whether a worker must prepare the run before its comparisons are planned: choose
    /// an auto run's floor ([`Run::needs_floor`]) and estimate the candidates, so that a
    /// run over the limit is refused before any chunk is compared.
    pub fn needs_preparing(&self) -> bool {
        self.needs_floor() || self.estimated_candidates.is_none()
    }

    /// `holder` takes the run to prepare it (under a lease: if it dies, another worker
    /// prepares it). Each time counts as an attempt, so storage that stays unreachable
    /// fails the run after the queue's attempts.
    pub fn start_preparing(&mut self, holder: &str, now: Timestamp, lease_micros: i64) {
        self.state = RunState::Running;
        self.stage = 2;
        self.time_started.get_or_insert(now);
        self.chunks = None;
        self.lease = Some(Lease {
            holder: holder.to_string(),
            expires: now.plus_micros(lease_micros),
        });
        self.attempts += 1;
    }

    /// Records what preparing found: an auto run's floor (its comparisons use it) and the
    /// estimated candidates. The run is unheld, to be planned, its attempts counted afresh.
    pub fn prepared(&mut self, floor: Option<Threshold>, estimated_candidates: u64) {
        if let Some(floor) = floor {
            self.floor = Some(floor.get());
            self.threshold = floor;
        }
        self.estimated_candidates = Some(estimated_candidates);
        self.lease = None;
        // The solve's attempts are its own.
        self.attempts = 0;
    }

    /// Records the lowest score an auto run's result may have.
    pub fn record_chosen_threshold(&mut self, threshold: f64) {
        self.chosen_threshold = Some(threshold);
    }

    /// 48 hex characters.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its project's id.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Free text given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free text given at creation.
    pub fn notes(&self) -> &str {
        &self.notes
    }

    /// The threshold the comparisons use: the requested one, or an auto run's floor once
    /// chosen (see [`Run::shown_threshold`] for what clients see).
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }

    /// The stored state (the status view also reflects the project's errors).
    pub fn state(&self) -> RunState {
        self.state
    }

    /// 1 waiting for data, 2 similarity, 3 output.
    pub fn stage(&self) -> u8 {
        self.stage
    }

    /// Comparisons made so far (kept up to date only outside stage 2's chunks; see
    /// [`super::queue::run_with_progress`]).
    pub fn comparisons_done(&self) -> u64 {
        self.comparisons_done
    }

    /// Comparisons stage 2 makes in all, once planned.
    pub fn total_comparisons(&self) -> u64 {
        self.total_comparisons
    }

    /// Candidate pairs found, once every chunk is done.
    pub fn candidates(&self) -> Option<u64> {
        self.candidates
    }

    /// When it was posted.
    pub fn time_added(&self) -> Timestamp {
        self.time_added
    }

    /// When a worker started it.
    pub fn time_started(&self) -> Option<Timestamp> {
        self.time_started
    }

    /// When it completed or failed.
    pub fn time_completed(&self) -> Option<Timestamp> {
        self.time_completed
    }

    /// Why it failed.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The claim of the worker solving it, if one holds it.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// How many times a worker started solving it (more than one after a crash).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Number of chunks its comparisons were split into, once planned.
    pub fn chunks(&self) -> Option<u32> {
        self.chunks
    }

    /// Candidate pairs estimated before the comparisons, once a worker estimated them.
    pub fn estimated_candidates(&self) -> Option<u64> {
        self.estimated_candidates
    }

    /// Number of stages: 2 for similarity scores, 3 otherwise.
    pub fn stages(result_type: ResultType) -> u8 {
        if result_type == ResultType::SimilarityScores {
            2
        } else {
            3
        }
    }

    /// A created run's project has become ready: it waits for a worker. Returns whether it
    /// changed (only created runs are queued).
    pub fn queue(&mut self) -> bool {
        if self.state != RunState::Created {
            return false;
        }
        self.state = RunState::Queued;
        true
    }

    /// Whether a worker may take the run at `now`: queued (to plan its chunks), or running
    /// with no live lease (its chunks may all be done, waiting to be solved; or its solver
    /// died).
    pub fn is_claimable(&self, now: Timestamp) -> bool {
        match self.state {
            RunState::Queued => true,
            RunState::Running => self.lease.as_ref().is_none_or(|l| l.expires <= now),
            _ => false,
        }
    }

    /// The run enters stage 2 with its comparisons split into `chunks` chunks; no single
    /// worker holds it while they are computed.
    pub fn start_comparing(&mut self, now: Timestamp, total: u64, chunks: u32) {
        self.state = RunState::Running;
        self.stage = 2;
        self.comparisons_done = 0;
        self.total_comparisons = total;
        self.time_started = Some(now);
        self.lease = None;
        self.chunks = Some(chunks);
    }

    /// `holder` takes the run to merge its chunks' candidates and solve them.
    pub fn start_solving(
        &mut self,
        holder: &str,
        now: Timestamp,
        lease_micros: i64,
        result_type: ResultType,
        candidates: u64,
    ) {
        self.stage = Run::stages(result_type);
        self.comparisons_done = self.total_comparisons;
        self.candidates = Some(candidates);
        self.lease = Some(Lease {
            holder: holder.to_string(),
            expires: now.plus_micros(lease_micros),
        });
        self.attempts += 1;
    }

    /// Whether `holder` still holds the run.
    pub fn held_by(&self, holder: &str) -> bool {
        self.state == RunState::Running && self.lease.as_ref().is_some_and(|l| l.holder == holder)
    }

    /// The solver's lease lasts until `expires`.
    pub fn renew(&mut self, expires: Timestamp) {
        if let Some(lease) = self.lease.as_mut() {
            lease.expires = expires;
        }
    }

    /// Nobody holds the run any more (its solver gave it back, or a restart released it);
    /// returns whether somebody did.
    pub fn release(&mut self) -> bool {
        self.lease.take().is_some()
    }

    /// Records the comparisons made so far, summed over its chunks, for the status view.
    pub fn show_progress(&mut self, comparisons_done: u64) {
        self.comparisons_done = comparisons_done;
    }

    /// Completes the run.
    pub fn complete(&mut self, now: Timestamp, result_type: ResultType) {
        self.state = RunState::Completed;
        self.stage = Run::stages(result_type);
        self.comparisons_done = self.total_comparisons;
        self.time_completed = Some(now);
        self.lease = None;
    }

    /// Fails the run with a message for the status.
    pub fn fail(&mut self, now: Timestamp, message: impl Into<String>) {
        self.state = RunState::Error;
        self.time_completed = Some(now);
        self.message = Some(message.into());
        self.lease = None;
    }

    /// The view clients poll (§3.12), given its project.
    pub fn status(&self, project: &Project) -> RunStatus {
        let in_error = project.in_error() || self.state == RunState::Error;
        let state = if in_error {
            RunState::Error
        } else {
            self.state
        };
        let stages = Run::stages(project.result_type());
        let stage = match state {
            RunState::Created | RunState::Queued => 1,
            _ => self.stage.max(1),
        };
        let progress = match stage {
            1 => Some(Progress {
                description: "number of parties already contributed",
                absolute: project.parties_contributed() as u64,
                relative: project.parties_contributed() as f64
                    / project.number_parties().max(1) as f64,
            }),
            2 if self.time_started.is_some() => Some(Progress {
                description: "number of already computed similarity scores",
                absolute: self.comparisons_done,
                relative: if self.total_comparisons == 0 {
                    if state == RunState::Completed {
                        1.0
                    } else {
                        0.0
                    }
                } else {
                    (self.comparisons_done as f64 / self.total_comparisons as f64).min(1.0)
                },
            }),
            _ => None,
        };
        let message = if state == RunState::Error {
            Some(
                self.message
                    .clone()
                    .or_else(|| project.error_message().map(str::to_string))
                    .unwrap_or_else(|| "Run failed with an internal server error.".to_string()),
            )
        } else {
            None
        };
        RunStatus {
            state,
            stages,
            stage,
            stage_description: match stage {
                1 => "waiting for CLKs",
                2 => "compute similarity scores",
                3 => "compute output",
                _ => "there is no description for this stage",
            },
            progress,
            time_added: self.time_added,
            time_started: self.time_started,
            time_completed: self.time_completed,
            message,
            total_number_comparisons: (state == RunState::Completed)
                .then_some(self.total_comparisons),
        }
    }
}

/// Progress within a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// What is counted.
    pub description: &'static str,
    /// How many so far.
    pub absolute: u64,
    /// Share of the total, in [0, 1].
    pub relative: f64,
}

/// What `GET .../status` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStatus {
    /// State, `error` whenever the project is in error.
    pub state: RunState,
    /// Number of stages.
    pub stages: u8,
    /// Current stage.
    pub stage: u8,
    /// Its description.
    pub stage_description: &'static str,
    /// Progress, where the stage has one.
    pub progress: Option<Progress>,
    /// When the run was posted.
    pub time_added: Timestamp,
    /// When it started.
    pub time_started: Option<Timestamp>,
    /// When it completed.
    pub time_completed: Option<Timestamp>,
    /// Why it failed.
    pub message: Option<String>,
    /// Comparisons made, once completed.
    pub total_number_comparisons: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::SizeLimits;
    use crate::service::project::{NewProject, UploadState};

    #[test]
    fn lifecycle_and_status() {
        let now = Timestamp(1_000_000);
        let (mut project, _) = Project::create(NewProject::new(ResultType::Mapping, 2), now);
        let threshold = Threshold::new(0.8).unwrap();
        let mut run = Run::create(&project, threshold, String::new(), String::new(), now);
        assert_eq!(run.state(), RunState::Created);
        let s = run.status(&project);
        assert_eq!((s.stage, s.stages), (1, 3));
        assert_eq!(s.progress.unwrap().absolute, 0);

        let ready = UploadState::Ready {
            count: 10,
            bytes_per_record: 8,
            blob: "b".into(),
            blocks_blob: None,
        };
        project.accept_upload(0, ready.clone(), &SizeLimits::default());
        project.accept_upload(1, ready, &SizeLimits::default());
        assert!(run.queue() && !run.queue(), "queued once");
        assert!(run.is_claimable(now));
        run.start_comparing(now, 100, 4);
        assert!(
            run.is_claimable(now),
            "no one holds a run while its chunks compute"
        );
        run.show_progress(50);
        let s = run.status(&project);
        assert_eq!(s.stage, 2);
        assert_eq!(s.progress.unwrap().relative, 0.5);
        run.start_solving("w1", now, 1_000_000, project.result_type(), 7);
        assert!(!run.is_claimable(now));
        assert!(run.is_claimable(now.plus_micros(2_000_000)));
        assert!(run.held_by("w1"));
        let s = run.status(&project);
        assert_eq!((s.stage, run.candidates(), run.attempts()), (3, Some(7), 1));
        run.complete(now, project.result_type());
        let s = run.status(&project);
        assert_eq!(
            (s.state, s.stage, s.total_number_comparisons),
            (RunState::Completed, 3, Some(100))
        );
        assert!(s.progress.is_none());

        let (mut broken, _) = Project::create(NewProject::new(ResultType::Mapping, 2), now);
        let bad = UploadState::Error {
            message: "bad".into(),
        };
        broken.accept_upload(0, bad, &SizeLimits::default());
        let s = run.status(&broken);
        assert_eq!(s.state, RunState::Error);
        assert_eq!(s.message.as_deref(), Some("bad"));
    }
}
