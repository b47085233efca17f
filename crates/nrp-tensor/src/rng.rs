//! A counter-based uniform generator for dropout masks.
//!
//! Draw `i` is a hash of `(seed, i)`, so a bulk fill has no loop-carried state and vectorises
//! (AVX2: 8 draws per instruction group); ~0.3 ns per draw instead of ~3 ns for a sequential
//! generator called per element. Statistical quality is that of a strong 32-bit integer hash
//! (Wellons' "lowbias32"), ample for Bernoulli masks; it is not a cryptographic or
//! PyTorch-compatible stream.

use crate::cpu::simd::has_avx2_or_false;

#[derive(Debug, Clone)]
pub struct CounterRng {
    seed: u64,
    counter: u64,
}

#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Per-2^32-block key, so streams do not repeat within 2^64 draws.
#[inline]
fn block_key(seed: u64, block: u32) -> u32 {
    lowbias32(seed as u32 ^ lowbias32((seed >> 32) as u32 ^ lowbias32(block ^ 0x5bd1_e995)))
}

#[inline(always)]
fn fill_block(buf: &mut [f32], start: u32, key: u32) {
    for (i, u) in buf.iter_mut().enumerate() {
        let c = start.wrapping_add(i as u32);
        let x = lowbias32(c.wrapping_mul(0x9e37_79b9) ^ key);
        *u = (x >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fill_block_avx2(buf: &mut [f32], start: u32, key: u32) {
    fill_block(buf, start, key)
}

impl CounterRng {
    pub fn new(seed: u64) -> Self {
        CounterRng { seed, counter: 0 }
    }

    /// Continues the stream at draw `counter` (e.g. after restoring a checkpoint).
    pub fn with_counter(seed: u64, counter: u64) -> Self {
        CounterRng { seed, counter }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Fills `buf` with uniform draws in `[0, 1)` (24-bit resolution) and advances the stream.
    pub fn fill(&mut self, buf: &mut [f32]) {
        self.fill_at(self.counter, buf);
        self.counter = self.counter.wrapping_add(buf.len() as u64);
    }

    /// Skips `n` draws and returns the stream positioned at the first of them: a caller then
    /// draws them with [`CounterRng::fill_at`] in any order or in parallel.
    pub fn reserve(&mut self, n: u64) -> CounterRng {
        let start = self.clone();
        self.counter = self.counter.wrapping_add(n);
        start
    }

    /// Draws `counter..counter + buf.len()` of this stream into `buf` (what `fill` gives at
    /// that position), without moving the stream.
    pub fn fill_at(&self, counter: u64, buf: &mut [f32]) {
        let mut counter = counter;
        let mut rest = buf;
        while !rest.is_empty() {
            let (block, start) = ((counter >> 32) as u32, counter as u32);
            // Stay inside one 2^32 block per call of the kernel.
            let room = (u32::MAX - start) as usize + 1;
            let n = rest.len().min(room);
            let (now, later) = std::mem::take(&mut rest).split_at_mut(n);
            let key = block_key(self.seed, block);
            if has_avx2_or_false() {
                // Safety: the CPU has AVX2 and FMA.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    fill_block_avx2(now, start, key)
                };
            } else {
                fill_block(now, start, key);
            }
            counter = counter.wrapping_add(n as u64);
            rest = later;
        }
    }

    /// One draw in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        let mut u = [0.0];
        self.fill(&mut u);
        u[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_and_reproducible() {
        let mut a = CounterRng::new(7);
        let mut buf = vec![0f32; 1 << 20];
        a.fill(&mut buf);
        assert!(buf.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mean = buf.iter().map(|&u| u as f64).sum::<f64>() / buf.len() as f64;
        assert!((mean - 0.5).abs() < 2e-3, "mean {mean}");
        let below = buf.iter().filter(|&&u| u < 0.3).count() as f64 / buf.len() as f64;
        assert!((below - 0.3).abs() < 2e-3, "P(u < 0.3) = {below}");
        // Neighbouring draws are uncorrelated.
        let lag: f64 = buf
            .windows(2)
            .map(|w| (w[0] as f64 - 0.5) * (w[1] as f64 - 0.5))
            .sum::<f64>()
            / (buf.len() - 1) as f64;
        assert!(lag.abs() < 1e-3, "lag-1 covariance {lag}");
        // Bulk and one-by-one draws give the same stream; the seed matters.
        let mut b = CounterRng::new(7);
        let first: Vec<f32> = (0..100).map(|_| b.next_f32()).collect();
        assert_eq!(&first[..], &buf[..100]);
        let mut c = CounterRng::new(8);
        assert_ne!(c.next_f32(), buf[0]);
        // Crossing a 2^32 block boundary continues without a seam.
        let mut d = CounterRng::with_counter(7, (1 << 32) - 2);
        let mut e = [0f32; 4];
        d.fill(&mut e);
        assert_eq!(d.counter(), (1 << 32) + 2);
        // Reserved draws, filled out of order, are the stream's own.
        let mut r = CounterRng::new(7);
        let reserved = r.reserve(60);
        assert_eq!(reserved.counter(), 0);
        let mut part = [0f32; 40];
        reserved.fill_at(20, &mut part);
        assert_eq!(&part[..], &buf[20..60]);
        assert_eq!(r.next_f32(), buf[60]);
    }
}
