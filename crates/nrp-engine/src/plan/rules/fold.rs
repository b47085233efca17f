//! Constant folding: every node that reads no parameter and draws no dropout mask has the
//! same value in every epoch, so it is computed once, here, and becomes a constant. Only the
//! frontier is kept (constants read by epoch-dependent nodes, and constant targets): the
//! relational preprocessing of a program (degrees, normalisations, features, labels) costs
//! nothing per epoch.

use super::Ctx;
use crate::exec;
use crate::plan::{NodeId, Op, Plan};
use nrp_syntax::Diagnostic;
use std::sync::Arc;

pub fn apply(plan: &mut Plan, ctx: &Ctx, targets: &[NodeId]) -> Result<(), Diagnostic> {
    let program = ctx.program;
    let constant = plan.constant(program);
    let reachable = plan.topological(targets);
    let is_const_op = |plan: &Plan, i: NodeId| matches!(plan.nodes[i].op, Op::Const(_));
    let mut frontier: Vec<NodeId> = vec![];
    for &id in &reachable {
        if !constant[id] {
            frontier.extend(
                plan.nodes[id]
                    .op
                    .inputs()
                    .into_iter()
                    .filter(|&i| constant[i] && !is_const_op(plan, i)),
            );
        }
    }
    frontier.extend(
        targets
            .iter()
            .copied()
            .filter(|&t| constant[t] && !is_const_op(plan, t)),
    );
    frontier.sort_unstable();
    frontier.dedup();
    if frontier.is_empty() {
        return Ok(());
    }
    let values = exec::evaluate(plan, program, &frontier)
        .map_err(|e| crate::runtime_error(program, ctx.ground, plan, e))?;
    for (id, t) in frontier.into_iter().zip(values) {
        let node = &mut plan.nodes[id];
        node.rows = t.rows;
        node.op = Op::Const(Arc::new(t));
    }
    Ok(())
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
