//! Python bindings of anonlink-core: the native module `anonlink_rs._native`.
//!
//! Each function converts its arguments, runs one core call with the GIL released (long
//! ones through `enter_core`, which also turns Ctrl-C into `KeyboardInterrupt`), and
//! converts the result. Candidate pairs cross the boundary as five byte strings (f64 scores
//! and u32 indices, native endianness) that the Python layer wraps in `array.array` without
//! another copy. The Python package `anonlink_rs` builds anonlink's API on these.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anonlink_core::candidates::{self, CandidatePair, Config, ProgressFn};
use anonlink_core::encoding::{self, Clks, SizeLimits};
use anonlink_core::{solve, stats};
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

create_exception!(
    _native,
    AnonlinkError,
    PyValueError,
    "An input the linkage engine rejected; the message says which record and why."
);

/// The one mapping from core errors to Python exceptions.
fn to_py(err: anonlink_core::Error) -> PyErr {
    match err {
        anonlink_core::Error::Cancelled => PyKeyboardInterrupt::new_err("interrupted"),
        anonlink_core::Error::File { ref cause, .. } if matches!(&**cause, anonlink_core::Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound) => {
            pyo3::exceptions::PyFileNotFoundError::new_err(err.to_string())
        }
        other => AnonlinkError::new_err(other.to_string()),
    }
}

/// Runs `f` without the GIL on a helper thread, polling for Ctrl-C meanwhile; an interrupt
/// cancels the core call (at its next progress report) and raises `KeyboardInterrupt`.
fn enter_core<T: Send>(
    py: Python<'_>,
    f: impl FnOnce(Arc<ProgressFn>) -> anonlink_core::Result<T> + Send,
) -> PyResult<T> {
    let cancel = Arc::new(AtomicBool::new(false));
    let progress: Arc<ProgressFn> = {
        let cancel = cancel.clone();
        Arc::new(move |_| !cancel.load(Ordering::Relaxed))
    };
    let (result, interrupted) = py.detach(|| {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| f(progress));
            let mut interrupted = None;
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(20));
                if interrupted.is_none()
                    && let Err(e) = Python::attach(|py| py.check_signals())
                {
                    interrupted = Some(e);
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            (worker.join(), interrupted)
        })
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    match result {
        Ok(r) => r.map_err(to_py),
        Err(_) => Err(AnonlinkError::new_err("the linkage engine panicked")),
    }
}

/// One record: bytes as they are; bitarray, numpy arrays and other buffers through their
/// `tobytes()`, or `bytes(obj)`. (The stable ABI for Python 3.9 has no buffer protocol, and
/// the records are copied into aligned storage anyway.)
fn with_record<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    let converted = if obj.hasattr("tobytes")? {
        obj.call_method0("tobytes")?
    } else if obj.is_instance_of::<pyo3::types::PyByteArray>() {
        obj.py().get_type::<PyBytes>().call1((obj,))?
    } else {
        return Err(AnonlinkError::new_err(format!(
            "records must be bytes, bytearray, bitarray or uint8 arrays, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )));
    };
    let bytes = converted
        .downcast::<PyBytes>()
        .map_err(|_| AnonlinkError::new_err("tobytes() did not return bytes"))?;
    Ok(f(bytes.as_bytes()))
}

fn record_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    with_record(obj, |b| b.to_vec())
}

/// `(rows, bytes per row)` of a 2-D array of single bytes (numpy `uint8`, N × bytes).
fn matrix_shape(obj: &Bound<'_, PyAny>) -> PyResult<Option<(usize, usize)>> {
    if !obj.hasattr("shape")? || !obj.hasattr("dtype")? || !obj.hasattr("tobytes")? {
        return Ok(None);
    }
    let shape: Vec<usize> = match obj.getattr("shape")?.extract() {
        Ok(s) => s,
        Err(_) => return Ok(None),
    };
    let itemsize: usize = obj.getattr("dtype")?.getattr("itemsize")?.extract()?;
    match shape.as_slice() {
        [rows, cols] if itemsize == 1 => Ok(Some((*rows, *cols))),
        [_, _] => Err(AnonlinkError::new_err(format!(
            "a 2-D array of encodings must have single-byte items (uint8), not {itemsize}-byte ones"
        ))),
        _ => Ok(None),
    }
}

/// A dataset from: a 2-D uint8 buffer (N × bytes), a file path (JSON, or `.<size>.bin`), or
/// a sequence of records.
fn to_clks(obj: &Bound<'_, PyAny>) -> PyResult<Clks> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        return read_path(&path);
    }
    if let Some((rows, cols)) = matrix_shape(obj)? {
        if rows == 0 {
            return Clks::with_record_size(cols.max(8)).map_err(to_py);
        }
        return with_record(obj, |bytes| Clks::from_concatenated(bytes, cols))?.map_err(to_py);
    }
    let mut builder = encoding::ClksBuilder::new(SizeLimits::any());
    for item in obj.try_iter()? {
        with_record(&item?, |bytes| builder.push(bytes))?.map_err(to_py)?;
    }
    match builder.finish() {
        Some(clks) => Ok(clks),
        // An empty dataset: any size will do, it is compared with nothing.
        None => Clks::with_record_size(8).map_err(to_py),
    }
}

fn read_path(path: &std::path::Path) -> PyResult<Clks> {
    encoding::read_path(path, None)
        .map(|file| file.clks)
        .map_err(to_py)
}

/// Datasets of equal record size; empty ones take the size of the others.
fn to_datasets(objs: &Bound<'_, PyAny>) -> PyResult<Vec<Clks>> {
    let mut sets = objs
        .try_iter()?
        .map(|o| to_clks(&o?))
        .collect::<PyResult<Vec<_>>>()?;
    if let Some(size) = sets
        .iter()
        .find(|c| !c.is_empty())
        .map(Clks::bytes_per_record)
    {
        for c in &mut sets {
            if c.is_empty() && c.bytes_per_record() != size {
                *c = Clks::with_record_size(size).map_err(to_py)?;
            }
        }
    }
    Ok(sets)
}

type PairBytes = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

fn pairs_to_bytes(pairs: &[CandidatePair]) -> PairBytes {
    let mut out: PairBytes = Default::default();
    for p in pairs {
        out.0.extend_from_slice(&p.score.to_ne_bytes());
        out.1.extend_from_slice(&p.dataset0.to_ne_bytes());
        out.2.extend_from_slice(&p.dataset1.to_ne_bytes());
        out.3.extend_from_slice(&p.row0.to_ne_bytes());
        out.4.extend_from_slice(&p.row1.to_ne_bytes());
    }
    out
}

fn bytes_out<'py>(py: Python<'py>, b: PairBytes) -> Bound<'py, PyTuple> {
    PyTuple::new(
        py,
        [
            PyBytes::new(py, &b.0),
            PyBytes::new(py, &b.1),
            PyBytes::new(py, &b.2),
            PyBytes::new(py, &b.3),
            PyBytes::new(py, &b.4),
        ],
    )
    .expect("a tuple of five")
}

/// Candidate pairs as the five columns Python hands over: scores, the two dataset indices
/// and the two record indices.
#[derive(FromPyObject)]
struct PairColumns(Vec<f64>, Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>);

impl PairColumns {
    /// The pairs, once the columns are checked to be of one length.
    fn into_pairs(self) -> PyResult<Vec<CandidatePair>> {
        let PairColumns(sims, d0, d1, r0, r1) = self;
        let n = sims.len();
        if [d0.len(), d1.len(), r0.len(), r1.len()]
            .iter()
            .any(|&l| l != n)
        {
            return Err(AnonlinkError::new_err("inconsistent shape of index arrays"));
        }
        Ok((0..n)
            .map(|i| CandidatePair {
                score: sims[i],
                dataset0: d0[i],
                dataset1: d1[i],
                row0: r0[i],
                row1: r1[i],
            })
            .collect())
    }
}

/// Sørensen–Dice coefficient of two records of equal length.
#[pyfunction]
fn dice(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<f64> {
    let (a, b) = (record_bytes(a)?, record_bytes(b)?);
    if a.len() != b.len() {
        return Err(AnonlinkError::new_err(format!(
            "records differ in size: {} and {} bytes",
            a.len(),
            b.len()
        )));
    }
    Ok(anonlink_core::similarity::dice_bytes(&a, &b))
}

/// Candidate pairs of `datasets` at `threshold`.
///
/// `k_mode` is `"merged"` (the reference's `find_candidate_pairs`) or `"row"` (its
/// similarity functions). `blocks[d][row]` lists block ids as integers.
#[pyfunction]
#[pyo3(signature = (datasets, threshold, k=None, k_mode="merged", blocks=None))]
fn find_candidates<'py>(
    py: Python<'py>,
    datasets: &Bound<'py, PyAny>,
    threshold: f64,
    k: Option<usize>,
    k_mode: &str,
    blocks: Option<Vec<Vec<Vec<u64>>>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let sets = to_datasets(datasets)?;
    let mut config = Config::new(threshold);
    match (k, k_mode) {
        (Some(k), "row") => config = config.with_k_per_row(k),
        (Some(k), _) => config = config.with_k(k),
        (None, _) => {}
    }
    let pairs = enter_core(py, |progress| {
        let refs: Vec<&Clks> = sets.iter().collect();
        let config = config.with_progress(progress);
        match &blocks {
            Some(b) => candidates::find_blocked(&refs, b, &config),
            None => candidates::find(&refs, &config),
        }
    })?;
    Ok(bytes_out(
        py,
        py.detach(|| pairs_to_bytes(pairs.as_slice())),
    ))
}

/// Candidate pairs of one chunk (anonlink's `process_chunk` with a Dice function):
/// `datasets` are the chunk's two record ranges, `blocks` their block lists; the pairs carry
/// the chunk's dataset indices and whole-dataset rows.
#[pyfunction]
#[pyo3(signature = (dataset_indices, ranges, datasets, threshold, k=None, blocks=None))]
fn find_chunk_candidates<'py>(
    py: Python<'py>,
    dataset_indices: (u32, u32),
    ranges: ((u64, u64), (u64, u64)),
    datasets: &Bound<'py, PyAny>,
    threshold: f64,
    k: Option<usize>,
    blocks: Option<Vec<Vec<Vec<u64>>>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let sets = to_datasets(datasets)?;
    let [a, b] = sets.as_slice() else {
        return Err(AnonlinkError::new_err(format!(
            "a chunk has 2 datasets, got {}",
            sets.len()
        )));
    };
    let block_refs = match &blocks {
        Some(lists) => match lists.as_slice() {
            [b0, b1] => Some([&b0[..], &b1[..]]),
            other => {
                return Err(AnonlinkError::new_err(format!(
                    "a chunk has 2 block lists, got {}",
                    other.len()
                )));
            }
        },
        None => None,
    };
    let chunk = candidates::Chunk {
        datasets: [dataset_indices.0, dataset_indices.1],
        ranges: [[ranges.0.0, ranges.0.1], [ranges.1.0, ranges.1.1]],
    };
    let mut config = Config::new(threshold);
    if let Some(k) = k {
        config = config.with_k(k);
    }
    let pairs = enter_core(py, |progress| {
        let config = config.with_progress(progress);
        candidates::find_chunk(&chunk, [a, b], block_refs, &config)
    })?;
    Ok(bytes_out(
        py,
        py.detach(|| pairs_to_bytes(pairs.as_slice())),
    ))
}

/// Sorts, deduplicates and (with `k`) limits candidate pairs found separately.
#[pyfunction]
#[pyo3(signature = (pairs, k=None))]
fn merge_candidates<'py>(
    py: Python<'py>,
    pairs: PairColumns,
    k: Option<usize>,
) -> PyResult<Bound<'py, PyTuple>> {
    let pairs = pairs.into_pairs()?;
    let merged = py.detach(|| candidates::merge(pairs, k)).map_err(to_py)?;
    Ok(bytes_out(py, pairs_to_bytes(merged.as_slice())))
}

/// The solvers: groups of `(dataset, row)`, in canonical order.
#[pyfunction]
#[pyo3(signature = (pairs, merge_threshold=1.0, deduplicated=false))]
fn solve_groups(
    py: Python<'_>,
    pairs: PairColumns,
    merge_threshold: f64,
    deduplicated: bool,
) -> PyResult<Vec<Vec<(u32, u32)>>> {
    let pairs = pairs.into_pairs()?;
    let groups = py
        .detach(|| solve::probabilistic(&pairs, merge_threshold, deduplicated))
        .map_err(to_py)?;
    Ok(groups
        .iter()
        .map(|g| g.iter().map(|r| (r.dataset, r.row)).collect())
        .collect())
}

/// The Bayes solver over `pairs` (best first, found at `floor`) of datasets of `sizes`
/// records: fits the score model to them and keeps its probable links.
#[pyfunction]
fn bayes_solve(
    py: Python<'_>,
    pairs: PairColumns,
    sizes: Vec<usize>,
    floor: f64,
) -> PyResult<GroupList> {
    let pairs = candidates::CandidatePairs::from_sorted(pairs.into_pairs()?).map_err(to_py)?;
    let groups = py
        .detach(|| {
            anonlink_core::model::ScoreModel::fit(&pairs, &sizes, floor)
                .map(|model| solve::bayes(&model.scored_links(), floor))
        })
        .map_err(to_py)?;
    Ok(groups_out(&groups))
}

/// The score model of `datasets` (candidates above a floor chosen from the data) as the
/// JSON of its report.
#[pyfunction]
fn estimate(py: Python<'_>, datasets: &Bound<'_, PyAny>) -> PyResult<String> {
    let sets = to_datasets(datasets)?;
    let report = enter_core(py, |progress| {
        let refs: Vec<&Clks> = sets.iter().collect();
        let config = Config::new(0.0).with_progress(progress);
        anonlink_core::model::estimate(&refs, &config, None)
            .map(|(model, pairs)| model.report(pairs.len() as u64))
    })?;
    serde_json::to_string(&report).map_err(|e| AnonlinkError::new_err(e.to_string()))
}

/// Groups of `datasets` with the threshold (and, without `solver`, the solver) chosen from
/// the data: the groups, and the JSON of what was chosen and expected.
#[pyfunction]
#[pyo3(signature = (datasets, solver=None, merge_threshold=0.5))]
fn link_auto(
    py: Python<'_>,
    datasets: &Bound<'_, PyAny>,
    solver: Option<&str>,
    merge_threshold: f64,
) -> PyResult<(GroupList, String)> {
    use anonlink_core::linkage::{self, LinkSpec, Linkage, ResultType, Solver};
    let solver = match solver {
        None => None,
        Some("greedy") => Some(Solver::Greedy),
        Some("probabilistic") => Some(Solver::Probabilistic {
            merge_threshold,
            deduplicated: true,
        }),
        Some("bayes") => Some(Solver::Bayes),
        Some(other) => {
            return Err(AnonlinkError::new_err(format!(
                "unknown solver {other:?} (expected greedy, probabilistic or bayes)"
            )));
        }
    };
    let sets = to_datasets(datasets)?;
    let (result, choice) = enter_core(py, |progress| {
        let refs: Vec<&Clks> = sets.iter().collect();
        let mut spec = LinkSpec::new(ResultType::Groups, 0.0);
        spec.candidates = spec.candidates.with_progress(progress);
        linkage::link_auto(&refs, &spec, solver).map(|(result, choice, _)| (result, choice))
    })?;
    let Linkage::Groups(groups) = result else {
        return Err(AnonlinkError::new_err("auto linkage did not give groups"));
    };
    let choice =
        serde_json::to_string(&choice).map_err(|e| AnonlinkError::new_err(e.to_string()))?;
    Ok((groups_out(&groups), choice))
}

/// Groups as lists of `(dataset, row)`.
type GroupList = Vec<Vec<(u32, u32)>>;

fn groups_out(groups: &solve::Groups) -> GroupList {
    groups
        .iter()
        .map(|g| g.iter().map(|r| (r.dataset, r.row)).collect())
        .collect()
}

/// Candidate pairs as a candidate file (anonlink's serialization format).
#[pyfunction]
fn dump_candidates<'py>(py: Python<'py>, pairs: PairColumns) -> PyResult<Bound<'py, PyBytes>> {
    let pairs = pairs.into_pairs()?;
    let mut out = Vec::with_capacity(4 + 24 * pairs.len());
    candidates::write_file(&pairs, &mut out).map_err(to_py)?;
    Ok(PyBytes::new(py, &out))
}

/// The pairs of a candidate file.
#[pyfunction]
fn load_candidates<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    let pairs = py.detach(|| candidates::read_file(data)).map_err(to_py)?;
    Ok(bytes_out(py, pairs_to_bytes(&pairs)))
}

/// Candidate files merged in canonical order.
#[pyfunction]
fn merge_candidate_files<'py>(
    py: Python<'py>,
    files: Vec<Vec<u8>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    py.detach(|| candidates::merge_files(files.iter().map(|f| &f[..]).collect(), &mut out))
        .map_err(to_py)?;
    Ok(PyBytes::new(py, &out))
}

/// The reference's `split_to_chunks`: `[(dataset, start, end), (dataset, start, end)]` each.
#[pyfunction]
fn split_to_chunks(chunk_size_aim: f64, dataset_sizes: Vec<u64>) -> Vec<[(u32, u64, u64); 2]> {
    candidates::split_to_chunks(chunk_size_aim, &dataset_sizes)
        .into_iter()
        .map(|c| {
            [
                (c.datasets[0], c.ranges[0][0], c.ranges[0][1]),
                (c.datasets[1], c.ranges[1][0], c.ranges[1][1]),
            ]
        })
        .collect()
}

/// Possible-match flags of two-party candidates (the 2-party greedy walk).
#[pyfunction]
fn possible_matches(pairs: PairColumns) -> PyResult<Vec<bool>> {
    let pairs = pairs.into_pairs()?;
    stats::possible_matches(&pairs).map_err(to_py)
}

/// Matches and non-matches per threshold bin (the reference's semi-open histogram).
#[pyfunction]
fn semiopen_histogram(pairs: PairColumns, thresholds: Vec<f64>) -> PyResult<(Vec<u64>, Vec<u64>)> {
    let pairs = pairs.into_pairs()?;
    stats::semiopen_histogram(&pairs, &thresholds).map_err(to_py)
}

/// Number of records and bytes per record of a dataset, after conversion (for checks).
#[pyfunction]
fn dataset_shape(dataset: &Bound<'_, PyAny>) -> PyResult<(usize, usize)> {
    let clks = to_clks(dataset)?;
    Ok((clks.len(), clks.bytes_per_record()))
}

fn encoder(schema_json: &str, secret: &str) -> PyResult<anonlink_core::clk::Encoder> {
    let schema = anonlink_core::clk::Schema::from_json(schema_json).map_err(to_py)?;
    anonlink_core::clk::Encoder::new(schema, secret).map_err(to_py)
}

/// CLKs of records (one string per schema feature each), concatenated; with the size of
/// each.
#[pyfunction]
#[pyo3(signature = (records, schema_json, secret, validate=true))]
fn encode_records<'py>(
    py: Python<'py>,
    records: Vec<Vec<String>>,
    schema_json: &str,
    secret: &str,
    validate: bool,
) -> PyResult<(Bound<'py, PyBytes>, usize)> {
    let encoder = encoder(schema_json, secret)?;
    let size = encoder.bytes_per_record();
    // The core encodes in batches and asks `progress` after each, so Ctrl-C stops it
    // within a batch.
    let out = enter_core(py, |progress| {
        anonlink_core::clk::encode_records(&encoder, &records, validate, &|n| progress(n))
    })?;
    Ok((PyBytes::new(py, &out), size))
}

/// CLKs of a CSV document (`header`: "check", "ignore" or "absent"), concatenated.
#[pyfunction]
#[pyo3(signature = (csv_data, schema_json, secret, header="check", validate=true))]
fn encode_csv<'py>(
    py: Python<'py>,
    csv_data: Vec<u8>,
    schema_json: &str,
    secret: &str,
    header: &str,
    validate: bool,
) -> PyResult<(Bound<'py, PyBytes>, usize)> {
    use anonlink_core::clk::Header;
    let header = match header {
        "check" => Header::Check,
        "ignore" => Header::Ignore,
        "absent" => Header::Absent,
        other => {
            return Err(AnonlinkError::new_err(format!(
                "header must be check, ignore or absent, not {other:?}"
            )));
        }
    };
    let encoder = encoder(schema_json, secret)?;
    let clks = enter_core(py, |_| {
        anonlink_core::clk::encode_csv(&encoder, &csv_data[..], header, validate, &|_| {})
    })?;
    let mut out = Vec::with_capacity(clks.len() * clks.bytes_per_record());
    anonlink_core::encoding::encode_binary(&clks, &mut out).map_err(to_py)?;
    Ok((PyBytes::new(py, &out), clks.bytes_per_record()))
}

/// blocklib's `generate_candidate_blocks`: the blocks as JSON
/// `{"blocks": [[id, [record, ...]], ...], "stats": {...}}` (a list keeps blocklib's order).
#[pyfunction]
#[pyo3(signature = (rows, schema_json, header=None))]
fn candidate_blocks(
    py: Python<'_>,
    rows: Vec<Vec<String>>,
    schema_json: &str,
    header: Option<Vec<String>>,
) -> PyResult<String> {
    use anonlink_core::blocking;
    let schema = blocking::BlockingSchema::from_json(schema_json).map_err(to_py)?;
    let result = enter_core(py, |_| {
        blocking::candidate_blocks(&schema, &rows, header.as_deref())
    })?;
    let blocks: Vec<(&str, &[blocking::RecordId])> = result
        .blocks
        .iter()
        .map(|b| (b.id.as_str(), b.records.as_slice()))
        .collect();
    serde_json::to_string(&serde_json::json!({"blocks": blocks, "stats": result.stats}))
        .map_err(|e| AnonlinkError::new_err(e.to_string()))
}

/// The names of the Dice kernels this CPU can run, the portable one first.
#[pyfunction]
fn kernels() -> Vec<&'static str> {
    anonlink_core::similarity::Kernel::available()
        .iter()
        .map(|k| k.name())
        .collect()
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("AnonlinkError", m.py().get_type::<AnonlinkError>())?;
    m.add_function(wrap_pyfunction!(dice, m)?)?;
    m.add_function(wrap_pyfunction!(find_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(merge_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(solve_groups, m)?)?;
    m.add_function(wrap_pyfunction!(bayes_solve, m)?)?;
    m.add_function(wrap_pyfunction!(estimate, m)?)?;
    m.add_function(wrap_pyfunction!(link_auto, m)?)?;
    m.add_function(wrap_pyfunction!(dump_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(load_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(merge_candidate_files, m)?)?;
    m.add_function(wrap_pyfunction!(split_to_chunks, m)?)?;
    m.add_function(wrap_pyfunction!(find_chunk_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(possible_matches, m)?)?;
    m.add_function(wrap_pyfunction!(semiopen_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(dataset_shape, m)?)?;
    m.add_function(wrap_pyfunction!(kernels, m)?)?;
    m.add_function(wrap_pyfunction!(candidate_blocks, m)?)?;
    m.add_function(wrap_pyfunction!(encode_records, m)?)?;
    m.add_function(wrap_pyfunction!(encode_csv, m)?)?;
    Ok(())
}
