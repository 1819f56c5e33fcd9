/*!
The linkage engine of anonlink-rs: privacy-preserving record linkage on CLKs (keyed Bloom
filter encodings of personal records).

# Brief overview

A linkage runs through four modules, in this order:

1. [`encoding`] — **decode** each party's upload into [`encoding::Clks`], a packed store of
   equal-size records: from base64 strings, the streamed JSON document `{"clks": [...]}`,
   or the binary format.
2. [`candidates`] — **compare** every record of one dataset with every record of the others
   by Sørensen–Dice similarity (SIMD kernels from [`similarity`], chosen at run time) and
   keep the [`candidates::CandidatePairs`] at or above a threshold, optionally top-k per
   record or only within blocks.
3. [`solve`] — **solve**: turn candidates into [`solve::Groups`] of records that refer to
   one entity (greedy 1-to-1 for two parties; greedy or probabilistic for many).
4. [`output`] — **output** the result types of the Entity Service: similarity scores,
   mapping, permutations with a mask, or groups.

[`linkage::link`] runs the whole pipeline for a result type; the shells (CLI, Entity
Service, Python wheel) call it rather than repeating the steps.

Every function is exact with respect to the reference implementation (anonlink 0.15):
scores are computed from integer counts, candidates come out in one canonical order, and
the solvers walk them as the reference does.

Beside the pipeline:

- [`clk`] — the **encoder** parties run locally: records (CSV) + a linkage schema + a
  secret → CLKs, bit for bit as clkhash 0.18.
- [`blocking`] — block ids parties compute from their PII before upload (blocklib's P-Sig
  and λ-fold, bit for bit), and the assessment of blocks against a truth.
- [`stats`] — score histograms and the reference's `possible_matches` statistics.
- [`synthetic`] — seeded datasets that look like real CLKs, and fake people with errors.
- [`gpu`] — tiles of the comparison on a GPU (feature `gpu`), the same candidates.

# The Entity Service

[`service`] holds the service's rules as state machines over storage traits, with no HTTP
in them (`es-http` is the shell that speaks the REST API):

- **Lifecycle.** A [`service::project::Project`] is created with its credentials (a result
  token, one update token per party; [`service::access::may`] is the permission matrix).
  Each party uploads once ([`service::upload::Uploads`]): refusals store nothing and leave
  the token usable, accepted uploads are durable before they are acknowledged. A
  [`service::run::Run`] goes `created → queued → running → completed | error`.
- **Storage traits.** [`service::store::MetadataStore`] runs closures as transactions over
  projects, tokens, runs and chunks; [`service::store::BlobStore`] keeps encodings,
  candidate files and results under the keys of [`service::keys`]. Backends pass the
  conformance suite (`service::conformance`, feature `testing`).
- **Queue.** [`service::queue::Queue`] splits a run into chunks that any number of workers
  claim under leases; [`service::work::Worker`] compares a chunk, or merges and solves a
  run whose chunks are done, and settles failures (retries, then a failed run).

# Example

```
use anonlink_core::{candidates, encoding, output, solve};

let doc_a = br#"{"clks": ["/////wAAAAA=", "AAAAAP////8="]}"#;
let doc_b = br#"{"clks": ["AAAAAP////4=", "/////wAAAAE=", "AQEBAQEBAQE="]}"#;
let a = encoding::decode_json_slice(doc_a, &encoding::SizeLimits::default())?; // decode
let b = encoding::decode_json_slice(doc_b, &encoding::SizeLimits::default())?;
let pairs = candidates::find(&[&a, &b], &candidates::Config::new(0.9))?;      // compare
let groups = solve::greedy(pairs.as_slice());                                  // solve
let mapping = output::mapping(&groups)?;                                       // output
assert_eq!(mapping.into_iter().collect::<Vec<_>>(), vec![(0, 1), (1, 0)]);
# Ok::<(), anonlink_core::Error>(())
```
*/
#![deny(missing_docs)]

pub mod blocking;
pub mod candidates;
pub mod clk;
pub mod encoding;
mod error;
pub mod gpu;
pub mod linkage;
pub mod model;
pub mod output;
mod pages;
pub mod service;
pub mod similarity;
pub mod solve;
pub mod stats;
pub mod synthetic;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
