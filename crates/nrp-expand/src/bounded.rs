//! The bindings of a bounded set's bounding: `Union(Set(R<i>(x; z) | Meta(i, t), i > 0))`
//! makes one copy of `R<i>(x; z)` per binding of `i` (and `t`).
//!
//! Guard atoms are database tables, read when the program is expanded; their terms bind
//! by position (a constant, of either quote style, selects; a repeated variable must be
//! equal). Several guard atoms join on their shared variables. Conditions filter the
//! bindings; a variable no guard binds ranges over the integers its conditions bound
//! (`1 <= i, i <= h`), and every such variable needs both bounds. The result is the
//! distinct bindings, in the order of the guard tables' rows, then ascending ranges.
//! (RelaNN uses only the first guard atom, ignores conditions beside guards, selects only
//! with single-quoted strings and keeps duplicate rows: see docs/RELANN_STRUCTURE.md §3.)

use crate::value::{Lookup, eval};
use nrp_data::{Catalogue, Value};
use nrp_syntax::Diagnostic;
use nrp_syntax::ast::{Atom, BoundedSet, CmpOp, Expr, ExprKind, Filter, Term};
use std::collections::HashSet;

/// At most this many bindings per bounded set (a runaway range is an error, not an
/// endless expansion).
pub const MAX_BINDINGS: usize = 1_000_000;

/// One binding: a value per bounding variable, in [`Bindings::vars`] order.
pub struct Bindings {
    pub vars: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Bindings {
    /// The binding `k` as name → value.
    pub fn env(&self, k: usize) -> impl Iterator<Item = (String, Value)> + '_ {
        self.vars.iter().cloned().zip(self.rows[k].iter().cloned())
    }
}

/// Names known to `outer`, or bound by a row.
struct WithRow<'a> {
    vars: &'a [String],
    row: &'a [Value],
    outer: &'a dyn Lookup,
}

impl Lookup for WithRow<'_> {
    fn value(&self, name: &str) -> Option<Value> {
        match self.vars.iter().position(|v| v == name) {
            Some(i) => Some(self.row[i].clone()),
            None => self.outer.value(name),
        }
    }
}

pub fn bindings(
    set: &BoundedSet,
    names: &dyn Lookup,
    db: Option<&dyn Catalogue>,
) -> Result<Bindings, Diagnostic> {
    let mut b = Bindings {
        vars: vec![],
        rows: vec![vec![]],
    };
    for g in &set.guards {
        guard(&mut b, g, db)?;
    }
    // Variables of the conditions that no guard binds and that have no value: ranges.
    let mut ranged: Vec<String> = vec![];
    for c in &set.conds {
        for side in [&c.lhs, &c.rhs] {
            side.idents(&mut |n| {
                if n != "True"
                    && n != "False"
                    && !b.vars.iter().any(|v| v == n)
                    && names.value(n).is_none()
                    && !ranged.iter().any(|v| v == n)
                {
                    ranged.push(n.to_string());
                }
            });
        }
    }
    for v in &ranged {
        let (lo, hi) = range(v, &set.conds, names, set)?;
        let n = (hi - lo + 1).max(0) as usize;
        if b.rows.len().saturating_mul(n) > MAX_BINDINGS {
            return Err(Diagnostic::error(
                format!(
                    "the bounding gives more than {MAX_BINDINGS} bindings (`{v}` ranges over {lo}..={hi})"
                ),
                set.span,
            ));
        }
        b.vars.push(v.clone());
        b.rows = b
            .rows
            .iter()
            .flat_map(|row| {
                (lo..=hi).map(move |i| {
                    let mut r = row.clone();
                    r.push(Value::Int(i));
                    r
                })
            })
            .collect();
    }
    let mut kept = vec![];
    let mut seen = HashSet::new();
    for row in std::mem::take(&mut b.rows) {
        let scope = WithRow {
            vars: &b.vars,
            row: &row,
            outer: names,
        };
        let mut holds = true;
        for c in &set.conds {
            if !condition(c, &scope)? {
                holds = false;
                break;
            }
        }
        if holds && seen.insert(row.clone()) {
            kept.push(row);
        }
    }
    b.rows = kept;
    if b.rows.is_empty() {
        return Err(Diagnostic::error(
            format!(
                "`{}(Set(…))` is empty: no binding of its bounding holds",
                set.kind.keyword()
            ),
            set.span,
        )
        .with_note("a bounded set needs at least one copy of its atom"));
    }
    Ok(b)
}

/// Joins the rows of the guard table `g` into the bindings.
fn guard(b: &mut Bindings, g: &Atom, db: Option<&dyn Catalogue>) -> Result<(), Diagnostic> {
    let name = &g.name.name;
    if !g.targs.is_empty() || g.call.is_some() || g.emb.is_some() {
        return Err(Diagnostic::error(
            format!(
                "the guard `{name}` of a bounded set is a table: plain terms, no `;`, no template arguments"
            ),
            g.span,
        ));
    }
    let Some(db) = db else {
        return Err(Diagnostic::error(
            format!("the guard `{name}` of this bounded set is read from the database"),
            g.span,
        )
        .with_note("give the database (`--db`) to expand the program"));
    };
    let table = match db.resolve(name) {
        Ok(Some(t)) => db.guard_rows(&t),
        Ok(None) => {
            return Err(Diagnostic::error(
                format!("the guard `{name}` of a bounded set must be a table of the database"),
                g.span,
            )
            .with_note(format!("tables: {}", db.table_names().join(", "))));
        }
        Err(e) => Err(e),
    }
    .map_err(|e| Diagnostic::error(e.message, g.span))?;
    if g.terms.len() > table.columns.len() {
        return Err(Diagnostic::error(
            format!(
                "the guard `{name}` has {} terms but the table has {} columns ({})",
                g.terms.len(),
                table.columns.len(),
                table.columns.join(", ")
            ),
            g.span,
        ));
    }
    // Each term: a variable (new or already bound), a constant, or `_`.
    enum Slot {
        New,
        Bound(usize),
        Const(Value),
        Skip,
    }
    let mut slots = vec![];
    let mut new_vars: Vec<String> = vec![];
    for t in &g.terms {
        slots.push(match t {
            Term::Wildcard(_) => Slot::Skip,
            Term::Const(l, _) => Slot::Const(Value::parse(l.text())),
            Term::Var(v) => match b.vars.iter().position(|x| *x == v.name) {
                Some(i) => Slot::Bound(i),
                None => match new_vars.iter().position(|x| *x == v.name) {
                    Some(i) => Slot::Bound(b.vars.len() + i),
                    None => {
                        new_vars.push(v.name.clone());
                        Slot::New
                    }
                },
            },
        });
    }
    let mut rows = vec![];
    for old in &b.rows {
        for r in 0..table.len() {
            let mut row = old.clone();
            let mut ok = true;
            for (c, slot) in slots.iter().enumerate() {
                let cell = table.cells[c].get(r);
                match slot {
                    Slot::New => row.push(cell),
                    Slot::Bound(i) => ok &= row[*i] == cell,
                    Slot::Const(v) => ok &= *v == cell,
                    Slot::Skip => {}
                }
                if !ok {
                    break;
                }
            }
            if ok {
                rows.push(row);
                if rows.len() > MAX_BINDINGS {
                    return Err(Diagnostic::error(
                        format!("the bounding gives more than {MAX_BINDINGS} bindings"),
                        g.span,
                    ));
                }
            }
        }
    }
    b.vars.extend(new_vars);
    b.rows = rows;
    Ok(())
}

/// The inclusive integer range that the conditions give `v`.
fn range(
    v: &str,
    conds: &[Filter],
    names: &dyn Lookup,
    set: &BoundedSet,
) -> Result<(i64, i64), Diagnostic> {
    let (mut lo, mut hi): (Option<i64>, Option<i64>) = (None, None);
    let is_v = |e: &Expr| matches!(&e.kind, ExprKind::Ident(n) if n == v);
    for c in conds {
        let (op, other) = if is_v(&c.lhs) {
            (c.op, &c.rhs)
        } else if is_v(&c.rhs) {
            (flip(c.op), &c.lhs)
        } else {
            continue;
        };
        let mut free = false;
        other.idents(&mut |n| free |= names.value(n).is_none());
        if free {
            continue;
        }
        let x = eval(other, names)?.as_f64().ok_or_else(|| {
            Diagnostic::error(
                format!("`{v}` ranges over integers; this bound is not a number"),
                other.span,
            )
        })?;
        let (l, h) = match op {
            CmpOp::Le => (None, Some(x.floor())),
            CmpOp::Lt => (None, Some(x.ceil() - 1.0)),
            CmpOp::Ge => (Some(x.ceil()), None),
            CmpOp::Gt => (Some(x.floor() + 1.0), None),
            CmpOp::Eq => (Some(x.ceil()), Some(x.floor())),
            CmpOp::Ne => (None, None),
        };
        let clamp = |y: f64| y.clamp(i64::MIN as f64 / 2.0, i64::MAX as f64 / 2.0) as i64;
        if let Some(l) = l {
            lo = Some(lo.map_or(clamp(l), |o| o.max(clamp(l))));
        }
        if let Some(h) = h {
            hi = Some(hi.map_or(clamp(h), |o| o.min(clamp(h))));
        }
    }
    match (lo, hi) {
        (Some(l), Some(h)) => Ok((l, h)),
        _ => Err(Diagnostic::error(
            format!(
                "`{v}` in `{}(Set(…))` needs a lower and an upper bound, such as `1 <= {v}, {v} <= 3`",
                set.kind.keyword()
            ),
            set.span,
        )
        .with_note("a variable that no guard table binds ranges over the integers between its bounds")),
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

fn condition(c: &Filter, names: &dyn Lookup) -> Result<bool, Diagnostic> {
    let (a, b) = (eval(&c.lhs, names)?, eval(&c.rhs, names)?);
    Ok(match c.op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    })
}
