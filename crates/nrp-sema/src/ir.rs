//! The core IR: a checked program as relations, module instances and one core rule per
//! derived relation (a conjunction, a union or a transformation), plus the `?fit` / `?pred`
//! statements in program order. Both the reference evaluator and the engine start here.

use nrp_data::Value;
use nrp_syntax::Span;

mod filter;
pub use filter::*;

pub type RelId = usize;
pub type ModuleId = usize;
pub type VarId = usize;

#[derive(Clone, Debug)]
pub struct Program {
    pub relations: Vec<Relation>,
    pub modules: Vec<Module>,
    /// Derived relations, dependencies first.
    pub order: Vec<RelId>,
    pub statements: Vec<Stmt>,
    /// Fragments of the paper the (surface) program belongs to.
    pub fragments: Fragments,
    /// The template and function instances the program expanded into (spans with a
    /// non-zero `origin` lie in their text).
    pub instances: Vec<nrp_expand::Instance>,
}

impl Program {
    /// Adds the instantiation chain to an error located in an instance's text.
    pub fn annotate(&self, d: nrp_syntax::Diagnostic) -> nrp_syntax::Diagnostic {
        nrp_expand::annotate(&self.instances, d)
    }

    pub fn relation(&self, name: &str) -> Option<RelId> {
        self.relations
            .iter()
            .position(|r| r.name == name && !r.is_input())
    }

    /// Derived relations that `rel` needs, itself included, dependencies first.
    pub fn closure(&self, roots: &[RelId]) -> Vec<RelId> {
        let mut need = vec![false; self.relations.len()];
        let mut stack: Vec<RelId> = roots.to_vec();
        while let Some(r) = stack.pop() {
            if std::mem::replace(&mut need[r], true) {
                continue;
            }
            stack.extend(self.relations[r].decodes.iter().map(|d| d.rel));
            if let RelKind::Derived(rule) = &self.relations[r].kind {
                stack.extend(rule.dependencies());
            }
        }
        self.order.iter().copied().filter(|&r| need[r]).collect()
    }

    /// Which relations' embeddings evaluating `targets` reads: the targets', and, for each
    /// relation read, those of the body atoms its expressions use (`Emb(i)`). A relation
    /// needed only for its content (`H(v) :- T(v), R()`) is not read: its embeddings need
    /// not be computed, and an evaluation error in them is not raised.
    pub fn embeddings_read(&self, targets: &[RelId]) -> Vec<bool> {
        let mut read = vec![false; self.relations.len()];
        for &t in targets {
            read[t] = true;
            // Decoded columns are computed from their auxiliary relations' embeddings.
            for d in &self.relations[t].decodes {
                read[d.rel] = true;
            }
        }
        // Dependents before their dependencies.
        for &rel in self.closure(targets).iter().rev() {
            let RelKind::Derived(rule) = &self.relations[rel].kind else {
                continue;
            };
            if !read[rel] || rule.agg() == Agg::Count {
                continue;
            }
            for (body, expr) in rule.bodies() {
                if let Some(e) = expr {
                    e.walk(&mut |n| {
                        if let ExprKind::Emb(i) = n.kind {
                            read[body.atoms[i].rel] = true;
                        }
                    });
                }
            }
        }
        read
    }

    /// Learnable parameters: (full name, shape, init), in module construction order.
    pub fn parameters(&self) -> Vec<ParamSpec> {
        let mut by_order: Vec<&Module> = self.modules.iter().collect();
        by_order.sort_by_key(|m| m.created_at);
        by_order
            .into_iter()
            .flat_map(|m| m.kind.params(&m.name))
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct Relation {
    /// The user's name; desugaring adds `#`-suffixed auxiliary relations.
    pub name: String,
    pub arity: usize,
    /// Embedding dimension; `None` when it depends on a database that was not given.
    pub dim: Option<usize>,
    /// The shape of each fact's embedding (its product is `dim`); a vector's is `[dim]`.
    pub shape: Option<Shape>,
    pub kind: RelKind,
    /// Where it is first defined (a head) or, for an input relation, first used.
    pub span: Span,
    /// Decode brackets of a `?pred` head (`crate::decode`): their columns join the
    /// relation's content on output; `arity` counts only the other terms.
    pub decodes: Vec<Decoded>,
}

/// A decode bracket: at written content position `pos`, the coordinates of the auxiliary
/// relation `rel`'s embedding (same tuples as the decoded relation).
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub pos: usize,
    pub rel: RelId,
}

impl Relation {
    pub fn is_input(&self) -> bool {
        matches!(self.kind, RelKind::Input(_))
    }
    pub fn is_auxiliary(&self) -> bool {
        self.name.contains('#')
    }
}

#[derive(Clone, Debug)]
pub enum RelKind {
    Input(InputBinding),
    Derived(CoreRule),
}

/// An atom shape over a database table: `T(t1..tk)` or `T(t1..tk; e)` (LANGUAGE.md §6).
/// Each distinct shape of one table is its own input relation.
#[derive(Clone, Debug, PartialEq)]
pub struct InputBinding {
    /// The table's name in the database (`None` when no database was given).
    pub table: Option<String>,
    pub terms: usize,
    pub embedding: bool,
}

/// One core rule defines one derived relation.
#[derive(Clone, Debug)]
pub enum CoreRule {
    /// One output fact per input fact: a single atom whose variables all occur in the head.
    Transform {
        head: Vec<HeadTerm>,
        body: Body,
        expr: Option<Expr>,
    },
    /// Aggregate `expr` over the matches of the body into head tuples.
    Conj {
        head: Vec<HeadTerm>,
        body: Body,
        expr: Option<Expr>,
        agg: Agg,
    },
    /// Aggregate over the matches of all branches (each a one-atom body with its own
    /// expression). Several rules with one head become a union of auxiliary relations.
    Union {
        head: Vec<HeadTerm>,
        branches: Vec<Branch>,
        agg: Agg,
    },
}

impl CoreRule {
    pub fn dependencies(&self) -> Vec<RelId> {
        match self {
            CoreRule::Transform { body, .. } | CoreRule::Conj { body, .. } => {
                body.atoms.iter().map(|a| a.rel).collect()
            }
            CoreRule::Union { branches, .. } => branches
                .iter()
                .flat_map(|b| b.body.atoms.iter().map(|a| a.rel))
                .collect(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            CoreRule::Transform { .. } => "transformation",
            CoreRule::Conj { .. } => "conjunction",
            CoreRule::Union { .. } => "union",
        }
    }

    pub fn head(&self) -> &[HeadTerm] {
        match self {
            CoreRule::Transform { head, .. }
            | CoreRule::Conj { head, .. }
            | CoreRule::Union { head, .. } => head,
        }
    }

    /// The bodies with their expressions: one for a transformation or conjunction.
    pub fn bodies(&self) -> Vec<(&Body, Option<&Expr>)> {
        match self {
            CoreRule::Transform { body, expr, .. } | CoreRule::Conj { body, expr, .. } => {
                vec![(body, expr.as_ref())]
            }
            CoreRule::Union { branches, .. } => branches
                .iter()
                .map(|b| (&b.body, b.expr.as_ref()))
                .collect(),
        }
    }

    /// The expressions of every body, to rewrite in place.
    pub fn exprs_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            CoreRule::Transform { expr, .. } | CoreRule::Conj { expr, .. } => {
                expr.iter_mut().collect()
            }
            CoreRule::Union { branches, .. } => branches
                .iter_mut()
                .filter_map(|b| b.expr.as_mut())
                .collect(),
        }
    }

    /// The aggregation (a transformation has exactly one match per head tuple; `Sum` is exact).
    pub fn agg(&self) -> Agg {
        match self {
            CoreRule::Transform { .. } => Agg::Sum,
            CoreRule::Conj { agg, .. } | CoreRule::Union { agg, .. } => *agg,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Branch {
    pub body: Body,
    pub expr: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HeadTerm {
    Var(VarId),
    Const(Value),
}

/// A conjunction of atoms and filters over numbered variables.
#[derive(Clone, Debug)]
pub struct Body {
    /// Variable names (wildcards get fresh names `_1`, `_2`, …).
    pub vars: Vec<String>,
    pub atoms: Vec<Atom>,
    pub filters: Vec<Filter>,
}

#[derive(Clone, Debug)]
pub struct Atom {
    pub rel: RelId,
    pub terms: Vec<Term>,
    /// Whether the atom binds the fact's embedding (`; z` — then `Expr::Emb(index of atom)`).
    pub binds_embedding: bool,
    /// The embedding variable as written (for listings).
    pub emb_name: Option<String>,
    /// `R(x; 0)`: the fact's embedding replaced by this constant (then `binds_embedding` is
    /// false; in a union branch the head expression reads it as `ExprKind::Fill`).
    pub emb_const: Option<f64>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Var(VarId),
    Const(Value),
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
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agg {
    Sum,
    Mean,
    Max,
    Min,
    Count,
}

impl Agg {
    pub fn name(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Mean => "mean",
            Agg::Max => "max",
            Agg::Min => "min",
            Agg::Count => "count",
        }
    }
}

/// A per-match embedding expression with its inferred dimension.
#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    /// `None` when unknown (no database given).
    pub dim: Option<usize>,
    /// The shape of one match's value (its product is `dim`), with `dim`.
    pub shape: Option<Shape>,
    pub span: Span,
}

/// The shape of one fact's embedding, the fact axis left out: `[d]` for a vector, `[m, k]`
/// for a matrix, `[]` for a scalar. Rows hold it flattened in row-major order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn vector(d: usize) -> Shape {
        Shape(vec![d])
    }
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// The number of values (1 for a scalar); `None` on overflow.
    pub fn numel(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }
    pub fn is_vector(&self) -> bool {
        self.rank() == 1
    }
}

impl std::fmt::Display for Shape {
    /// `(2, 3)` as PyTorch prints a shape; a vector `(4,)`, a scalar `()`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ds: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        match ds.len() {
            1 => write!(f, "({},)", ds[0]),
            _ => write!(f, "({})", ds.join(", ")),
        }
    }
}

/// A change of a value's shape that leaves its data in place.
#[derive(Clone, Debug, PartialEq)]
pub enum Reshape {
    /// `view(d1, …)(x)`: the new shape (`-1` resolved by inference, kept as written).
    View(Vec<i64>),
    /// `unsqueeze(x, i)`: a new axis of size 1 at `i` (PyTorch's numbering, the fact axis 0).
    Unsqueeze(i64),
    /// `squeeze(x[, i])`: drops axis `i`, or every axis, of size 1.
    Squeeze(Option<i64>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Per-fact matrix product (shaped embeddings; PyTorch's `matmul` on each fact's tensor).
    MatMul,
    Pow,
    /// Comparisons: 1 where they hold, else 0, element-wise; no gradient.
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

    /// `a op b` on numbers (comparisons give 1 or 0), as the reference evaluates it.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        let holds = |c: bool| c as u8 as f64;
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            // A product of 1 × 1 matrices: the only `@` of single numbers.
            BinOp::MatMul => a * b,
            BinOp::Pow => a.powf(b),
            BinOp::Eq => holds(a == b),
            BinOp::Ne => holds(a != b),
            BinOp::Lt => holds(a < b),
            BinOp::Le => holds(a <= b),
            BinOp::Gt => holds(a > b),
            BinOp::Ge => holds(a >= b),
        }
    }

    /// The same operator on the AST.
    pub fn from_ast(op: nrp_syntax::ast::BinOp) -> BinOp {
        use nrp_syntax::ast::BinOp as A;
        match op {
            A::Add => BinOp::Add,
            A::Sub => BinOp::Sub,
            A::Mul => BinOp::Mul,
            A::Div => BinOp::Div,
            A::MatMul => BinOp::MatMul,
            A::Pow => BinOp::Pow,
            A::Eq => BinOp::Eq,
            A::Ne => BinOp::Ne,
            A::Lt => BinOp::Lt,
            A::Le => BinOp::Le,
            A::Gt => BinOp::Gt,
            A::Ge => BinOp::Ge,
        }
    }
}

/// Element-wise functions and `Concat` (not modules: no parameters, no numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Exp,
    Log,
    Sqrt,
    Abs,
    Relu,
    Sigmoid,
    Tanh,
    /// `torch.round`: ties to even; a zero gradient.
    Round,
    Concat,
}

impl Func {
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "exp" => Func::Exp,
            "log" => Func::Log,
            "sqrt" => Func::Sqrt,
            "abs" => Func::Abs,
            "relu" => Func::Relu,
            "sigmoid" => Func::Sigmoid,
            "tanh" => Func::Tanh,
            "round" => Func::Round,
            "Concat" | "concat" | "cat" => Func::Concat,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Relu => "relu",
            Func::Sigmoid => "sigmoid",
            Func::Tanh => "tanh",
            Func::Round => "round",
            Func::Concat => "Concat",
        }
    }
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// The embedding of body atom `i`.
    Emb(usize),
    /// Content values of the match (`[col, ..]`), in order.
    /// With a code table's key (`crate::codes`) when the encode is the input of a module
    /// (`[Embedding(3, 8)(dept)]`): then a column holding strings becomes integer codes.
    Encode(Vec<Term>, Option<String>),
    /// A number (dimension 1).
    Const(f64),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a op1 b op2 c …` evaluated left to right, `((a op1 b) op2 c) …`: the parser's
    /// n-ary `+ -` and `* /` chains. A flat sum of thousands of terms stays one node, so
    /// no walk over expressions recurses once per term.
    Chain(Box<Expr>, Vec<(BinOp, Expr)>),
    Func(Func, Vec<Expr>),
    Apply(ModuleId, Vec<Expr>),
    /// The value of a `Tensor` module (`z * Gate`): one row, shared by every match.
    Param(ModuleId),
    /// A union branch's constant embedding (`Keys(v; 0) | Partial(v; z)`): the constant in
    /// every coordinate, as many as the union's other branches bind (1 when none does).
    Fill(f64),
    /// The same values with another shape (`view`, `unsqueeze`, `squeeze`).
    Reshape(Reshape, Box<Expr>),
    /// `transpose(x)`: a vector becomes a column (`(d,)` → `(d, 1)`), a matrix's last two
    /// axes swap (RelaNN's `smart_transpose`).
    Transpose(Box<Expr>),
}

impl Expr {
    /// Visits every node, children before parents.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        match &self.kind {
            ExprKind::Neg(a) | ExprKind::Reshape(_, a) | ExprKind::Transpose(a) => a.walk(f),
            ExprKind::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f)
            }
            ExprKind::Chain(first, rest) => {
                first.walk(f);
                rest.iter().for_each(|(_, x)| x.walk(f))
            }
            ExprKind::Func(_, args) | ExprKind::Apply(_, args) => {
                args.iter().for_each(|a| a.walk(f))
            }
            _ => {}
        }
        f(self)
    }

    /// The direct sub-expressions, in evaluation order.
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        match &mut self.kind {
            ExprKind::Neg(a) | ExprKind::Reshape(_, a) | ExprKind::Transpose(a) => vec![&mut **a],
            ExprKind::Binary(_, a, b) => vec![&mut **a, &mut **b],
            ExprKind::Chain(first, rest) => std::iter::once(&mut **first)
                .chain(rest.iter_mut().map(|(_, x)| x))
                .collect(),
            ExprKind::Func(_, xs) | ExprKind::Apply(_, xs) => xs.iter_mut().collect(),
            ExprKind::Emb(_)
            | ExprKind::Encode(..)
            | ExprKind::Const(_)
            | ExprKind::Param(_)
            | ExprKind::Fill(_) => vec![],
        }
    }

    /// The modules the expression (transitively) applies or reads (`Tensor` values).
    pub fn modules(&self) -> Vec<ModuleId> {
        let mut out = vec![];
        self.walk(&mut |e| {
            if let ExprKind::Apply(m, _) | ExprKind::Param(m) = e.kind {
                out.push(m)
            }
        });
        out
    }
}

/// A module instance: one set of weights per instance.
#[derive(Clone, Debug)]
pub struct Module {
    /// Parameter-name prefix: `Lin1`, `Mlp.0`, `H.1`.
    pub name: String,
    pub kind: ModuleKind,
    pub span: Span,
    /// (statement offset, allocation sequence): instances are initialised in this order —
    /// program text order, and inside one statement evaluation order (innermost first), as
    /// `torch.nn.Sequential` constructs its children.
    pub created_at: (usize, usize),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModuleKind {
    Linear {
        input: usize,
        output: usize,
        bias: bool,
    },
    Embedding {
        num: usize,
        dim: usize,
    },
    /// `HashBucketTextEncoder(buckets, dim)` applied to one content column (`crate::text`):
    /// the mean of the `[buckets, dim]` table's rows of the column's tokens' buckets.
    HashText {
        buckets: usize,
        dim: usize,
    },
    LayerNorm {
        dim: usize,
    },
    Dropout {
        p: f64,
    },
    ReLU,
    LeakyReLU {
        slope: f64,
    },
    ELU {
        alpha: f64,
    },
    GELU,
    Sigmoid,
    Tanh,
    Softmax,
    LogSoftmax,
    Identity,
    OneHot {
        n: usize,
    },
    /// Sums each of `heads` consecutive blocks of coordinates (`d → heads`): per-head dot
    /// products are `HeadSum(h)(q * k)`.
    HeadSum {
        heads: usize,
    },
    /// Repeats each coordinate `repeats` times in place (`d → d · repeats`), so that per-head
    /// weights meet their head's block: `Repeat(d / h)(alpha) * v`.
    Repeat {
        repeats: usize,
    },
    ArgMax,
    /// `Tensor(shape…[, fill])`: a free parameter used as a value, initialised to `fill`.
    /// Sema admits a scalar (`[1]`) or a vector (`[d]`, `[1, d]`): its last extent is the
    /// dimension, shared by every fact.
    Tensor {
        shape: Vec<usize>,
        fill: f64,
    },
    CrossEntropyLoss,
    MSELoss,
    L1Loss,
    BCEWithLogitsLoss,
    /// On probabilities in [0, 1], element-wise like `MSELoss`.
    BCELoss,
    /// On log-probabilities with class-index targets, like `CrossEntropyLoss`.
    NLLLoss,
}

pub use nrp_params::ParamSpec;

impl ModuleKind {
    /// Applied value by value: the output has the input's shape (any shape).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            ModuleKind::Dropout { .. }
                | ModuleKind::ReLU
                | ModuleKind::LeakyReLU { .. }
                | ModuleKind::ELU { .. }
                | ModuleKind::GELU
                | ModuleKind::Sigmoid
                | ModuleKind::Tanh
                | ModuleKind::Identity
        )
    }

    pub fn is_loss(&self) -> bool {
        matches!(
            self,
            ModuleKind::CrossEntropyLoss
                | ModuleKind::MSELoss
                | ModuleKind::L1Loss
                | ModuleKind::BCEWithLogitsLoss
                | ModuleKind::BCELoss
                | ModuleKind::NLLLoss
        )
    }

    /// Number of inputs when applied (a `Tensor` is not applied: it is a value).
    pub fn inputs(&self) -> usize {
        match self {
            ModuleKind::Tensor { .. } => 0,
            k if k.is_loss() => 2,
            _ => 1,
        }
    }

    pub fn params(&self, prefix: &str) -> Vec<ParamSpec> {
        use nrp_params::Init;
        let p = |suffix: &str, shape: Vec<usize>, init: Init| ParamSpec {
            name: format!("{prefix}.{suffix}"),
            shape,
            init,
        };
        match *self {
            ModuleKind::Tensor { ref shape, fill } => {
                vec![p("weight", shape.clone(), Init::Constant(fill))]
            }
            ModuleKind::Linear {
                input,
                output,
                bias,
            } => {
                let mut v = vec![p(
                    "weight",
                    vec![output, input],
                    Init::KaimingUniform { fan_in: input },
                )];
                if bias {
                    v.push(p("bias", vec![output], Init::linear_bias(input)));
                }
                v
            }
            ModuleKind::Embedding { num, dim } => {
                vec![p("weight", vec![num, dim], Init::embedding())]
            }
            // `nn.Embedding` inside the module, as RelaNN's state dict names it.
            ModuleKind::HashText { buckets, dim } => {
                vec![p("embed.weight", vec![buckets, dim], Init::embedding())]
            }
            ModuleKind::LayerNorm { dim } => vec![
                p("weight", vec![dim], Init::Ones),
                p("bias", vec![dim], Init::Zeros),
            ],
            _ => vec![],
        }
    }

    /// How the module reads in a rule listing.
    pub fn describe(&self) -> String {
        match self {
            ModuleKind::Linear {
                input,
                output,
                bias: true,
            } => format!("Linear({input}, {output})"),
            ModuleKind::Linear {
                input,
                output,
                bias: false,
            } => format!("Linear({input}, {output}, bias=False)"),
            ModuleKind::Embedding { num, dim } => format!("Embedding({num}, {dim})"),
            ModuleKind::HashText { buckets, dim } => {
                format!("HashBucketTextEncoder({buckets}, {dim})")
            }
            ModuleKind::LayerNorm { dim } => format!("LayerNorm({dim})"),
            ModuleKind::Dropout { p } => format!("Dropout({})", nrp_data::format_float(*p)),
            ModuleKind::LeakyReLU { slope } => {
                format!("LeakyReLU({})", nrp_data::format_float(*slope))
            }
            ModuleKind::ELU { alpha } => format!("ELU({})", nrp_data::format_float(*alpha)),
            ModuleKind::OneHot { n } => format!("OneHot({n})"),
            ModuleKind::HeadSum { heads } => format!("HeadSum({heads})"),
            ModuleKind::Repeat { repeats } => format!("Repeat({repeats})"),
            ModuleKind::Softmax => "Softmax(-1)".into(),
            ModuleKind::Tensor { shape, fill } => {
                let mut args: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                if *fill != 0.0 {
                    // Written with a point, so that it reads back as the fill.
                    let f = nrp_data::format_float(*fill);
                    args.push(if f.contains(['.', 'e']) {
                        f
                    } else {
                        format!("{f}.0")
                    });
                }
                format!("Tensor({})", args.join(", "))
            }
            ModuleKind::LogSoftmax => "LogSoftmax(-1)".into(),
            k => format!("{k:?}()"),
        }
    }
}

/// Executable statements, in program order.
#[derive(Clone, Debug)]
pub enum Stmt {
    Fit {
        loss: RelId,
        params: FitParams,
        span: Span,
    },
    Pred {
        rel: RelId,
        span: Span,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optimizer {
    Adam,
    AdamW,
    Sgd,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FitParams {
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub optimizer: Optimizer,
    /// SGD momentum.
    pub momentum: f64,
    /// Seeds this fit's randomness (dropout); default: the run's `--seed`.
    pub seed: Option<u64>,
    /// Evaluate the zero-ary `?pred` relations every this many epochs (0: never).
    pub eval_every: usize,
    /// Stop after this many evaluations without improvement of the monitored value.
    pub patience: Option<usize>,
    /// A zero-ary `?pred` relation to maximise: the best evaluation's weights are kept.
    pub select: Option<RelId>,
    /// Modules whose parameters get `weight_decay` (empty: all).
    pub decay: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fragments {
    pub zero_ary: bool,
    pub monadic: bool,
    pub frontier_guarded: bool,
    pub disjunction_free: bool,
}

impl Fragments {
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = vec![];
        if self.zero_ary {
            v.push("zero-ary");
        }
        if self.monadic {
            v.push("monadic");
        }
        if self.frontier_guarded {
            v.push("frontier-guarded");
        }
        if self.disjunction_free {
            v.push("disjunction-free");
        }
        v
    }
}
