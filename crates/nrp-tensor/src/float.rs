//! The scalar trait the kernels are generic over.
//!
//! Production code runs in `f32`; the same kernels instantiated at `f64` make finite-difference
//! gradient checks meaningful (tolerances of 1e-6 instead of 1e-2).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use std::sync::OnceLock;

pub trait Float:
    Copy
    + crate::alloc::Zeroable
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;
    const INFINITY: Self;
    /// `"f32"` or `"f64"`, for messages.
    const NAME: &'static str;

    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn from_usize(x: usize) -> Self {
        Self::from_f64(x as f64)
    }
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn tanh(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn mul_add(self, a: Self, b: Self) -> Self;
    fn is_nan(self) -> bool;
    /// Rounds to the nearest integer, ties to even (`torch.round`).
    fn round_even(self) -> Self;
    /// Error function, accurate to about 1 ulp in both precisions (see [`erf_f64`]).
    fn erf(self) -> Self {
        Self::from_f64(erf_f64(self.to_f64()))
    }
    #[inline]
    fn max(self, o: Self) -> Self {
        if o > self { o } else { self }
    }
    #[inline]
    fn min(self, o: Self) -> Self {
        if o < self { o } else { self }
    }
}

macro_rules! impl_float {
    ($t:ident) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const INFINITY: Self = $t::INFINITY;
            const NAME: &'static str = stringify!($t);
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline]
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            #[inline]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
            #[inline]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline]
            fn round_even(self) -> Self {
                $t::round_ties_even(self)
            }
        }
    };
}
impl_float!(f32);
impl_float!(f64);

// ---------------------------------------------------------------------------------------------
// erf
//
// Piecewise Taylor expansion on a grid: on [0, 6) cells of width 1/32, expanded to degree 7
// around each cell's midpoint (|h| <= 1/64, truncation error < 1e-17). The expansion
// coefficients follow from the closed form of erf's derivatives,
//   erf^(n)(x) = 2/sqrt(pi) * (-1)^(n-1) * H_{n-1}(x) * exp(-x^2)   (physicists' Hermite H),
// and erf at the midpoints from the everywhere-convergent series with positive terms
//   erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
// below 2 (no cancellation), and from erfc's continued fraction above. Near 0 the Maclaurin
// series keeps the relative accuracy of tiny arguments. For |x| >= 6, 1 - erf(x) < 2.2e-17:
// erf = +-1. Accuracy: a few ulp in f64; f32 results (rounded from f64) are correctly rounded
// on all tested values.

const ERF_CELLS_PER_UNIT: f64 = 32.0;
const ERF_LIMIT: f64 = 6.0;
const ERF_CELLS: usize = 192; // ERF_LIMIT * ERF_CELLS_PER_UNIT
const ERF_DEGREE: usize = 7;
const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    loop {
        term *= 2.0 * x2 / (2.0 * n + 3.0);
        sum += term;
        n += 1.0;
        if term < sum * 1e-18 {
            break;
        }
    }
    FRAC_2_SQRT_PI * (-x2).exp() * sum
}

/// erfc(x) for x >= 2 by the continued fraction
/// erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
pub(crate) fn erfc_cf(x: f64) -> f64 {
    let mut t = x;
    for n in (1..=300).rev() {
        t = x + (n as f64 / 2.0) / t;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / t
}

fn erf_table() -> &'static [[f64; ERF_DEGREE + 1]; ERF_CELLS] {
    static TABLE: OnceLock<Box<[[f64; ERF_DEGREE + 1]; ERF_CELLS]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([[0.0; ERF_DEGREE + 1]; ERF_CELLS]);
        for (i, c) in t.iter_mut().enumerate() {
            let x0 = (i as f64 + 0.5) / ERF_CELLS_PER_UNIT;
            c[0] = if x0 < 2.0 {
                erf_series(x0)
            } else {
                1.0 - erfc_cf(x0)
            };
            // Hermite recurrence H_{j+1} = 2x H_j - 2j H_{j-1}.
            let (mut h_prev, mut h) = (0.0, 1.0);
            let g = FRAC_2_SQRT_PI * (-x0 * x0).exp();
            let mut fact = 1.0;
            for (n, cn) in c.iter_mut().enumerate().skip(1) {
                let j = (n - 1) as f64; // h holds H_{n-1}
                fact *= n as f64;
                let sign = if (n - 1) % 2 == 0 { 1.0 } else { -1.0 };
                *cn = sign * h * g / fact;
                let h_next = 2.0 * x0 * h - 2.0 * j * h_prev;
                h_prev = h;
                h = h_next;
            }
        }
        t
    })
}

/// The erf table, for loops that call [`erf_and_slope`].
pub(crate) type ErfTable = [[f64; ERF_DEGREE + 1]; ERF_CELLS];

pub(crate) fn erf_cells() -> &'static ErfTable {
    erf_table()
}

/// `(erf(x), erf'(x))` from the table alone, branch-free so that a loop over many values
/// pipelines (GELU). Near 0 the table is accurate to about 1e-17 absolutely, not relatively
/// as [`erf_f64`]'s series — what `1 + erf` needs. The slope is the expansion's derivative
/// (relative error below 1e-11). `|x| >= 6` and NaN give `(±1, 0)`.
#[inline(always)]
pub(crate) fn erf_and_slope(x: f64, t: &ErfTable) -> (f64, f64) {
    let a = x.abs().min(ERF_LIMIT - 1e-9);
    let i = ((a * ERF_CELLS_PER_UNIT) as usize).min(ERF_CELLS - 1);
    let c = &t[i];
    let h = a - (i as f64 + 0.5) / ERF_CELLS_PER_UNIT;
    let mut p = c[ERF_DEGREE];
    let mut d = ERF_DEGREE as f64 * c[ERF_DEGREE];
    for k in (1..ERF_DEGREE).rev() {
        p = p.mul_add(h, c[k]);
        d = d.mul_add(h, k as f64 * c[k]);
    }
    p = p.mul_add(h, c[0]);
    let inside = x.abs() < ERF_LIMIT;
    (
        if inside { p } else { 1.0 }.copysign(x),
        if inside { d } else { 0.0 },
    )
}

/// The error function in f64 (max error about 1 ulp; see the comment above the table).
pub fn erf_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= ERF_LIMIT {
        return 1.0f64.copysign(x);
    }
    if a < 0.125 {
        // Maclaurin: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)), to x^15.
        const C: [f64; 8] = [
            1.0,
            -1.0 / 3.0,
            1.0 / 10.0,
            -1.0 / 42.0,
            1.0 / 216.0,
            -1.0 / 1320.0,
            1.0 / 9360.0,
            -1.0 / 75600.0,
        ];
        let x2 = x * x;
        let p = C.iter().rev().fold(0.0, |p, &c| p * x2 + c);
        return FRAC_2_SQRT_PI * x * p;
    }
    let i = (a * ERF_CELLS_PER_UNIT) as usize;
    let c = &erf_table()[i];
    let h = a - (i as f64 + 0.5) / ERF_CELLS_PER_UNIT;
    let mut p = c[ERF_DEGREE];
    for k in (0..ERF_DEGREE).rev() {
        p = p.mul_add(h, c[k]);
    }
    p.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_known_values() {
        // Reference values (Abramowitz & Stegun table 7.1 / high-precision evaluation).
        let cases: [(f64, f64); 10] = [
            (0.0, 0.0),
            (1e-10, 1.1283791670955126e-10),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (1.5, 0.9661051464753108),
            (2.0, 0.9953222650189527),
            (3.0, 0.9999779095030014),
            (4.0, 0.9999999845827421),
            (-0.7, -0.6778011938374184),
        ];
        for (x, want) in cases {
            let got = erf_f64(x);
            let tol = 4.0 * f64::EPSILON * want.abs().max(1e-300);
            assert!((got - want).abs() <= tol, "erf({x}) = {got}, want {want}");
            let got32 = Float::erf(x as f32);
            assert_eq!(got32, want as f32, "erf32({x}) not correctly rounded");
        }
        assert_eq!(erf_f64(6.5), 1.0);
        assert_eq!(erf_f64(-7.0), -1.0);
        assert!(erf_f64(f64::NAN).is_nan());
        // Against a slow reference (series / continued fraction) on a dense grid.
        let mut worst: f64 = 0.0;
        for i in 0..6000 {
            let x = i as f64 * 0.001 + 0.0003;
            let r = if x < 2.0 {
                erf_series(x)
            } else {
                1.0 - erfc_cf(x)
            };
            worst = worst.max((erf_f64(x) - r).abs() / r);
        }
        // The reference sums ~30 rounded terms itself; against glibc's erf the table is within
        // 4 ulp on a 60k-point grid and f32 results are correctly rounded (README.md).
        assert!(worst < 6.0 * f64::EPSILON, "worst relative error {worst}");
    }

    #[test]
    fn erf_is_smooth_across_cells() {
        // Continuity at cell boundaries: both neighbouring expansions agree to ~1 ulp.
        for i in 4..ERF_CELLS {
            let x = i as f64 / ERF_CELLS_PER_UNIT;
            let t = erf_table();
            let left = {
                let c = &t[i - 1];
                let h = 0.5 / ERF_CELLS_PER_UNIT;
                (0..=ERF_DEGREE).rev().fold(0.0, |p, k| p * h + c[k])
            };
            let right = erf_f64(x);
            assert!((left - right).abs() < 1e-15, "x={x}: {left} vs {right}");
        }
    }
}
