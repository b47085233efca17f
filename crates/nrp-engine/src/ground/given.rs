//! Matches computed elsewhere (SQL grounding: the database joined the body's atoms), put in
//! the order the generic join would have found them, so that everything downstream — head
//! rows, the sort by head, float sums in training — is the same as with nrp's own join.
//!
//! The join enumerates one atom's candidate rows in row order when it is the only atom with
//! variables ([`Lone`]), else bindings in lexicographic order of the variables' ids in its
//! variable order; a binding selects one row per atom (relations are sets). So sorting the
//! given matches by that key, dropping repeats (a set projection's table rows), reproduces
//! the join's list. Filters are checked here, as the join checks them, and every given match
//! is verified: its atoms' rows must agree on shared variables, constants and repeats.

use super::join::{IdFilter, Overrun, holds};
use super::{GroundRelation, JoinReport, Matches};
use nrp_sema::{Body, Term};

/// How the join would enumerate: one atom's rows, or bindings in a variable order.
pub(super) enum Enumeration {
    Lone(usize),
    Order(Vec<usize>),
}

/// What the join computed before searching, which the given matches are checked against.
pub(super) struct Prepared<'a> {
    pub body: &'a Body,
    pub atoms: &'a [&'a GroundRelation],
    pub consts: &'a [Vec<Option<u32>>],
    pub atom_vars: &'a [Vec<(usize, usize)>],
    pub filters: &'a [IdFilter<'a>],
    pub record: &'a [bool],
    pub dict: &'a crate::intern::Dict,
    pub report: JoinReport,
    pub max: usize,
}

/// The matches `given[i][m]` (row of atom `i` in match `m`, any order, repeats allowed) as
/// the join would list them.
pub(super) fn arrange(
    p: Prepared,
    how: Enumeration,
    given: &[Vec<u32>],
) -> Result<(Matches, JoinReport), Overrun> {
    let nvars = p.body.vars.len();
    let total = given.first().map_or(0, Vec::len);
    // Bindings, verified against every atom's row.
    let mut bind: Vec<Vec<u32>> = vec![Vec::with_capacity(total); nvars];
    let mut binding = vec![u32::MAX; nvars];
    let mut kept: Vec<u32> = Vec::with_capacity(total);
    for m in 0..total {
        binding.iter_mut().for_each(|b| *b = u32::MAX);
        for (i, (atom, col)) in p.body.atoms.iter().zip(given).enumerate() {
            let rel = p.atoms[i];
            let row = col[m] as usize;
            for (pos, t) in atom.terms.iter().enumerate() {
                let id = rel.cols[pos][row];
                let ok = match t {
                    Term::Const(_) => p.consts[i][pos] == Some(id),
                    Term::Var(v) if binding[*v] == u32::MAX => {
                        binding[*v] = id;
                        true
                    }
                    Term::Var(v) => binding[*v] == id,
                };
                if !ok {
                    return Err(Overrun::Given(format!(
                        "SQL grounding returned a match that nrp's equality rejects (atom {} \
                         of the body, term {}); ground this rule with `--ground in-engine`",
                        i + 1,
                        pos + 1
                    )));
                }
            }
        }
        if p.filters.iter().all(|f| holds(f, &binding, p.dict)) {
            kept.push(m as u32);
            for (v, b) in bind.iter_mut().enumerate() {
                b.push(binding[v]);
            }
        }
    }
    // The join's order; equal keys are the same match.
    let mut order: Vec<u32> = (0..kept.len() as u32).collect();
    let var_order: Vec<String> = match &how {
        Enumeration::Lone(i) => {
            let rows = &given[*i];
            order.sort_unstable_by_key(|&k| rows[kept[k as usize] as usize]);
            order.dedup_by_key(|k| rows[kept[*k as usize] as usize]);
            p.atom_vars[*i]
                .iter()
                .map(|&(v, _)| p.body.vars[v].clone())
                .collect()
        }
        Enumeration::Order(vars) => {
            let cols: Vec<&Vec<u32>> = vars.iter().map(|&v| &bind[v]).collect();
            let cmp = |a: u32, b: u32| {
                cols.iter()
                    .map(|c| c[a as usize].cmp(&c[b as usize]))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            };
            order.sort_unstable_by(|&a, &b| cmp(a, b));
            order.dedup_by(|a, b| cmp(*a, *b).is_eq());
            vars.iter().map(|&v| p.body.vars[v].clone()).collect()
        }
    };
    let matches = order.len();
    if matches > p.max {
        return Err(Overrun::Grounded {
            matches,
            estimate: p.report.estimate,
            max: p.max,
        });
    }
    let m = Matches {
        rows: given
            .iter()
            .map(|col| {
                order
                    .iter()
                    .map(|&k| col[kept[k as usize] as usize])
                    .collect()
            })
            .collect(),
        vars: bind
            .iter()
            .enumerate()
            .map(|(v, col)| {
                if p.record[v] {
                    order.iter().map(|&k| col[k as usize]).collect()
                } else {
                    vec![]
                }
            })
            .collect(),
        head: vec![0; matches],
    };
    Ok((
        m,
        JoinReport {
            var_order,
            matches,
            ..p.report
        },
    ))
}
