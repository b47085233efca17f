//! Multi-head fusion: `Repeat(k)` copies each coordinate `k` times and `HeadSum(h)` sums
//! blocks, so an attention layer that weighs its values, `x * Repeat(k)(a)`, or scores its
//! keys, `HeadSum(h)(q * k)`, writes and reads a `[matches, d]` intermediate each time. Both
//! become one pass:
//!
//! - `x * Repeat(k)(a)` → `head_scale x by a`: each head's block of `x` times its weight;
//! - `HeadSum(h)(x * y)` → `head_dot(h) x y`: per-head dot products (when nothing else reads
//!   the product).
//!
//! Same bits: the products are the same, summed in the same order.

use crate::plan::{NodeId, Op, Plan};
use nrp_tensor::BinaryOp;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let readers = plan.readers(targets);
    for id in plan.topological(targets) {
        let (rows, dim) = (plan.nodes[id].rows, plan.nodes[id].dim);
        // Only operands with this node's rows (no broadcast), all dense; `fits` also
        // checks the width.
        let dense_rows =
            |plan: &Plan, i: NodeId| plan.nodes[i].rows == rows && plan.nodes[i].sparse.is_none();
        let fits = |plan: &Plan, i: NodeId, d: usize| dense_rows(plan, i) && plan.nodes[i].dim == d;
        if plan.nodes[id].sparse.is_some() {
            continue;
        }
        match plan.nodes[id].op {
            Op::Binary(BinaryOp::Mul, a, b) => {
                let scaled =
                    [(a, b), (b, a)]
                        .into_iter()
                        .find_map(|(x, r)| match plan.nodes[r].op {
                            Op::HeadScale { x: None, a: w }
                                if fits(plan, x, dim)
                                    && fits(plan, r, dim)
                                    && dense_rows(plan, w) =>
                            {
                                Some((x, w))
                            }
                            _ => None,
                        });
                if let Some((x, a)) = scaled {
                    plan.nodes[id].op = Op::HeadScale { x: Some(x), a };
                }
            }
            Op::HeadDot {
                x: prod,
                y: None,
                heads,
            } => {
                let Op::Binary(BinaryOp::Mul, x, y) = plan.nodes[prod].op else {
                    continue;
                };
                let d = plan.nodes[prod].dim;
                if readers[prod] == 1
                    && dense_rows(plan, prod)
                    && fits(plan, x, d)
                    && fits(plan, y, d)
                {
                    plan.nodes[id].op = Op::HeadDot {
                        x,
                        y: Some(y),
                        heads,
                    };
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
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
              %6 = const           [4 × 1]  matches of V
              %7 = module#3 %6     [4 × 4]  matches of V
              %1 = module#0 %6     [4 × 4]  matches of S
              %3 = module#1 %6     [4 × 4]  matches of S
              %4 = mul %1 %3       [4 × 4]  matches of S
              %5 = head_sum(2) %4  [4 × 2]  S
              %11 = repeat(2) %5   [4 × 4]  matches of V
              %10 = mul %7 %11     [4 × 4]  V

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
              %0 = const            [4 × 1]  matches of P
              %1 = module#0 %0      [4 × 4]  matches of P
              %3 = module#1 %0      [4 × 4]  matches of P
              %4 = mul %1 %3        [4 × 4]  P
              %11 = head_sum(2) %4  [4 × 2]  S
              %12 = repeat(2) %11   [4 × 4]  matches of T
              %10 = add %12 %4      [4 × 4]  T

            --- after ---
              %0 = const            [4 × 1]  matches of P
              %1 = module#0 %0      [4 × 4]  matches of P
              %3 = module#1 %0      [4 × 4]  matches of P
              %4 = mul %1 %3        [4 × 4]  P
              %11 = head_sum(2) %4  [4 × 2]  S
              %12 = repeat(2) %11   [4 × 4]  matches of T
              %10 = add %12 %4      [4 × 4]  T
        "#]]
        .assert_eq(&fused(text, "T"));
    }
}
