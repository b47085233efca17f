//! `Linear` pushed below a weighted sum when it shrinks the dimension:
//! `Lin(Σ_k w_k x_k) = Σ_k w_k (W x_k) + b` — the sum then moves `out` instead of `in`
//! columns per match (a GCN layer aggregates 16 columns, not 1433), and the bias is added
//! once per head row, exactly as before. Also for `mean` (its weights sum to one).

use crate::plan::{NodeId, Op, Plan};
use nrp_sema::Agg;
use nrp_tensor::BinaryOp;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    // To a fixpoint: a `Linear` pushed below one sum may go below the next (two hops of
    // propagation over a sparse feature matrix).
    while push_once(plan, targets) {}
}

fn push_once(plan: &mut Plan, targets: &[NodeId]) -> bool {
    let readers = plan.readers(targets);
    let mut changed = false;
    for id in plan.topological(targets) {
        let Op::Linear { module, x: r, bias } = plan.nodes[id].op.clone() else {
            continue;
        };
        // A mean is a sum divided by per-row counts: the division commutes with `W`.
        let (r, divisor) = match plan.nodes[r].op {
            Op::Binary(BinaryOp::Div, s, c) if readers[r] == 1 && is_column(plan, c) => {
                (s, Some(c))
            }
            _ => (r, None),
        };
        let Op::Reduce {
            x,
            csr,
            agg: agg @ (Agg::Sum | Agg::Mean),
            weights,
        } = plan.nodes[r].op.clone()
        else {
            continue;
        };
        let (out, inp) = (plan.nodes[id].dim, plan.nodes[r].dim);
        if out >= inp || readers[r] != 1 {
            continue;
        }
        let (label, span, space) = (
            plan.nodes[id].label.clone(),
            plan.nodes[id].span,
            plan.nodes[x].space,
        );
        // One note however many sums the Linear moves below.
        let base = label.split(" (").next().unwrap_or(&label).to_string();
        let before = format!("{base} (per fact, before the sum)");
        let lin = plan.add(
            Op::Linear {
                module,
                x,
                bias: false,
            },
            plan.nodes[x].rows,
            out,
            before,
            span,
            space,
        );
        plan.nodes[lin].module = Some(module);
        let (rows, r_space) = (plan.nodes[r].rows, plan.nodes[r].space);
        let reduce = Op::Reduce {
            x: lin,
            csr,
            agg,
            weights,
        };
        let mut sum = plan.add(reduce, rows, out, format!("{base} (sum)"), None, r_space);
        if let Some(c) = divisor {
            sum = plan.add(
                Op::Binary(BinaryOp::Div, sum, c),
                rows,
                out,
                format!("{base} (mean)"),
                None,
                r_space,
            );
        }
        plan.nodes[id].op = if bias {
            Op::Bias { module, x: sum }
        } else {
            Op::Gather {
                x: sum,
                index: identity(rows),
            }
        };
        changed = true;
    }
    changed
}

/// A constant one-column tensor (per-row counts).
fn is_column(plan: &Plan, c: NodeId) -> bool {
    matches!(plan.nodes[c].op, Op::Const(_)) && plan.nodes[c].dim == 1
}

/// The identity gather (elided by a later `gather_through`, or cheap).
fn identity(rows: usize) -> std::sync::Arc<nrp_tensor::Csr> {
    std::sync::Arc::new(
        nrp_tensor::Csr::from_index((0..rows as u32).collect(), rows).expect("identity"),
    )
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{optimized_until, snapshot};

    #[test]
    fn linear_moves_below_the_sum() {
        let text = "F(v; Linear(1, 4)([v])) :- E(v, _). A(v; sum(x * [w])) :- F(u; x), E(u, v, w). H(v; Linear(4, 2)(a)) :- A(v; a) .";
        let (mut plan, targets) = optimized_until(text, "H", "linear_pushdown");
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %0 = const                                   [4 × 1]  matches of F
              %1 = module#0 %0                             [4 × 4]  matches of F
              %6 = reduce sum %1 over 6 matches, weighted  [3 × 4]  A
              %9 = module#1 %6                             [3 × 2]  H

            --- after ---
              %0 = const                                     [4 × 1]  matches of F
              %1 = module#0 %0                               [4 × 4]  matches of F
              %10 = module#1 (no bias) %1                    [4 × 2]  H (per fact, before the sum)
              %11 = reduce sum %10 over 6 matches, weighted  [3 × 2]  H (sum)
              %9 = module#1.bias + %11                       [3 × 2]  H
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
