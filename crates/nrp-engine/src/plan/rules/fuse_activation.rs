//! Activation fusion: a `Linear`'s bias, a ReLU and a dropout that follow one another run as
//! one pass over the rows (`Op::Activation`). The hidden layer `Dropout(ReLU(Lin(x)))` then
//! reads and writes its activations once instead of three times, and keeps no dropout mask
//! (behind ReLU the output tells which entries were kept). A node is absorbed only when the
//! next one is its only reader; sparse nodes (their values are the non-zeros) are left.

use crate::plan::{NodeId, Op, Plan};
use nrp_tensor::UnaryOp;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let readers = plan.readers(targets);
    // Absorbs `x` into its one reader: its operation, when it is a dense node read only there.
    let absorbable = |plan: &Plan, x: NodeId| -> Option<Op> {
        (readers[x] == 1 && plan.nodes[x].sparse.is_none()).then(|| plan.nodes[x].op.clone())
    };
    // Inputs come first, so a ReLU has taken in its bias before a dropout takes in the ReLU.
    for id in plan.topological(targets) {
        if plan.nodes[id].sparse.is_some() {
            continue;
        }
        let fused = match plan.nodes[id].op.clone() {
            Op::Unary(UnaryOp::Relu, y) => match absorbable(plan, y) {
                Some(Op::Bias { module, x }) => Op::Activation {
                    x,
                    bias: Some(module),
                    relu: true,
                    p: 0.0,
                },
                _ => continue,
            },
            Op::Dropout { p, x: y } => match absorbable(plan, y) {
                Some(Op::Activation {
                    x,
                    bias,
                    relu,
                    p: 0.0,
                }) => Op::Activation { x, bias, relu, p },
                Some(Op::Unary(UnaryOp::Relu, x)) => Op::Activation {
                    x,
                    bias: None,
                    relu: true,
                    p,
                },
                Some(Op::Bias { module, x }) => Op::Activation {
                    x,
                    bias: Some(module),
                    relu: false,
                    p,
                },
                _ => continue,
            },
            _ => continue,
        };
        plan.nodes[id].op = fused;
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::before_after;

    fn fused(text: &str, rel: &str) -> String {
        before_after(text, rel, "fuse_activation")
    }

    #[test]
    fn relu_dropout_become_one_pass() {
        let text = "Lin = Linear(2, 2) .
            F(v; [v, v]) :- E(v, _, _) .
            H(v; Dropout(0.5)(ReLU()(Lin(f)))) :- F(v; f) .";
        expect_test::expect![[r#"
              %1 = const            [3 × 2]  F
              %6 = module#0 %1      [3 × 2]  matches of H (per fact)
              %7 = relu %6          [3 × 2]  matches of H (per fact)
              %8 = dropout(0.5) %7  [3 × 2]  H

            --- after ---
              %1 = const                  [3 × 2]  F
              %6 = module#0 %1            [3 × 2]  matches of H (per fact)
              %8 = dropout(0.5) relu(%6)  [3 × 2]  H
        "#]]
        .assert_eq(&fused(text, "H"));
    }

    /// A `Linear` pushed below a sum leaves its bias for after the sum: bias, ReLU and
    /// dropout are one pass.
    #[test]
    fn bias_relu_dropout_become_one_pass() {
        let text = "Emb = Linear(2, 4) .
            Lin = Linear(4, 2) .
            G(v; Emb([v, v])) :- E(v, _, _) .
            S(v; sum(g)) :- E(u, v, _), G(u; g) .
            H(v; Dropout(0.5)(ReLU()(Lin(s)))) :- S(v; s) .";
        expect_test::expect![[r#"
              %0 = const                                     [4 × 2]  matches of G
              %1 = module#0 %0                               [4 × 4]  matches of G
              %12 = module#1 (no bias) %1                    [4 × 2]  matches of H (per fact, before the sum)
              %13 = reduce sum %12 over 6 matches, weighted  [3 × 2]  matches of H (sum)
              %9 = module#1.bias + %13                       [3 × 2]  matches of H (per fact)
              %10 = relu %9                                  [3 × 2]  matches of H (per fact)
              %11 = dropout(0.5) %10                         [3 × 2]  H

            --- after ---
              %0 = const                                     [4 × 2]  matches of G
              %1 = module#0 %0                               [4 × 4]  matches of G
              %12 = module#1 (no bias) %1                    [4 × 2]  matches of H (per fact, before the sum)
              %13 = reduce sum %12 over 6 matches, weighted  [3 × 2]  matches of H (sum)
              %11 = dropout(0.5) relu(module#1.bias + %13)   [3 × 2]  H
        "#]].assert_eq(&fused(text, "H"));
    }

    /// A ReLU whose output is read twice stays: the second reader needs it without dropout.
    #[test]
    fn shared_relu_is_not_absorbed() {
        let text = "Lin = Linear(2, 2) .
            F(v; [v, v]) :- E(v, _, _) .
            R(v; ReLU()(Lin(f))) :- F(v; f) .
            H(v; Dropout(0.5)(r) + r) :- R(v; r) .";
        expect_test::expect![[r#"
              %1 = const              [3 × 2]  F
              %9 = module#0 %1        [3 × 2]  matches of R (per fact)
              %10 = relu %9           [3 × 2]  R
              %11 = dropout(0.5) %10  [3 × 2]  matches of H
              %8 = add %11 %10        [3 × 2]  H

            --- after ---
              %1 = const              [3 × 2]  F
              %9 = module#0 %1        [3 × 2]  matches of R (per fact)
              %10 = relu %9           [3 × 2]  R
              %11 = dropout(0.5) %10  [3 × 2]  matches of H
              %8 = add %11 %10        [3 × 2]  H
        "#]]
        .assert_eq(&fused(text, "H"));
    }
}
