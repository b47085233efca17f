//! Loss kernels (PyTorch semantics). Each computes per-row (cross-entropy) or per-element
//! losses; the `mean` reduction is applied by the caller with a deterministic sum.

use super::Cpu;
use crate::backend::PointLoss;
use crate::error::{Result, TensorError};
use crate::{Float, Tensor};

/// Validates class indices held as floats in a `[n, 1]` tensor.
pub(crate) fn class_indices<T: Float>(
    op: &'static str,
    t: &Tensor<T>,
    classes: usize,
) -> Result<Vec<u32>> {
    if t.cols != 1 {
        return Err(TensorError::Shape {
            op,
            detail: format!("indices must be [n, 1], got [{}, {}]", t.rows, t.cols),
        });
    }
    t.data
        .iter()
        .enumerate()
        .map(|(row, &v)| {
            let f = v.to_f64();
            if f.fract() == 0.0 && f >= 0.0 && f < classes as f64 {
                Ok(f as u32)
            } else {
                Err(TensorError::Index {
                    op,
                    row,
                    value: f,
                    limit: classes,
                })
            }
        })
        .collect()
}

/// Per-row cross-entropy `logsumexp(x_i) − x_i[t_i]` into `out` (`[n, 1]`).
pub(crate) fn cross_entropy<T: Float>(cpu: &Cpu, x: &Tensor<T>, t: &[u32], out: &mut [T]) {
    let c = x.cols;
    cpu.for_rows(out, 1, 4 * c, |i0, o| {
        for (r, o) in o.iter_mut().enumerate() {
            let xr = x.row(i0 + r);
            let m = xr.iter().fold(T::NEG_INFINITY, |m, &v| m.max(v));
            let s: T = xr.iter().map(|&v| (v - m).exp()).sum();
            *o = s.ln() - (xr[t[i0 + r] as usize] - m); // −log_softmax[t], as PyTorch
        }
    });
}

/// `dx_i = g_i · (softmax(x_i) − onehot(t_i))`, with `g_i = row_grad[i]` or the scalar `g`.
pub(crate) fn cross_entropy_backward<T: Float>(
    cpu: &Cpu,
    x: &Tensor<T>,
    t: &[u32],
    row_grad: Option<&[T]>,
    g: T,
    dx: &mut Tensor<T>,
) {
    let c = x.cols;
    cpu.for_rows(&mut dx.data, c, 4 * c, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(c).enumerate() {
            let i = i0 + r;
            let xr = x.row(i);
            let gi = row_grad.map_or(g, |rg| rg[i]);
            let m = xr.iter().fold(T::NEG_INFINITY, |m, &v| m.max(v));
            let mut s = T::ZERO;
            for (o, &v) in o.iter_mut().zip(xr) {
                *o = (v - m).exp();
                s += *o;
            }
            let k = gi / s;
            o.iter_mut().for_each(|o| *o *= k);
            o[t[i] as usize] -= gi;
        }
    });
}

#[inline]
fn point<T: Float>(kind: PointLoss, a: T, b: T) -> T {
    match kind {
        PointLoss::Mse => (a - b) * (a - b),
        PointLoss::L1 => (a - b).abs(),
        // max(x, 0) − x·y + log(1 + exp(−|x|))
        PointLoss::BceWithLogits => a.max(T::ZERO) - a * b + (-a.abs()).exp().ln_1p(),
        // (y − 1)·max(log(1 − p), −100) − y·max(log p, −100), PyTorch's CPU kernel.
        PointLoss::Bce => {
            let (log_p, log_q) = bce_logs(a);
            (b - T::ONE) * log_q - b * log_p
        }
    }
}

/// `(max(log p, −100), max(log(1 − p), −100))`: PyTorch clamps both logs of `BCELoss`, so
/// that a probability of exactly 0 or 1 gives a finite loss.
#[inline]
fn bce_logs<T: Float>(p: T) -> (T, T) {
    let floor = T::from_f64(-100.0);
    (p.ln().max(floor), (-p).ln_1p().max(floor))
}

/// `(∂/∂a, ∂/∂b)` of the point loss.
#[inline]
fn point_grad<T: Float>(kind: PointLoss, a: T, b: T) -> (T, T) {
    match kind {
        PointLoss::Mse => {
            let g = T::from_f64(2.0) * (a - b);
            (g, -g)
        }
        PointLoss::L1 => {
            let s = if a > b {
                T::ONE
            } else if a < b {
                -T::ONE
            } else {
                T::ZERO
            };
            (s, -s)
        }
        PointLoss::BceWithLogits => {
            let sig = if a >= T::ZERO {
                T::ONE / (T::ONE + (-a).exp())
            } else {
                let e = a.exp();
                e / (T::ONE + e)
            };
            (sig - b, -a)
        }
        PointLoss::Bce => {
            // PyTorch's backward: (p − y) / max((1 − p)·p, 1e−12); towards the target, the
            // derivative of the clamped forward.
            let eps = T::from_f64(1e-12);
            let (log_p, log_q) = bce_logs(a);
            ((a - b) / ((T::ONE - a) * a).max(eps), log_q - log_p)
        }
    }
}

pub(crate) fn point_loss<T: Float>(
    cpu: &Cpu,
    kind: PointLoss,
    a: &Tensor<T>,
    b: &Tensor<T>,
    out: &mut [T],
) {
    cpu.for_rows(out, 1, 8, |s, o| {
        for (k, o) in o.iter_mut().enumerate() {
            *o = point(kind, a.data[s + k], b.data[s + k]);
        }
    });
}

/// Gradients of the point loss scaled by `dy[k]` (or the scalar `g`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn point_loss_backward<T: Float>(
    cpu: &Cpu,
    kind: PointLoss,
    a: &Tensor<T>,
    b: &Tensor<T>,
    dy: Option<&[T]>,
    g: T,
    da: Option<&mut [T]>,
    wrt_a: bool,
) {
    let Some(da) = da else { return };
    cpu.for_rows(da, 1, 8, |s, o| {
        for (k, o) in o.iter_mut().enumerate() {
            let (ga, gb) = point_grad(kind, a.data[s + k], b.data[s + k]);
            let gk = dy.map_or(g, |dy| dy[s + k]);
            *o = gk * if wrt_a { ga } else { gb };
        }
    });
}
