//! The formal input of a composite module (`Sq = u * u + 1 .`): the names of its body that
//! are left once constants, named modules and built-ins are resolved. One such name is
//! the input, whatever it is called (`inp`, `x`, even `z`); two or more are an error that
//! names them, since one of them is usually a misspelt constant.

use super::{Named, aggregation, callee_name};
use crate::catalogue;
use crate::ir::Func;
use nrp_syntax::ast::{self, ExprKind as AK};
use nrp_syntax::{Diagnostic, Span};
use std::collections::HashMap;

/// The unresolved names of `e` in value positions, in order of first occurrence, with the
/// span of that occurrence. Callees are not formals (`Lin(u)` applies `Lin`); encodes name
/// content, not embeddings.
pub(super) fn free_names(e: &ast::Expr, names: &HashMap<String, Named>) -> Vec<(String, Span)> {
    let mut out: Vec<(String, Span)> = vec![];
    collect(e, names, &mut out);
    out
}

fn collect(e: &ast::Expr, names: &HashMap<String, Named>, out: &mut Vec<(String, Span)>) {
    match &e.kind {
        AK::Ident(n) => {
            let builtin = catalogue::is_constructor(n)
                || catalogue::is_tensor(n)
                || Func::from_name(n).is_some()
                || super::shape_ops::is_shape_op(n)
                || aggregation(n).is_some();
            if !builtin && !names.contains_key(n) && !out.iter().any(|(m, _)| m == n) {
                out.push((n.clone(), e.span));
            }
        }
        AK::Number(_) | AK::Str(_) | AK::Encode(_) => {}
        AK::Neg(x) | AK::Splat(x) => collect(x, names, out),
        AK::Binary(_, a, b) => {
            collect(a, names, out);
            collect(b, names, out);
        }
        AK::Chain(first, rest) => {
            collect(first, names, out);
            rest.iter().for_each(|(_, x)| collect(x, names, out));
        }
        AK::Call { callee, args } => {
            if callee_name(callee).is_none() {
                // `Linear(hidden, 4)(u)`: the constructor's arguments are constants, but an
                // unknown one is reported with the others.
                collect(callee, names, out);
            }
            args.iter().for_each(|a| collect(&a.value, names, out));
        }
        AK::Instance(_, args) => args.iter().for_each(|a| collect(a, names, out)),
    }
}

/// The error for a definition with several unresolved names.
pub(super) fn several(def: &str, formals: &[(String, Span)]) -> Diagnostic {
    let list: Vec<String> = formals.iter().map(|(n, _)| format!("`{n}`")).collect();
    Diagnostic::error(
        format!(
            "`{def}` has {} unbound names, {}; a composite module has exactly one input",
            formals.len(),
            list.join(", ")
        ),
        formals[1].1,
    )
    .with_label("a second unbound name")
    .with_note(
        "names that are not constants or modules defined before are inputs: is one of them a misspelt constant?",
    )
}
