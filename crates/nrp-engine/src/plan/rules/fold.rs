//! Constant folding: every node that reads no parameter and draws no dropout mask has the
//! same value in every epoch, so it is computed once, here, and becomes a constant: the
//! relational preprocessing of a program (degrees, normalisations, features, labels) costs
//! nothing per epoch.

use super::Ctx;
use crate::exec;
use crate::plan::{NodeId, Op, Plan, sparse};
use nrp_sema::Agg;
use nrp_syntax::Diagnostic;
use nrp_tensor::{BinaryOp, Csr, Tensor, UnaryOp};
use std::sync::Arc;

/// Folds constant nodes one by one, inputs first. Sparse constants (from `onehot_sum`) stay
/// sparse through the operations that preserve zeros; any other reader gets a dense copy.
pub fn apply(plan: &mut Plan, ctx: &Ctx, targets: &[NodeId]) -> Result<(), Diagnostic> {
    let constant = plan.constant(ctx.program);
    for id in plan.topological(targets) {
        if !constant[id] || matches!(plan.nodes[id].op, Op::Const(_)) {
            continue;
        }
        if plan.nodes[id]
            .op
            .inputs()
            .iter()
            .any(|&i| plan.nodes[i].sparse.is_some())
            && fold_sparse(plan, id)
        {
            continue;
        }
        // Dense evaluation: sparse inputs are made dense first.
        let mut op = plan.nodes[id].op.clone();
        for slot in op.inputs_mut() {
            if let Some(s) = plan.nodes[*slot].sparse.clone() {
                let Op::Const(v) = &plan.nodes[*slot].op else {
                    unreachable!("folded inputs")
                };
                let dense = sparse::to_dense(&s, &v.data);
                let n = &plan.nodes[*slot];
                let (label, span, space) = (n.label.clone(), n.span, n.space);
                *slot = plan.add(
                    Op::Const(Arc::new(dense)),
                    s.n_rows(),
                    s.n_cols(),
                    label,
                    span,
                    space,
                );
            }
        }
        plan.nodes[id].op = op;
        let t = exec::evaluate(plan, ctx.program, &[id])
            .map_err(|e| crate::runtime_error(ctx.program, ctx.ground, plan, e))?
            .pop()
            .expect("one value");
        plan.nodes[id].rows = t.rows;
        plan.nodes[id].op = Op::Const(Arc::new(t));
    }
    Ok(())
}

fn values(plan: &Plan, i: NodeId) -> &Tensor {
    match &plan.nodes[i].op {
        Op::Const(t) => t,
        _ => unreachable!("inputs of a folded node are folded first"),
    }
}

/// Folds a node with a sparse input without densifying; false if the operation does not
/// preserve zeros (then the caller densifies).
fn fold_sparse(plan: &mut Plan, id: NodeId) -> bool {
    let op = plan.nodes[id].op.clone();
    let result: Option<(Arc<Csr>, Vec<f32>)> = match op {
        Op::Gather { x, index } => {
            let s = plan.nodes[x].sparse.clone().expect("sparse");
            let (g, entries) = sparse::gather_rows(&s, index.indices());
            let v = &values(plan, x).data;
            Some((
                Arc::new(g),
                entries.iter().map(|&k| v[k as usize]).collect(),
            ))
        }
        Op::Unary(op @ (UnaryOp::Neg | UnaryOp::Relu | UnaryOp::Abs | UnaryOp::Sqrt), x) => {
            let s = plan.nodes[x].sparse.clone().expect("sparse");
            let f = |v: f32| match op {
                UnaryOp::Neg => -v,
                UnaryOp::Relu => v.max(0.0),
                UnaryOp::Abs => v.abs(),
                _ => v.sqrt(),
            };
            Some((s, values(plan, x).data.iter().map(|&v| f(v)).collect()))
        }
        Op::Binary(op @ (BinaryOp::Mul | BinaryOp::Div), a, b) => {
            let (sp, other) = match (
                plan.nodes[a].sparse.is_some(),
                plan.nodes[b].sparse.is_some(),
            ) {
                (true, false) => (a, b),
                (false, true) if op == BinaryOp::Mul => (b, a),
                _ => return false,
            };
            let s = plan.nodes[sp].sparse.clone().expect("sparse");
            let o = values(plan, other);
            let per_row = o.cols == 1 && (o.rows == 1 || o.rows == s.n_rows());
            if !per_row {
                return false;
            }
            let v = &values(plan, sp).data;
            let mut out = Vec::with_capacity(v.len());
            for r in 0..s.n_rows() {
                let f = o.data[if o.rows == 1 { 0 } else { r }];
                for k in s.segments().range(r) {
                    out.push(if op == BinaryOp::Mul {
                        v[k] * f
                    } else {
                        v[k] / f
                    });
                }
            }
            Some((s, out))
        }
        Op::Reduce {
            x,
            csr,
            agg: Agg::Sum,
            weights,
        } => {
            let s = plan.nodes[x].sparse.clone().expect("sparse");
            let Some((structure, map, mw)) =
                sparse::product(&csr, weights.as_ref().map(|w| &w.data[..]), &s)
            else {
                return false;
            };
            let out = sparse::apply_map(&map, &mw.data, &values(plan, x).data);
            Some((Arc::new(structure), out))
        }
        _ => None,
    };
    let Some((structure, vals)) = result else {
        return false;
    };
    let n = vals.len();
    plan.nodes[id].rows = structure.n_rows();
    plan.nodes[id].op = Op::Const(Arc::new(Tensor::new(n, 1, vals)));
    plan.nodes[id].sparse = Some(structure);
    true
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{optimized_until, snapshot, with_ctx};

    #[test]
    fn normalisation_is_computed_once() {
        let text = "D(v; count()) :- E(_, v). N(u, v; 1 / sqrt(a * b)) :- E(u, v), D(u; a), D(v; b). \
                    F(v; [v]) :- E(v, _). H(v; sum(Linear(1, 1)(f) * w)) :- F(u; f), N(u, v; w) .";
        let (mut plan, targets) = optimized_until(text, "H", "fold");
        let before = snapshot(&plan, &targets);
        with_ctx(text, |ctx| super::apply(&mut plan, ctx, &targets).unwrap());
        expect_test::expect![[r#"
              %8 = const                           [4 × 1]  matches of F
              %9 = reduce sum %8 over 4 matches    [3 × 1]  F
              %15 = module#0 %9                    [3 × 1]  matches of H (per fact)
              %11 = gather %15 by 4 rows           [4 × 1]  matches of H
              %1 = const                           [1 × 1]  constant
              %0 = const                           [3 × 1]  D
              %2 = gather %0 by 4 rows             [4 × 1]  matches of N
              %3 = gather %0 by 4 rows             [4 × 1]  matches of N
              %4 = mul %2 %3                       [4 × 1]  matches of N
              %5 = sqrt %4                         [4 × 1]  matches of N
              %6 = div %1 %5                       [4 × 1]  matches of N
              %7 = reduce sum %6 over 4 matches    [4 × 1]  N
              %12 = gather %7 by 4 rows            [4 × 1]  matches of H
              %13 = mul %11 %12                    [4 × 1]  matches of H
              %14 = reduce sum %13 over 4 matches  [3 × 1]  H

            --- after ---
              %9 = const                           [3 × 1]  F
              %15 = module#0 %9                    [3 × 1]  matches of H (per fact)
              %11 = gather %15 by 4 rows           [4 × 1]  matches of H
              %12 = const                          [4 × 1]  matches of H
              %13 = mul %11 %12                    [4 × 1]  matches of H
              %14 = reduce sum %13 over 4 matches  [3 × 1]  H
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
