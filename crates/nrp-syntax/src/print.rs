//! Prints an AST back as program text. Binary expressions are fully parenthesised so that
//! `parse(print(p)) == p` up to spans (the round-trip property the tests check).

use crate::ast::*;
use std::fmt::Write;

pub fn print_program(p: &Program) -> String {
    let mut out = String::new();
    for s in &p.statements {
        out.push_str(&print_statement(s));
        out.push('\n');
    }
    out
}

pub fn print_statement(s: &Statement) -> String {
    match s {
        Statement::Def(d) => format!("{} = {} .", d.name.name, print_expr(&d.value)),
        Statement::Rule(r) => format!("{} .", print_rule(r)),
        Statement::Pred(r) => format!("?pred {} .", print_rule(r)),
        Statement::Fit(f) => {
            let mut s = String::from("?fit ");
            if !f.params.is_empty() {
                let ps: Vec<String> = f
                    .params
                    .iter()
                    .map(|p| format!("{} = {}", p.name.name, print_expr(&p.value)))
                    .collect();
                let _ = write!(s, "<{}> ", ps.join(", "));
            }
            s.push_str(&print_rule(&f.rule));
            s.push_str(" .");
            s
        }
    }
}

pub fn print_rule(r: &Rule) -> String {
    let body = match &r.body {
        Body::Conj { atoms, filters } => {
            let mut items: Vec<String> = atoms.iter().map(print_atom).collect();
            items.extend(filters.iter().map(print_filter));
            items.join(", ")
        }
        Body::Union(atoms) => atoms.iter().map(print_atom).collect::<Vec<_>>().join(" | "),
    };
    format!("{} :- {}", print_head(&r.head), body)
}

pub fn print_head(h: &Head) -> String {
    let terms = print_terms(&h.terms);
    match &h.expr {
        Some(e) if terms.is_empty() => format!("{}(; {})", h.name.name, print_expr(e)),
        Some(e) => format!("{}({}; {})", h.name.name, terms, print_expr(e)),
        None => format!("{}({})", h.name.name, terms),
    }
}

pub fn print_atom(a: &Atom) -> String {
    let terms = print_terms(&a.terms);
    match &a.emb {
        Some(e) if terms.is_empty() => format!("{}(; {})", a.name.name, e.name),
        Some(e) => format!("{}({}; {})", a.name.name, terms, e.name),
        None => format!("{}({})", a.name.name, terms),
    }
}

fn print_filter(f: &Filter) -> String {
    format!(
        "{} {} {}",
        print_term(&f.lhs),
        f.op.symbol(),
        print_term(&f.rhs)
    )
}

fn print_terms(ts: &[Term]) -> String {
    ts.iter().map(print_term).collect::<Vec<_>>().join(", ")
}

pub fn print_term(t: &Term) -> String {
    match t {
        Term::Var(id) => id.name.clone(),
        Term::Wildcard(_) => "_".into(),
        Term::Const(Literal::Number(n), _) => n.clone(),
        Term::Const(Literal::Str(s), _) => quote(s),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn print_expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(n) => n.clone(),
        ExprKind::Str(s) => quote(s),
        ExprKind::Ident(n) => n.clone(),
        ExprKind::Neg(x) => format!("(-{})", print_expr(x)),
        ExprKind::Binary(op, a, b) => {
            format!("({} {} {})", print_expr(a), op.symbol(), print_expr(b))
        }
        ExprKind::Chain(first, rest) => {
            let mut s = format!("({}", print_expr(first));
            for (op, x) in rest {
                let _ = write!(s, " {} {}", op.symbol(), print_expr(x));
            }
            s.push(')');
            s
        }
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{} = {}", n.name, print_expr(&a.value)),
                    None => print_expr(&a.value),
                })
                .collect();
            format!("{}({})", print_expr(callee), args.join(", "))
        }
        ExprKind::Encode(ts) => format!("[{}]", print_terms(ts)),
    }
}

/// `print_expr` for a message: at most `max` characters, the middle elided with `…`.
pub fn print_expr_brief(e: &Expr, max: usize) -> String {
    shorten(&print_expr(e), max)
}

/// `s` itself if at most `max` characters long, else its start and end around `…`.
pub fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let head = keep - keep / 3;
    let tail = keep / 3;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}
