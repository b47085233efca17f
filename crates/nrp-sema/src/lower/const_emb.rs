//! Constant embeddings in body atoms (`R(x; 0)`): the fact's embedding is replaced by the
//! constant. In a union branch the head expression reads it (`Keys(v; 0) | Partial(v; z)`
//! zero-pads `Partial` to every key) with the dimension of the union's other branches.

use super::R;
use crate::ir::{Expr, ExprKind};
use nrp_syntax::ast::Literal;
use nrp_syntax::{Diagnostic, Span};

/// The number a constant embedding denotes (`; 0`, `; -1.5`, `; True`).
pub(super) fn constant_embedding(lit: &Literal, span: Span) -> R<f64> {
    match lit {
        Literal::Number(n) => n
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| Diagnostic::error(format!("invalid number `{n}`"), span)),
        Literal::Str(_) => Err(Diagnostic::error(
            "a constant embedding is a number, not a string",
            span,
        )
        .with_note("write `R(x; 0)` for a zero embedding, or `R(x; e)` to bind the fact's")),
    }
}

/// The head expression of a union branch whose atom has the constant embedding `c`: every
/// read of the branch's embedding (`Emb(0)`) becomes the constant.
pub(super) fn fill(e: &mut Expr, c: f64) {
    match &mut e.kind {
        ExprKind::Emb(_) => e.kind = ExprKind::Fill(c),
        ExprKind::Neg(x) | ExprKind::Reshape(_, x) | ExprKind::Transpose(x) => fill(x, c),
        ExprKind::Binary(_, a, b) => {
            fill(a, c);
            fill(b, c);
        }
        ExprKind::Chain(first, rest) => {
            fill(first, c);
            rest.iter_mut().for_each(|(_, x)| fill(x, c));
        }
        ExprKind::Func(_, xs) | ExprKind::Apply(_, xs) => xs.iter_mut().for_each(|x| fill(x, c)),
        ExprKind::Encode(..) | ExprKind::Const(_) | ExprKind::Param(_) | ExprKind::Fill(_) => {}
    }
}
