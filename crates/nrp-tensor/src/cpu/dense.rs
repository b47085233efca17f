//! Dense kernels: GEMM (via the `gemm` crate), bias, column sums, transpose.

use super::Cpu;
use super::simd::multiversion;
use crate::{Float, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// A strided matrix view: element (i, j) at `ptr + i*rs + j*cs`.
#[derive(Clone, Copy)]
struct View<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}
unsafe impl<T> Send for View<T> {}
unsafe impl<T> Sync for View<T> {}

/// `out = op(a) · op(b)` (`+ out` when `accumulate`), `op` = transpose when the flag is set.
/// Shapes are checked by the caller (asserted here).
pub(crate) fn matmul<T: Float>(
    cpu: &Cpu,
    a: &Tensor<T>,
    ta: bool,
    b: &Tensor<T>,
    tb: bool,
    out: &mut Tensor<T>,
    accumulate: bool,
) {
    let (m, k) = if ta {
        (a.cols, a.rows)
    } else {
        (a.rows, a.cols)
    };
    let (kb, n) = if tb {
        (b.cols, b.rows)
    } else {
        (b.rows, b.cols)
    };
    assert_eq!(k, kb, "matmul inner dimensions");
    assert_eq!((out.rows, out.cols), (m, n), "matmul output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.data.fill(T::ZERO);
        }
        return;
    }
    let av = if ta {
        View {
            ptr: a.data.as_ptr(),
            rs: 1,
            cs: a.cols as isize,
        }
    } else {
        View {
            ptr: a.data.as_ptr(),
            rs: a.cols as isize,
            cs: 1,
        }
    };
    let bv = if tb {
        View {
            ptr: b.data.as_ptr(),
            rs: 1,
            cs: b.cols as isize,
        }
    } else {
        View {
            ptr: b.data.as_ptr(),
            rs: b.cols as isize,
            cs: 1,
        }
    };
    // Safety (all calls below): views stay inside `a`, `b`, `out` (shapes checked above).
    let k_chunks = gemm_k_chunks(m, n, k);
    if k_chunks > 1 {
        split_k(
            cpu,
            m,
            n,
            k,
            k_chunks,
            &mut out.data,
            accumulate,
            |ks, c| {
                let (av, bv) = (av, bv); // whole views (Sync), not their pointer fields
                let a_sub = View {
                    ptr: av.ptr.wrapping_offset(ks.start as isize * av.cs),
                    ..av
                };
                let b_sub = View {
                    ptr: bv.ptr.wrapping_offset(ks.start as isize * bv.rs),
                    ..bv
                };
                // Safety: the sub-views cover columns `ks` of op(A) and rows `ks` of op(B).
                let kl = ks.len();
                unsafe { gemm_raw(m, n, kl, a_sub, b_sub, c.as_mut_ptr(), n as isize, false) };
            },
        );
        return;
    }
    if m >= n || m * n * k < WIDE_THRESHOLD {
        unsafe { gemm_rows(cpu, m, n, k, av, bv, out.data.as_mut_ptr(), accumulate) };
        return;
    }
    // A wide output (e.g. a weight gradient [out, in] with a long reduction): compute
    // Cᵀ = op(B)ᵀ·op(A)ᵀ split by rows, then transpose. The `gemm` crate's result for an
    // element depends on the number of output columns it is given, but not on how the rows are
    // split, so this keeps results independent of the thread count (and is faster: measured).
    let mut ct = Tensor::<T>::zeros(n, m);
    let t = |v: View<T>| View {
        ptr: v.ptr,
        rs: v.cs,
        cs: v.rs,
    };
    unsafe { gemm_rows(cpu, n, m, k, t(bv), t(av), ct.data.as_mut_ptr(), false) };
    if accumulate {
        let mut tmp = Tensor::zeros(m, n);
        transpose(cpu, &ct, &mut tmp);
        for (o, v) in out.data.iter_mut().zip(&tmp.data) {
            *o += *v;
        }
    } else {
        transpose(cpu, &ct, out);
    }
}

/// Outputs with fewer rows than columns take the transposed route above this many FMAs.
const WIDE_THRESHOLD: usize = 1 << 18;

/// `C[m, n] (+)= A·B` with `C` row-major contiguous, parallel over row blocks of `C`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_rows<T: Float>(
    cpu: &Cpu,
    m: usize,
    n: usize,
    k: usize,
    av: View<T>,
    bv: View<T>,
    c: *mut T,
    accumulate: bool,
) {
    let chunks = gemm_chunks(m, n, k);
    if chunks == 1 {
        unsafe { gemm_raw(m, n, k, av, bv, c, n as isize, accumulate) };
        return;
    }
    // The `gemm` crate's blocking (and so the summation order of an element) depends on the
    // block shape it is given, so the split depends on the shape only, never on the thread
    // count: results are bit-identical for any number of threads.
    let c = SendPtr(c);
    let per = m.div_ceil(chunks);
    let run = |t: usize| {
        let (c, av, bv) = (c, av, bv);
        let (lo, hi) = (t * per, ((t + 1) * per).min(m));
        let a_sub = View {
            ptr: av.ptr.wrapping_offset(lo as isize * av.rs),
            ..av
        };
        unsafe {
            gemm_raw(
                hi - lo,
                n,
                k,
                a_sub,
                bv,
                c.0.add(lo * n),
                n as isize,
                accumulate,
            )
        };
    };
    if cpu.threads() > 1 {
        cpu.install(|| (0..m.div_ceil(per)).into_par_iter().for_each(run));
    } else {
        (0..m.div_ceil(per)).for_each(run);
    }
}

/// Row blocks for a GEMM of this shape: one below ~2M FMAs, else blocks of at least 128 rows,
/// at most 16.
pub(crate) fn gemm_chunks(m: usize, n: usize, k: usize) -> usize {
    if m * n * k < GEMM_SPLIT_WORK {
        1
    } else {
        (m / 128).clamp(1, 16)
    }
}

const GEMM_SPLIT_WORK: usize = 1 << 21;

/// Reduction blocks for a GEMM whose output is too small to split by rows (a weight gradient
/// `dYᵀ·X`, 64 × 64 summed over 5,000 facts, ran on one thread): blocks of at least 1024 of
/// `k`, at most 8. Like [`gemm_chunks`], a function of the shape alone.
pub(crate) fn gemm_k_chunks(m: usize, n: usize, k: usize) -> usize {
    if m * n * k < GEMM_SPLIT_WORK || m.max(n) / 128 >= 2 {
        1
    } else {
        (k / 1024).clamp(1, 8)
    }
}

/// `C (+)= Σ_t P_t`, the partial products over `k_chunks` consecutive blocks of the
/// reduction (`partial(ks, P)` writes the product over `ks` into a zeroed `P`), computed in
/// parallel and added in block order, so the bits do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
fn split_k<T: Float>(
    cpu: &Cpu,
    m: usize,
    n: usize,
    k: usize,
    k_chunks: usize,
    out: &mut [T],
    accumulate: bool,
    partial: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync,
) {
    let per = k.div_ceil(k_chunks);
    let part = |t: usize| {
        let mut p = vec![T::ZERO; m * n];
        partial(t * per..((t + 1) * per).min(k), &mut p);
        p
    };
    let chunks = k.div_ceil(per);
    let parts: Vec<Vec<T>> = if cpu.threads() > 1 && chunks > 1 {
        cpu.install(|| (0..chunks).into_par_iter().map(part).collect())
    } else {
        (0..chunks).map(part).collect()
    };
    for (t, p) in parts.iter().enumerate() {
        if t == 0 && !accumulate {
            out.copy_from_slice(p);
        } else {
            out.iter_mut().zip(p).for_each(|(o, &x)| *o += x);
        }
    }
}

/// One single-threaded GEMM call: `C = A·B` (`+ C` when `accumulate`), `C` with row stride
/// `c_rs` and unit column stride.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: View<T>,
    b: View<T>,
    c: *mut T,
    c_rs: isize,
    accumulate: bool,
) {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        let (ap, bp, cp) = (a.ptr as *const f32, b.ptr as *const f32, c as *mut f32);
        let f = gemm_f32::gemm::f32::get_gemm_fn();
        // As `gemm::gemm` does: the microkernels prefer a column-major destination, so a
        // row-major C is computed as Cᵀ = Bᵀ·Aᵀ. Arguments: dst, dst_cs, dst_rs, read_dst,
        // lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs, alpha (dst scale), beta (product scale).
        let par = gemm_common::Parallelism::None;
        unsafe {
            if c_rs.abs() > 1 {
                f(
                    n, m, k, cp, c_rs, 1, accumulate, bp, b.rs, b.cs, ap, a.rs, a.cs, 1.0, 1.0,
                    false, false, false, par,
                )
            } else {
                f(
                    m, n, k, cp, 1, c_rs, accumulate, ap, a.cs, a.rs, bp, b.cs, b.rs, 1.0, 1.0,
                    false, false, false, par,
                )
            }
        }
        return;
    }
    // Other precisions (f64: gradient checks) use a plain loop; each element sums over k in
    // increasing order.
    let mut row = vec![T::ZERO; n];
    for i in 0..m {
        row.fill(T::ZERO);
        for p in 0..k {
            // Safety: indices inside the views the caller checked.
            let aip = unsafe { *a.ptr.offset(i as isize * a.rs + p as isize * a.cs) };
            for (j, r) in row.iter_mut().enumerate() {
                *r += aip * unsafe { *b.ptr.offset(p as isize * b.rs + j as isize * b.cs) };
            }
        }
        for (j, &r) in row.iter().enumerate() {
            let dst = unsafe { &mut *c.offset(i as isize * c_rs + j as isize) };
            *dst = if accumulate { *dst + r } else { r };
        }
    }
}

/// `out[i, :] += bias` for every row.
pub(crate) fn add_row_vector<T: Float>(cpu: &Cpu, out: &mut Tensor<T>, bias: &[T]) {
    let d = out.cols;
    assert_eq!(bias.len(), d);
    cpu.for_rows(&mut out.data, d, d, |_, chunk| {
        for row in chunk.chunks_exact_mut(d) {
            for (o, &b) in row.iter_mut().zip(bias) {
                *o += b;
            }
        }
    });
}

/// `out[j] = Σ_i x[i, j]`, summed in fixed row blocks combined in order (deterministic for any
/// thread count).
pub(crate) fn col_sum<T: Float>(cpu: &Cpu, x: &Tensor<T>, out: &mut [T]) {
    let d = x.cols;
    assert_eq!(out.len(), d);
    let partial = cpu.map_blocks(x.rows, d, |rows| {
        let mut acc = vec![T::ZERO; d];
        for i in rows {
            for (a, &v) in acc.iter_mut().zip(x.row(i)) {
                *a += v;
            }
        }
        acc
    });
    out.fill(T::ZERO);
    for p in partial {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
}

/// Σ of all elements, accumulated in f64 per fixed block.
pub(crate) fn sum_all<T: Float>(cpu: &Cpu, x: &Tensor<T>) -> f64 {
    let d = x.cols;
    cpu.map_blocks(x.rows, d, |rows| {
        x.data[rows.start * d..rows.end * d]
            .iter()
            .map(|v| v.to_f64())
            .sum::<f64>()
    })
    .into_iter()
    .sum()
}

/// `out = xᵀ`, in cache-friendly tiles.
pub(crate) fn transpose<T: Float>(cpu: &Cpu, x: &Tensor<T>, out: &mut Tensor<T>) {
    let (r, c) = (x.rows, x.cols);
    assert_eq!((out.rows, out.cols), (c, r));
    cpu.for_rows(&mut out.data, r.max(1), r, |j0, chunk| {
        transpose_block(&x.data, r, c, j0, chunk)
    });
}

multiversion! {
    /// Output rows `j0..` (columns `j0..` of the `r × c` matrix `x`) into `chunk`, in 8 × 8
    /// tiles: eight contiguous reads and eight contiguous writes of eight elements each
    /// (register shuffles for f32 with AVX2: 2x the element-wise copy).
    fn transpose_block<T>(x: &[T], r: usize, c: usize, j0: usize, chunk: &mut [T]) {
        const B: usize = 8;
        let nj = chunk.len() / r.max(1);
        for i0 in (0..r).step_by(B) {
            let ib = B.min(r - i0);
            for jb in (0..nj).step_by(B) {
                let jn = B.min(nj - jb);
                if ib == B && jn == B {
                    #[cfg(target_arch = "x86_64")]
                    if tile8_f32(x, c, i0 * c + j0 + jb, chunk, jb * r + i0, r).is_some() {
                        continue;
                    }
                    let mut tile = [[T::ZERO; B]; B];
                    for (a, xr) in x[i0 * c + j0 + jb..].chunks(c).take(B).enumerate() {
                        for (b, t) in tile.iter_mut().enumerate() {
                            t[a] = xr[b];
                        }
                    }
                    for (b, t) in tile.iter().enumerate() {
                        chunk[(jb + b) * r + i0..][..B].copy_from_slice(t);
                    }
                } else {
                    for b in 0..jn {
                        for a in 0..ib {
                            chunk[(jb + b) * r + i0 + a] = x[(i0 + a) * c + j0 + jb + b];
                        }
                    }
                }
            }
        }
    }
}

/// An 8 × 8 f32 tile transposed in registers (AVX2): `x[src + a·c + b]` to
/// `out[dst + b·r + a]`. `None` when `T` is not f32 or the CPU lacks AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tile8_f32<T: Float>(
    x: &[T],
    c: usize,
    src: usize,
    out: &mut [T],
    dst: usize,
    r: usize,
) -> Option<()> {
    use std::arch::x86_64::*;
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<f32>() || !super::simd::has_avx2() {
        return None;
    }
    assert!(src + 7 * c + 8 <= x.len() && dst + 7 * r + 8 <= out.len());
    // Safety: T is f32, the CPU has AVX2, and the asserted bounds cover every access.
    unsafe {
        let xp = x.as_ptr().cast::<f32>().add(src);
        let op = out.as_mut_ptr().cast::<f32>().add(dst);
        let l = |a: usize| _mm256_loadu_ps(xp.add(a * c));
        let (r0, r1, r2, r3, r4, r5, r6, r7) = (l(0), l(1), l(2), l(3), l(4), l(5), l(6), l(7));
        let t0 = _mm256_unpacklo_ps(r0, r1);
        let t1 = _mm256_unpackhi_ps(r0, r1);
        let t2 = _mm256_unpacklo_ps(r2, r3);
        let t3 = _mm256_unpackhi_ps(r2, r3);
        let t4 = _mm256_unpacklo_ps(r4, r5);
        let t5 = _mm256_unpackhi_ps(r4, r5);
        let t6 = _mm256_unpacklo_ps(r6, r7);
        let t7 = _mm256_unpackhi_ps(r6, r7);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let st = |b: usize, v| _mm256_storeu_ps(op.add(b * r), v);
        st(0, _mm256_permute2f128_ps::<0x20>(s0, s4));
        st(1, _mm256_permute2f128_ps::<0x20>(s1, s5));
        st(2, _mm256_permute2f128_ps::<0x20>(s2, s6));
        st(3, _mm256_permute2f128_ps::<0x20>(s3, s7));
        st(4, _mm256_permute2f128_ps::<0x31>(s0, s4));
        st(5, _mm256_permute2f128_ps::<0x31>(s1, s5));
        st(6, _mm256_permute2f128_ps::<0x31>(s2, s6));
        st(7, _mm256_permute2f128_ps::<0x31>(s3, s7));
    }
    Some(())
}
