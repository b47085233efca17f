//! Random NRP programs for the property tests (shared with nrp-sema's `tests/props.rs`).
//!
//! No dependencies: a SplitMix64 generator, an AST generator that follows the grammar in
//! `parser.rs`, and a renderer that writes an AST as text with *minimal* parentheses (plus
//! random redundant ones), random layout, comments and quoting, so that parsing the text
//! must give back exactly the generated AST. In `plausible` mode the generator binds its
//! variables, uses catalogue modules with sensible arguments and orders rules mostly
//! without recursion, so that many programs pass `nrp_sema::check`.

#![allow(dead_code)]

use nrp_syntax::Span;
use nrp_syntax::ast::*;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to drive a generator.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
}

/// Runs `cases` cases of a property, each from its own seed; on a failure, says which seed
/// to rerun (`NRP_PROP_SEED=<seed> cargo test …` runs just that one). `NRP_PROP_CASES`
/// overrides the number of cases.
pub fn for_each_seed(name: &str, cases: usize, mut f: impl FnMut(&mut Rng)) {
    let seeds: Vec<u64> = match std::env::var("NRP_PROP_SEED") {
        Ok(s) => vec![s.parse().expect("NRP_PROP_SEED is a u64")],
        Err(_) => {
            let cases = std::env::var("NRP_PROP_CASES")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(cases);
            let mut base = Rng::new(name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            }));
            (0..cases).map(|_| base.next_u64()).collect()
        }
    };
    for seed in seeds {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut Rng::new(seed))));
        if let Err(e) = run {
            eprintln!("property `{name}` failed for seed {seed}; rerun with NRP_PROP_SEED={seed}");
            std::panic::resume_unwind(e);
        }
    }
}

// ---- random token sequences -------------------------------------------------------------

/// Tokens of the language (and a few near misses), for token soups.
pub const TOKENS: &[&str] = &[
    "H",
    "A",
    "Edge",
    "x",
    "v",
    "z",
    "_",
    "Linear",
    "ReLU",
    "sum",
    "mean",
    "count",
    "inp",
    "epochs",
    "lr",
    "bias",
    "False",
    "0",
    "1",
    "16",
    "1.",
    "1.5",
    "2e-3",
    "1E+2",
    "5e-4",
    "007",
    "3e",
    "\"s\"",
    "'q'",
    "\"a\\\"b\"",
    "'\\n\\t'",
    "\"é\"",
    "\"\"",
    "?fit",
    "?pred",
    "?train",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    ".",
    ":-",
    "|",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "**",
    "#lang:relnn\n",
    "# c\n",
];

/// Rarer junk: stray characters, unterminated strings, a lone `?`, multi-byte text.
pub const JUNK: &[&str] = &[
    ":", "!", "?", "\"", "'", "\"abc", "'\\q'", "\\", "@", "é", "日本", "\u{0}", "\t", "\r", "\n",
    "#", "..", "1.e5", "\u{feff}", "\"\n\"",
];

pub fn token_soup(rng: &mut Rng) -> String {
    let n = rng.below(40);
    let mut out = String::new();
    for _ in 0..n {
        let t = if rng.one_in(12) {
            rng.pick(JUNK)
        } else {
            rng.pick(TOKENS)
        };
        out.push_str(t);
        out.push_str(rng.pick(&[" ", " ", " ", "", "\n", "\t"]));
    }
    out
}

/// Random byte edits of a text, then read back as UTF-8 (lossily, as the fuzzer does).
pub fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                let byte = rng.pick(b"()[],;.:-|=!<>+*/?#\"'\\_ \n0123456789eE\xc3\xa9\xff\x80");
                b.insert(i, byte);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(8)).min(len);
                b.drain(i..j);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(len);
                let piece = b[i..j].to_vec();
                let at = rng.below(len + 1);
                b.splice(at..at, piece);
            }
            4 => {
                let i = rng.below(len + 1);
                let t = rng.pick(TOKENS).as_bytes();
                b.splice(i..i, t.iter().copied());
            }
            5 if len > 0 => {
                b.truncate(rng.below(len));
            }
            _ if len > 1 => {
                let (i, j) = (rng.below(len), rng.below(len));
                b.swap(i, j);
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ---- AST generation ----------------------------------------------------------------------

fn id(name: &str) -> Ident {
    Ident {
        name: name.to_string(),
        span: Span::default(),
    }
}

fn e(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn num(n: &str) -> Expr {
    e(ExprKind::Number(n.to_string()))
}

fn call(callee: Expr, args: Vec<Expr>) -> Expr {
    let args = args
        .into_iter()
        .map(|value| Arg { name: None, value })
        .collect();
    e(ExprKind::Call {
        callee: Box::new(callee),
        args,
    })
}

fn named(name: &str) -> Expr {
    e(ExprKind::Ident(name.to_string()))
}

const NUMBERS: &[&str] = &[
    "0", "1", "2", "4", "16", "1.5", "0.01", "2e-3", "1E+2", "5e-4", "007", "3.0", "1e9",
];
const STR_CHARS: &[&str] = &[
    "a", "b", " ", "\"", "'", "\\", "\n", "\t", "é", "#", ".", ":-", "日", "(",
];
const NAMES: &[&str] = &[
    "H", "A", "B", "x", "y", "z", "v", "w", "Lin1", "sum", "mean", "max", "min", "count", "ReLU",
    "Linear", "inp", "epochs", "True", "False", "exp", "Concat", "h_2", "X9", "ζ_1", "Größe",
];
const CMPS: &[CmpOp] = &[
    CmpOp::Eq,
    CmpOp::Ne,
    CmpOp::Lt,
    CmpOp::Le,
    CmpOp::Gt,
    CmpOp::Ge,
];
const BINOPS: &[BinOp] = &[
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::Div,
    BinOp::MatMul,
    BinOp::Pow,
    BinOp::Eq,
    BinOp::Ne,
    BinOp::Lt,
    BinOp::Le,
    BinOp::Gt,
    BinOp::Ge,
];

/// Content columns and embedding of the relations a plausible program reads.
const INPUTS: &[(&str, usize, bool)] = &[
    ("Edge", 2, false),
    ("Feat", 1, true),
    ("Node", 2, false),
    ("Lab", 1, true),
];
const CTORS: &[(&str, &[&[&str]])] = &[
    (
        "Linear",
        &[&["4", "4"], &["4", "2"], &["k", "4"], &["1", "4"]],
    ),
    ("Embedding", &[&["10", "4"]]),
    ("LayerNorm", &[&["4"]]),
    ("Dropout", &[&["0.5"], &[]]),
    ("ReLU", &[&[]]),
    ("LeakyReLU", &[&["0.1"], &[]]),
    ("ELU", &[&[]]),
    ("GELU", &[&[]]),
    ("Sigmoid", &[&[]]),
    ("Tanh", &[&[]]),
    ("Softmax", &[&["-1"], &["1"]]),
    ("LogSoftmax", &[&["1"]]),
    ("Identity", &[&[]]),
    ("OneHot", &[&["4"], &["k"]]),
    ("ArgMax", &[&[]]),
    ("Frob", &[&["1"]]),
];
const FUNCS: &[&str] = &["exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"];
const AGGS: &[&str] = &["sum", "mean", "max", "min", "count"];
const LOSSES: &[&str] = &["CrossEntropyLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss"];

pub struct Gen<'r> {
    pub rng: &'r mut Rng,
    /// Bias towards programs that pass semantic checks.
    pub plausible: bool,
    /// Derived relations so far: name, content arity.
    derived: Vec<(String, usize)>,
    /// Named modules and constants defined so far.
    modules: Vec<String>,
    consts: Vec<String>,
    /// In the rule being generated: bound content variables and embedding variables.
    content: Vec<String>,
    embs: Vec<String>,
    /// The next head is zero-ary (a `?fit` loss).
    zero_ary_head: bool,
}

impl<'r> Gen<'r> {
    pub fn new(rng: &'r mut Rng, plausible: bool) -> Self {
        Gen {
            rng,
            plausible,
            derived: vec![],
            modules: vec![],
            consts: vec![],
            content: vec![],
            embs: vec![],
            zero_ary_head: false,
        }
    }

    pub fn program(&mut self) -> Program {
        let mut statements = vec![];
        if self.plausible {
            statements.push(Statement::Def(Def {
                name: id("k"),
                tparams: vec![],
                value: num(self.rng.pick(&["4", "2", "1"])),
                span: Span::default(),
            }));
            self.consts.push("k".into());
        }
        for _ in 0..1 + self.rng.below(6) {
            let s = self.statement();
            statements.push(s);
        }
        Program { statements }
    }

    fn name(&mut self) -> String {
        self.rng.pick(NAMES).to_string()
    }

    fn statement(&mut self) -> Statement {
        match self.rng.below(10) {
            0 | 1 => {
                let (name, value) = if self.plausible {
                    self.plausible_def()
                } else {
                    (self.name(), self.expr(4))
                };
                Statement::Def(Def {
                    name: id(&name),
                    tparams: vec![],
                    value,
                    span: Span::default(),
                })
            }
            2 => {
                let params = self.fit_params();
                let rule = if self.plausible && !self.rng.one_in(4) {
                    self.loss_rule()
                } else {
                    self.rule()
                };
                Statement::Fit(Fit {
                    params,
                    rule,
                    span: Span::default(),
                })
            }
            3 => Statement::Pred(self.rule()),
            _ => Statement::Rule(self.rule()),
        }
    }

    fn plausible_def(&mut self) -> (String, Expr) {
        let n = self.modules.len() + self.consts.len();
        match self.rng.below(3) {
            0 => {
                let name = format!("c{n}");
                let value = self.const_expr(3);
                self.consts.push(name.clone());
                (name, value)
            }
            1 => {
                let name = format!("M{n}");
                let value = self.ctor();
                self.modules.push(name.clone());
                (name, value)
            }
            _ => {
                // A composite module over `inp`.
                let name = format!("C{n}");
                let mut v = named("inp");
                for _ in 0..1 + self.rng.below(3) {
                    v = call(self.ctor(), vec![v]);
                }
                self.modules.push(name.clone());
                (name, v)
            }
        }
    }

    fn const_expr(&mut self, depth: usize) -> Expr {
        if depth == 0 || self.rng.one_in(3) {
            return if !self.consts.is_empty() && self.rng.one_in(2) {
                named(&self.rng.pick(&self.consts).clone())
            } else {
                num(self.rng.pick(NUMBERS))
            };
        }
        if self.rng.one_in(5) {
            return e(ExprKind::Neg(Box::new(self.const_expr(depth - 1))));
        }
        let op = self.rng.pick(&BINOPS[..5]);
        self.operation(op, |g| g.const_expr(depth - 1))
    }

    /// `a op b`; for `+ - * /` a chain of one to three operators of `op`'s level, as the
    /// parser reads `a + b - c`.
    fn operation(&mut self, op: BinOp, mut operand: impl FnMut(&mut Self) -> Expr) -> Expr {
        if !op.chains() {
            let a = operand(self);
            let b = operand(self);
            return e(ExprKind::Binary(op, Box::new(a), Box::new(b)));
        }
        let level: &[BinOp] = if matches!(op, BinOp::Add | BinOp::Sub) {
            &[BinOp::Add, BinOp::Sub]
        } else {
            &[BinOp::Mul, BinOp::Div, BinOp::MatMul]
        };
        let first = operand(self);
        let mut rest = vec![(op, operand(self))];
        for _ in 0..self.rng.below(3) {
            let o = self.rng.pick(level);
            rest.push((o, operand(self)));
        }
        e(ExprKind::Chain(Box::new(first), rest))
    }

    /// A module constructor call such as `Linear(4, 2)`.
    fn ctor(&mut self) -> Expr {
        let ctors = if self.plausible {
            &CTORS[..CTORS.len() - 1]
        } else {
            CTORS
        };
        let (name, arg_sets) = self.rng.pick(ctors);
        let args = self.rng.pick(arg_sets);
        let mut args: Vec<Arg> = args
            .iter()
            .map(|a| Arg {
                name: None,
                value: if let Some(n) = a.strip_prefix('-') {
                    e(ExprKind::Neg(Box::new(num(n))))
                } else if a.starts_with(|c: char| c.is_ascii_digit()) {
                    num(a)
                } else {
                    named(a)
                },
            })
            .collect();
        if name == "Linear" && self.rng.one_in(4) {
            args.push(Arg {
                name: Some(id("bias")),
                value: named(self.rng.pick(&["False", "True"])),
            });
        }
        e(ExprKind::Call {
            callee: Box::new(named(name)),
            args,
        })
    }

    fn fit_params(&mut self) -> Vec<Param> {
        let mut params = vec![];
        for _ in 0..self.rng.below(4) {
            let (name, value) = if self.plausible {
                match self.rng.below(8) {
                    0 => ("epochs", num("3")),
                    1 => ("lr", num("0.01")),
                    2 => ("weight_decay", num("5e-4")),
                    3 => (
                        "optimizer",
                        named(self.rng.pick(&["adam", "sgd", "rmsprop"])),
                    ),
                    4 => ("seed", num("7")),
                    5 => ("patience", num("2")),
                    6 => (
                        "select",
                        named(
                            &self
                                .derived
                                .last()
                                .map(|d| d.0.clone())
                                .unwrap_or("Acc".into()),
                        ),
                    ),
                    _ => ("eval_every", self.const_expr(2)),
                }
            } else {
                (
                    self.rng.pick(&["epochs", "lr", "x", "select"]),
                    self.expr(3),
                )
            };
            params.push(Param {
                name: id(name),
                value,
            });
        }
        params
    }

    fn term(&mut self) -> Term {
        match self.rng.below(10) {
            0 => Term::Wildcard(Span::default()),
            1 => {
                let n = self.rng.pick(NUMBERS);
                let n = if self.rng.one_in(3) {
                    format!("-{n}")
                } else {
                    n.to_string()
                };
                Term::Const(Literal::Number(n), Span::default())
            }
            2 => Term::Const(Literal::Str(self.string()), Span::default()),
            _ => {
                let name = if self.plausible {
                    self.rng.pick(&["a", "b", "c", "d"]).to_string()
                } else {
                    self.name()
                };
                // `True`/`False` in a term are the constants 1/0, as the parser reads them.
                match name.as_str() {
                    "True" => Term::Const(Literal::Number("1".into()), Span::default()),
                    "False" => Term::Const(Literal::Number("0".into()), Span::default()),
                    _ => Term::Var(id(&name)),
                }
            }
        }
    }

    fn string(&mut self) -> String {
        let mut s = String::new();
        for _ in 0..self.rng.below(5) {
            s.push_str(self.rng.pick(STR_CHARS));
        }
        s
    }

    fn atom(&mut self, name: &str, arity: usize, emb: bool) -> Atom {
        let terms: Vec<Term> = (0..arity).map(|_| self.term()).collect();
        for t in &terms {
            if let Term::Var(v) = t {
                self.content.push(v.name.clone());
            }
        }
        let emb = if emb {
            let name = if self.plausible {
                let free: Vec<&str> = ["x", "y", "z", "w"]
                    .into_iter()
                    .filter(|v| !self.embs.iter().any(|e| e == v))
                    .collect();
                if free.is_empty() || self.rng.one_in(8) {
                    "_".to_string()
                } else {
                    self.rng.pick(&free).to_string()
                }
            } else {
                self.name()
            };
            self.embs.push(name.clone());
            Some(match name.as_str() {
                "True" => Emb::Const(Literal::Number("1".into()), Span::default()),
                "False" => Emb::Const(Literal::Number("0".into()), Span::default()),
                _ => Emb::Var(id(&name)),
            })
        } else {
            None
        };
        Atom {
            name: id(name),
            targs: vec![],
            call: None,
            terms,
            emb,
            span: Span::default(),
        }
    }

    /// A body atom: an input table or (mostly) an earlier derived relation.
    fn body_atom(&mut self) -> Atom {
        if !self.plausible {
            let name = self.rng.pick(&NAMES[..8]).to_string();
            let arity = self.rng.below(4);
            let emb = self.rng.one_in(2);
            return self.atom(&name, arity, emb);
        }
        if !self.derived.is_empty() && self.rng.one_in(2) {
            let (name, arity) = self.rng.pick(&self.derived).clone();
            let emb = !self.rng.one_in(5);
            return self.atom(&name, arity, emb);
        }
        let (name, arity, emb) = self.rng.pick(INPUTS);
        let emb = emb && !self.rng.one_in(5);
        self.atom(name, arity, emb)
    }

    fn rule(&mut self) -> Rule {
        self.content.clear();
        self.embs.clear();
        let body = if self.rng.one_in(4) {
            // A union: single atoms of one arity.
            let (name, arity, _) = self.rng.pick(INPUTS);
            let n = 2 + self.rng.below(2);
            let mut atoms: Vec<Atom> = vec![];
            for i in 0..n {
                let nm = if self.plausible && i > 0 && !self.derived.is_empty() {
                    let d = self.rng.pick(&self.derived).clone();
                    if d.1 == arity { d.0 } else { name.to_string() }
                } else {
                    name.to_string()
                };
                let mut a = self.atom(&nm, arity, true);
                if self.plausible && i > 0 && !self.rng.one_in(8) {
                    // Branches bind the same content variables, as a union's head needs.
                    a.terms = atoms[0].terms.clone();
                }
                atoms.push(a);
            }
            if self.plausible {
                // Only the variables every branch binds are safe in the head.
                self.content = atoms[0]
                    .terms
                    .iter()
                    .filter_map(|t| match t {
                        Term::Var(v) => Some(v.name.clone()),
                        _ => None,
                    })
                    .collect();
            }
            Body::Union(atoms)
        } else {
            let atoms: Vec<Atom> = (0..1 + self.rng.below(3))
                .map(|_| self.body_atom())
                .collect();
            let filters = (0..self.rng.below(3))
                .map(|_| Filter {
                    lhs: Expr::of_term(&self.filter_term()),
                    op: self.rng.pick(CMPS),
                    rhs: Expr::of_term(&self.filter_term()),
                    span: Span::default(),
                })
                .collect();
            Body::Conj { atoms, filters }
        };
        let head = self.head();
        Rule {
            head,
            body,
            span: Span::default(),
        }
    }

    /// A filter operand: in plausible mode a bound variable or a constant.
    fn filter_term(&mut self) -> Term {
        if self.plausible && !self.rng.one_in(10) {
            if !self.content.is_empty() && !self.rng.one_in(4) {
                return Term::Var(id(&self.rng.pick(&self.content)));
            }
            let n = self.rng.pick(NUMBERS);
            return Term::Const(Literal::Number(n.to_string()), Span::default());
        }
        self.term()
    }

    fn head(&mut self) -> Head {
        let (name, arity) = if self.plausible && self.zero_ary_head {
            let name = format!("R{}", self.derived.len());
            self.derived.push((name.clone(), 0));
            (name, 0)
        } else if self.plausible {
            // Mostly a new relation (so that rules come in dependency order), sometimes an
            // earlier one (several rules with one head, or recursion).
            if !self.derived.is_empty() && self.rng.one_in(6) {
                self.rng.pick(&self.derived).clone()
            } else {
                let name = format!("R{}", self.derived.len());
                let arity = self.rng.below(3).min(self.content.len());
                self.derived.push((name.clone(), arity));
                (name, arity)
            }
        } else {
            (self.name(), self.rng.below(3))
        };
        let terms = (0..arity)
            .map(|_| {
                if self.plausible && !self.content.is_empty() && !self.rng.one_in(30) {
                    Term::Var(id(&self.rng.pick(&self.content).clone()))
                } else {
                    self.term()
                }
            })
            .collect();
        let expr = if self.rng.one_in(5) {
            None
        } else if self.plausible && self.rng.one_in(3) {
            // One aggregation, outermost (as sema wants it).
            let agg = self.rng.pick(AGGS);
            Some(call(named(agg), vec![self.expr(3)]))
        } else {
            Some(self.expr(4))
        };
        Head {
            name: id(&name),
            tparams: vec![],
            terms,
            expr,
            decodes: vec![],
            span: Span::default(),
        }
    }

    /// `L(; Loss()(p, y)) :- …`, a zero-ary loss head for `?fit`.
    fn loss_rule(&mut self) -> Rule {
        self.zero_ary_head = true;
        let mut r = self.rule();
        self.zero_ary_head = false;
        let a = self.emb_var();
        let b = self.emb_var();
        let loss = call(call(named(self.rng.pick(LOSSES)), vec![]), vec![a, b]);
        r.head.terms.clear();
        r.head.expr = Some(loss);
        r
    }

    fn emb_var(&mut self) -> Expr {
        let bound: Vec<String> = self.embs.iter().filter(|e| *e != "_").cloned().collect();
        if self.rng.one_in(200) {
            named(self.rng.pick(&["x", "y", "z", "t"]))
        } else if bound.is_empty() {
            num(self.rng.pick(NUMBERS))
        } else {
            named(&self.rng.pick(&bound))
        }
    }

    pub fn expr(&mut self, depth: usize) -> Expr {
        if depth == 0 || self.rng.one_in(4) {
            return self.leaf();
        }
        let d = depth - 1;
        match self.rng.below(if self.plausible { 12 } else { 7 }) {
            0 => e(ExprKind::Neg(Box::new(self.expr(d)))),
            1 | 2 => {
                let op = self.rng.pick(BINOPS);
                self.operation(op, |g| g.expr(d))
            }
            3 if !self.plausible => {
                // Any callee, any arguments, keyword or not.
                let callee = self.expr(d);
                let args = (0..self.rng.below(4))
                    .map(|_| Arg {
                        name: if self.rng.one_in(3) {
                            Some(id(&self.name()))
                        } else {
                            None
                        },
                        value: self.expr(d),
                    })
                    .collect();
                e(ExprKind::Call {
                    callee: Box::new(callee),
                    args,
                })
            }
            3 | 4 => {
                let m = self.ctor();
                call(m, vec![self.expr(d)])
            }
            5 if !self.plausible => {
                let f = self.rng.pick(AGGS);
                call(named(f), vec![self.expr(d)])
            }
            6 => {
                let f = self.rng.pick(FUNCS);
                call(named(f), vec![self.expr(d)])
            }
            7 if !self.modules.is_empty() => {
                let m = self.rng.pick(&self.modules).clone();
                call(named(&m), vec![self.expr(d)])
            }
            8 => {
                let args = (0..1 + self.rng.below(3)).map(|_| self.expr(d)).collect();
                call(named("Concat"), args)
            }
            _ => self.leaf(),
        }
    }

    fn leaf(&mut self) -> Expr {
        if !self.plausible {
            return match self.rng.below(5) {
                0 => num(self.rng.pick(NUMBERS)),
                1 => e(ExprKind::Str(self.string())),
                2 => e(ExprKind::Encode(
                    (0..self.rng.below(3)).map(|_| self.term()).collect(),
                )),
                _ => named(&self.name()),
            };
        }
        match self.rng.below(8) {
            0 => num(self.rng.pick(NUMBERS)),
            1 if !self.consts.is_empty() => named(&self.rng.pick(&self.consts).clone()),
            2 if !self.content.is_empty() => {
                let n = 1 + self.rng.below(2);
                let ts = (0..n)
                    .map(|_| Term::Var(id(&self.rng.pick(&self.content).clone())))
                    .collect();
                e(ExprKind::Encode(ts))
            }
            _ => self.emb_var(),
        }
    }
}

// ---- rendering ---------------------------------------------------------------------------

/// Writes a program as text that must parse back to exactly `p` (spans aside): minimal
/// parentheses by precedence, plus random redundant ones, random layout and quoting.
pub fn render(rng: &mut Rng, p: &Program) -> String {
    let mut r = Renderer {
        rng,
        toks: Vec::new(),
    };
    if r.rng.one_in(4) {
        r.toks.push("#lang:relnn\n".into());
    }
    for s in &p.statements {
        r.statement(s);
    }
    r.layout()
}

struct Renderer<'r> {
    rng: &'r mut Rng,
    toks: Vec<String>,
}

/// Precedence level of a node: an operand below its slot's level needs parentheses.
fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) if op.is_comparison() => 1,
        ExprKind::Chain(_, rest) if matches!(rest[0].0, BinOp::Add | BinOp::Sub) => 2,
        ExprKind::Chain(..) => 3,
        ExprKind::Neg(_) => 4,
        ExprKind::Binary(..) => 5,
        ExprKind::Call { .. } => 6,
        _ => 7,
    }
}

impl Renderer<'_> {
    fn t(&mut self, s: &str) {
        self.toks.push(s.to_string());
    }

    fn statement(&mut self, s: &Statement) {
        match s {
            Statement::Def(d) => {
                self.t(&d.name.name);
                self.t("=");
                self.expr(&d.value, 1);
            }
            Statement::Rule(r) => self.rule(r),
            Statement::Function(_) => unimplemented!("the generator writes no functions"),
            Statement::Pred(r) => {
                self.t("?pred");
                self.rule(r);
            }
            Statement::Fit(f) => {
                self.t("?fit");
                if !f.params.is_empty() || self.rng.one_in(3) {
                    self.t("<");
                    for (i, p) in f.params.iter().enumerate() {
                        if i > 0 {
                            self.t(",");
                        }
                        self.t(&p.name.name);
                        self.t("=");
                        self.expr(&p.value, 2);
                    }
                    self.t(">");
                }
                self.rule(&f.rule);
            }
        }
        self.t(".");
    }

    fn rule(&mut self, r: &Rule) {
        let h = &r.head;
        self.t(&h.name.name);
        self.t("(");
        self.terms(&h.terms);
        match &h.expr {
            Some(e) => {
                self.t(";");
                self.expr(e, 1);
            }
            None if self.rng.one_in(3) => self.t(";"),
            None => {}
        }
        self.t(")");
        self.t(":-");
        match &r.body {
            Body::Set(_) => unimplemented!("the generator writes no bounded sets"),
            Body::Union(atoms) => {
                for (i, a) in atoms.iter().enumerate() {
                    if i > 0 {
                        self.t("|");
                    }
                    self.atom(a);
                }
            }
            Body::Conj { atoms, filters } => {
                // Interleave atoms and filters; each keeps its own order.
                let (mut i, mut j) = (0, 0);
                while i < atoms.len() || j < filters.len() {
                    if i + j > 0 {
                        self.t(",");
                    }
                    let atom_next = j == filters.len() || (i < atoms.len() && self.rng.one_in(2));
                    if atom_next {
                        self.atom(&atoms[i]);
                        i += 1;
                    } else {
                        let f = &filters[j];
                        self.expr(&f.lhs, 2);
                        self.t(f.op.symbol());
                        self.expr(&f.rhs, 2);
                        j += 1;
                    }
                }
            }
        }
    }

    fn atom(&mut self, a: &Atom) {
        self.t(&a.name.name);
        self.t("(");
        self.terms(&a.terms);
        match &a.emb {
            Some(e) => {
                self.t(";");
                match e {
                    Emb::Var(v) => self.t(&v.name),
                    Emb::Const(l, _) => self.t(l.text()),
                }
            }
            None if self.rng.one_in(4) => self.t(";"),
            None => {}
        }
        self.t(")");
    }

    fn terms(&mut self, ts: &[Term]) {
        for (i, t) in ts.iter().enumerate() {
            if i > 0 {
                self.t(",");
            }
            self.term(t);
        }
    }

    fn term(&mut self, t: &Term) {
        match t {
            Term::Var(v) => self.t(&v.name),
            Term::Wildcard(_) => self.t("_"),
            Term::Const(Literal::Number(n), _) => match n.strip_prefix('-') {
                Some(rest) if self.rng.one_in(2) => {
                    self.t("-");
                    self.t(rest);
                }
                _ => self.t(n),
            },
            Term::Const(Literal::Str(s), _) => {
                let q = self.quote(s);
                self.toks.push(q);
            }
        }
    }

    fn quote(&mut self, s: &str) -> String {
        let q = if self.rng.one_in(2) { '"' } else { '\'' };
        let mut out = String::from(q);
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' if self.rng.one_in(2) => out.push_str("\\t"),
                '"' | '\'' if c == q || self.rng.one_in(2) => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out.push(q);
        out
    }

    /// `e` in a slot that needs at least precedence `min`.
    fn expr(&mut self, e: &Expr, min: u8) {
        if level(e) < min || self.rng.one_in(12) {
            self.t("(");
            self.expr_bare(e);
            self.t(")");
        } else {
            self.expr_bare(e);
        }
    }

    fn expr_bare(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Number(n) => self.t(n),
            ExprKind::Str(s) => {
                let q = self.quote(s);
                self.toks.push(q);
            }
            ExprKind::Ident(n) => self.t(n),
            ExprKind::Instance(..) | ExprKind::Splat(_) => {
                unimplemented!("the generator writes no templates")
            }
            ExprKind::Neg(x) => {
                self.t("-");
                self.expr(x, 4);
            }
            ExprKind::Binary(op, a, b) => {
                let (l, r) = if op.is_comparison() { (2, 2) } else { (6, 4) };
                self.expr(a, l);
                self.t(op.symbol());
                self.expr(b, r);
            }
            ExprKind::Chain(first, rest) => {
                // An operand of the same level is a nested chain: it needs parentheses.
                let min = level(e) + 1;
                self.expr(first, min);
                for (op, x) in rest {
                    self.t(op.symbol());
                    self.expr(x, min);
                }
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee, 6);
                self.t("(");
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.t(",");
                    }
                    if let Some(n) = &a.name {
                        self.t(&n.name);
                        self.t("=");
                    }
                    self.expr(&a.value, 1);
                }
                self.t(")");
            }
            ExprKind::Encode(ts) => {
                self.t("[");
                self.terms(ts);
                self.t("]");
            }
        }
    }

    /// Joins the tokens with random white space and comments, leaving none only where two
    /// tokens cannot run together.
    fn layout(&mut self) -> String {
        let mut out = String::new();
        for i in 0..self.toks.len() {
            let tok = &self.toks[i];
            if i > 0 {
                let sep = self.rng.pick(&[
                    " ",
                    " ",
                    " ",
                    " ",
                    "",
                    "",
                    "\n",
                    "\t",
                    "  ",
                    "\r\n",
                    " # note :- (\n",
                ]);
                let sep = if sep.is_empty() && must_separate(&out, tok) {
                    " "
                } else {
                    sep
                };
                out.push_str(sep);
            }
            out.push_str(tok);
        }
        out.push_str(self.rng.pick(&["", "\n", " ", "# end"]));
        out
    }
}

fn must_separate(before: &str, next: &str) -> bool {
    let (Some(a), Some(b)) = (before.chars().next_back(), next.chars().next()) else {
        return false;
    };
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    (word(a) && word(b))
        || matches!(
            (a, b),
            (':', '-') | ('=', '=') | ('!', '=') | ('<', '=') | ('>', '=') | ('*', '*') | ('?', _)
        )
        || (a == '\n' || b == '#')
        // A name touching `<` opens template arguments (`R<i>(…)`), not a comparison.
        || ((a.is_alphanumeric() || a == '_') && b == '<')
}
