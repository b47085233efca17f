//! Runtime CPU-feature dispatch and prefetching for the memory-bound loops.
//!
//! The crate is built for baseline x86-64 (SSE2). Hot row loops are compiled a second time
//! with AVX2+FMA and picked at run time; prefetching the row `PREFETCH` matches ahead hides
//! most of the latency of random gathers (measured ~2x on 2M-match SpMM, see README.md).

/// How many matches ahead a gather loop prefetches.
pub(crate) const PREFETCH: usize = 16;

#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// `has_avx2()` on x86-64, `false` elsewhere.
#[inline]
pub(crate) fn has_avx2_or_false() -> bool {
    #[cfg(target_arch = "x86_64")]
    return has_avx2();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Prefetches the cache lines of `len` elements starting at `p` (a hint; never faults).
#[inline(always)]
pub fn prefetch<T>(p: *const T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let bytes = len * std::mem::size_of::<T>();
        let base = p as *const i8;
        let mut off = 0;
        while off < bytes {
            // Safety: prefetch is a hint and never dereferences; wrapping_add keeps the
            // pointer arithmetic defined.
            unsafe { _mm_prefetch(base.wrapping_add(off), _MM_HINT_T0) };
            off += 64;
        }
        if bytes > 0 {
            unsafe { _mm_prefetch(base.wrapping_add(bytes - 1), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// Defines `fn $name<T: Float>(args)` (or a plain `fn $name(args)`) that runs `$body`
/// compiled for AVX2+FMA when the CPU has it, else for the baseline.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$T:ident>)? ($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$T: crate::Float>)? ($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn inner $(<$T: crate::Float>)? ($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2 $(<$T: crate::Float>)? ($($arg: $ty),*) {
                inner $(::<$T>)? ($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if crate::cpu::simd::has_avx2() {
                // Safety: the CPU supports the features `avx2` was compiled for.
                return unsafe { avx2 $(::<$T>)? ($($arg),*) };
            }
            inner $(::<$T>)? ($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// `o += x`
#[inline(always)]
pub(crate) fn add_to<T: crate::Float>(o: &mut [T], x: &[T]) {
    for (o, &v) in o.iter_mut().zip(x) {
        *o += v;
    }
}

/// `o += a * x`
#[inline(always)]
pub(crate) fn axpy<T: crate::Float>(o: &mut [T], a: T, x: &[T]) {
    for (o, &v) in o.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// Dot product with 8 independent accumulators (vectorisable; fixed summation order).
#[inline(always)]
pub(crate) fn dot<T: crate::Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = T::ZERO;
    for (&x, &y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}
