//! Row-wise kernels: softmax, log-softmax, layer norm, concat/split, argmax, one-hot.

use super::Cpu;
use super::dense::col_sum;
use crate::{Float, Tensor};

/// `out = softmax(x)` or `log_softmax(x)` per row, max-shifted for stability.
pub(crate) fn softmax<T: Float>(cpu: &Cpu, x: &Tensor<T>, out: &mut Tensor<T>, log: bool) {
    let d = x.cols;
    cpu.for_rows(&mut out.data, d, 4 * d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            let xr = x.row(i0 + r);
            let m = xr.iter().fold(T::NEG_INFINITY, |m, &v| m.max(v));
            let m = if m == T::NEG_INFINITY { T::ZERO } else { m };
            let mut s = T::ZERO;
            for (o, &v) in o.iter_mut().zip(xr) {
                *o = (v - m).exp();
                s += *o;
            }
            if log {
                // (x - m) - ln s, as PyTorch: never forms x - (m + ln s) at magnitude m.
                let ls = s.ln();
                for (o, &v) in o.iter_mut().zip(xr) {
                    *o = (v - m) - ls;
                }
            } else {
                let inv = T::ONE / s;
                o.iter_mut().for_each(|o| *o *= inv);
            }
        }
    });
}

/// softmax: `dx = y ⊙ (dy − <dy, y>)`; log_softmax: `dx = dy − exp(y) Σ dy`.
pub(crate) fn softmax_backward<T: Float>(
    cpu: &Cpu,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    dx: &mut Tensor<T>,
    log: bool,
) {
    let d = y.cols;
    cpu.for_rows(&mut dx.data, d, 4 * d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            let (yr, g) = (y.row(i0 + r), dy.row(i0 + r));
            if log {
                let s: T = g.iter().copied().sum();
                for ((o, &yv), &gv) in o.iter_mut().zip(yr).zip(g) {
                    *o = gv - yv.exp() * s;
                }
            } else {
                let dot: T = g.iter().zip(yr).map(|(&a, &b)| a * b).sum();
                for ((o, &yv), &gv) in o.iter_mut().zip(yr).zip(g) {
                    *o = yv * (gv - dot);
                }
            }
        }
    });
}

/// Layer norm over each row (biased variance, as PyTorch): `y = (x − μ)·rstd·w + b`.
/// `stats` receives `(μ, rstd)` per row for the backward pass.
pub(crate) fn layer_norm<T: Float>(
    cpu: &Cpu,
    x: &Tensor<T>,
    w: Option<&[T]>,
    b: Option<&[T]>,
    eps: f64,
    out: &mut Tensor<T>,
    stats: &mut [T],
) {
    let d = x.cols;
    assert_eq!(stats.len(), 2 * x.rows);
    let eps = T::from_f64(eps);
    let inv_d = T::ONE / T::from_usize(d.max(1));
    cpu.for_rows2(&mut out.data, d, stats, 2, x.rows, 4 * d, |i0, o, st| {
        for (r, (o, st)) in o
            .chunks_exact_mut(d.max(1))
            .zip(st.chunks_exact_mut(2))
            .enumerate()
        {
            let xr = x.row(i0 + r);
            // The corrected two-pass mean: a second pass removes the first one's rounding,
            // so a constant row has exactly its value as mean and zero variance (as PyTorch's
            // Welford moments give), not an error that 1/sqrt(var + eps) amplifies ~300-fold.
            let mu = xr.iter().copied().sum::<T>() * inv_d;
            let mu = mu + xr.iter().map(|&v| v - mu).sum::<T>() * inv_d;
            let var = xr.iter().map(|&v| (v - mu) * (v - mu)).sum::<T>() * inv_d;
            let rstd = T::ONE / (var + eps).sqrt();
            st[0] = mu;
            st[1] = rstd;
            for (j, (o, &v)) in o.iter_mut().zip(xr).enumerate() {
                let h = (v - mu) * rstd;
                *o = match (w, b) {
                    (Some(w), Some(b)) => h * w[j] + b[j],
                    (Some(w), None) => h * w[j],
                    (None, Some(b)) => h + b[j],
                    (None, None) => h,
                };
            }
        }
    });
}

/// Backward of [`layer_norm`]: `dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂))` with `ĝ = dy⊙w`;
/// `dw = Σ_rows dy⊙x̂`, `db = Σ_rows dy` (fixed-block sums).
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_norm_backward<T: Float>(
    cpu: &Cpu,
    x: &Tensor<T>,
    w: Option<&[T]>,
    stats: &[T],
    dy: &Tensor<T>,
    dx: Option<&mut Tensor<T>>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
) {
    let d = x.cols;
    let inv_d = T::ONE / T::from_usize(d.max(1));
    let xhat = |i: usize, j: usize| (x.data[i * d + j] - stats[2 * i]) * stats[2 * i + 1];
    if let Some(dx) = dx {
        cpu.for_rows(&mut dx.data, d, 6 * d, |i0, chunk| {
            for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
                let i = i0 + r;
                let g = dy.row(i);
                let gh = |j: usize| w.map_or(g[j], |w| g[j] * w[j]);
                let (mut s1, mut s2) = (T::ZERO, T::ZERO);
                for j in 0..d {
                    s1 += gh(j);
                    s2 += gh(j) * xhat(i, j);
                }
                let (m1, m2) = (s1 * inv_d, s2 * inv_d);
                let rstd = stats[2 * i + 1];
                for (j, o) in o.iter_mut().enumerate() {
                    *o = rstd * (gh(j) - m1 - xhat(i, j) * m2);
                }
            }
        });
    }
    if let Some(dw) = dw {
        let prod = Tensor::new(
            x.rows,
            d,
            (0..x.rows * d)
                .map(|p| dy.data[p] * xhat(p / d.max(1), p % d.max(1)))
                .collect(),
        );
        col_sum(cpu, &prod, dw);
    }
    if let Some(db) = db {
        col_sum(cpu, dy, db);
    }
}

/// Column-wise concatenation.
pub(crate) fn concat<T: Float>(cpu: &Cpu, xs: &[&Tensor<T>], out: &mut Tensor<T>) {
    let d = out.cols;
    cpu.for_rows(&mut out.data, d, d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d.max(1)).enumerate() {
            let mut off = 0;
            for x in xs {
                o[off..off + x.cols].copy_from_slice(x.row(i0 + r));
                off += x.cols;
            }
        }
    });
}

/// Columns `start..start+out.cols` of `x` (the backward of [`concat`]).
pub(crate) fn split_cols<T: Float>(cpu: &Cpu, x: &Tensor<T>, start: usize, out: &mut Tensor<T>) {
    let d = out.cols;
    cpu.for_rows(&mut out.data, d, d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            o.copy_from_slice(&x.row(i0 + r)[start..start + d]);
        }
    });
}

/// Index of the first maximum of each row (NaN counts as maximal, as in PyTorch); `[n, 1]`.
/// Rows of width 0 give 0.
pub(crate) fn argmax<T: Float>(x: &Tensor<T>, out: &mut [T]) {
    for (i, o) in out.iter_mut().enumerate() {
        let r = x.row(i);
        let mut best = 0;
        for j in 1..r.len() {
            if r[best].is_nan() {
                break;
            }
            if r[j] > r[best] || r[j].is_nan() {
                best = j;
            }
        }
        *o = T::from_usize(best);
    }
}

/// `out[r, c] = x[r, c] · a[r, c / k]` with `k = d / heads` (`a` is `[n, heads]`): each
/// head's block of coordinates scaled by the head's weight, `x ⊙ Repeat(k)(a)` without the
/// repeated matrix; without `x`, `Repeat(k)(a)` itself (a copy: exact, and an infinity
/// stays in its block). Also the backward of [`head_dot`].
pub(crate) fn head_scale<T: Float>(
    cpu: &Cpu,
    x: Option<&Tensor<T>>,
    a: &Tensor<T>,
    out: &mut Tensor<T>,
) {
    let (d, heads) = (out.cols, a.cols);
    assert!(heads > 0 && d.is_multiple_of(heads) && a.rows == out.rows);
    assert!(x.is_none_or(|x| x.shape() == out.shape()));
    let k = d / heads;
    cpu.for_rows(&mut out.data, d, d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            let ar = a.row(i0 + r);
            match x {
                Some(x) => {
                    let xr = x.row(i0 + r);
                    for ((o, xb), &w) in o.chunks_exact_mut(k).zip(xr.chunks_exact(k)).zip(ar) {
                        o.iter_mut().zip(xb).for_each(|(o, &v)| *o = v * w);
                    }
                }
                None => {
                    for (o, &w) in o.chunks_exact_mut(k).zip(ar) {
                        o.fill(w);
                    }
                }
            }
        }
    });
}

/// `out[r, h] = Σ_{j < k} x[r, hk + j] · y[r, hk + j]` with `k = d / heads` (summed in
/// order of `j`): per-head dot products, `HeadSum(heads)(x ⊙ y)` without the product;
/// without `y`, `HeadSum(heads)(x)`. Also the weight gradient of [`head_scale`].
pub(crate) fn head_dot<T: Float>(
    cpu: &Cpu,
    x: &Tensor<T>,
    y: Option<&Tensor<T>>,
    out: &mut Tensor<T>,
) {
    let (d, heads) = (x.cols, out.cols);
    assert!(heads > 0 && d.is_multiple_of(heads));
    assert!(y.is_none_or(|y| y.shape() == x.shape()));
    assert_eq!(out.rows, x.rows);
    let k = d / heads;
    cpu.for_rows(&mut out.data, heads, d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(heads).enumerate() {
            let xr = x.row(i0 + r);
            match y {
                Some(y) => {
                    let yr = y.row(i0 + r);
                    for ((o, xb), yb) in
                        o.iter_mut().zip(xr.chunks_exact(k)).zip(yr.chunks_exact(k))
                    {
                        *o = xb.iter().zip(yb).fold(T::ZERO, |s, (&u, &v)| s + u * v);
                    }
                }
                None => {
                    for (o, xb) in o.iter_mut().zip(xr.chunks_exact(k)) {
                        *o = xb.iter().fold(T::ZERO, |s, &u| s + u);
                    }
                }
            }
        }
    });
}
