//! Walks over expressions and programs that the expansion needs.

use super::R;
use nrp_syntax::ast::*;
use nrp_syntax::{Diagnostic, Span};

pub(super) fn is_arith(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Ident(_) => true,
        ExprKind::Neg(x) => is_arith(x),
        ExprKind::Chain(first, rest) => is_arith(first) && rest.iter().all(|(_, x)| is_arith(x)),
        ExprKind::Binary(BinOp::Pow, a, b) => is_arith(a) && is_arith(b),
        _ => false,
    }
}

/// `*e` in an argument list → `e_1, …, e_n`; a bare `e` split by the join is an error.
pub(super) fn spread(e: &mut Expr, var: &str, parts: &[String]) -> R<()> {
    match &mut e.kind {
        ExprKind::Ident(n) if n == var => Err(Diagnostic::error(
            format!(
                "the embedding variable `{var}` is split by `Join(Set(…))` into `{}`: use `*{var}` or one part",
                parts.join("`, `")
            ),
            e.span,
        )),
        ExprKind::Call { callee, args } => {
            spread(callee, var, parts)?;
            let mut out = Vec::with_capacity(args.len());
            for mut a in std::mem::take(args) {
                match &a.value.kind {
                    ExprKind::Splat(x) if matches!(&x.kind, ExprKind::Ident(n) if n == var) => {
                        let span = a.value.span;
                        out.extend(parts.iter().map(|p| Arg {
                            name: None,
                            value: Expr {
                                kind: ExprKind::Ident(p.clone()),
                                span,
                            },
                        }));
                    }
                    _ => {
                        spread(&mut a.value, var, parts)?;
                        out.push(a);
                    }
                }
            }
            *args = out;
            Ok(())
        }
        ExprKind::Neg(x) | ExprKind::Splat(x) => spread(x, var, parts),
        ExprKind::Binary(_, a, b) => {
            spread(a, var, parts)?;
            spread(b, var, parts)
        }
        ExprKind::Chain(first, rest) => {
            spread(first, var, parts)?;
            rest.iter_mut().try_for_each(|(_, x)| spread(x, var, parts))
        }
        _ => Ok(()),
    }
}

/// A splat left over (not in the head of a `Join(Set(…))` over its variable).
pub(super) fn no_splat(e: &Expr) -> R<()> {
    let mut found = None;
    find_splat(e, &mut found);
    match found {
        Some(span) => Err(Diagnostic::error(
            "`*z` spreads the parts of an embedding variable split by `Join(Set(…))`; there is none here",
            span,
        )
        .with_note("a `Union(Set(…))` keeps one embedding variable: use it as in any union head")),
        None => Ok(()),
    }
}

fn find_splat(e: &Expr, found: &mut Option<Span>) {
    e.visit(&mut |x| {
        if found.is_none() && matches!(x.kind, ExprKind::Splat(_)) {
            *found = Some(x.span);
        }
    });
}
