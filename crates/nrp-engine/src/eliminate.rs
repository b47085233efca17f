//! Aggregation push-down (variable elimination) for acyclic bodies.
//!
//! A conjunction `H(h; sum(f1 * f2 * …)) :- A1, A2, …` whose expression is a product of
//! factors, each reading one atom, sums over every match — every path, for a path-shaped
//! body. By distributivity the sum over a variable that is not in the head can be pushed
//! into the atoms that contain it: `Σ_c X(c)·E(c,b)` becomes an intermediate relation
//! `T(b)`, and a two-hop body costs two sparse products instead of an enumeration of all
//! two-hop paths. Applied before grounding, to acyclic bodies without filters (cyclic ones
//! go to the generic join, whose intermediate results are no larger than the answer).

use nrp_data::Value;
use nrp_sema::{
    Agg, Atom, BinOp, Body, CoreRule, Expr, ExprKind, HeadTerm, Program, RelId, RelKind, Relation,
    Shape, Term,
};
use std::collections::BTreeSet;

/// An atom during elimination: relation, terms by variable name, its factor's home.
#[derive(Clone)]
struct WAtom {
    rel: RelId,
    terms: Vec<Result<String, Value>>,
    binds: bool,
    emb_name: Option<String>,
    emb_const: Option<f64>,
    span: nrp_syntax::Span,
}

impl WAtom {
    fn vars(&self) -> BTreeSet<&str> {
        self.terms
            .iter()
            .filter_map(|t| t.as_ref().ok().map(String::as_str))
            .collect()
    }
}

/// A factor of the product: an expression reading at most one atom (its home).
#[derive(Clone)]
struct Factor {
    expr: Expr,
    home: Option<usize>,
}

/// Rewrites every qualifying conjunction of `program`; returns the program unchanged
/// otherwise. New relations are appended (`H#e1`, …), so existing ids stay valid.
pub fn eliminate(program: &Program) -> Program {
    let mut p = program.clone();
    let mut changed = false;
    for rel in 0..program.relations.len() {
        // `count()` is the sum of a product of no factors.
        let (head, body, expr) = match &program.relations[rel].kind {
            RelKind::Derived(CoreRule::Conj {
                head,
                body,
                expr: Some(expr),
                agg: Agg::Sum,
            }) => (head, body, Some(expr)),
            RelKind::Derived(CoreRule::Conj {
                head,
                body,
                expr: None,
                agg: Agg::Count,
            }) => (head, body, None),
            _ => continue,
        };
        if !body.filters.is_empty() || body.atoms.len() < 3 || !acyclic(body) {
            continue;
        }
        let Some(factors) = expr.map_or(Some(vec![]), |e| factors(e, body, &program.modules))
        else {
            continue;
        };
        if let Some(rule) = rewrite(&mut p, rel, head, body, factors) {
            p.relations[rel].kind = RelKind::Derived(rule);
            changed = true;
        }
    }
    if changed {
        p.order = topological_order(&p.relations);
    }
    p
}

/// The factors of a product, each with the one atom it reads (`None` for constants).
fn factors(expr: &Expr, body: &Body, modules: &[nrp_sema::Module]) -> Option<Vec<Factor>> {
    // Factors of shaped embeddings broadcast by their shapes, which a product of factors
    // regrouped by atom would not keep: such rules are left as written.
    let mut shaped = false;
    expr.walk(&mut |n| {
        shaped |= n.shape.as_ref().is_some_and(|s| !s.is_vector())
            || matches!(n.kind, ExprKind::Binary(BinOp::MatMul, ..));
    });
    if shaped {
        return None;
    }
    let mut flat = vec![];
    flatten(expr, &mut flat);
    let mut out = vec![];
    for f in flat {
        let mut atoms = BTreeSet::new();
        let mut vars = BTreeSet::new();
        let mut may_fail = false;
        f.walk(&mut |n| match &n.kind {
            ExprKind::Emb(i) => {
                atoms.insert(*i);
            }
            ExprKind::Encode(items, ..) => {
                may_fail = true;
                vars.extend(
                    items
                        .iter()
                        .filter_map(|t| if let Term::Var(v) = t { Some(*v) } else { None }),
                )
            }
            ExprKind::Apply(_, _) => may_fail |= index_taking(n, modules),
            _ => {}
        });
        // Factors move into intermediate relations whose facts are a superset of the
        // values full matches reach: one that can fail (a non-numeric encode, an index out
        // of range) would fail where the rule as written does not.
        if may_fail {
            return None;
        }
        let home = match (atoms.len(), vars.is_empty()) {
            (0, true) => None,
            (1, _) => {
                let a = *atoms.first().expect("one atom");
                // Encoded variables must belong to the same atom.
                let ok = vars
                    .iter()
                    .all(|v| body.atoms[a].terms.contains(&Term::Var(*v)));
                if !ok {
                    return None;
                }
                Some(a)
            }
            (0, false) => Some(
                body.atoms
                    .iter()
                    .position(|a| vars.iter().all(|v| a.terms.contains(&Term::Var(*v))))?,
            ),
            _ => return None, // reads two atoms: not a product of per-atom factors
        };
        out.push(Factor { expr: f, home });
    }
    Some(out)
}

/// `OneHot` and `Embedding` read an index that may be out of range.
fn index_taking(e: &Expr, modules: &[nrp_sema::Module]) -> bool {
    matches!(&e.kind, ExprKind::Apply(m, _) if matches!(modules[*m].kind, nrp_sema::ModuleKind::OneHot { .. } | nrp_sema::ModuleKind::Embedding { .. }))
}

/// The factors of a product. In a chain `((a ⊙ b) ⊙ c) …`, the operands multiplied after
/// its last other operator (`/`, or `+ -` in a sum) are factors, and everything before
/// them is one.
fn flatten(e: &Expr, out: &mut Vec<Expr>) {
    match &e.kind {
        ExprKind::Binary(BinOp::Mul, a, b) => {
            flatten(a, out);
            flatten(b, out);
        }
        ExprKind::Chain(first, rest) => {
            let factors_from = match rest.iter().rposition(|(op, _)| *op != BinOp::Mul) {
                None => {
                    flatten(first, out);
                    0
                }
                Some(k) if k + 1 == rest.len() => return out.push(e.clone()),
                Some(k) => {
                    let head = &rest[..=k];
                    let dim = head.iter().fold(first.dim, |d, (_, x)| match (d, x.dim) {
                        (Some(1), o) | (o, Some(1)) => o,
                        (a, _) => a,
                    });
                    out.push(Expr {
                        kind: ExprKind::Chain(first.clone(), head.to_vec()),
                        dim,
                        shape: dim.map(Shape::vector),
                        span: first.span.to(rest[k].1.span),
                    });
                    k + 1
                }
            };
            for (_, x) in &rest[factors_from..] {
                flatten(x, out);
            }
        }
        _ => out.push(e.clone()),
    }
}

/// GYO reduction: a body is acyclic iff removing variables that occur in one atom and
/// atoms contained in another leaves at most one atom.
fn acyclic(body: &Body) -> bool {
    let mut edges: Vec<BTreeSet<usize>> = body
        .atoms
        .iter()
        .map(|a| {
            a.terms
                .iter()
                .filter_map(|t| if let Term::Var(v) = t { Some(*v) } else { None })
                .collect()
        })
        .collect();
    loop {
        let mut changed = false;
        let all: Vec<usize> = edges.iter().flatten().copied().collect();
        for e in edges.iter_mut() {
            let before = e.len();
            e.retain(|v| all.iter().filter(|&&x| x == *v).count() > 1);
            changed |= e.len() != before;
        }
        let n = edges.len();
        let mut keep = vec![true; n];
        for i in 0..n {
            for j in 0..n {
                if i != j
                    && keep[j]
                    && edges[i].is_subset(&edges[j])
                    && (edges[i] != edges[j] || i > j)
                {
                    keep[i] = false;
                    break;
                }
            }
        }
        if keep.iter().any(|k| !k) {
            changed = true;
            edges = edges
                .into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(e, _)| e)
                .collect();
        }
        if !changed {
            return edges.len() <= 1;
        }
    }
}

fn rewrite(
    p: &mut Program,
    rel: RelId,
    head: &[HeadTerm],
    body: &Body,
    factors: Vec<Factor>,
) -> Option<CoreRule> {
    let name = |v: usize| body.vars[v].clone();
    let mut atoms: Vec<WAtom> = body
        .atoms
        .iter()
        .map(|a| WAtom {
            rel: a.rel,
            terms: a
                .terms
                .iter()
                .map(|t| match t {
                    Term::Var(v) => Ok(name(*v)),
                    Term::Const(c) => Err(c.clone()),
                })
                .collect(),
            binds: a.binds_embedding,
            emb_const: a.emb_const,
            emb_name: a.emb_name.clone(),
            span: a.span,
        })
        .collect();
    // Factors refer to variables by name from here on.
    let mut factors: Vec<(Expr, Option<usize>)> = factors
        .into_iter()
        .map(|f| (rename_vars(&f.expr, body), f.home))
        .collect();
    let head_vars: BTreeSet<String> = head
        .iter()
        .filter_map(|t| {
            if let HeadTerm::Var(v) = t {
                Some(name(*v))
            } else {
                None
            }
        })
        .collect();
    let mut created = 0;
    loop {
        // The variable whose elimination leaves the smallest intermediate relation.
        let candidates: BTreeSet<String> = atoms
            .iter()
            .flat_map(|a| a.vars().into_iter().map(String::from))
            .filter(|v| !head_vars.contains(v))
            .collect();
        let best = candidates
            .iter()
            .filter_map(|v| {
                let group: Vec<usize> = (0..atoms.len())
                    .filter(|&i| atoms[i].vars().contains(v.as_str()))
                    .collect();
                (group.len() < atoms.len()).then(|| {
                    let keep: BTreeSet<&str> = group
                        .iter()
                        .flat_map(|&i| atoms[i].vars())
                        .filter(|x| x != v)
                        .collect();
                    (keep.len(), group.len(), v.clone(), group)
                })
            })
            .min();
        let Some((_, _, var, group)) = best else {
            break;
        };
        created += 1;
        let t_vars: Vec<String> = group
            .iter()
            .flat_map(|&i| atoms[i].vars())
            .filter(|x| *x != var)
            .map(String::from)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let t_name = format!("{}#e{created}", p.relations[rel].name);
        // The intermediate relation: the group's atoms, the product of their factors.
        let (t_body, position) = make_body(&t_vars, group.iter().map(|&i| &atoms[i]), p);
        let (mine, rest): (Vec<_>, Vec<_>) = factors
            .into_iter()
            .partition(|(_, h)| h.is_some_and(|h| group.contains(&h)));
        let t_expr = product(
            mine.iter()
                .map(|(e, h)| {
                    reindex(
                        e,
                        position[group
                            .iter()
                            .position(|g| Some(*g) == *h)
                            .expect("home in group")],
                        &t_body,
                    )
                })
                .collect(),
        );
        let (t_dim, t_shape) = (t_expr.dim, t_expr.shape.clone());
        let span = p.relations[rel].span;
        let t_head = (0..t_vars.len()).map(HeadTerm::Var).collect();
        p.relations.push(Relation {
            name: t_name,
            arity: t_vars.len(),
            dim: t_dim,
            shape: t_shape.clone(),
            kind: RelKind::Derived(CoreRule::Conj {
                head: t_head,
                body: t_body,
                expr: Some(t_expr),
                agg: Agg::Sum,
            }),
            span,
            decodes: vec![],
        });
        let t_rel = p.relations.len() - 1;
        // Replace the group by the new atom (last), re-homing the remaining factors.
        let remaining: Vec<usize> = (0..atoms.len()).filter(|i| !group.contains(i)).collect();
        let mut next: Vec<WAtom> = remaining.iter().map(|&i| atoms[i].clone()).collect();
        next.push(WAtom {
            rel: t_rel,
            terms: t_vars.iter().cloned().map(Ok).collect(),
            binds: true,
            emb_name: Some(format!("e{created}")),
            emb_const: None,
            span,
        });
        factors = rest
            .into_iter()
            .map(|(e, h)| {
                (
                    e,
                    h.map(|h| {
                        remaining
                            .iter()
                            .position(|&r| r == h)
                            .expect("remaining home")
                    }),
                )
            })
            .collect();
        factors.push((
            Expr {
                kind: ExprKind::Emb(usize::MAX),
                dim: t_dim,
                shape: t_shape,
                span,
            },
            Some(next.len() - 1),
        ));
        atoms = next;
    }
    if created == 0 {
        return None;
    }
    let mut hv: Vec<String> = vec![];
    for t in head {
        if let HeadTerm::Var(v) = t
            && !hv.contains(&name(*v))
        {
            hv.push(name(*v));
        }
    }
    let (final_body, position) = make_body(&hv, atoms.iter(), p);
    let final_expr = product(
        factors
            .iter()
            .map(|(e, h)| match h {
                Some(h) => reindex(e, position[*h], &final_body),
                None => reindex(e, usize::MAX, &final_body),
            })
            .collect(),
    );
    let final_head = head
        .iter()
        .map(|t| match t {
            HeadTerm::Var(v) => HeadTerm::Var(
                hv.iter()
                    .position(|x| *x == name(*v))
                    .expect("head variable"),
            ),
            c => c.clone(),
        })
        .collect();
    Some(CoreRule::Conj {
        head: final_head,
        body: final_body,
        expr: Some(final_expr),
        agg: Agg::Sum,
    })
}

/// A body over `atoms` whose first variables are `first` (the new head), and the index of
/// each atom in it.
fn make_body<'a>(
    first: &[String],
    atoms: impl Iterator<Item = &'a WAtom>,
    _p: &Program,
) -> (Body, Vec<usize>) {
    let mut vars: Vec<String> = first.to_vec();
    let mut out = vec![];
    let mut position = vec![];
    for a in atoms {
        let terms = a
            .terms
            .iter()
            .map(|t| match t {
                Ok(v) => Term::Var(match vars.iter().position(|x| x == v) {
                    Some(i) => i,
                    None => {
                        vars.push(v.clone());
                        vars.len() - 1
                    }
                }),
                Err(c) => Term::Const(c.clone()),
            })
            .collect();
        position.push(out.len());
        out.push(Atom {
            rel: a.rel,
            terms,
            binds_embedding: a.binds,
            emb_name: a.emb_name.clone(),
            emb_const: a.emb_const,
            span: a.span,
        });
    }
    (
        Body {
            vars,
            atoms: out,
            filters: vec![],
        },
        position,
    )
}

/// Variable ids of encodes as names (`Term::Const(Str)` holding a marker would be fragile,
/// so names travel in a side table: the id is kept and resolved against `body`).
fn rename_vars(e: &Expr, body: &Body) -> Expr {
    let mut e = e.clone();
    map_encodes(&mut e, &mut |t| {
        if let Term::Var(v) = t {
            *t = Term::Const(Value::Str(format!("\u{0}var:{}", body.vars[*v]).into()));
        }
    });
    e
}

/// Points the factor at atom `atom` of `body` and resolves its variable names.
fn reindex(e: &Expr, atom: usize, body: &Body) -> Expr {
    let mut e = e.clone();
    fn go(e: &mut Expr, atom: usize) {
        match &mut e.kind {
            ExprKind::Emb(i) => *i = atom,
            _ => e.children_mut().into_iter().for_each(|x| go(x, atom)),
        }
    }
    go(&mut e, atom);
    map_encodes(&mut e, &mut |t| {
        if let Term::Const(Value::Str(s)) = t
            && let Some(name) = s.strip_prefix("\u{0}var:")
        {
            *t = Term::Var(
                body.vars
                    .iter()
                    .position(|v| v == name)
                    .expect("encoded variable in the body"),
            );
        }
    });
    e
}

fn map_encodes(e: &mut Expr, f: &mut dyn FnMut(&mut Term)) {
    match &mut e.kind {
        ExprKind::Encode(items, ..) => items.iter_mut().for_each(f),
        _ => e.children_mut().into_iter().for_each(|x| map_encodes(x, f)),
    }
}

/// The product of factors (the constant 1 for none: the sum then counts matches).
fn product(fs: Vec<Expr>) -> Expr {
    let span = fs.first().map(|f| f.span).unwrap_or_default();
    let mut it = fs.into_iter();
    let Some(first) = it.next() else {
        return Expr {
            kind: ExprKind::Const(1.0),
            dim: Some(1),
            shape: Some(Shape::vector(1)),
            span,
        };
    };
    it.fold(first, |acc, f| {
        let dim = match (acc.dim, f.dim) {
            (Some(1), d) | (d, Some(1)) => d,
            (a, _) => a,
        };
        Expr {
            kind: ExprKind::Binary(BinOp::Mul, Box::new(acc), Box::new(f)),
            dim,
            shape: dim.map(Shape::vector),
            span,
        }
    })
}

fn topological_order(relations: &[Relation]) -> Vec<RelId> {
    fn visit(r: RelId, relations: &[Relation], done: &mut [bool], order: &mut Vec<RelId>) {
        if std::mem::replace(&mut done[r], true) {
            return;
        }
        if let RelKind::Derived(rule) = &relations[r].kind {
            for d in rule.dependencies() {
                visit(d, relations, done, order);
            }
            order.push(r);
        }
    }
    let mut done = vec![false; relations.len()];
    let mut order = vec![];
    for r in 0..relations.len() {
        visit(r, relations, &mut done, &mut order);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{database, program_of};

    fn listing(p: &Program) -> String {
        nrp_sema::display::rules(p)
    }

    #[test]
    fn two_hop_path_becomes_two_sums() {
        let p = program_of(
            "X(v; [v]) :- E(v, _). P(a; sum(x * w * u)) :- X(c; x), E(c, b; w), E(b, a; u) .",
        );
        let q = eliminate(&p);
        expect_test::expect![[r#"
              X(v; sum([v])) :- E(v, _1) .    # conjunction
              P(a; sum((x * w * u))) :- X(c; x), E(c, b; w), E(b, a; u) .    # conjunction
            --- after ---
              X(v; sum([v])) :- E(v, _1) .    # conjunction
              P#e1(b; sum((x * w))) :- X(c; x), E(c, b; w) .    # conjunction
              P(a; sum((u * e1))) :- E(b, a; u), P#e1(b; e1) .    # conjunction
        "#]]
        .assert_eq(&format!("{}--- after ---\n{}", listing(&p), listing(&q)));
        let _ = database();
    }

    #[test]
    fn factors_that_may_fail_stay_in_the_rule() {
        let p = program_of(
            "X(v; [v]) :- E(v, _). P(a; sum(x * [w])) :- X(c; x), E(c, b), E(b, a, w) .",
        );
        assert_eq!(listing(&p), listing(&eliminate(&p)));
    }

    #[test]
    fn triangles_are_left_to_the_generic_join() {
        let p = program_of(
            "T(a; count()) :- E(a, b), E(b, c), E(c, a) . S(a; sum([w])) :- E(a, b, w), E(b, c), E(c, a) .",
        );
        let q = eliminate(&p);
        assert_eq!(listing(&p), listing(&q));
    }
}
