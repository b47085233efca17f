//! `Tensor(shape…[, fill])` free parameters: a named one (`Gate = Tensor(1) .`) or an
//! inline one (`z * Tensor(1, 3.0)`, a fresh parameter per occurrence, named like inline
//! modules) is used as a value; its parameter is `<name>.weight` with the shape as written.

use super::{Alloc, Lowerer, R, expr};
use crate::catalogue::{self, TensorArg};
use crate::ir::*;
use nrp_syntax::ast::{self, ExprKind as AK};
use nrp_syntax::{Diagnostic, Span};

/// Whether `e` is a decimal literal (`3.0`, `-0.5`, `1e-3`): what makes a last argument of
/// `Tensor` its fill value, as a Python `float` does in RelaNN.
fn decimal_literal(e: &ast::Expr) -> bool {
    match &e.kind {
        AK::Number(n) => n.contains(['.', 'e', 'E']),
        AK::Neg(x) => decimal_literal(x),
        _ => false,
    }
}

impl Lowerer<'_> {
    /// The module of `Tensor(args)`.
    pub(super) fn tensor_kind(&self, args: &[ast::Arg], span: Span) -> R<ModuleKind> {
        let mut targs = Vec::with_capacity(args.len());
        for a in args {
            if let Some(n) = &a.name {
                return Err(Diagnostic::error(
                    "`Tensor` takes its shape and fill by position",
                    n.span,
                ));
            }
            let value = self.eval_const(&a.value).map_err(|e| Diagnostic {
                message: format!("arguments of `Tensor(…)` must be constants: {}", e.message),
                span: Some(a.value.span),
                ..e
            })?;
            targs.push(TensorArg {
                value,
                decimal: decimal_literal(&a.value),
                span: a.value.span,
            });
        }
        catalogue::tensor(&targs, span)
    }

    /// An inline `Tensor(…)` in an expression: a fresh parameter, read as a value.
    pub(super) fn inline_tensor(
        &mut self,
        args: &[ast::Arg],
        span: Span,
        alloc: &mut Alloc,
    ) -> R<Expr> {
        let kind = self.tensor_kind(args, span)?;
        let m = self.new_module(alloc, kind, span);
        Ok(expr(ExprKind::Param(m), span))
    }
}

/// `Gate(z)` or `Tensor(1)(z)`: a parameter is a value, not a module to apply.
pub(super) fn not_applicable(what: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("`{what}` is a free parameter (`Tensor`), not a module: it cannot be applied"),
        span,
    )
    .with_note(format!(
        "use it as a value in the expression, e.g. `z * {what}` or `Sigmoid({what})`"
    ))
}
