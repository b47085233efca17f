//! The surface syntax of a Neuro-Relational Program, with source spans.
//!
//! The AST is deliberately close to the text: a `name = value .` statement is a [`Def`]
//! whether `value` turns out to be a constant, a module or a composite module; sema decides.

use crate::diag::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `name = value .` — a constant, a named module or a composite module.
    Def(Def),
    /// A definition rule `Head :- Body .`
    Rule(Rule),
    /// `?fit <params> LossRule .`
    Fit(Fit),
    /// `?pred Rule .`
    Pred(Rule),
    /// `def F<T>(P1, P2) -> (int; T): rules enddef`
    Function(Function),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub name: Ident,
    /// `K<L, t> = …`: a templated definition (empty: a plain one).
    pub tparams: Vec<TParam>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub params: Vec<Param>,
    pub rule: Rule,
    pub span: Span,
}

/// `name = value` inside `?fit < … >`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub head: Head,
    pub body: Body,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub name: Ident,
    /// `R<i>(…) :- …`: a templated rule (empty: a plain one).
    pub tparams: Vec<TParam>,
    pub terms: Vec<Term>,
    /// The embedding expression after `;` (`None`: a classical head, with or without `;`).
    pub expr: Option<Expr>,
    /// Decode brackets `[ArgMax(p)]` among the head's content positions (`?pred` heads):
    /// they are not in `terms`; each says where it stands among all the written positions.
    pub decodes: Vec<Decode>,
    pub span: Span,
}

/// `[D(p)]` at written content position `pos` of a head: the decoded value(s) of the
/// expression become content columns of the predicted relation.
#[derive(Clone, Debug, PartialEq)]
pub struct Decode {
    pub pos: usize,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Atoms joined by `,` and filters.
    Conj {
        atoms: Vec<Atom>,
        filters: Vec<Filter>,
    },
    /// Single atoms separated by `|`.
    Union(Vec<Atom>),
    /// `Union(Set(atom | bounding))` or `Join(Set(atom | bounding))`.
    Set(Box<BoundedSet>),
}

/// A template parameter of a definition: a name binds the argument; a literal makes the
/// definition a specialisation that applies only to that argument.
#[derive(Clone, Debug, PartialEq)]
pub enum TParam {
    Name(Ident),
    Lit(Literal, Span),
}

/// `def Name<tparams>(P1: schema, …) -> schema: statements enddef`
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: Ident,
    pub tparams: Vec<TParam>,
    pub params: Vec<FnParam>,
    pub ret: Option<Schema>,
    /// Rules and `name = value .` definitions; the last rule is the function's value.
    pub body: Vec<Statement>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnParam {
    pub name: Ident,
    pub schema: Option<Schema>,
}

/// `(int, str; 16)`: content types, then embedding dimensions (numbers or names).
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub types: Vec<Ident>,
    pub dims: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    Union,
    Join,
}

impl SetKind {
    pub fn keyword(self) -> &'static str {
        match self {
            SetKind::Union => "Union",
            SetKind::Join => "Join",
        }
    }
}

/// `Union(Set(Main<i>(x; z) | Guard(i), i > 0))`: one copy of `atom` per binding of the
/// bounding's variables, from its guard atoms (database tables) and conditions.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundedSet {
    pub kind: SetKind,
    pub atom: Atom,
    pub guards: Vec<Atom>,
    pub conds: Vec<Filter>,
    pub span: Span,
}

/// A relation passed to a function: `Edges` or a template instance `H<1>`.
#[derive(Clone, Debug, PartialEq)]
pub struct RelRef {
    pub name: Ident,
    pub targs: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Atom {
    pub name: Ident,
    /// `R<1, 'A'>(…)`: an instance of a templated rule or function (empty: none).
    pub targs: Vec<Expr>,
    /// `F(A, B)(x; z)`: a function call with these relation arguments (`F()(…)`: none).
    pub call: Option<Vec<RelRef>>,
    pub terms: Vec<Term>,
    /// `; e` binds the fact's embedding to `e` (`_` ignores it but still binds the columns);
    /// `; 0` replaces it by a constant.
    pub emb: Option<Emb>,
    pub span: Span,
}

/// What follows `;` in a body atom.
#[derive(Clone, Debug, PartialEq)]
pub enum Emb {
    Var(Ident),
    Const(Literal, Span),
}

impl Emb {
    pub fn span(&self) -> Span {
        match self {
            Emb::Var(id) => id.span,
            Emb::Const(_, s) => *s,
        }
    }
    /// The variable's name (`None` for a constant).
    pub fn var(&self) -> Option<&Ident> {
        match self {
            Emb::Var(id) => Some(id),
            Emb::Const(..) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Var(Ident),
    /// `_`: a fresh variable.
    Wildcard(Span),
    Const(Literal, Span),
}

impl Term {
    pub fn span(&self) -> Span {
        match self {
            Term::Var(id) => id.span,
            Term::Wildcard(s) | Term::Const(_, s) => *s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// As written, sign included (`-1`, `1.0`).
    Number(String),
    Str(String),
}

impl Literal {
    pub fn text(&self) -> &str {
        match self {
            Literal::Number(s) | Literal::Str(s) => s,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A comparison in a conjunction body (of content terms, or arithmetic over them) or in a
/// bounded set's bounding.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub lhs: Expr,
    pub op: CmpOp,
    pub rhs: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `a @ b`: per-fact matrix product (shaped embeddings).
    MatMul,
    Pow,
    /// Comparisons: 1 where it holds, else 0, element-wise.
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Pow => "**",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    /// `== != < <= > >=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }

    /// `+ -` and `* / @`: the operators of a [`ExprKind::Chain`].
    pub fn chains(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::MatMul
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(String),
    Str(String),
    Ident(String),
    Neg(Box<Expr>),
    /// `a ** b` and the comparisons `a == b`, `a < b`, …
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a + b - c` or `a * b / c`: operands of one precedence level, evaluated left to right.
    /// A flat sum of thousands of terms is one node, not a tree as deep as it is long, so
    /// only true nesting (parentheses, calls, `-`, `**`) counts against the depth limit.
    /// The parser makes one for every `+ - * /`; every `(op, operand)` has `op.chains()`.
    Chain(Box<Expr>, Vec<(BinOp, Expr)>),
    /// `callee(args)`: a module constructor (`Linear(16, 7)`), a module application
    /// (`Linear(16, 7)(z)`, `Lin1(z)`), a function (`exp(z)`, `Concat(a, b)`) or an
    /// aggregation (`sum(...)`); sema tells them apart.
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    /// `[col, ..]`: content values of the match as a vector.
    Encode(Vec<Term>),
    /// `Name<args>`: an instance of a templated module, applied (as a callee) or as a value.
    Instance(String, Vec<Expr>),
    /// `*z` in an argument list: the embeddings `z_1 … z_n` of a `Join(Set(…))`.
    Splat(Box<Expr>),
}

impl Expr {
    /// Calls `f` on this expression and on every expression inside it, parents first.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Ident(_) | ExprKind::Encode(_) => {}
            ExprKind::Neg(x) | ExprKind::Splat(x) => x.visit(f),
            ExprKind::Binary(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            ExprKind::Chain(first, rest) => {
                first.visit(f);
                rest.iter().for_each(|(_, x)| x.visit(f));
            }
            ExprKind::Call { callee, args } => {
                callee.visit(f);
                args.iter().for_each(|a| a.value.visit(f));
            }
            ExprKind::Instance(_, args) => args.iter().for_each(|a| a.visit(f)),
        }
    }

    /// Calls `f` on every name (`ExprKind::Ident`) in the expression.
    pub fn idents(&self, f: &mut dyn FnMut(&str)) {
        self.visit(&mut |e| {
            if let ExprKind::Ident(n) = &e.kind {
                f(n)
            }
        });
    }

    /// The expression as a content term, when it is one: a name (`_` is a wildcard), a
    /// number (negative ones too) or a string.
    pub fn as_term(&self) -> Option<Term> {
        Some(match &self.kind {
            ExprKind::Ident(n) if n == "_" => Term::Wildcard(self.span),
            ExprKind::Ident(n) => Term::Var(Ident {
                name: n.clone(),
                span: self.span,
            }),
            ExprKind::Number(n) => Term::Const(Literal::Number(n.clone()), self.span),
            ExprKind::Str(s) => Term::Const(Literal::Str(s.clone()), self.span),
            ExprKind::Neg(x) => match &x.kind {
                ExprKind::Number(n) if !n.starts_with('-') => {
                    Term::Const(Literal::Number(format!("-{n}")), self.span)
                }
                _ => return None,
            },
            _ => return None,
        })
    }

    /// The expression of a content term: the inverse of [`Expr::as_term`].
    pub fn of_term(t: &Term) -> Expr {
        let span = t.span();
        let kind = match t {
            Term::Var(id) => ExprKind::Ident(id.name.clone()),
            Term::Wildcard(_) => ExprKind::Ident("_".into()),
            Term::Const(Literal::Str(s), _) => ExprKind::Str(s.clone()),
            Term::Const(Literal::Number(n), _) => match n.strip_prefix('-') {
                Some(m) => ExprKind::Neg(Box::new(Expr {
                    kind: ExprKind::Number(m.to_string()),
                    span,
                })),
                None => ExprKind::Number(n.clone()),
            },
        };
        Expr { kind, span }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `name=` of a keyword argument (`bias=False`).
    pub name: Option<Ident>,
    pub value: Expr,
}

impl Program {
    /// Sets every span to `Span::default()`, so that two parses of differently laid out
    /// text compare equal (`parse(print(p))` against `p`, in the round-trip tests).
    pub fn erase_spans(&mut self) {
        self.for_each_span(&mut |s| *s = Span::default());
    }

    /// Calls `f` on every span of the program.
    pub fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        for s in &mut self.statements {
            s.for_each_span(f);
        }
    }
}

impl Statement {
    /// Calls `f` on every span of the statement.
    pub fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            Statement::Def(d) => {
                f(&mut d.span);
                f(&mut d.name.span);
                d.tparams.iter_mut().for_each(|p| p.for_each_span(f));
                d.value.for_each_span(f);
            }
            Statement::Rule(r) | Statement::Pred(r) => r.for_each_span(f),
            Statement::Fit(fit) => {
                f(&mut fit.span);
                for p in &mut fit.params {
                    f(&mut p.name.span);
                    p.value.for_each_span(f);
                }
                fit.rule.for_each_span(f);
            }
            Statement::Function(func) => {
                f(&mut func.span);
                f(&mut func.name.span);
                func.tparams.iter_mut().for_each(|p| p.for_each_span(f));
                for p in &mut func.params {
                    f(&mut p.name.span);
                    if let Some(s) = &mut p.schema {
                        s.for_each_span(f);
                    }
                }
                if let Some(s) = &mut func.ret {
                    s.for_each_span(f);
                }
                func.body.iter_mut().for_each(|s| s.for_each_span(f));
            }
        }
    }
}

impl TParam {
    fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            TParam::Name(id) => f(&mut id.span),
            TParam::Lit(_, s) => f(s),
        }
    }
}

impl Schema {
    fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.types.iter_mut().for_each(|t| f(&mut t.span));
        self.dims.iter_mut().for_each(|d| d.for_each_span(f));
    }
}

impl Rule {
    /// Calls `f` on every span of the rule.
    pub fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        let h = &mut self.head;
        f(&mut h.span);
        f(&mut h.name.span);
        h.tparams.iter_mut().for_each(|p| p.for_each_span(f));
        h.terms.iter_mut().for_each(|t| t.for_each_span(f));
        if let Some(e) = &mut h.expr {
            e.for_each_span(f);
        }
        for d in &mut h.decodes {
            f(&mut d.span);
            d.expr.for_each_span(f);
        }
        match &mut self.body {
            Body::Conj { atoms, filters } => {
                atoms.iter_mut().for_each(|a| a.for_each_span(f));
                filters.iter_mut().for_each(|x| x.for_each_span(f));
            }
            Body::Union(atoms) => atoms.iter_mut().for_each(|a| a.for_each_span(f)),
            Body::Set(set) => {
                f(&mut set.span);
                set.atom.for_each_span(f);
                set.guards.iter_mut().for_each(|a| a.for_each_span(f));
                set.conds.iter_mut().for_each(|x| x.for_each_span(f));
            }
        }
    }
}

impl Filter {
    fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        self.lhs.for_each_span(f);
        self.rhs.for_each_span(f);
    }
}

impl Atom {
    /// Calls `f` on every span of the atom.
    pub fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        f(&mut self.name.span);
        self.targs.iter_mut().for_each(|e| e.for_each_span(f));
        for r in self.call.iter_mut().flatten() {
            f(&mut r.span);
            f(&mut r.name.span);
            r.targs.iter_mut().for_each(|e| e.for_each_span(f));
        }
        self.terms.iter_mut().for_each(|t| t.for_each_span(f));
        match &mut self.emb {
            Some(Emb::Var(id)) => f(&mut id.span),
            Some(Emb::Const(_, s)) => f(s),
            None => {}
        }
    }
}

impl Term {
    fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            Term::Var(id) => f(&mut id.span),
            Term::Wildcard(s) | Term::Const(_, s) => f(s),
        }
    }
}

impl Expr {
    /// Sets the spans of this expression and all its parts to `Span::default()`.
    pub fn erase_spans(&mut self) {
        self.for_each_span(&mut |s| *s = Span::default());
    }

    /// Calls `f` on the span of this expression and of all its parts.
    pub fn for_each_span(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(&mut self.span);
        match &mut self.kind {
            ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Ident(_) => {}
            ExprKind::Neg(x) | ExprKind::Splat(x) => x.for_each_span(f),
            ExprKind::Binary(_, a, b) => {
                a.for_each_span(f);
                b.for_each_span(f);
            }
            ExprKind::Chain(first, rest) => {
                first.for_each_span(f);
                rest.iter_mut().for_each(|(_, x)| x.for_each_span(f));
            }
            ExprKind::Call { callee, args } => {
                callee.for_each_span(f);
                for a in args {
                    if let Some(n) = &mut a.name {
                        f(&mut n.span);
                    }
                    a.value.for_each_span(f);
                }
            }
            ExprKind::Encode(ts) => ts.iter_mut().for_each(|t| t.for_each_span(f)),
            ExprKind::Instance(_, args) => args.iter_mut().for_each(|a| a.for_each_span(f)),
        }
    }
}
