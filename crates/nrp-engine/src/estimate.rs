//! Cardinality estimates: how many matches a rule body will have, known before it is
//! grounded, so that a join whose match list cannot fit in the memory budget is refused
//! instead of grown until the machine runs out (and so that `nrp explain` and
//! `nrp check --db` can show them).
//!
//! The estimate is the textbook one (System R): the product of the atoms' sizes, divided,
//! for every variable shared by several atoms, by the distinct values of that variable in
//! each atom but the one with the fewest; a filter `x == y` divides by the larger distinct
//! count, `x == c` by the distinct count of `x`, `<`, `<=`, `>`, `>=` by 2, and `!=` by
//! nothing. It is then capped by the number of distinct assignments of the variables (the
//! product over variables of their fewest distinct values): a match is such an assignment.
//! A cross product of two 200 000-row tables estimates 4·10¹⁰ matches (exact); paths of
//! five edges through a complete graph of 300 nodes 300⁶ (exact). Skewed data can make the
//! estimate low: grounding then stops at the budget anyway (`ground::join`'s counter).
//!
//! While grounding, the atoms' sizes and distinct counts are measured on the facts that
//! reach the join (after constants and repeated variables select). `nrp check --db` has only
//! the tables: it estimates derived relations from their rules (rows: at most the matches
//! and at most the product of the head variables' distinct counts; a union's columns have
//! the distinct values of its widest branch).

use crate::ground::recorded;
use nrp_data::Database;
use nrp_data::memory::{format_bytes, format_bytes_f64, format_count};
use nrp_sema::{Body, CmpOp, CoreRule, HeadTerm, Program, RelId, RelKind, Term, VarId};
use nrp_syntax::{Diagnostic, Span};

/// One atom's candidate facts: how many, and the distinct values of each of its variables.
#[derive(Clone, Debug, PartialEq)]
pub struct AtomStats {
    pub rows: f64,
    /// `(variable, distinct values)`, one entry per variable of the atom.
    pub vars: Vec<(VarId, f64)>,
}

/// The estimated matches of one body.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub matches: f64,
    /// The candidate facts of each atom.
    pub atoms: Vec<f64>,
    /// Each variable shared by several atoms, with the distinct values of it in the atom
    /// that has the most (what the join divides by, for two atoms).
    pub joins: Vec<(VarId, f64)>,
}

/// The distinct values of each variable over the atoms that hold it (the fewest).
fn var_distinct(nvars: usize, atoms: &[AtomStats]) -> Vec<Option<f64>> {
    let mut d: Vec<Option<f64>> = vec![None; nvars];
    for a in atoms {
        for &(v, n) in &a.vars {
            d[v] = Some(d[v].map_or(n, |m: f64| m.min(n)));
        }
    }
    d
}

/// The estimated number of matches of `body`, given its atoms' candidate facts.
pub fn body(body: &Body, atoms: &[AtomStats]) -> Estimate {
    let sizes: Vec<f64> = atoms.iter().map(|a| a.rows).collect();
    if sizes.iter().any(|&n| n <= 0.0) {
        return Estimate {
            matches: 0.0,
            atoms: sizes,
            joins: vec![],
        };
    }
    let nvars = body.vars.len();
    let mut matches: f64 = sizes.iter().product();
    let mut joins = vec![];
    for v in 0..nvars {
        let ds: Vec<f64> = atoms
            .iter()
            .filter_map(|a| {
                a.vars
                    .iter()
                    .find(|(x, _)| *x == v)
                    .map(|&(_, d)| d.max(1.0))
            })
            .collect();
        if ds.len() < 2 {
            continue;
        }
        let min = ds.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ds.iter().copied().fold(0.0, f64::max);
        matches /= ds.iter().product::<f64>() / min;
        joins.push((v, max));
    }
    let d = var_distinct(nvars, atoms);
    let distinct = |t: &Term| match t {
        Term::Var(v) => d[*v].unwrap_or(1.0).max(1.0),
        Term::Const(_) => 1.0,
    };
    for f in &body.filters {
        matches /= match (f.op, f.lhs.term(), f.rhs.term()) {
            (CmpOp::Eq, Some(l), Some(r)) => distinct(l).max(distinct(r)),
            (CmpOp::Ne, Some(_), Some(_)) => 1.0,
            // `< <= > >=`, and any comparison with arithmetic.
            _ => 2.0,
        };
    }
    // At most one match per assignment of the variables.
    let assignments: f64 = d.iter().flatten().map(|&n| n.max(1.0)).product();
    Estimate {
        matches: matches.min(assignments),
        atoms: sizes,
        joins,
    }
}

/// Bytes per match of a body: `held` while the rule's match list lives (grounding, then
/// planning), and `transient` while grounding sorts it by head tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchBytes {
    pub held: u64,
    pub transient: u64,
}

impl MatchBytes {
    pub fn total(self) -> u64 {
        self.held + self.transient
    }
}

/// [`MatchBytes`] of a body with `atoms` atoms (`read` of them read for their embedding),
/// `recorded` recorded variables and `head` head terms. Held: the match list (a `u32` row
/// per atom, value per recorded variable, and the head row) and the plan's index of each
/// embedding read and of the aggregation (a `u32` entry and a `usize` row pointer each).
/// Transient: a second copy of the columns while grounding sorts the matches by head tuple,
/// the head tuple's ids and ranks, and the sort's permutation and head rows.
pub fn bytes_per_match(atoms: usize, read: usize, recorded: usize, head: usize) -> MatchBytes {
    let columns = (atoms + recorded) as u64;
    MatchBytes {
        held: 4 * (columns + 1) + 12 * (read as u64 + 1),
        transient: 4 * columns + 8 * head as u64 + 8,
    }
}

/// [`bytes_per_match`] of a body of `rule` with expression `expr`.
pub fn body_bytes_per_match(
    rule: &CoreRule,
    body: &Body,
    expr: Option<&nrp_sema::Expr>,
) -> MatchBytes {
    let mut read = vec![false; body.atoms.len()];
    if let Some(e) = expr {
        e.walk(&mut |n| {
            if let nrp_sema::ExprKind::Emb(i) = n.kind {
                read[i] = true;
            }
        });
    }
    let recorded = recorded(rule.head(), body, expr)
        .iter()
        .filter(|&&r| r)
        .count();
    bytes_per_match(
        body.atoms.len(),
        read.iter().filter(|&&r| r).count(),
        recorded,
        rule.head().len(),
    )
}

/// What is known of a relation's content: its rows and each column's distinct values.
#[derive(Clone, Debug, PartialEq)]
pub struct RelStats {
    pub rows: f64,
    pub distinct: Vec<f64>,
}

/// The candidate facts of an atom over a relation with `stats`: each constant keeps the
/// facts of one value of its column, each repeated variable those whose columns agree.
pub fn atom_stats(stats: &RelStats, terms: &[Term]) -> AtomStats {
    let mut rows = stats.rows;
    let mut vars: Vec<(VarId, f64)> = vec![];
    for (p, t) in terms.iter().enumerate() {
        let d = stats.distinct.get(p).copied().unwrap_or(1.0).max(1.0);
        match t {
            Term::Const(_) => rows /= d,
            Term::Var(v) => match vars.iter_mut().find(|(x, _)| x == v) {
                Some((_, seen)) => {
                    rows /= seen.max(d);
                    *seen = seen.min(d);
                }
                None => vars.push((*v, d)),
            },
        }
    }
    for (_, d) in &mut vars {
        *d = d.min(rows.max(1.0));
    }
    AtomStats { rows, vars }
}

/// One derived relation's estimate (every body of its core rule).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleEstimate {
    pub rel: RelId,
    pub bodies: Vec<Estimate>,
    /// The bytes its matches take ([`bytes_per_match`] times the matches), all bodies.
    pub bytes: f64,
    pub facts: f64,
}

/// Estimates for the derived relations `needed` of `program` (dependencies first, as
/// `Program::closure` lists them; the program as the engine grounds it, see
/// [`crate::grounded_program`]) from the tables of `db`; input relations are bound through
/// the database's cache (as `nrp check --db` binds them).
/// A rule whose estimated matches do not fit in `budget` bytes, besides the tables and the
/// match lists of the rules before it, is an error, as grounding would refuse it.
pub fn program(
    program: &Program,
    db: &Database,
    budget: u64,
    needed: &[RelId],
) -> Result<Vec<RuleEstimate>, Diagnostic> {
    let mut stats: Vec<Option<RelStats>> = vec![None; program.relations.len()];
    let mut held: u64 = 0;
    let mut out = vec![];
    for &rel in needed {
        let RelKind::Derived(rule) = &program.relations[rel].kind else {
            continue;
        };
        let mut bodies = vec![];
        let mut bytes = 0.0;
        let mut held_after = held as f64;
        let mut facts = 0.0;
        let mut column_distinct = vec![0.0; rule.head().len()];
        for (body, expr) in rule.bodies() {
            let mut atoms = vec![];
            for a in &body.atoms {
                if stats[a.rel].is_none() {
                    let (s, b) = input_stats(program, db, a.rel).map_err(Diagnostic::global)?;
                    stats[a.rel] = Some(s);
                    held = held.saturating_add(b);
                    held_after += b as f64;
                }
                atoms.push(atom_stats(stats[a.rel].as_ref().expect("known"), &a.terms));
            }
            let e = self::body(body, &atoms);
            let per_match = body_bytes_per_match(rule, body, expr);
            let room = Room::new(budget, held, per_match.total());
            if e.matches > room.max as f64 {
                return Err(over_estimate(program, rel, body, &e, &room));
            }
            bytes += e.matches * per_match.total() as f64;
            held_after += e.matches * per_match.held as f64;
            // Head tuples: at most the matches, at most the product of the head terms'
            // distinct values.
            let d = var_distinct(body.vars.len(), &atoms);
            let head_d: Vec<f64> = rule
                .head()
                .iter()
                .map(|t| match t {
                    HeadTerm::Var(v) => d[*v].unwrap_or(1.0).max(1.0).min(e.matches),
                    HeadTerm::Const(_) => 1.0f64.min(e.matches),
                })
                .collect();
            let tuples = e.matches.min(head_d.iter().product());
            facts += tuples;
            for (c, h) in column_distinct.iter_mut().zip(&head_d) {
                *c = f64::max(*c, *h);
            }
            bodies.push(e);
        }
        // The branches of a union (several rules of one head) usually derive the same
        // tuples (edges and self-loops of the same nodes): each column has the distinct
        // values of its widest branch, and the facts are at most the sum of the branches'
        // and at most the product of the columns' distinct values.
        let facts = facts.min(column_distinct.iter().product());
        held = held_after.min(u64::MAX as f64) as u64;
        stats[rel] = Some(RelStats {
            rows: facts,
            distinct: column_distinct.iter().map(|&c| c.min(facts)).collect(),
        });
        out.push(RuleEstimate {
            rel,
            bodies,
            bytes,
            facts,
        });
    }
    Ok(out)
}

/// Refuses what the naive reference evaluator (`nrp query --reference`) would need more
/// memory for than `budget` bytes, from the estimates of the relations it evaluates: every
/// fact's embedding as `f64` (8 bytes a value, plus its content values), the parameters as
/// `f32` and again as `f64`, and per match a few vectors as wide as the widest expression.
pub fn check_reference(
    program: &Program,
    estimates: &[RuleEstimate],
    budget: u64,
) -> Result<(), Diagnostic> {
    let limit = format_bytes(budget);
    let params: f64 = program
        .parameters()
        .iter()
        .map(|p| p.shape.iter().map(|&d| d as f64).product::<f64>() * 12.0)
        .sum();
    let mut total = params;
    for e in estimates {
        let r = &program.relations[e.rel];
        let RelKind::Derived(rule) = &r.kind else {
            continue;
        };
        // The widest vector one match computes, a few at a time.
        let mut widest = (0usize, r.span);
        for (_, expr) in rule.bodies() {
            if let Some(x) = expr {
                x.walk(&mut |n| {
                    if let Some(d) = n.dim
                        && d > widest.0
                    {
                        widest = (d, n.span);
                    }
                });
            }
        }
        let per_match = 3.0 * 8.0 * widest.0 as f64;
        if params + per_match > budget as f64 {
            return Err(Diagnostic::error(
                format!(
                    "the reference evaluator computes {}-dimensional vectors here ({} for a few of them), more than the memory limit of {limit} has room for",
                    widest.0,
                    format_bytes_f64(per_match)
                ),
                widest.1,
            ));
        }
        let facts = e.facts * (8.0 * r.dim.unwrap_or(0) as f64 + 24.0 * r.arity as f64 + 48.0);
        total += facts;
        if total + per_match > budget as f64 {
            return Err(Diagnostic::error(
                format!(
                    "the reference evaluator would hold about {} facts of `{}` ({}), more than the memory limit of {limit} has room for",
                    format_count(e.facts),
                    user_name(program, e.rel),
                    format_bytes_f64(facts)
                ),
                r.span,
            )
            .with_note(format!(
                "it holds every fact's embedding as {} f64 values, and the relations it evaluates and the parameters together take about {}",
                r.dim.unwrap_or(0),
                format_bytes_f64(total)
            )));
        }
    }
    Ok(())
}

/// What the memory budget leaves for the matches of one body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Room {
    pub budget: u64,
    /// Bytes held already (tables, earlier match lists).
    pub held: u64,
    pub bytes_per_match: u64,
    /// The most matches that fit (and at most `u32::MAX`: match lists index with `u32`).
    pub max: usize,
}

impl Room {
    pub fn new(budget: u64, held: u64, bytes_per_match: u64) -> Room {
        let room = budget.saturating_sub(held);
        Room {
            budget,
            held,
            bytes_per_match,
            max: (room / bytes_per_match.max(1)).min(u32::MAX as u64) as usize,
        }
    }

    /// "more than the memory limit of 1 GB has room for" (or a match list's `u32` cap).
    pub fn too_many(&self) -> String {
        if self.max as u64 == u32::MAX as u64 {
            "more than a match list can hold".to_string()
        } else {
            format!(
                "more than the memory limit of {} has room for",
                format_bytes(self.budget)
            )
        }
    }

    /// The arithmetic of [`Room::too_many`], as a note.
    pub fn note(&self) -> String {
        let mut note = format!(
            "each match takes {} bytes (its match list, the sort by head and the plan's indexes); ",
            self.bytes_per_match
        );
        if self.max as u64 == u32::MAX as u64 {
            note.push_str("a match list holds at most 4294967295 matches");
        } else {
            note.push_str(&format!("the limit has room for {} matches", self.max));
            if self.held > 0 {
                note.push_str(&format!(
                    " besides the {} held by the tables read and the rules before",
                    format_bytes(self.held)
                ));
            }
        }
        note
    }
}

/// A relation's name as written (`H#1`, `H#e1` → `H`).
pub fn user_name(program: &Program, rel: RelId) -> &str {
    let name = &program.relations[rel].name;
    name.split('#').next().unwrap_or(name)
}

/// Where a body is written: its atoms, first to last.
pub fn body_span(program: &Program, rel: RelId, body: &Body) -> Span {
    match (body.atoms.first(), body.atoms.last()) {
        (Some(a), Some(b)) => a.span.to(b.span),
        _ => program.relations[rel].span,
    }
}

/// The error for a body whose estimated matches the budget has no room for.
pub fn over_estimate(
    program: &Program,
    rel: RelId,
    body: &Body,
    estimate: &Estimate,
    room: &Room,
) -> Diagnostic {
    let atoms: Vec<String> = body
        .atoms
        .iter()
        .zip(&estimate.atoms)
        .map(|(a, n)| format!("{} {}", program.relations[a.rel].name, format_count(*n)))
        .collect();
    let joins = if estimate.joins.is_empty() {
        if body.atoms.len() > 1 {
            "no variable is shared: a cross product".to_string()
        } else {
            "one atom".to_string()
        }
    } else {
        let vs: Vec<String> = estimate
            .joins
            .iter()
            .map(|&(v, d)| format!("`{}` ({} values)", body.vars[v], format_count(d)))
            .collect();
        format!("joined on {}", vs.join(", "))
    };
    Diagnostic::error(
        format!(
            "the rule for `{}` would have about {} matches ({}), {}",
            user_name(program, rel),
            format_count(estimate.matches),
            format_bytes_f64(estimate.matches * room.bytes_per_match as f64),
            room.too_many()
        ),
        body_span(program, rel, body),
    )
    .with_label(format!("about {} matches", format_count(estimate.matches)))
    .with_note(format!(
        "estimated before grounding from the facts that reach the join: {}; {joins}",
        atoms.join(", ")
    ))
    .with_note(room.note())
}

/// Rows and distinct values per column of an input relation, from its table, and the
/// bytes grounding holds for it (as `Ground::inputs` counts them).
fn input_stats(program: &Program, db: &Database, rel: RelId) -> Result<(RelStats, u64), String> {
    let r = &program.relations[rel];
    let RelKind::Input(b) = &r.kind else {
        return Err(format!("`{}` is estimated before its rule", r.name));
    };
    let table = b.table.as_deref().unwrap_or(&r.name);
    let bound = db
        .bind(table, b.terms, b.embedding)
        .map_err(|e| e.message)?;
    Ok((
        RelStats {
            rows: bound.len() as f64,
            distinct: bound.content.iter().map(|c| distinct(c) as f64).collect(),
        },
        4 * (bound.len() * (bound.arity + bound.dim)) as u64,
    ))
}

/// The distinct values of a column.
fn distinct(c: &nrp_data::Column) -> usize {
    use std::collections::HashSet;
    match c {
        nrp_data::Column::Int(v) => v.iter().collect::<HashSet<_>>().len(),
        nrp_data::Column::Float(v) => v.iter().map(|x| x.to_bits()).collect::<HashSet<_>>().len(),
        nrp_data::Column::Mixed(v) => v.iter().collect::<HashSet<_>>().len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::program_of;

    fn conj_body(p: &Program, name: &str) -> Body {
        let RelKind::Derived(rule) = &p.relations[p.relation(name).unwrap()].kind else {
            panic!("derived")
        };
        rule.bodies()[0].0.clone()
    }

    /// The atoms of `b` over relations with these rows and distinct values per column.
    fn atoms(b: &Body, rels: &[(f64, &[f64])]) -> Vec<AtomStats> {
        b.atoms
            .iter()
            .zip(rels)
            .map(|(a, &(rows, distinct))| {
                atom_stats(
                    &RelStats {
                        rows,
                        distinct: distinct.to_vec(),
                    },
                    &a.terms,
                )
            })
            .collect()
    }

    #[test]
    fn a_cross_product_multiplies() {
        let p = program_of("R(x, y) :- E(x, _), F(y, _, _) .");
        let b = conj_body(&p, "R");
        let e = body(
            &b,
            &atoms(
                &b,
                &[
                    (200_000.0, &[200_000.0, 7.0]),
                    (200_000.0, &[200_000.0, 3.0, 3.0]),
                ],
            ),
        );
        assert_eq!(e.matches, 4e10);
        assert!(e.joins.is_empty());
    }

    #[test]
    fn joins_divide_by_the_larger_distinct_count() {
        // E(a, b) ⋈ E(b, c) over a complete graph of 300 nodes: 300³ paths.
        let p = program_of("P(a, c) :- E(a, b), E(b, c) .");
        let b = conj_body(&p, "P");
        let v = |n: &str| b.vars.iter().position(|x| x == n).unwrap();
        let e = body(
            &b,
            &atoms(
                &b,
                &[(90_000.0, &[300.0, 300.0]), (90_000.0, &[300.0, 300.0])],
            ),
        );
        assert_eq!(e.matches, 2.7e7);
        assert_eq!(e.joins, vec![(v("b"), 300.0)]);
        // A foreign key joined with a key: one match per referencing fact.
        let e = body(
            &b,
            &atoms(&b, &[(1000.0, &[1000.0, 50.0]), (50.0, &[50.0, 50.0])]),
        );
        assert_eq!(e.matches, 1000.0);
    }

    #[test]
    fn five_paths_and_five_cycles_over_300_nodes() {
        let p = program_of(
            "P(a, b, c, d, e, f) :- E(a, b), E(b, c), E(c, d), E(d, e), E(e, f) .\n\
             C(a, b, c, d, e) :- E(a, b), E(b, c), E(c, d), E(d, e), E(e, a) .",
        );
        for (name, want) in [("P", 300f64.powi(6)), ("C", 300f64.powi(5))] {
            let b = conj_body(&p, name);
            let atoms: Vec<AtomStats> = b
                .atoms
                .iter()
                .map(|a| {
                    atom_stats(
                        &RelStats {
                            rows: 90_000.0,
                            distinct: vec![300.0, 300.0],
                        },
                        &a.terms,
                    )
                })
                .collect();
            let e = body(&b, &atoms);
            assert!(
                (e.matches / want - 1.0).abs() < 1e-9,
                "{name}: {}",
                e.matches
            );
        }
    }

    #[test]
    fn filters_constants_and_repeats_select() {
        let p = program_of(
            "L(x) :- E(x, x) .\nK(y) :- E(1, y) .\nT(x, y) :- E(x, y), x < y .\n\
             A(x, y) :- E(x, y), x + 1 == y .\nB(x, y) :- E(x, y), x * 2 != y, -x < 3 .",
        );
        let rel = RelStats {
            rows: 100.0,
            distinct: vec![10.0, 20.0],
        };
        let b = conj_body(&p, "L");
        assert_eq!(atom_stats(&rel, &b.atoms[0].terms).rows, 5.0);
        let b = conj_body(&p, "K");
        let a = atom_stats(&rel, &b.atoms[0].terms);
        assert_eq!(a.rows, 10.0);
        assert_eq!(a.vars, vec![(0, 10.0)]);
        let b = conj_body(&p, "T");
        let a = atom_stats(&rel, &b.atoms[0].terms);
        assert_eq!(body(&b, &[a]).matches, 50.0);
        // Arithmetic filters, whatever their comparison, halve the estimate like `<`.
        let b = conj_body(&p, "A");
        let a = atom_stats(&rel, &b.atoms[0].terms);
        assert_eq!(body(&b, &[a]).matches, 50.0);
        let b = conj_body(&p, "B");
        let a = atom_stats(&rel, &b.atoms[0].terms);
        assert_eq!(body(&b, &[a]).matches, 25.0);
    }

    #[test]
    fn matches_are_at_most_the_assignments() {
        // Both atoms hold the same 10 keys, each with one value: at most 10 matches, not
        // the 100 · 100 / 10 of the textbook formula.
        let p = program_of("J(x) :- E(x, _), F(x, _, _) .");
        let b = conj_body(&p, "J");
        let e = body(
            &b,
            &atoms(&b, &[(100.0, &[10.0, 1.0]), (100.0, &[10.0, 1.0, 1.0])]),
        );
        assert_eq!(e.matches, 10.0);
    }

    #[test]
    fn empty_atoms_have_no_matches() {
        let p = program_of("J(x) :- E(x, _), F(x, _, _) .");
        let b = conj_body(&p, "J");
        let e = body(
            &b,
            &atoms(&b, &[(0.0, &[0.0, 0.0]), (5.0, &[5.0, 1.0, 1.0])]),
        );
        assert_eq!(e.matches, 0.0);
    }

    #[test]
    fn bytes_per_match_counts_lists_sorting_and_plan_indexes() {
        // Two atoms, both read, three recorded variables, one head term.
        let b = bytes_per_match(2, 2, 3, 1);
        assert_eq!((b.held, b.transient), (4 * 6 + 12 * 3, 4 * 5 + 8 + 8));
        assert_eq!(b.total(), 96);
    }
}
