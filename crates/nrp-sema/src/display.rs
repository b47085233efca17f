//! Text listings of a checked program: relations, modules and the core rules after
//! desugaring, as `nrp check` prints them (and as plan snapshot tests read them).

use crate::ir::*;
use std::fmt::Write;

fn dim(d: Option<usize>) -> String {
    d.map(|d| d.to_string()).unwrap_or_else(|| "?".into())
}

/// The relation table: name, kind, arity, dimension, source.
pub fn relations(p: &Program) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "relation".into(),
        "kind".into(),
        "arity".into(),
        "dim".into(),
        "defined by".into(),
    ]];
    for r in &p.relations {
        let (kind, source) = match &r.kind {
            RelKind::Input(b) => {
                let table = b
                    .table
                    .clone()
                    .unwrap_or_else(|| format!("{} (no database)", r.name));
                let columns = match b.terms {
                    0 => "no columns".to_string(),
                    1 => "first column".to_string(),
                    n => format!("first {n} columns"),
                };
                let shape = if b.embedding {
                    format!("{columns}; embedding: the rest")
                } else {
                    columns
                };
                ("input", format!("table {table}, {shape}"))
            }
            RelKind::Derived(rule) => {
                let what = if r.is_auxiliary() {
                    "auxiliary"
                } else {
                    "derived"
                };
                (what, rule.kind_name().to_string())
            }
        };
        rows.push([
            r.name.clone(),
            kind.into(),
            r.arity.to_string(),
            match &r.shape {
                // A shaped embedding: its values and, PyTorch-style, its shape.
                Some(s) if !s.is_vector() => format!("{} {s}", dim(r.dim)),
                _ => dim(r.dim),
            },
            source,
        ]);
    }
    table(&rows)
}

/// Module instances and their parameters.
pub fn modules(p: &Program) -> String {
    let mut rows: Vec<[String; 3]> = vec![["module".into(), "kind".into(), "parameters".into()]];
    let mut ms: Vec<&Module> = p.modules.iter().collect();
    ms.sort_by_key(|m| m.created_at);
    for m in ms {
        let params: Vec<String> = m
            .kind
            .params(&m.name)
            .iter()
            .map(|s| format!("{} {:?}", s.name, s.shape))
            .collect();
        rows.push([
            m.name.clone(),
            m.kind.describe(),
            if params.is_empty() {
                "-".into()
            } else {
                params.join(", ")
            },
        ]);
    }
    table(&rows)
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (i, c) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Every derived relation's core rule, in dependency order, as program text.
pub fn rules(p: &Program) -> String {
    let mut out = String::new();
    for &r in &p.order {
        let RelKind::Derived(rule) = &p.relations[r].kind else {
            continue;
        };
        let _ = writeln!(out, "  {}    # {}", rule_text(p, r, rule), rule.kind_name());
    }
    out
}

pub fn rule_text(p: &Program, rel: RelId, rule: &CoreRule) -> String {
    let name = &p.relations[rel].name;
    let bodies = rule.bodies();
    let (first_body, _) = bodies[0];
    // A union's head expression as written: from a branch that binds an embedding, not one
    // whose constant embedding (`Keys(v; 0)`) replaced it.
    let (expr_body, first_expr) = bodies
        .iter()
        .copied()
        .find(|(b, _)| b.atoms.first().is_some_and(|a| a.emb_const.is_none()))
        .unwrap_or(bodies[0]);
    let head_terms: Vec<String> = rule
        .head()
        .iter()
        .map(|t| head_term(first_body, t))
        .collect();
    let agg = rule.agg();
    let expr = match (agg, first_expr) {
        (Agg::Count, _) => Some("count()".to_string()),
        (_, None) => None,
        // A classical relation (several rules, a post-aggregation): nothing to show.
        _ if p.relations[rel].dim == Some(0) => None,
        (a, Some(e)) => {
            let e = expr_text(p, expr_body, e);
            Some(if matches!(rule, CoreRule::Transform { .. }) {
                e
            } else {
                format!("{}({e})", a.name())
            })
        }
    };
    let head = match expr {
        Some(e) => format!("{name}({}; {e})", head_terms.join(", ")),
        None => format!("{name}({})", head_terms.join(", ")),
    };
    let body = match rule {
        CoreRule::Union { .. } => bodies
            .iter()
            .map(|(b, _)| atom_text(p, b, &b.atoms[0]))
            .collect::<Vec<_>>()
            .join(" | "),
        _ => {
            let mut items: Vec<String> = first_body
                .atoms
                .iter()
                .map(|a| atom_text(p, first_body, a))
                .collect();
            items.extend(first_body.filters.iter().map(|f| {
                format!(
                    "{} {} {}",
                    operand(first_body, &f.lhs),
                    f.op.symbol(),
                    operand(first_body, &f.rhs)
                )
            }));
            items.join(", ")
        }
    };
    format!("{head} :- {body} .")
}

fn head_term(b: &Body, t: &HeadTerm) -> String {
    match t {
        HeadTerm::Var(v) => b.vars[*v].clone(),
        HeadTerm::Const(c) => constant(c),
    }
}

fn term(b: &Body, t: &Term) -> String {
    match t {
        Term::Var(v) => b.vars[*v].clone(),
        Term::Const(c) => constant(c),
    }
}

/// A filter operand; arithmetic in parentheses, as expressions print.
fn operand(b: &Body, x: &Operand) -> String {
    match x {
        Operand::Term(t) => term(b, t),
        Operand::Neg(x) => format!("-{}", operand(b, x)),
        Operand::Chain(first, rest) => {
            let mut s = format!("({}", operand(b, first));
            for (op, x) in rest {
                s.push_str(&format!(" {} {}", op.symbol(), operand(b, x)));
            }
            s.push(')');
            s
        }
    }
}

fn constant(c: &nrp_data::Value) -> String {
    match c {
        nrp_data::Value::Str(s) => format!("{s:?}"),
        v => v.to_string(),
    }
}

fn atom_text(p: &Program, b: &Body, a: &Atom) -> String {
    let terms: Vec<String> = a.terms.iter().map(|t| term(b, t)).collect();
    let name = &p.relations[a.rel].name;
    match (&a.emb_name, a.binds_embedding) {
        (_, true) if !p.relations[a.rel].is_input() && p.relations[a.rel].dim == Some(0) => {
            format!("{name}({})", terms.join(", "))
        }
        (Some(e), true) => format!("{name}({}; {e})", terms.join(", ")),
        _ if a.emb_const.is_some() => format!(
            "{name}({}; {})",
            terms.join(", "),
            nrp_data::Value::from_f64(a.emb_const.unwrap_or_default())
        ),
        _ => format!("{name}({})", terms.join(", ")),
    }
}

pub fn expr_text(p: &Program, b: &Body, e: &Expr) -> String {
    match &e.kind {
        ExprKind::Emb(i) => match b.atoms.get(*i).and_then(|a| a.emb_name.clone()) {
            Some(n) if n != "_" => n,
            _ => format!("e{i}"),
        },
        ExprKind::Encode(ts, ..) => format!(
            "[{}]",
            ts.iter().map(|t| term(b, t)).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Const(c) | ExprKind::Fill(c) => nrp_data::Value::from_f64(*c).to_string(),
        ExprKind::Neg(x) => format!("-{}", expr_text(p, b, x)),
        ExprKind::Binary(op, x, y) => format!(
            "({} {} {})",
            expr_text(p, b, x),
            op.symbol(),
            expr_text(p, b, y)
        ),
        ExprKind::Chain(first, rest) => {
            let mut s = format!("({}", expr_text(p, b, first));
            for (op, x) in rest {
                s.push_str(&format!(" {} {}", op.symbol(), expr_text(p, b, x)));
            }
            s.push(')');
            s
        }
        ExprKind::Func(f, xs) => format!(
            "{}({})",
            f.name(),
            xs.iter()
                .map(|x| expr_text(p, b, x))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ExprKind::Param(m) => p.modules[*m].name.clone(),
        ExprKind::Transpose(x) => format!("transpose({})", expr_text(p, b, x)),
        ExprKind::Reshape(r, x) => {
            let x = expr_text(p, b, x);
            match r {
                Reshape::View(dims) => format!(
                    "view({})({x})",
                    dims.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Reshape::Unsqueeze(i) => format!("unsqueeze({x}, {i})"),
                Reshape::Squeeze(None) => format!("squeeze({x})"),
                Reshape::Squeeze(Some(i)) => format!("squeeze({x}, {i})"),
            }
        }
        ExprKind::Apply(m, xs) => {
            format!(
                "{}({})",
                p.modules[*m].name,
                xs.iter()
                    .map(|x| expr_text(p, b, x))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}
