//! Gathers fused into their readers:
//! - `reduce(gather(x, i), csr)` → `reduce(x, csr∘i)`: the reduction reads the facts
//!   directly (`sum(z * w)` over a match list is one SpMM over the relation's rows);
//! - `gather(gather(x, i), j)` → `gather(x, i∘j)`;
//! - `stack(gather(a, i), gather(b, j))` → `gather(stack(a, b), i ++ (j + |a|))`;
//! - a reduction whose head rows each have exactly one match is a gather;
//! - a gather by the identity is its input.

use super::redirect;
use crate::plan::{NodeId, Op, Plan};
use nrp_tensor::Csr;
use std::sync::Arc;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let mut targets = targets.to_vec();
    // Iterate to a fixpoint: each rewrite may enable another upstream.
    loop {
        let mut changed = false;
        for id in plan.topological(&targets) {
            changed |= rewrite(plan, id, &mut targets);
        }
        if !changed {
            return;
        }
    }
}

fn rewrite(plan: &mut Plan, id: NodeId, targets: &mut [NodeId]) -> bool {
    match plan.nodes[id].op.clone() {
        Op::Reduce {
            x,
            csr,
            agg,
            weights,
        } => {
            if let Op::Gather { x: src, index } = &plan.nodes[x].op {
                let indices: Vec<u32> = csr
                    .indices()
                    .iter()
                    .map(|&k| index.indices()[k as usize])
                    .collect();
                let fused = Csr::new(
                    csr.n_rows(),
                    plan.nodes[*src].rows,
                    csr.indptr().to_vec(),
                    indices,
                )
                .expect("composed match list");
                plan.nodes[id].op = Op::Reduce {
                    x: *src,
                    csr: Arc::new(fused),
                    agg,
                    weights,
                };
                return true;
            }
            if weights.is_none() && csr.segments().counts().iter().all(|&c| c == 1) {
                let index = Csr::from_index(csr.indices().to_vec(), csr.n_cols())
                    .expect("one entry per row");
                plan.nodes[id].op = Op::Gather {
                    x,
                    index: Arc::new(index),
                };
                return true;
            }
            false
        }
        Op::Gather { x, index } => {
            if let Op::Gather {
                x: src,
                index: inner,
            } = &plan.nodes[x].op
            {
                let indices: Vec<u32> = index
                    .indices()
                    .iter()
                    .map(|&k| inner.indices()[k as usize])
                    .collect();
                let composed = Csr::from_index(indices, inner.n_cols()).expect("composed index");
                plan.nodes[id].op = Op::Gather {
                    x: *src,
                    index: Arc::new(composed),
                };
                return true;
            }
            let identity = index.n_rows() == plan.nodes[x].rows
                && index
                    .indices()
                    .iter()
                    .enumerate()
                    .all(|(i, &k)| i as u32 == k);
            if identity {
                let label = plan.nodes[id].label.clone();
                redirect(plan, id, x);
                for t in targets.iter_mut().filter(|t| **t == id) {
                    *t = x;
                }
                if plan.nodes[x].label.contains("matches")
                    || plan.nodes[x].label.ends_with("(per fact)")
                {
                    plan.nodes[x].label = label;
                }
                return true;
            }
            false
        }
        Op::Stack { xs, .. } => {
            let parts: Option<Vec<(NodeId, Arc<Csr>)>> = xs
                .iter()
                .map(|&x| match &plan.nodes[x].op {
                    Op::Gather { x: src, index } => Some((*src, index.clone())),
                    _ => None,
                })
                .collect();
            let Some(parts) = parts else { return false };
            let dim = plan.nodes[id].dim;
            let label = plan.nodes[id].label.clone();
            let sources: Vec<NodeId> = parts.iter().map(|(s, _)| *s).collect();
            let mut indices = vec![];
            let mut offset = 0u32;
            for (src, index) in &parts {
                indices.extend(index.indices().iter().map(|&k| k + offset));
                offset += plan.nodes[*src].rows as u32;
            }
            let stacked = plan.stack(sources, dim, format!("{label} (facts)"));
            let index = Csr::from_index(indices, offset as usize).expect("stacked index");
            plan.nodes[id].op = Op::Gather {
                x: stacked,
                index: Arc::new(index),
            };
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{optimized_until, snapshot};

    #[test]
    fn gcn_layer_becomes_one_weighted_spmm() {
        let text = "D(v; count()) :- E(_, v). N(u, v; 1 / sqrt(a * b)) :- E(u, v), D(u; a), D(v; b). \
                    F(v; [v, v]) :- E(v, _). H(v; sum(Linear(2, 2)(f) * w)) :- F(u; f), N(u, v; w) .";
        let (mut plan, targets) = optimized_until(text, "H", "gather_through");
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %8 = const                                     [3 × 2]  F
              %14 = module#0 %8                              [3 × 2]  matches of H (per fact)
              %10 = gather %14 by 4 rows                     [4 × 2]  matches of H
              %13 = reduce sum %10 over 4 matches, weighted  [3 × 2]  H

            --- after ---
              %8 = const                                     [3 × 2]  F
              %14 = module#0 %8                              [3 × 2]  matches of H (per fact)
              %13 = reduce sum %14 over 4 matches, weighted  [3 × 2]  H
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }

    #[test]
    fn several_rules_sum_their_relations() {
        let text = "A(v; [v]) :- E(v, _). B(v; [v, v] * 2) :- E(_, v). C(v; x) :- A(v; x). C(v; Linear(2, 1)(y)) :- B(v; y) .";
        let (mut plan, targets) = optimized_until(text, "C", "gather_through");
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %9 = const                           [3 × 1]  matches of C
              %5 = const                           [3 × 2]  B
              %13 = module#0 %5                    [3 × 1]  C#2 (per fact)
              %8 = gather %13 by 3 rows            [3 × 1]  C#2
              %10 = gather %8 by 3 rows            [3 × 1]  matches of C
              %11 = stack %9 %10                   [6 × 1]  matches of C
              %12 = reduce sum %11 over 6 matches  [3 × 1]  C

            --- after ---
              %9 = const                           [3 × 1]  matches of C
              %5 = const                           [3 × 2]  B
              %13 = module#0 %5                    [3 × 1]  C#2
              %11 = stack %9 %13                   [6 × 1]  matches of C
              %12 = reduce sum %11 over 6 matches  [3 × 1]  C
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
