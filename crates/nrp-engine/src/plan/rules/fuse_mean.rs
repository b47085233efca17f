//! Mean fusion: a `mean` is lowered as a sum divided by the match counts, so that the other
//! rewrites see a sum. At the end, a sum read only by that division runs as one mean kernel
//! that divides each head row as it finishes it: the division no longer costs a pass over
//! the `[heads, d]` result. Same bits: the sum in match-list order, then one exact division.

use crate::plan::{NodeId, Op, Plan};
use nrp_sema::Agg;
use nrp_tensor::BinaryOp;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let readers = plan.readers(targets);
    for id in plan.topological(targets) {
        let Op::Binary(BinaryOp::Div, sum, count) = plan.nodes[id].op else {
            continue;
        };
        let Op::Reduce {
            x,
            csr,
            agg: Agg::Sum,
            weights: None,
        } = &plan.nodes[sum].op
        else {
            continue;
        };
        let Op::Const(c) = &plan.nodes[count].op else {
            continue;
        };
        let dense = [id, sum, count]
            .iter()
            .all(|&i| plan.nodes[i].sparse.is_none());
        let counts = csr.segments().counts();
        // Empty rows would be 0/0 here but 0 in the kernel: only fuse when every row has
        // matches (heads of a rule always do).
        let divides_by_counts = c.cols == 1
            && c.data.len() == counts.len()
            && counts
                .iter()
                .zip(&c.data)
                .all(|(&n, &v)| n > 0 && v == n as f32);
        if readers[sum] != 1 || !dense || !divides_by_counts {
            continue;
        }
        plan.nodes[id].op = Op::Reduce {
            x: *x,
            csr: csr.clone(),
            agg: Agg::Mean,
            weights: None,
        };
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::before_after;

    fn fused(text: &str, rel: &str) -> String {
        before_after(text, rel, "fuse_mean")
    }

    /// HGNN's propagation: `Lin` pushed below the mean leaves a sum, a division, a bias.
    #[test]
    fn sum_divided_by_counts_is_one_mean() {
        let text = "Emb = Linear(2, 4) .
            Lin = Linear(4, 2) .
            G(u, v; Emb([u, v])) :- E(u, v, _) .
            M(v; mean(g)) :- G(u, v; g) .
            H(v; Lin(m)) :- M(v; m) .";
        expect_test::expect![[r#"
              %0 = const                          [4 × 2]  matches of G
              %1 = module#0 %0                    [4 × 4]  G
              %9 = module#1 (no bias) %1          [4 × 2]  H (per fact, before the sum)
              %10 = reduce sum %9 over 4 matches  [3 × 2]  H (sum)
              %4 = const                          [3 × 1]  M (count)
              %11 = div %10 %4                    [3 × 2]  H (mean)
              %8 = module#1.bias + %11            [3 × 2]  H

            --- after ---
              %0 = const                           [4 × 2]  matches of G
              %1 = module#0 %0                     [4 × 4]  G
              %9 = module#1 (no bias) %1           [4 × 2]  H (per fact, before the sum)
              %11 = reduce mean %9 over 4 matches  [3 × 2]  H (mean)
              %8 = module#1.bias + %11             [3 × 2]  H
        "#]]
        .assert_eq(&fused(text, "H"));
    }

    /// The sum is also read by another rule: it stays, and so does the division.
    #[test]
    fn shared_sum_stays() {
        let text = "Lin = Linear(2, 2) .
            G(v; Lin([v, v])) :- E(v, _, _) .
            S(v; sum(g)) :- E(u, v, _), G(u; g) .
            M(v; mean(g)) :- E(u, v, _), G(u; g) .
            H(v; s + m) :- S(v; s), M(v; m) .";
        expect_test::expect![[r#"
              %0 = const                         [4 × 2]  matches of G
              %1 = module#0 %0                   [4 × 2]  matches of G
              %2 = reduce sum %1 over 4 matches  [3 × 2]  G
              %4 = reduce sum %2 over 4 matches  [3 × 2]  S
              %7 = const                         [3 × 1]  M (count)
              %8 = div %4 %7                     [3 × 2]  M
              %11 = add %4 %8                    [3 × 2]  H

            --- after ---
              %0 = const                         [4 × 2]  matches of G
              %1 = module#0 %0                   [4 × 2]  matches of G
              %2 = reduce sum %1 over 4 matches  [3 × 2]  G
              %4 = reduce sum %2 over 4 matches  [3 × 2]  S
              %7 = const                         [3 × 1]  M (count)
              %8 = div %4 %7                     [3 × 2]  M
              %11 = add %4 %8                    [3 × 2]  H
        "#]]
        .assert_eq(&fused(text, "H"));
    }
}
