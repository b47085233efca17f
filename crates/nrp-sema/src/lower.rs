//! AST → core IR: name resolution, constants, module instances and their names, bodies,
//! the aggregation split, safety, and desugaring into one core rule per derived relation.
//! Dimensions are inferred afterwards (`dims.rs`), in dependency order.

use crate::catalogue::{self, CtorArg};
use crate::ir::*;
use nrp_data::{Catalogue, Value};
use nrp_syntax::ast::{self, ExprKind as AK};
use nrp_syntax::{Diagnostic, Span};
use std::collections::HashMap;

mod const_emb;
mod filters;
mod formals;
mod shape_ops;
mod tensor;

use const_emb::constant_embedding;

type R<T> = Result<T, Diagnostic>;

/// A `name = value .` definition.
#[derive(Clone)]
enum Named {
    Const(f64),
    Module(ModuleId),
    /// A composite over its one formal input (`inp`, `u`, …): its AST, the formal's name,
    /// and the ids of its inner modules in evaluation order.
    Composite {
        value: ast::Expr,
        formal: String,
        modules: Vec<ModuleId>,
    },
}

/// A surface rule after name resolution, before desugaring.
pub(crate) struct LoweredRule {
    pub head: Vec<HeadTerm>,
    /// One body for a conjunction; one single-atom body per branch for a union.
    pub bodies: Vec<Body>,
    pub is_union: bool,
    /// Per-match expression (in a union, over `Emb(0)` of each branch).
    pub expr: Option<Expr>,
    /// In a union: the per-match expression of each branch, its content variables renumbered
    /// by name into that branch's body (empty for a conjunction).
    pub branch_exprs: Vec<Option<Expr>>,
    pub agg: Agg,
    /// Applied per head tuple to the aggregated value (`Emb(0)`).
    pub post: Option<Expr>,
    pub span: Span,
}

/// How constructors inside an expression get their module instance.
enum Alloc {
    /// New instances named `<prefix>.<n>`.
    Fresh {
        prefix: String,
        counter: usize,
        created: Vec<ModuleId>,
    },
    /// The instances of a composite module, in the same evaluation order.
    Reuse { ids: Vec<ModuleId>, next: usize },
}

/// What identifiers in an embedding expression can refer to.
#[derive(Default)]
struct Scope<'s> {
    emb_vars: HashMap<String, usize>,
    content_vars: HashMap<String, VarId>,
    /// In a union head, any otherwise unknown identifier is the branch's embedding.
    union_branch: bool,
    /// Inside a composite module: its formal input's name and what it stands for.
    formal: Option<&'s str>,
    input: Option<&'s Expr>,
    /// The aggregation node (by span) that the post-aggregation expression reads as `Emb(0)`.
    agg_node: Option<Span>,
    /// The name of a conjunction's atom with a constant embedding (`R(x; 0)`), for messages.
    const_emb: Option<String>,
}

pub(crate) struct Lowerer<'a> {
    pub db: Option<&'a dyn Catalogue>,
    /// When set, only these relation names are bound against `db` (see `check_targets`).
    pub bind_only: Option<std::collections::BTreeSet<String>>,
    names: HashMap<String, Named>,
    pub modules: Vec<Module>,
    pub relations: Vec<Relation>,
    derived: HashMap<String, RelId>,
    inputs: HashMap<(String, usize, bool), RelId>,
    head_counters: HashMap<String, usize>,
    pub rules: Vec<(RelId, LoweredRule)>,
    /// Offset of the statement being lowered, and modules created so far (init order).
    statement_at: usize,
    created: usize,
    /// Nesting of `lower_expr`, and nodes made so far while expanding composite modules.
    lower_depth: usize,
    expanded: usize,
}

/// Composite modules are expanded where they are applied, so composites of composites can
/// make an expression far deeper and larger than its text (`C = Concat(inp, inp)` doubles
/// with every `C(…)` around it). These bound the lowering: beyond them is an error, not a
/// stack overflow or an exponential blow-up.
const MAX_LOWER_DEPTH: usize = 400;
const MAX_EXPANDED_NODES: usize = 1_000_000;

const AGGREGATIONS: &[(&str, Agg)] = &[
    ("sum", Agg::Sum),
    ("add", Agg::Sum),
    ("mean", Agg::Mean),
    ("avg", Agg::Mean),
    ("max", Agg::Max),
    ("min", Agg::Min),
    ("count", Agg::Count),
];

fn aggregation(name: &str) -> Option<Agg> {
    AGGREGATIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
}

fn callee_name(e: &ast::Expr) -> Option<&str> {
    match &e.kind {
        AK::Ident(n) => Some(n),
        _ => None,
    }
}

fn expr(kind: ExprKind, span: Span) -> Expr {
    Expr {
        kind,
        dim: None,
        shape: None,
        span,
    }
}

impl<'a> Lowerer<'a> {
    pub fn new(db: Option<&'a dyn Catalogue>) -> Self {
        let mut names = HashMap::new();
        names.insert("True".to_string(), Named::Const(1.0));
        names.insert("False".to_string(), Named::Const(0.0));
        Lowerer {
            db,
            bind_only: None,
            names,
            modules: vec![],
            relations: vec![],
            derived: HashMap::new(),
            inputs: HashMap::new(),
            head_counters: HashMap::new(),
            rules: vec![],
            statement_at: 0,
            created: 0,
            lower_depth: 0,
            expanded: 0,
        }
    }

    // ---- definitions ------------------------------------------------------------------

    pub fn definition(&mut self, d: &ast::Def) -> R<()> {
        self.statement_at = d.span.start;
        let name = &d.name.name;
        if catalogue::is_constructor(name)
            || catalogue::is_tensor(name)
            || Func::from_name(name).is_some()
            || aggregation(name).is_some()
            || name == "True"
            || name == "False"
        {
            return Err(Diagnostic::error(
                format!("`{name}` is a built-in name and cannot be redefined"),
                d.name.span,
            ));
        }
        if self.names.contains_key(name) {
            return Err(Diagnostic::error(
                format!("`{name}` is defined twice"),
                d.name.span,
            ));
        }
        let free = formals::free_names(&d.value, &self.names);
        if free.len() > 1 {
            return Err(formals::several(name, &free));
        }
        let named = if let Some((formal, _)) = free.into_iter().next() {
            // Create the inner modules once, in evaluation order, named `<name>.<n>`.
            let dummy = expr(ExprKind::Const(0.0), d.value.span);
            let scope = Scope {
                formal: Some(&formal),
                input: Some(&dummy),
                ..Default::default()
            };
            let mut alloc = Alloc::Fresh {
                prefix: name.clone(),
                counter: 0,
                created: vec![],
            };
            self.lower_expr(&d.value, &scope, &mut alloc)?;
            let Alloc::Fresh { created, .. } = alloc else {
                unreachable!()
            };
            Named::Composite {
                value: d.value.clone(),
                formal,
                modules: created,
            }
        } else if let AK::Call { callee, args } = &d.value.kind
            && callee_name(callee).is_some_and(catalogue::is_tensor)
        {
            let kind = self.tensor_kind(args, d.value.span)?;
            Named::Module(self.add_module(name.clone(), kind, d.value.span))
        } else if let AK::Call { callee, args } = &d.value.kind
            && let Some(ctor) = callee_name(callee)
            && catalogue::is_constructor(ctor)
        {
            let kind = self.construct(ctor, args, d.value.span)?;
            Named::Module(self.add_module(name.clone(), kind, d.value.span))
        } else {
            Named::Const(self.eval_const(&d.value)?)
        };
        self.names.insert(name.clone(), named);
        Ok(())
    }

    fn add_module(&mut self, name: String, kind: ModuleKind, span: Span) -> ModuleId {
        self.created += 1;
        self.modules.push(Module {
            name,
            kind,
            span,
            created_at: (self.statement_at, self.created),
        });
        self.modules.len() - 1
    }

    fn construct(&self, ctor: &str, args: &[ast::Arg], span: Span) -> R<ModuleKind> {
        let mut cargs = Vec::with_capacity(args.len());
        for a in args {
            let value = self.eval_const(&a.value).map_err(|e| Diagnostic {
                message: format!("arguments of `{ctor}(…)` must be constants: {}", e.message),
                span: Some(a.value.span),
                ..e
            })?;
            cargs.push(CtorArg {
                name: a.name.as_ref().map(|n| (n.name.clone(), n.span)),
                value,
                span: a.value.span,
            });
        }
        catalogue::construct(ctor, &cargs, span)
    }

    /// Constant arithmetic over numbers and earlier constants.
    pub fn eval_const(&self, e: &ast::Expr) -> R<f64> {
        let v = match &e.kind {
            AK::Number(n) => n
                .parse::<f64>()
                .map_err(|_| Diagnostic::error(format!("invalid number `{n}`"), e.span))?,
            AK::Ident(n) => match self.names.get(n) {
                Some(Named::Const(c)) => *c,
                Some(Named::Composite { formal, .. }) => {
                    return Err(Diagnostic::error(
                        format!("`{n}` is a composite module, not a constant"),
                        e.span,
                    )
                    .with_note(format!(
                        "its definition reads `{formal}`, which is neither a constant nor a module defined before it, so `{formal}` is its input"
                    )));
                }
                Some(_) => {
                    return Err(Diagnostic::error(
                        format!("`{n}` is a module, not a constant"),
                        e.span,
                    ));
                }
                None => return Err(Diagnostic::error(format!("unknown constant `{n}`"), e.span)),
            },
            AK::Neg(x) => -self.eval_const(x)?,
            AK::Binary(op, a, b) => {
                BinOp::from_ast(*op).apply(self.eval_const(a)?, self.eval_const(b)?)
            }
            AK::Chain(first, rest) => {
                let mut acc = self.eval_const(first)?;
                for (op, x) in rest {
                    acc = BinOp::from_ast(*op).apply(acc, self.eval_const(x)?);
                }
                acc
            }
            AK::Call { callee, args } if args.len() == 1 && args[0].name.is_none() => {
                let x = self.eval_const(&args[0].value)?;
                match callee_name(callee).and_then(Func::from_name) {
                    Some(Func::Exp) => x.exp(),
                    Some(Func::Log) => x.ln(),
                    Some(Func::Sqrt) => x.sqrt(),
                    Some(Func::Abs) => x.abs(),
                    Some(Func::Round) => x.round_ties_even(),
                    _ => return Err(Diagnostic::error("not a constant expression", e.span)),
                }
            }
            // `X = NodeLookup(…) .`: a module nrp does not know (RelaNN's Python-defined ones).
            AK::Call { callee, .. }
                if callee_name(callee).is_some_and(|n| {
                    !catalogue::is_constructor(n)
                        && Func::from_name(n).is_none()
                        && !self.names.contains_key(n)
                }) =>
            {
                let name = callee_name(callee).unwrap_or_default();
                return Err(Diagnostic::error(
                    format!("unknown function or module `{name}`"),
                    callee.span,
                )
                .with_note(catalogue_note()));
            }
            _ => return Err(Diagnostic::error("not a constant expression", e.span)),
        };
        if !v.is_finite() {
            return Err(Diagnostic::error(
                format!("constant expression evaluates to {v}"),
                e.span,
            ));
        }
        Ok(v)
    }

    // ---- relations --------------------------------------------------------------------

    /// Registers the head of every rule first, so that atoms can tell derived relations
    /// from tables whatever the order of the rules.
    pub fn declare_head(&mut self, head: &ast::Head) -> R<RelId> {
        let name = &head.name.name;
        if let Some(&id) = self.derived.get(name) {
            let rel = &self.relations[id];
            if rel.arity != head.terms.len() {
                return Err(Diagnostic::error(
                    format!(
                        "`{name}` has {} here but {} in its first rule",
                        terms(head.terms.len()),
                        rel.arity
                    ),
                    head.span,
                ));
            }
            return Ok(id);
        }
        let id = self.relations.len();
        self.relations.push(Relation {
            name: name.clone(),
            arity: head.terms.len(),
            dim: None,
            shape: None,
            kind: RelKind::Derived(CoreRule::Union {
                head: vec![],
                branches: vec![],
                agg: Agg::Sum,
            }),
            span: head.name.span,
            decodes: vec![],
        });
        self.derived.insert(name.clone(), id);
        Ok(id)
    }

    pub fn derived_id(&self, name: &str) -> Option<RelId> {
        self.derived.get(name).copied()
    }

    fn atom_relation(&mut self, a: &ast::Atom) -> R<RelId> {
        let name = &a.name.name;
        if let Some(&id) = self.derived.get(name) {
            let arity = self.relations[id].arity;
            if arity != a.terms.len() {
                return Err(Diagnostic::error(
                    format!(
                        "`{name}` has {} (see its rules) but is used here with {}",
                        terms(arity),
                        a.terms.len()
                    ),
                    a.span,
                ));
            }
            return Ok(id);
        }
        // `T(x; 0)` replaces the embedding: the table binds as without one (a set of tuples).
        let embedding = matches!(a.emb, Some(ast::Emb::Var(_)));
        let bound = self.bind_only.as_ref().is_none_or(|b| b.contains(name));
        let db = self.db.filter(|_| bound);
        let table = match db {
            None => None,
            Some(db) => match db
                .resolve(name)
                .map_err(|e| Diagnostic::error(e.message, a.name.span))?
            {
                Some(t) => Some(t),
                None => {
                    let tables = db.table_names();
                    return Err(Diagnostic::error(format!("unknown relation `{name}`: no rule defines it and {} has no table `{name}`", db.describe()), a.name.span)
                        .with_note(format!("tables: {}", if tables.is_empty() { "(none)".to_string() } else { tables.join(", ") })));
                }
            },
        };
        let key = (
            table.clone().unwrap_or_else(|| name.clone()),
            a.terms.len(),
            embedding,
        );
        if let Some(&id) = self.inputs.get(&key) {
            return Ok(id);
        }
        let dim = match (db, &table) {
            (Some(db), Some(t)) => {
                let dim = db
                    .embedding_dim(t, a.terms.len(), embedding)
                    .map_err(|e| Diagnostic::error(e.message, a.span))?;
                Some(dim)
            }
            _ if !embedding => Some(0),
            _ => None,
        };
        let id = self.relations.len();
        self.relations.push(Relation {
            name: name.clone(),
            arity: a.terms.len(),
            dim,
            shape: dim.map(Shape::vector),
            kind: RelKind::Input(InputBinding {
                table,
                terms: a.terms.len(),
                embedding,
            }),
            span: a.span,
            decodes: vec![],
        });
        self.inputs.insert(key, id);
        Ok(id)
    }

    // ---- rules ------------------------------------------------------------------------

    pub fn rule(&mut self, rule: &ast::Rule) -> R<RelId> {
        self.statement_at = rule.span.start;
        let rel = self
            .derived_id(&rule.head.name.name)
            .expect("heads are declared first");
        let head = &rule.head;
        let mut head_vars: Vec<&ast::Ident> = vec![];
        for t in &head.terms {
            match t {
                ast::Term::Var(v) if !head_vars.iter().any(|h| h.name == v.name) => {
                    head_vars.push(v)
                }
                ast::Term::Wildcard(s) => {
                    return Err(Diagnostic::error(
                        "`_` cannot appear in a head: every head term must be bound by the body",
                        *s,
                    ));
                }
                _ => {}
            }
        }
        let head_terms: Vec<HeadTerm> = head
            .terms
            .iter()
            .map(|t| match t {
                ast::Term::Var(v) => HeadTerm::Var(
                    head_vars
                        .iter()
                        .position(|h| h.name == v.name)
                        .expect("collected above"),
                ),
                ast::Term::Const(lit, _) => HeadTerm::Const(Value::parse(lit.text())),
                ast::Term::Wildcard(_) => unreachable!("rejected above"),
            })
            .collect();

        let (bodies, scopes, is_union) = match &rule.body {
            ast::Body::Conj { atoms, filters } => {
                let (body, scope) = self.body(atoms, filters, &head_vars)?;
                (vec![body], vec![scope], false)
            }
            ast::Body::Set(set) => {
                return Err(Diagnostic::error(
                    "internal: a bounded set reached sema unexpanded",
                    set.span,
                ));
            }
            ast::Body::Union(atoms) => {
                let mut bodies = vec![];
                let mut scopes = vec![];
                // LANGUAGE.md §3: all branches of a union have the same arity.
                if let Some(a) = atoms.iter().find(|a| a.terms.len() != atoms[0].terms.len()) {
                    return Err(Diagnostic::error(
                        format!(
                            "the branches of a union must have the same arity: `{}` has {} terms, `{}` has {}",
                            a.name.name,
                            a.terms.len(),
                            atoms[0].name.name,
                            atoms[0].terms.len()
                        ),
                        a.span,
                    ));
                }
                for a in atoms {
                    // Safety per branch: every branch must bind every head variable.
                    if let Some(h) = head_vars.iter().find(|h| {
                        !a.terms
                            .iter()
                            .any(|t| matches!(t, ast::Term::Var(v) if v.name == h.name))
                    }) {
                        return Err(Diagnostic::error(
                            format!(
                                "unsafe rule: head variable `{}` does not occur in the union branch `{}`",
                                h.name, a.name.name
                            ),
                            a.span,
                        )
                        .with_note("every branch of a union must bind every head variable"));
                    }
                    let (body, mut scope) = self.body(std::slice::from_ref(a), &[], &head_vars)?;
                    scope.union_branch = true;
                    bodies.push(body);
                    scopes.push(scope);
                }
                (bodies, scopes, true)
            }
        };
        // In a union every branch is lowered against the same scope shape (`Emb(0)`), so the
        // head expression is lowered once, with the first branch's scope (modules once).
        let scope = &scopes[0];
        let (expr, agg, post) = match &head.expr {
            None => (None, Agg::Sum, None),
            Some(e) => self.head_expr(e, scope, head, rule.span)?,
        };
        if is_union && let Some(e) = &expr {
            // A union head may only read the branch embedding, not content variables.
            let _ = e;
            for (b, body) in bodies.iter().enumerate() {
                let atom = &body.atoms[0];
                let input_without = atom.emb_const.is_none()
                    && matches!(self.relations[atom.rel].kind, RelKind::Input(ref i) if !i.embedding);
                if input_without && uses_embedding(e) {
                    let ast::Body::Union(atoms) = &rule.body else {
                        unreachable!()
                    };
                    return Err(Diagnostic::error(
                        format!(
                            "branch `{}` binds no embedding, but the head expression uses one (write `; e`)",
                            atoms[b].name.name
                        ),
                        atoms[b].span,
                    ));
                }
            }
        }
        let mut branch_exprs = vec![];
        if is_union {
            let ast::Body::Union(atoms) = &rule.body else {
                unreachable!()
            };
            for (b, body) in bodies.iter().enumerate() {
                let mut e = expr.clone();
                if let Some(e) = &mut e {
                    rename_vars(e, &bodies[0], body, &atoms[b])?;
                    if let Some(c) = body.atoms[0].emb_const {
                        const_emb::fill(e, c);
                    }
                }
                branch_exprs.push(e);
            }
        }
        let mut bodies = bodies;
        if is_union && expr.as_ref().is_some_and(uses_embedding) {
            for b in &mut bodies {
                b.atoms[0].binds_embedding = b.atoms[0].emb_const.is_none();
            }
        }
        self.rules.push((
            rel,
            LoweredRule {
                head: head_terms,
                bodies,
                is_union,
                expr,
                branch_exprs,
                agg,
                post,
                span: rule.span,
            },
        ));
        Ok(rel)
    }

    /// Lowers a conjunction body. Head variables get the first variable ids, in head order,
    /// so that `HeadTerm::Var(j)` means the same in every branch of a union.
    fn body(
        &mut self,
        atoms: &[ast::Atom],
        filters: &[ast::Filter],
        head_vars: &[&ast::Ident],
    ) -> R<(Body, Scope<'static>)> {
        let mut vars: Vec<String> = head_vars.iter().map(|v| v.name.clone()).collect();
        let mut occurs = vec![false; vars.len()];
        let mut scope = Scope::default();
        let mut fresh = 0;
        let mut lowered_atoms = vec![];
        for (i, a) in atoms.iter().enumerate() {
            let rel = self.atom_relation(a)?;
            let mut terms = vec![];
            for t in &a.terms {
                terms.push(match t {
                    // Content and embedding variables are separate namespaces (as in
                    // RelaNN): `Half(g, z; z) :- Full(g, z; z)` binds both `z`s.
                    ast::Term::Var(v) => {
                        let id = match vars.iter().position(|n| *n == v.name) {
                            Some(id) => id,
                            None => {
                                vars.push(v.name.clone());
                                occurs.push(false);
                                vars.len() - 1
                            }
                        };
                        occurs[id] = true;
                        Term::Var(id)
                    }
                    ast::Term::Wildcard(_) => {
                        fresh += 1;
                        vars.push(format!("_{fresh}"));
                        occurs.push(true);
                        Term::Var(vars.len() - 1)
                    }
                    ast::Term::Const(lit, _) => Term::Const(Value::parse(lit.text())),
                });
            }
            let emb_const = match &a.emb {
                Some(ast::Emb::Const(lit, span)) => {
                    scope.const_emb.get_or_insert_with(|| a.name.name.clone());
                    Some(constant_embedding(lit, *span)?)
                }
                _ => None,
            };
            if let Some(ast::Emb::Var(e)) = &a.emb
                && e.name != "_"
                && scope.emb_vars.insert(e.name.clone(), i).is_some()
            {
                return Err(Diagnostic::error(
                    format!("embedding variable `{}` is bound twice", e.name),
                    e.span,
                )
                .with_note(
                    "each atom's embedding needs its own name; combine them in the head expression",
                ));
            }
            lowered_atoms.push(Atom {
                rel,
                terms,
                binds_embedding: matches!(a.emb, Some(ast::Emb::Var(_))),
                emb_name: a.emb.as_ref().and_then(|e| e.var()).map(|e| e.name.clone()),
                emb_const,
                span: a.span,
            });
        }
        for (name, id) in vars.iter().zip(0..) {
            if !name.starts_with('_') || !occurs[id] {
                scope.content_vars.insert(name.clone(), id);
            }
        }
        for (j, h) in head_vars.iter().enumerate() {
            if !occurs[j] {
                return Err(Diagnostic::error(
                    format!(
                        "unsafe rule: head variable `{}` does not occur in a body atom",
                        h.name
                    ),
                    h.span,
                ));
            }
        }
        let lowered_filters = filters
            .iter()
            .map(|f| self.filter(f, &vars, &occurs, &scope))
            .collect::<R<Vec<_>>>()?;
        Ok((
            Body {
                vars,
                atoms: lowered_atoms,
                filters: lowered_filters,
            },
            scope,
        ))
    }

    /// Splits a head expression at its (single) aggregation: the per-match part inside,
    /// the aggregation, and the per-tuple part around it.
    fn head_expr(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        head: &ast::Head,
        rule_span: Span,
    ) -> R<(Option<Expr>, Agg, Option<Expr>)> {
        let mut aggs = vec![];
        find_aggregations(e, &mut aggs);
        if aggs.len() > 1 {
            return Err(Diagnostic::error(
                "a head expression may contain only one aggregation",
                aggs[1].span,
            )
            .with_note("aggregate in one rule, then transform the result in another"));
        }
        let head_name = head.name.name.clone();
        let counter = self.head_counters.get(&head_name).copied().unwrap_or(0);
        let mut alloc = Alloc::Fresh {
            prefix: head_name.clone(),
            counter,
            created: vec![],
        };
        let result = match aggs.first() {
            None => {
                let x = self.lower_expr(e, scope, &mut alloc)?;
                let is_loss_root =
                    matches!(x.kind, ExprKind::Apply(m, _) if self.modules[m].kind.is_loss());
                (
                    Some(x),
                    if is_loss_root { Agg::Mean } else { Agg::Sum },
                    None,
                )
            }
            Some(agg_node) => {
                let AK::Call { callee, args } = &agg_node.kind else {
                    unreachable!()
                };
                let agg = aggregation(callee_name(callee).unwrap_or_default())
                    .expect("found as aggregation");
                let inner = if agg == Agg::Count {
                    None
                } else {
                    if args.len() != 1 || args[0].name.is_some() {
                        return Err(Diagnostic::error(
                            format!("`{}` takes one expression", agg.name()),
                            agg_node.span,
                        ));
                    }
                    Some(self.lower_expr(&args[0].value, scope, &mut alloc)?)
                };
                let post = if std::ptr::eq(*agg_node, e) {
                    None
                } else {
                    // Per head tuple, the head's content variables are known: the
                    // transformation after the aggregation binds head position `j` to its
                    // variable `j` (see `pass_through`).
                    let mut content_vars = HashMap::new();
                    for (j, t) in head.terms.iter().enumerate() {
                        if let ast::Term::Var(v) = t {
                            content_vars.entry(v.name.clone()).or_insert(j);
                        }
                    }
                    let post_scope = Scope {
                        agg_node: Some(agg_node.span),
                        content_vars,
                        ..Default::default()
                    };
                    Some(self.lower_expr(e, &post_scope, &mut alloc)?)
                };
                (inner, agg, post)
            }
        };
        if let Alloc::Fresh { counter, .. } = alloc {
            self.head_counters.insert(head_name, counter);
        }
        // Losses: only as the outermost call of a zero-ary head (LANGUAGE.md §3).
        let (x, agg, post) = &result;
        for part in [x, post].into_iter().flatten() {
            let mut bad = None;
            part.walk(&mut |n| {
                if let ExprKind::Apply(m, _) = n.kind
                    && self.modules[m].kind.is_loss()
                    && bad.is_none()
                {
                    bad = Some(n.span)
                }
            });
            if let Some(span) = bad {
                let root_ok = post.is_none()
                    && *agg == Agg::Mean
                    && aggs.is_empty()
                    && std::ptr::eq(part, x.as_ref().unwrap())
                    && part.span == span;
                if !root_ok {
                    return Err(Diagnostic::error(
                        "a loss must be the outermost call of the head expression",
                        span,
                    ));
                }
                if !head.terms.is_empty() {
                    return Err(Diagnostic::error(
                        format!(
                            "a loss reduces over all matches, so its head must be zero-ary: write `{}(; …)`",
                            head.name.name
                        ),
                        head.span,
                    ));
                }
            }
        }
        let _ = rule_span;
        Ok(result)
    }

    fn new_module(&mut self, alloc: &mut Alloc, kind: ModuleKind, span: Span) -> ModuleId {
        match alloc {
            Alloc::Fresh {
                prefix,
                counter,
                created,
            } => {
                let id = self.add_module(format!("{prefix}.{counter}"), kind, span);
                *counter += 1;
                created.push(id);
                id
            }
            Alloc::Reuse { ids, next } => {
                let id = ids[*next];
                *next += 1;
                id
            }
        }
    }

    fn lower_expr(&mut self, e: &ast::Expr, scope: &Scope, alloc: &mut Alloc) -> R<Expr> {
        if let Some(input) = scope.input {
            // Inside a composite module: count what its expansion makes, `inp` copies too.
            self.expanded += 1;
            if matches!(&e.kind, AK::Ident(n) if Some(n.as_str()) == scope.formal) {
                input.walk(&mut |_| self.expanded += 1);
            }
            if self.expanded > MAX_EXPANDED_NODES {
                return Err(Diagnostic::error(
                    format!(
                        "composite modules expand to more than {MAX_EXPANDED_NODES} operations"
                    ),
                    e.span,
                )
                .with_note("a composite applied to itself repeatedly grows exponentially"));
            }
        }
        if self.lower_depth >= MAX_LOWER_DEPTH {
            return Err(Diagnostic::error(
                format!(
                    "expression nested more than {MAX_LOWER_DEPTH} levels deep once its composite modules are expanded"
                ),
                e.span,
            ));
        }
        self.lower_depth += 1;
        let result = self.lower_expr_node(e, scope, alloc);
        self.lower_depth -= 1;
        result
    }

    fn lower_expr_node(&mut self, e: &ast::Expr, scope: &Scope, alloc: &mut Alloc) -> R<Expr> {
        let span = e.span;
        Ok(match &e.kind {
            AK::Number(n) => expr(
                ExprKind::Const(
                    n.parse()
                        .map_err(|_| Diagnostic::error(format!("invalid number `{n}`"), span))?,
                ),
                span,
            ),
            AK::Str(_) => {
                return Err(Diagnostic::error("a string is not an embedding", span)
                    .with_note("content values become embeddings with an encode: `[col]`"));
            }
            AK::Ident(name) => self.lower_ident(name, span, scope)?,
            AK::Instance(..) | AK::Splat(_) => {
                return Err(Diagnostic::error(
                    "internal: a template instance or splat reached sema unexpanded",
                    span,
                ));
            }
            AK::Neg(x) => expr(
                ExprKind::Neg(Box::new(self.lower_expr(x, scope, alloc)?)),
                span,
            ),
            AK::Binary(op, a, b) => {
                let a = self.lower_expr(a, scope, alloc)?;
                let b = self.lower_expr(b, scope, alloc)?;
                expr(
                    ExprKind::Binary(BinOp::from_ast(*op), Box::new(a), Box::new(b)),
                    span,
                )
            }
            AK::Chain(first, rest) => {
                // Left to right: inline modules are numbered in this order.
                let first = self.lower_expr(first, scope, alloc)?;
                let mut xs = Vec::with_capacity(rest.len());
                for (op, x) in rest {
                    xs.push((BinOp::from_ast(*op), self.lower_expr(x, scope, alloc)?));
                }
                expr(ExprKind::Chain(Box::new(first), xs), span)
            }
            AK::Encode(terms) => {
                let mut items = vec![];
                for t in terms {
                    items.push(match t {
                        ast::Term::Var(v) => match scope.content_vars.get(&v.name) {
                            Some(&id) => Term::Var(id),
                            None if scope.emb_vars.contains_key(&v.name) => {
                                return Err(Diagnostic::error(
                                    format!(
                                        "`{}` is an embedding; `[…]` encodes content variables",
                                        v.name
                                    ),
                                    v.span,
                                ));
                            }
                            None if scope.agg_node.is_some() => {
                                return Err(Diagnostic::error(
                                    format!(
                                        "`{}` is not a head variable: around the aggregation, only head variables can be encoded",
                                        v.name
                                    ),
                                    v.span,
                                )
                                .with_note("the aggregation projects the other body variables out; encode them inside it"));
                            }
                            None => {
                                return Err(Diagnostic::error(
                                    format!("`{}` is not a content variable of the body", v.name),
                                    v.span,
                                ));
                            }
                        },
                        ast::Term::Const(lit, _) => Term::Const(Value::parse(lit.text())),
                        ast::Term::Wildcard(s) => {
                            return Err(Diagnostic::error("`_` cannot be encoded", *s));
                        }
                    });
                }
                if items.is_empty() {
                    return Err(Diagnostic::error(
                        "an encode needs at least one column: `[col]`",
                        span,
                    ));
                }
                expr(ExprKind::Encode(items, None), span)
            }
            AK::Call { callee, args } => self.lower_call(e, callee, args, scope, alloc)?,
        })
    }

    fn lower_ident(&self, name: &str, span: Span, scope: &Scope) -> R<Expr> {
        if Some(name) == scope.formal
            && let Some(input) = scope.input
        {
            return Ok(input.clone());
        }
        if let Some(&i) = scope.emb_vars.get(name) {
            return Ok(expr(ExprKind::Emb(i), span));
        }
        match self.names.get(name) {
            Some(Named::Const(c)) => return Ok(expr(ExprKind::Const(*c), span)),
            Some(Named::Module(m))
                if matches!(self.modules[*m].kind, ModuleKind::Tensor { .. }) =>
            {
                return Ok(expr(ExprKind::Param(*m), span));
            }
            Some(_) => {
                return Err(Diagnostic::error(
                    format!("module `{name}` must be applied to an embedding: `{name}(z)`"),
                    span,
                ));
            }
            None => {}
        }
        if scope.content_vars.contains_key(name) {
            return Err(Diagnostic::error(
                format!("`{name}` is a content variable, not an embedding"),
                span,
            )
            .with_note(format!("encode content as a vector with `[{name}]`")));
        }
        if scope.union_branch {
            return Ok(expr(ExprKind::Emb(0), span));
        }
        if catalogue::is_constructor(name) {
            return Err(Diagnostic::error(
                format!("`{name}` is a module; create and apply it: `{name}(…)(z)`"),
                span,
            ));
        }
        let mut note = String::new();
        if !scope.emb_vars.is_empty() {
            let mut vs: Vec<&String> = scope.emb_vars.keys().collect();
            vs.sort();
            note = format!(
                "embedding variables here: {}",
                vs.iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        } else if scope.agg_node.is_some() {
            note = "outside the aggregation only its result can be used".into();
        }
        let mut d = Diagnostic::error(format!("unknown name `{name}`"), span);
        if !note.is_empty() {
            d = d.with_note(note);
        }
        if let Some(atom) = &scope.const_emb {
            d = d.with_note(format!(
                "`{atom}` replaces the fact's embedding by a constant but gives it no name: a union head reads it (`A(v; 0) | B(v; z)`); in a conjunction, write the constant in the expression"
            ));
        }
        Err(d)
    }

    fn lower_args(
        &mut self,
        args: &[ast::Arg],
        scope: &Scope,
        alloc: &mut Alloc,
        what: &str,
    ) -> R<Vec<Expr>> {
        let mut out = vec![];
        for a in args {
            if let Some(n) = &a.name {
                return Err(Diagnostic::error(
                    format!("{what} takes no keyword arguments"),
                    n.span,
                ));
            }
            out.push(self.lower_expr(&a.value, scope, alloc)?);
        }
        Ok(out)
    }

    fn lower_call(
        &mut self,
        e: &ast::Expr,
        callee: &ast::Expr,
        args: &[ast::Arg],
        scope: &Scope,
        alloc: &mut Alloc,
    ) -> R<Expr> {
        let span = e.span;
        if let Some(x) = self.lower_shape_op(e, callee, args, scope, alloc)? {
            return Ok(x);
        }
        if let Some(name) = callee_name(callee) {
            if aggregation(name).is_some() {
                if scope.agg_node == Some(span) {
                    return Ok(expr(ExprKind::Emb(0), span));
                }
                return Err(Diagnostic::error(
                    format!(
                        "`{name}` aggregates over the matches of a rule body: it belongs in a rule head"
                    ),
                    callee.span,
                ));
            }
            if let Some(f) = Func::from_name(name) {
                let xs = self.lower_args(args, scope, alloc, &format!("`{name}`"))?;
                let ok = if f == Func::Concat {
                    !xs.is_empty()
                } else {
                    xs.len() == 1
                };
                if !ok {
                    let want = if f == Func::Concat {
                        "at least one argument"
                    } else {
                        "one argument"
                    };
                    return Err(Diagnostic::error(format!("`{name}` takes {want}"), span));
                }
                return Ok(expr(ExprKind::Func(f, xs), span));
            }
            if catalogue::is_tensor(name) {
                return self.inline_tensor(args, span, alloc);
            }
            match self.names.get(name).cloned() {
                Some(Named::Module(m))
                    if matches!(self.modules[m].kind, ModuleKind::Tensor { .. }) =>
                {
                    return Err(tensor::not_applicable(name, callee.span));
                }
                Some(Named::Module(m)) => {
                    let xs = self.lower_args(args, scope, alloc, &format!("module `{name}`"))?;
                    return self.apply(m, xs, span);
                }
                Some(Named::Composite {
                    value,
                    formal,
                    modules,
                }) => {
                    let xs = self.lower_args(args, scope, alloc, &format!("module `{name}`"))?;
                    if xs.len() != 1 {
                        return Err(Diagnostic::error(
                            format!("module `{name}` takes one input, got {}", xs.len()),
                            span,
                        ));
                    }
                    let inner = Scope {
                        formal: Some(&formal),
                        input: Some(&xs[0]),
                        ..Default::default()
                    };
                    let mut reuse = Alloc::Reuse {
                        ids: modules,
                        next: 0,
                    };
                    let mut out = self.lower_expr(&value, &inner, &mut reuse)?;
                    out.span = span;
                    return Ok(out);
                }
                Some(Named::Const(_)) => {
                    return Err(Diagnostic::error(
                        format!("`{name}` is a constant, not a module"),
                        callee.span,
                    ));
                }
                None => {}
            }
            if catalogue::is_constructor(name) {
                // `ReLU(z)`: a module without required arguments applied directly.
                let constant_args = args.iter().all(|a| self.eval_const(&a.value).is_ok());
                if !constant_args && catalogue::has_no_required_args(name) {
                    let xs = self.lower_args(args, scope, alloc, &format!("`{name}`"))?;
                    let kind = catalogue::construct(name, &[], span)?;
                    let m = self.new_module(alloc, kind, span);
                    return self.apply(m, xs, span);
                }
                return Err(Diagnostic::error(
                    format!(
                        "module `{}` is created but not applied",
                        nrp_syntax::print::print_expr_brief(e, 60)
                    ),
                    span,
                )
                .with_note(format!(
                    "apply it to an embedding: `{}(z)`",
                    nrp_syntax::print::print_expr_brief(e, 60)
                )));
            }
            return Err(Diagnostic::error(
                format!("unknown function or module `{name}`"),
                callee.span,
            )
            .with_note(catalogue_note()));
        }
        if let AK::Call { callee: ctor, .. } = &callee.kind
            && callee_name(ctor).is_some_and(catalogue::is_tensor)
        {
            return Err(tensor::not_applicable(
                &nrp_syntax::print::print_expr_brief(callee, 60),
                callee.span,
            ));
        }
        // `Linear(16, 7)(z)`: an inline module. Arguments first: modules are numbered in
        // evaluation order, innermost first.
        if let AK::Call {
            callee: ctor,
            args: cargs,
        } = &callee.kind
            && let Some(name) = callee_name(ctor)
            && catalogue::is_constructor(name)
        {
            let xs = self.lower_args(args, scope, alloc, &format!("`{name}`"))?;
            let kind = self.construct(name, cargs, callee.span)?;
            let m = self.new_module(alloc, kind, callee.span);
            return self.apply(m, xs, span);
        }
        // `Conv2d(1, 2)(z)`: a constructor call of a module the catalogue does not have.
        if let AK::Call { callee: ctor, .. } = &callee.kind
            && let Some(name) = callee_name(ctor)
            && !self.names.contains_key(name)
        {
            return Err(
                Diagnostic::error(format!("unknown module `{name}`"), ctor.span)
                    .with_note(catalogue_note()),
            );
        }
        Err(Diagnostic::error(
            format!(
                "`{}` cannot be called",
                nrp_syntax::print::print_expr_brief(callee, 60)
            ),
            callee.span,
        ))
    }

    fn apply(&self, m: ModuleId, xs: Vec<Expr>, span: Span) -> R<Expr> {
        let want = self.modules[m].kind.inputs();
        if xs.len() != want {
            let what = self.modules[m].kind.describe();
            return Err(Diagnostic::error(
                format!(
                    "`{what}` takes {want} input{}, got {}",
                    if want == 1 { "" } else { "s" },
                    xs.len()
                ),
                span,
            ));
        }
        Ok(expr(ExprKind::Apply(m, xs), span))
    }

    // ---- statements -------------------------------------------------------------------

    pub fn fit_params(&self, params: &[ast::Param], relations: &[Relation]) -> R<FitParams> {
        let mut fp = FitParams {
            epochs: 100,
            lr: 0.001,
            weight_decay: 0.0,
            optimizer: Optimizer::Adam,
            momentum: 0.0,
            seed: None,
            eval_every: 0,
            patience: None,
            select: None,
            decay: vec![],
        };
        let mut eval_every = None;
        let word = |e: &ast::Expr| -> Option<String> {
            match &e.kind {
                AK::Ident(s) | AK::Str(s) => Some(s.clone()),
                _ => None,
            }
        };
        let count = |e: &ast::Expr, what: &str| -> R<usize> {
            let v = self.eval_const(e)?;
            if v.fract() != 0.0 || !(0.0..1e15).contains(&v) {
                return Err(Diagnostic::error(
                    format!("`{what}` must be a non-negative integer, got {v}"),
                    e.span,
                ));
            }
            Ok(v as usize)
        };
        let mut seen: Vec<&str> = vec![];
        for p in params {
            let name = p.name.name.as_str();
            if seen.contains(&name) {
                return Err(Diagnostic::error(
                    format!("`{name}` is given twice"),
                    p.name.span,
                ));
            }
            seen.push(name);
            let v = &p.value;
            match name {
                "epochs" => fp.epochs = count(v, name)?,
                "lr" => {
                    fp.lr = self.eval_const(v)?;
                    if fp.lr <= 0.0 {
                        return Err(Diagnostic::error(
                            format!("`lr` must be positive, got {}", fp.lr),
                            v.span,
                        ));
                    }
                }
                "weight_decay" => {
                    fp.weight_decay = self.eval_const(v)?;
                    if fp.weight_decay < 0.0 {
                        return Err(Diagnostic::error(
                            "`weight_decay` must be non-negative",
                            v.span,
                        ));
                    }
                }
                "momentum" => fp.momentum = self.eval_const(v)?,
                "seed" => fp.seed = Some(count(v, name)? as u64),
                "eval_every" => eval_every = Some(count(v, name)?),
                "patience" => fp.patience = Some(count(v, name)?),
                "optimizer" => {
                    fp.optimizer = match word(v).map(|s| s.to_ascii_lowercase()).as_deref() {
                        Some("adam") => Optimizer::Adam,
                        Some("adamw") => Optimizer::AdamW,
                        Some("sgd") => Optimizer::Sgd,
                        _ => {
                            return Err(Diagnostic::error(
                                "`optimizer` must be `adam`, `adamw` or `sgd`",
                                v.span,
                            ));
                        }
                    }
                }
                "select" => {
                    let Some(rel) = word(v) else {
                        return Err(Diagnostic::error(
                            "`select` names a zero-ary `?pred` relation, e.g. `select=ValAcc`",
                            v.span,
                        ));
                    };
                    let Some(id) = relations
                        .iter()
                        .position(|r| r.name == rel && !r.is_input())
                    else {
                        return Err(Diagnostic::error(
                            format!("`select`: no rule defines `{rel}`"),
                            v.span,
                        ));
                    };
                    if relations[id].arity != 0 {
                        return Err(Diagnostic::error(
                            format!("`select`: `{rel}` must be zero-ary (a single number)"),
                            v.span,
                        ));
                    }
                    fp.select = Some(id);
                }
                "decay" => {
                    let Some(list) = word(v) else {
                        return Err(Diagnostic::error(
                            "`decay` names the modules that get weight decay, e.g. `decay=\"Lin1\"`",
                            v.span,
                        ));
                    };
                    for m in list.split([',', ' ']).filter(|s| !s.is_empty()) {
                        if !self
                            .modules
                            .iter()
                            .any(|x| x.name == m || x.name.starts_with(&format!("{m}.")))
                        {
                            return Err(Diagnostic::error(
                                format!("`decay`: no module named `{m}`"),
                                v.span,
                            ));
                        }
                        fp.decay.push(m.to_string());
                    }
                }
                _ => {
                    return Err(Diagnostic::error(format!("unknown `?fit` parameter `{name}`"), p.name.span).with_note(
                        "parameters: epochs, lr, weight_decay, optimizer, momentum, seed, eval_every, patience, select, decay",
                    ));
                }
            }
        }
        fp.eval_every = eval_every.unwrap_or(if fp.select.is_some() || fp.patience.is_some() {
            1
        } else {
            0
        });
        if fp.patience.is_some() && fp.eval_every == 0 {
            return Err(Diagnostic::error(
                "`patience` needs evaluations: set `eval_every` to at least 1",
                params[0].name.span,
            ));
        }
        Ok(fp)
    }
}

fn catalogue_note() -> String {
    "modules: Linear, Embedding, LayerNorm, Dropout, ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, \
     Softmax, LogSoftmax, Identity, OneHot, ArgMax, CrossEntropyLoss, MSELoss, L1Loss, \
     BCEWithLogitsLoss, BCELoss, NLLLoss, Tensor; functions: exp, log, sqrt, abs, relu, sigmoid, \
     tanh, round, Concat"
        .to_string()
}

fn terms(n: usize) -> String {
    format!("{n} content term{}", if n == 1 { "" } else { "s" })
}

fn find_aggregations<'e>(e: &'e ast::Expr, out: &mut Vec<&'e ast::Expr>) {
    match &e.kind {
        AK::Call { callee, args } => {
            if callee_name(callee).and_then(aggregation).is_some() {
                out.push(e);
            }
            find_aggregations(callee, out);
            for a in args {
                find_aggregations(&a.value, out);
            }
        }
        AK::Neg(x) => find_aggregations(x, out),
        AK::Binary(_, a, b) => {
            find_aggregations(a, out);
            find_aggregations(b, out);
        }
        AK::Chain(first, rest) => {
            find_aggregations(first, out);
            for (_, x) in rest {
                find_aggregations(x, out);
            }
        }
        _ => {}
    }
}

/// Renumbers the content variables of a union head expression, lowered against the first
/// branch's body, into branch `to`'s body by name: each branch binds its own variables
/// (`U(v; [x]) :- P(v, x, y) | Q(v, y, x)` encodes each branch's `x`).
fn rename_vars(e: &mut Expr, from: &Body, to: &Body, atom: &ast::Atom) -> R<()> {
    let span = e.span;
    match &mut e.kind {
        ExprKind::Encode(items, ..) => {
            for t in items.iter_mut() {
                if let Term::Var(v) = t {
                    let name = &from.vars[*v];
                    match to.vars.iter().position(|n| n == name) {
                        Some(id) => *v = id,
                        None => {
                            return Err(Diagnostic::error(
                                format!(
                                    "`{name}` is not bound by the union branch `{}`",
                                    atom.name.name
                                ),
                                span,
                            )
                            .with_note(
                                "a union head can encode only variables that every branch binds",
                            ));
                        }
                    }
                }
            }
        }
        ExprKind::Neg(x) | ExprKind::Reshape(_, x) | ExprKind::Transpose(x) => {
            rename_vars(x, from, to, atom)?
        }
        ExprKind::Binary(_, a, b) => {
            rename_vars(a, from, to, atom)?;
            rename_vars(b, from, to, atom)?;
        }
        ExprKind::Chain(first, rest) => {
            rename_vars(first, from, to, atom)?;
            for (_, x) in rest {
                rename_vars(x, from, to, atom)?;
            }
        }
        ExprKind::Func(_, xs) | ExprKind::Apply(_, xs) => {
            for x in xs {
                rename_vars(x, from, to, atom)?;
            }
        }
        ExprKind::Emb(_) | ExprKind::Const(_) | ExprKind::Param(_) | ExprKind::Fill(_) => {}
    }
    Ok(())
}

fn uses_embedding(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |n| found |= matches!(n.kind, ExprKind::Emb(_)));
    found
}

/// Desugars the lowered rules into one core rule per relation. Several rules with one head
/// become auxiliary relations `R#1, R#2, …` and a summing union; an aggregation with
/// per-tuple operations around it becomes `R#agg` and a transformation.
pub(crate) fn desugar(relations: &mut Vec<Relation>, rules: Vec<(RelId, LoweredRule)>) {
    let mut by_rel: Vec<Vec<LoweredRule>> = (0..relations.len()).map(|_| vec![]).collect();
    for (rel, r) in rules {
        by_rel[rel].push(r);
    }
    for (rel, rules) in by_rel.into_iter().enumerate() {
        if rules.is_empty() {
            continue;
        }
        let arity = relations[rel].arity;
        let name = relations[rel].name.clone();
        if rules.len() == 1 {
            let r = rules.into_iter().next().unwrap();
            let core = emit(relations, &name, r);
            relations[rel].kind = RelKind::Derived(core);
            continue;
        }
        let mut branches = vec![];
        for (i, r) in rules.into_iter().enumerate() {
            let span = r.span;
            let core = emit(relations, &format!("{name}#{}", i + 1), r);
            let aux = add_aux(relations, format!("{name}#{}", i + 1), arity, core, span);
            branches.push(pass_through(aux, arity, span));
        }
        let head = (0..arity).map(HeadTerm::Var).collect();
        relations[rel].kind = RelKind::Derived(CoreRule::Union {
            head,
            branches,
            agg: Agg::Sum,
        });
    }
}

fn add_aux(
    relations: &mut Vec<Relation>,
    name: String,
    arity: usize,
    core: CoreRule,
    span: Span,
) -> RelId {
    relations.push(Relation {
        name,
        arity,
        dim: None,
        shape: None,
        kind: RelKind::Derived(core),
        span,
        decodes: vec![],
    });
    relations.len() - 1
}

/// A one-atom body `aux(v0..vk; e)` whose head is its variables, with expression `Emb(0)`.
fn pass_through(aux: RelId, arity: usize, span: Span) -> Branch {
    let body = Body {
        vars: (0..arity).map(|i| format!("v{i}")).collect(),
        atoms: vec![Atom {
            rel: aux,
            terms: (0..arity).map(Term::Var).collect(),
            binds_embedding: true,
            emb_name: Some("e".into()),
            emb_const: None,
            span,
        }],
        filters: vec![],
    };
    Branch {
        body,
        expr: Some(expr(ExprKind::Emb(0), span)),
    }
}

fn emit(relations: &mut Vec<Relation>, name: &str, r: LoweredRule) -> CoreRule {
    let arity = r.head.len();
    let aggregating = if r.is_union {
        let branches = r
            .bodies
            .into_iter()
            .zip(r.branch_exprs)
            .map(|(body, expr)| Branch { body, expr })
            .collect();
        CoreRule::Union {
            head: r.head,
            branches,
            agg: r.agg,
        }
    } else {
        let body = r
            .bodies
            .into_iter()
            .next()
            .expect("a conjunction has one body");
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
        let all_in_head = body.atoms.len() == 1
            && body.atoms[0].terms.iter().all(|t| match t {
                Term::Var(v) => head_vars.contains(v),
                Term::Const(_) => true,
            });
        if all_in_head && r.agg != Agg::Count {
            CoreRule::Transform {
                head: r.head,
                body,
                expr: r.expr,
            }
        } else {
            CoreRule::Conj {
                head: r.head,
                body,
                expr: r.expr,
                agg: r.agg,
            }
        }
    };
    match r.post {
        None => aggregating,
        Some(post) => {
            let aux = add_aux(relations, format!("{name}#agg"), arity, aggregating, r.span);
            let branch = pass_through(aux, arity, r.span);
            CoreRule::Transform {
                head: (0..arity).map(HeadTerm::Var).collect(),
                body: branch.body,
                expr: Some(post),
            }
        }
    }
}
