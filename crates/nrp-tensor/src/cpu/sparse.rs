//! CSR kernels: weighted SpMM (fused gather-multiply-reduce), segment reductions, and their
//! backward passes through the transposed CSR. No atomics: every output row is owned by one
//! task and summed in CSR order.

use super::Cpu;
use crate::{Csr, Float, Segments, Tensor};

/// `out[i] = s_i · Σ_{k in row i} v_k · x[idx_k]` (`v`, `s` default to 1).
pub(crate) fn spmm<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    vals: Option<&[T]>,
    row_scale: Option<&[T]>,
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
        for (r, o) in rows.clone().zip(chunk.chunks_exact_mut(d)) {
            let range = indptr[r]..indptr[r + 1];
            o.fill(T::ZERO);
            match vals {
                None => {
                    for &c in &idx[range] {
                        add_to(o, x.row(c as usize));
                    }
                }
                Some(v) => {
                    for k in range {
                        axpy(o, v[k], x.row(idx[k] as usize));
                    }
                }
            }
            if let Some(s) = row_scale {
                let s = s[r];
                o.iter_mut().for_each(|o| *o *= s);
            }
        }
    });
}

/// Backward of [`spmm`] wrt `x`: `dx[c] = Σ_{(i,k): idx_k = c} v_k · s_i · dy[i]`, through the
/// transposed CSR (rows in increasing order: deterministic).
pub(crate) fn spmm_t<T: Float>(
    cpu: &Cpu,
    csr: &Csr,
    vals: Option<&[T]>,
    row_scale: Option<&[T]>,
    dy: &Tensor<T>,
    dx: &mut Tensor<T>,
) {
    let d = dy.cols;
    assert_eq!((dx.rows, dx.cols), (csr.n_cols(), d));
    assert_eq!(dy.rows, csr.n_rows());
    if d == 0 {
        return;
    }
    let t = csr.transposed();
    let tp = t.seg.indptr();
    cpu.for_segments(&t.seg, &mut dx.data, d, d, |cols, chunk| {
        for (c, o) in cols.zip(chunk.chunks_exact_mut(d)) {
            o.fill(T::ZERO);
            for p in tp[c]..tp[c + 1] {
                let i = t.rows[p] as usize;
                let mut w = match vals {
                    Some(v) => v[t.entries[p] as usize],
                    None => T::ONE,
                };
                if let Some(s) = row_scale {
                    w *= s[i];
                }
                if vals.is_none() && row_scale.is_none() {
                    add_to(o, dy.row(i));
                } else {
                    axpy(o, w, dy.row(i));
                }
            }
        }
    });
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
        let base = indptr[rows.start];
        for r in rows {
            let g = dy.row(r);
            let s = row_scale.map_or(T::ONE, |s| s[r]);
            for k in indptr[r]..indptr[r + 1] {
                let xr = x.row(idx[k] as usize);
                let dot: T = g.iter().zip(xr).map(|(&a, &b)| a * b).sum();
                chunk[k - base] = s * dot;
            }
        }
    });
}

#[inline]
fn add_to<T: Float>(o: &mut [T], x: &[T]) {
    for (o, &v) in o.iter_mut().zip(x) {
        *o += v;
    }
}

#[inline]
fn axpy<T: Float>(o: &mut [T], a: T, x: &[T]) {
    for (o, &v) in o.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// `1/count` per row (0 for empty rows): the row scale of a mean.
pub(crate) fn mean_scale<T: Float>(seg: &Segments) -> Vec<T> {
    seg.indptr()
        .windows(2)
        .map(|w| {
            if w[1] > w[0] {
                T::ONE / T::from_usize(w[1] - w[0])
            } else {
                T::ZERO
            }
        })
        .collect()
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
        for (r, (o, a)) in rows.zip(o.chunks_exact_mut(d).zip(a.chunks_exact_mut(d))) {
            let range = indptr[r]..indptr[r + 1];
            if range.is_empty() {
                o.fill(T::ZERO);
                a.fill(u32::MAX);
                continue;
            }
            let first = range.start;
            let row_of = |k: usize| idx.map_or(k, |ix| ix[k] as usize);
            o.copy_from_slice(x.row(row_of(first)));
            a.fill(first as u32);
            for k in range.start + 1..range.end {
                let xr = x.row(row_of(k));
                for j in 0..d {
                    let better = if max { xr[j] > o[j] } else { xr[j] < o[j] };
                    if better {
                        o[j] = xr[j];
                        a[j] = k as u32;
                    }
                }
            }
        }
    });
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
        for (r, o) in rows.zip(chunk.chunks_exact_mut(d)) {
            o.fill(T::ZERO);
            for k in indptr[r]..indptr[r + 1] {
                add_to(o, x.row(k));
            }
            if let Some(s) = row_scale {
                let s = s[r];
                o.iter_mut().for_each(|o| *o *= s);
            }
        }
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
                for (c, o) in cols.zip(chunk.chunks_exact_mut(d)) {
                    o.fill(T::ZERO);
                    for p in tp[c]..tp[c + 1] {
                        let (i, k) = (t.rows[p] as usize, t.entries[p]);
                        let (g, a) = (dy.row(i), &arg[i * d..(i + 1) * d]);
                        for j in 0..d {
                            if a[j] == k {
                                o[j] += g[j];
                            }
                        }
                    }
                }
            });
        }
    }
}

/// `count(...)` per row as a `[n, 1]` tensor.
pub(crate) fn counts<T: Float>(seg: &Segments) -> Tensor<T> {
    Tensor::column(seg.counts().into_iter().map(T::from_usize).collect())
}

/// One-entry-per-row gather (`index_select`) fast path: `out[i] = x[idx[i]]`.
pub(crate) fn gather_rows<T: Float>(cpu: &Cpu, idx: &[u32], x: &Tensor<T>, out: &mut Tensor<T>) {
    let d = x.cols;
    assert_eq!((out.rows, out.cols), (idx.len(), d));
    cpu.for_rows(&mut out.data, d, d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            o.copy_from_slice(x.row(idx[i0 + r] as usize));
        }
    });
}
