//! Filters of a conjunction body: comparisons of content terms, or of arithmetic over them
//! (`x + 1 > y`), and how they are evaluated on content values.

use super::{BinOp, Body, CmpOp, Term, VarId};
use nrp_data::Value;
use nrp_syntax::Span;

/// A comparison of content in a conjunction body: `x != y`, `c == "a"`, `x + 1 > y`.
#[derive(Clone, Debug)]
pub struct Filter {
    pub lhs: Operand,
    pub op: CmpOp,
    pub rhs: Operand,
    /// The filter as written (for errors at grounding).
    pub span: Span,
}

/// Filters are equal when they compute the same (wherever they are written).
impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.lhs == other.lhs && self.op == other.op && self.rhs == other.rhs
    }
}

/// One side of a filter: a content term, or arithmetic over content terms and constants.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Term(Term),
    Neg(Box<Operand>),
    /// `a op1 b op2 c …` evaluated left to right; each `op` is one of `+ - * / **`.
    Chain(Box<Operand>, Vec<(BinOp, Operand)>),
}

/// A filter operand's value: a content value (a plain term) or a computed number.
#[derive(Clone, Copy, Debug)]
pub enum Side<'a> {
    Content(&'a Value),
    Number(f64),
}

impl Operand {
    /// The plain term, when the operand is one.
    pub fn term(&self) -> Option<&Term> {
        match self {
            Operand::Term(t) => Some(t),
            _ => None,
        }
    }

    /// Every variable the operand reads, in order (with repeats).
    pub fn vars(&self, out: &mut Vec<VarId>) {
        match self {
            Operand::Term(Term::Var(v)) => out.push(*v),
            Operand::Term(Term::Const(_)) => {}
            Operand::Neg(x) => x.vars(out),
            Operand::Chain(first, rest) => {
                first.vars(out);
                rest.iter().for_each(|(_, x)| x.vars(out));
            }
        }
    }

    /// The variables that arithmetic reads: their values must be numbers.
    pub fn arith_vars(&self, out: &mut Vec<VarId>) {
        if !matches!(self, Operand::Term(_)) {
            self.vars(out);
        }
    }

    /// The operand's value, given each variable's: a plain term is its content value,
    /// arithmetic a number in f64 (`None` when it meets a string).
    pub fn side<'a>(&'a self, value: &dyn Fn(VarId) -> &'a Value) -> Option<Side<'a>> {
        match self {
            Operand::Term(Term::Var(v)) => Some(Side::Content(value(*v))),
            Operand::Term(Term::Const(c)) => Some(Side::Content(c)),
            _ => self.number(value).map(Side::Number),
        }
    }

    fn number<'a>(&'a self, value: &dyn Fn(VarId) -> &'a Value) -> Option<f64> {
        match self {
            Operand::Term(Term::Var(v)) => value(*v).as_f64(),
            Operand::Term(Term::Const(c)) => c.as_f64(),
            Operand::Neg(x) => Some(-x.number(value)?),
            Operand::Chain(first, rest) => {
                let mut acc = first.number(value)?;
                for (op, x) in rest {
                    acc = op.apply(acc, x.number(value)?);
                }
                Some(acc)
            }
        }
    }
}

/// The error for arithmetic on a string value, found at grounding: body variable `var`
/// (named `name`) holds the string at position `position` (0-based) of the fact `tuple` of
/// relation `relation`. The engine and the reference evaluator report it alike.
pub fn arithmetic_on_string(
    body: &Body,
    var: VarId,
    relation: &str,
    position: usize,
    tuple: &[Value],
) -> nrp_syntax::Diagnostic {
    let show = |v: &Value| match v {
        Value::Str(s) => format!("{s:?}"),
        v => v.to_string(),
    };
    let span = body
        .filters
        .iter()
        .find(|f| f.arith_vars().contains(&var))
        .map(|f| f.span)
        .unwrap_or_default();
    let relation = relation.split('#').next().unwrap_or(relation);
    let values: Vec<String> = tuple.iter().map(show).collect();
    nrp_syntax::Diagnostic::error(
        format!(
            "`{}` holds the string {}, but this filter computes with it",
            body.vars[var],
            show(&tuple[position])
        ),
        span,
    )
    .with_note(format!(
        "`{}` is column {} of `{relation}`, in the fact {relation}({})",
        body.vars[var],
        position + 1,
        values.join(", ")
    ))
    .with_note("filters compute with numbers; strings can only be compared")
}

impl Filter {
    /// Whether arithmetic is involved (not two plain terms).
    pub fn is_arithmetic(&self) -> bool {
        self.lhs.term().is_none() || self.rhs.term().is_none()
    }

    /// Every variable the filter reads.
    pub fn vars(&self) -> Vec<VarId> {
        let mut out = vec![];
        self.lhs.vars(&mut out);
        self.rhs.vars(&mut out);
        out
    }

    /// The variables whose values arithmetic reads.
    pub fn arith_vars(&self) -> Vec<VarId> {
        let mut out = vec![];
        self.lhs.arith_vars(&mut out);
        self.rhs.arith_vars(&mut out);
        out
    }

    /// Whether the filter holds for the variables' values. Plain terms compare in the
    /// content order of LANGUAGE.md §3 (numbers before strings); arithmetic computes in f64
    /// and compares numerically, a number still before every string. A NaN (`0 / 0`)
    /// compares as in Python: only `!=` holds. Arithmetic that meets a string does not hold
    /// (grounding refuses such data before it gets here).
    pub fn holds<'a>(&'a self, value: &dyn Fn(VarId) -> &'a Value) -> bool {
        use std::cmp::Ordering;
        let (Some(a), Some(b)) = (self.lhs.side(value), self.rhs.side(value)) else {
            return false;
        };
        let num_vs = |x: f64, v: &Value| match v.as_f64() {
            Some(y) => x.partial_cmp(&y),
            None => Some(Ordering::Less),
        };
        let ord = match (a, b) {
            (Side::Content(x), Side::Content(y)) => Some(x.cmp(y)),
            (Side::Number(x), Side::Number(y)) => x.partial_cmp(&y),
            (Side::Number(x), Side::Content(v)) => num_vs(x, v),
            (Side::Content(v), Side::Number(y)) => num_vs(y, v).map(Ordering::reverse),
        };
        match ord {
            Some(o) => self.op.holds(o),
            None => self.op == CmpOp::Ne,
        }
    }
}
