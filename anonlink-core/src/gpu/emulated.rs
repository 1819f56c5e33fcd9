//! A CPU device that emits exactly what the GPU kernel ([`super::KERNEL_SOURCE`]) emits:
//! the same count, the same pre-test, the same overflow rule. It runs the host side of the
//! backend everywhere, in tests and on machines without a GPU.

use super::{Device, Emitted, Ran, TileJob};
use crate::error::Result;
use crate::similarity::PreTest;

/// The kernel's semantics on the CPU (scalar: a reference, not a fast path).
#[derive(Debug, Clone, Copy, Default)]
pub struct Emulated;

impl Device for Emulated {
    fn name(&self) -> String {
        "emulated".into()
    }

    fn run(&self, job: &TileJob<'_>, out: &mut Vec<Emitted>) -> Result<Ran> {
        let words = job.words.max(1);
        let mut emitted = 0u64;
        for (i, x) in job.a.chunks_exact(words).enumerate() {
            for (j, y) in job.b.chunks_exact(words).enumerate() {
                let count: u32 = x.iter().zip(y).map(|(p, q)| (p & q).count_ones()).sum();
                if PreTest::passes(u64::from(count), job.offset_a[i], job.offset_b[j]) {
                    if (emitted as usize) < job.capacity {
                        out.push(Emitted {
                            a: i as u32,
                            b: j as u32,
                            count,
                        });
                    }
                    emitted += 1;
                }
            }
        }
        Ok(if emitted as usize > job.capacity {
            Ran::Overflow { emitted }
        } else {
            Ran::Complete
        })
    }
}
