//! Semantic analysis: AST → checked core IR ([`ir::Program`]).
//!
//! Stages: definitions (constants, named and composite modules) → rule heads → rules
//! (name resolution, safety, module instances, the aggregation split) → recursion check →
//! fragment classification → desugaring into one core rule per derived relation →
//! dependency order → embedding-dimension inference → `?fit` / `?pred` statements.

pub mod catalogue;
pub mod codes;
pub mod decode;
pub mod dims;
pub mod display;
pub mod ir;
mod lower;
pub mod needed;
pub mod params;
pub mod shape;
pub mod text;

pub use ir::*;

use lower::{LoweredRule, Lowerer};
use nrp_data::{Catalogue, Database};
use nrp_syntax::ast;
use nrp_syntax::{Diagnostic, Span};

/// What [`check_with`] checks beyond the language itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// The memory budget in bytes: a module whose parameters (or all parameters together)
    /// need more, or an embedding of which one row needs more, is an error
    /// ([`params::check_sizes`]). `u64::MAX`: only sizes that overflow are errors.
    pub memory_limit: u64,
    /// Limits of template expansion.
    pub expand: nrp_expand::Options,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            memory_limit: u64::MAX,
            expand: nrp_expand::Options::default(),
        }
    }
}

/// Checks a parsed program. With a database, input relations are bound (so their
/// dimensions, and data errors, are known); without, they are assumed to exist.
/// No memory budget beyond overflow: see [`check_with`].
pub fn check(program: &ast::Program, db: Option<&Database>) -> Result<Program, Diagnostic> {
    check_with(program, db, &CheckOptions::default())
}

/// [`check`] with options: the sizes of parameters and embeddings are compared with
/// `options.memory_limit` before anything of that size is allocated.
pub fn check_with(
    program: &ast::Program,
    db: Option<&Database>,
    options: &CheckOptions,
) -> Result<Program, Diagnostic> {
    check_catalogue(program, db.map(|d| d as &dyn Catalogue), options)
}

/// [`check_with`] against any [`Catalogue`] of table schemas (sema sees a database only
/// through it).
pub fn check_catalogue(
    program: &ast::Program,
    db: Option<&dyn Catalogue>,
    options: &CheckOptions,
) -> Result<Program, Diagnostic> {
    check_lowerer(program, Lowerer::new(db), options)
}

/// [`check`] binding only the tables that the relations named `targets` depend on: the
/// others are assumed to exist, as without a database, and their dependants' dimensions may
/// stay unknown (nothing evaluates them).
pub fn check_targets(
    program: &ast::Program,
    db: &Database,
    targets: &[&str],
) -> Result<Program, Diagnostic> {
    check_targets_with(program, db, targets, &CheckOptions::default())
}

/// [`check_targets`] with options (see [`check_with`]).
pub fn check_targets_with(
    program: &ast::Program,
    db: &Database,
    targets: &[&str],
    options: &CheckOptions,
) -> Result<Program, Diagnostic> {
    check_targets_catalogue(program, db, targets, options)
}

/// [`check_targets_with`] against any [`Catalogue`].
pub fn check_targets_catalogue(
    program: &ast::Program,
    db: &dyn Catalogue,
    targets: &[&str],
    options: &CheckOptions,
) -> Result<Program, Diagnostic> {
    let expansion = nrp_expand::expand(program, Some(db), &options.expand)?;
    let mut l = Lowerer::new(Some(db));
    l.bind_only = Some(needed::reachable(&expansion.program, targets));
    check_expanded(expansion, l, options)
}

/// Expands templates, functions and bounded sets (`nrp_expand`), then checks the plain
/// program; an error inside an instance names its instantiation chain.
fn check_lowerer(
    program: &ast::Program,
    l: Lowerer,
    options: &CheckOptions,
) -> Result<Program, Diagnostic> {
    let expansion = nrp_expand::expand(program, l.db, &options.expand)?;
    check_expanded(expansion, l, options)
}

fn check_expanded(
    expansion: nrp_expand::Expansion,
    l: Lowerer,
    options: &CheckOptions,
) -> Result<Program, Diagnostic> {
    let nrp_expand::Expansion {
        program,
        instances,
        signatures,
    } = expansion;
    let checked = check_plain(&program, l, options, instances.clone())
        .map_err(|d| nrp_expand::annotate(&instances, d))?;
    check_signatures(&checked, &signatures).map_err(|d| nrp_expand::annotate(&instances, d))?;
    Ok(checked)
}

/// Typed function parameters and return types against the relations bound to them: the
/// number of content types is the arity (a table needs at least that many columns), and
/// the dimensions' product is the embedding dimension, where both are known.
fn check_signatures(
    program: &Program,
    checks: &[nrp_expand::SignatureCheck],
) -> Result<(), Diagnostic> {
    for c in checks {
        let Some(rel) = program.relations.iter().find(|r| r.name == c.relation) else {
            continue;
        };
        let arity_ok = if rel.is_input() {
            rel.arity >= c.arity || rel.arity == 0
        } else {
            rel.arity == c.arity
        };
        let dim_ok = match (c.dim, rel.dim) {
            (Some(want), Some(got)) => want == got,
            _ => true,
        };
        if !arity_ok || !dim_ok {
            return Err(Diagnostic::error(
                format!(
                    "{} is typed `{}`, but `{}` has {} content term{} and dimension {}",
                    c.what,
                    c.schema,
                    rel.name,
                    rel.arity,
                    if rel.arity == 1 { "" } else { "s" },
                    rel.dim.map_or("?".to_string(), |d| d.to_string())
                ),
                c.span,
            ));
        }
    }
    Ok(())
}

fn check_plain(
    program: &ast::Program,
    mut l: Lowerer,
    options: &CheckOptions,
    instances: Vec<nrp_expand::Instance>,
) -> Result<Program, Diagnostic> {
    let db = l.db;
    let (program, decodes) = decode::split(program)?;
    let program = &program;
    for s in &program.statements {
        if let ast::Statement::Def(d) = s {
            l.definition(d)?;
        }
    }
    for s in &program.statements {
        if let Some(rule) = statement_rule(s) {
            l.declare_head(&rule.head)?;
        }
    }
    for s in &program.statements {
        if let Some(rule) = statement_rule(s) {
            l.rule(rule)?;
        }
    }
    check_recursion(&l.relations, &l.rules, db)?;
    let fragments = classify(&l.relations, &l.rules);

    let rules = std::mem::take(&mut l.rules);
    let mut relations = std::mem::take(&mut l.relations);
    lower::desugar(&mut relations, rules);
    decode::attach(&mut relations, &decodes)?;
    codes::mark(&mut relations, &l.modules);
    text::check(&relations, &l.modules)?;
    let order = topological_order(&relations);
    // Parameters are sized before anything else about them is checked (or allocated).
    let losses: Vec<RelId> = program
        .statements
        .iter()
        .filter_map(|s| match s {
            ast::Statement::Fit(f) => l.derived_id(&f.rule.head.name.name),
            _ => None,
        })
        .collect();
    let trained = params::trained_modules(&relations, l.modules.len(), &losses);
    params::check_sizes(&l.modules, &trained, options.memory_limit)?;
    dims::infer(&mut relations, &l.modules, &order, options.memory_limit)?;

    let mut statements = vec![];
    for s in &program.statements {
        match s {
            ast::Statement::Fit(f) => {
                let loss = l.derived_id(&f.rule.head.name.name).expect("declared");
                let rel = &relations[loss];
                if rel.arity != 0 || rel.dim.is_some_and(|d| d != 1) {
                    return Err(Diagnostic::error(
                        format!(
                            "`?fit` minimises a zero-ary, 1-dimensional relation; `{}` has {} content term{} and dimension {}",
                            rel.name,
                            rel.arity,
                            if rel.arity == 1 { "" } else { "s" },
                            rel.dim.map(|d| d.to_string()).unwrap_or("?".into())
                        ),
                        f.rule.head.span,
                    ));
                }
                let params = l.fit_params(&f.params, &relations)?;
                if let Some(sel) = params.select
                    && relations[sel].dim.is_some_and(|d| d != 1)
                {
                    let p = f
                        .params
                        .iter()
                        .find(|p| p.name.name == "select")
                        .expect("select given");
                    return Err(Diagnostic::error(
                        format!("`select`: `{}` must be 1-dimensional", relations[sel].name),
                        p.value.span,
                    ));
                }
                statements.push(Stmt::Fit {
                    loss,
                    params,
                    span: f.span,
                });
            }
            ast::Statement::Pred(r) => {
                statements.push(Stmt::Pred {
                    rel: l.derived_id(&r.head.name.name).expect("declared"),
                    span: r.span,
                });
            }
            _ => {}
        }
    }
    Ok(Program {
        relations,
        modules: l.modules,
        order,
        statements,
        fragments,
        instances,
    })
}

fn statement_rule(s: &ast::Statement) -> Option<&ast::Rule> {
    match s {
        ast::Statement::Rule(r) | ast::Statement::Pred(r) => Some(r),
        ast::Statement::Fit(f) => Some(&f.rule),
        ast::Statement::Def(_) | ast::Statement::Function(_) => None,
    }
}

/// v1 programs are non-recursive: a cycle among derived relations is an error naming it.
fn check_recursion(
    relations: &[Relation],
    rules: &[(RelId, LoweredRule)],
    db: Option<&dyn Catalogue>,
) -> Result<(), Diagnostic> {
    let n = relations.len();
    let mut deps: Vec<Vec<(RelId, Span)>> = vec![vec![]; n];
    for (rel, r) in rules {
        for b in &r.bodies {
            for a in &b.atoms {
                if !relations[a.rel].is_input() {
                    deps[*rel].push((a.rel, a.span));
                }
            }
        }
    }
    // Iterative DFS with colours; the stack holds the current path.
    let mut colour = vec![0u8; n];
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        let mut path: Vec<(RelId, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (v, ref mut next)) = path.last_mut() {
            if *next < deps[v].len() {
                let (w, span) = deps[v][*next];
                *next += 1;
                match colour[w] {
                    0 => {
                        colour[w] = 1;
                        path.push((w, 0));
                    }
                    1 => {
                        let from = path
                            .iter()
                            .position(|(x, _)| *x == w)
                            .expect("grey nodes are on the path");
                        let mut names: Vec<&str> = path[from..]
                            .iter()
                            .map(|(x, _)| relations[*x].name.as_str())
                            .collect();
                        names.push(&relations[w].name);
                        let mut d = Diagnostic::error(
                            format!("recursive rules are not supported: {}", names.join(" -> ")),
                            span,
                        )
                        .with_note(
                            "v1 programs must be non-recursive; unroll the recursion into layers",
                        )
                        .with_label(format!("`{}` depends on itself here", relations[w].name));
                        // `Edge(u, v) :- Edge(u, v), …` meant to read the table `Edge`.
                        let name = &relations[w].name;
                        if let Some(Ok(Some(table))) = db.map(|db| db.resolve(name)) {
                            d = d.with_note(format!(
                                "a rule defines `{name}`, so `{name}(…)` in a body means that relation, not the table `{table}`; give the rule head another name"
                            ));
                        }
                        return Err(d);
                    }
                    _ => {}
                }
            } else {
                colour[v] = 2;
                path.pop();
            }
        }
    }
    Ok(())
}

/// Derived relations with their dependencies first (the graph is acyclic by now).
fn topological_order(relations: &[Relation]) -> Vec<RelId> {
    let mut order = vec![];
    let mut done = vec![false; relations.len()];
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
    for r in 0..relations.len() {
        visit(r, relations, &mut done, &mut order);
    }
    order
}

/// The paper's syntactic fragments, over the program as written (before desugaring):
/// zero-ary and monadic bound the arity of derived relations (0, ≤ 1); frontier-guarded
/// asks every conjunction to have one atom holding all head variables; disjunction-free
/// forbids unions, `|` bodies and several rules with one head alike.
fn classify(relations: &[Relation], rules: &[(RelId, LoweredRule)]) -> Fragments {
    let derived: Vec<&Relation> = relations.iter().filter(|r| !r.is_input()).collect();
    let mut count = vec![0usize; relations.len()];
    for (rel, _) in rules {
        count[*rel] += 1;
    }
    let frontier_guarded = rules.iter().all(|(_, r)| {
        let head_vars: Vec<VarId> = r
            .head
            .iter()
            .filter_map(|t| {
                if let HeadTerm::Var(v) = t {
                    Some(*v)
                } else {
                    None
                }
            })
            .collect();
        r.bodies.iter().all(|b| {
            b.atoms
                .iter()
                .any(|a| head_vars.iter().all(|h| a.terms.contains(&Term::Var(*h))))
        })
    });
    Fragments {
        zero_ary: derived.iter().all(|r| r.arity == 0),
        monadic: derived.iter().all(|r| r.arity <= 1),
        frontier_guarded,
        disjunction_free: rules.iter().all(|(_, r)| !r.is_union) && count.iter().all(|&c| c <= 1),
    }
}
