//! The expansion driver: rewrites each statement, instantiating what it uses through a
//! work queue (see the crate documentation).

use crate::bounded;
use crate::registry::{Defines, Registry, Template};
use crate::value::{Lookup, eval, expr_of, instance_key, literal};
use crate::{Expansion, Instance, Options, annotate};
use nrp_data::{Catalogue, Value};
use nrp_syntax::ast::*;
use nrp_syntax::{Diagnostic, Span};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

mod instantiate;
mod walk;

use walk::{is_arith, no_splat, spread};

type R<T> = Result<T, Diagnostic>;
type Env = HashMap<String, Value>;

/// Where a statement's names are looked up: the program's top level, or a function
/// instance's body.
#[derive(Default)]
struct Scope<'a> {
    /// The function instance (`F<2>(A,B)`); its local names are `<prefix>.<name>`.
    prefix: Option<String>,
    /// Templates declared in the function body (scoped to it; RelaNN's are global, Q34).
    local: Option<Rc<Registry<'a>>>,
    /// Parameters → argument relations; local relations and definitions → prefixed names.
    renames: HashMap<String, String>,
    /// Scalar constants of the function body, for template arguments.
    consts: Env,
    /// The function's template parameters: its local templates see them too.
    env: Env,
}

struct Job<'a> {
    id: u32,
    template: Template<'a>,
    args: Vec<Value>,
    rel_args: Vec<String>,
    /// The scope the template was found in.
    scope: Rc<Scope<'a>>,
}

struct Expander<'a> {
    globals: Registry<'a>,
    consts: Env,
    db: Option<&'a dyn Catalogue>,
    options: Options,
    instances: Vec<Instance>,
    keys: HashMap<String, u32>,
    queue: VecDeque<Job<'a>>,
    signatures: Vec<crate::SignatureCheck>,
    /// The instance being written (0: a statement of the program).
    current: u32,
    /// Per instance (index 0: the current program statement), the instances it uses.
    uses: Vec<Vec<u32>>,
    /// Per instance, its statements (index 0 unused).
    written: Vec<Vec<Statement>>,
}

/// Names with a value in a statement: template parameters, then the scope's constants,
/// then the program's.
struct Names<'s> {
    env: &'s Env,
    scope: &'s Env,
    global: &'s Env,
}

impl Lookup for Names<'_> {
    fn value(&self, name: &str) -> Option<Value> {
        self.env
            .get(name)
            .or_else(|| self.scope.get(name))
            .or_else(|| self.global.get(name))
            .cloned()
    }
}

pub fn expand(program: &Program, db: Option<&dyn Catalogue>, options: &Options) -> R<Expansion> {
    let mut ex = Expander {
        globals: Registry::collect(&program.statements)?,
        consts: constants(&program.statements, &Env::new(), &Env::new()),
        db,
        options: *options,
        instances: vec![],
        keys: HashMap::new(),
        queue: VecDeque::new(),
        signatures: vec![],
        current: 0,
        uses: vec![vec![]],
        written: vec![vec![]],
    };
    let top = Rc::new(Scope::default());
    let mut out = vec![];
    let result = (|| {
        for s in &program.statements {
            if is_template(s) {
                continue;
            }
            ex.uses[0].clear();
            let s = ex.statement(s, &top, &Env::new(), 0)?;
            ex.drain(&mut out)?;
            out.push(s);
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(Expansion {
            program: Program { statements: out },
            instances: ex.instances,
            signatures: ex.signatures,
        }),
        Err(d) => Err(annotate(&ex.instances, d)),
    }
}

/// Templated definitions and functions are emitted per instance, not as written.
fn is_template(s: &Statement) -> bool {
    match s {
        Statement::Def(d) => !d.tparams.is_empty(),
        Statement::Rule(r) => !r.head.tparams.is_empty(),
        Statement::Function(_) => true,
        Statement::Fit(_) | Statement::Pred(_) => false,
    }
}

/// The scalar constants among plain `name = value .` definitions (later ones may use
/// earlier ones).
fn constants(statements: &[Statement], env: &Env, outer: &Env) -> Env {
    let mut consts = Env::new();
    for s in statements {
        if let Statement::Def(d) = s
            && d.tparams.is_empty()
        {
            let names = Names {
                env,
                scope: &consts,
                global: outer,
            };
            let mut known = true;
            d.value
                .idents(&mut |n| known &= n == "True" || n == "False" || names.value(n).is_some());
            if known
                && is_arith(&d.value)
                && let Ok(v) = eval(&d.value, &names)
            {
                consts.insert(d.name.name.clone(), v);
            }
        }
    }
    consts
}

impl<'a> Expander<'a> {
    fn names<'s>(&'s self, env: &'s Env, scope: &'s Scope) -> Names<'s> {
        Names {
            env,
            scope: &scope.consts,
            global: &self.consts,
        }
    }

    /// Emits the instances queued so far (and those they queue) into `out`.
    /// Writes the instances queued so far (and those they queue), then appends to `out`
    /// those that the current program statement uses, each after the instances it uses
    /// (sema reads a composite module's parts before the composite).
    fn drain(&mut self, out: &mut Vec<Statement>) -> R<()> {
        while let Some(job) = self.queue.pop_front() {
            self.current = job.id;
            self.emit(job)?;
        }
        self.current = 0;
        // Iterative post-order from the statement (root 0): an instance's statements go out
        // once all the instances it uses have; each instance goes out once.
        let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
        let mut seen = vec![false; self.uses.len()];
        seen[0] = true;
        while let Some((id, next)) = stack.last_mut() {
            let id = *id as usize;
            if let Some(&child) = self.uses[id].get(*next) {
                *next += 1;
                if !std::mem::replace(&mut seen[child as usize], true) {
                    stack.push((child, 0));
                }
            } else {
                stack.pop();
                out.append(&mut self.written[id]);
            }
        }
        Ok(())
    }

    /// A statement rewritten under `scope` and `env`; `origin` numbers the instance whose
    /// text it is (0: the program's).
    fn statement(
        &mut self,
        s: &Statement,
        scope: &Scope<'a>,
        env: &Env,
        origin: u32,
    ) -> R<Statement> {
        let mut s = s.clone();
        if origin != 0 {
            s.for_each_span(&mut |sp| sp.origin = origin);
        }
        match &mut s {
            Statement::Def(d) => {
                if let Some(to) = scope.renames.get(&d.name.name) {
                    d.name.name = to.clone();
                }
                self.expr(&mut d.value, scope, env, &HashSet::new())?;
            }
            Statement::Rule(r) | Statement::Pred(r) => self.rule(r, scope, env)?,
            Statement::Fit(f) => self.rule(&mut f.rule, scope, env)?,
            Statement::Function(f) => {
                return Err(Diagnostic::error("functions do not nest", f.name.span));
            }
        }
        Ok(s)
    }

    fn rule(&mut self, r: &mut Rule, scope: &Scope<'a>, env: &Env) -> R<()> {
        // Embedding variables are the rule's own: a template parameter of the same name
        // would silently turn one into a constant.
        let mut embs: HashSet<String> = HashSet::new();
        let atoms: Vec<&Atom> = match &r.body {
            Body::Conj { atoms, .. } | Body::Union(atoms) => atoms.iter().collect(),
            Body::Set(set) => vec![&set.atom],
        };
        for a in atoms {
            if let Some(Emb::Var(e)) = &a.emb {
                if env.contains_key(&e.name) {
                    return Err(Diagnostic::error(
                        format!(
                            "`{}` is a template parameter and cannot also name an embedding",
                            e.name
                        ),
                        e.span,
                    )
                    .with_note("rename the embedding variable"));
                }
                embs.insert(e.name.clone());
            }
        }
        if let Some(to) = scope.renames.get(&r.head.name.name) {
            r.head.name.name = to.clone();
        }
        r.head.terms.iter_mut().for_each(|t| subst_term(t, env));
        let mut body = std::mem::replace(&mut r.body, Body::Union(vec![]));
        match &mut body {
            Body::Conj { atoms, filters } => {
                for a in atoms.iter_mut() {
                    self.atom(a, scope, env)?;
                }
                for f in filters.iter_mut() {
                    self.expr(&mut f.lhs, scope, env, &embs)?;
                    self.expr(&mut f.rhs, scope, env, &embs)?;
                }
            }
            Body::Union(atoms) => {
                for a in atoms.iter_mut() {
                    self.atom(a, scope, env)?;
                }
            }
            Body::Set(set) => {
                let set = BoundedSet::clone(set);
                let (expanded, split) = self.bounded_set(set, scope, env, &embs)?;
                body = expanded;
                if let Some((var, parts)) = split
                    && let Some(e) = &mut r.head.expr
                {
                    spread(e, &var, &parts)?;
                }
            }
        }
        r.body = body;
        if let Some(e) = &mut r.head.expr {
            self.expr(e, scope, env, &embs)?;
            no_splat(e)?;
        }
        for d in &mut r.head.decodes {
            self.expr(&mut d.expr, scope, env, &embs)?;
            no_splat(&d.expr)?;
        }
        Ok(())
    }

    /// Expands a bounded set into a union or a join; for a join, also the embedding
    /// variable it splits and the names of its parts.
    #[allow(clippy::type_complexity)]
    fn bounded_set(
        &mut self,
        mut set: BoundedSet,
        scope: &Scope<'a>,
        env: &Env,
        embs: &HashSet<String>,
    ) -> R<(Body, Option<(String, Vec<String>)>)> {
        for g in &mut set.guards {
            subst_atom_names(g, env)?;
            g.terms.iter_mut().for_each(|t| subst_term(t, env));
            if let Some(to) = scope.renames.get(&g.name.name) {
                g.name.name = to.clone();
            }
        }
        for c in &mut set.conds {
            self.expr(&mut c.lhs, scope, env, embs)?;
            self.expr(&mut c.rhs, scope, env, embs)?;
        }
        let b = {
            let names = self.names(env, scope);
            bounded::bindings(&set, &names, self.db)?
        };
        let var = set
            .atom
            .emb
            .as_ref()
            .and_then(|e| e.var())
            .map(|v| v.name.clone());
        let mut atoms = vec![];
        let mut parts = vec![];
        for k in 0..b.rows.len() {
            let mut env2 = env.clone();
            env2.extend(b.env(k));
            let mut a = set.atom.clone();
            self.atom(&mut a, scope, &env2)?;
            if set.kind == SetKind::Join
                && let Some(Emb::Var(v)) = &mut a.emb
                && v.name != "_"
            {
                v.name = format!("{}_{}", v.name, k + 1);
                parts.push(v.name.clone());
            }
            atoms.push(a);
        }
        Ok(match set.kind {
            SetKind::Join => (
                Body::Conj {
                    atoms,
                    filters: vec![],
                },
                var.filter(|v| v != "_").map(|v| (v, parts)),
            ),
            SetKind::Union if atoms.len() == 1 => (
                Body::Conj {
                    atoms,
                    filters: vec![],
                },
                None,
            ),
            SetKind::Union => (Body::Union(atoms), None),
        })
    }

    /// Substitutes into a body atom and resolves it when it names an instance.
    fn atom(&mut self, a: &mut Atom, scope: &Scope<'a>, env: &Env) -> R<()> {
        subst_atom_names(a, env)?;
        a.terms.iter_mut().for_each(|t| subst_term(t, env));
        if let Some(args) = &mut a.call {
            for r in args.iter_mut() {
                if let Some(v) = env.get(&r.name.name) {
                    r.name.name = relation_name(v, r.name.span)?;
                }
                if let Some(to) = scope.renames.get(&r.name.name) {
                    r.name.name = to.clone();
                }
            }
        }
        let name = a.name.name.clone();
        if a.targs.is_empty() && a.call.is_none() {
            if let Some(to) = scope.renames.get(&name) {
                a.name.name = to.clone();
                return Ok(());
            }
            // A parameterless function may be read like a relation (`F(x; z)`).
            match self.lookup(&name, &[], scope, a.name.span) {
                Some(Ok((t, _))) if matches!(t.body, Defines::Function(f) if f.params.is_empty()) =>
                {
                    a.call = Some(vec![]);
                }
                Some(_) => {
                    return Err(Diagnostic::error(
                        format!("`{name}` is a template: give its arguments, as in `{name}<…>(…)`"),
                        a.name.span,
                    ));
                }
                None => return Ok(()),
            }
        }
        let args = self.targs(&a.targs, scope, env)?;
        let mut rel_args = vec![];
        for r in a.call.iter().flatten() {
            rel_args.push(self.rel_ref(r, scope, env)?);
        }
        let (t, tscope) = match self.lookup(&name, &args, scope, a.span) {
            Some(found) => found?,
            None => {
                let what = if a.call.is_some() {
                    "a function"
                } else {
                    "a templated rule or function"
                };
                return Err(Diagnostic::error(
                    format!(
                        "`{name}` is not {what}: no `def {name}` or `{name}<…>(…) :- …` in the program"
                    ),
                    a.name.span,
                ));
            }
        };
        match t.body {
            Defines::Module(_) => {
                return Err(Diagnostic::error(
                    format!(
                        "`{}` is a module, not a relation: apply it in an expression, `{}(z)`",
                        t.signature(),
                        instance_key(&name, &args)
                    ),
                    a.name.span,
                ));
            }
            Defines::Rules(_) if a.call.is_some() => {
                return Err(Diagnostic::error(
                    format!(
                        "`{}` is a rule, not a function: drop the argument list `(…)`",
                        t.signature()
                    ),
                    a.name.span,
                ));
            }
            _ => {}
        }
        a.name.name = self.instantiate(t, args, rel_args, tscope, a.span)?;
        a.targs.clear();
        a.call = None;
        Ok(())
    }

    /// A relation passed to a function: a name (renamed in a function body) or an instance.
    fn rel_ref(&mut self, r: &RelRef, scope: &Scope<'a>, env: &Env) -> R<String> {
        if r.targs.is_empty() {
            return Ok(r.name.name.clone());
        }
        let args = self.targs(&r.targs, scope, env)?;
        match self.lookup(&r.name.name, &args, scope, r.name.span) {
            Some(found) => {
                let (t, tscope) = found?;
                if matches!(t.body, Defines::Module(_)) {
                    return Err(Diagnostic::error(
                        format!("`{}` is a module, not a relation", t.signature()),
                        r.span,
                    ));
                }
                self.instantiate(t, args, vec![], tscope, r.span)
            }
            None => Err(Diagnostic::error(
                format!("`{}` is not a template", r.name.name),
                r.name.span,
            )),
        }
    }

    fn targs(&self, targs: &[Expr], scope: &Scope<'a>, env: &Env) -> R<Vec<Value>> {
        let names = self.names(env, scope);
        targs.iter().map(|e| eval(e, &names)).collect()
    }

    /// The template `name` chooses for `args`: the function body's own first, then the
    /// program's; with the scope it was found in.
    fn lookup(
        &self,
        name: &str,
        args: &[Value],
        scope: &Scope<'a>,
        at: Span,
    ) -> Option<R<(Template<'a>, Rc<Scope<'a>>)>> {
        if let Some(local) = &scope.local
            && let Some(found) = local.dispatch(name, args, at)
        {
            // A local template is instantiated inside the function instance's scope.
            return Some(found.map(|t| (t.clone(), Rc::new(scope.reborrow()))));
        }
        self.globals
            .dispatch(name, args, at)
            .map(|found| found.map(|t| (t.clone(), Rc::new(Scope::default()))))
    }

    /// Substitutes template parameters and local names into an expression and resolves
    /// its templated modules (`K<1>(z)`, `Gate<2>`). `embs` are the rule's embedding
    /// variables, never replaced.
    fn expr(
        &mut self,
        e: &mut Expr,
        scope: &Scope<'a>,
        env: &Env,
        embs: &HashSet<String>,
    ) -> R<()> {
        match &mut e.kind {
            ExprKind::Ident(n) if !embs.contains(n.as_str()) => {
                if let Some(v) = env.get(n.as_str()) {
                    *e = expr_of(v, e.span);
                } else if let Some(to) = scope.renames.get(n.as_str()) {
                    *n = to.clone();
                }
            }
            ExprKind::Ident(_) | ExprKind::Number(_) | ExprKind::Str(_) => {}
            ExprKind::Neg(x) | ExprKind::Splat(x) => self.expr(x, scope, env, embs)?,
            ExprKind::Binary(_, a, b) => {
                self.expr(a, scope, env, embs)?;
                self.expr(b, scope, env, embs)?;
            }
            ExprKind::Chain(first, rest) => {
                self.expr(first, scope, env, embs)?;
                for (_, x) in rest {
                    self.expr(x, scope, env, embs)?;
                }
            }
            ExprKind::Call { callee, args } => {
                // A module's name: a parameter holding a name, or a local definition.
                if let ExprKind::Ident(n) = &mut callee.kind {
                    if let Some(v) = env.get(n.as_str()) {
                        match v {
                            Value::Str(s) => *n = s.to_string(),
                            v => {
                                return Err(Diagnostic::error(
                                    format!("template parameter `{n}` is {v}, not a module name"),
                                    callee.span,
                                ));
                            }
                        }
                    } else if let Some(to) = scope.renames.get(n.as_str()) {
                        *n = to.clone();
                    }
                } else {
                    self.expr(callee, scope, env, embs)?;
                }
                for a in args {
                    self.expr(&mut a.value, scope, env, embs)?;
                }
            }
            ExprKind::Encode(ts) => ts.iter_mut().for_each(|t| subst_term(t, env)),
            ExprKind::Instance(name, targs) => {
                let args = self.targs(targs, scope, env)?;
                let (t, tscope) = match self.lookup(name, &args, scope, e.span) {
                    Some(found) => found?,
                    None => {
                        return Err(Diagnostic::error(
                            format!(
                                "`{name}` is not a templated module: no `{name}<…> = …` in the program"
                            ),
                            e.span,
                        ));
                    }
                };
                if !matches!(t.body, Defines::Module(_)) {
                    return Err(Diagnostic::error(
                        format!(
                            "`{}` is a {}, not a module: use it as an atom in a rule body",
                            t.signature(),
                            t.kind()
                        ),
                        e.span,
                    ));
                }
                let key = self.instantiate(t, args, vec![], tscope, e.span)?;
                e.kind = ExprKind::Ident(key);
            }
        }
        Ok(())
    }
}

impl<'a> Scope<'a> {
    /// A copy for instantiating the body's local templates (they see the same names).
    fn reborrow(&self) -> Scope<'a> {
        Scope {
            prefix: self.prefix.clone(),
            local: self.local.clone(),
            renames: self.renames.clone(),
            consts: self.consts.clone(),
            env: self.env.clone(),
        }
    }
}

/// A template parameter's value as a relation name.
fn relation_name(v: &Value, at: Span) -> R<String> {
    match v {
        Value::Str(s) => Ok(s.to_string()),
        v => Err(Diagnostic::error(
            format!("this template parameter is {v} here, not a relation name"),
            at,
        )),
    }
}

/// An atom named by a template parameter (`pe(s, t; w)` with `pe` bound) reads the
/// relation the parameter names.
fn subst_atom_names(a: &mut Atom, env: &Env) -> R<()> {
    if let Some(v) = env.get(&a.name.name) {
        a.name.name = relation_name(v, a.name.span)?;
    }
    Ok(())
}

/// A template parameter in a content position is its value: a constant, which selects.
fn subst_term(t: &mut Term, env: &Env) {
    if let Term::Var(id) = t
        && let Some(v) = env.get(&id.name)
    {
        *t = Term::Const(literal(v), id.span);
    }
}
