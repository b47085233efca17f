//! Sums of sums over the same facts become one weighted sum:
//! - `stack(reduce(x, c1, w1), reduce(x, c2, w2))` → `reduce(x, c1 ⊕ c2, w1 ⊕ w2)` (the
//!   rules of one head, or the branches of a union, reading the same relation);
//! - `reduce(reduce(x, c_in, w_in), c_out, w_out)` → `reduce(x, c_out · c_in, w_out · w_in)`
//!   when the inner sum has no other reader and the composed match list is no longer than
//!   both together (a union's selection, a one-match-per-head transform), so that a GCN layer
//!   with self loops written as two rules is still one SpMM.

use crate::plan::{NodeId, Op, Plan};
use nrp_sema::Agg;
use nrp_tensor::{BinaryOp, Csr, Tensor};
use std::sync::Arc;

/// A node read as a weighted sum over another node's rows: a `sum` reduction, a gather, or
/// a scaling by a constant or per-row column (one entry per row).
fn sum_parts(plan: &Plan, id: NodeId) -> Option<(NodeId, Arc<Csr>, Vec<f32>)> {
    let node = &plan.nodes[id];
    if node.sparse.is_some() {
        return None;
    }
    match &node.op {
        Op::Reduce {
            x,
            csr,
            agg: Agg::Sum,
            weights,
        } => {
            let w = weights
                .as_ref()
                .map_or_else(|| vec![1.0; csr.nnz()], |t| t.data.clone());
            Some((*x, csr.clone(), w))
        }
        Op::Gather { x, index } => Some((*x, index.clone(), vec![1.0; index.nnz()])),
        Op::Binary(BinaryOp::Mul, a, b) => [(*a, *b), (*b, *a)].into_iter().find_map(|(x, c)| {
            let Op::Const(t) = &plan.nodes[c].op else {
                return None;
            };
            let rows = plan.nodes[x].rows;
            let fits = t.cols == 1
                && (t.rows == 1 || t.rows == rows)
                && plan.nodes[x].dim == node.dim
                && rows == node.rows;
            fits.then(|| {
                let w = (0..rows)
                    .map(|r| t.data[if t.rows == 1 { 0 } else { r }])
                    .collect();
                (
                    x,
                    Arc::new(Csr::from_index((0..rows as u32).collect(), rows).expect("identity")),
                    w,
                )
            })
        }),
        _ => None,
    }
}

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    loop {
        let mut changed = false;
        let readers = plan.readers(targets);
        for id in plan.topological(targets) {
            changed |= stack_of_sums(plan, id) || sum_of_sum(plan, id, &readers);
            if changed {
                break; // reader counts are stale now
            }
        }
        if !changed {
            return;
        }
    }
}

fn stack_of_sums(plan: &mut Plan, id: NodeId) -> bool {
    let Op::Stack { xs, .. } = &plan.nodes[id].op else {
        return false;
    };
    let parts: Option<Vec<_>> = xs.iter().map(|&x| sum_parts(plan, x)).collect();
    let Some(mut parts) = parts else { return false };
    // A part that is the common source itself counts as its own identity sum.
    let x = parts
        .iter()
        .map(|p| p.0)
        .find(|&s| !xs.contains(&s))
        .unwrap_or(parts[0].0);
    for (p, &node) in parts.iter_mut().zip(xs) {
        if p.0 != x && node == x {
            let rows = plan.nodes[x].rows;
            *p = (
                x,
                Arc::new(Csr::from_index((0..rows as u32).collect(), rows).expect("identity")),
                vec![1.0; rows],
            );
        }
    }
    if parts.iter().any(|(s, _, _)| *s != x) {
        return false;
    }
    let mut indptr = vec![0usize];
    let mut indices = vec![];
    let mut weights = vec![];
    for (_, csr, w) in &parts {
        let base = indices.len();
        indptr.extend(csr.indptr()[1..].iter().map(|&p| base + p));
        indices.extend_from_slice(csr.indices());
        weights.extend_from_slice(w);
    }
    let rows = indptr.len() - 1;
    let csr = Csr::new(rows, plan.nodes[x].rows, indptr, indices).expect("stacked match lists");
    plan.nodes[id].op = Op::Reduce {
        x,
        csr: Arc::new(csr),
        agg: Agg::Sum,
        weights: Some(Arc::new(Tensor::new(weights.len(), 1, weights))),
    };
    true
}

fn sum_of_sum(plan: &mut Plan, id: NodeId, readers: &[usize]) -> bool {
    if !matches!(plan.nodes[id].op, Op::Reduce { .. }) {
        return false; // gathers and scalings are absorbed by their reader instead
    }
    let Some((inner, c_out, w_out)) = sum_parts(plan, id) else {
        return false;
    };
    if readers[inner] != 1 {
        return false;
    }
    let Some((x, c_in, w_in)) = sum_parts(plan, inner) else {
        return false;
    };
    let composed_nnz: usize = c_out
        .indices()
        .iter()
        .map(|&j| c_in.segments().range(j as usize).len())
        .sum();
    if composed_nnz > c_in.nnz() + c_out.nnz() {
        return false; // a real product (two hops): keep two sparse products
    }
    let mut indptr = vec![0usize];
    let mut indices = Vec::with_capacity(composed_nnz);
    let mut weights = Vec::with_capacity(composed_nnz);
    for h in 0..c_out.n_rows() {
        for e in c_out.segments().range(h) {
            let j = c_out.indices()[e] as usize;
            for k in c_in.segments().range(j) {
                indices.push(c_in.indices()[k]);
                weights.push(w_out[e] * w_in[k]);
            }
        }
        indptr.push(indices.len());
    }
    let csr =
        Csr::new(c_out.n_rows(), c_in.n_cols(), indptr, indices).expect("composed match list");
    plan.nodes[id].op = Op::Reduce {
        x,
        csr: Arc::new(csr),
        agg: Agg::Sum,
        weights: Some(Arc::new(Tensor::new(weights.len(), 1, weights))),
    };
    true
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{optimized_until, snapshot};

    #[test]
    fn self_loop_rule_joins_the_neighbour_sum() {
        let text = "F(v; Linear(1, 2)([v])) :- E(v, _). \
                    A(v; sum(x * [w])) :- F(u; x), E(u, v, w). A(v; x * 2) :- F(v; x). \
                    H(v; Linear(2, 1)(a)) :- A(v; a) .";
        let (mut plan, targets) = optimized_until(text, "H", "merge_sums");
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %0 = const                                   [4 × 1]  matches of F
              %1 = module#0 %0                             [4 × 2]  matches of F
              %2 = reduce sum %1 over 4 matches            [3 × 2]  F
              %6 = reduce sum %2 over 4 matches, weighted  [3 × 2]  A#1
              %8 = const                                   [1 × 1]  constant
              %16 = mul %2 %8                              [3 × 2]  A#2
              %12 = stack %6 %16                           [6 × 2]  matches of A
              %13 = reduce sum %12 over 6 matches          [3 × 2]  A
              %17 = module#1 %13                           [3 × 1]  H

            --- after ---
              %0 = const                                     [4 × 1]  matches of F
              %1 = module#0 %0                               [4 × 2]  matches of F
              %13 = reduce sum %1 over 10 matches, weighted  [3 × 2]  A
              %17 = module#1 %13                             [3 × 1]  H
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
