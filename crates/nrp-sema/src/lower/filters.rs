//! Filters of a conjunction body: comparisons of content terms, or of arithmetic over them
//! (`x + 1 > y`, `x * 2 <= 10`, `-x < -1`, `y <= limit` with a named constant). Content
//! variables come first (the body's namespace), then named constants; arithmetic on a
//! string constant is an error here, on a string value an error at grounding.

use super::{Lowerer, Named, R, Scope};
use crate::ir::*;
use nrp_data::Value;
use nrp_syntax::ast::{self, ExprKind as AK};
use nrp_syntax::{Diagnostic, Span};

/// What the names of a filter can refer to.
struct Names<'f> {
    vars: &'f [String],
    occurs: &'f [bool],
    scope: &'f Scope<'f>,
}

impl Lowerer<'_> {
    pub(super) fn filter(
        &self,
        f: &ast::Filter,
        vars: &[String],
        occurs: &[bool],
        scope: &Scope,
    ) -> R<Filter> {
        let names = Names {
            vars,
            occurs,
            scope,
        };
        let op = match f.op {
            ast::CmpOp::Eq => CmpOp::Eq,
            ast::CmpOp::Ne => CmpOp::Ne,
            ast::CmpOp::Lt => CmpOp::Lt,
            ast::CmpOp::Le => CmpOp::Le,
            ast::CmpOp::Gt => CmpOp::Gt,
            ast::CmpOp::Ge => CmpOp::Ge,
        };
        Ok(Filter {
            lhs: fold(self.operand(&f.lhs, &names)?, f.lhs.span)?,
            op,
            rhs: fold(self.operand(&f.rhs, &names)?, f.rhs.span)?,
            span: f.span,
        })
    }

    fn operand(&self, e: &ast::Expr, names: &Names) -> R<Operand> {
        Ok(match &e.kind {
            AK::Ident(n) if n == "_" => {
                return Err(Diagnostic::error("`_` cannot appear in a filter", e.span));
            }
            AK::Ident(n) => Operand::Term(self.filter_name(n, e.span, names)?),
            AK::Number(_) | AK::Str(_) => {
                let Some(ast::Term::Const(lit, _)) = e.as_term() else {
                    unreachable!("a literal is a constant term")
                };
                Operand::Term(Term::Const(Value::parse(lit.text())))
            }
            // `-1` is a constant; `-x` arithmetic.
            AK::Neg(x) if matches!(x.kind, AK::Number(_)) => {
                let Some(ast::Term::Const(lit, _)) = e.as_term() else {
                    unreachable!("a negative literal is a constant term")
                };
                Operand::Term(Term::Const(Value::parse(lit.text())))
            }
            AK::Neg(x) => Operand::Neg(Box::new(self.arith_operand(x, names)?)),
            AK::Chain(first, rest) => {
                let first = self.arith_operand(first, names)?;
                let mut xs = Vec::with_capacity(rest.len());
                for (op, x) in rest {
                    xs.push((BinOp::from_ast(*op), self.arith_operand(x, names)?));
                }
                Operand::Chain(Box::new(first), xs)
            }
            AK::Binary(ast::BinOp::Pow, a, b) => Operand::Chain(
                Box::new(self.arith_operand(a, names)?),
                vec![(BinOp::Pow, self.arith_operand(b, names)?)],
            ),
            AK::Binary(op, ..) => {
                return Err(Diagnostic::error(
                    format!(
                        "a filter compares once: `{}` cannot be an operand of another comparison",
                        op.symbol()
                    ),
                    e.span,
                )
                .with_note("write two filters: `a < b, b < c`"));
            }
            AK::Call { .. } | AK::Encode(_) | AK::Instance(..) | AK::Splat(_) => {
                return Err(Diagnostic::error(
                    "filters compare content values: only `+ - * / **`, parentheses, variables and constants are allowed here",
                    e.span,
                ));
            }
        })
    }

    /// An operand of arithmetic: a string constant there is an error now.
    fn arith_operand(&self, e: &ast::Expr, names: &Names) -> R<Operand> {
        let x = self.operand(e, names)?;
        if let Operand::Term(Term::Const(c)) = &x
            && !c.is_number()
        {
            return Err(Diagnostic::error(
                format!("arithmetic on the string {:?}", c.to_string()),
                e.span,
            )
            .with_note("filters compute with numbers; strings can only be compared"));
        }
        Ok(x)
    }

    /// A name in a filter: a content variable of the body, else a named constant.
    fn filter_name(&self, n: &str, span: Span, names: &Names) -> R<Term> {
        if let Some(id) = names.vars.iter().position(|v| v == n)
            && names.occurs[id]
        {
            return Ok(Term::Var(id));
        }
        match self.names.get(n) {
            Some(Named::Const(c)) => return Ok(Term::Const(Value::from_f64(*c))),
            Some(_) => {
                return Err(Diagnostic::error(
                    format!("`{n}` is a module; filters compare content values"),
                    span,
                ));
            }
            None => {}
        }
        if names.scope.emb_vars.contains_key(n) {
            return Err(Diagnostic::error(
                format!("filters compare content; `{n}` is an embedding variable"),
                span,
            ));
        }
        Err(Diagnostic::error(
            format!("unsafe filter: `{n}` does not occur in a body atom"),
            span,
        ))
    }
}

/// Arithmetic without variables (`limit * 2`) becomes its value.
fn fold(x: Operand, span: Span) -> R<Operand> {
    let mut vars = vec![];
    x.vars(&mut vars);
    if x.term().is_some() || !vars.is_empty() {
        return Ok(x);
    }
    let Some(Side::Number(v)) = x.side(&|_| unreachable!("no variables")) else {
        unreachable!("string constants in arithmetic are rejected")
    };
    if !v.is_finite() {
        return Err(Diagnostic::error(
            format!("this filter operand evaluates to {v}"),
            span,
        ));
    }
    Ok(Operand::Term(Term::Const(Value::from_f64(v))))
}
