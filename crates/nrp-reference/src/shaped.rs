//! Embeddings with a shape, evaluated naively from coordinates: each value of a result is
//! found by turning its flat index into coordinates and reading the operands there. This is
//! the oracle for the engine, which moves data with precomputed column maps instead.

use nrp_sema::Shape;

/// The coordinates of flat index `i` in `dims` (row-major).
fn coords(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut c = vec![0; dims.len()];
    for (axis, &d) in dims.iter().enumerate().rev() {
        c[axis] = i % d;
        i /= d;
    }
    c
}

/// The flat index of `c` in `dims`.
fn flat(c: &[usize], dims: &[usize]) -> usize {
    c.iter().zip(dims).fold(0, |acc, (&x, &d)| acc * d + x)
}

/// `f(a, b)` element-wise over `out`'s shape, each operand read with trailing axes of
/// size 1 added to its shape and every axis of size 1 stretched.
pub fn broadcast(
    (a, sa): (&[f64], &Shape),
    (b, sb): (&[f64], &Shape),
    out: &Shape,
    f: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let n = out.numel().expect("a known shape");
    let read = |v: &[f64], s: &Shape, c: &[usize]| {
        if v.len() == 1 {
            return v[0];
        }
        let mut dims = s.0.clone();
        dims.resize(c.len(), 1);
        let at: Vec<usize> = c
            .iter()
            .zip(&dims)
            .map(|(&x, &d)| if d == 1 { 0 } else { x })
            .collect();
        v[flat(&at, &dims)]
    };
    (0..n)
        .map(|i| {
            let c = coords(i, &out.0);
            f(read(a, sa, &c), read(b, sb, &c))
        })
        .collect()
}

/// `a @ b` of one fact: a vector on the left is a row, on the right a column; leading axes
/// beyond the last two index a batch of matrices, the same on both sides.
pub fn matmul((a, sa): (&[f64], &Shape), (b, sb): (&[f64], &Shape)) -> Vec<f64> {
    let last2 = |s: &Shape, left: bool| match s.0[..] {
        [k] if left => (1, k),
        [k] => (k, 1),
        [.., r, c] => (r, c),
        [] => unreachable!("sema admits no scalar"),
    };
    let ((m, k), (_, p)) = (last2(sa, true), last2(sb, false));
    let batch = a.len() / (m * k);
    let mut out = vec![0.0; batch * m * p];
    for h in 0..batch {
        for i in 0..m {
            for j in 0..p {
                out[h * m * p + i * p + j] = (0..k)
                    .map(|t| a[h * m * k + i * k + t] * b[h * k * p + t * p + j])
                    .sum();
            }
        }
    }
    out
}

/// A fact's transpose: the last two axes swapped (a vector `(d,)` is already the column it
/// becomes, in the same order).
pub fn transpose(x: &[f64], s: &Shape) -> Vec<f64> {
    let n = s.rank();
    if n < 2 {
        return x.to_vec();
    }
    let mut out_dims = s.0.clone();
    out_dims.swap(n - 2, n - 1);
    (0..x.len())
        .map(|i| {
            let mut c = coords(i, &out_dims);
            c.swap(n - 2, n - 1);
            x[flat(&c, &s.0)]
        })
        .collect()
}
