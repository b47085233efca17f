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
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub name: Ident,
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
    pub terms: Vec<Term>,
    /// The embedding expression after `;` (`None`: a classical head, with or without `;`).
    pub expr: Option<Expr>,
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
}

#[derive(Clone, Debug, PartialEq)]
pub struct Atom {
    pub name: Ident,
    pub terms: Vec<Term>,
    /// `; e` binds the fact's embedding to `e` (`_` ignores it but still binds the columns).
    pub emb: Option<Ident>,
    pub span: Span,
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

/// A comparison of content terms in a conjunction body.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub lhs: Term,
    pub op: CmpOp,
    pub rhs: Term,
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

    /// `+ -` and `* /`: the operators of a [`ExprKind::Chain`].
    pub fn chains(self) -> bool {
        matches!(self, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div)
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
        for s in &mut self.statements {
            match s {
                Statement::Def(d) => {
                    d.span = Span::default();
                    d.name.span = Span::default();
                    d.value.erase_spans();
                }
                Statement::Rule(r) | Statement::Pred(r) => r.erase_spans(),
                Statement::Fit(f) => {
                    f.span = Span::default();
                    for p in &mut f.params {
                        p.name.span = Span::default();
                        p.value.erase_spans();
                    }
                    f.rule.erase_spans();
                }
            }
        }
    }
}

impl Rule {
    fn erase_spans(&mut self) {
        self.span = Span::default();
        let h = &mut self.head;
        h.span = Span::default();
        h.name.span = Span::default();
        h.terms.iter_mut().for_each(Term::erase_span);
        if let Some(e) = &mut h.expr {
            e.erase_spans();
        }
        match &mut self.body {
            Body::Conj { atoms, filters } => {
                atoms.iter_mut().for_each(Atom::erase_spans);
                for f in filters {
                    f.span = Span::default();
                    f.lhs.erase_span();
                    f.rhs.erase_span();
                }
            }
            Body::Union(atoms) => atoms.iter_mut().for_each(Atom::erase_spans),
        }
    }
}

impl Atom {
    fn erase_spans(&mut self) {
        self.span = Span::default();
        self.name.span = Span::default();
        self.terms.iter_mut().for_each(Term::erase_span);
        if let Some(e) = &mut self.emb {
            e.span = Span::default();
        }
    }
}

impl Term {
    fn erase_span(&mut self) {
        match self {
            Term::Var(id) => id.span = Span::default(),
            Term::Wildcard(s) | Term::Const(_, s) => *s = Span::default(),
        }
    }
}

impl Expr {
    /// Sets the spans of this expression and all its parts to `Span::default()`.
    pub fn erase_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ExprKind::Number(_) | ExprKind::Str(_) | ExprKind::Ident(_) => {}
            ExprKind::Neg(x) => x.erase_spans(),
            ExprKind::Binary(_, a, b) => {
                a.erase_spans();
                b.erase_spans();
            }
            ExprKind::Chain(first, rest) => {
                first.erase_spans();
                rest.iter_mut().for_each(|(_, x)| x.erase_spans());
            }
            ExprKind::Call { callee, args } => {
                callee.erase_spans();
                for a in args {
                    if let Some(n) = &mut a.name {
                        n.span = Span::default();
                    }
                    a.value.erase_spans();
                }
            }
            ExprKind::Encode(ts) => ts.iter_mut().for_each(Term::erase_span),
        }
    }
}
