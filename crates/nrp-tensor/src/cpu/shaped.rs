//! Kernels for embeddings with a shape: each row holds one fact's tensor, flattened in
//! row-major order. A rearrangement of a row's coordinates (a per-fact transpose, the
//! broadcast of a lower-rank operand) is a column map; a per-fact matrix product is a small
//! GEMM per row.

use super::Cpu;
use crate::{Float, Tensor};

/// `out[r, j] = x[r, map[j]]`.
pub(crate) fn col_gather<T: Float>(cpu: &Cpu, x: &Tensor<T>, map: &[u32], out: &mut Tensor<T>) {
    let d = map.len();
    assert_eq!(out.cols, d);
    assert_eq!(out.rows, x.rows);
    assert!(map.iter().all(|&j| (j as usize) < x.cols));
    cpu.for_rows(&mut out.data, d, d, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            let xr = x.row(i0 + r);
            o.iter_mut()
                .zip(map)
                .for_each(|(o, &j)| *o = xr[j as usize]);
        }
    });
}

/// `dx[r, i] = Σ_{j : map[j] = i} g[r, j]`, summed in order of `j`: the gradient of
/// [`col_gather`].
pub(crate) fn col_scatter<T: Float>(cpu: &Cpu, g: &Tensor<T>, map: &[u32], dx: &mut Tensor<T>) {
    let d = dx.cols;
    assert_eq!(g.cols, map.len());
    assert_eq!(g.rows, dx.rows);
    cpu.for_rows(&mut dx.data, d, g.cols, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            o.fill(T::ZERO);
            let gr = g.row(i0 + r);
            gr.iter().zip(map).for_each(|(&v, &j)| o[j as usize] += v);
        }
    });
}

/// Per row: `out[r] = a[r] @ b[r]` with `a[r]` a stack of `batch` `m × k` matrices and
/// `b[r]` of `batch` `k × p` ones (row-major), each output entry summed in order of the
/// inner index.
pub(crate) fn row_matmul<T: Float>(
    cpu: &Cpu,
    a: &Tensor<T>,
    b: &Tensor<T>,
    (batch, m, k, p): (usize, usize, usize, usize),
    out: &mut Tensor<T>,
) {
    assert!(a.cols == batch * m * k && b.cols == batch * k * p && out.cols == batch * m * p);
    assert!(a.rows == out.rows && b.rows == out.rows);
    let d = batch * m * p;
    cpu.for_rows(&mut out.data, d, batch * m * k * p, |i0, chunk| {
        for (r, o) in chunk.chunks_exact_mut(d).enumerate() {
            let (ar, br) = (a.row(i0 + r), b.row(i0 + r));
            for ((o, ar), br) in o
                .chunks_exact_mut(m * p)
                .zip(ar.chunks_exact(m * k))
                .zip(br.chunks_exact(k * p))
            {
                for i in 0..m {
                    let ai = &ar[i * k..(i + 1) * k];
                    for j in 0..p {
                        o[i * p + j] = ai
                            .iter()
                            .enumerate()
                            .fold(T::ZERO, |s, (t, &v)| s + v * br[t * p + j]);
                    }
                }
            }
        }
    });
}

/// The gradients of [`row_matmul`] per row and matrix: `da = g @ bᵀ`, `db = aᵀ @ g`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn row_matmul_backward<T: Float>(
    cpu: &Cpu,
    a: &Tensor<T>,
    b: &Tensor<T>,
    g: &Tensor<T>,
    (batch, m, k, p): (usize, usize, usize, usize),
    da: Option<&mut Tensor<T>>,
    db: Option<&mut Tensor<T>>,
) {
    assert!(g.cols == batch * m * p && g.rows == a.rows);
    let work = batch * m * k * p;
    if let Some(da) = da {
        cpu.for_rows(&mut da.data, batch * m * k, work, |i0, chunk| {
            for (r, o) in chunk.chunks_exact_mut(batch * m * k).enumerate() {
                let (gr, br) = (g.row(i0 + r), b.row(i0 + r));
                for ((o, gr), br) in o
                    .chunks_exact_mut(m * k)
                    .zip(gr.chunks_exact(m * p))
                    .zip(br.chunks_exact(k * p))
                {
                    for i in 0..m {
                        for t in 0..k {
                            o[i * k + t] =
                                (0..p).fold(T::ZERO, |s, j| s + gr[i * p + j] * br[t * p + j]);
                        }
                    }
                }
            }
        });
    }
    if let Some(db) = db {
        cpu.for_rows(&mut db.data, batch * k * p, work, |i0, chunk| {
            for (r, o) in chunk.chunks_exact_mut(batch * k * p).enumerate() {
                let (gr, ar) = (g.row(i0 + r), a.row(i0 + r));
                for ((o, gr), ar) in o
                    .chunks_exact_mut(k * p)
                    .zip(gr.chunks_exact(m * p))
                    .zip(ar.chunks_exact(m * k))
                {
                    for t in 0..k {
                        for j in 0..p {
                            o[t * p + j] =
                                (0..m).fold(T::ZERO, |s, i| s + ar[i * k + t] * gr[i * p + j]);
                        }
                    }
                }
            }
        });
    }
}
