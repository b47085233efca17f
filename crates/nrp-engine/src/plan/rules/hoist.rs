//! Hoisting: `f(gather(x, i))` → `gather(f(x), i)` for a row-wise `f` whose row inputs are
//! all gathers by the same match index (scalars broadcast). A module applied to one atom's
//! embedding inside a join thus runs once per fact of that atom instead of once per match.
//! When the matches use few of the atom's facts (under 3/4 — e.g. one type of a tagged
//! relation), `f` runs on just those rows: `gather(f(gather(x, used)), i')`.

use crate::plan::{NodeId, Op, Plan};
use nrp_tensor::Csr;
use std::sync::Arc;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    for id in plan.topological(targets) {
        if !plan.nodes[id].op.is_rowwise() {
            continue;
        }
        let inputs = plan.nodes[id].op.inputs();
        let mut index = None;
        let mut sources = vec![];
        let mut ok = true;
        for &i in &inputs {
            match &plan.nodes[i].op {
                Op::Gather { x, index: idx } => {
                    match &index {
                        None => index = Some(idx.clone()),
                        Some(first) if Arc::ptr_eq(first, idx) => {}
                        Some(_) => ok = false,
                    }
                    sources.push(*x);
                }
                // Only element-wise operators broadcast a one-row operand (a scalar, or the
                // value of a single match); `Concat` and losses pair rows up.
                _ if plan.nodes[i].rows == 1 && matches!(plan.nodes[id].op, Op::Binary(..)) => {
                    sources.push(i)
                }
                _ => ok = false,
            }
        }
        let Some(index) = index.filter(|_| ok) else {
            continue;
        };
        let (sources, index) = restrict_to_used(plan, id, sources, index);
        let mut op = plan.nodes[id].op.clone();
        for (slot, &s) in op.inputs_mut().into_iter().zip(&sources) {
            *slot = s;
        }
        let node = &plan.nodes[id];
        let (dim, label, span) = (node.dim, node.label.clone(), node.span);
        let rows = crate::plan::broadcast_rows(sources.iter().map(|&s| plan.nodes[s].rows));
        let space = sources
            .iter()
            .map(|&s| plan.nodes[s].space)
            .find(|s| *s != crate::plan::Space::One)
            .unwrap_or(crate::plan::Space::One);
        let module = plan.nodes[id].module;
        let hoisted = plan.add(op, rows, dim, format!("{label} (per fact)"), span, space);
        plan.nodes[hoisted].module = module;
        plan.nodes[id].op = Op::Gather { x: hoisted, index };
    }
}

/// When `index` reads under 3/4 of its source's rows, gathers each gathered source down to
/// the rows used (in order of first use) and renumbers `index` into them.
fn restrict_to_used(
    plan: &mut Plan,
    id: NodeId,
    sources: Vec<NodeId>,
    index: Arc<Csr>,
) -> (Vec<NodeId>, Arc<Csr>) {
    let n = index.n_cols();
    // Modules that may reject a row (an Embedding index) keep the atom's own row numbers,
    // so that the error names the fact.
    if matches!(
        plan.nodes[id].op,
        Op::Module { .. } | Op::OneHot { .. } | Op::Loss { .. }
    ) {
        return (sources, index);
    }
    let mut slot = vec![u32::MAX; n];
    let mut used = vec![];
    for &k in index.indices() {
        if slot[k as usize] == u32::MAX {
            slot[k as usize] = used.len() as u32;
            used.push(k);
        }
    }
    if used.len() * 4 >= n * 3 {
        return (sources, index);
    }
    let renumbered: Vec<u32> = index.indices().iter().map(|&k| slot[k as usize]).collect();
    let inner = Arc::new(Csr::from_index(used.clone(), n).expect("rows in range"));
    let outer = Arc::new(Csr::from_index(renumbered, used.len()).expect("renumbered index"));
    let label = format!("{} (facts used)", plan.nodes[id].label);
    let sources = sources
        .into_iter()
        .map(|s| {
            if plan.nodes[s].rows != n {
                return s; // a broadcast scalar
            }
            let (dim, space) = (plan.nodes[s].dim, plan.nodes[s].space);
            let gather = Op::Gather {
                x: s,
                index: inner.clone(),
            };
            plan.add(gather, used.len(), dim, label.clone(), None, space)
        })
        .collect();
    (sources, outer)
}

#[cfg(test)]
mod tests {
    use crate::plan::tests::{plan_of, snapshot};

    #[test]
    fn module_on_one_atom_runs_per_fact() {
        let (mut plan, targets) = plan_of(
            "A(x, y) :- E(x, y). F(x; [x]) :- E(x, _). H(y; sum(Linear(1, 2)(f))) :- F(x; f), A(x, y) .",
            "H",
        );
        let before = snapshot(&plan, &targets);
        super::apply(&mut plan, &targets);
        expect_test::expect![[r#"
              %0 = const                         [4 × 1]  matches of F
              %1 = reduce sum %0 over 4 matches  [3 × 1]  F
              %2 = gather %1 by 4 rows           [4 × 1]  matches of H
              %3 = module#0 %2                   [4 × 2]  matches of H
              %4 = reduce sum %3 over 4 matches  [3 × 2]  H

            --- after ---
              %0 = const                         [4 × 1]  matches of F
              %1 = reduce sum %0 over 4 matches  [3 × 1]  F
              %5 = module#0 %1                   [3 × 2]  matches of H (per fact)
              %3 = gather %5 by 4 rows           [4 × 2]  matches of H
              %4 = reduce sum %3 over 4 matches  [3 × 2]  H
        "#]]
        .assert_eq(&format!(
            "{before}\n--- after ---\n{}",
            snapshot(&plan, &targets)
        ));
    }
}
