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
        Statement::Def(d) => format!(
            "{}{} = {} .",
            d.name.name,
            print_tparams(&d.tparams),
            print_expr(&d.value)
        ),
        Statement::Function(f) => print_function(f),
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
        Body::Set(set) => print_set(set),
    };
    format!("{} :- {}", print_head(&r.head), body)
}

pub fn print_head(h: &Head) -> String {
    // Decode brackets back in their written positions.
    let mut written: Vec<String> = h.terms.iter().map(print_term).collect();
    for d in &h.decodes {
        written.insert(
            d.pos.min(written.len()),
            format!("[{}]", print_expr(&d.expr)),
        );
    }
    let terms = written.join(", ");
    let name = format!("{}{}", h.name.name, print_tparams(&h.tparams));
    match &h.expr {
        Some(e) if terms.is_empty() => format!("{name}(; {})", print_expr(e)),
        Some(e) => format!("{name}({}; {})", terms, print_expr(e)),
        None => format!("{name}({})", terms),
    }
}

pub fn print_atom(a: &Atom) -> String {
    let terms = print_terms(&a.terms);
    let mut name = format!("{}{}", a.name.name, print_targs(&a.targs));
    if let Some(args) = &a.call {
        let args: Vec<String> = args
            .iter()
            .map(|r| format!("{}{}", r.name.name, print_targs(&r.targs)))
            .collect();
        let _ = write!(name, "({})", args.join(", "));
    }
    let emb = a.emb.as_ref().map(|e| match e {
        Emb::Var(id) => id.name.clone(),
        Emb::Const(l, s) => print_term(&Term::Const(l.clone(), *s)),
    });
    match emb {
        Some(e) if terms.is_empty() => format!("{name}(; {e})"),
        Some(e) => format!("{name}({terms}; {e})"),
        None => format!("{name}({terms})"),
    }
}

pub fn print_filter(f: &Filter) -> String {
    format!(
        "{} {} {}",
        print_expr(&f.lhs),
        f.op.symbol(),
        print_expr(&f.rhs)
    )
}

/// `<a, 'b', 0>` of a definition (nothing when there are none).
pub fn print_tparams(ps: &[TParam]) -> String {
    if ps.is_empty() {
        return String::new();
    }
    let ps: Vec<String> = ps
        .iter()
        .map(|p| match p {
            TParam::Name(id) => id.name.clone(),
            TParam::Lit(l, s) => print_term(&Term::Const(l.clone(), *s)),
        })
        .collect();
    format!("<{}>", ps.join(", "))
}

/// `<L - 1, "A">` at a use site (nothing when there are none).
pub fn print_targs(args: &[Expr]) -> String {
    if args.is_empty() {
        return String::new();
    }
    let args: Vec<String> = args.iter().map(print_expr).collect();
    format!("<{}>", args.join(", "))
}

fn print_set(set: &BoundedSet) -> String {
    let mut items: Vec<String> = set.guards.iter().map(print_atom).collect();
    items.extend(set.conds.iter().map(print_filter));
    format!(
        "{}(Set({} | {}))",
        set.kind.keyword(),
        print_atom(&set.atom),
        items.join(", ")
    )
}

fn print_schema(s: &Schema) -> String {
    let types: Vec<&str> = s.types.iter().map(|t| t.name.as_str()).collect();
    let dims: Vec<String> = s.dims.iter().map(print_expr).collect();
    if dims.is_empty() {
        format!("({})", types.join(", "))
    } else {
        format!("({}; {})", types.join(", "), dims.join(", "))
    }
}

fn print_function(f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| match &p.schema {
            Some(s) => format!("{}: {}", p.name.name, print_schema(s)),
            None => p.name.name.clone(),
        })
        .collect();
    let mut out = format!(
        "def {}{}({})",
        f.name.name,
        print_tparams(&f.tparams),
        params.join(", ")
    );
    if let Some(r) = &f.ret {
        let _ = write!(out, " -> {}", print_schema(r));
    }
    out.push_str(":\n");
    for s in &f.body {
        let _ = writeln!(out, "    {}", print_statement(s));
    }
    out.push_str("enddef");
    out
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
        ExprKind::Instance(name, args) => format!("{name}{}", print_targs(args)),
        ExprKind::Splat(x) => format!("*{}", print_expr(x)),
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
