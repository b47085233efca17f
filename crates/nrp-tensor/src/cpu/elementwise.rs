//! Element-wise unary and binary kernels with broadcasting of dimension-1 operands.

use super::Cpu;
use super::dense::col_sum;
use crate::backend::{BinaryOp, UnaryOp};
use crate::{Float, Tensor};

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// 1/sqrt(2*pi)
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

#[inline]
fn sigmoid<T: Float>(x: T) -> T {
    // Stable on both tails.
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

#[inline]
fn gelu<T: Float>(x: T) -> T {
    // Exact erf form, evaluated in f64 and rounded once.
    let v = x.to_f64();
    T::from_f64(0.5 * v * (1.0 + crate::float::erf_f64(v * FRAC_1_SQRT_2)))
}

#[inline]
fn gelu_grad<T: Float>(x: T) -> T {
    let v = x.to_f64();
    let cdf = 0.5 * (1.0 + crate::float::erf_f64(v * FRAC_1_SQRT_2));
    T::from_f64(cdf + v * FRAC_1_SQRT_2PI * (-0.5 * v * v).exp())
}

fn map1<T: Float>(
    cpu: &Cpu,
    x: &[T],
    out: &mut [T],
    cost: usize,
    f: impl Fn(T) -> T + Sync + Send,
) {
    assert_eq!(x.len(), out.len());
    cpu.for_rows(out, 1, cost, |start, o| {
        for (o, &v) in o.iter_mut().zip(&x[start..]) {
            *o = f(v);
        }
    });
}

fn map3<T: Float>(
    cpu: &Cpu,
    x: &[T],
    y: &[T],
    dy: &[T],
    out: &mut [T],
    cost: usize,
    f: impl Fn(T, T, T) -> T + Sync + Send,
) {
    assert!(x.len() == out.len() && y.len() == out.len() && dy.len() == out.len());
    cpu.for_rows(out, 1, cost, |s, o| {
        for (i, o) in o.iter_mut().enumerate() {
            *o = f(x[s + i], y[s + i], dy[s + i]);
        }
    });
}

pub(crate) fn unary<T: Float>(cpu: &Cpu, op: UnaryOp, x: &Tensor<T>, out: &mut Tensor<T>) {
    let (x, o) = (&x.data[..], &mut out.data[..]);
    match op {
        UnaryOp::Neg => map1(cpu, x, o, 1, |v| -v),
        UnaryOp::Exp => map1(cpu, x, o, 8, |v| v.exp()),
        UnaryOp::Log => map1(cpu, x, o, 8, |v| v.ln()),
        UnaryOp::Sqrt => map1(cpu, x, o, 4, |v| v.sqrt()),
        UnaryOp::Abs => map1(cpu, x, o, 1, |v| v.abs()),
        UnaryOp::Relu => map1(cpu, x, o, 1, |v| if v > T::ZERO { v } else { T::ZERO }),
        UnaryOp::LeakyRelu(s) => {
            let s = T::from_f64(s);
            map1(cpu, x, o, 1, move |v| if v > T::ZERO { v } else { v * s })
        }
        UnaryOp::Elu(a) => {
            let a = T::from_f64(a);
            map1(cpu, x, o, 8, move |v| {
                if v > T::ZERO {
                    v
                } else {
                    a * ((v).exp() - T::ONE)
                }
            })
        }
        UnaryOp::Gelu => map1(cpu, x, o, 16, gelu),
        UnaryOp::Sigmoid => map1(cpu, x, o, 8, sigmoid),
        UnaryOp::Tanh => map1(cpu, x, o, 8, |v| v.tanh()),
    }
}

/// `dx = dy * f'(x)`, given the forward input `x` and output `y`. Conventions at kinks follow
/// PyTorch: relu'(0) = 0, |x|'(0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha.
pub(crate) fn unary_backward<T: Float>(
    cpu: &Cpu,
    op: UnaryOp,
    x: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    dx: &mut Tensor<T>,
) {
    let (x, y, g, o) = (&x.data[..], &y.data[..], &dy.data[..], &mut dx.data[..]);
    let two = T::from_f64(2.0);
    match op {
        UnaryOp::Neg => map3(cpu, x, y, g, o, 1, |_, _, g| -g),
        UnaryOp::Exp => map3(cpu, x, y, g, o, 1, |_, y, g| g * y),
        UnaryOp::Log => map3(cpu, x, y, g, o, 1, |x, _, g| g / x),
        UnaryOp::Sqrt => map3(cpu, x, y, g, o, 1, move |_, y, g| g / (two * y)),
        UnaryOp::Abs => map3(cpu, x, y, g, o, 1, |x, _, g| {
            if x > T::ZERO {
                g
            } else if x < T::ZERO {
                -g
            } else {
                T::ZERO
            }
        }),
        UnaryOp::Relu => map3(
            cpu,
            x,
            y,
            g,
            o,
            1,
            |_, y, g| if y > T::ZERO { g } else { T::ZERO },
        ),
        UnaryOp::LeakyRelu(s) => {
            let s = T::from_f64(s);
            map3(
                cpu,
                x,
                y,
                g,
                o,
                1,
                move |x, _, g| if x > T::ZERO { g } else { g * s },
            )
        }
        UnaryOp::Elu(a) => {
            let a = T::from_f64(a);
            map3(cpu, x, y, g, o, 1, move |x, y, g| {
                if x > T::ZERO { g } else { g * (y + a) }
            })
        }
        UnaryOp::Gelu => map3(cpu, x, y, g, o, 16, |x, _, g| g * gelu_grad(x)),
        UnaryOp::Sigmoid => map3(cpu, x, y, g, o, 1, |_, y, g| g * y * (T::ONE - y)),
        UnaryOp::Tanh => map3(cpu, x, y, g, o, 1, |_, y, g| g * (T::ONE - y * y)),
    }
}

/// The broadcast output shape of `a op b`, or `None` when the shapes are incompatible.
pub fn broadcast_shape(a: (usize, usize), b: (usize, usize)) -> Option<(usize, usize)> {
    let dim = |x: usize, y: usize| {
        if x == y || y == 1 {
            Some(x)
        } else if x == 1 {
            Some(y)
        } else {
            None
        }
    };
    Some((dim(a.0, b.0)?, dim(a.1, b.1)?))
}

#[inline(always)]
fn broadcast_rows<T: Float, F: Fn(T, T) -> T>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    chunk: &mut [T],
    i0: usize,
    cols: usize,
    f: F,
) {
    for (r, o) in chunk.chunks_exact_mut(cols).enumerate() {
        let i = i0 + r;
        let ar = a.row(if a.rows == 1 { 0 } else { i });
        let br = b.row(if b.rows == 1 { 0 } else { i });
        match (ar.len() == cols, br.len() == cols) {
            (true, true) => o
                .iter_mut()
                .zip(ar.iter().zip(br))
                .for_each(|(o, (&x, &y))| *o = f(x, y)),
            (true, false) => {
                let y = br[0];
                o.iter_mut().zip(ar).for_each(|(o, &x)| *o = f(x, y))
            }
            (false, true) => {
                let x = ar[0];
                o.iter_mut().zip(br).for_each(|(o, &y)| *o = f(x, y))
            }
            (false, false) => o.fill(f(ar[0], br[0])),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn broadcast_rows_avx2<T: Float, F: Fn(T, T) -> T>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    chunk: &mut [T],
    i0: usize,
    cols: usize,
    f: F,
) {
    broadcast_rows(a, b, chunk, i0, cols, f)
}

/// Applies `f` over the broadcast of `a` and `b` into `out` (shape checked by the caller).
#[inline]
fn zip_broadcast<T: Float>(
    cpu: &Cpu,
    a: &Tensor<T>,
    b: &Tensor<T>,
    out: &mut [T],
    rows: usize,
    cols: usize,
    f: impl Fn(T, T) -> T + Sync + Send + Copy,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    cpu.for_rows(out, cols, cols, |i0, chunk| {
        #[cfg(target_arch = "x86_64")]
        if super::simd::has_avx2() {
            // Safety: the CPU has AVX2 and FMA.
            return unsafe { broadcast_rows_avx2(a, b, chunk, i0, cols, f) };
        }
        broadcast_rows(a, b, chunk, i0, cols, f)
    });
}

#[inline]
fn pow<T: Float>(a: T, b: T) -> T {
    a.powf(b)
}

pub(crate) fn binary<T: Float>(
    cpu: &Cpu,
    op: BinaryOp,
    a: &Tensor<T>,
    b: &Tensor<T>,
    out: &mut Tensor<T>,
) {
    let (r, c) = (out.rows, out.cols);
    let o = &mut out.data[..];
    match op {
        BinaryOp::Add => zip_broadcast(cpu, a, b, o, r, c, |x, y| x + y),
        BinaryOp::Sub => zip_broadcast(cpu, a, b, o, r, c, |x, y| x - y),
        BinaryOp::Mul => zip_broadcast(cpu, a, b, o, r, c, |x, y| x * y),
        BinaryOp::Div => zip_broadcast(cpu, a, b, o, r, c, |x, y| x / y),
        BinaryOp::Pow => zip_broadcast(cpu, a, b, o, r, c, pow),
        BinaryOp::Eq => zip_broadcast(
            cpu,
            a,
            b,
            o,
            r,
            c,
            |x, y| if x == y { T::ONE } else { T::ZERO },
        ),
    }
}

/// Gradients of `y = a op b` given `dy`; `da`/`db` (when requested) have the shapes of `a`/`b`,
/// so broadcast dimensions are summed (rows in fixed blocks, deterministic).
#[allow(clippy::too_many_arguments)]
pub(crate) fn binary_backward<T: Float>(
    cpu: &Cpu,
    op: BinaryOp,
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    da: Option<&mut Tensor<T>>,
    db: Option<&mut Tensor<T>>,
) {
    let (r, c) = (dy.rows, dy.cols);
    // Add/Sub pass dy through: reduce it straight into the operand's shape.
    if matches!(op, BinaryOp::Add | BinaryOp::Sub) {
        if let Some(da) = da {
            reduce_to(cpu, dy, da);
        }
        if let Some(db) = db {
            reduce_to(cpu, dy, db);
            if op == BinaryOp::Sub {
                db.data.iter_mut().for_each(|v| *v = -*v);
            }
        }
        return;
    }
    // Per-element partials as functions of (a, b, y, dy).
    if let Some(da) = da {
        let mut full = if da.shape() == (r, c) {
            None
        } else {
            Some(Tensor::zeros(r, c))
        };
        {
            let dst = full.as_mut().map_or(&mut da.data[..], |t| &mut t.data[..]);
            partial(cpu, op, true, a, b, y, dy, dst);
        }
        if let Some(full) = full {
            reduce_to(cpu, &full, da);
        }
    }
    if let Some(db) = db {
        let mut full = if db.shape() == (r, c) {
            None
        } else {
            Some(Tensor::zeros(r, c))
        };
        {
            let dst = full.as_mut().map_or(&mut db.data[..], |t| &mut t.data[..]);
            partial(cpu, op, false, a, b, y, dy, dst);
        }
        if let Some(full) = full {
            reduce_to(cpu, &full, db);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn partial<T: Float>(
    cpu: &Cpu,
    op: BinaryOp,
    wrt_a: bool,
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    out: &mut [T],
) {
    let (r, c) = (dy.rows, dy.cols);
    if r == 0 || c == 0 {
        return;
    }
    let at = |t: &Tensor<T>, i: usize, j: usize| {
        t.data[if t.rows == 1 { 0 } else { i } * t.cols + if t.cols == 1 { 0 } else { j }]
    };
    // (a, b, y, dy) -> partial
    let f: fn(T, T, T, T) -> T = match (op, wrt_a) {
        (BinaryOp::Add, _) => |_, _, _, g| g,
        (BinaryOp::Sub, true) => |_, _, _, g| g,
        (BinaryOp::Sub, false) => |_, _, _, g| -g,
        (BinaryOp::Mul, true) => |_, b, _, g| g * b,
        (BinaryOp::Mul, false) => |a, _, _, g| g * a,
        (BinaryOp::Div, true) => |_, b, _, g| g / b,
        (BinaryOp::Div, false) => |_, b, y, g| -g * y / b,
        // PyTorch: d/da a^b = b a^(b-1), masked to 0 where b == 0.
        (BinaryOp::Pow, true) => |a, b, _, g| {
            if b == T::ZERO {
                T::ZERO
            } else {
                g * b * a.powf(b - T::ONE)
            }
        },
        // d/db a^b = a^b ln a, masked to 0 where a == 0 and b >= 0.
        (BinaryOp::Pow, false) => |a, b, y, g| {
            if a == T::ZERO && b >= T::ZERO {
                T::ZERO
            } else {
                g * y * a.ln()
            }
        },
        (BinaryOp::Eq, _) => |_, _, _, _| T::ZERO,
    };
    cpu.for_rows(out, c, c, |i0, chunk| {
        for (rr, o) in chunk.chunks_exact_mut(c).enumerate() {
            let i = i0 + rr;
            for (j, o) in o.iter_mut().enumerate() {
                *o = f(
                    at(a, i, j),
                    at(b, i, j),
                    y.data[i * c + j],
                    dy.data[i * c + j],
                );
            }
        }
    });
}

/// Sums a full `[r, c]` gradient down to a broadcast operand's shape (`[r,1]`, `[1,c]`, `[1,1]`).
pub(crate) fn reduce_to<T: Float>(cpu: &Cpu, full: &Tensor<T>, out: &mut Tensor<T>) {
    let (r, c) = full.shape();
    match (out.rows == r, out.cols == c) {
        (true, true) => out.data.copy_from_slice(&full.data),
        (true, false) => {
            // [r, 1]: row sums.
            cpu.for_rows(&mut out.data, 1, c, |i0, o| {
                for (k, o) in o.iter_mut().enumerate() {
                    *o = full.row(i0 + k).iter().copied().sum();
                }
            })
        }
        (false, true) => col_sum(cpu, full, &mut out.data),
        (false, false) => {
            let mut cs = vec![T::ZERO; c];
            col_sum(cpu, full, &mut cs);
            out.data[0] = cs.into_iter().sum();
        }
    }
}

/// `out = keep ? x · scale : 0`.
pub(crate) fn mask_scale<T: Float>(
    cpu: &Cpu,
    x: &Tensor<T>,
    keep: &[u8],
    scale: T,
    out: &mut Tensor<T>,
) {
    assert!(x.len() == keep.len() && out.len() == keep.len());
    // Branch-free (the mask is random: a branch mispredicts half the time). Like PyTorch's
    // `x * mask / (1 - p)`, a dropped inf/NaN gives NaN.
    let sc = [T::ZERO, scale];
    cpu.for_rows(&mut out.data, 1, 1, |s, o| {
        for ((o, &v), &k) in o.iter_mut().zip(&x.data[s..]).zip(&keep[s..]) {
            *o = v * sc[(k & 1) as usize];
        }
    });
}
