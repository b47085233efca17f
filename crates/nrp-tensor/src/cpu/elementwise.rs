//! Element-wise unary and binary kernels with broadcasting of dimension-1 operands.

use super::Cpu;
use super::dense::col_sum;
use super::simd::multiversion;
use crate::backend::{BinaryOp, DropMask, UnaryOp};
use crate::float::{ErfTable, erf_and_slope, erf_cells};
use crate::{Float, Tensor};

const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// 1/(2 sqrt(2))
const FRAC_1_2_SQRT_2: f64 = 0.353_553_390_593_273_8;

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

/// GELU over a block (one call per chunk, so that the FMA-enabled copy inlines the loop).
#[inline(always)]
fn gelu_block<T: Float>(x: &[T], out: &mut [T], t: &ErfTable) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = gelu(v, t);
    }
}

#[inline(always)]
fn gelu_grad_block<T: Float>(x: &[T], dy: &[T], out: &mut [T], t: &ErfTable) {
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(dy) {
        *o = g * gelu_grad(v, t);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gelu_block_fma<T: Float>(x: &[T], out: &mut [T], t: &ErfTable) {
    gelu_block(x, out, t)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gelu_grad_block_fma<T: Float>(x: &[T], dy: &[T], out: &mut [T], t: &ErfTable) {
    gelu_grad_block(x, dy, out, t)
}

/// GELU (exact erf form) evaluated in f64 and rounded once (f64 tensors; f32 takes the
/// vectorised [`gelu_f32`] and [`gelu_grad_f32`], a few ulp).
#[inline(always)]
fn gelu<T: Float>(x: T, t: &ErfTable) -> T {
    let v = x.to_f64();
    let (e, _) = erf_and_slope(v * FRAC_1_SQRT_2, t);
    T::from_f64(0.5 * v * (1.0 + e))
}

/// GELU'(x) = Φ(x) + x φ(x), with φ(x) = erf'(x/√2) / (2√2).
#[inline(always)]
fn gelu_grad<T: Float>(x: T, t: &ErfTable) -> T {
    let v = x.to_f64();
    let (e, slope) = erf_and_slope(v * FRAC_1_SQRT_2, t);
    T::from_f64(0.5 * (1.0 + e) + v * slope * FRAC_1_2_SQRT_2)
}

/// `e^a` in f32, branch-free so that loops over it vectorise (Cephes' `expf`: `a = k ln 2 + r`,
/// a degree-7 polynomial in `r`, scaled by `2^k` through the exponent bits). About 1 ulp;
/// `a < -87` gives 0 (no subnormals), callers keep `a <= 0`.
#[inline(always)]
fn exp_nonpositive_f32(a: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let under = a < -87.0;
    let a = a.max(-87.0);
    let y = a * std::f32::consts::LOG2_E + MAGIC;
    let k = y - MAGIC;
    // The integer k sits in y's low mantissa bits (an `as i32` cast would not vectorise).
    let ki = (y.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = (a - k * 0.693_359_4) + k * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = p * r + c;
    }
    let e = (p * r * r + r + 1.0) * f32::from_bits(((ki + 127) << 23) as u32);
    if under { 0.0 } else { e }
}

/// `(Φ(x), e^(-x²/2))` in f32 for GELU's gradient, branch-free. Φ comes from erfc (Numerical Recipes'
/// `erfcc`, relative error below 1.2e-7 on the whole line) so that the negative tail keeps its
/// relative accuracy; `-x²/2` is carried as an exact pair (the FMA residual), so GELU is within
/// a few ulp of the exact value (checked against the f64 path in the tests).
#[inline(always)]
fn gelu_parts_f32(x: f32) -> (f32, f32) {
    const C: [f32; 10] = [
        -1.265_512_2,
        1.000_023_7,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_204,
        1.488_515_9,
        -0.822_152_2,
        0.170_872_77,
    ];
    let x = x.clamp(-20.0, 20.0); // Φ is 0 or 1 beyond; keeps x² finite
    let x2 = x * x;
    let lo = -0.5 * x.mul_add(x, -x2);
    let gauss = exp_nonpositive_f32(-0.5 * x2) * (1.0 + lo);
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let mut p = C[9];
    for &c in C[..9].iter().rev() {
        p = p * t + c;
    }
    let erfc = t * exp_nonpositive_f32(p) * gauss; // erfc(|x|/√2); p < 0 for t in (0, 1]
    let phi = if x < 0.0 {
        0.5 * erfc
    } else {
        1.0 - 0.5 * erfc
    };
    (phi, gauss)
}

multiversion! {
    /// GELU over f32 values, `x Φ(x)`: within a few ulp of the exact value (tested against
    /// the f64 table), in vector registers (the f64 table costs ~3 ns a value).
    fn gelu_f32(x: &[f32], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v * gelu_parts_f32(v).0;
        }
    }
}

multiversion! {
    /// `dy · GELU'(x)` over f32 values: `GELU' = Φ(x) + x φ(x)`.
    fn gelu_grad_f32(x: &[f32], dy: &[f32], out: &mut [f32]) {
        const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(dy) {
            let (phi, gauss) = gelu_parts_f32(v);
            // x φ(x) is 0 beyond ±20 (as in `gelu_parts_f32`), also at ±∞.
            *o = g * (phi + v.clamp(-20.0, 20.0) * FRAC_1_SQRT_2PI * gauss);
        }
    }
}

/// `s` as `f32`s when `T` is `f32` (the vectorised f32 kernels), else `None`.
fn as_f32<T: Float>(s: &[T]) -> Option<&[f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>())
        // Safety: T is f32.
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) })
}

fn as_f32_mut<T: Float>(s: &mut [T]) -> Option<&mut [f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>())
        // Safety: T is f32.
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) })
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
        UnaryOp::Gelu => {
            let t = erf_cells();
            cpu.for_rows(o, 1, 8, |start, o| {
                let x = &x[start..start + o.len()];
                if let (Some(x), Some(o)) = (as_f32(x), as_f32_mut(o)) {
                    return gelu_f32(x, o);
                }
                #[cfg(target_arch = "x86_64")]
                if super::simd::has_avx2() {
                    // Safety: the CPU has AVX2 and FMA (`mul_add` is one instruction, not a
                    // library call; the bits are the same).
                    return unsafe { gelu_block_fma(x, o, t) };
                }
                gelu_block(x, o, t)
            })
        }
        UnaryOp::Sigmoid => map1(cpu, x, o, 8, sigmoid),
        UnaryOp::Tanh => map1(cpu, x, o, 8, |v| v.tanh()),
        UnaryOp::Round => map1(cpu, x, o, 1, |v| v.round_even()),
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
        UnaryOp::Gelu => {
            let t = erf_cells();
            cpu.for_rows(o, 1, 8, |start, o| {
                let (x, g) = (&x[start..start + o.len()], &g[start..start + o.len()]);
                if let (Some(x), Some(g), Some(o)) = (as_f32(x), as_f32(g), as_f32_mut(o)) {
                    return gelu_grad_f32(x, g, o);
                }
                #[cfg(target_arch = "x86_64")]
                if super::simd::has_avx2() {
                    // Safety: as above.
                    return unsafe { gelu_grad_block_fma(x, g, o, t) };
                }
                gelu_grad_block(x, g, o, t)
            })
        }
        UnaryOp::Sigmoid => map3(cpu, x, y, g, o, 1, |_, y, g| g * y * (T::ONE - y)),
        UnaryOp::Tanh => map3(cpu, x, y, g, o, 1, |_, y, g| g * (T::ONE - y * y)),
        // Piecewise constant: PyTorch's gradient is zero everywhere.
        UnaryOp::Round => map3(cpu, x, y, g, o, 1, |_, _, _| T::ZERO),
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
        BinaryOp::Eq => zip_broadcast(cpu, a, b, o, r, c, |x, y| holds(x == y)),
        BinaryOp::Ne => zip_broadcast(cpu, a, b, o, r, c, |x, y| holds(x != y)),
        BinaryOp::Lt => zip_broadcast(cpu, a, b, o, r, c, |x, y| holds(x < y)),
        BinaryOp::Le => zip_broadcast(cpu, a, b, o, r, c, |x, y| holds(x <= y)),
        BinaryOp::Gt => zip_broadcast(cpu, a, b, o, r, c, |x, y| holds(x > y)),
        BinaryOp::Ge => zip_broadcast(cpu, a, b, o, r, c, |x, y| holds(x >= y)),
    }
}

/// A comparison's result: 1 where it holds, else 0.
#[inline(always)]
fn holds<T: Float>(c: bool) -> T {
    if c { T::ONE } else { T::ZERO }
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
    // Per-element partials as functions of (a, b, y, dy), each monomorphised so that the
    // loops inline and vectorise. An operand of shape `[r, c]` takes them directly, a
    // `[r, 1]` operand their row sums (in the order `reduce_to` would add them), any other
    // broadcast operand goes through a full temporary.
    for (wrt_a, d) in [(true, da), (false, db)] {
        let Some(d) = d else { continue };
        if d.shape() == (r, c) {
            by_partial!(op, wrt_a, partial_full(cpu, a, b, y, dy, &mut d.data));
        } else if d.shape() == (r, 1) {
            by_partial!(op, wrt_a, partial_row_sums(cpu, a, b, y, dy, &mut d.data));
        } else {
            let mut full = Tensor::zeros(r, c);
            by_partial!(op, wrt_a, partial_full(cpu, a, b, y, dy, &mut full.data));
            reduce_to(cpu, &full, d);
        }
    }
}

/// Calls `$run(args…, f)` with `f(a, b, y, dy)` the partial of `op` with respect to `a`
/// (`wrt_a`) or `b`.
macro_rules! by_partial {
    ($op:expr, $wrt_a:expr, $run:ident ( $($arg:expr),* )) => {
        match ($op, $wrt_a) {
            (BinaryOp::Add, _) | (BinaryOp::Sub, true) => $run($($arg,)* |_, _, _, g| g),
            (BinaryOp::Sub, false) => $run($($arg,)* |_, _, _, g: T| -g),
            (BinaryOp::Mul, true) => $run($($arg,)* |_, b, _, g| g * b),
            (BinaryOp::Mul, false) => $run($($arg,)* |a, _, _, g| g * a),
            (BinaryOp::Div, true) => $run($($arg,)* |_, b, _, g| g / b),
            (BinaryOp::Div, false) => $run($($arg,)* |_, b, y, g: T| -g * y / b),
            // PyTorch: d/da a^b = b a^(b-1), masked to 0 where b == 0.
            (BinaryOp::Pow, true) => $run($($arg,)* |a: T, b: T, _, g| {
                if b == T::ZERO { T::ZERO } else { g * b * a.powf(b - T::ONE) }
            }),
            // d/db a^b = a^b ln a, masked to 0 where a == 0 and b >= 0.
            (BinaryOp::Pow, false) => $run($($arg,)* |a: T, b: T, y, g| {
                if a == T::ZERO && b >= T::ZERO { T::ZERO } else { g * y * a.ln() }
            }),
            (
                BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge,
                _,
            ) => $run($($arg,)* |_, _, _, _| T::ZERO),
        }
    };
}
use by_partial;

/// Row `i` of `t` broadcast to `[_, c]`: the slice and whether it is a full row.
#[inline(always)]
fn bcast_row<T: Float>(t: &Tensor<T>, i: usize, c: usize) -> (&[T], bool) {
    let row = t.row(if t.rows == 1 { 0 } else { i });
    (row, row.len() == c)
}

/// `f` over rows `i0..` of the broadcast `(a, b)` and the full `(y, dy)`, one value per
/// element (`sink(j, value)` per row).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn partial_rows<T: Float, F: Fn(T, T, T, T) -> T>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    i: usize,
    c: usize,
    f: &F,
    o: &mut [T],
) {
    let (ar, af) = bcast_row(a, i, c);
    let (br, bf) = bcast_row(b, i, c);
    let (yr, gr) = (&y.row(i)[..c], &dy.row(i)[..c]);
    let o = &mut o[..c];
    match (af, bf) {
        (true, true) => {
            let (ar, br) = (&ar[..c], &br[..c]);
            for j in 0..c {
                o[j] = f(ar[j], br[j], yr[j], gr[j]);
            }
        }
        (true, false) => {
            let (ar, bv) = (&ar[..c], br[0]);
            for j in 0..c {
                o[j] = f(ar[j], bv, yr[j], gr[j]);
            }
        }
        (false, true) => {
            let (av, br) = (ar[0], &br[..c]);
            for j in 0..c {
                o[j] = f(av, br[j], yr[j], gr[j]);
            }
        }
        (false, false) => {
            for j in 0..c {
                o[j] = f(ar[0], br[0], yr[j], gr[j]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn partial_rows_avx2<T: Float, F: Fn(T, T, T, T) -> T>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    i: usize,
    c: usize,
    f: &F,
    o: &mut [T],
) {
    partial_rows(a, b, y, dy, i, c, f, o)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn partial_row<T: Float, F: Fn(T, T, T, T) -> T>(
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    i: usize,
    c: usize,
    f: &F,
    o: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::has_avx2() {
        // Safety: the CPU has AVX2 and FMA.
        return unsafe { partial_rows_avx2(a, b, y, dy, i, c, f, o) };
    }
    partial_rows(a, b, y, dy, i, c, f, o)
}

/// `out[i, j] = f(a, b, y, dy)` at `(i, j)`, `out` shaped like `dy`.
fn partial_full<T: Float>(
    cpu: &Cpu,
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    out: &mut [T],
    f: impl Fn(T, T, T, T) -> T + Sync + Send,
) {
    let c = dy.cols;
    if dy.rows == 0 || c == 0 {
        return;
    }
    cpu.for_rows(out, c, c, |i0, chunk| {
        for (rr, o) in chunk.chunks_exact_mut(c).enumerate() {
            partial_row(a, b, y, dy, i0 + rr, c, &f, o);
        }
    });
}

/// `out[i] = Σ_j f(a, b, y, dy)` at `(i, j)`: the gradient of a `[r, 1]` operand without a
/// `[r, c]` temporary.
fn partial_row_sums<T: Float>(
    cpu: &Cpu,
    a: &Tensor<T>,
    b: &Tensor<T>,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    out: &mut [T],
    f: impl Fn(T, T, T, T) -> T + Sync + Send,
) {
    let c = dy.cols;
    if dy.rows == 0 {
        return;
    }
    cpu.for_rows(out, 1, c, |i0, chunk| {
        let mut row = vec![T::ZERO; c];
        for (rr, o) in chunk.iter_mut().enumerate() {
            partial_row(a, b, y, dy, i0 + rr, c, &f, &mut row);
            *o = row.iter().copied().sum();
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
    cpu.for_rows(&mut out.data, 1, 1, |s, o| {
        for ((o, &v), &k) in o.iter_mut().zip(&x.data[s..]).zip(&keep[s..]) {
            *o = v * if k & 1 == 1 { scale } else { T::ZERO };
        }
    });
}

/// Draws per block of [`bias_act_dropout`]: a stack buffer that stays in L1.
const DRAW_BLOCK: usize = 1024;

pub(crate) fn bias_act_dropout<T: Float>(
    cpu: &Cpu,
    x: &Tensor<T>,
    bias: Option<&[T]>,
    relu: bool,
    mask: Option<&DropMask<T>>,
    out: &mut Tensor<T>,
    keep: Option<&mut [u8]>,
) {
    let cols = x.cols;
    assert_eq!(out.shape(), x.shape());
    assert!(bias.is_none_or(|b| b.len() == cols));
    if x.is_empty() {
        return;
    }
    // Short rows in batches whose draws fill one block; a row longer than a block in
    // pieces of a block, one row at a time.
    let piece = cols.min(DRAW_BLOCK);
    let batch = (DRAW_BLOCK / cols).max(1);
    let run = |r0: usize, o: &mut [T], k: &mut [u8]| {
        let mut draws = [0f32; DRAW_BLOCK];
        let rows = o.len() / cols;
        for b0 in (0..rows).step_by(batch) {
            let nb = batch.min(rows - b0);
            for c0 in (0..cols).step_by(piece) {
                let w = piece.min(cols - c0);
                if let Some(m) = mask {
                    let first = m
                        .draws
                        .counter()
                        .wrapping_add(((r0 + b0) * cols + c0) as u64);
                    m.draws.fill_at(first, &mut draws[..nb * w]);
                }
                if bias.is_none() && w == cols {
                    // Whole rows and nothing per column: the batch is one run (a column of
                    // sparse values would otherwise cost a call per element).
                    let at = b0 * cols;
                    let n = nb * cols;
                    let k = (!k.is_empty()).then(|| &mut k[at..at + n]);
                    let xs = &x.data[r0 * cols + at..][..n];
                    act_drop_run(xs, None, relu, mask, &draws[..n], &mut o[at..at + n], k);
                    continue;
                }
                for rr in 0..nb {
                    let at = (b0 + rr) * cols + c0;
                    let xs = &x.data[r0 * cols + at..][..w];
                    let k = (!k.is_empty()).then(|| &mut k[at..at + w]);
                    let b = bias.map(|b| &b[c0..c0 + w]);
                    act_drop_run(
                        xs,
                        b,
                        relu,
                        mask,
                        &draws[rr * w..][..w],
                        &mut o[at..at + w],
                        k,
                    );
                }
            }
        }
    };
    let work = if mask.is_some() { 4 * cols } else { cols };
    match keep {
        Some(k) => {
            assert_eq!(k.len(), x.len());
            let rows = x.rows;
            cpu.for_rows2(&mut out.data, cols, k, cols, rows, work, |r0, o, k| {
                run(r0, o, k)
            })
        }
        None => cpu.for_rows(&mut out.data, cols, work, |r0, o| run(r0, o, &mut [])),
    }
}

multiversion! {
    /// One run of at most a block: `o = drop(act(x + b))` with the run's draws `d`.
    fn act_drop_run<T>(
        x: &[T],
        b: Option<&[T]>,
        relu: bool,
        mask: Option<&DropMask<T>>,
        d: &[f32],
        o: &mut [T],
        keep: Option<&mut [u8]>,
    ) {
        let n = o.len();
        for j in 0..n {
            let mut v = x[j];
            if let Some(b) = b {
                v += b[j];
            }
            // ReLU as the unary kernel computes it: NaN and -0 become 0.
            if relu {
                v = if v > T::ZERO { v } else { T::ZERO };
            }
            o[j] = v;
        }
        if let Some(m) = mask {
            // Branch-free: the mask is random. A dropped inf/NaN gives NaN, as in PyTorch.
            let (p, scale) = (m.p, m.scale);
            for j in 0..n {
                o[j] *= if d[j] >= p { scale } else { T::ZERO };
            }
            if let Some(k) = keep {
                for j in 0..n {
                    k[j] = (d[j] >= p) as u8;
                }
            }
        }
    }
}

pub(crate) fn positive_scale<T: Float>(
    cpu: &Cpu,
    y: &Tensor<T>,
    dy: &Tensor<T>,
    scale: T,
    dx: &mut Tensor<T>,
) {
    assert!(y.shape() == dy.shape() && dx.shape() == dy.shape());
    cpu.for_rows(&mut dx.data, 1, 1, |s, o| {
        positive_scale_run(&y.data[s..s + o.len()], &dy.data[s..s + o.len()], scale, o)
    });
}

multiversion! {
    fn positive_scale_run<T>(y: &[T], dy: &[T], scale: T, o: &mut [T]) {
        for ((o, &y), &g) in o.iter_mut().zip(y).zip(dy) {
            *o = if y > T::ZERO { g * scale } else { T::ZERO };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::{erf_f64, erfc_cf};

    /// Φ(x) in f64, relatively accurate on the negative tail too.
    fn phi(x: f64) -> f64 {
        let z = x * FRAC_1_SQRT_2;
        if z < -2.0 {
            0.5 * erfc_cf(-z)
        } else {
            0.5 * (1.0 + erf_f64(z))
        }
    }

    /// The f32 GELU against `x Φ(x)` in f64: a few ulp (relative, so the negative tail,
    /// where GELU is tiny, is checked too; the f64 table rounds it to 0 below -8.5).
    #[test]
    fn f32_gelu_is_accurate() {
        let xs: Vec<f32> = (-24_000..=24_000).map(|i| i as f32 * 5e-4).collect();
        let mut y = vec![0f32; xs.len()];
        gelu_f32(&xs, &mut y);
        for (&x, &v) in xs.iter().zip(&y) {
            let want = x as f64 * phi(x as f64);
            let ulp = (want.abs() as f32).max(f32::MIN_POSITIVE) * f32::EPSILON;
            let err = (v as f64 - want).abs() / ulp as f64;
            assert!(err <= 4.0, "GELU({x}) = {v}, want {want} ({err:.1} ulp)");
        }
        let mut y = [0f32; 4];
        gelu_f32(&[f32::INFINITY, f32::NAN, -30.0, 30.0], &mut y);
        assert_eq!(y[0], f32::INFINITY);
        assert!(y[1].is_nan());
        assert_eq!((y[2], y[3]), (0.0, 30.0));
    }

    #[test]
    fn f32_gelu_gradient_is_accurate() {
        let xs: Vec<f32> = (-24_000..=24_000).map(|i| i as f32 * 5e-4).collect();
        let mut dx = vec![0f32; xs.len()];
        gelu_grad_f32(&xs, &vec![1.0; xs.len()], &mut dx);
        for (&x, &d) in xs.iter().zip(&dx) {
            let v = x as f64;
            // Φ itself within a few ulp (relative): the negative tail keeps its accuracy.
            let (p, _) = gelu_parts_f32(x);
            if phi(v) > 1e-35 {
                let rel = (p as f64 - phi(v)).abs() / phi(v);
                assert!(
                    rel < 1e-6,
                    "Φ({x}) = {p}, want {} (relative {rel:e})",
                    phi(v)
                );
            }
            let slope = phi(v) + v * (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let err = (d as f64 - slope).abs();
            assert!(err < 5e-7, "GELU'({x}) = {d}, want {slope} (error {err:e})");
        }
        let mut d = [0f32; 3];
        gelu_grad_f32(&[f32::INFINITY, f32::NAN, -30.0], &[1.0; 3], &mut d);
        assert_eq!(d[0], 1.0);
        assert!(d[1].is_nan());
        assert_eq!(d[2], 0.0);
    }
}
