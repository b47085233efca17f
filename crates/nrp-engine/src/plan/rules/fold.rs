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
    let mut constant = plan.constant(ctx.program);
    let readers = plan.readers(targets);
    let mut reader = vec![None; plan.nodes.len()];
    for id in plan.topological(targets) {
        for i in plan.nodes[id].op.inputs() {
            reader[i] = Some(id);
        }
    }
    for id in plan.topological(targets) {
        if !constant[id] || matches!(plan.nodes[id].op, Op::Const(_)) {
            continue;
        }
        // An input left unfolded (below) keeps its readers per-epoch too.
        if !plan.nodes[id].op.inputs().iter().all(|&i| constant[i]) {
            constant[id] = false;
            continue;
        }
        if fold_one_hot(plan, id) {
            continue;
        }
        if plan.nodes[id]
            .op
            .inputs()
            .iter()
            .any(|&i| plan.nodes[i].sparse.is_some())
        {
            let before = plan.nodes[id].clone();
            if fold_sparse(plan, id) {
                if denser_than_pushed(plan, &before, id)
                    && feeds_shrinking_linear(plan, id, &readers, &reader)
                {
                    // Cheaper per epoch as `Lin` of the sparse input, then the gather or
                    // sum (`linear_pushdown`) than `Lin` of this denser product.
                    plan.nodes[id] = before;
                    constant[id] = false;
                }
                continue;
            }
        }
        // Dense evaluation: sparse inputs are made dense first. Each dense tensor must fit
        // in the budget before it is allocated.
        let (rows, dim) = (plan.nodes[id].rows, plan.nodes[id].dim);
        crate::plan::check_tensor(plan, ctx.program, id, rows, dim, ctx.budget)?;
        let mut op = plan.nodes[id].op.clone();
        for slot in op.inputs_mut() {
            if let Some(s) = plan.nodes[*slot].sparse.clone() {
                crate::plan::check_tensor(
                    plan,
                    ctx.program,
                    *slot,
                    s.n_rows(),
                    s.n_cols(),
                    ctx.budget,
                )?;
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

/// Whether the folded sparse node `id` (a gather or sum of the sparse constant that
/// `before` read) has more non-zeros than its input plus its matches: then a `Linear` pushed
/// below it moves fewer numbers than one applied to it.
fn denser_than_pushed(plan: &Plan, before: &crate::plan::Node, id: NodeId) -> bool {
    let (input, matches) = match &before.op {
        Op::Gather { x, index } => (*x, index.nnz()),
        Op::Reduce {
            x,
            csr,
            agg: Agg::Sum,
            ..
        } => (*x, csr.nnz()),
        _ => return false,
    };
    let nnz = |i: NodeId| {
        plan.nodes[i]
            .sparse
            .as_ref()
            .map_or(usize::MAX, |s| s.nnz())
    };
    nnz(id) > nnz(input).saturating_add(matches)
}

/// Whether `id`'s value reaches a dimension-shrinking `Linear` through single-reader
/// gathers, sums and divisions by per-row counts — the path `linear_pushdown` walks.
fn feeds_shrinking_linear(
    plan: &Plan,
    mut id: NodeId,
    readers: &[usize],
    reader: &[Option<NodeId>],
) -> bool {
    loop {
        let Some(r) = reader[id].filter(|_| readers[id] == 1) else {
            return false;
        };
        match &plan.nodes[r].op {
            Op::Linear { .. } => return plan.nodes[r].dim < plan.nodes[id].dim,
            Op::Gather { .. }
            | Op::Reduce { agg: Agg::Sum, .. }
            | Op::Reduce {
                agg: Agg::Mean,
                weights: None,
                ..
            } => {}
            Op::Binary(BinaryOp::Div, a, c) if *a == id && plan.nodes[*c].dim == 1 => {}
            _ => return false,
        }
        id = r;
    }
}

fn values(plan: &Plan, i: NodeId) -> &Tensor {
    match &plan.nodes[i].op {
        Op::Const(t) => t,
        _ => unreachable!("inputs of a folded node are folded first"),
    }
}

/// A constant `OneHot(n)(k)` wide enough to be sparse becomes one entry per row, so that a
/// zero vector written `0 * OneHot(n)([v] * 0)` or a one-hot feature never fills a dense
/// `[rows, n]` matrix. False (then evaluated densely, which reports a bad index) otherwise.
fn fold_one_hot(plan: &mut Plan, id: NodeId) -> bool {
    let Op::OneHot { n, x } = plan.nodes[id].op else {
        return false;
    };
    let k = values(plan, x);
    let rows = k.rows;
    let valid = |v: f32| v >= 0.0 && v.fract() == 0.0 && (v as usize) < n;
    if k.cols != 1 || !sparse::worth_it(rows, n, rows) || !k.data.iter().all(|&v| valid(v)) {
        return false;
    }
    let cols = k.data.iter().map(|&v| v as u32).collect();
    let structure = Csr::new(rows, n, (0..=rows).collect(), cols).expect("one entry per row");
    plan.nodes[id].rows = rows;
    plan.nodes[id].op = Op::Const(Arc::new(Tensor::new(rows, 1, vec![1.0; rows])));
    plan.nodes[id].sparse = Some(Arc::new(structure));
    true
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
        // Parts one after the other (`Plan::stack`): the row blocks of every part, when all
        // are sparse.
        Op::Stack { xs, .. } => {
            let parts: Option<Vec<Arc<Csr>>> =
                xs.iter().map(|&x| plan.nodes[x].sparse.clone()).collect();
            let Some(parts) = parts else { return false };
            let mut indptr = vec![0usize];
            let (mut cols, mut vals) = (vec![], vec![]);
            for (s, &x) in parts.iter().zip(&xs) {
                let base = cols.len();
                indptr.extend(s.indptr()[1..].iter().map(|&p| base + p));
                cols.extend_from_slice(s.indices());
                vals.extend_from_slice(&values(plan, x).data);
            }
            let rows = indptr.len() - 1;
            let dim = plan.nodes[id].dim;
            Some((
                Arc::new(Csr::new(rows, dim, indptr, cols).expect("stacked rows")),
                vals,
            ))
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
              %7 = const                           [4 × 1]  matches of F
              %8 = reduce sum %7 over 4 matches    [3 × 1]  F
              %14 = module#0 %8                    [3 × 1]  matches of H (per fact)
              %10 = gather %14 by 4 rows           [4 × 1]  matches of H
              %1 = const                           [1 × 1]  constant
              %0 = const                           [3 × 1]  D
              %2 = gather %0 by 4 rows             [4 × 1]  matches of N
              %3 = gather %0 by 4 rows             [4 × 1]  matches of N
              %4 = mul %2 %3                       [4 × 1]  matches of N
              %5 = sqrt %4                         [4 × 1]  matches of N
              %6 = div %1 %5                       [4 × 1]  N
              %11 = gather %6 by 4 rows            [4 × 1]  matches of H
              %12 = mul %10 %11                    [4 × 1]  matches of H
              %13 = reduce sum %12 over 4 matches  [3 × 1]  H

            --- after ---
              %8 = const                           [3 × 1]  F
              %14 = module#0 %8                    [3 × 1]  matches of H (per fact)
              %10 = gather %14 by 4 rows           [4 × 1]  matches of H
              %11 = const                          [4 × 1]  matches of H
              %12 = mul %10 %11                    [4 × 1]  matches of H
              %13 = reduce sum %12 over 4 matches  [3 × 1]  H
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
