//! The shape functions of RelaNN's tensor terms: `view(d1, …)(x)`, `transpose(x)` (both
//! also capitalised, as RelaNN resolves them case-insensitively), `unsqueeze(x, i)` and
//! `squeeze(x[, i])` (PyTorch's functions, axis 0 the fact axis). Their shape rules are in
//! `crate::shape`.

use super::{Alloc, Lowerer, R, Scope, callee_name, expr};
use crate::ir::*;
use nrp_syntax::Diagnostic;
use nrp_syntax::ast::{self, ExprKind as AK};

/// Whether `name` is one of the shape functions (not a module, not a formal input).
pub(super) fn is_shape_op(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "view" | "transpose")
        || matches!(name, "unsqueeze" | "squeeze")
}

impl Lowerer<'_> {
    /// `e` = `callee(args)` when it is a shape function; `None` otherwise.
    pub(super) fn lower_shape_op(
        &mut self,
        e: &ast::Expr,
        callee: &ast::Expr,
        args: &[ast::Arg],
        scope: &Scope,
        alloc: &mut Alloc,
    ) -> R<Option<Expr>> {
        let span = e.span;
        // `view(dims…)(x)`: the callee is itself a call.
        if let AK::Call {
            callee: inner,
            args: dims,
        } = &callee.kind
            && callee_name(inner).is_some_and(|n| n.eq_ignore_ascii_case("view"))
        {
            if dims.is_empty() {
                return Err(Diagnostic::error(
                    "`view` needs the new shape: `view(d1, …)(x)`",
                    callee.span,
                ));
            }
            let mut shape = Vec::with_capacity(dims.len());
            for d in dims {
                shape.push(self.axis_arg(&d.value, "a `view` dimension")?);
            }
            let x = self.one_input(args, scope, alloc, "`view(…)`", span)?;
            return Ok(Some(expr(
                ExprKind::Reshape(Reshape::View(shape), Box::new(x)),
                span,
            )));
        }
        let Some(name) = callee_name(callee) else {
            return Ok(None);
        };
        if name.eq_ignore_ascii_case("view") {
            return Err(Diagnostic::error(
                "`view` takes the new shape first: `view(d1, …)(x)`",
                span,
            ));
        }
        let (kind, want) = match name {
            n if n.eq_ignore_ascii_case("transpose") => ("transpose", 1..=1),
            "unsqueeze" => ("unsqueeze", 2..=2),
            "squeeze" => ("squeeze", 1..=2),
            _ => return Ok(None),
        };
        if !want.contains(&args.len()) {
            let usage = match kind {
                "transpose" => "`transpose(x)`",
                "unsqueeze" => "`unsqueeze(x, axis)`",
                _ => "`squeeze(x)` or `squeeze(x, axis)`",
            };
            return Err(Diagnostic::error(format!("write {usage}"), span));
        }
        let axis = match args.get(1) {
            Some(a) => Some(self.axis_arg(&a.value, "an axis")?),
            None => None,
        };
        let x = self.one_input(&args[..1], scope, alloc, &format!("`{kind}`"), span)?;
        let x = Box::new(x);
        Ok(Some(expr(
            match (kind, axis) {
                ("transpose", _) => ExprKind::Transpose(x),
                ("unsqueeze", Some(i)) => ExprKind::Reshape(Reshape::Unsqueeze(i), x),
                (_, i) => ExprKind::Reshape(Reshape::Squeeze(i), x),
            },
            span,
        )))
    }

    /// An integer constant (a literal or a named constant; `-1` in a `view`).
    fn axis_arg(&self, e: &ast::Expr, what: &str) -> R<i64> {
        let v = self.eval_const(e).map_err(|d| Diagnostic {
            message: format!("{what} must be a constant: {}", d.message),
            ..d
        })?;
        if v.fract() != 0.0 || v.abs() > i32::MAX as f64 {
            return Err(Diagnostic::error(
                format!("{what} must be an integer, got {v}"),
                e.span,
            ));
        }
        Ok(v as i64)
    }

    fn one_input(
        &mut self,
        args: &[ast::Arg],
        scope: &Scope,
        alloc: &mut Alloc,
        what: &str,
        span: nrp_syntax::Span,
    ) -> R<Expr> {
        let mut xs = self.lower_args(args, scope, alloc, what)?;
        if xs.len() != 1 {
            return Err(Diagnostic::error(
                format!("{what} takes one embedding, got {}", xs.len()),
                span,
            ));
        }
        Ok(xs.pop().expect("one input"))
    }
}
