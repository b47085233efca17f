//! CSR kernels: weighted SpMM (fused gather-multiply-reduce), segment reductions, and their
//! backward passes through the transposed CSR. No atomics: every output row is owned by one
//! task and summed in CSR order, so results do not depend on scheduling or thread count.

use super::Cpu;
use super::simd::{PREFETCH, add_to, axpy, dot, multiversion, prefetch};
use crate::{Csr, EntryValues, Float, Segments, Tensor};
use std::ops::Range;

/// What becomes of each output row's sum in [`spmm`].
#[derive(Clone, Copy)]
enum RowOp<'a, T> {
    Keep,
    /// `· s_i`
    Scale(&'a [T]),
    /// `/ n_i`, the row's entry count: a mean divided exactly, as PyTorch's scatter mean
    /// (a scale by `1/n_i` can differ in the last bit); rows without entries stay 0.
    Mean,
}

impl<T: Float> RowOp<'_, T> {
    #[inline(always)]
    fn apply(self, r: usize, entries: usize, row: &mut [T]) {
        match self {
            RowOp::Keep => {}
            RowOp::Scale(s) => row.iter_mut().for_each(|a| *a *= s[r]),
            RowOp::Mean if entries > 0 => {
                let n = T::from_usize(entries);
                row.iter_mut().for_each(|a| *a /= n)
            }
            RowOp::Mean => {}
        }
    }
}

/// Rows of [`spmm`] in column blocks of a compile-time width `D` (`d` is a multiple of `D`):
/// each block's accumulator lives in registers. `w = 1` when there are no values; `1·x == x`
/// exactly, and every block sums in CSR order, so every width gives the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn spmm_rows_d<T: Float, const D: usize>(
    rows: Range<usize>,
    out: &mut [T],
    indptr: &[usize],
    idx: &[u32],
    vals: Option<&[T]>,
    row_op: RowOp<T>,
    x: &[T],
    d: usize,
) {
    let end = indptr[rows.end];
    for c0 in (0..d).step_by(D) {
        for (r, orow) in rows.clone().zip(out.chunks_exact_mut(d)) {
            let o = &mut orow[c0..c0 + D];
            let mut acc = [T::ZERO; D];
            for k in indptr[r]..indptr[r + 1] {
                if k + PREFETCH < end {
                    prefetch(
                        x.as_ptr().wrapping_add(idx[k + PREFETCH] as usize * d + c0),
                        D,
                    );
                }
                let b = idx[k] as usize * d + c0;
                let xr: &[T; D] = x[b..b + D].try_into().unwrap();
                let w = vals.map_or(T::ONE, |v| v[k]);
                for j in 0..D {
                    acc[j] += w * xr[j];
                }
            }
            row_op.apply(r, indptr[r + 1] - indptr[r], &mut acc);
            o.copy_from_slice(&acc);
        }
    }
}

multiversion! {
    /// Rows `rows` of `out[i] = op_i(Σ_k v_k · x[idx_k])` into `out` (those rows only).
    fn spmm_rows<T>(
        rows: Range<usize>,
        out: &mut [T],
        indptr: &[usize],
        idx: &[u32],
        vals: Option<&[T]>,
        row_op: RowOp<T>,
        x: &[T],
        d: usize,
    ) {
        match block_width(d) {
            8 => return spmm_rows_d::<T, 8>(rows, out, indptr, idx, vals, row_op, x, d),
            16 => return spmm_rows_d::<T, 16>(rows, out, indptr, idx, vals, row_op, x, d),
            32 => return spmm_rows_d::<T, 32>(rows, out, indptr, idx, vals, row_op, x, d),
            64 => return spmm_rows_d::<T, 64>(rows, out, indptr, idx, vals, row_op, x, d),
            _ => {}
        }
        let end = indptr[rows.end];
        for (r, o) in rows.zip(out.chunks_exact_mut(d)) {
            o.fill(T::ZERO);
            for k in indptr[r]..indptr[r + 1] {
                if k + PREFETCH < end {
                    prefetch(x.as_ptr().wrapping_add(idx[k + PREFETCH] as usize * d), d);
                }
                let xr = &x[idx[k] as usize * d..][..d];
                match vals {
                    None => add_to(o, xr),
                    Some(v) => axpy(o, v[k], xr),
                }
            }
            row_op.apply(r, indptr[r + 1] - indptr[r], o);
        }
    }
}

/// `out[i] = s_i · Σ_{k in row i} v_k · x[idx_k]` (`v`, `s` default to 1).
pub(crate) fn spmm<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    vals: Option<&[T]>,
    row_scale: Option<&[T]>,
    x: &Tensor<T>,
    out: &mut Tensor<T>,
) {
    let row_op = row_scale.map_or(RowOp::Keep, RowOp::Scale);
    spmm_with(cpu, csr, vals, row_op, x, out)
}

/// `out[i] = (Σ_{k in row i} x[idx_k]) / n_i`, divided exactly (empty rows give 0).
pub(crate) fn spmm_mean<T: Float>(cpu: &Cpu, csr: &Csr, x: &Tensor<T>, out: &mut Tensor<T>) {
    spmm_with(cpu, csr, None, RowOp::Mean, x, out)
}

fn spmm_with<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    vals: Option<&[T]>,
    row_op: RowOp<T>,
    x: &Tensor<T>,
    out: &mut Tensor<T>,
) {
    let d = x.cols;
    assert_eq!((out.rows, out.cols), (csr.n_rows(), d));
    assert_eq!(x.rows, csr.n_cols());
    if d == 0 {
        return;
    }
    let (indptr, idx) = (csr.indptr(), csr.indices());
    cpu.for_segments(csr.segments(), &mut out.data, d, d, |rows, chunk| {
        spmm_rows(rows, chunk, indptr, idx, vals, row_op, &x.data, d)
    });
}

/// The value of the transpose's entry `p` (CSR entry `tentries[p]`).
#[inline(always)]
fn entry_value<T: Float>(vals: EntryValues<T>, tentries: &[u32], p: usize) -> T {
    match vals {
        EntryValues::Ones => T::ONE,
        EntryValues::Csr(v) => v[tentries[p] as usize],
        EntryValues::Transposed(v) => v[p],
    }
}

/// [`spmm_t_rows`] in column blocks of a compile-time width (same bits as the generic loop).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn spmm_t_rows_d<T: Float, const D: usize>(
    cols: Range<usize>,
    out: &mut [T],
    tp: &[usize],
    trows: &[u32],
    tentries: &[u32],
    vals: EntryValues<T>,
    scale: Option<&[T]>,
    dy: &[T],
    d: usize,
    accumulate: bool,
) {
    let end = tp[cols.end];
    for c0 in (0..d).step_by(D) {
        for (c, orow) in cols.clone().zip(out.chunks_exact_mut(d)) {
            if accumulate && tp[c] == tp[c + 1] {
                continue;
            }
            let o = &mut orow[c0..c0 + D];
            let mut acc = [T::ZERO; D];
            for p in tp[c]..tp[c + 1] {
                if p + PREFETCH < end {
                    prefetch(
                        dy.as_ptr()
                            .wrapping_add(trows[p + PREFETCH] as usize * d + c0),
                        D,
                    );
                    if let EntryValues::Csr(v) = vals {
                        prefetch(v.as_ptr().wrapping_add(tentries[p + PREFETCH] as usize), 1);
                    }
                }
                let i = trows[p] as usize;
                let g: &[T; D] = dy[i * d + c0..i * d + c0 + D].try_into().unwrap();
                let mut w = entry_value(vals, tentries, p);
                if let Some(s) = scale {
                    w *= s[i];
                }
                for j in 0..D {
                    acc[j] += w * g[j];
                }
            }
            if accumulate {
                for j in 0..D {
                    o[j] += acc[j];
                }
            } else {
                o.copy_from_slice(&acc);
            }
        }
    }
}

/// The register block for rows of width `d`: `d` itself up to 64, else the widest of 64, 32
/// that divides it (0: no block fits, use the generic loop).
fn block_width(d: usize) -> usize {
    match d {
        8 | 16 | 32 | 64 => d,
        _ if d.is_multiple_of(64) => 64,
        _ if d.is_multiple_of(32) => 32,
        _ => 0,
    }
}

multiversion! {
    /// Columns `cols` of the transposed product (see [`spmm_t`]); with `accumulate` each
    /// column's sum is added to `out` (columns without entries untouched), with the same
    /// bits as the sum written to a fresh buffer and then added.
    fn spmm_t_rows<T>(
        cols: Range<usize>,
        out: &mut [T],
        tp: &[usize],
        trows: &[u32],
        tentries: &[u32],
        vals: EntryValues<T>,
        scale: Option<&[T]>,
        dy: &[T],
        d: usize,
        accumulate: bool,
    ) {
        let a = accumulate;
        match block_width(d) {
            8 => return spmm_t_rows_d::<T, 8>(cols, out, tp, trows, tentries, vals, scale, dy, d, a),
            16 => return spmm_t_rows_d::<T, 16>(cols, out, tp, trows, tentries, vals, scale, dy, d, a),
            32 => return spmm_t_rows_d::<T, 32>(cols, out, tp, trows, tentries, vals, scale, dy, d, a),
            64 => return spmm_t_rows_d::<T, 64>(cols, out, tp, trows, tentries, vals, scale, dy, d, a),
            _ => {}
        }
        let end = tp[cols.end];
        let ones = matches!(vals, EntryValues::Ones) && scale.is_none();
        // The column's sum is formed apart when it is then added to `out`.
        let mut scratch = vec![T::ZERO; if accumulate { d } else { 0 }];
        for (c, orow) in cols.zip(out.chunks_exact_mut(d)) {
            if accumulate && tp[c] == tp[c + 1] {
                continue;
            }
            let o: &mut [T] = if accumulate { &mut scratch } else { &mut *orow };
            o.fill(T::ZERO);
            for p in tp[c]..tp[c + 1] {
                if p + PREFETCH < end {
                    prefetch(dy.as_ptr().wrapping_add(trows[p + PREFETCH] as usize * d), d);
                    if let EntryValues::Csr(v) = vals {
                        prefetch(v.as_ptr().wrapping_add(tentries[p + PREFETCH] as usize), 1);
                    }
                }
                let i = trows[p] as usize;
                let g = &dy[i * d..][..d];
                if ones {
                    add_to(o, g);
                } else {
                    let mut w = entry_value(vals, tentries, p);
                    if let Some(s) = scale {
                        w *= s[i];
                    }
                    axpy(o, w, g);
                }
            }
            if accumulate {
                add_to(orow, &scratch);
            }
        }
    }
}

/// Backward of [`spmm`] wrt `x`: `dx[c] = Σ_{(i,k): idx_k = c} v_k · s_i · dy[i]`, through the
/// transposed CSR (entries in increasing row order: deterministic). Values already in the
/// transpose's order are read in sequence instead of through its entry map: same bits.
pub(crate) fn spmm_t<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    vals: EntryValues<T>,
    row_scale: Option<&[T]>,
    dy: &Tensor<T>,
    dx: &mut Tensor<T>,
    accumulate: bool,
) {
    let d = dy.cols;
    assert_eq!((dx.rows, dx.cols), (csr.n_cols(), d));
    assert_eq!(dy.rows, csr.n_rows());
    if let EntryValues::Csr(v) | EntryValues::Transposed(v) = vals {
        assert_eq!(v.len(), csr.nnz(), "one value per entry");
    }
    if d == 0 {
        return;
    }
    let t = csr.transposed();
    let tp = t.seg.indptr();
    cpu.for_segments(&t.seg, &mut dx.data, d, d, |cols, chunk| {
        spmm_t_rows(
            cols, chunk, tp, &t.rows, &t.entries, vals, row_scale, &dy.data, d, accumulate,
        )
    });
}

multiversion! {
    fn dvals_rows<T>(
        rows: Range<usize>,
        out: &mut [T],
        indptr: &[usize],
        idx: &[u32],
        scale: Option<&[T]>,
        x: &[T],
        dy: &[T],
        d: usize,
    ) {
        let base = indptr[rows.start];
        let end = indptr[rows.end];
        for r in rows {
            let g = &dy[r * d..][..d];
            let s = scale.map_or(T::ONE, |s| s[r]);
            for k in indptr[r]..indptr[r + 1] {
                if k + PREFETCH < end {
                    prefetch(x.as_ptr().wrapping_add(idx[k + PREFETCH] as usize * d), d);
                }
                out[k - base] = s * dot(g, &x[idx[k] as usize * d..][..d]);
            }
        }
    }
}

/// Backward of [`spmm`] wrt the entry values: `dv_k = s_i · <dy[i], x[idx_k]>`.
pub(crate) fn spmm_dvals<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    row_scale: Option<&[T]>,
    x: &Tensor<T>,
    dy: &Tensor<T>,
    dvals: &mut [T],
) {
    assert_eq!(dvals.len(), csr.nnz());
    let (indptr, idx) = (csr.indptr(), csr.indices());
    let d = x.cols;
    cpu.for_segment_entries(csr.segments(), dvals, 1, d, |rows, chunk| {
        dvals_rows(rows, chunk, indptr, idx, row_scale, &x.data, &dy.data, d)
    });
}

/// `1/count` per row (0 for empty rows) into `out`: the row scale of a mean.
pub(crate) fn mean_scale<T: Float>(seg: &Segments, out: &mut [T]) {
    for (o, w) in out.iter_mut().zip(seg.indptr().windows(2)) {
        *o = if w[1] > w[0] {
            T::ONE / T::from_usize(w[1] - w[0])
        } else {
            T::ZERO
        };
    }
}

/// One step of a running max/min: branch-free selects (vectorisable); the strict comparison
/// keeps the first entry on ties.
#[inline(always)]
fn extreme_step<T: Float>(o: &mut [T], a: &mut [u32], xr: &[T], k: u32, max: bool) {
    // NaN propagates (the first NaN wins and stays), as in PyTorch's `amax` / `amin`.
    if max {
        for ((o, a), &v) in o.iter_mut().zip(a.iter_mut()).zip(xr) {
            let b = v > *o || (v.is_nan() && !o.is_nan());
            *o = if b { v } else { *o };
            *a = if b { k } else { *a };
        }
    } else {
        for ((o, a), &v) in o.iter_mut().zip(a.iter_mut()).zip(xr) {
            let b = v < *o || (v.is_nan() && !o.is_nan());
            *o = if b { v } else { *o };
            *a = if b { k } else { *a };
        }
    }
}

/// [`extreme_rows`] for a compile-time width, with the running extreme in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn extreme_rows_d<T: Float, const D: usize>(
    rows: Range<usize>,
    out: &mut [T],
    arg: &mut [u32],
    indptr: &[usize],
    idx: Option<&[u32]>,
    max: bool,
    x: &[T],
) {
    let end = indptr[rows.end];
    for (r, (o, a)) in rows.zip(out.chunks_exact_mut(D).zip(arg.chunks_exact_mut(D))) {
        let range = indptr[r]..indptr[r + 1];
        if range.is_empty() {
            o.fill(T::ZERO);
            a.fill(u32::MAX);
            continue;
        }
        let row_of = |k: usize| idx.map_or(k, |ix| ix[k] as usize);
        let b = row_of(range.start) * D;
        let mut best: [T; D] = x[b..b + D].try_into().unwrap();
        let mut who = [range.start as u32; D];
        for k in range.start + 1..range.end {
            if let Some(ix) = idx
                && k + PREFETCH < end
            {
                prefetch(x.as_ptr().wrapping_add(ix[k + PREFETCH] as usize * D), D);
            }
            let b = row_of(k) * D;
            let xr: &[T; D] = x[b..b + D].try_into().unwrap();
            extreme_step(&mut best, &mut who, xr, k as u32, max);
        }
        o.copy_from_slice(&best);
        a.copy_from_slice(&who);
    }
}

multiversion! {
    fn extreme_rows<T>(
        rows: Range<usize>,
        out: &mut [T],
        arg: &mut [u32],
        indptr: &[usize],
        idx: Option<&[u32]>,
        max: bool,
        x: &[T],
        d: usize,
    ) {
        match d {
            8 => return extreme_rows_d::<T, 8>(rows, out, arg, indptr, idx, max, x),
            16 => return extreme_rows_d::<T, 16>(rows, out, arg, indptr, idx, max, x),
            32 => return extreme_rows_d::<T, 32>(rows, out, arg, indptr, idx, max, x),
            64 => return extreme_rows_d::<T, 64>(rows, out, arg, indptr, idx, max, x),
            _ => {}
        }
        let end = indptr[rows.end];
        for (r, (o, a)) in rows.zip(out.chunks_exact_mut(d).zip(arg.chunks_exact_mut(d))) {
            let range = indptr[r]..indptr[r + 1];
            if range.is_empty() {
                o.fill(T::ZERO);
                a.fill(u32::MAX);
                continue;
            }
            let row_of = |k: usize| idx.map_or(k, |ix| ix[k] as usize);
            o.copy_from_slice(&x[row_of(range.start) * d..][..d]);
            a.fill(range.start as u32);
            for k in range.start + 1..range.end {
                if let Some(ix) = idx
                    && k + PREFETCH < end
                {
                    prefetch(x.as_ptr().wrapping_add(ix[k + PREFETCH] as usize * d), d);
                }
                extreme_step(o, a, &x[row_of(k) * d..][..d], k as u32, max);
            }
        }
    }
}

/// Segment max/min per coordinate over row `i`'s entries, read from `x[k]` (dense per-entry
/// input) or `x[idx[k]]` (gathered). Records the winning entry (first on ties) in `arg`;
/// empty rows produce 0 and `u32::MAX`.
pub(crate) fn segment_extreme<T: Float>(
    cpu: &Cpu,
    seg: &Segments,
    idx: Option<&[u32]>,
    max: bool,
    x: &Tensor<T>,
    out: &mut Tensor<T>,
    arg: &mut [u32],
) {
    let d = x.cols;
    assert_eq!((out.rows, out.cols), (seg.n_rows(), d));
    assert_eq!(arg.len(), out.data.len());
    if d == 0 {
        return;
    }
    let indptr = seg.indptr();
    cpu.for_segments2(seg, &mut out.data, d, arg, d, d, |rows, o, a| {
        extreme_rows(rows, o, a, indptr, idx, max, &x.data, d)
    });
}

multiversion! {
    fn segment_sum_rows<T>(
        rows: Range<usize>,
        out: &mut [T],
        indptr: &[usize],
        scale: Option<&[T]>,
        x: &[T],
        d: usize,
    ) {
        for (r, o) in rows.zip(out.chunks_exact_mut(d)) {
            o.fill(T::ZERO);
            for k in indptr[r]..indptr[r + 1] {
                add_to(o, &x[k * d..][..d]);
            }
            if let Some(s) = scale {
                let s = s[r];
                o.iter_mut().for_each(|o| *o *= s);
            }
        }
    }
}

/// Dense per-entry segment sum/mean: `out[i] = s_i Σ_{k in row i} x[k]`.
pub(crate) fn segment_sum<T: Float>(
    cpu: &Cpu,
    seg: &Segments,
    row_scale: Option<&[T]>,
    x: &Tensor<T>,
    out: &mut Tensor<T>,
) {
    let d = x.cols;
    assert_eq!(x.rows, seg.nnz());
    assert_eq!((out.rows, out.cols), (seg.n_rows(), d));
    if d == 0 {
        return;
    }
    let indptr = seg.indptr();
    cpu.for_segments(seg, &mut out.data, d, d, |rows, chunk| {
        segment_sum_rows(rows, chunk, indptr, row_scale, &x.data, d)
    });
}

/// Backward of [`segment_sum`]: `dx[k] = s_i · dy[i]` for every entry `k` of row `i`.
pub(crate) fn segment_expand<T: Float>(
    cpu: &Cpu,
    seg: &Segments,
    row_scale: Option<&[T]>,
    dy: &Tensor<T>,
    dx: &mut Tensor<T>,
) {
    let d = dy.cols;
    assert_eq!((dx.rows, dx.cols), (seg.nnz(), d));
    if d == 0 {
        return;
    }
    let indptr = seg.indptr();
    cpu.for_segment_entries(seg, &mut dx.data, d, d, |rows, piece| {
        let base = indptr[rows.start];
        for r in rows {
            let g = dy.row(r);
            let s = row_scale.map_or(T::ONE, |s| s[r]);
            for k in indptr[r]..indptr[r + 1] {
                let o = &mut piece[(k - base) * d..(k - base + 1) * d];
                for (o, &v) in o.iter_mut().zip(g) {
                    *o = s * v;
                }
            }
        }
    });
}

multiversion! {
    fn extreme_t_rows<T>(
        cols: Range<usize>,
        out: &mut [T],
        tp: &[usize],
        trows: &[u32],
        tentries: &[u32],
        arg: &[u32],
        dy: &[T],
        d: usize,
    ) {
        for (c, o) in cols.zip(out.chunks_exact_mut(d)) {
            o.fill(T::ZERO);
            for p in tp[c]..tp[c + 1] {
                let (i, k) = (trows[p] as usize, tentries[p]);
                let (g, a) = (&dy[i * d..][..d], &arg[i * d..][..d]);
                for ((o, &g), &a) in o.iter_mut().zip(g).zip(a) {
                    *o += if a == k { g } else { T::ZERO };
                }
            }
        }
    }
}

/// Backward of [`segment_extreme`]: the gradient flows to the recorded entry per coordinate.
/// Dense input: `dx` is `[nnz, d]`; gathered input: `dx` is `[x.rows, d]`, summed over the
/// entries that read each row through the transposed CSR.
pub(crate) fn segment_extreme_backward<T: Float>(
    cpu: &Cpu,
    seg: &Segments,
    gathered: Option<&Csr>,
    arg: &[u32],
    dy: &Tensor<T>,
    dx: &mut Tensor<T>,
) {
    let d = dy.cols;
    if d == 0 {
        return;
    }
    match gathered {
        None => {
            assert_eq!((dx.rows, dx.cols), (seg.nnz(), d));
            let indptr = seg.indptr();
            cpu.for_segment_entries(seg, &mut dx.data, d, d, |rows, piece| {
                piece.fill(T::ZERO);
                let base = indptr[rows.start];
                for r in rows {
                    let (g, a) = (dy.row(r), &arg[r * d..(r + 1) * d]);
                    for j in 0..d {
                        if a[j] != u32::MAX {
                            piece[(a[j] as usize - base) * d + j] = g[j];
                        }
                    }
                }
            });
        }
        Some(csr) => {
            assert_eq!(dx.cols, d);
            let t = csr.transposed();
            let tp = t.seg.indptr();
            cpu.for_segments(&t.seg, &mut dx.data, d, d, |cols, chunk| {
                extreme_t_rows(cols, chunk, tp, &t.rows, &t.entries, arg, &dy.data, d)
            });
        }
    }
}

/// One-entry-per-row gather (`index_select`) fast path: `out[i] = x[idx[i]]`.
pub(crate) fn gather_rows<T: Float>(cpu: &Cpu, idx: &[u32], x: &Tensor<T>, out: &mut Tensor<T>) {
    let d = x.cols;
    assert_eq!((out.rows, out.cols), (idx.len(), d));
    cpu.for_rows(&mut out.data, d, d, |i0, chunk| {
        let n = chunk.len() / d.max(1);
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            if r + PREFETCH < n {
                prefetch(
                    x.data
                        .as_ptr()
                        .wrapping_add(idx[i0 + r + PREFETCH] as usize * d),
                    d,
                );
            }
            o.copy_from_slice(x.row(idx[i0 + r] as usize));
        }
    });
}

// ------------------------------------------------------------------ sparse rows · Wᵀ

/// [`sparse_linear_rows`] for a compile-time output width `D`: the row's `D` sums in
/// registers, each entry reading its column of `w` (`[D, n_in]`, stride `n_in`: `D` cache
/// lines, prefetched `PREFETCH` entries ahead).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sparse_linear_rows_d<T: Float, const D: usize>(
    rows: Range<usize>,
    out: &mut [T],
    indptr: &[usize],
    idx: &[u32],
    vals: Option<&[T]>,
    w: &[T],
    n_in: usize,
) {
    let end = indptr[rows.end];
    for (r, orow) in rows.zip(out.chunks_exact_mut(D)) {
        let mut acc = [T::ZERO; D];
        for k in indptr[r]..indptr[r + 1] {
            if k + PREFETCH < end {
                let ahead = w.as_ptr().wrapping_add(idx[k + PREFETCH] as usize);
                for o in 0..D {
                    prefetch(ahead.wrapping_add(o * n_in), 1);
                }
            }
            let c = idx[k] as usize;
            let v = vals.map_or(T::ONE, |v| v[k]);
            for (o, a) in acc.iter_mut().enumerate() {
                *a += v * w[o * n_in + c];
            }
        }
        orow.copy_from_slice(&acc);
    }
}

multiversion! {
    /// Rows `rows` of [`sparse_linear`] into `out` (those rows only).
    fn sparse_linear_rows<T>(
        rows: Range<usize>,
        out: &mut [T],
        indptr: &[usize],
        idx: &[u32],
        vals: Option<&[T]>,
        w: &[T],
        n_in: usize,
        d: usize,
    ) {
        match d {
            4 => return sparse_linear_rows_d::<T, 4>(rows, out, indptr, idx, vals, w, n_in),
            8 => return sparse_linear_rows_d::<T, 8>(rows, out, indptr, idx, vals, w, n_in),
            16 => return sparse_linear_rows_d::<T, 16>(rows, out, indptr, idx, vals, w, n_in),
            32 => return sparse_linear_rows_d::<T, 32>(rows, out, indptr, idx, vals, w, n_in),
            64 => return sparse_linear_rows_d::<T, 64>(rows, out, indptr, idx, vals, w, n_in),
            _ => {}
        }
        for (r, orow) in rows.zip(out.chunks_exact_mut(d)) {
            orow.fill(T::ZERO);
            for k in indptr[r]..indptr[r + 1] {
                let c = idx[k] as usize;
                let v = vals.map_or(T::ONE, |v| v[k]);
                for (o, a) in orow.iter_mut().enumerate() {
                    *a += v * w[o * n_in + c];
                }
            }
        }
    }
}

/// `out[i, o] = Σ_{k in row i} v_k · w[o, idx_k]` (`v` defaults to 1): sparse rows times
/// `wᵀ`, reading `w` (`[d, n_cols]`, PyTorch's `[out, in]`) in place. Each output element is
/// summed in CSR order from 0, as [`spmm`] sums over `wᵀ`: the same bits.
pub(crate) fn sparse_linear<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    vals: Option<&[T]>,
    w: &Tensor<T>,
    out: &mut Tensor<T>,
) {
    let (d, n_in) = (w.rows, w.cols);
    assert_eq!(n_in, csr.n_cols());
    assert_eq!((out.rows, out.cols), (csr.n_rows(), d));
    if let Some(v) = vals {
        assert_eq!(v.len(), csr.nnz(), "one value per entry");
    }
    if d == 0 {
        return;
    }
    let (indptr, idx) = (csr.indptr(), csr.indices());
    cpu.for_segments(csr.segments(), &mut out.data, d, d, |rows, chunk| {
        sparse_linear_rows(rows, chunk, indptr, idx, vals, &w.data, n_in, d)
    });
}

/// [`sparse_linear_dw_rows`] for a compile-time width `D` (`dy` is `[n, D]`, `out` `[D, n_in]`,
/// zeroed): per column with entries, its `D` sums in registers, then stored (stride `n_in`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sparse_linear_dw_rows_d<T: Float, const D: usize>(
    out: &mut [T],
    tp: &[usize],
    trows: &[u32],
    tentries: &[u32],
    vals: EntryValues<T>,
    dy: &[T],
    n_in: usize,
) {
    let last = tp[n_in];
    for c in 0..n_in {
        let (start, end) = (tp[c], tp[c + 1]);
        if start == end {
            continue;
        }
        let mut acc = [T::ZERO; D];
        for p in start..end {
            if p + PREFETCH < last {
                prefetch(
                    dy.as_ptr().wrapping_add(trows[p + PREFETCH] as usize * D),
                    D,
                );
                if let EntryValues::Csr(v) = vals {
                    prefetch(v.as_ptr().wrapping_add(tentries[p + PREFETCH] as usize), 1);
                }
            }
            let b = trows[p] as usize * D;
            let g: &[T; D] = dy[b..b + D].try_into().unwrap();
            let v = entry_value(vals, tentries, p);
            for j in 0..D {
                acc[j] += v * g[j];
            }
        }
        for (j, &a) in acc.iter().enumerate() {
            out[j * n_in + c] = a;
        }
    }
}

multiversion! {
    /// [`sparse_linear_dw`] into `out` (`[d, n_in]`).
    fn sparse_linear_dw_rows<T>(
        out: &mut [T],
        tp: &[usize],
        trows: &[u32],
        tentries: &[u32],
        vals: EntryValues<T>,
        dy: &[T],
        d: usize,
        n_in: usize,
    ) {
        out.fill(T::ZERO);
        match d {
            4 => return sparse_linear_dw_rows_d::<T, 4>(out, tp, trows, tentries, vals, dy, n_in),
            8 => return sparse_linear_dw_rows_d::<T, 8>(out, tp, trows, tentries, vals, dy, n_in),
            16 => return sparse_linear_dw_rows_d::<T, 16>(out, tp, trows, tentries, vals, dy, n_in),
            32 => return sparse_linear_dw_rows_d::<T, 32>(out, tp, trows, tentries, vals, dy, n_in),
            64 => return sparse_linear_dw_rows_d::<T, 64>(out, tp, trows, tentries, vals, dy, n_in),
            _ => {}
        }
        for c in 0..n_in {
            for p in tp[c]..tp[c + 1] {
                let g = &dy[trows[p] as usize * d..][..d];
                let v = entry_value(vals, tentries, p);
                for (j, &g) in g.iter().enumerate() {
                    out[j * n_in + c] += v * g;
                }
            }
        }
    }
}

/// Backward of [`sparse_linear`] wrt `w`: `dw[o, c] = Σ_{(i,k): idx_k = c} v_k · dy[i, o]`,
/// written straight into `dw`'s `[d, n_cols]` layout (no transpose): zeroed, then each column
/// with entries summed through the transposed CSR (increasing row order, as [`spmm_t`]: the
/// same bits) and stored. On one thread: splitting the rows of `dw` between threads (each
/// scanning every entry) measured slower on every shape this route is taken for (fewer
/// entries than columns, see README.md); the zeroing is memory-bound.
pub(crate) fn sparse_linear_dw<T: Float>(
    _cpu: &Cpu,
    csr: &Csr,
    vals: EntryValues<T>,
    dy: &Tensor<T>,
    dw: &mut Tensor<T>,
) {
    let (d, n_in) = (dy.cols, csr.n_cols());
    assert_eq!((dw.rows, dw.cols), (d, n_in));
    assert_eq!(dy.rows, csr.n_rows());
    if let EntryValues::Csr(v) | EntryValues::Transposed(v) = vals {
        assert_eq!(v.len(), csr.nnz(), "one value per entry");
    }
    if d == 0 || n_in == 0 {
        return;
    }
    let t = csr.transposed();
    sparse_linear_dw_rows(
        &mut dw.data,
        t.seg.indptr(),
        &t.rows,
        &t.entries,
        vals,
        &dy.data,
        d,
        n_in,
    )
}

/// Backward of [`sparse_linear`] wrt the entry values: `dv_k = <dy[i], w[:, idx_k]>`, as
/// [`spmm_dvals`] computes it over `wᵀ` (the column gathered, then the same dot product).
pub(crate) fn sparse_linear_dvals<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    w: &Tensor<T>,
    dy: &Tensor<T>,
    dvals: &mut [T],
) {
    let (d, n_in) = (w.rows, w.cols);
    assert_eq!(n_in, csr.n_cols());
    assert_eq!((dy.rows, dy.cols), (csr.n_rows(), d));
    assert_eq!(dvals.len(), csr.nnz());
    let (indptr, idx) = (csr.indptr(), csr.indices());
    cpu.for_segment_entries(csr.segments(), dvals, 1, d, |rows, out| {
        let base = indptr[rows.start];
        let mut col = vec![T::ZERO; d];
        for r in rows {
            let g = &dy.data[r * d..][..d];
            for k in indptr[r]..indptr[r + 1] {
                let c = idx[k] as usize;
                for (o, x) in col.iter_mut().enumerate() {
                    *x = w.data[o * n_in + c];
                }
                out[k - base] = dot(g, &col);
            }
        }
    });
}
