//! Composition of linear aggregations: a `sum`/`mean` over the rows of another `sum`/`mean`
//! that nothing else reads is one weighted sum over the inner rows' sources, with the
//! product of the two match lists as its match list, when that product has no more entries
//! than the two lists together. HGNN's propagation `D⁻¹ H B⁻¹ Hᵀ x` (each hyperedge averages
//! its members, each node its hyperedges) then costs one SpMM over the 11,220 node pairs of
//! Cora's co-citation hypergraph instead of two over 7,494 incidences each, and the
//! `[hyperedges, d]` intermediate is never written or read, forward or backward.
//!
//! This is the converse of the aggregation push-down (`eliminate`), which splits a path
//! enumeration into a chain of sums because the chain is smaller; composition joins a chain
//! whose product is smaller. The weights are the sums over paths of the products of the two
//! steps' weights (`1/n` for a mean), in f64, rounded once: the result equals the chain's in
//! exact arithmetic and differs from its f32 evaluation in the last bits only.

use crate::plan::{NodeId, Op, Plan};
use nrp_sema::Agg;
use nrp_tensor::{BinaryOp, Csr, Tensor};
use std::sync::Arc;

pub fn apply(plan: &mut Plan, targets: &[NodeId]) {
    let readers = plan.readers(targets);
    for id in plan.topological(targets) {
        let Some((inner, outer_csr, outer_w)) = linear_reduce(plan, &readers, id) else {
            continue;
        };
        let Some((x, inner_csr, inner_w)) = linear_reduce(plan, &readers, inner) else {
            continue;
        };
        if readers[inner] != 1 || plan.nodes[x].sparse.is_some() {
            continue;
        }
        let limit = outer_csr.nnz() + inner_csr.nnz();
        let Some((csr, weights)) = compose(&outer_csr, &outer_w, &inner_csr, &inner_w, limit)
        else {
            continue;
        };
        plan.nodes[id].op = Op::Reduce {
            x,
            csr: Arc::new(csr),
            agg: Agg::Sum,
            weights: Some(Arc::new(Tensor::new(weights.len(), 1, weights))),
        };
    }
}

/// Per-entry weights of a linear aggregation.
enum Weights {
    /// `1/n` for the entries of a row of `n`.
    Mean,
    /// Given weights (or 1), each row divided by its divisor (or not).
    Given(Option<Arc<Tensor>>, Option<Arc<Tensor>>),
}

impl Weights {
    fn of(&self, csr: &Csr, row: usize, entry: usize) -> f64 {
        match self {
            Weights::Mean => 1.0 / csr.segments().range(row).len() as f64,
            Weights::Given(w, div) => {
                let w = w.as_ref().map_or(1.0, |w| w.data[entry] as f64);
                div.as_ref().map_or(w, |d| w / d.data[row] as f64)
            }
        }
    }
}

/// A dense linear aggregation: a `sum` or `mean`, or a `sum` that only a division by a
/// constant per head row reads (a mean of weighted sums, which `fuse_mean` leaves). Its
/// input, match list and weights.
fn linear_reduce(
    plan: &Plan,
    readers: &[usize],
    id: NodeId,
) -> Option<(NodeId, Arc<Csr>, Weights)> {
    if plan.nodes[id].sparse.is_some() {
        return None;
    }
    let (sum, div) = match &plan.nodes[id].op {
        Op::Binary(BinaryOp::Div, s, c) => match &plan.nodes[*c].op {
            Op::Const(c)
                if readers[*s] == 1
                    && c.cols == 1
                    && c.rows == plan.nodes[id].rows
                    && c.data.iter().all(|&v| v != 0.0) =>
            {
                (*s, Some(c.clone()))
            }
            _ => return None,
        },
        _ => (id, None),
    };
    let Op::Reduce {
        x,
        csr,
        agg,
        weights,
    } = &plan.nodes[sum].op
    else {
        return None;
    };
    let w = match (agg, weights, div) {
        (Agg::Sum, w, div) => Weights::Given(w.clone(), div),
        (Agg::Mean, None, None) => Weights::Mean,
        _ => return None,
    };
    (plan.nodes[sum].sparse.is_none() && csr.n_rows() == plan.nodes[id].rows)
        .then(|| (*x, csr.clone(), w))
}

/// `outer · inner` as a match list over the inner list's sources, with per-entry weights, or
/// `None` when it has more than `limit` entries. Each row's entries are in increasing source
/// order (one pass over the sources, in memory order).
fn compose(
    outer: &Csr,
    outer_w: &Weights,
    inner: &Csr,
    inner_w: &Weights,
    limit: usize,
) -> Option<(Csr, Vec<f32>)> {
    let mut slot = vec![u32::MAX; inner.n_cols()]; // the current row's entry of each source
    let mut row: Vec<(u32, f64)> = vec![];
    let mut indptr = Vec::with_capacity(outer.n_rows() + 1);
    indptr.push(0);
    let (mut cols, mut weights) = (vec![], vec![]);
    for h in 0..outer.n_rows() {
        for k2 in outer.segments().range(h) {
            let j = outer.indices()[k2] as usize;
            let a = outer_w.of(outer, h, k2);
            for k1 in inner.segments().range(j) {
                let src = inner.indices()[k1];
                let s = &mut slot[src as usize];
                if *s == u32::MAX {
                    *s = row.len() as u32;
                    row.push((src, 0.0));
                }
                row[*s as usize].1 += a * inner_w.of(inner, j, k1);
            }
        }
        if cols.len() + row.len() > limit {
            return None;
        }
        row.sort_unstable_by_key(|&(src, _)| src);
        for &(src, w) in &row {
            slot[src as usize] = u32::MAX;
            cols.push(src);
            weights.push(w as f32);
        }
        row.clear();
        indptr.push(cols.len());
    }
    let csr = Csr::new(outer.n_rows(), inner.n_cols(), indptr, cols).ok()?;
    Some((csr, weights))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::before_after;

    fn composed(text: &str, rel: &str) -> String {
        before_after(text, rel, "compose_reduce")
    }

    /// HGNN's two means (targets average their edges, sources their targets): one weighted
    /// sum over 6 (source, edge) pairs instead of 4 + 4 matches.
    #[test]
    fn mean_of_means_is_one_weighted_sum() {
        let text = "Lin = Linear(1, 2) .
            X(a, b; Lin([w])) :- E(a, b, w) .
            M1(b; mean(x)) :- X(a, b; x) .
            M2(a; mean(z)) :- E(a, b, _), M1(b; z) .";
        expect_test::expect![[r#"
              %0 = const                          [4 × 1]  matches of X
              %1 = module#0 %0                    [4 × 2]  X
              %5 = reduce mean %1 over 4 matches  [3 × 2]  M1
              %9 = reduce mean %5 over 4 matches  [3 × 2]  M2

            --- after ---
              %0 = const                                   [4 × 1]  matches of X
              %1 = module#0 %0                             [4 × 2]  X
              %9 = reduce sum %1 over 6 matches, weighted  [3 × 2]  M2
        "#]]
        .assert_eq(&composed(text, "M2"));
    }

    /// A mean of a weighted sum (the push-down of `mean` over a two-atom body) is a sum
    /// divided by counts, which composes the same way.
    #[test]
    fn mean_of_weighted_sums_composes() {
        let text = "Lin = Linear(2, 2) .
            X(v; Lin([v, v])) :- E(v, _, _) .
            M1(e; mean(x)) :- E(v, e, _), X(v; x) .
            M2(v; mean(z)) :- E(v, e, _), M1(e; z) .";
        expect_test::expect![[r#"
              %0 = const                                   [4 × 2]  matches of X
              %1 = module#0 %0                             [4 × 2]  matches of X
              %4 = reduce sum %1 over 6 matches, weighted  [3 × 2]  M1 (sum)
              %5 = const                                   [3 × 1]  M1 (count)
              %6 = div %4 %5                               [3 × 2]  M1
              %10 = reduce mean %6 over 4 matches          [3 × 2]  M2

            --- after ---
              %0 = const                                    [4 × 2]  matches of X
              %1 = module#0 %0                              [4 × 2]  matches of X
              %10 = reduce sum %1 over 7 matches, weighted  [3 × 2]  M2
        "#]]
        .assert_eq(&composed(text, "M2"));
    }

    /// The inner mean is also read by another rule: it is computed anyway, nothing changes.
    #[test]
    fn shared_inner_reduction_stays() {
        let text = "Lin = Linear(1, 2) .
            X(a, b; Lin([w])) :- E(a, b, w) .
            M1(b; mean(x)) :- X(a, b; x) .
            M2(a; mean(z)) :- E(a, b, _), M1(b; z) .
            H(a; m + n) :- M2(a; m), M1(a; n) .";
        expect_test::expect![[r#"
              %0 = const                          [4 × 1]  matches of X
              %1 = module#0 %0                    [4 × 2]  X
              %5 = reduce mean %1 over 4 matches  [3 × 2]  M1
              %9 = reduce mean %5 over 4 matches  [3 × 2]  M2
              %12 = add %9 %5                     [3 × 2]  H

            --- after ---
              %0 = const                          [4 × 1]  matches of X
              %1 = module#0 %0                    [4 × 2]  X
              %5 = reduce mean %1 over 4 matches  [3 × 2]  M1
              %9 = reduce mean %5 over 4 matches  [3 × 2]  M2
              %12 = add %9 %5                     [3 × 2]  H
        "#]]
        .assert_eq(&composed(text, "H"));
    }

    /// The weights are the chain's: `compose` against the two products computed densely.
    #[test]
    fn composition_equals_the_chain() {
        // inner: 3 rows over 4 sources; outer: 2 rows over the inner's 3 rows.
        let inner = Csr::new(3, 4, vec![0, 2, 3, 5], vec![0, 3, 1, 1, 2]).unwrap();
        let outer = Csr::new(2, 3, vec![0, 3, 4], vec![0, 1, 2, 2]).unwrap();
        let w = Arc::new(Tensor::new(5, 1, vec![0.5, 2.0, -1.0, 3.0, 0.25]));
        let dense = |c: &Csr, w: &Weights| {
            let mut m = vec![vec![0.0f64; c.n_cols()]; c.n_rows()];
            for (r, row) in m.iter_mut().enumerate() {
                for k in c.segments().range(r) {
                    row[c.indices()[k] as usize] += w.of(c, r, k);
                }
            }
            m
        };
        for (ow, iw) in [
            (Weights::Mean, Weights::Given(Some(w.clone()), None)),
            (
                Weights::Given(None, Some(Arc::new(Tensor::column(vec![2.0, -4.0])))),
                Weights::Given(Some(w.clone()), None),
            ),
            (Weights::Given(None, None), Weights::Mean),
            (Weights::Mean, Weights::Mean),
        ] {
            let (c, cw) = compose(&outer, &ow, &inner, &iw, 100).unwrap();
            let (a, b) = (dense(&outer, &ow), dense(&inner, &iw));
            let mut got = vec![vec![0.0f64; 4]; 2];
            for (r, row) in got.iter_mut().enumerate() {
                let idx = &c.indices()[c.segments().range(r)];
                assert!(
                    idx.windows(2).all(|p| p[0] < p[1]),
                    "sorted, one entry per source"
                );
                for k in c.segments().range(r) {
                    row[c.indices()[k] as usize] = cw[k] as f64;
                }
            }
            for r in 0..2 {
                for s in 0..4 {
                    let want: f64 = (0..3).map(|j| a[r][j] * b[j][s]).sum();
                    assert!((got[r][s] - want).abs() < 1e-6, "[{r}, {s}]: {got:?}");
                }
            }
        }
        // Row 0 reaches all 4 sources, row 1 two: 6 entries, over a limit of 5.
        assert!(
            compose(
                &outer,
                &Weights::Given(None, None),
                &inner,
                &Weights::Given(None, None),
                5
            )
            .is_none()
        );
    }
}
