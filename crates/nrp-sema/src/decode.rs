//! Decode brackets in `?pred` heads (`Pred(v, [ArgMax(p)]; p) :- Out(v; p) .`).
//!
//! A decode `[D(p)]` turns the tuple's value of the embedding variable `p` into content:
//! one content column per coordinate of `D`'s result, at the bracket's position. It is
//! desugared into an auxiliary rule `Pred#decodeK(terms; D(agg(p))) :- body .` with the
//! head's other terms and the head's aggregation (default `sum`), so that the decoder
//! sees the tuple's aggregated value, as RelaNN decodes the predicted relation's embedding.
//! The auxiliary relation has exactly the tuples of `Pred` (same body, same terms); the
//! engine and the reference evaluator put its values into `Pred`'s rows on output.
//! Decoded columns depend on embeddings, so no rule may read a relation that has them.

use crate::ir::{Decoded, RelKind, Relation};
use nrp_syntax::ast::{self, Expr, ExprKind as AK};
use nrp_syntax::{Diagnostic, Span};

type R<T> = Result<T, Diagnostic>;

/// A `?pred` relation's decode brackets by name: (written position, auxiliary relation).
pub type Decodes = Vec<(String, Vec<(usize, String)>)>;

/// Rewrites every `?pred` rule with decode brackets into its rule without them plus one
/// auxiliary rule per bracket (right after it).
pub fn split(program: &ast::Program) -> R<(ast::Program, Decodes)> {
    let mut out = ast::Program {
        statements: Vec::with_capacity(program.statements.len()),
    };
    let mut decodes: Decodes = vec![];
    for s in &program.statements {
        let rule = match s {
            ast::Statement::Pred(r) if !r.head.decodes.is_empty() => r,
            ast::Statement::Rule(r) | ast::Statement::Pred(r) => {
                refuse_decodes(r)?;
                out.statements.push(s.clone());
                continue;
            }
            ast::Statement::Fit(f) => {
                refuse_decodes(&f.rule)?;
                out.statements.push(s.clone());
                continue;
            }
            _ => {
                out.statements.push(s.clone());
                continue;
            }
        };
        let name = &rule.head.name.name;
        if let Some(other) = program.statements.iter().find_map(|t| match t {
            ast::Statement::Rule(r) | ast::Statement::Pred(r)
                if r.head.name.name == *name && !std::ptr::eq(r, rule) =>
            {
                Some(r.head.span)
            }
            _ => None,
        }) {
            return Err(Diagnostic::error(
                format!("`{name}` has decode brackets, so it must have exactly one rule"),
                other,
            )
            .with_note("the decoded columns are computed from the one rule's aggregated value"));
        }
        let ast::Body::Conj { atoms, .. } = &rule.body else {
            return Err(Diagnostic::error(
                "decode brackets need a conjunction body (atoms joined by `,`)",
                rule.head.decodes[0].span,
            ));
        };
        let embs: Vec<&str> = atoms
            .iter()
            .filter_map(|a| a.emb.as_ref()?.var().map(|v| v.name.as_str()))
            .collect();
        let agg = outer_agg(rule.head.expr.as_ref());
        let mut main = rule.clone();
        main.head.decodes.clear();
        out.statements.push(ast::Statement::Pred(main));
        let mut mine = vec![];
        for (k, d) in rule.head.decodes.iter().enumerate() {
            let aux = format!("{name}#decode{}", k + 1);
            let mut expr = d.expr.clone();
            let mut found = 0;
            wrap_var(&mut expr, &embs, agg, &mut found);
            if found != 1 {
                return Err(Diagnostic::error(
                    format!(
                        "a decode reads exactly one embedding variable of the body (as `[ArgMax(p)]`); this one reads {found}"
                    ),
                    d.span,
                ));
            }
            let head = ast::Head {
                name: ast::Ident {
                    name: aux.clone(),
                    span: rule.head.name.span,
                },
                tparams: vec![],
                terms: rule.head.terms.clone(),
                expr: Some(expr),
                decodes: vec![],
                span: d.span,
            };
            out.statements.push(ast::Statement::Rule(ast::Rule {
                head,
                body: rule.body.clone(),
                span: rule.span,
            }));
            mine.push((d.pos, aux));
        }
        decodes.push((name.clone(), mine));
    }
    Ok((out, decodes))
}

fn refuse_decodes(r: &ast::Rule) -> R<()> {
    match r.head.decodes.first() {
        Some(d) => Err(Diagnostic::error(
            "decode brackets `[…]` in a head are for `?pred` rules",
            d.span,
        )
        .with_note("a decoded column exists only in the predicted output; use `?pred`")),
        None => Ok(()),
    }
}

/// The head's outer aggregation (`mean` of `mean(z * w)`), which the decode uses too;
/// `sum` (the default) otherwise, also for `count` (a decode of a count is the count of
/// nothing sensible).
fn outer_agg(e: Option<&Expr>) -> &'static str {
    if let Some(Expr {
        kind: AK::Call { callee, args },
        ..
    }) = e
        && args.len() == 1
        && let AK::Ident(n) = &callee.kind
    {
        return match n.as_str() {
            "mean" | "avg" => "mean",
            "max" => "max",
            "min" => "min",
            _ => "sum",
        };
    }
    "sum"
}

const AGGS: [&str; 7] = ["sum", "add", "mean", "avg", "max", "min", "count"];

/// Replaces each embedding variable `p` read by `e` with `agg(p)`, counting them.
fn wrap_var(e: &mut Expr, embs: &[&str], agg: &str, found: &mut usize) {
    match &mut e.kind {
        AK::Ident(n) if embs.contains(&n.as_str()) => {
            *found += 1;
            let span = e.span;
            let inner = e.clone();
            e.kind = AK::Call {
                callee: Box::new(Expr {
                    kind: AK::Ident(agg.into()),
                    span,
                }),
                args: vec![ast::Arg {
                    name: None,
                    value: inner,
                }],
            };
        }
        AK::Neg(x) | AK::Splat(x) => wrap_var(x, embs, agg, found),
        AK::Binary(_, a, b) => {
            wrap_var(a, embs, agg, found);
            wrap_var(b, embs, agg, found);
        }
        AK::Chain(first, rest) => {
            wrap_var(first, embs, agg, found);
            rest.iter_mut()
                .for_each(|(_, x)| wrap_var(x, embs, agg, found));
        }
        // An aggregation written in the decode (`[ArgMax(max(p))]`) is the one used.
        AK::Call { callee, args } if matches!(&callee.kind, AK::Ident(n) if AGGS.contains(&n.as_str())) =>
        {
            let mut inner = 0;
            for a in args.iter_mut() {
                let mut copy = a.value.clone();
                wrap_var(&mut copy, embs, agg, &mut inner);
            }
            *found += inner;
        }
        // The callee is a module or function name, never a variable.
        AK::Call { args, .. } => args
            .iter_mut()
            .for_each(|a| wrap_var(&mut a.value, embs, agg, found)),
        AK::Number(_) | AK::Str(_) | AK::Ident(_) | AK::Encode(_) | AK::Instance(..) => {}
    }
}

/// Records the decodes on their relations and refuses any rule that reads one of them.
pub fn attach(relations: &mut [Relation], decodes: &Decodes) -> R<()> {
    fn id(relations: &[Relation], name: &str) -> usize {
        relations
            .iter()
            .position(|r| r.name == name && !r.is_input())
            .expect("declared")
    }
    let mut decoded = vec![false; relations.len()];
    for (name, ds) in decodes {
        let rel = id(relations, name);
        decoded[rel] = true;
        let list = ds
            .iter()
            .map(|(pos, aux)| Decoded {
                pos: *pos,
                rel: id(relations, aux),
            })
            .collect();
        relations[rel].decodes = list;
    }
    for r in relations.iter() {
        let RelKind::Derived(rule) = &r.kind else {
            continue;
        };
        for (body, _) in rule.bodies() {
            for a in &body.atoms {
                if decoded[a.rel] {
                    return Err(read_error(&relations[a.rel].name, a.span));
                }
            }
        }
    }
    Ok(())
}

fn read_error(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "`{name}` has decoded columns, which exist only in its output: no rule can read it"
        ),
        span,
    )
    .with_note(
        "read the relation the `?pred` rule decodes instead, or compute the value as an embedding",
    )
}
