//! Python bindings of anonlink-core: the native module `anonlink_rs._native`.
//!
//! Each function converts its arguments, runs one core call with the GIL released, and
//! converts the result; linkage logic stays in the core.
#![forbid(unsafe_code)]

use anonlink_core::candidates::{self, CandidatePair, Config};
use anonlink_core::encoding::{Clks, SizeLimits};
use anonlink_core::similarity::dice_bytes;
use anonlink_core::solve;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

create_exception!(
    _native,
    AnonlinkError,
    PyValueError,
    "An input the linkage engine rejected; the message says which record and why."
);

fn to_py(err: anonlink_core::Error) -> PyErr {
    AnonlinkError::new_err(err.to_string())
}

fn to_clks(records: Vec<Vec<u8>>) -> PyResult<Clks> {
    Clks::from_records(records, &SizeLimits::any()).map_err(to_py)
}

/// Sørensen–Dice coefficient of two encodings of equal length.
#[pyfunction]
fn dice_coefficient(a: &[u8], b: &[u8]) -> PyResult<f64> {
    if a.len() != b.len() {
        return Err(AnonlinkError::new_err(format!(
            "encodings differ in size: {} and {} bytes",
            a.len(),
            b.len()
        )));
    }
    Ok(dice_bytes(a, b))
}

type CandidateArrays = (Vec<f64>, (Vec<u32>, Vec<u32>), (Vec<u32>, Vec<u32>));

/// Candidate pairs of `datasets` (lists of bytes) at `threshold`, as anonlink's
/// `(sims, (dset_is0, dset_is1), (rec_is0, rec_is1))`.
#[pyfunction]
#[pyo3(signature = (datasets, threshold, k=None))]
fn find_candidate_pairs(
    py: Python<'_>,
    datasets: Vec<Vec<Vec<u8>>>,
    threshold: f64,
    k: Option<usize>,
) -> PyResult<CandidateArrays> {
    let clks: Vec<Clks> = datasets.into_iter().map(to_clks).collect::<PyResult<_>>()?;
    let pairs = py
        .detach(|| {
            let refs: Vec<&Clks> = clks.iter().collect();
            let mut config = Config::new(threshold);
            if let Some(k) = k {
                config = config.with_k(k);
            }
            candidates::find(&refs, &config)
        })
        .map_err(to_py)?;
    let mut out: CandidateArrays = Default::default();
    for p in pairs.iter() {
        out.0.push(p.score);
        out.1.0.push(p.dataset0);
        out.1.1.push(p.dataset1);
        out.2.0.push(p.row0);
        out.2.1.push(p.row1);
    }
    Ok(out)
}

/// anonlink's `greedy_solve`: groups of `(dataset_index, record_index)`.
#[pyfunction]
fn greedy_solve(py: Python<'_>, candidates: CandidateArrays) -> PyResult<Vec<Vec<(u32, u32)>>> {
    let (sims, (d0, d1), (r0, r1)) = candidates;
    let n = sims.len();
    if [d0.len(), d1.len(), r0.len(), r1.len()]
        .iter()
        .any(|&l| l != n)
    {
        return Err(AnonlinkError::new_err("inconsistent shape of index arrays"));
    }
    let pairs: Vec<CandidatePair> = (0..n)
        .map(|i| CandidatePair {
            score: sims[i],
            dataset0: d0[i],
            dataset1: d1[i],
            row0: r0[i],
            row1: r1[i],
        })
        .collect();
    let groups = py.detach(|| solve::greedy(&pairs));
    Ok(groups
        .iter()
        .map(|g| g.iter().map(|r| (r.dataset, r.row)).collect())
        .collect())
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("AnonlinkError", m.py().get_type::<AnonlinkError>())?;
    m.add_function(wrap_pyfunction!(dice_coefficient, m)?)?;
    m.add_function(wrap_pyfunction!(find_candidate_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(greedy_solve, m)?)?;
    Ok(())
}
