//! The two pieces of CPython behaviour that blocklib's output depends on, reproduced
//! exactly: `random.seed(int)` + `random.sample(range(n), k)` (λ-fold picks its bit
//! positions with them) and the iteration order of a `set` of small integers (P-Sig's block
//! ids are `str(tuple(set_of_bit_positions))`, so the order is part of the id).

const N: usize = 624;
const M: usize = 397;

/// CPython's Mersenne Twister (`random.Random`), enough of it for `seed` and `sample`.
pub(crate) struct PyRandom {
    state: [u32; N],
    index: usize,
}

impl PyRandom {
    /// `random.seed(seed)` for an integer seed: the key is `abs(seed)` in 32-bit words,
    /// least significant first.
    pub(crate) fn seeded(seed: i64) -> Self {
        let mut magnitude = seed.unsigned_abs();
        let mut key = Vec::with_capacity(2);
        while magnitude > 0 {
            key.push(magnitude as u32);
            magnitude >>= 32;
        }
        if key.is_empty() {
            key.push(0);
        }
        let mut random = PyRandom {
            state: [0; N],
            index: N,
        };
        random.init_by_array(&key);
        random
    }

    fn init_genrand(&mut self, seed: u32) {
        self.state[0] = seed;
        for i in 1..N {
            let previous = self.state[i - 1];
            self.state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let previous = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (previous ^ (previous >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let previous = self.state[i - 1];
            self.state[i] = (self.state[i]
                ^ (previous ^ (previous >> 30)).wrapping_mul(1_566_083_941))
            .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
        }
        self.state[0] = 0x8000_0000;
    }

    fn next_u32(&mut self) -> u32 {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        if self.index >= N {
            for k in 0..N {
                let y = (self.state[k] & UPPER) | (self.state[(k + 1) % N] & LOWER);
                let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
                self.state[k] = self.state[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.getrandbits(k)` for `k <= 32`.
    fn getrandbits(&mut self, k: u32) -> u32 {
        debug_assert!(k <= 32);
        if k == 0 {
            return 0;
        }
        self.next_u32() >> (32 - k)
    }

    /// `Random._randbelow(n)`: rejection sampling on `n.bit_length()` bits.
    fn randbelow(&mut self, n: u32) -> u32 {
        let bits = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(bits);
            if r < n {
                return r;
            }
        }
    }

    /// `random.sample(range(n), k)`, with CPython's choice between a pool and a set of
    /// selected values (the two draw differently).
    pub(crate) fn sample_range(&mut self, n: u32, k: usize) -> Option<Vec<u32>> {
        if k > n as usize {
            return None;
        }
        let mut setsize = 21usize;
        if k > 5 {
            let exponent = ((k * 3) as f64).ln() / 4f64.ln();
            setsize += 4usize.pow(exponent.ceil() as u32);
        }
        let mut result = Vec::with_capacity(k);
        if (n as usize) <= setsize {
            let mut pool: Vec<u32> = (0..n).collect();
            for i in 0..k as u32 {
                let j = self.randbelow(n - i) as usize;
                result.push(pool[j]);
                pool[j] = pool[(n - i - 1) as usize];
            }
        } else {
            let mut selected = rustc_hash::FxHashSet::default();
            for _ in 0..k {
                let mut j = self.randbelow(n);
                while selected.contains(&j) {
                    j = self.randbelow(n);
                }
                selected.insert(j);
                result.push(j);
            }
        }
        Some(result)
    }
}

/// The order in which CPython iterates a `set` built by adding these non-negative integers
/// (below 2^61 − 1, where `hash(i) == i`) one by one to an empty set: open addressing with
/// 9 linear probes, then perturbed jumps; resized to 4× the used slots when 3/5 full.
pub(crate) fn set_order(values: impl IntoIterator<Item = u64>) -> Vec<u64> {
    const LINEAR_PROBES: usize = 9;
    const PERTURB_SHIFT: u32 = 5;
    const MIN_SIZE: usize = 8;

    /// The slot CPython's probing stops at for `value`: the one holding it, or the first
    /// empty one (`set_add_entry` and `set_insert_clean` walk the same sequence).
    fn probe(table: &[Option<u64>], value: u64) -> usize {
        let mask = table.len() - 1;
        let mut perturb = value;
        let mut i = (value as usize) & mask;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            if let Some(slot) = (i..=i + probes).find(|&s| table[s].is_none_or(|v| v == value)) {
                return slot;
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    let mut table: Vec<Option<u64>> = vec![None; MIN_SIZE];
    let mut used = 0usize;
    for value in values {
        let slot = probe(&table, value);
        if table[slot].is_some() {
            continue;
        }
        table[slot] = Some(value);
        used += 1;
        // Without deletions `fill == used`.
        if used * 5 >= (table.len() - 1) * 3 {
            let minused = if used > 50_000 { used * 2 } else { used * 4 };
            let mut size = MIN_SIZE;
            while size <= minused {
                size <<= 1;
            }
            let old = std::mem::replace(&mut table, vec![None; size]);
            for v in old.into_iter().flatten() {
                let slot = probe(&table, v);
                table[slot] = Some(v);
            }
        }
    }
    table.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by CPython 3.11.
    #[test]
    fn sample_matches_cpython() {
        let mut random = PyRandom::seeded(42);
        assert_eq!(random.sample_range(64, 5).unwrap(), PY_SEED42_64_5);
        let mut random = PyRandom::seeded(0);
        assert_eq!(random.sample_range(1024, 8).unwrap(), PY_SEED0_1024_8);
        let mut random = PyRandom::seeded(-7);
        assert_eq!(random.sample_range(20, 10).unwrap(), PY_SEEDM7_20_10);
        assert!(PyRandom::seeded(1).sample_range(3, 4).is_none());
    }

    #[test]
    fn set_order_matches_cpython() {
        assert_eq!(set_order([1546, 546, 594, 1594]), [1546, 546, 594, 1594]);
        assert_eq!(set_order([5, 3, 5, 1]), [1, 3, 5]);
        assert_eq!(set_order(PY_SET_IN.iter().copied()), PY_SET_OUT);
    }

    const PY_SEED42_64_5: [u32; 5] = [14, 3, 35, 31, 28];
    const PY_SEED0_1024_8: [u32; 8] = [788, 861, 82, 530, 995, 829, 621, 976];
    const PY_SEEDM7_20_10: [u32; 10] = [10, 4, 12, 1, 2, 13, 8, 16, 5, 9];
    const PY_SET_IN: [u64; 40] = [
        1949, 1068, 3030, 3883, 536, 107, 3843, 2124, 1919, 1570, 3852, 3902, 3253, 1233, 1899,
        1242, 3194, 124, 524, 1305, 350, 2467, 254, 2207, 3872, 3175, 3497, 3235, 3642, 1098, 2994,
        798, 293, 1113, 4054, 1777, 2113, 3573, 2466, 3450,
    ];
    const PY_SET_OUT: [u64; 40] = [
        3843, 3852, 524, 536, 1305, 1949, 798, 2207, 3872, 1570, 2467, 3235, 293, 2466, 3497, 3883,
        1068, 2994, 3253, 3642, 3902, 2113, 1098, 2124, 3450, 1233, 3030, 4054, 1113, 1242, 350,
        3175, 107, 1899, 1777, 3573, 3194, 124, 254, 1919,
    ];
}
