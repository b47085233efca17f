//! Factor splitting: in `sum(z * w)`, a factor `w` that is constant per match (a folded
//! normalisation, an edge weight) becomes the weights of the match list, so the reduction
//! runs as one weighted sparse product (`out[h] = Σ_k w_k · z[idx_k]`) and the per-match
//! product `z * w` is never materialised. `mean` folds its `1/count` into the same weights.

use crate::plan::{NodeId, Op, Plan};
use nrp_sema::Agg;
use nrp_tensor::{BinaryOp, Tensor};
use std::sync::Arc;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    for id in plan.topological(targets) {
        while let Op::Reduce {
            x,
            csr,
            agg: agg @ (Agg::Sum | Agg::Mean),
            weights,
        } = &plan.nodes[id].op
        {
            let (x, csr, agg, weights) = (*x, csr.clone(), *agg, weights.clone());
            let Op::Binary(BinaryOp::Mul, a, b) = plan.nodes[x].op else {
                break;
            };
            let scalar_factor = |i: NodeId| match &plan.nodes[i].op {
                Op::Const(t) if t.cols == 1 && (t.rows == 1 || t.rows == plan.nodes[x].rows) => {
                    Some(t.clone())
                }
                _ => None,
            };
            // The other factor keeps the product's dimension (a 1-column factor broadcasts).
            let split = [(a, b), (b, a)].into_iter().find_map(|(keep, w)| {
                (plan.nodes[keep].dim == plan.nodes[x].dim
                    && plan.nodes[keep].rows == plan.nodes[x].rows)
                    .then_some(())?;
                scalar_factor(w).map(|t| (keep, t))
            });
            let Some((keep, w)) = split else { break };
            let counts = csr.segments().counts();
            let mut vals = Vec::with_capacity(csr.nnz());
            for (h, &count) in counts.iter().enumerate() {
                for e in csr.segments().range(h) {
                    let m = csr.indices()[e] as usize;
                    let mut v = w.data[if w.rows == 1 { 0 } else { m }];
                    if let Some(prev) = &weights {
                        v *= prev.data[e];
                    } else if agg == Agg::Mean {
                        v /= count as f32;
                    }
                    vals.push(v);
                }
            }
            plan.nodes[id].op = Op::Reduce {
                x: keep,
                csr,
                agg: Agg::Sum,
                weights: Some(Arc::new(Tensor::new(vals.len(), 1, vals))),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{optimized_until, snapshot};

    #[test]
    fn edge_weights_become_match_weights() {
        let text =
            "F(v; [v, v]) :- E(v, _, _). H(v; sum(Linear(2, 2)(f) * [w])) :- F(u; f), E(u, v, w) .";
        let (mut plan, targets) = optimized_until(text, "H", "factor_split");
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %1 = const                         [3 × 2]  F
              %7 = module#0 %1                   [3 × 2]  matches of H (per fact)
              %3 = gather %7 by 4 rows           [4 × 2]  matches of H
              %4 = const                         [4 × 1]  matches of H
              %5 = mul %3 %4                     [4 × 2]  matches of H
              %6 = reduce sum %5 over 4 matches  [3 × 2]  H

            --- after ---
              %1 = const                                   [3 × 2]  F
              %7 = module#0 %1                             [3 × 2]  matches of H (per fact)
              %3 = gather %7 by 4 rows                     [4 × 2]  matches of H
              %6 = reduce sum %3 over 4 matches, weighted  [3 × 2]  H
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
