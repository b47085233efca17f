//! `sum(w * OneHot(n)(k))` with constant per-match `w` and `k` (typically encodes of a
//! sparse feature table `Feature(id, dim, value)`) is a scatter of `w` into column `k` of
//! the head row: built directly as a `[heads, n]` constant instead of a per-match
//! `[matches, n]` one-hot tensor (49k × 1433 floats on Cora; 9.9M × 500 on PubMed).

use super::Ctx;
use crate::plan::{NodeId, Op, Plan, sparse};
use nrp_sema::Agg;
use nrp_syntax::Diagnostic;
use nrp_tensor::{BinaryOp, Csr, Tensor};
use std::sync::Arc;

pub fn apply(plan: &mut Plan, ctx: &Ctx, targets: &[NodeId]) -> Result<(), Diagnostic> {
    for id in plan.topological(targets) {
        let Op::Reduce {
            x,
            csr,
            agg: Agg::Sum,
            weights: None,
        } = &plan.nodes[id].op
        else {
            continue;
        };
        let (x, csr) = (*x, csr.clone());
        let Some((n, k, w)) = one_hot_product(plan, x) else {
            continue;
        };
        let Op::Const(kt) = &plan.nodes[k].op else {
            unreachable!("checked")
        };
        let wt = w.map(|w| match &plan.nodes[w].op {
            Op::Const(t) => t.clone(),
            _ => unreachable!("checked"),
        });
        let heads = csr.n_rows();
        // Each head row's columns and summed values (a repeated column adds up).
        let mut slot = vec![u32::MAX; n];
        let mut indptr = vec![0usize];
        let mut cols: Vec<u32> = vec![];
        let mut vals: Vec<f32> = vec![];
        for h in 0..heads {
            let start = cols.len();
            for e in csr.segments().range(h) {
                let m = csr.indices()[e] as usize;
                let kv = kt.data[if kt.rows == 1 { 0 } else { m }];
                if kv.fract() != 0.0 || kv < 0.0 || kv >= n as f32 {
                    let one_hot = if matches!(plan.nodes[x].op, Op::OneHot { .. }) {
                        x
                    } else {
                        plan.nodes[x]
                            .op
                            .inputs()
                            .into_iter()
                            .find(|&i| matches!(plan.nodes[i].op, Op::OneHot { .. }))
                            .expect("matched a one-hot")
                    };
                    let error = nrp_tensor::TensorError::Index {
                        op: "OneHot",
                        row: m,
                        value: kv as f64,
                        limit: n,
                    };
                    return Err(crate::runtime_error(
                        ctx.program,
                        ctx.ground,
                        plan,
                        crate::ExecError {
                            node: one_hot,
                            error,
                        },
                    ));
                }
                let wv = wt
                    .as_ref()
                    .map_or(1.0, |t| t.data[if t.rows == 1 { 0 } else { m }]);
                let c = kv as usize;
                if slot[c] == u32::MAX {
                    slot[c] = cols.len() as u32;
                    cols.push(c as u32);
                    vals.push(0.0);
                }
                vals[slot[c] as usize] += wv;
            }
            for &c in &cols[start..] {
                slot[c as usize] = u32::MAX;
            }
            indptr.push(cols.len());
        }
        let structure = Csr::new(heads, n, indptr, cols).expect("one-hot columns in range");
        if sparse::worth_it(heads, n, vals.len()) {
            let nnz = vals.len();
            plan.nodes[id].op = Op::Const(Arc::new(Tensor::new(nnz, 1, vals)));
            plan.nodes[id].sparse = Some(Arc::new(structure));
        } else {
            plan.nodes[id].op = Op::Const(Arc::new(sparse::to_dense(&structure, &vals)));
        }
    }
    Ok(())
}

/// `OneHot(n)(k)`, `w * OneHot(n)(k)` or `OneHot(n)(k) * w` with constant one-column `k`, `w`.
fn one_hot_product(plan: &Plan, x: NodeId) -> Option<(usize, NodeId, Option<NodeId>)> {
    let is_const_col =
        |i: NodeId| matches!(plan.nodes[i].op, Op::Const(_)) && plan.nodes[i].dim == 1;
    let one_hot = |i: NodeId| match plan.nodes[i].op {
        Op::OneHot { n, x: k } if is_const_col(k) => Some((n, k)),
        _ => None,
    };
    if let Some((n, k)) = one_hot(x) {
        return Some((n, k, None));
    }
    if let Op::Binary(BinaryOp::Mul, a, b) = plan.nodes[x].op {
        for (oh, w) in [(a, b), (b, a)] {
            if let Some((n, k)) = one_hot(oh)
                && is_const_col(w)
            {
                return Some((n, k, Some(w)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{plan_of, snapshot};

    #[test]
    fn sparse_features_are_scattered() {
        let (mut plan, targets) = plan_of("X(v; sum([w] * OneHot(4)([d]))) :- F(v, d, w) .", "X");
        let before = snapshot(&plan, &targets);
        crate::plan::tests::with_ctx("X(v; sum([w] * OneHot(4)([d]))) :- F(v, d, w) .", |ctx| {
            super::apply(&mut plan, ctx, &targets).unwrap()
        });
        expect_test::expect![[r#"
              %0 = const                         [4 × 1]  matches of X
              %1 = const                         [4 × 1]  matches of X
              %2 = one_hot(4) %1                 [4 × 4]  matches of X
              %3 = mul %0 %2                     [4 × 4]  matches of X
              %4 = reduce sum %3 over 4 matches  [3 × 4]  X

            --- after ---
              %4 = const  [3 × 4]  X
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
