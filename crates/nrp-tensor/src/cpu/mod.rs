//! The CPU backend: rayon over an owned thread pool.
//!
//! Determinism: every parallel loop either computes each output row independently (rows may
//! be scheduled anywhere: the result does not depend on the partition), or reduces across rows
//! in blocks whose boundaries depend only on the shape, combined in block order. So results
//! are bit-identical across runs, and across thread counts except where the GEMM crate's
//! blocking differs (see README.md).

mod backend_impl;
pub(crate) mod dense;
pub(crate) mod elementwise;
pub(crate) mod loss;
pub(crate) mod rowwise;
pub(crate) mod shaped;
pub(crate) mod simd;
pub(crate) mod sparse;

use crate::error::{Result, TensorError};
use rayon::prelude::*;

/// Minimum work (roughly: multiply-adds) that is worth a parallel task.
pub(crate) const GRAIN: usize = 1 << 14;
/// Rows per block in cross-row reductions. Fixed, so sums do not depend on the thread count.
pub(crate) const REDUCE_BLOCK: usize = 512;

pub struct Cpu {
    pool: Option<rayon::ThreadPool>,
    threads: usize,
}

impl Cpu {
    /// A backend with its own pool of `threads` threads (`0`: one per core). With one thread
    /// no pool is created and kernels run on the caller's thread.
    pub fn new(threads: usize) -> Result<Self> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("nrp-cpu-{i}"))
                    .build()
                    .map_err(|e| {
                        TensorError::Invalid(format!("cannot start {threads} threads: {e}"))
                    })?,
            )
        } else {
            None
        };
        Ok(Cpu { pool, threads })
    }

    /// A backend on the pool the caller runs in, without threads of its own (one thread
    /// outside any pool): for work inside another backend's `install`, such as folding
    /// constants while an engine is built.
    pub fn current() -> Self {
        let threads = if rayon::current_thread_index().is_some() {
            rayon::current_num_threads()
        } else {
            1
        };
        Cpu {
            pool: None,
            threads,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` inside the pool. Kernels enter the pool themselves, but an engine that runs a
    /// whole epoch inside `install` saves one hand-off per kernel.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    #[inline]
    pub(crate) fn parallel(&self, work: usize) -> bool {
        self.threads > 1 && work >= 2 * GRAIN
    }

    /// Calls `f(first_row, chunk)` over disjoint chunks of whole rows of `out`.
    pub(crate) fn for_rows<T: Send>(
        &self,
        out: &mut [T],
        row_len: usize,
        work_per_row: usize,
        f: impl Fn(usize, &mut [T]) + Sync + Send,
    ) {
        if out.is_empty() || row_len == 0 {
            return;
        }
        let rows = out.len() / row_len;
        let work = rows * work_per_row.max(1);
        if !self.parallel(work) {
            return f(0, out);
        }
        let per = (GRAIN / work_per_row.max(1)).clamp(1, rows.div_ceil(2 * self.threads).max(1));
        self.install(|| {
            out.par_chunks_mut(per * row_len)
                .enumerate()
                .for_each(|(c, s)| f(c * per, s));
        });
    }

    /// Like [`Cpu::for_rows`] with two outputs split at the same rows (`len_a`, `len_b`
    /// elements per row).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_rows2<A: Send, B: Send>(
        &self,
        a: &mut [A],
        len_a: usize,
        b: &mut [B],
        len_b: usize,
        rows: usize,
        work_per_row: usize,
        f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send,
    ) {
        if rows == 0 {
            return;
        }
        let work = rows * work_per_row.max(1);
        if !self.parallel(work) {
            return f(0, a, b);
        }
        let per = (GRAIN / work_per_row.max(1)).clamp(1, rows.div_ceil(2 * self.threads).max(1));
        let bounds: Vec<usize> = (0..rows).step_by(per).chain([rows]).collect();
        let pa = split_at_rows(a, &bounds, len_a);
        let pb = split_at_rows(b, &bounds, len_b);
        self.install(|| {
            pa.into_par_iter()
                .zip(pb)
                .enumerate()
                .for_each(|(c, (x, y))| f(bounds[c], x, y));
        });
    }

    /// Calls `f(rows, chunk)` over the load-balanced row chunks of `seg`.
    pub(crate) fn for_segments<T: Send>(
        &self,
        seg: &crate::Segments,
        out: &mut [T],
        row_len: usize,
        work_per_entry: usize,
        f: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync + Send,
    ) {
        let n = seg.n_rows();
        if n == 0 {
            return;
        }
        let work = (seg.nnz() + n) * work_per_entry.max(1);
        if !self.parallel(work) {
            return f(0..n, out);
        }
        let bounds = seg.chunks();
        let pieces = split_at_rows(out, bounds, row_len);
        self.install(|| {
            pieces
                .into_par_iter()
                .enumerate()
                .for_each(|(c, s)| f(bounds[c]..bounds[c + 1], s));
        });
    }

    /// Like [`Cpu::for_segments`], but `out` holds `entry_len` values per *entry* (match):
    /// calls `f(rows, chunk)` where `chunk` starts at entry `indptr[rows.start]`.
    pub(crate) fn for_segment_entries<T: Send>(
        &self,
        seg: &crate::Segments,
        out: &mut [T],
        entry_len: usize,
        work_per_entry: usize,
        f: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync + Send,
    ) {
        let n = seg.n_rows();
        if n == 0 {
            return;
        }
        let work = (seg.nnz() + n) * work_per_entry.max(1);
        if !self.parallel(work) {
            return f(0..n, out);
        }
        let rows = seg.chunks();
        let entries: Vec<usize> = rows.iter().map(|&r| seg.indptr()[r]).collect();
        let pieces = split_at_rows(out, &entries, entry_len);
        self.install(|| {
            pieces
                .into_par_iter()
                .enumerate()
                .for_each(|(c, s)| f(rows[c]..rows[c + 1], s));
        });
    }

    /// [`Cpu::for_segments`] with a second output.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_segments2<A: Send, B: Send>(
        &self,
        seg: &crate::Segments,
        a: &mut [A],
        len_a: usize,
        b: &mut [B],
        len_b: usize,
        work_per_entry: usize,
        f: impl Fn(std::ops::Range<usize>, &mut [A], &mut [B]) + Sync + Send,
    ) {
        let n = seg.n_rows();
        if n == 0 {
            return;
        }
        let work = (seg.nnz() + n) * work_per_entry.max(1);
        if !self.parallel(work) {
            return f(0..n, a, b);
        }
        let bounds = seg.chunks();
        let pa = split_at_rows(a, bounds, len_a);
        let pb = split_at_rows(b, bounds, len_b);
        self.install(|| {
            pa.into_par_iter()
                .zip(pb)
                .enumerate()
                .for_each(|(c, (x, y))| f(bounds[c]..bounds[c + 1], x, y));
        });
    }

    /// Maps fixed blocks of [`REDUCE_BLOCK`] rows to partial results, in block order.
    pub(crate) fn map_blocks<R: Send>(
        &self,
        rows: usize,
        work_per_row: usize,
        f: impl Fn(std::ops::Range<usize>) -> R + Sync + Send,
    ) -> Vec<R> {
        let nb = rows.div_ceil(REDUCE_BLOCK);
        let block = |b: usize| f(b * REDUCE_BLOCK..((b + 1) * REDUCE_BLOCK).min(rows));
        if self.parallel(rows * work_per_row.max(1)) {
            self.install(|| (0..nb).into_par_iter().map(block).collect())
        } else {
            (0..nb).map(block).collect()
        }
    }
}

/// Splits `s` into pieces of rows `bounds[c]..bounds[c+1]`.
fn split_at_rows<'s, T>(mut s: &'s mut [T], bounds: &[usize], row_len: usize) -> Vec<&'s mut [T]> {
    let mut out = Vec::with_capacity(bounds.len().saturating_sub(1));
    for w in bounds.windows(2) {
        let (head, tail) = std::mem::take(&mut s).split_at_mut((w[1] - w[0]) * row_len);
        out.push(head);
        s = tail;
    }
    out
}
