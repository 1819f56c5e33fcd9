//! Run workers: tokio tasks that claim work from the queue and run it on blocking threads
//! with the core's [`Worker`] (which holds the work protocol: load rows, compare, record;
//! merge, solve, store; settle failures). Here: the loop, the solver's heartbeat, waking
//! and stopping, and the logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anonlink_core::service::queue::{Claim, Queue, Work};
use anonlink_core::service::store::MetadataStore;
use anonlink_core::service::work::{Settled, Worker};
use tokio::task::JoinHandle;

use crate::AppState;

/// How long an idle worker waits before looking at the queue again (unless woken).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Starts the configured number of workers.
pub(crate) fn spawn(state: AppState) -> Vec<JoinHandle<()>> {
    let prefix = format!(
        "{}-{}",
        std::process::id(),
        &anonlink_core::service::token::generate()[..8]
    );
    (0..state.config().workers.max(1))
        .map(|i| tokio::spawn(work(state.clone(), format!("{prefix}-{i}"))))
        .collect()
}

/// Stops the workers: they claim nothing more, interrupt what they compute and give it back
/// to the queue; waits for them (at most a lease's length).
pub(crate) async fn stop(state: &AppState, workers: Vec<JoinHandle<()>>) {
    state.inner.worker.stop();
    state.inner.wake.notify_waiters();
    let patience = Duration::from_secs(state.config().lease_seconds.max(1));
    for w in workers {
        if tokio::time::timeout(patience, w).await.is_err() {
            tracing::warn!("a worker did not stop in time; its lease will lapse");
        }
    }
}

async fn work(state: AppState, holder: String) {
    let worker = state.inner.worker.clone();
    while !worker.is_stopping() {
        let (w, who) = (worker.clone(), holder.clone());
        let claimed = tokio::task::spawn_blocking(move || w.queue().claim_work(&who)).await;
        match claimed {
            Ok(Ok(Some(work))) => {
                // There may be more where this came from: let idle workers look too.
                state.inner.wake.notify_waiters();
                let (w, who) = (worker.clone(), holder.clone());
                let meta = state.inner.meta.clone();
                match tokio::task::spawn_blocking(move || execute(&w, meta, work, &who)).await {
                    Ok(After::Next) => {}
                    // The run can be solved now: by whichever worker is idle.
                    Ok(After::Wake) => state.inner.wake.notify_waiters(),
                    Ok(After::Pause(backoff)) => tokio::time::sleep(backoff).await,
                    Err(e) => tracing::error!(error = %e, "work task failed"),
                }
            }
            Ok(Ok(None)) => {
                tokio::select! {
                    _ = state.inner.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "claiming work failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "claim task failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if worker.is_stopping() {
            break;
        }
    }
}

/// What a worker does after a piece of work.
enum After {
    /// Claims the next.
    Next,
    /// Wakes the other workers, then claims the next.
    Wake,
    /// Pauses this long first: a failure may recover meanwhile.
    Pause(Duration),
}

/// The trace a run's work belongs to, whichever worker or process does it: a remote parent
/// whose trace id is the first 16 bytes of the SHA-256 of the run id, so that an exporter
/// (`anonlink serve` with `OTEL_*` set) shows a run's floor, chunks and solve as one trace.
/// Without an exporter the context is never read.
fn run_trace(run_id: &str) -> opentelemetry::ContextGuard {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(run_id.as_bytes());
    let mut trace = [0u8; 16];
    trace.copy_from_slice(&digest[..16]);
    let mut span = [0u8; 8];
    span.copy_from_slice(&digest[16..24]);
    let parent = SpanContext::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new()
        .with_remote_span_context(parent)
        .attach()
}

/// Runs one piece of work and logs how it ended.
fn execute(worker: &Worker, meta: Arc<dyn MetadataStore>, work: Work, holder: &str) -> After {
    let started = Instant::now();
    let _trace = run_trace(work.run().id());
    let mut comparisons = 0;
    let kind = match &work {
        Work::Compare { .. } => "compare",
        Work::Prepare { .. } => "prepare",
        Work::Solve { .. } => "solve",
    };
    let (run, settled, chunk) = match work {
        Work::Compare {
            run,
            project,
            chunk,
        } => {
            comparisons = chunk.work().comparisons();
            let outcome = worker.compare(&run, &project, &chunk, holder).map(Some);
            let claim = Claim::Chunk {
                index: chunk.index(),
                holder,
            };
            let settled = worker.settle(&run, &project, claim, chunk.attempts(), outcome);
            (run, settled, Some(chunk.index()))
        }
        Work::Prepare { run, project } => {
            tracing::info!(run = %run.id(), "preparing");
            // The estimate (and an auto run's floor) can take longer than a lease.
            let heartbeat = Heartbeat::start(meta, worker, run.id(), holder);
            let prepared = worker.prepare(&run, &project, holder);
            drop(heartbeat);
            match prepared {
                Ok(()) => {
                    crate::metrics::METRICS
                        .work
                        .with_label_values(&[kind, "done"])
                        .inc();
                    return After::Wake;
                }
                Err(failure) => {
                    let settled = worker.settle(
                        &run,
                        &project,
                        Claim::Solve { holder },
                        run.attempts(),
                        Err(failure),
                    );
                    (run, settled, None)
                }
            }
        }
        Work::Solve {
            run,
            project,
            chunks,
        } => {
            tracing::info!(run = %run.id(), chunks = chunks.len(), "solving");
            let heartbeat = Heartbeat::start(meta, worker, run.id(), holder);
            let outcome = worker
                .solve(&run, &project, &chunks, holder, &heartbeat.lost)
                .map(|()| None);
            drop(heartbeat);
            let settled = worker.settle(
                &run,
                &project,
                Claim::Solve { holder },
                run.attempts(),
                outcome,
            );
            (run, settled, None)
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    record(&settled, kind, seconds, comparisons);
    match settled {
        Settled::ChunkDone { run_ready } => {
            let of = run.chunks().unwrap_or(0);
            tracing::info!(run = %run.id(), chunk = chunk.unwrap_or(0), of, seconds, "chunk done");
            if run_ready {
                return After::Wake;
            }
        }
        Settled::Completed => tracing::info!(run = %run.id(), seconds, "run completed"),
        Settled::Abandoned => tracing::info!(run = %run.id(), "work abandoned"),
        Settled::GivenBack => tracing::info!(run = %run.id(), "work given back at shutdown"),
        Settled::Retrying {
            attempts,
            message,
            backoff,
        } => {
            tracing::warn!(run = %run.id(), attempts, %message, "giving the work back to retry");
            return After::Pause(backoff);
        }
        Settled::Failed { message } => tracing::warn!(run = %run.id(), %message, "run failed"),
        Settled::Unsettled { error } => {
            tracing::error!(run = %run.id(), %error, "recording the outcome failed; the lease will lapse");
        }
    }
    After::Next
}

/// Renews the solver's lease in the background until dropped; `lost` turns true when the
/// run is no longer ours.
struct Heartbeat {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    lost: Arc<AtomicBool>,
}

impl Heartbeat {
    fn start(
        meta: Arc<dyn MetadataStore>,
        worker: &Worker,
        run_id: &str,
        holder: &str,
    ) -> Heartbeat {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        let config = worker.config().queue;
        let (run_id, holder) = (run_id.to_string(), holder.to_string());
        // A third of the lease, so two renewals can fail before it lapses.
        let every = Duration::from_micros((config.lease_micros / 3).max(100_000) as u64);
        let flag = lost.clone();
        let thread = std::thread::spawn(move || {
            let queue = Queue::new(meta.as_ref(), config);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every)
            {
                match queue.renew_run(&run_id, &holder) {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "renewing the solver's lease failed"),
                }
            }
        });
        Heartbeat {
            stop: Some(stop),
            thread: Some(thread),
            lost,
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The metrics of a settled piece of work of `kind` that took `seconds`.
fn record(settled: &Settled, kind: &str, seconds: f64, comparisons: u64) {
    let m = &*crate::metrics::METRICS;
    let outcome = match settled {
        Settled::ChunkDone { .. } => {
            m.chunk_seconds.observe(seconds);
            m.comparisons.inc_by(comparisons);
            "done"
        }
        Settled::Completed => {
            m.solve_seconds.observe(seconds);
            "done"
        }
        Settled::Abandoned => "abandoned",
        Settled::GivenBack => "given_back",
        Settled::Retrying { .. } => "retrying",
        Settled::Failed { .. } => "failed",
        Settled::Unsettled { .. } => {
            m.store_errors.inc();
            "unsettled"
        }
    };
    m.work.with_label_values(&[kind, outcome]).inc();
}
