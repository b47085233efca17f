//! Shape rules of embeddings with a shape (LANGUAGE.md, "Shaped embeddings"): element-wise
//! broadcasting, the per-fact matrix product `@`, `view`, `unsqueeze`, `squeeze`,
//! `transpose`, and the column maps with which the engine moves the data.
//!
//! Every rule is PyTorch's applied to one fact's tensor, with RelaNN's row-first alignment
//! where ranks differ: the lower-rank operand gets trailing axes of size 1 (`(m, k) * (m,)`
//! scales row `i` by `v[i]`), where PyTorch alone would align the last axes.

use crate::ir::{Reshape, Shape};
use nrp_syntax::{Diagnostic, Span};

type R<T> = Result<T, Diagnostic>;

/// The shape of `a op b` for an element-wise operator.
pub fn broadcast(op: &str, a: &Shape, b: &Shape, span: Span) -> R<Shape> {
    if a == b {
        return Ok(a.clone());
    }
    let rank = a.rank().max(b.rank());
    let pad = |s: &Shape| {
        let mut v = s.0.clone();
        v.resize(rank, 1);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    let mut out = Vec::with_capacity(rank);
    for (&x, &y) in pa.iter().zip(&pb) {
        out.push(match (x, y) {
            _ if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(mismatch(op, a, b, span)),
        });
    }
    Ok(Shape(out))
}

fn mismatch(op: &str, a: &Shape, b: &Shape, span: Span) -> Diagnostic {
    if a.is_vector() && b.is_vector() {
        return Diagnostic::error(
            format!(
                "dimension mismatch in `{op}`: the left operand is {}-dimensional, the right one {}-dimensional",
                a.0[0], b.0[0]
            ),
            span,
        )
        .with_note("element-wise operators need equal dimensions; only a 1-dimensional operand broadcasts");
    }
    Diagnostic::error(
        format!("shapes {a} and {b} do not broadcast in `{op}`"),
        span,
    )
    .with_note(
        "axes are aligned from the first (a lower-rank operand gets trailing axes of size 1); each pair must be equal or 1",
    )
}

/// The shape of `a @ b` (PyTorch's `matmul` on each fact, RelaNN's `smart_matmul`): a vector
/// on the left is a row `(1, k)`, a vector on the right a column `(k, 1)`; leading axes
/// beyond two are a batch of matrices, equal on both sides (`(h, 1, k) @ (h, k, 1)`: one
/// product per head). Also the `(batch, m, k, p)` of the per-fact products.
pub fn matmul(a: &Shape, b: &Shape, span: Span) -> R<(Shape, (usize, usize, usize, usize))> {
    let bad = |why: String| {
        Err(Diagnostic::error(
            format!("`@` of shapes {a} and {b}: {why}"),
            span,
        ))
    };
    if a.rank() == 0 || b.rank() == 0 {
        return bad("a scalar has no matrix product; use `*`".into());
    }
    if a.rank() == 1 && b.rank() == 1 {
        return Err(Diagnostic::error(
            format!("`@` of two vectors {a} and {b}"),
            span,
        )
        .with_note("a per-fact dot product is `view(1)(view(1, d)(a) @ transpose(b))`, or `HeadSum(1)(a * b)`"));
    }
    // Each side as (batch axes, rows, columns), a vector made a row or a column.
    let split = |s: &Shape, left: bool| -> (Vec<usize>, usize, usize) {
        match &s.0[..] {
            [k] if left => (vec![], 1, *k),
            [k] => (vec![], *k, 1),
            [batch @ .., r, c] => (batch.to_vec(), *r, *c),
            [] => unreachable!("ranks checked"),
        }
    };
    let (ba, m, k) = split(a, true);
    let (bb, k2, p) = split(b, false);
    if !ba.is_empty() && !bb.is_empty() && ba != bb || ba.is_empty() != bb.is_empty() {
        return bad("the batch axes before the last two must be equal".into());
    }
    if k != k2 {
        return bad(format!("the inner dimensions {k} and {k2} differ"));
    }
    let batch = ba.iter().product::<usize>();
    let mut out = ba;
    match (a.rank(), b.rank()) {
        (1, _) => out.extend([1, p]),
        (_, 1) => out.extend([m, 1]),
        _ => out.extend([m, p]),
    }
    Ok((Shape(out), (batch, m, k, p)))
}

/// The shape of `a @ b` when `shared` says which operands are one value for every fact (a
/// `Tensor` parameter). A shared operand has no fact axis, so PyTorch's `matmul` applies as
/// written: a vector against a shared matrix stays a vector (`(k,) @ (k, n)` is `(n,)`, as
/// RelaNN's `(E, k) @ (k, n)` is `(E, n)`), where between two per-fact operands it is a row
/// or a column ([`matmul`]: RelaNN's `(E, k) @ (E, k, n)` is `(E, 1, n)`). The values, and
/// so the per-fact products, are the same either way.
pub fn matmul_shape(a: &Shape, b: &Shape, shared: (bool, bool), span: Span) -> R<Shape> {
    let (mut out, _) = matmul(a, b, span)?;
    match (a.rank(), b.rank()) {
        (1, _) if shared.1 => {
            let n = out.0.len();
            out.0.remove(n - 2);
        }
        (_, 1) if shared.0 => {
            out.0.pop();
        }
        _ => {}
    }
    Ok(out)
}

/// `transpose`: a scalar is unchanged, a vector `(d,)` becomes the column `(d, 1)`, a
/// matrix's last two axes swap.
pub fn transpose(s: &Shape) -> Shape {
    let mut v = s.0.clone();
    match v.len() {
        0 => {}
        1 => v.push(1),
        n => v.swap(n - 2, n - 1),
    }
    Shape(v)
}

/// The shape after `r`, or an error at `span`.
pub fn reshape(r: &Reshape, s: &Shape, span: Span) -> R<Shape> {
    let rank = s.rank();
    // PyTorch numbers the fact axis 0: a feature axis is 1.., negative counts from the end.
    let axis = |i: i64, ndim: usize, what: &str| -> R<usize> {
        let n = ndim as i64;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(Diagnostic::error(
                format!("{what} axis {i} is out of range for a fact of shape {s}"),
                span,
            )
            .with_note(
                "axes count the fact axis as 0, as PyTorch does on RelaNN's batched tensors",
            ));
        }
        if j == 0 {
            return Err(
                Diagnostic::error(format!("{what} axis {i} is the fact axis"), span)
                    .with_note("the axes of a fact's embedding are 1, 2, …"),
            );
        }
        Ok(j as usize - 1)
    };
    Ok(match r {
        Reshape::View(dims) => {
            let numel = s.numel().unwrap_or(usize::MAX);
            let known: Option<usize> =
                dims.iter().filter(|&&d| d != -1).try_fold(1usize, |n, &d| {
                    usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
                });
            let holes = dims.iter().filter(|&&d| d == -1).count();
            let bad = || {
                Diagnostic::error(
                    format!(
                        "`view({})` cannot reshape {s} ({numel} values)",
                        dims.iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    span,
                )
            };
            let Some(known) = known else {
                return Err(bad());
            };
            if dims.iter().any(|&d| d < -1) || holes > 1 {
                return Err(bad());
            }
            let fill = if holes == 1 {
                if known == 0 || !numel.is_multiple_of(known) {
                    return Err(bad());
                }
                numel / known
            } else {
                1
            };
            let out: Vec<usize> = dims
                .iter()
                .map(|&d| if d == -1 { fill } else { d as usize })
                .collect();
            if Shape(out.clone()).numel() != Some(numel) {
                return Err(bad());
            }
            Shape(out)
        }
        Reshape::Unsqueeze(i) => {
            let at = axis(*i, rank + 2, "`unsqueeze`")?;
            let mut v = s.0.clone();
            v.insert(at, 1);
            Shape(v)
        }
        Reshape::Squeeze(None) => Shape(s.0.iter().copied().filter(|&d| d != 1).collect()),
        Reshape::Squeeze(Some(i)) => {
            let at = axis(*i, rank + 1, "`squeeze`")?;
            let mut v = s.0.clone();
            // PyTorch leaves an axis that is not of size 1 in place.
            if v[at] == 1 {
                v.remove(at);
            }
            Shape(v)
        }
    })
}

/// Where each value of `to` comes from in `from`, when `from` broadcasts to `to` (row-first
/// alignment); `None` when no data moves (same values in the same order, or a single value
/// that the element-wise kernels broadcast themselves).
pub fn broadcast_map(from: &Shape, to: &Shape) -> Option<Vec<u32>> {
    let (n_from, n_to) = (from.numel()?, to.numel()?);
    if n_from == n_to || n_from == 1 {
        return None;
    }
    let mut padded = from.0.clone();
    padded.resize(to.rank(), 1);
    let strides = strides(&padded);
    Some(
        (0..n_to)
            .map(|flat| {
                let mut rest = flat;
                let mut src = 0;
                for (axis, &d) in to.0.iter().enumerate().rev() {
                    let coord = rest % d;
                    rest /= d;
                    if padded[axis] != 1 {
                        src += coord * strides[axis];
                    }
                }
                src as u32
            })
            .collect(),
    )
}

/// The column map of a per-fact transpose of shape `s` (`None` when no data moves: a
/// scalar, a vector, or a matrix with a last axis or second-to-last axis of size 1).
pub fn transpose_map(s: &Shape) -> Option<Vec<u32>> {
    let n = s.rank();
    if n < 2 || s.0[n - 1] == 1 || s.0[n - 2] == 1 {
        return None;
    }
    let out = transpose(s);
    let strides = strides(&s.0);
    let numel = s.numel()?;
    Some(
        (0..numel)
            .map(|flat| {
                // Coordinates in the output, read back in the input with the last two swapped.
                let mut rest = flat;
                let mut coords = vec![0; n];
                for (axis, &d) in out.0.iter().enumerate().rev() {
                    coords[axis] = rest % d;
                    rest /= d;
                }
                coords.swap(n - 2, n - 1);
                coords
                    .iter()
                    .zip(&strides)
                    .map(|(c, s)| c * s)
                    .sum::<usize>() as u32
            })
            .collect(),
    )
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(v: &[usize]) -> Shape {
        Shape(v.to_vec())
    }

    #[test]
    fn broadcast_aligns_from_the_first_axis() {
        let s = Span::default();
        assert_eq!(
            broadcast("*", &sh(&[2, 3]), &sh(&[2]), s).unwrap(),
            sh(&[2, 3])
        );
        assert_eq!(
            broadcast("*", &sh(&[2, 3]), &sh(&[1, 3]), s).unwrap(),
            sh(&[2, 3])
        );
        assert_eq!(broadcast("*", &sh(&[4]), &sh(&[1]), s).unwrap(), sh(&[4]));
        assert!(broadcast("*", &sh(&[2, 3]), &sh(&[3]), s).is_err());
        assert!(broadcast("+", &sh(&[4]), &sh(&[6]), s).is_err());
        // (2, 3) * (2,): row i scaled by v[i].
        assert_eq!(
            broadcast_map(&sh(&[2]), &sh(&[2, 3])).unwrap(),
            vec![0, 0, 0, 1, 1, 1]
        );
        // (1, 3) to (2, 3): the row repeated.
        assert_eq!(
            broadcast_map(&sh(&[1, 3]), &sh(&[2, 3])).unwrap(),
            vec![0, 1, 2, 0, 1, 2]
        );
        assert_eq!(broadcast_map(&sh(&[6]), &sh(&[2, 3])), None);
    }

    #[test]
    fn matmul_shapes_follow_smart_matmul() {
        let s = Span::default();
        let m = |a: &[usize], b: &[usize]| matmul(&sh(a), &sh(b), s).map(|(x, bmkp)| (x.0, bmkp));
        assert_eq!(m(&[1, 4], &[4, 1]).unwrap(), (vec![1, 1], (1, 1, 4, 1)));
        assert_eq!(m(&[4], &[4, 3]).unwrap(), (vec![1, 3], (1, 1, 4, 3)));
        assert_eq!(m(&[2, 4], &[4]).unwrap(), (vec![2, 1], (1, 2, 4, 1)));
        assert_eq!(m(&[2, 4], &[4, 3]).unwrap(), (vec![2, 3], (1, 2, 4, 3)));
        assert_eq!(
            m(&[8, 1, 4], &[8, 4, 1]).unwrap(),
            (vec![8, 1, 1], (8, 1, 4, 1))
        );
        assert!(m(&[4], &[4]).is_err());
        assert!(m(&[2, 4], &[3, 3]).is_err());
        assert!(m(&[2, 2, 2], &[2, 2]).is_err());
        assert!(m(&[2, 2, 2], &[3, 2, 2]).is_err());
        // A shared operand (a `Tensor`) has no fact axis: a vector against it stays a vector.
        let shared = |a: &[usize], b: &[usize], sh_: (bool, bool)| {
            matmul_shape(&sh(a), &sh(b), sh_, s).map(|x| x.0)
        };
        assert_eq!(shared(&[4], &[4, 3], (false, true)).unwrap(), vec![3]);
        assert_eq!(shared(&[4], &[4, 3], (false, false)).unwrap(), vec![1, 3]);
        assert_eq!(shared(&[2, 4], &[4], (true, false)).unwrap(), vec![2]);
        assert_eq!(shared(&[2, 4], &[4, 3], (false, true)).unwrap(), vec![2, 3]);
        assert!(shared(&[4], &[3, 3], (false, true)).is_err());
    }

    #[test]
    fn reshapes_and_transposes() {
        let s = Span::default();
        let r = |op: Reshape, x: &[usize]| reshape(&op, &sh(x), s).map(|x| x.0);
        assert_eq!(r(Reshape::View(vec![2, -1]), &[6]).unwrap(), vec![2, 3]);
        assert!(r(Reshape::View(vec![4, -1]), &[6]).is_err());
        assert!(r(Reshape::View(vec![5]), &[6]).is_err());
        assert_eq!(r(Reshape::Unsqueeze(1), &[6]).unwrap(), vec![1, 6]);
        assert_eq!(r(Reshape::Unsqueeze(-1), &[6]).unwrap(), vec![6, 1]);
        assert!(r(Reshape::Unsqueeze(0), &[6]).is_err());
        assert_eq!(r(Reshape::Squeeze(None), &[1, 6, 1]).unwrap(), vec![6]);
        assert_eq!(r(Reshape::Squeeze(Some(2)), &[1, 6]).unwrap(), vec![1, 6]);
        assert_eq!(r(Reshape::Squeeze(Some(1)), &[1, 6]).unwrap(), vec![6]);
        assert_eq!(transpose(&sh(&[4])), sh(&[4, 1]));
        assert_eq!(transpose(&sh(&[2, 3])), sh(&[3, 2]));
        // (2, 3) → (3, 2): out[j][i] = in[i][j].
        assert_eq!(transpose_map(&sh(&[2, 3])).unwrap(), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(transpose_map(&sh(&[1, 3])), None);
    }
}
