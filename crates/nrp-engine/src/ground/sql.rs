//! SQL grounding (`--ground sql`): each rule body whose atoms are all input relations is
//! sent to the database as one SQL conjunction (`nrp_data::sql`), while the tables are
//! still open; the returned matches replace the generic join's search when the rule is
//! grounded (`given.rs` orders them as the join would). Bodies over derived relations, and
//! bodies comparing columns whose cells SQL compares differently from nrp, are joined by
//! nrp; `explain --sql` lists each body's statement or the reason.

use super::Ground;
use crate::estimate;
use nrp_data::sql::{Cmp, Conjunction, Operand};
use nrp_data::{BoundRelation, Database};
use nrp_sema::{Body, CmpOp, Program, RelId, RelKind, Term};
use nrp_syntax::Diagnostic;
use std::sync::Arc;

/// Where a rule body is grounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroundMode {
    /// nrp's generic join over the tables it read.
    #[default]
    InEngine,
    /// The database joins the input relations of each body (SQLite, PostgreSQL).
    Sql,
}

impl GroundMode {
    /// `in-engine` or `sql`, as `--ground` takes them.
    pub fn parse(text: &str) -> Option<GroundMode> {
        match text {
            "in-engine" => Some(GroundMode::InEngine),
            "sql" => Some(GroundMode::Sql),
            _ => None,
        }
    }
}

/// One body's push-down: its SQL statement, or why it is joined by nrp.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub statement: Result<String, String>,
    /// The database's matches (rows of the sorted input relations), until grounded.
    pub(super) rows: Option<Vec<Vec<u32>>>,
}

/// The conjunction of `body` over the bound relations of its atoms, when all are inputs,
/// with each body variable's first column; the filters between plain terms come along
/// (`all_plain`: whether every filter did).
pub(super) struct Pushable {
    pub conjunction: Conjunction,
    pub vars: Vec<Option<Operand>>,
    pub all_plain: bool,
}

pub(super) fn conjunction(
    program: &Program,
    body: &Body,
    bound: &[Option<Arc<BoundRelation>>],
) -> Result<Pushable, String> {
    let mut atoms = vec![];
    for a in &body.atoms {
        match &bound[a.rel] {
            Some(b) => atoms.push(b.clone()),
            None => {
                return Err(format!(
                    "`{}` is derived; nrp joins it",
                    program.relations[a.rel].name
                ));
            }
        }
    }
    let mut first: Vec<Option<Operand>> = vec![None; body.vars.len()];
    let mut equal = vec![];
    for (i, a) in body.atoms.iter().enumerate() {
        for (p, t) in a.terms.iter().enumerate() {
            let here = Operand::Column { atom: i, column: p };
            match t {
                Term::Const(c) => equal.push((here, Operand::Const(c.clone()))),
                Term::Var(v) => match &first[*v] {
                    Some(f) => equal.push((here, f.clone())),
                    None => first[*v] = Some(here),
                },
            }
        }
    }
    let mut compare = vec![];
    let mut all_plain = true;
    for f in &body.filters {
        let side = |t: &Term| match t {
            Term::Var(v) => first[*v].clone(),
            Term::Const(c) => Some(Operand::Const(c.clone())),
        };
        match (f.lhs.term().and_then(side), f.rhs.term().and_then(side)) {
            (Some(l), Some(r)) => compare.push((l, cmp(f.op), r)),
            _ => all_plain = false,
        }
    }
    Ok(Pushable {
        conjunction: Conjunction {
            atoms,
            equal,
            compare,
        },
        vars: first,
        all_plain,
    })
}

fn cmp(op: CmpOp) -> Cmp {
    match op {
        CmpOp::Eq => Cmp::Eq,
        CmpOp::Ne => Cmp::Ne,
        CmpOp::Lt => Cmp::Lt,
        CmpOp::Le => Cmp::Le,
        CmpOp::Gt => Cmp::Gt,
        CmpOp::Ge => Cmp::Ge,
    }
}

impl Ground {
    /// Renders (and, when `run`, runs) the push-down of every body of the rules `needed`
    /// over the bound input relations; `order[rel][fact]` is the fact's row after
    /// `sort_input`.
    pub(super) fn push_down(
        &mut self,
        program: &Program,
        db: &Database,
        needed: &[RelId],
        bound: &[Option<Arc<BoundRelation>>],
        order: &[Option<Vec<u32>>],
        run: bool,
    ) -> Result<(), Diagnostic> {
        if db.sql_dialect().is_none() {
            if run {
                return Err(Diagnostic::global(format!(
                    "`--ground sql` needs a SQLite or PostgreSQL database; {} is not one",
                    db.describe()
                )));
            }
            return Ok(());
        }
        for &rel in needed {
            let RelKind::Derived(rule) = &program.relations[rel].kind else {
                continue;
            };
            let mut pushed = vec![];
            for (body, expr) in rule.bodies() {
                let query = conjunction(program, body, bound).and_then(|p| {
                    let c = &p.conjunction;
                    // Every row of one relation: nothing for the database to do, and nrp
                    // holds the rows already (a second pass would only cost).
                    if c.atoms.len() == 1 && c.equal.is_empty() && body.filters.is_empty() {
                        return Err("a scan of one relation (no join, filter or constant \
                                    for the database to apply)"
                            .into());
                    }
                    db.sql_query(c)
                });
                let mut rows = None;
                if let (Ok(q), true) = (&query, run) {
                    let bytes = estimate::body_bytes_per_match(rule, body, expr).total();
                    let max = estimate::Room::new(self.budget, self.held(), bytes).max;
                    let facts = db.sql_matches(q, max).map_err(|e| {
                        Diagnostic::error(e.message, estimate::body_span(program, rel, body))
                    })?;
                    rows = Some(
                        facts
                            .into_iter()
                            .zip(&body.atoms)
                            .map(|(col, a)| {
                                let to_row = order[a.rel].as_ref().expect("an input relation");
                                col.into_iter().map(|f| to_row[f as usize]).collect()
                            })
                            .collect(),
                    );
                }
                pushed.push(Pushed {
                    statement: query.map(|q| q.text),
                    rows,
                });
            }
            self.sql[rel] = pushed;
        }
        Ok(())
    }

    /// The database's matches of body `b` of `rel`'s rule, if it was pushed down.
    pub(super) fn given(&self, rel: RelId, b: usize) -> Option<&[Vec<u32>]> {
        self.sql.get(rel)?.get(b)?.rows.as_deref()
    }

    /// Frees the database's matches once the rules are grounded (re-grounding for a
    /// message joins in nrp, with the same result).
    pub(super) fn release_given(&mut self) {
        for p in self.sql.iter_mut().flatten() {
            p.rows = None;
        }
    }
}
