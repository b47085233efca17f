//! The random program and database generator of the differential property tests
//! (`random_programs.rs`, `unoptimised.rs`), the engine-vs-reference check of one case, its
//! shrinker, and the gradient check of a case's loss relations.

use super::{Rng, SPREAD_FACTOR, differential};
use nrp_data::{Database, Table, Value};
use nrp_tensor::Cpu;
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    Int,
    Str,
    /// A float-valued column (an embedding column read as content).
    Num,
}

impl Ty {
    fn numeric(self) -> bool {
        self != Ty::Str
    }
}

#[derive(Clone, Debug)]
pub struct TableSpec {
    name: String,
    content: Vec<Ty>,
    emb: usize,
    rows: Vec<Vec<Value>>,
}

impl TableSpec {
    fn table(&self) -> Table {
        let mut cols: Vec<String> = (0..self.content.len()).map(|i| format!("c{i}")).collect();
        cols.extend((0..self.emb).map(|i| format!("x{i}")));
        Table::from_rows(&self.name, cols, &self.rows).unwrap()
    }
}

/// A random case: tables and program statements (one per line).
#[derive(Clone, Debug)]
pub struct Case {
    tables: Vec<TableSpec>,
    stmts: Vec<String>,
}

impl Case {
    pub fn text(&self) -> String {
        self.stmts.join("\n") + "\n"
    }
    pub fn database(&self) -> Database {
        Database::from_tables("random", self.tables.iter().map(TableSpec::table).collect()).unwrap()
    }
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            let mut cols: Vec<String> = (0..t.content.len()).map(|i| format!("c{i}")).collect();
            cols.extend((0..t.emb).map(|i| format!("x{i}")));
            let _ = writeln!(s, "table {} ({}):", t.name, cols.join(", "));
            for r in &t.rows {
                let cells: Vec<String> = r
                    .iter()
                    .map(|v| match v {
                        Value::Str(x) => format!("{x:?}"),
                        v => v.to_string(),
                    })
                    .collect();
                let _ = writeln!(s, "  {}", cells.join(", "));
            }
        }
        let _ = writeln!(s, "program:\n{}", self.text());
        s
    }
}

/// Something an atom can read: a table shape or a derived relation.
#[derive(Clone, Debug)]
pub struct Source {
    name: String,
    cols: Vec<Ty>,
    /// Embedding dimension an atom may bind (0: none).
    dim: usize,
    /// Table shapes with an embedding must bind it (without, it is another shape).
    must_bind: bool,
}

#[derive(Clone, Debug)]
pub struct Derived {
    name: String,
    cols: Vec<Ty>,
    dim: usize,
    rules: usize,
}

#[derive(Clone, Debug)]
pub enum NamedKind {
    /// Maps dimension `.0` to `.1`.
    Vector(usize, usize),
    /// Any dimension to itself (a named activation).
    Same,
    /// An index (1-dimensional) to `.0`, with `.1` classes.
    Index(usize, usize),
}

/// A generated body: atom and filter texts, what it binds, and its content variables.
type Body = (Vec<String>, Scope, Vec<(String, Ty)>);

/// What an expression may read.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    embs: Vec<(String, usize)>,
    nums: Vec<String>,
    strs: Vec<String>,
}

pub struct Gen {
    rng: Rng,
    tables: Vec<TableSpec>,
    derived: Vec<Derived>,
    named: Vec<(String, NamedKind)>,
    consts: Vec<String>,
    stmts: Vec<String>,
    next_rel: usize,
    /// Larger tables and wider embeddings (multi-threaded and fixed-width kernel paths).
    big: bool,
}

pub const NUMS: &[&str] = &["2", "0.5", "1", "3", "1.5", "0.25"];

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
            tables: vec![],
            derived: vec![],
            named: vec![],
            consts: vec![],
            stmts: vec![],
            next_rel: 0,
            big: false,
        }
    }

    /// A relation's embedding dimension: small, or wide in a big case.
    fn rel_dim(&mut self, small_max: usize) -> usize {
        if self.big && self.rng.chance(0.7) {
            *self.rng.pick(&[8, 16, 32, 64, 5])
        } else {
            self.rng.range(1, small_max)
        }
    }

    fn emb_value(&mut self) -> Value {
        // Multiples of 1/4 in [-2, 2]: exact in f32, so inputs are identical on both sides.
        Value::from_f64((self.rng.below(17) as f64 - 8.0) / 4.0)
    }

    fn content_value(&mut self, ty: Ty, dom: usize) -> Value {
        match ty {
            Ty::Int => Value::Int(self.rng.below(dom) as i64),
            Ty::Str if dom > 4 => Value::parse(&format!("s{}", self.rng.below(dom))),
            Ty::Str => Value::parse(["a", "b", "c", "d"][self.rng.below(dom)]),
            Ty::Num => self.emb_value(),
        }
    }

    fn tables(&mut self) {
        // A graph, so that cycles and multi-hop joins have matches.
        let nodes = if self.big {
            self.rng.range(20, 50)
        } else {
            self.rng.range(3, 6)
        };
        let emb = if self.rng.chance(0.5) { 1 } else { 0 };
        let mut rows: Vec<Vec<Value>> = vec![];
        let edges = if self.big {
            self.rng.range(100, 400)
        } else {
            self.rng.range(4, 20)
        };
        for _ in 0..edges {
            let (a, b) = (self.rng.below(nodes) as i64, self.rng.below(nodes) as i64);
            if emb > 0
                && rows
                    .iter()
                    .any(|r| r[0] == Value::Int(a) && r[1] == Value::Int(b))
            {
                continue;
            }
            let mut r = vec![Value::Int(a), Value::Int(b)];
            for _ in 0..emb {
                r.push(self.emb_value());
            }
            rows.push(r);
        }
        self.tables.push(TableSpec {
            name: "E".into(),
            content: vec![Ty::Int, Ty::Int],
            emb,
            rows,
        });
        for t in 0..self.rng.range(1, 3) {
            let ncols = self.rng.range(1, 3);
            let content: Vec<Ty> = (0..ncols)
                .map(|_| {
                    if self.rng.chance(0.7) {
                        Ty::Int
                    } else {
                        Ty::Str
                    }
                })
                .collect();
            let emb = *self.rng.pick(if self.big {
                &[0, 1, 2, 3, 8, 16]
            } else {
                &[0, 1, 1, 2, 2, 3]
            });
            let dom = if self.big {
                self.rng.range(5, 20)
            } else {
                self.rng.range(2, 4)
            };
            let nrows = if self.rng.chance(0.04) {
                0
            } else {
                self.rng.range(1, if self.big { 200 } else { 12 })
            };
            let mut rows: Vec<Vec<Value>> = vec![];
            for _ in 0..nrows {
                let mut r: Vec<Value> = content
                    .iter()
                    .map(|&ty| self.content_value(ty, dom))
                    .collect();
                if emb > 0 && rows.iter().any(|x| x[..ncols] == r[..]) {
                    continue; // under an embedding binding, content is a key
                }
                for _ in 0..emb {
                    r.push(self.emb_value());
                }
                rows.push(r);
            }
            self.tables.push(TableSpec {
                name: format!("T{t}"),
                content,
                emb,
                rows,
            });
        }
    }

    /// Tables and the derived relations made so far.
    fn sources(&self) -> Vec<Source> {
        self.sources_before(self.derived.len())
    }

    /// Tables and the first `limit` derived relations (a rule for relation `limit` may read
    /// only those: programs are non-recursive).
    fn sources_before(&self, limit: usize) -> Vec<Source> {
        let mut out = vec![];
        for t in &self.tables {
            if t.emb > 0 {
                out.push(Source {
                    name: t.name.clone(),
                    cols: t.content.clone(),
                    dim: t.emb,
                    must_bind: true,
                });
            }
            let all: Vec<Ty> = t
                .content
                .iter()
                .copied()
                .chain(std::iter::repeat_n(Ty::Num, t.emb))
                .collect();
            for j in 1..=all.len() {
                out.push(Source {
                    name: t.name.clone(),
                    cols: all[..j].to_vec(),
                    dim: 0,
                    must_bind: false,
                });
            }
        }
        for d in &self.derived[..limit] {
            out.push(Source {
                name: d.name.clone(),
                cols: d.cols.clone(),
                dim: d.dim,
                must_bind: false,
            });
        }
        out
    }

    fn number(&mut self) -> String {
        if !self.consts.is_empty() && self.rng.chance(0.15) {
            return self.rng.pick(&self.consts).clone();
        }
        self.rng.pick(NUMS).to_string()
    }

    fn definitions(&mut self) {
        if self.rng.chance(0.3) {
            self.stmts.push("kc0 = 2 .".into());
            self.stmts.push("kc1 = kc0 * 0.75 - 1 .".into());
            self.consts = vec!["kc0".into(), "kc1".into()];
        }
        for i in 0..self.rng.range(0, 3) {
            let name = format!("N{i}");
            let (a, b) = (self.rng.range(1, 4), self.rng.range(1, 4));
            let (text, kind) = match self.rng.below(6) {
                0 => (format!("Linear({a}, {b})"), NamedKind::Vector(a, b)),
                1 => (
                    format!("Linear({a}, {b}, bias=False)"),
                    NamedKind::Vector(a, b),
                ),
                2 => (format!("LayerNorm({a})"), NamedKind::Vector(a, a)),
                3 => {
                    let n = self.rng.range(2, 5);
                    (format!("Embedding({n}, {b})"), NamedKind::Index(b, n))
                }
                4 => {
                    let c = self.rng.range(1, 4);
                    (
                        format!("Linear({c}, {b})(Tanh()(Linear({a}, {c})(inp)))"),
                        NamedKind::Vector(a, b),
                    )
                }
                _ => (
                    self.rng
                        .pick(&["ReLU()", "Tanh()", "GELU()", "LeakyReLU(0.2)"])
                        .to_string(),
                    NamedKind::Same,
                ),
            };
            self.stmts.push(format!("{name} = {text} ."));
            self.named.push((name, kind));
        }
    }

    // ---- expressions --------------------------------------------------------------------

    /// A 1-dimensional integer-valued expression (a class index).
    fn index(&mut self, s: &Scope, n: usize, depth: usize) -> String {
        match self.rng.below(5) {
            0 | 1 if !s.nums.is_empty() => format!("[{}]", self.rng.pick(&s.nums)),
            2 if depth > 0 => {
                let k = self.rng.range(1, n.max(2));
                format!("ArgMax()({})", self.expr(s, k, depth - 1))
            }
            3 if !s.strs.is_empty() && self.rng.chance(0.1) => {
                format!("[{}]", self.rng.pick(&s.strs))
            }
            // Now and then out of range: an error on both sides.
            _ => format!(
                "[{}]",
                if self.rng.chance(0.05) {
                    n
                } else {
                    self.rng.below(n)
                }
            ),
        }
    }

    fn leaf(&mut self, s: &Scope, d: usize) -> String {
        let embs: Vec<String> = s
            .embs
            .iter()
            .filter(|(_, k)| *k == d)
            .map(|(n, _)| n.clone())
            .collect();
        let choice = self.rng.below(10);
        if !embs.is_empty() && choice < 6 {
            return self.rng.pick(&embs).clone();
        }
        if self.rng.chance(0.04) {
            // A free parameter, constant-initialised: a scalar or a vector.
            let fill = self.rng.pick(&["0.5", "-0.25", "1.5"]);
            return if d == 1 && self.rng.chance(0.5) {
                format!("Tensor(1, {fill})")
            } else {
                format!("Tensor(1, {d}, {fill})")
            };
        }
        if d == 1 && choice < 8 {
            return self.number();
        }
        if d <= 4 {
            let items: Vec<String> = (0..d)
                .map(|_| {
                    if !s.nums.is_empty() && self.rng.chance(0.7) {
                        self.rng.pick(&s.nums).clone()
                    } else if !s.strs.is_empty() && self.rng.chance(0.02) {
                        self.rng.pick(&s.strs).clone()
                    } else {
                        self.rng.pick(&["1", "2", "0.5", "\"1\""]).to_string()
                    }
                })
                .collect();
            return format!("[{}]", items.join(", "));
        }
        // Wider: concatenate narrower leaves.
        let a = self.rng.range(1, d - 1);
        format!("Concat({}, {})", self.leaf(s, a), self.leaf(s, d - a))
    }

    /// An expression of dimension `d` over the scope.
    fn expr(&mut self, s: &Scope, d: usize, depth: usize) -> String {
        if depth == 0 || self.rng.chance(0.25) {
            return self.leaf(s, d);
        }
        let dd = depth - 1;
        let named: Vec<(String, NamedKind)> = self.named.clone();
        loop {
            match self.rng.weighted(&[
                25.0, 8.0, 10.0, 14.0, 6.0, 5.0, 5.0, 3.0, 7.0, 4.0, 4.0, 3.0, 3.0, 3.0, 4.0, 3.0,
                3.0, 3.0, 2.0, 3.0, 2.0,
            ]) {
                0 if self.rng.chance(0.25) => {
                    // A flat chain `a + b - c …` or `a * b / c …` (one n-ary node).
                    let sum = self.rng.chance(0.5);
                    let mut out = format!("({}", self.expr(s, d, dd));
                    for _ in 0..self.rng.range(2, 5) {
                        let dx = if self.rng.chance(0.2) { 1 } else { d };
                        let x = self.expr(s, dx, dd);
                        out.push_str(&match (sum, self.rng.chance(0.5)) {
                            (true, true) => format!(" + {x}"),
                            (true, false) => format!(" - {x}"),
                            (false, true) => format!(" * {x}"),
                            (false, false) => format!(" / (abs({x}) + 1)"),
                        });
                    }
                    out.push(')');
                    return out;
                }
                0 => {
                    let op = *self.rng.pick(&["+", "-", "*", "/", "*", "+"]);
                    let (da, db) = match (d > 1, self.rng.below(4)) {
                        (true, 0) => (1, d),
                        (true, 1) => (d, 1),
                        _ => (d, d),
                    };
                    let a = self.expr(s, da, dd);
                    let b = self.expr(s, db, dd);
                    if op == "/" && self.rng.chance(0.5) {
                        return format!("({a} / (abs({b}) + 1))");
                    }
                    return format!("({a} {op} {b})");
                }
                1 => {
                    let f = *self
                        .rng
                        .pick(&["exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"]);
                    let x = self.expr(s, d, dd);
                    return match f {
                        "exp" => format!("exp(tanh({x}) * 2)"),
                        "log" | "sqrt" if self.rng.chance(0.7) => format!("{f}(abs({x}) + 0.5)"),
                        _ => format!("{f}({x})"),
                    };
                }
                2 => {
                    let m = *self.rng.pick(&[
                        "ReLU()",
                        "LeakyReLU(0.1)",
                        "ELU()",
                        "ELU(0.5)",
                        "GELU()",
                        "Sigmoid()",
                        "Tanh()",
                        "Identity()",
                    ]);
                    // Sugar: a module without required arguments applied directly to an
                    // embedding (to a constant, `ReLU(0.5)` would construct a module).
                    let embs: Vec<String> = s
                        .embs
                        .iter()
                        .filter(|(_, k)| *k == d)
                        .map(|(n, _)| n.clone())
                        .collect();
                    if !embs.is_empty() && self.rng.chance(0.2) {
                        let m = *self.rng.pick(&["ReLU", "Sigmoid", "Tanh"]);
                        return format!("{m}({})", self.rng.pick(&embs));
                    }
                    return format!("{m}({})", self.expr(s, d, dd));
                }
                3 => {
                    let k = self.rng.range(1, 4);
                    let bias = if self.rng.chance(0.3) {
                        ", bias=False"
                    } else {
                        ""
                    };
                    return format!("Linear({k}, {d}{bias})({})", self.expr(s, k, dd));
                }
                4 => {
                    let fits: Vec<(String, NamedKind)> = named
                        .iter()
                        .filter(|(_, k)| match k {
                            NamedKind::Vector(_, b) | NamedKind::Index(b, _) => *b == d,
                            NamedKind::Same => true,
                        })
                        .cloned()
                        .collect();
                    if fits.is_empty() {
                        continue;
                    }
                    let (name, kind) = self.rng.pick(&fits).clone();
                    let arg = match kind {
                        NamedKind::Vector(a, _) => self.expr(s, a, dd),
                        NamedKind::Same => self.expr(s, d, dd),
                        NamedKind::Index(_, n) => self.index(s, n, dd),
                    };
                    return format!("{name}({arg})");
                }
                5 => return format!("LayerNorm({d})({})", self.expr(s, d, dd)),
                6 => {
                    let m = *self.rng.pick(&[
                        "Softmax(-1)",
                        "Softmax(1)",
                        "LogSoftmax(-1)",
                        "LogSoftmax(dim=1)",
                    ]);
                    return format!("{m}({})", self.expr(s, d, dd));
                }
                7 => return format!("Dropout(0.5)({})", self.expr(s, d, dd)),
                8 if d >= 2 => {
                    if d >= 3 && self.rng.chance(0.3) {
                        let a = self.rng.range(1, d - 2);
                        let b = self.rng.range(1, d - a - 1);
                        return format!(
                            "Concat({}, {}, {})",
                            self.expr(s, a, dd),
                            self.expr(s, b, dd),
                            self.expr(s, d - a - b, dd)
                        );
                    }
                    let a = self.rng.range(1, d - 1);
                    return format!(
                        "Concat({}, {})",
                        self.expr(s, a, dd),
                        self.expr(s, d - a, dd)
                    );
                }
                9 if (2..=5).contains(&d) => {
                    return format!("OneHot({d})({})", self.index(s, d, dd));
                }
                10 => {
                    let n = self.rng.range(2, 5);
                    return format!("Embedding({n}, {d})({})", self.index(s, n, dd));
                }
                11 if d == 1 => {
                    let k = self.rng.range(1, 4);
                    return format!("ArgMax()({})", self.expr(s, k, dd));
                }
                12 => {
                    // Exact operands only: f32 and f64 agree on equality of exact values.
                    let (da, db) = if d > 1 && self.rng.chance(0.3) {
                        (d, 1)
                    } else {
                        (d, d)
                    };
                    let op = *self.rng.pick(&["==", "!=", "<", "<=", ">", ">=", "=="]);
                    return format!("({} {op} {})", self.leaf(s, da), self.leaf(s, db));
                }
                13 => return format!("-{}", self.expr(s, d, dd)),
                14 => {
                    let x = self.expr(s, d, dd);
                    return match self.rng.below(4) {
                        0 => format!("({x} ** 2)"),
                        1 => format!("({x} ** 3)"),
                        2 => format!("((abs({x}) + 0.5) ** 0.5)"),
                        _ => format!("(2 ** tanh({x}))"),
                    };
                }
                15 => {
                    // Extension: per-head sums of `d` blocks of `k` coordinates.
                    let k = self.rng.range(1, 3);
                    return format!("HeadSum({d})({})", self.expr(s, d * k, dd));
                }
                16 => {
                    // Extension: each coordinate repeated `r` times in place.
                    let divisors: Vec<usize> = (1..=d).filter(|r| d.is_multiple_of(*r)).collect();
                    let r = *self.rng.pick(&divisors);
                    return format!("Repeat({r})({})", self.expr(s, d / r, dd));
                }
                // Shaped embeddings, each flattened back to a vector of dimension `d`.
                17 => {
                    // A per-fact matrix product (m × k) @ (k × p), m · p = d.
                    let divisors: Vec<usize> = (1..=d).filter(|r| d.is_multiple_of(*r)).collect();
                    let (m, k) = (*self.rng.pick(&divisors), self.rng.range(1, 3));
                    let p = d / m;
                    let a = self.expr(s, m * k, dd);
                    let b = self.expr(s, k * p, dd);
                    return format!("view({d})(view({m}, {k})({a}) @ view({k}, {p})({b}))");
                }
                18 => {
                    // A per-fact transpose of an m × p matrix.
                    let divisors: Vec<usize> = (1..=d).filter(|r| d.is_multiple_of(*r)).collect();
                    let m = *self.rng.pick(&divisors);
                    let x = self.expr(s, d, dd);
                    return format!("view({d})(transpose(view({m}, {})({x})))", d / m);
                }
                19 => {
                    // Row-first broadcasting: an m × p matrix scaled row by row by an
                    // m-vector, or shifted by a 1 × p row.
                    let divisors: Vec<usize> = (1..=d).filter(|r| d.is_multiple_of(*r)).collect();
                    let m = *self.rng.pick(&divisors);
                    let p = d / m;
                    let x = self.expr(s, d, dd);
                    let op = *self.rng.pick(&["*", "+", "-"]);
                    return match self.rng.below(3) {
                        0 => format!(
                            "view({d})(view({m}, {p})({x}) {op} {})",
                            self.expr(s, m, dd)
                        ),
                        1 => format!(
                            "view({d})({} {op} view({m}, {p})({x}))",
                            self.expr(s, m, dd)
                        ),
                        _ => format!(
                            "view({d})(view({m}, {p})({x}) {op} view(1, {p})({}))",
                            self.expr(s, p, dd)
                        ),
                    };
                }
                20 => {
                    // A dot product per head: (d, 1, k) @ (d, k, 1).
                    let k = self.rng.range(1, 3);
                    let a = self.expr(s, d * k, dd);
                    let b = self.expr(s, d * k, dd);
                    return format!("view({d})(view({d}, 1, {k})({a}) @ view({d}, {k}, 1)({b}))");
                }
                _ => continue,
            }
        }
    }

    /// Wraps an aggregated value of dimension `from` into one of dimension `to`.
    fn post(&mut self, inner: String, from: usize, to: usize) -> String {
        let mut x = inner;
        let mut d = from;
        for _ in 0..self.rng.range(0, 2) {
            x = match self.rng.below(6) {
                0 => format!("ReLU()({x})"),
                1 => format!("({x} * 0.5 + 1)"),
                2 => format!("tanh({x})"),
                3 => format!("LayerNorm({d})({x})"),
                4 => {
                    d += 1;
                    format!("Concat({x}, [2])")
                }
                _ => format!("Softmax(-1)({x})"),
            };
        }
        if d != to || self.rng.chance(0.5) {
            let bias = if self.rng.chance(0.3) {
                ", bias=False"
            } else {
                ""
            };
            x = format!("Linear({d}, {to}{bias})({x})");
        }
        x
    }

    // ---- rules --------------------------------------------------------------------------

    /// A conjunction body: atom and filter texts and what it binds.
    fn conj_body(&mut self, limit: usize) -> Option<Body> {
        let sources = self.sources_before(limit);
        if sources.is_empty() {
            return None;
        }
        let mut vars: Vec<(String, Ty)> = vec![];
        let mut embs: Vec<(String, usize)> = vec![];
        let mut parts: Vec<String> = vec![];
        let mut fresh = 0;
        let cycle = self.rng.chance(if self.big { 0.04 } else { 0.12 });
        if cycle {
            // A triangle or a 4-cycle over the graph (or another binary shape).
            let binary: Vec<&Source> = sources
                .iter()
                .filter(|s| s.cols.len() == 2 && s.cols[0] == s.cols[1])
                .collect();
            let src = (*self.rng.pick(&binary)).clone();
            let n = if self.big || self.rng.chance(0.6) {
                3
            } else {
                4
            };
            let names = ["a", "b", "c", "d"];
            for i in 0..n {
                let (x, y) = (names[i], names[(i + 1) % n]);
                let bind = src.dim > 0 && (src.must_bind || self.rng.chance(0.5));
                if bind {
                    let z = format!("z{}", embs.len());
                    parts.push(format!("{}({x}, {y}; {z})", src.name));
                    embs.push((z, src.dim));
                } else {
                    parts.push(format!("{}({x}, {y})", src.name));
                }
            }
            vars = names[..n]
                .iter()
                .map(|v| (v.to_string(), src.cols[0]))
                .collect();
        }
        let natoms = if cycle {
            self.rng.range(0, 1)
        } else {
            *self.rng.pick(if self.big {
                &[1, 1, 2, 2, 2, 3, 1, 2]
            } else {
                &[1, 1, 2, 2, 2, 3, 3, 4]
            })
        };
        for _ in 0..natoms {
            let src = self.rng.pick(&sources).clone();
            let mut terms = vec![];
            for &ty in &src.cols {
                let same: Vec<String> = vars
                    .iter()
                    .filter(|(_, t)| *t == ty || (ty.numeric() && t.numeric()))
                    .map(|(n, _)| n.clone())
                    .collect();
                let t = match self.rng.weighted(&[
                    if same.is_empty() { 0.0 } else { 50.0 },
                    3.0,
                    25.0,
                    10.0,
                    12.0,
                ]) {
                    0 => self.rng.pick(&same).clone(),
                    1 if !vars.is_empty() => self.rng.pick(&vars).0.clone(),
                    3 => match ty {
                        Ty::Int => self
                            .rng
                            .pick(&["0", "1", "2", "1.0", "\"1\"", "2"])
                            .to_string(),
                        Ty::Str => self.rng.pick(&["\"a\"", "\"b\"", "'c'"]).to_string(),
                        Ty::Num => self.rng.pick(&["0.5", "1", "-0.25"]).to_string(),
                    },
                    4 => "_".to_string(),
                    _ => {
                        let name = format!("v{fresh}");
                        fresh += 1;
                        vars.push((name.clone(), ty));
                        name
                    }
                };
                terms.push(t);
            }
            let bind = src.dim > 0 && (src.must_bind || self.rng.chance(0.75));
            if bind {
                if self.rng.chance(0.05) {
                    parts.push(format!("{}({}; _)", src.name, terms.join(", ")));
                } else {
                    let z = format!("z{}", embs.len());
                    parts.push(format!("{}({}; {z})", src.name, terms.join(", ")));
                    embs.push((z, src.dim));
                }
            } else {
                parts.push(format!("{}({})", src.name, terms.join(", ")));
            }
        }
        if parts.is_empty() {
            return None;
        }
        // Filters over bound variables and constants, some with arithmetic.
        if !vars.is_empty() {
            for _ in 0..*self.rng.pick(&[0, 0, 0, 1, 1, 2]) {
                let numeric: Vec<String> = vars
                    .iter()
                    .filter(|(_, t)| t.numeric())
                    .map(|(n, _)| n.clone())
                    .collect();
                if self.rng.chance(0.3) {
                    // Rarely on a string variable: both sides must refuse it.
                    let x = if numeric.is_empty() || self.rng.chance(0.03) {
                        self.rng.pick(&vars).0.clone()
                    } else {
                        self.rng.pick(&numeric).clone()
                    };
                    let y = if numeric.is_empty() {
                        "1".to_string()
                    } else {
                        self.rng.pick(&numeric).clone()
                    };
                    let c = self.number();
                    let lhs = match self.rng.below(5) {
                        0 => format!("{x} + {c}"),
                        1 => format!("{x} * 2 - {y}"),
                        2 => format!("-{x}"),
                        3 => format!("({x} - {y}) / 2"),
                        _ => format!("{x} ** 2"),
                    };
                    let op = *self.rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
                    let rhs = match self.rng.below(3) {
                        0 => self.rng.pick(&vars).0.clone(),
                        1 => format!("{y} + 1"),
                        _ => self.number(),
                    };
                    parts.push(format!("{lhs} {op} {rhs}"));
                    continue;
                }
                let (x, tx) = self.rng.pick(&vars).clone();
                let op = *self.rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
                let rhs = if self.rng.chance(0.5) {
                    self.rng.pick(&vars).0.clone()
                } else {
                    match tx {
                        Ty::Str => self.rng.pick(&["\"a\"", "\"b\"", "1"]).to_string(),
                        _ => self
                            .rng
                            .pick(&["1", "2", "0.5", "\"1\"", "\"a\""])
                            .to_string(),
                    }
                };
                parts.push(format!("{x} {op} {rhs}"));
            }
        }
        let scope = Scope {
            embs,
            nums: vars
                .iter()
                .filter(|(_, t)| t.numeric())
                .map(|(n, _)| n.clone())
                .collect(),
            strs: vars
                .iter()
                .filter(|(_, t)| !t.numeric())
                .map(|(n, _)| n.clone())
                .collect(),
        };
        Some((parts, scope, vars))
    }

    /// A head expression of dimension `dim` (with an aggregation, maybe a transform after).
    fn head_expr(&mut self, s: &Scope, dim: usize) -> String {
        let depth = self.rng.range(1, 3);
        match self
            .rng
            .weighted(&[20.0, 16.0, 10.0, 10.0, 10.0, 8.0, 14.0])
        {
            0 => self.expr(s, dim, depth),
            5 => {
                if dim == 1 && self.rng.chance(0.6) {
                    "count()".into()
                } else {
                    self.post("count()".into(), 1, dim)
                }
            }
            6 => {
                let agg = *self.rng.pick(&["sum", "mean", "max", "min"]);
                let inner_dim = self.rng.range(1, 3);
                let inner = format!("{agg}({})", self.expr(s, inner_dim, depth));
                self.post(inner, inner_dim, dim)
            }
            k => {
                // `add` and `avg` are aliases of `sum` and `mean`.
                let agg = ["sum", "add", "mean", "max", "min"][k];
                let agg = if agg == "mean" && self.rng.chance(0.2) {
                    "avg"
                } else {
                    agg
                };
                format!("{agg}({})", self.expr(s, dim, depth))
            }
        }
    }

    fn new_name(&mut self, prefix: &str) -> String {
        self.next_rel += 1;
        format!("{prefix}{}", self.next_rel)
    }

    fn conj_rule(&mut self) {
        // Another rule for an existing head (reading only relations made before it), or a
        // new relation.
        let existing: Vec<usize> = (0..self.derived.len())
            .filter(|&i| !self.derived[i].name.starts_with('L'))
            .collect();
        let again =
            (!existing.is_empty() && self.rng.chance(0.2)).then(|| *self.rng.pick(&existing));
        let Some((parts, scope, vars)) = self.conj_body(again.unwrap_or(self.derived.len())) else {
            return;
        };
        let again = again.filter(|&i| self.derived[i].cols.len() <= vars.len());
        let (name, arity, dim, new) = if let Some(i) = again {
            let d = self.derived[i].clone();
            (d.name, d.cols.len(), d.dim, false)
        } else {
            let arity = self.rng.range(0, vars.len().min(3));
            let dim = if self.rng.chance(0.15) {
                0
            } else {
                self.rel_dim(4)
            };
            (self.new_name("R"), arity, dim, true)
        };
        let mut head: Vec<String> = vec![];
        let mut cols = vec![];
        let mut pool = vars.clone();
        self.rng.shuffle(&mut pool);
        for (i, (var, ty)) in pool.iter().take(arity).enumerate() {
            if self.rng.chance(0.05) {
                head.push("7".into());
                cols.push(Ty::Int);
            } else if i > 0 && self.rng.chance(0.05) {
                head.push(head[0].clone());
                cols.push(cols[0]);
            } else {
                head.push(var.clone());
                cols.push(*ty);
            }
        }
        let expr = if dim == 0 {
            String::new()
        } else {
            format!("; {}", self.head_expr(&scope, dim))
        };
        self.stmts.push(format!(
            "{name}({}{expr}) :- {} .",
            head.join(", "),
            parts.join(", ")
        ));
        if new {
            self.derived.push(Derived {
                name,
                cols,
                dim,
                rules: 1,
            });
        } else if let Some(d) = self.derived.iter_mut().find(|d| d.name == name) {
            d.rules += 1;
        }
    }

    fn union_rule(&mut self) {
        let sources: Vec<Source> = self.sources();
        // Branches bind the head variables; with an embedding, all of one dimension.
        let arity = self.rng.range(0, 2);
        let use_emb = self.rng.chance(0.75);
        let dims: Vec<usize> = sources
            .iter()
            .filter(|s| s.dim > 0 && s.cols.len() >= arity)
            .map(|s| s.dim)
            .collect();
        let bdim = if use_emb && !dims.is_empty() {
            *self.rng.pick(&dims)
        } else {
            0
        };
        let fits: Vec<Source> = sources
            .iter()
            .filter(|s| s.cols.len() >= arity && (bdim == 0 && !s.must_bind || s.dim == bdim))
            .cloned()
            .collect();
        if fits.is_empty() {
            return;
        }
        // All branch atoms have one arity (sema requires it).
        let width = self.rng.pick(&fits).cols.len();
        let fits: Vec<Source> = fits.into_iter().filter(|s| s.cols.len() == width).collect();
        let heads: Vec<String> = (0..arity).map(|i| format!("h{i}")).collect();
        let mut branches = vec![];
        let mut numeric = vec![true; arity];
        for _ in 0..self.rng.range(2, 3) {
            let src = self.rng.pick(&fits).clone();
            let mut pos: Vec<usize> = (0..src.cols.len()).collect();
            self.rng.shuffle(&mut pos);
            let mut terms: Vec<String> = vec!["_".into(); src.cols.len()];
            for (h, &p) in heads.iter().zip(&pos) {
                terms[p] = h.clone();
                numeric[heads.iter().position(|x| x == h).unwrap()] &= src.cols[p].numeric();
            }
            for &p in &pos[arity..] {
                if self.rng.chance(0.2) {
                    terms[p] = match src.cols[p] {
                        Ty::Str => "\"a\"".into(),
                        _ => "1".into(),
                    };
                }
            }
            let emb = if bdim > 0 && !branches.is_empty() && self.rng.chance(0.2) {
                // A constant embedding, padded to the union's dimension.
                format!("; {}", self.rng.pick(&["0", "1.5", "-1"]))
            } else if bdim > 0 {
                format!("; {}", self.rng.pick(&["t", "z", "w"]))
            } else {
                String::new()
            };
            branches.push(format!("{}({}{emb})", src.name, terms.join(", ")));
        }
        let dim = if self.rng.chance(0.15) {
            0
        } else {
            self.rel_dim(3)
        };
        let scope = Scope {
            embs: if bdim > 0 {
                vec![("t".into(), bdim)]
            } else {
                vec![]
            },
            nums: heads
                .iter()
                .zip(&numeric)
                .filter(|(_, n)| **n)
                .map(|(h, _)| h.clone())
                .collect(),
            strs: vec![],
        };
        let name = self.new_name("U");
        let expr = if dim == 0 {
            String::new()
        } else {
            format!("; {}", self.head_expr(&scope, dim))
        };
        self.stmts.push(format!(
            "{name}({}{expr}) :- {} .",
            heads.join(", "),
            branches.join(" | ")
        ));
        let cols = numeric
            .iter()
            .map(|&n| if n { Ty::Int } else { Ty::Str })
            .collect();
        self.derived.push(Derived {
            name,
            cols,
            dim,
            rules: 1,
        });
    }

    /// A zero-ary loss. `final` (the last rule of a gradient case): a one-atom body over a
    /// relation with an embedding when there is one (derived ones first), and a prediction
    /// that goes through a Linear, so that parameters get gradients.
    fn loss_rule(&mut self, last: bool) {
        let body = if last { self.loss_body() } else { None };
        let Some((parts, scope, _)) = body.or_else(|| self.conj_body(self.derived.len())) else {
            return;
        };
        let name = self.new_name("L");
        let depth = self.rng.range(1, 2);
        let pred = |g: &mut Gen, d: usize| {
            if last {
                let k = g.rng.range(1, 3);
                format!("Linear({k}, {d})({})", g.expr(&scope, k, depth))
            } else {
                g.expr(&scope, d, depth)
            }
        };
        let loss = match self.rng.below(4) {
            0 => {
                let k = self.rng.range(2, 4);
                let p = pred(self, k);
                format!("CrossEntropyLoss()({p}, {})", self.index(&scope, k, depth))
            }
            1 => {
                let d = self.rng.range(1, 3);
                let p = pred(self, d);
                format!("MSELoss()({p}, {})", self.expr(&scope, d, depth))
            }
            2 => {
                let d = self.rng.range(1, 3);
                let p = pred(self, d);
                format!("L1Loss()({p}, {})", self.expr(&scope, d, depth))
            }
            _ => {
                let d = self.rng.range(1, 3);
                let p = pred(self, d);
                format!(
                    "BCEWithLogitsLoss()({p}, Sigmoid()({}))",
                    self.expr(&scope, d, depth)
                )
            }
        };
        self.stmts
            .push(format!("{name}(; {loss}) :- {} .", parts.join(", ")));
        self.derived.push(Derived {
            name,
            cols: vec![],
            dim: 1,
            rules: 1,
        });
    }

    /// One atom binding an embedding (a derived relation's when possible), all terms fresh.
    fn loss_body(&mut self) -> Option<Body> {
        let sources: Vec<Source> = self.sources().into_iter().filter(|s| s.dim > 0).collect();
        let derived: Vec<Source> = sources
            .iter()
            .filter(|s| self.derived.iter().any(|d| d.name == s.name))
            .cloned()
            .collect();
        let pool = if !derived.is_empty() && self.rng.chance(0.8) {
            derived
        } else {
            sources
        };
        if pool.is_empty() {
            return None;
        }
        let src = self.rng.pick(&pool).clone();
        let vars: Vec<(String, Ty)> = src
            .cols
            .iter()
            .enumerate()
            .map(|(i, &t)| (format!("v{i}"), t))
            .collect();
        let terms: Vec<String> = vars.iter().map(|(n, _)| n.clone()).collect();
        let scope = Scope {
            embs: vec![("z0".into(), src.dim)],
            nums: vars
                .iter()
                .filter(|(_, t)| t.numeric())
                .map(|(n, _)| n.clone())
                .collect(),
            strs: vars
                .iter()
                .filter(|(_, t)| !t.numeric())
                .map(|(n, _)| n.clone())
                .collect(),
        };
        Some((
            vec![format!("{}({}; z0)", src.name, terms.join(", "))],
            scope,
            vars,
        ))
    }

    fn case(mut self, final_loss: bool) -> Case {
        self.tables();
        self.definitions();
        for _ in 0..self.rng.range(1, 6) {
            match self.rng.weighted(&[70.0, 18.0, 12.0]) {
                0 => self.conj_rule(),
                1 => self.union_rule(),
                _ => self.loss_rule(false),
            }
        }
        if final_loss {
            self.loss_rule(true);
        }
        if self.rng.chance(0.15) {
            // Rules may come in any order.
            // Definitions must come first.
            let defs = self.stmts.iter().filter(|s| !s.contains(":-")).count();
            self.rng.shuffle(&mut self.stmts[defs..]);
        }
        Case {
            tables: self.tables,
            stmts: self.stmts,
        }
    }
}

pub fn generate(seed: u64) -> Case {
    Gen::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED).case(false)
}

/// A larger case: tables of hundreds of rows, embeddings up to 64 wide.
pub fn generate_big(seed: u64) -> Case {
    let mut g = Gen::new(seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0xB16);
    g.big = true;
    g.case(false)
}

/// A larger case whose last rule is a loss.
pub fn generate_big_with_loss(seed: u64) -> Case {
    let mut g = Gen::new(seed.wrapping_mul(0xA076_1D64_78BD_642F) ^ 0xB17);
    g.big = true;
    g.case(true)
}

/// A case whose last rule is a loss (over earlier relations, so that gradients flow
/// through them).
pub fn generate_with_loss(seed: u64) -> Case {
    Gen::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6AD).case(true)
}

#[derive(Debug)]
pub enum Outcome {
    /// `nrp_sema::check` (or the parser) refused the program: the message.
    Rejected(String),
    /// Both sides agree; how many facts were compared, whether both failed.
    Agree {
        facts: usize,
        errored: bool,
    },
    Disagree(String),
}

pub fn check_case(case: &Case, cpu: &Cpu) -> Outcome {
    let text = case.text();
    let ast = match nrp_syntax::parse(&text) {
        Ok(a) => a,
        Err(d) => return Outcome::Rejected(format!("parse: {}", d.message)),
    };
    let db = case.database();
    let program = match nrp_sema::check(&ast, Some(&db)) {
        Ok(p) => p,
        Err(d) => return Outcome::Rejected(d.message),
    };
    let seed = case.stmts.len() as u64;
    let params = nrp_params::init_parameters(&program.parameters(), seed).unwrap();
    let targets: Vec<usize> = (0..program.relations.len())
        .filter(|&r| !program.relations[r].is_input() && !program.relations[r].is_auxiliary())
        .collect();
    if targets.is_empty() {
        return Outcome::Rejected("no derived relation".into());
    }
    // All at once, then (when that fails on both sides) one relation at a time.
    let all = differential(&program, &db, &params, &targets, cpu, ATOL);
    if let Err(e) = all {
        return Outcome::Disagree(e);
    }
    let facts = |rels: &[usize]| -> usize {
        nrp_reference::evaluate(&program, &db, &params, rels).map_or(0, |out| {
            rels.iter()
                .filter_map(|&r| out[r].as_ref())
                .map(|f| f.facts.len())
                .sum()
        })
    };
    if nrp_reference::evaluate(&program, &db, &params, &targets).is_ok() {
        return Outcome::Agree {
            facts: facts(&targets),
            errored: false,
        };
    }
    let mut n = 0;
    for &t in &targets {
        if let Err(e) = differential(&program, &db, &params, &[t], cpu, ATOL) {
            return Outcome::Disagree(e);
        }
        n += facts(&[t]);
    }
    Outcome::Agree {
        facts: n,
        errored: true,
    }
}

/// Absolute slack for f32 rounding of values of order 1 (inputs are within ±2, weights
/// within ±1, so cancellations leave errors of a few ulps of the terms).
pub const ATOL: f64 = 1e-5;

/// Removes statements and rows while the case still disagrees.
pub fn shrink(case: &Case, cpu: &Cpu) -> Case {
    let fails = |c: &Case| matches!(check_case(c, cpu), Outcome::Disagree(_));
    let mut best = case.clone();
    loop {
        let mut progress = false;
        for i in (0..best.stmts.len()).rev() {
            let mut c = best.clone();
            c.stmts.remove(i);
            if fails(&c) {
                best = c;
                progress = true;
            }
        }
        for t in 0..best.tables.len() {
            for r in (0..best.tables[t].rows.len()).rev() {
                let mut c = best.clone();
                c.tables[t].rows.remove(r);
                if !c.tables[t].rows.is_empty() && fails(&c) {
                    best = c;
                    progress = true;
                }
            }
        }
        if !progress {
            return best;
        }
    }
}

pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be an integer"))
    })
}

// ---- gradients ------------------------------------------------------------------------

/// Gradients of random loss programs: the engine's backward pass (evaluation mode) against
/// central finite differences of the reference's loss (f64, step `1e-3`) for a few random
/// parameter entries of the modules the loss depends on. Entries at a kink or a jump (ReLU
/// at 0, ties of max/min, ArgMax or an index moving) are skipped: there the one-sided
/// differences disagree. Tolerance `1e-3 + 1e-2·|fd|`, plus 20 times the loss's simulated
/// f32 rounding spread divided by the step (random programs have ill-conditioned corners,
/// LayerNorm of a nearly constant vector, that a fixed tolerance cannot cover).
pub fn check_gradients(
    case: &Case,
    cpu: &Cpu,
    rng: &mut Rng,
    entries_per_loss: usize,
) -> Result<usize, String> {
    let Ok(ast) = nrp_syntax::parse(&case.text()) else {
        return Ok(0);
    };
    let db = case.database();
    let Ok(program) = nrp_sema::check(&ast, Some(&db)) else {
        return Ok(0);
    };
    let params = nrp_params::init_parameters(&program.parameters(), 3).unwrap();
    let mut checked = 0;
    for loss in 0..program.relations.len() {
        let r = &program.relations[loss];
        if r.is_input()
            || r.is_auxiliary()
            || r.arity != 0
            || r.dim != Some(1)
            || !r.name.starts_with('L')
        {
            continue;
        }
        // Modules the loss depends on, and their parameter entries.
        let mut modules = vec![];
        for &rel in &program.closure(&[loss]) {
            if let nrp_sema::RelKind::Derived(rule) = &program.relations[rel].kind {
                for (_, e) in rule.bodies() {
                    if let Some(e) = e {
                        modules.extend(e.modules());
                    }
                }
            }
        }
        let mut entries: Vec<(String, usize)> = vec![];
        for m in modules {
            let module = &program.modules[m];
            for spec in module.kind.params(&module.name) {
                let n = params[&spec.name].data.len();
                entries.extend((0..n).map(|j| (spec.name.clone(), j)));
            }
        }
        entries.sort();
        entries.dedup();
        if entries.is_empty() {
            continue;
        }
        let reference = |p: &nrp_params::ParamMap| -> Option<f64> {
            let out = nrp_reference::evaluate(&program, &db, p, &[loss]).ok()?;
            let f = out[loss].as_ref()?;
            let v = *f.facts.values().next()?.first()?;
            v.is_finite().then_some(v)
        };
        // An infinite intermediate value makes backward produce 0 · ∞ = NaN (as in PyTorch)
        // where the difference quotient is 0: no comparison then.
        let closure = program.closure(&[loss]);
        let finite = nrp_reference::evaluate(&program, &db, &params, &closure).is_ok_and(|out| {
            closure
                .iter()
                .filter_map(|&r| out[r].as_ref())
                .all(|f| f.facts.values().flatten().all(|x| x.is_finite()))
        });
        if !finite {
            continue;
        }
        let Some(center) = reference(&params) else {
            continue;
        };
        // The engine's gradients.
        let grads = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine_gradients(&program, &db, &params, loss, cpu)
        })) {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => return Err(format!("engine fails where the reference does not: {e}")),
            Err(p) => return Err(format!("engine PANIC: {}", super::panic_message(&p))),
        };
        let spread = {
            let s = super::rounding_spread(
                &program,
                &db,
                &params,
                &[loss],
                &[
                    nrp_reference::evaluate(&program, &db, &params, &[loss]).unwrap()[loss]
                        .clone()
                        .unwrap(),
                ],
            );
            s[0].first().copied().unwrap_or(0.0)
        };
        for _ in 0..entries_per_loss {
            let (name, j) = rng.pick(&entries).clone();
            let p0 = params[&name].data[j];
            // Central differences with steps h and h/4 (the steps actually taken in f32).
            let central = |h: f32| -> Option<(f64, f64, f64)> {
                let mut plus = params.clone();
                plus.get_mut(&name).unwrap().data[j] = p0 + h;
                let mut minus = params.clone();
                minus.get_mut(&name).unwrap().data[j] = p0 - h;
                let (hp, hm) = ((p0 + h) as f64 - p0 as f64, p0 as f64 - (p0 - h) as f64);
                let (lp, lm) = (reference(&plus)?, reference(&minus)?);
                Some((
                    (lp - lm) / (hp + hm),
                    (lp - center) / hp,
                    (center - lm) / hm,
                ))
            };
            let (Some((d1, fwd1, bwd1)), Some((d4, fwd4, bwd4))) = (central(1e-3), central(2.5e-4))
            else {
                continue;
            };
            // A kink or a jump: the one-sided differences disagree by about the same amount
            // at both steps (where the loss is smooth, their gap shrinks with the step).
            let (gap1, gap4) = ((fwd1 - bwd1).abs(), (fwd4 - bwd4).abs());
            if gap1 > 1e-2 * (1.0 + d1.abs())
                || (gap4 > 0.5 * gap1 && gap1 > 1e-6 * (1.0 + d1.abs()))
            {
                continue;
            }
            // Richardson extrapolation (error O(h⁴)); the two estimates' distance bounds
            // its error where the loss curves sharply (LayerNorm near zero variance).
            let fd = (16.0 * d4 - d1) / 15.0;
            let fd_err = (d1 - d4).abs();
            let g = grads
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(0.0, |(_, g)| g[j]);
            if !g.is_finite() {
                // 0 · ∞ in backward at a point with an infinite derivative (sqrt or a power
                // at 0 whose value the parameter does not move): NaN, as in PyTorch.
                continue;
            }
            let tol = 1e-3 + 1e-2 * fd.abs() + fd_err + SPREAD_FACTOR * spread / 2.5e-4;
            if !(g - fd).abs().le(&tol) {
                return Err(format!(
                    "d{}/d{name}[{j}]: engine {g}, finite difference {fd} (steps 1e-3: {d1}, one-sided {fwd1}, {bwd1}; 2.5e-4: {d4}, one-sided {fwd4}, {bwd4}; loss {center})",
                    program.relations[loss].name
                ));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

/// Gradients of every parameter (by name) of the loss relation, from the engine.
pub fn engine_gradients(
    program: &nrp_sema::Program,
    db: &Database,
    params: &nrp_params::ParamMap,
    loss: usize,
    cpu: &Cpu,
) -> Result<Vec<(String, Vec<f64>)>, String> {
    let engine =
        nrp_engine::Engine::with_options(program, db, &[loss], u64::MAX, &super::options())
            .map_err(|d| d.message)?;
    let p = nrp_engine::Params::new(program, params);
    let mut g: nrp_tensor::Graph = nrp_tensor::Graph::new(cpu);
    g.set_training(false);
    let node = engine.plan.relation[loss].ok_or("no plan node")?;
    let order = engine.plan.topological(&[node]);
    let vars = nrp_engine::exec::forward(&mut g, &engine.plan, program, Some(&p), &order, &mut {
        // Not training: no draws.
        nrp_tensor::CounterRng::new(0)
    })
    .map_err(|e| engine.error(e).message)?;
    let grads = g.backward(vars[node].unwrap()).map_err(|e| e.to_string())?;
    Ok(p.set
        .iter()
        .map(|(id, param)| {
            let n = param.value.data.len();
            (
                param.name.clone(),
                grads
                    .param(id)
                    .map_or(vec![0.0; n], |t| t.data.iter().map(|&x| x as f64).collect()),
            )
        })
        .collect())
}
