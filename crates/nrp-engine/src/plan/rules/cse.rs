//! Common subexpressions: two nodes with the same operation on the same inputs compute the
//! same value, so the second's readers read the first. Rules repeat work that the program
//! wrote once per rule (one query projection per edge type, one `gather` per coordinate of a
//! `Concat`), and hoisting makes it per fact. Dropout never merges: every application draws
//! its own mask, as in PyTorch.

use crate::plan::{NodeId, Op, Plan};
use nrp_tensor::{Csr, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let order = plan.topological(targets);
    // The node each node is replaced by (itself when kept).
    let mut repr: Vec<NodeId> = (0..plan.nodes.len()).collect();
    let mut seen: HashMap<Key, Vec<NodeId>> = HashMap::new();
    for id in order {
        for i in plan.nodes[id].op.inputs_mut() {
            *i = repr[*i];
        }
        // Two dropouts draw two masks.
        if matches!(plan.nodes[id].op, Op::Dropout { .. })
            || matches!(plan.nodes[id].op, Op::Activation { p, .. } if p > 0.0)
        {
            continue;
        }
        let bucket = seen.entry(key(plan, id)).or_default();
        match bucket.iter().find(|&&o| same(plan, o, id)) {
            Some(&o) => repr[id] = o,
            None => bucket.push(id),
        }
    }
    for r in plan.relation.iter_mut().flatten() {
        *r = repr[*r];
    }
}

/// A coarse fingerprint: nodes that may be equal have equal keys.
#[derive(PartialEq, Eq, Hash)]
struct Key {
    variant: std::mem::Discriminant<Op>,
    inputs: Vec<NodeId>,
    rows: usize,
    dim: usize,
    /// A constant's length and first value bits (constants have no inputs to tell them apart).
    head: (usize, u32),
}

fn key(plan: &Plan, id: NodeId) -> Key {
    let n = &plan.nodes[id];
    let head = match &n.op {
        Op::Const(t) => (t.data.len(), t.data.first().map_or(0, |v| v.to_bits())),
        _ => (0, 0),
    };
    Key {
        variant: std::mem::discriminant(&n.op),
        inputs: n.op.inputs(),
        rows: n.rows,
        dim: n.dim,
        head,
    }
}

fn same_tensor(a: &Arc<Tensor>, b: &Arc<Tensor>) -> bool {
    Arc::ptr_eq(a, b)
        || (a.shape() == b.shape()
            && a.data
                .iter()
                .zip(&b.data)
                .all(|(x, y)| x.to_bits() == y.to_bits()))
}

fn same_csr(a: &Arc<Csr>, b: &Arc<Csr>) -> bool {
    Arc::ptr_eq(a, b)
        || (a.n_rows() == b.n_rows()
            && a.n_cols() == b.n_cols()
            && a.indptr() == b.indptr()
            && a.indices() == b.indices())
}

/// Whether nodes `a` and `b` (inputs already merged) compute the same value.
fn same(plan: &Plan, a: NodeId, b: NodeId) -> bool {
    let (x, y) = (&plan.nodes[a], &plan.nodes[b]);
    let sparse_same = match (&x.sparse, &y.sparse) {
        (None, None) => true,
        (Some(s), Some(t)) => same_csr(s, t),
        _ => false,
    };
    if !sparse_same || x.rows != y.rows || x.dim != y.dim {
        return false;
    }
    match (&x.op, &y.op) {
        (Op::Const(s), Op::Const(t)) => same_tensor(s, t),
        (Op::Param(m), Op::Param(n)) => m == n,
        (Op::Gather { x: s, index: i }, Op::Gather { x: t, index: j }) => s == t && same_csr(i, j),
        (Op::Unary(o, s), Op::Unary(p, t)) => o == p && s == t,
        (Op::Binary(o, s1, s2), Op::Binary(p, t1, t2)) => o == p && s1 == t1 && s2 == t2,
        (
            Op::Linear { module, x: s, bias },
            Op::Linear {
                module: m,
                x: t,
                bias: c,
            },
        ) => module == m && s == t && bias == c,
        (Op::Bias { module, x: s }, Op::Bias { module: m, x: t })
        | (Op::Module { module, x: s }, Op::Module { module: m, x: t }) => module == m && s == t,
        (Op::Densify(s), Op::Densify(t)) | (Op::ArgMax(s), Op::ArgMax(t)) => s == t,
        (Op::HeadScale { x: s1, a: s2 }, Op::HeadScale { x: t1, a: t2 }) => s1 == t1 && s2 == t2,
        (
            Op::HeadDot {
                x: s1,
                y: s2,
                heads,
            },
            Op::HeadDot {
                x: t1,
                y: t2,
                heads: h,
            },
        ) => s1 == t1 && s2 == t2 && heads == h,
        (Op::Softmax { log, x: s }, Op::Softmax { log: l, x: t }) => log == l && s == t,
        (Op::OneHot { n, x: s }, Op::OneHot { n: m, x: t }) => n == m && s == t,
        (Op::Concat(s), Op::Concat(t)) => s == t,
        (
            Op::Loss { kind, x: s1, y: s2 },
            Op::Loss {
                kind: k,
                x: t1,
                y: t2,
            },
        ) => kind == k && s1 == t1 && s2 == t2,
        (
            Op::Reduce {
                x: s,
                csr,
                agg,
                weights,
            },
            Op::Reduce {
                x: t,
                csr: c,
                agg: a,
                weights: w,
            },
        ) => {
            s == t
                && agg == a
                && same_csr(csr, c)
                && match (weights, w) {
                    (None, None) => true,
                    (Some(v), Some(w)) => same_tensor(v, w),
                    _ => false,
                }
        }
        (Op::Stack { xs, place }, Op::Stack { xs: ys, place: p }) => {
            xs == ys && place.len() == p.len() && place.iter().zip(p).all(|(a, b)| same_csr(a, b))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{optimized_until, snapshot};

    #[test]
    fn a_query_projection_written_in_two_rules_runs_once() {
        let text = "X(v; mean([v, 1])) :- E(v, _) . Q = Linear(2, 2) . \
                    S(i, j; Q(a) * b) :- X(i; a), E(i, j), X(j; b) . \
                    S(i, j; Q(a) + b) :- X(i; a), E(j, i), X(j; b) .";
        let (mut plan, targets) = optimized_until(text, "S", "cse");
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %3 = const                           [3 × 2]  X
              %16 = module#0 %3                    [3 × 2]  matches of S#1 (per fact)
              %5 = gather %16 by 4 rows            [4 × 2]  matches of S#1
              %6 = const                           [4 × 2]  matches of S#1
              %7 = mul %5 %6                       [4 × 2]  S#1
              %17 = module#0 %3                    [3 × 2]  matches of S#2 (per fact)
              %9 = gather %17 by 4 rows            [4 × 2]  matches of S#2
              %10 = const                          [4 × 2]  matches of S#2
              %11 = add %9 %10                     [4 × 2]  S#2
              %14 = stack %7 %11                   [8 × 2]  matches of S
              %15 = reduce sum %14 over 8 matches  [6 × 2]  S

            --- after ---
              %3 = const                           [3 × 2]  X
              %16 = module#0 %3                    [3 × 2]  matches of S#1 (per fact)
              %5 = gather %16 by 4 rows            [4 × 2]  matches of S#1
              %6 = const                           [4 × 2]  matches of S#1
              %7 = mul %5 %6                       [4 × 2]  S#1
              %9 = gather %16 by 4 rows            [4 × 2]  matches of S#2
              %10 = const                          [4 × 2]  matches of S#2
              %11 = add %9 %10                     [4 × 2]  S#2
              %14 = stack %7 %11                   [8 × 2]  matches of S
              %15 = reduce sum %14 over 8 matches  [6 × 2]  S
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
