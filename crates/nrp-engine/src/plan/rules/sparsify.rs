//! Sparse constants: a constant matrix that is mostly zeros (bag-of-words features built by
//! `sum([value] * OneHot(n)([dim]))`) is kept as its non-zeros, and sparsity flows forward
//! through the operations that map zero to zero — dropout (the mask is drawn for the
//! non-zeros only: the zeros stay zero whatever it says, so the distribution is the same),
//! scaling by a constant or a per-row value, negation, relu, abs, sqrt, row gathers and
//! weighted sums (a sparse·sparse product with a structure fixed at grounding) — and a
//! `Linear` on sparse rows is one sparse product over the non-zeros (`Graph::sparse_linear`).
//! Any other reader gets a dense copy.
//!
//! For a sparse node, the ops act on its `[nnz, 1]` values: a gather selects entries, a
//! weighted sum maps entries of the input to entries of the output.

use crate::plan::{NodeId, Op, Plan, sparse};
use nrp_sema::Agg;
use nrp_tensor::{BinaryOp, Csr, UnaryOp};
use std::sync::Arc;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let order = plan.topological(targets);
    for &id in &order {
        if let Op::Const(t) = &plan.nodes[id].op
            && plan.nodes[id].sparse.is_none()
            && sparse::worth_it(t.rows, t.cols, t.data.iter().filter(|&&x| x != 0.0).count())
        {
            {
                let (structure, values) = sparse::from_dense(t);
                plan.nodes[id].op = Op::Const(Arc::new(values));
                plan.nodes[id].sparse = Some(Arc::new(structure));
            }
        }
    }
    let mut dense_copy: Vec<Option<NodeId>> = vec![None; plan.nodes.len()];
    for &id in &order {
        if matches!(plan.nodes[id].op, Op::Const(_))
            || !plan.nodes[id]
                .op
                .inputs()
                .iter()
                .any(|&i| plan.nodes[i].sparse.is_some())
        {
            continue;
        }
        if !propagate(plan, id) {
            // This reader needs dense rows: give it a dense copy of each sparse input.
            let mut op = plan.nodes[id].op.clone();
            for slot in op.inputs_mut() {
                if plan.nodes[*slot].sparse.is_some() {
                    *slot = densify(plan, &mut dense_copy, *slot);
                }
            }
            plan.nodes[id].op = op;
        }
    }
    // Relations whose values are read out must be dense.
    for r in 0..plan.relation.len() {
        if let Some(n) = plan.relation[r]
            && targets.contains(&n)
            && plan.nodes[n].sparse.is_some()
        {
            plan.relation[r] = Some(densify(plan, &mut dense_copy, n));
        }
    }
}

fn densify(plan: &mut Plan, cache: &mut Vec<Option<NodeId>>, x: NodeId) -> NodeId {
    cache.resize(plan.nodes.len().max(cache.len()), None);
    if let Some(d) = cache[x] {
        return d;
    }
    let n = &plan.nodes[x];
    let (rows, dim, label, span, space) = (n.rows, n.dim, n.label.clone(), n.span, n.space);
    let d = plan.add(Op::Densify(x), rows, dim, label, span, space);
    cache[x] = Some(d);
    d
}

/// Makes `id` sparse if its operation preserves zeros; false when it needs dense input.
fn propagate(plan: &mut Plan, id: NodeId) -> bool {
    let sparse_of = |plan: &Plan, i: NodeId| plan.nodes[i].sparse.clone();
    match plan.nodes[id].op.clone() {
        Op::Linear { .. } => true, // one sparse product over the non-zeros; dense output
        Op::Dropout { x, .. }
        | Op::Unary(UnaryOp::Neg | UnaryOp::Relu | UnaryOp::Abs | UnaryOp::Sqrt, x) => {
            plan.nodes[id].sparse = sparse_of(plan, x);
            true
        }
        Op::Binary(op @ (BinaryOp::Mul | BinaryOp::Div), a, b) => {
            // sparse * s, s * sparse, sparse / s with s a constant or a per-row column.
            let (sp, other) = match (
                plan.nodes[a].sparse.is_some(),
                plan.nodes[b].sparse.is_some(),
            ) {
                (true, false) => (a, b),
                (false, true) if op == BinaryOp::Mul => (b, a),
                _ => return false,
            };
            let structure = sparse_of(plan, sp).expect("sparse");
            let o = &plan.nodes[other];
            let per_entry = if o.rows == 1 && o.dim == 1 {
                other
            } else if o.rows == structure.n_rows() && o.dim == 1 {
                // Spread the per-row value to the row's entries.
                let rows: Vec<u32> = structure.segments().row_of_entries();
                let index = Csr::from_index(rows, o.rows).expect("rows in range");
                let (span, space) = (o.span, o.space);
                plan.add(
                    Op::Gather {
                        x: other,
                        index: Arc::new(index),
                    },
                    structure.nnz(),
                    1,
                    "per entry",
                    span,
                    space,
                )
            } else {
                return false;
            };
            plan.nodes[id].op = if sp == a {
                Op::Binary(op, sp, per_entry)
            } else {
                Op::Binary(op, per_entry, sp)
            };
            plan.nodes[id].sparse = Some(structure);
            true
        }
        Op::Gather { x, index } => {
            let s = sparse_of(plan, x).expect("sparse input");
            let mut indptr = vec![0usize];
            let mut cols = vec![];
            let mut entries = vec![];
            for &r in index.indices() {
                for k in s.segments().range(r as usize) {
                    cols.push(s.indices()[k]);
                    entries.push(k as u32);
                }
                indptr.push(cols.len());
            }
            let structure =
                Csr::new(index.n_rows(), s.n_cols(), indptr, cols).expect("selected rows");
            plan.nodes[id].op = Op::Gather {
                x,
                index: Arc::new(Csr::from_index(entries, s.nnz()).expect("entries in range")),
            };
            plan.nodes[id].sparse = Some(Arc::new(structure));
            true
        }
        Op::Reduce {
            x,
            csr,
            agg: Agg::Sum,
            weights,
        } => {
            let s = sparse_of(plan, x).expect("sparse input");
            let Some((structure, map, map_weights)) =
                sparse::product(&csr, weights.as_ref().map(|w| &w.data[..]), &s)
            else {
                return false;
            };
            plan.nodes[id].op = Op::Reduce {
                x,
                csr: Arc::new(map),
                agg: Agg::Sum,
                weights: Some(Arc::new(map_weights)),
            };
            plan.nodes[id].sparse = Some(Arc::new(structure));
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{optimized_until, snapshot};

    #[test]
    fn bag_of_words_features_stay_sparse() {
        // 3 nodes × 2000 one-hot dimensions: 4 non-zeros.
        let text = "X(v; sum([w] * OneHot(2000)([d]))) :- F(v, d, w). \
                    Xn(v; Dropout(0.5)(x * 2)) :- X(v; x). \
                    H(v; Linear(2000, 2)(sum(x * [w]))) :- Xn(u; x), E(u, v, w) .";
        let (mut plan, targets) = optimized_until(text, "H", "sparsify");
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %15 = const                                    [3 × 2000 sparse, 4 nnz]  matches of Xn (per fact)
              %16 = dropout(0.5) %15                         [3 × 2000]  Xn
              %18 = module#2 (no bias) %16                   [3 × 2]  H (per fact, before the sum)
              %19 = reduce sum %18 over 4 matches, weighted  [3 × 2]  H (sum)
              %17 = module#2.bias + %19                      [3 × 2]  H

            --- after ---
              %15 = const                                    [3 × 2000 sparse, 4 nnz]  matches of Xn (per fact)
              %16 = dropout(0.5) %15                         [3 × 2000 sparse, 4 nnz]  Xn
              %18 = module#2 (no bias) %16                   [3 × 2]  H (per fact, before the sum)
              %19 = reduce sum %18 over 4 matches, weighted  [3 × 2]  H (sum)
              %17 = module#2.bias + %19                      [3 × 2]  H
        "#]].assert_eq(&format!("{before}\n--- after ---\n{}", snapshot(&plan, &targets)));
    }
}
