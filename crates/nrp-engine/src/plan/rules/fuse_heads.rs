//! Multi-head fusion: `Repeat(k)` and `HeadSum(h)` are lowered as products with 0/1 block
//! matrices, which is exact but costs a GEMM and a `[matches, d]` intermediate each time an
//! attention layer weighs its values or scores its keys. Two patterns become one pass:
//!
//! - `x * Repeat(k)(a)` → `head_scale x by a`: each head's block of `x` times its weight;
//! - `HeadSum(h)(x * y)` → `head_dot(h) x y`: per-head dot products (when nothing else reads
//!   the product).
//!
//! The forward values are the same (a repeat copies exactly); per-head sums may round
//! differently from the GEMM's order in the last bits.

use crate::plan::{NodeId, Op, Plan};
use nrp_tensor::{BinaryOp, Tensor};

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let readers = plan.readers(targets);
    for id in plan.topological(targets) {
        let rows = plan.nodes[id].rows;
        let same_shape = |plan: &Plan, i: NodeId| {
            plan.nodes[i].rows == rows
                && plan.nodes[i].dim == plan.nodes[id].dim
                && plan.nodes[i].sparse.is_none()
        };
        if plan.nodes[id].sparse.is_some() {
            continue;
        }
        match &plan.nodes[id].op {
            Op::Binary(BinaryOp::Mul, a, b) => {
                let (a, b) = (*a, *b);
                let scaled = [(a, b), (b, a)].into_iter().find_map(|(x, r)| {
                    let Op::MatMul { x: w, m } = &plan.nodes[r].op else {
                        return None;
                    };
                    (repeat_heads(m).is_some()
                        && same_shape(plan, x)
                        && same_shape(plan, r)
                        && plan.nodes[*w].rows == rows
                        && plan.nodes[*w].sparse.is_none())
                    .then_some((x, *w))
                });
                if let Some((x, a)) = scaled {
                    plan.nodes[id].op = Op::HeadScale { x, a };
                }
            }
            Op::MatMul { x: prod, m } => {
                let Some(heads) = head_sum_heads(m) else {
                    continue;
                };
                let prod = *prod;
                let Op::Binary(BinaryOp::Mul, x, y) = plan.nodes[prod].op else {
                    continue;
                };
                let fits = |i: NodeId| {
                    plan.nodes[i].rows == rows
                        && plan.nodes[i].dim == plan.nodes[prod].dim
                        && plan.nodes[i].sparse.is_none()
                };
                if readers[prod] == 1 && plan.nodes[prod].sparse.is_none() && fits(x) && fits(y) {
                    plan.nodes[id].op = Op::HeadDot { x, y, heads };
                }
            }
            _ => {}
        }
    }
}

/// `Some(k)` when `m` is `Repeat(k)`'s matrix: `h × hk`, 1 where column `c` copies row
/// `c / k`, else 0.
fn repeat_heads(m: &Tensor) -> Option<usize> {
    let (h, w) = (m.rows, m.cols);
    (h > 0 && w.is_multiple_of(h)).then_some(())?;
    let k = w / h;
    let ok = (0..h).all(|r| (0..w).all(|c| m.data[r * w + c] == f32::from(u8::from(c / k == r))));
    ok.then_some(k)
}

/// `Some(h)` when `m` is `HeadSum(h)`'s matrix: `hk × h`, 1 where coordinate `c` lies in
/// head `c / k`, else 0.
fn head_sum_heads(m: &Tensor) -> Option<usize> {
    let (d, h) = (m.rows, m.cols);
    (h > 0 && d.is_multiple_of(h)).then_some(())?;
    let k = d / h;
    let ok = (0..d).all(|c| (0..h).all(|j| m.data[c * h + j] == f32::from(u8::from(c / k == j))));
    ok.then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::before_after;

    fn fused(text: &str, rel: &str) -> String {
        before_after(text, rel, "fuse_heads")
    }

    /// An attention layer's two head operations: scores `HeadSum(2)(q * k)` and the weighted
    /// values `v * Repeat(2)(a)`.
    #[test]
    fn head_sums_and_repeats_fuse() {
        let text = "Q = Linear(1, 4) .
            K = Linear(1, 4) .
            S(a, b; HeadSum(2)(Q([w]) * K([w]))) :- E(a, b, w) .
            V(a, b; Linear(1, 4)([w]) * Repeat(2)(s)) :- E(a, b, w), S(a, b; s) .";
        expect_test::expect![[r#"
              %6 = const                        [4 × 1]  matches of V
              %7 = module#3 %6                  [4 × 4]  matches of V
              %1 = module#0 %6                  [4 × 4]  matches of S
              %3 = module#1 %6                  [4 × 4]  matches of S
              %4 = mul %1 %3                    [4 × 4]  matches of S
              %5 = matmul %4 by const [4 × 2]   [4 × 2]  S
              %11 = matmul %5 by const [2 × 4]  [4 × 4]  matches of V
              %10 = mul %7 %11                  [4 × 4]  V

            --- after ---
              %6 = const                 [4 × 1]  matches of V
              %7 = module#3 %6           [4 × 4]  matches of V
              %1 = module#0 %6           [4 × 4]  matches of S
              %3 = module#1 %6           [4 × 4]  matches of S
              %5 = head_dot(2) %1 %3     [4 × 2]  S
              %10 = head_scale %7 by %5  [4 × 4]  V
        "#]]
        .assert_eq(&fused(text, "V"));
    }

    /// A product that something else also reads stays, and so does its `HeadSum`.
    #[test]
    fn shared_product_stays() {
        let text = "Q = Linear(1, 4) .
            K = Linear(1, 4) .
            P(a, b; Q([w]) * K([w])) :- E(a, b, w) .
            S(a, b; HeadSum(2)(p)) :- P(a, b; p) .
            T(a, b; Repeat(2)(s) + p) :- P(a, b; p), S(a, b; s) .";
        expect_test::expect![[r#"
              %0 = const                         [4 × 1]  matches of P
              %1 = module#0 %0                   [4 × 4]  matches of P
              %3 = module#1 %0                   [4 × 4]  matches of P
              %4 = mul %1 %3                     [4 × 4]  P
              %11 = matmul %4 by const [4 × 2]   [4 × 2]  S
              %12 = matmul %11 by const [2 × 4]  [4 × 4]  matches of T
              %10 = add %12 %4                   [4 × 4]  T

            --- after ---
              %0 = const                         [4 × 1]  matches of P
              %1 = module#0 %0                   [4 × 4]  matches of P
              %3 = module#1 %0                   [4 × 4]  matches of P
              %4 = mul %1 %3                     [4 × 4]  P
              %11 = matmul %4 by const [4 × 2]   [4 × 2]  S
              %12 = matmul %11 by const [2 × 4]  [4 × 4]  matches of T
              %10 = add %12 %4                   [4 × 4]  T
        "#]]
        .assert_eq(&fused(text, "T"));
    }

    #[test]
    fn block_matrices_are_recognised() {
        let repeat = Tensor::new(2, 4, vec![1., 1., 0., 0., 0., 0., 1., 1.]);
        assert_eq!(repeat_heads(&repeat), Some(2));
        assert_eq!(head_sum_heads(&repeat), None);
        let sum = Tensor::new(4, 2, vec![1., 0., 1., 0., 0., 1., 0., 1.]);
        assert_eq!(head_sum_heads(&sum), Some(2));
        assert_eq!(repeat_heads(&sum), None);
        let other = Tensor::new(2, 4, vec![1., 1., 0., 0., 0., 0., 1., 2.]);
        assert_eq!(repeat_heads(&other), None);
    }
}
