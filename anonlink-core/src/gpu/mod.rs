//! A GPU similarity backend, and the host side of it that every build has.
//!
//! A device computes tiles of the comparison of two datasets: for every pair of a tile it
//! counts the bits the two records share and *emits* the pair (its two tile rows and the
//! count) when the count passes the same integer pre-test as the CPU kernels
//! ([`crate::similarity::PreTest`]), so the host never sees the pairs that cannot match.
//! The host checks each emitted pair exactly ([`crate::similarity::is_match`]), computes
//! its score from the integer count as the CPU does, and sorts the pairs into the
//! canonical order: the candidates are bit for bit the CPU's, whoever computed the tiles.
//!
//! What is here in every build: the tile plan ([`plan_tiles`]), the emission format and its
//! decoding ([`Emitted`], [`decode_emitted`]), the driver that runs tiles on a [`Device`],
//! splits those whose emissions overflow their buffer, and decodes ([`find_with`]), and
//! [`Emulated`], a CPU device that emits exactly what the GPU kernel emits, so all of it
//! is tested without a GPU. With the `gpu` feature, [`open`] loads the CUDA driver and
//! NVRTC at run time (no toolkit at build time) and compiles the kernel
//! ([`KERNEL_SOURCE`]); without a GPU it says so and the caller uses the CPU.
//! Top-k and blocking are the CPU's: [`find_with`] refuses top-k, and the shells route
//! blocked searches to the CPU. [`find_into`] and [`find_chunk_into`] put the pairs in
//! sorted runs, so a GPU search is as bounded in memory as a CPU one; [`Backend`] is the
//! choice between the two (`--device`, `ANONLINK_DEVICE`, `ANONLINK_KERNEL=gpu`).

mod emission;
mod emulated;
mod plan;

#[cfg(feature = "gpu")]
mod cuda;

pub use self::emission::{Emitted, decode_emitted};
pub use self::emulated::Emulated;
pub use self::plan::{Tile, TileLimits, plan_tiles};

use crate::candidates::{CandidatePair, CandidatePairs, Chunk, Config, SortedRuns};
use crate::encoding::Clks;
use crate::error::{Error, Result};
use crate::similarity::{PreTest, is_match, score};

/// The CUDA C source of the kernel (compiled at run time by NVRTC): one thread per pair of
/// a tile, `popc` over the records' 64-bit words, the integer pre-test, and an atomic slot
/// in the emission buffer (pairs past its capacity are counted, not written).
pub const KERNEL_SOURCE: &str = r#"
extern "C" __global__ void dice_tile(
    const unsigned long long* a, unsigned int rows_a,
    const unsigned long long* b, unsigned int rows_b,
    unsigned int words,
    const unsigned long long* offset_a, const unsigned long long* offset_b,
    unsigned int* hits, unsigned int capacity, unsigned long long* emitted)
{
    unsigned int i = blockIdx.y * blockDim.y + threadIdx.y;
    unsigned int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows_a || j >= rows_b) return;
    const unsigned long long* x = a + (unsigned long long)i * words;
    const unsigned long long* y = b + (unsigned long long)j * words;
    unsigned int count = 0;
    for (unsigned int w = 0; w < words; ++w) count += __popcll(x[w] & y[w]);
    if (((unsigned long long)count << 17) < offset_a[i] + offset_b[j]) return;
    unsigned long long slot = atomicAdd(emitted, 1ULL);
    if (slot < capacity) {
        hits[3 * slot] = i;
        hits[3 * slot + 1] = j;
        hits[3 * slot + 2] = count;
    }
}
"#;

/// One tile's work as a device receives it: the tile's records row after row (`words`
/// 64-bit words each), the pre-test offset of every row, and the emission capacity.
#[derive(Debug)]
pub struct TileJob<'a> {
    /// Rows of the tile's first dataset, `words` words each.
    pub a: &'a [u64],
    /// Rows of the tile's second dataset.
    pub b: &'a [u64],
    /// Words per record.
    pub words: usize,
    /// Pre-test offset of each row of `a` ([`PreTest::offset`]).
    pub offset_a: &'a [u64],
    /// Pre-test offset of each row of `b`.
    pub offset_b: &'a [u64],
    /// Emitted pairs the device may write.
    pub capacity: usize,
}

/// How a tile ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// Every emitted pair was written.
    Complete,
    /// More pairs passed the pre-test than the buffer holds (this many): split the tile.
    Overflow {
        /// Pairs that passed.
        emitted: u64,
    },
}

/// Something that computes tiles: a GPU, or [`Emulated`].
pub trait Device {
    /// A name for messages (`"cuda:0 NVIDIA H200"`, `"emulated"`).
    fn name(&self) -> String;

    /// Runs one tile, writing its emitted pairs (in any order) to `out`.
    ///
    /// # Errors
    /// The device failed ([`Error::Device`]).
    fn run(&self, job: &TileJob<'_>, out: &mut Vec<Emitted>) -> Result<Ran>;
}

/// Opens the first GPU (feature `gpu`): loads the CUDA driver and NVRTC, compiles the
/// kernel.
///
/// # Errors
/// [`Error::Device`] saying why there is no GPU to use (no driver, no device, the kernel
/// does not compile, or a build without the `gpu` feature); callers then use the CPU.
pub fn open() -> Result<Box<dyn Device + Send + Sync>> {
    #[cfg(feature = "gpu")]
    {
        cuda::CudaDevice::open().map(|d| Box::new(d) as Box<dyn Device + Send + Sync>)
    }
    #[cfg(not(feature = "gpu"))]
    {
        Err(Error::Device {
            reason: "this build has no GPU backend (build with the `gpu` feature)".into(),
        })
    }
}

/// The candidate search of [`crate::candidates::find`] with tiles computed by `device`:
/// the same pairs in the same canonical order.
///
/// # Errors
/// As [`crate::candidates::find`]; [`Error::Usage`] for top-k (the CPU's); the device's
/// errors.
pub fn find_with(
    device: &dyn Device,
    datasets: &[&Clks],
    config: &Config,
    limits: TileLimits,
) -> Result<CandidatePairs> {
    let mut pairs = Vec::new();
    search(device, datasets, config, limits, &mut |mut found| {
        pairs.append(&mut found);
        Ok(())
    })?;
    Ok(CandidatePairs::from_unsorted(pairs))
}

/// [`find_with`] in bounded memory: each tile's pairs go to `runs` (sorted runs on disk
/// beyond their budget), as [`crate::candidates::find_into`] does for the CPU; stream them
/// with [`SortedRuns::into_stream`].
///
/// # Errors
/// As [`find_with`]; [`Error::Spill`] when the pairs cannot be written to disk.
pub fn find_into(
    device: &dyn Device,
    datasets: &[&Clks],
    config: &Config,
    limits: TileLimits,
    mut runs: SortedRuns,
) -> Result<SortedRuns> {
    search(device, datasets, config, limits, &mut |mut found| {
        runs.push(&mut found)
    })?;
    Ok(runs)
}

/// [`crate::candidates::find_chunk_into`] on a device: a chunk of a run (no blocks: those
/// are compared on the CPU), its pairs in `runs` with the rows of `records` (map them with
/// [`Chunk::relabel`]).
///
/// # Errors
/// As [`find_into`], and [`Error::Chunk`] when `records` are not the chunk's rows.
pub fn find_chunk_into(
    device: &dyn Device,
    chunk: &Chunk,
    records: [&Clks; 2],
    config: &Config,
    limits: TileLimits,
    runs: SortedRuns,
) -> Result<SortedRuns> {
    crate::candidates::check_chunk(chunk, records)?;
    find_into(device, &records, config, limits, runs)
}

/// Runs every tile of the search on `device`, handing each tile's checked pairs to `sink`.
fn search(
    device: &dyn Device,
    datasets: &[&Clks],
    config: &Config,
    limits: TileLimits,
    sink: &mut dyn FnMut(Vec<CandidatePair>) -> Result<()>,
) -> Result<()> {
    if config.k().is_some() {
        return Err(Error::Usage {
            reason: "top-k runs on the CPU, not on a GPU".into(),
        });
    }
    crate::candidates::check_datasets(datasets)?;
    config.validate()?;
    let threshold = config.threshold();
    let pre = PreTest::new(threshold);
    let progress = config.progress();
    let mut emitted = Vec::new();
    for i in 0..datasets.len() {
        for j in i + 1..datasets.len() {
            let (a, b) = (datasets[i], datasets[j]);
            let words = a.words_per_record();
            let offsets = |c: &Clks| -> Vec<u64> {
                (0..c.len()).map(|r| pre.offset(c.popcount(r))).collect()
            };
            let (offset_a, offset_b) = (offsets(a), offsets(b));
            let mut todo = plan_tiles(a.len(), b.len(), words, &limits);
            while let Some(tile) = todo.pop() {
                let job = TileJob {
                    a: &a.words()[tile.a[0] * words..tile.a[1] * words],
                    b: &b.words()[tile.b[0] * words..tile.b[1] * words],
                    words,
                    offset_a: &offset_a[tile.a[0]..tile.a[1]],
                    offset_b: &offset_b[tile.b[0]..tile.b[1]],
                    capacity: tile.capacity,
                };
                emitted.clear();
                match device.run(&job, &mut emitted)? {
                    Ran::Overflow { emitted } => {
                        todo.extend(tile.split(emitted).ok_or_else(|| Error::Device {
                            reason: format!(
                                "one pair of records overflows an emission buffer of {}",
                                tile.capacity
                            ),
                        })?);
                        continue;
                    }
                    Ran::Complete => {}
                }
                let mut pairs = Vec::with_capacity(emitted.len());
                for e in &emitted {
                    let (row0, row1) = (tile.a[0] as u32 + e.a, tile.b[0] as u32 + e.b);
                    let (pa, pb) = (a.popcount(row0 as usize), b.popcount(row1 as usize));
                    // The device's pre-test lets through a superset: the exact check here.
                    if is_match(e.count, pa, pb, threshold) {
                        pairs.push(CandidatePair {
                            score: score(e.count, pa, pb),
                            dataset0: i as u32,
                            dataset1: j as u32,
                            row0,
                            row1,
                        });
                    }
                }
                sink(pairs)?;
                if let Some(p) = &progress
                    && !p(tile.comparisons())
                {
                    return Err(Error::Cancelled);
                }
            }
        }
    }
    Ok(())
}

/// Where comparisons run: the CPU's kernels, or a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The CPU's SIMD kernels ([`crate::similarity::Kernel`]).
    #[default]
    Cpu,
    /// A GPU, when one is present (else the CPU, with a warning).
    Gpu,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            other => Err(Error::Usage {
                reason: format!("device {other:?}: expected cpu or gpu"),
            }),
        }
    }
}

impl Backend {
    /// The backend `named` (`--device`, `ANONLINK_DEVICE`) says, else the GPU when
    /// `ANONLINK_KERNEL=gpu`, else the CPU.
    ///
    /// # Errors
    /// [`Error::Usage`] for a name other than `cpu` or `gpu`.
    pub fn choose(named: Option<&str>) -> Result<Backend> {
        match named {
            Some(name) => name.parse(),
            None if std::env::var("ANONLINK_KERNEL").ok().as_deref() == Some("gpu") => {
                Ok(Backend::Gpu)
            }
            None => Ok(Backend::Cpu),
        }
    }

    /// The device to compare on: `None` for the CPU, or when a GPU was asked for and none
    /// can be used (the reason is logged as a warning, and returned for the caller to show).
    pub fn open(self) -> (Option<SharedDevice>, Option<String>) {
        match self {
            Backend::Cpu => (None, None),
            Backend::Gpu => match open() {
                Ok(device) => {
                    tracing::info!(device = %device.name(), "comparing on the GPU");
                    (Some(SharedDevice::from(device)), None)
                }
                Err(e) => {
                    let why = format!("{e}; comparing on the CPU");
                    tracing::warn!("{why}");
                    (None, Some(why))
                }
            },
        }
    }
}

/// A device shared by the searches of a process.
pub type SharedDevice = std::sync::Arc<dyn Device + Send + Sync>;

impl std::fmt::Debug for dyn Device + Send + Sync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::find;
    use crate::synthetic::synthetic_datasets;

    #[test]
    fn the_emulated_device_gives_the_cpus_candidates_through_any_tiling() {
        let mut sets = synthetic_datasets(&[700, 500, 600], 0.5, 4);
        // Records with no bit set never match, on either side.
        sets[1] = {
            let mut bytes: Vec<u8> = (0..sets[1].len())
                .flat_map(|r| sets[1].record_bytes(r))
                .collect();
            bytes[..128].fill(0);
            Clks::from_concatenated(&bytes, 128).unwrap()
        };
        let refs: Vec<&Clks> = sets.iter().collect();
        for t in [0.6, 0.75, 0.9] {
            let expected = find(&refs, &Config::new(t)).unwrap();
            for limits in [
                TileLimits::default(),
                // Tiles of 50 rows, and buffers so small that busy tiles split.
                TileLimits {
                    record_bytes: 2 * 50 * 128,
                    max_rows: 50,
                    capacity: 16,
                },
                TileLimits {
                    record_bytes: 1 << 20,
                    max_rows: 333,
                    capacity: 1,
                },
            ] {
                let got = find_with(&Emulated, &refs, &Config::new(t), limits).unwrap();
                assert_eq!(got, expected, "t {t}, {limits:?}");
            }
        }
    }

    #[test]
    fn runs_and_chunks_on_a_device_are_the_cpus() {
        use crate::candidates::{MemoryBudget, find_chunk, split_to_chunks};
        let sets = synthetic_datasets(&[400, 300], 0.5, 9);
        let refs: Vec<&Clks> = sets.iter().collect();
        let limits = TileLimits {
            record_bytes: 2 * 64 * 128,
            max_rows: 64,
            capacity: 32,
        };
        for t in [0.6, 0.8] {
            let expected = find(&refs, &Config::new(t)).unwrap();
            // Runs of one pair, of a few, and all in memory: the same stream.
            for budget in [1, 200, 1 << 30] {
                let runs = find_into(
                    &Emulated,
                    &refs,
                    &Config::new(t),
                    limits,
                    SortedRuns::new(MemoryBudget::bytes(budget)),
                )
                .unwrap();
                let streamed: Vec<CandidatePair> =
                    runs.into_stream().unwrap().collect::<Result<_>>().unwrap();
                assert_eq!(
                    streamed.as_slice(),
                    expected.as_slice(),
                    "t {t}, budget {budget}"
                );
            }
            for chunk in split_to_chunks(30_000.0, &[400, 300]) {
                let rows = |d: usize, r: [u64; 2]| {
                    refs[d].select(&(r[0] as u32..r[1] as u32).collect::<Vec<_>>())
                };
                let (a, b) = (rows(0, chunk.ranges[0]), rows(1, chunk.ranges[1]));
                let cpu = find_chunk(&chunk, [&a, &b], None, &Config::new(t)).unwrap();
                let runs = find_chunk_into(
                    &Emulated,
                    &chunk,
                    [&a, &b],
                    &Config::new(t),
                    limits,
                    SortedRuns::new(MemoryBudget::bytes(100)),
                )
                .unwrap();
                let relabel = chunk.relabel();
                let got: Vec<CandidatePair> = runs
                    .into_stream()
                    .unwrap()
                    .map(|p| p.map(&relabel))
                    .collect::<Result<_>>()
                    .unwrap();
                assert_eq!(got.as_slice(), cpu.as_slice());
            }
        }
    }

    #[test]
    fn backends_by_name_and_the_cpu_without_a_gpu() {
        assert_eq!("cpu".parse::<Backend>().unwrap(), Backend::Cpu);
        assert_eq!("gpu".parse::<Backend>().unwrap(), Backend::Gpu);
        assert!("tpu".parse::<Backend>().is_err());
        assert!(Backend::Cpu.open().0.is_none());
        // No GPU here (or no `gpu` feature): the CPU, with the reason.
        if open().is_err() {
            let (device, why) = Backend::Gpu.open();
            assert!(device.is_none() && why.is_some_and(|w| w.contains("comparing on the CPU")));
        }
    }

    #[test]
    fn tiles_cover_every_pair_once_and_split_in_halves() {
        for (ra, rb, rows) in [
            (1000, 700, 300),
            (5, 1, 2),
            (1, 1, 1),
            (0, 10, 4),
            (64, 64, 64),
        ] {
            let limits = TileLimits {
                record_bytes: usize::MAX / 2,
                max_rows: rows,
                capacity: 8,
            };
            let tiles = plan_tiles(ra, rb, 16, &limits);
            let mut seen = vec![0u8; ra * rb];
            for t in &tiles {
                for a in t.a[0]..t.a[1] {
                    for b in t.b[0]..t.b[1] {
                        seen[a * rb + b] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{ra} × {rb} by {rows}");
        }
        let tile = Tile {
            a: [10, 20],
            b: [0, 4],
            capacity: 3,
        };
        let [x, y] = tile.split(40).unwrap();
        assert_eq!((x.a, y.a, x.b, y.b), ([10, 15], [15, 20], [0, 4], [0, 4]));
        assert_eq!((x.capacity, x.comparisons() + y.comparisons()), (40, 40));
        assert!(
            Tile {
                a: [3, 4],
                b: [7, 8],
                capacity: 0
            }
            .split(1)
            .is_none()
        );
    }

    #[test]
    fn top_k_and_a_missing_gpu_are_clear_errors() {
        let sets = synthetic_datasets(&[50, 50], 0.5, 1);
        let refs: Vec<&Clks> = sets.iter().collect();
        let err = find_with(
            &Emulated,
            &refs,
            &Config::new(0.8).with_k(2),
            TileLimits::default(),
        );
        assert!(matches!(err, Err(Error::Usage { .. })));
        #[cfg(not(feature = "gpu"))]
        assert!(matches!(open(), Err(Error::Device { .. })));
        // With the feature and no GPU here, opening says why instead of panicking.
        #[cfg(feature = "gpu")]
        if let Err(e) = open() {
            assert!(matches!(e, Error::Device { .. }), "{e}");
        }
    }
}
