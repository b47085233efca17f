//! The ground plan: a DAG of tensor operations over the grounded match lists, built from
//! the core rules, simplified by rewrite rules (one module each under `rules/`), and run
//! every epoch by `exec`. Every node has a row space: the facts of a relation, the matches
//! of a rule body, or a single row.
//!
//! Lowering is direct: an atom's embedding in a body is a `Gather` of its relation's rows
//! by the match list, the head expression is evaluated per match, and the aggregation is a
//! `Reduce` over the match list sorted by head row. The rewrites then hoist per-fact work
//! out of the matches, fold everything that does not depend on a parameter, and fuse
//! gathers, factors and reductions into single sparse kernels.

pub mod display;
pub mod rules;
mod shaped;
pub mod sparse;

use crate::ground::{Ground, Matches};
use nrp_data::Value;
use nrp_sema::{
    Agg, BinOp, CoreRule, ExprKind, Func, ModuleId, ModuleKind, Program, RelId, RelKind, Term,
};
use nrp_syntax::{Diagnostic, Span};
use nrp_tensor::{BinaryOp, Csr, Tensor, UnaryOp};
use std::sync::Arc;

pub type NodeId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    CrossEntropy,
    Mse,
    L1,
    BceWithLogits,
    Bce,
    Nll,
}

#[derive(Clone, Debug)]
pub enum Op {
    /// A constant: an input relation's embeddings, an encode, a folded subgraph.
    Const(Arc<Tensor>),
    /// A `Tensor` module's parameter, one row (`[1, d]`) that broadcasts over rows.
    Param(ModuleId),
    /// `out[i] = x[index[i]]` (a one-entry-per-row CSR).
    Gather {
        x: NodeId,
        index: Arc<Csr>,
    },
    Unary(UnaryOp, NodeId),
    Binary(BinaryOp, NodeId, NodeId),
    /// `x · Wᵀ (+ b)` of a `Linear` module; `x` may be sparse (then one sparse product over
    /// its non-zeros, reading `W` in place: `Graph::sparse_linear`).
    Linear {
        module: ModuleId,
        x: NodeId,
        bias: bool,
    },
    /// Adds a `Linear` module's bias (after a pushed-down aggregation).
    Bias {
        module: ModuleId,
        x: NodeId,
    },
    /// A learnable module applied row-wise (`LayerNorm`, `Embedding`).
    Module {
        module: ModuleId,
        x: NodeId,
    },
    /// A sparse node as a dense `[rows, dim]` tensor.
    Densify(NodeId),
    /// `Repeat(k)(a)` (each coordinate `k` times; `k` = this node's dim / `a`'s), or
    /// `x ⊙ Repeat(k)(a)` with `a` one weight per head (`fuse_heads`).
    HeadScale {
        x: Option<NodeId>,
        a: NodeId,
    },
    /// `HeadSum(heads)(x)`, or per-head dot products `HeadSum(heads)(x ⊙ y)` (`fuse_heads`).
    HeadDot {
        x: NodeId,
        y: Option<NodeId>,
        heads: usize,
    },
    Dropout {
        p: f64,
        x: NodeId,
    },
    /// `Dropout(p)(act(x + b))` in one pass (`fuse_activation`): a `Linear` module's bias
    /// when `bias`, ReLU when `relu`, dropout when `p > 0`.
    Activation {
        x: NodeId,
        bias: Option<ModuleId>,
        relu: bool,
        p: f64,
    },
    Softmax {
        log: bool,
        x: NodeId,
    },
    OneHot {
        n: usize,
        x: NodeId,
    },
    ArgMax(NodeId),
    Concat(Vec<NodeId>),
    /// Per-row loss, `[n, 1]` (mean over the row's elements for the point losses).
    Loss {
        kind: LossKind,
        x: NodeId,
        y: NodeId,
    },
    /// `out[h] = agg_{k ∈ csr[h]} w_k · x[csr.indices[k]]`: a match list sorted by head row.
    /// `weights` (constant, `[nnz, 1]`) only with `Sum`.
    Reduce {
        x: NodeId,
        csr: Arc<Csr>,
        agg: Agg,
        weights: Option<Arc<Tensor>>,
    },
    /// Rows of several tensors, one after the other; `place[i]` puts part i's rows in place.
    Stack {
        xs: Vec<NodeId>,
        place: Vec<Arc<Csr>>,
    },
    /// `out[r, j] = x[r, map[j]]`: a per-fact transpose or broadcast of a shaped embedding.
    ColGather {
        x: NodeId,
        map: Arc<[u32]>,
    },
    /// Per row, `batch` products of an `m × k` by a `k × p` matrix (`bmkp`): `@` of shaped
    /// embeddings.
    RowMatMul {
        a: NodeId,
        b: NodeId,
        bmkp: (usize, usize, usize, usize),
    },
}

impl Op {
    pub fn inputs(&self) -> Vec<NodeId> {
        match self {
            Op::Const(_) | Op::Param(_) => vec![],
            Op::Gather { x, .. }
            | Op::Unary(_, x)
            | Op::Linear { x, .. }
            | Op::Bias { x, .. }
            | Op::Module { x, .. }
            | Op::Densify(x)
            | Op::Dropout { x, .. }
            | Op::Activation { x, .. }
            | Op::Softmax { x, .. }
            | Op::OneHot { x, .. }
            | Op::ArgMax(x)
            | Op::ColGather { x, .. }
            | Op::Reduce { x, .. } => vec![*x],
            Op::Binary(_, a, b) | Op::Loss { x: a, y: b, .. } | Op::RowMatMul { a, b, .. } => {
                vec![*a, *b]
            }
            Op::HeadScale { x, a } => x.iter().chain([a]).copied().collect(),
            Op::HeadDot { x, y, .. } => [x].into_iter().chain(y).copied().collect(),
            Op::Concat(xs) | Op::Stack { xs, .. } => xs.clone(),
        }
    }

    pub fn inputs_mut(&mut self) -> Vec<&mut NodeId> {
        match self {
            Op::Const(_) | Op::Param(_) => vec![],
            Op::Gather { x, .. }
            | Op::Unary(_, x)
            | Op::Linear { x, .. }
            | Op::Bias { x, .. }
            | Op::Module { x, .. }
            | Op::Densify(x)
            | Op::Dropout { x, .. }
            | Op::Activation { x, .. }
            | Op::Softmax { x, .. }
            | Op::OneHot { x, .. }
            | Op::ArgMax(x)
            | Op::ColGather { x, .. }
            | Op::Reduce { x, .. } => vec![x],
            Op::Binary(_, a, b) | Op::Loss { x: a, y: b, .. } | Op::RowMatMul { a, b, .. } => {
                vec![a, b]
            }
            Op::HeadScale { x, a } => x.iter_mut().chain([a]).collect(),
            Op::HeadDot { x, y, .. } => [x].into_iter().chain(y).collect(),
            Op::Concat(xs) | Op::Stack { xs, .. } => xs.iter_mut().collect(),
        }
    }

    /// Row-wise: output row i depends only on input row i (so it commutes with a gather).
    pub fn is_rowwise(&self) -> bool {
        matches!(
            self,
            Op::Unary(..)
                | Op::Binary(..)
                | Op::Linear { .. }
                | Op::Bias { .. }
                | Op::Module { .. }
                | Op::Dropout { .. }
                | Op::Activation { .. }
                | Op::HeadScale { .. }
                | Op::HeadDot { .. }
                | Op::Softmax { .. }
                | Op::OneHot { .. }
                | Op::ArgMax(_)
                | Op::Concat(_)
                | Op::Loss { .. }
                | Op::ColGather { .. }
                | Op::RowMatMul { .. }
        )
    }
}

/// What a node's rows are: facts of a relation, matches of a rule body, or a single row.
/// Runtime errors use it to name the offending fact or match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Facts(RelId),
    /// Matches of body `b` of the relation's core rule.
    Matches(RelId, usize),
    One,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub space: Space,
    /// The module whose application this node is (for messages).
    pub module: Option<ModuleId>,
    /// A sparse node's structure (`rows × dim`); its tensor then holds the `[nnz, 1]` values,
    /// and gathers and reductions act on those values.
    pub sparse: Option<Arc<Csr>>,
    pub rows: usize,
    pub dim: usize,
    /// What the node computes, for `nrp explain` (`H`, `matches of A1#1`).
    pub label: String,
    /// Source location of the expression, for runtime errors.
    pub span: Option<Span>,
    /// The constant per-entry values of this node's sparse product (a weighted `Reduce`'s
    /// weights, a sparse constant's values) in the order of its match list's transpose:
    /// permuted on first use, so that every backward pass reads them in sequence.
    transposed: std::sync::OnceLock<Vec<f32>>,
}

impl Node {
    /// `vals`, the constant values of `csr`'s entries, in the order of `csr`'s transpose
    /// (see [`Csr::transpose_values`]); computed once per node.
    pub fn transposed_values(&self, csr: &Csr, vals: &[f32]) -> &[f32] {
        self.transposed.get_or_init(|| csr.transpose_values(vals))
    }
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub nodes: Vec<Node>,
    /// The node holding each relation's embeddings (`None`: not needed or dimension 0).
    pub relation: Vec<Option<NodeId>>,
    /// Exact match counts of `count(...)` relations (their f32 embedding is exact only up
    /// to 2^24), for output.
    pub counts: std::collections::HashMap<RelId, Arc<Vec<u64>>>,
    /// The code tables of categorical encoders (`nrp_sema::codes`): those given, and those
    /// built from the matches for the keys they lack.
    pub codes: nrp_sema::codes::Codes,
}

type R<T> = Result<T, Diagnostic>;

impl Plan {
    pub fn add(
        &mut self,
        op: Op,
        rows: usize,
        dim: usize,
        label: impl Into<String>,
        span: Option<Span>,
        space: Space,
    ) -> NodeId {
        self.nodes.push(Node {
            op,
            space,
            module: None,
            sparse: None,
            rows,
            dim,
            label: label.into(),
            span,
            transposed: Default::default(),
        });
        self.nodes.len() - 1
    }

    /// Stacks the rows of `xs`.
    pub fn stack(&mut self, xs: Vec<NodeId>, dim: usize, label: impl Into<String>) -> NodeId {
        let total: usize = xs.iter().map(|&x| self.nodes[x].rows).sum();
        let mut place = vec![];
        let mut offset = 0;
        for &x in &xs {
            let n = self.nodes[x].rows;
            let indptr: Vec<usize> = (0..=total)
                .map(|r| r.clamp(offset, offset + n) - offset)
                .collect();
            place.push(Arc::new(
                Csr::new(total, n, indptr, (0..n as u32).collect()).expect("valid placement"),
            ));
            offset += n;
        }
        self.add(Op::Stack { xs, place }, total, dim, label, None, Space::One)
    }

    /// Whether a node's value is the same in every epoch: it reads no parameter and draws
    /// no dropout mask.
    pub fn constant(&self, program: &Program) -> Vec<bool> {
        let mut c = vec![false; self.nodes.len()];
        for id in self.topological(&(0..self.nodes.len()).collect::<Vec<_>>()) {
            let n = &self.nodes[id];
            c[id] = match &n.op {
                Op::Const(_) => true,
                Op::Linear { .. } | Op::Bias { .. } | Op::Param(_) => false,
                Op::Module { module, .. }
                    if !program.modules[*module].kind.params("").is_empty() =>
                {
                    false
                }
                Op::Dropout { .. } => false,
                Op::Activation { bias, p, .. } if bias.is_some() || *p > 0.0 => false,
                op => op.inputs().iter().all(|&i| c[i]),
            };
        }
        c
    }

    /// The nodes `targets` need, inputs first.
    pub fn topological(&self, targets: &[NodeId]) -> Vec<NodeId> {
        let mut state = vec![0u8; self.nodes.len()];
        let mut order = vec![];
        for &t in targets {
            let mut stack = vec![(t, false)];
            while let Some((n, expanded)) = stack.pop() {
                if expanded {
                    if state[n] != 2 {
                        state[n] = 2;
                        order.push(n);
                    }
                    continue;
                }
                if state[n] != 0 {
                    continue;
                }
                state[n] = 1;
                stack.push((n, true));
                for i in self.nodes[n].op.inputs().into_iter().rev() {
                    if state[i] == 0 {
                        stack.push((i, false));
                    }
                }
            }
        }
        order
    }

    /// How many nodes reachable from `targets` read each node (a target counts as read).
    pub fn readers(&self, targets: &[NodeId]) -> Vec<usize> {
        let mut r = vec![0; self.nodes.len()];
        for id in self.topological(targets) {
            for i in self.nodes[id].op.inputs() {
                r[i] += 1;
            }
        }
        for &t in targets {
            r[t] += 1;
        }
        r
    }
}

/// A match list sorted by head row as a CSR whose entries index the match rows.
pub fn match_csr(head_rows: usize, head: &[u32]) -> Csr {
    let mut counts = vec![0usize; head_rows];
    for &h in head {
        counts[h as usize] += 1;
    }
    let mut indptr = Vec::with_capacity(head_rows + 1);
    indptr.push(0);
    for c in counts {
        indptr.push(indptr.last().unwrap() + c);
    }
    Csr::new(
        head_rows,
        head.len(),
        indptr,
        (0..head.len() as u32).collect(),
    )
    .expect("head rows are sorted")
}

/// Builds the plan for the relations `needed` (dependencies first).
pub fn build(
    program: &Program,
    ground: &mut Ground,
    needed: &[RelId],
    codes: &nrp_sema::codes::Codes,
) -> R<Plan> {
    // The plan's constants take the input embeddings over: nothing else reads them.
    let mut embeddings = std::mem::take(&mut ground.input_embeddings);
    let ground = &*ground;
    let mut plan = Plan {
        nodes: vec![],
        relation: vec![None; program.relations.len()],
        counts: Default::default(),
        codes: code_tables(program, ground, needed, codes),
    };
    // Input relations first (`needed` lists derived relations; their inputs come along).
    let mut inputs: Vec<RelId> = needed.to_vec();
    for &rel in needed {
        if let RelKind::Derived(rule) = &program.relations[rel].kind {
            inputs.extend(rule.dependencies());
        }
    }
    inputs.retain(|&r| program.relations[r].is_input());
    inputs.sort_unstable();
    inputs.dedup();
    let needed: Vec<RelId> = inputs
        .into_iter()
        .chain(
            needed
                .iter()
                .copied()
                .filter(|&r| !program.relations[r].is_input()),
        )
        .collect();
    for &rel in &needed {
        let r = &program.relations[rel];
        let dim = r.dim.expect("dimensions are known with a database");
        let rows = ground.relations[rel].as_ref().expect("grounded").len;
        match &r.kind {
            RelKind::Input(_) => {
                if let Some(e) = embeddings[rel].take() {
                    let t = Tensor::new(rows, dim, e);
                    plan.relation[rel] = Some(plan.add(
                        Op::Const(Arc::new(t)),
                        rows,
                        dim,
                        &r.name,
                        Some(r.span),
                        Space::Facts(rel),
                    ));
                }
            }
            RelKind::Derived(rule) => {
                let gr = ground.rules[rel].as_ref().expect("grounded");
                let node = Builder {
                    program,
                    ground,
                    plan: &mut plan,
                }
                .rule(rel, rule, &gr.bodies, rows, dim)?;
                plan.relation[rel] = node;
            }
        }
    }
    Ok(plan)
}

struct Builder<'b> {
    program: &'b Program,
    ground: &'b Ground,
    plan: &'b mut Plan,
}

impl Builder<'_> {
    fn rule(
        &mut self,
        rel: RelId,
        rule: &CoreRule,
        bodies: &[Matches],
        rows: usize,
        dim: usize,
    ) -> R<Option<NodeId>> {
        let name = self.program.relations[rel].name.clone();
        let agg = rule.agg();
        if agg == Agg::Count {
            // Matches per head row: known at grounding, counted exactly.
            let mut exact = vec![0u64; rows];
            for m in bodies {
                for &h in &m.head {
                    exact[h as usize] += 1;
                }
            }
            let counts = exact.iter().map(|&c| c as f32).collect();
            self.plan.counts.insert(rel, Arc::new(exact));
            return Ok(Some(self.plan.add(
                Op::Const(Arc::new(Tensor::new(rows, 1, counts))),
                rows,
                1,
                name,
                None,
                Space::Facts(rel),
            )));
        }
        if dim == 0 {
            return Ok(None);
        }
        let mut per_match = vec![];
        for (b, ((body, expr), m)) in rule.bodies().into_iter().zip(bodies).enumerate() {
            let expr = expr.expect("a relation with an embedding has an expression");
            let space = Space::Matches(rel, b);
            let mut node = self.expr(expr, body, m, &format!("matches of {name}"), space)?;
            if self.plan.nodes[node].rows != m.len() {
                // A constant expression (one row) broadcast to every match.
                let index = Csr::from_index(vec![0; m.len()], self.plan.nodes[node].rows)
                    .expect("row 0 exists");
                node = self.plan.add(
                    Op::Gather {
                        x: node,
                        index: Arc::new(index),
                    },
                    m.len(),
                    dim,
                    format!("matches of {name}"),
                    Some(expr.span),
                    space,
                );
            }
            per_match.push(node);
        }
        let one_each = |m: &Matches| {
            m.len() == rows && m.head.iter().enumerate().all(|(i, &h)| h as usize == i)
        };
        if matches!(rule, CoreRule::Transform { .. })
            || (per_match.len() == 1 && one_each(&bodies[0]))
        {
            // One match per head row, in head order: the per-match values are the relation
            // (a sum, mean, max or min of one value is that value).
            let n = per_match[0];
            self.plan.nodes[n].label = name;
            return Ok(Some(n));
        }
        let (x, head): (NodeId, Vec<u32>) = if per_match.len() == 1 {
            (per_match[0], bodies[0].head.clone())
        } else {
            // A union: stack the branches' matches and list them by head row.
            let total: usize = bodies.iter().map(|m| m.len()).sum();
            let stacked = self
                .plan
                .stack(per_match, dim, format!("matches of {name}"));
            let mut pairs: Vec<(u32, u32)> = vec![];
            let mut offset = 0u32;
            for m in bodies {
                pairs.extend(
                    m.head
                        .iter()
                        .enumerate()
                        .map(|(k, &h)| (h, offset + k as u32)),
                );
                offset += m.len() as u32;
            }
            pairs.sort_by_key(|&(h, _)| h); // stable: branch order within a head
            let indices: Vec<u32> = pairs.iter().map(|&(_, k)| k).collect();
            let head: Vec<u32> = pairs.iter().map(|&(h, _)| h).collect();
            let mut csr = match_csr(rows, &head);
            csr = Csr::new(rows, total, csr.indptr().to_vec(), indices)
                .expect("valid union match list");
            return Ok(Some(self.reduce(stacked, csr, agg, rows, dim, name, rel)));
        };
        let csr = match_csr(rows, &head);
        Ok(Some(self.reduce(x, csr, agg, rows, dim, name, rel)))
    }

    /// The aggregation of per-match values into head rows. A mean is a sum divided by the
    /// match count, as PyTorch computes it (exact for counts, unlike scaling each term).
    #[allow(clippy::too_many_arguments)]
    fn reduce(
        &mut self,
        x: NodeId,
        csr: Csr,
        agg: Agg,
        rows: usize,
        dim: usize,
        name: String,
        rel: RelId,
    ) -> NodeId {
        let space = Space::Facts(rel);
        let csr = Arc::new(csr);
        if agg != Agg::Mean {
            return self.plan.add(
                Op::Reduce {
                    x,
                    csr,
                    agg,
                    weights: None,
                },
                rows,
                dim,
                name,
                None,
                space,
            );
        }
        let counts: Vec<f32> = csr.segments().counts().iter().map(|&c| c as f32).collect();
        let sum = self.plan.add(
            Op::Reduce {
                x,
                csr,
                agg: Agg::Sum,
                weights: None,
            },
            rows,
            dim,
            format!("{name} (sum)"),
            None,
            space,
        );
        let n = self.plan.add(
            Op::Const(Arc::new(Tensor::new(rows, 1, counts))),
            rows,
            1,
            format!("{name} (count)"),
            None,
            space,
        );
        self.plan.add(
            Op::Binary(BinaryOp::Div, sum, n),
            rows,
            dim,
            name,
            None,
            space,
        )
    }

    /// The expression evaluated once per match of `body`.
    /// `a op b`, broadcasting rows too (a constant scalar has one row).
    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        op: BinOp,
        a: NodeId,
        b: NodeId,
        dim: usize,
        label: &str,
        span: Option<Span>,
        space: Space,
    ) -> NodeId {
        let rows = broadcast_rows([self.plan.nodes[a].rows, self.plan.nodes[b].rows]);
        self.plan.add(
            Op::Binary(binary_op(op), a, b),
            rows,
            dim,
            label,
            span,
            space,
        )
    }

    fn expr(
        &mut self,
        e: &nrp_sema::Expr,
        body: &nrp_sema::Body,
        m: &Matches,
        label: &str,
        space: Space,
    ) -> R<NodeId> {
        let rows = m.len();
        let dim = e.dim.expect("dimensions are known");
        let span = Some(e.span);
        let op = match &e.kind {
            ExprKind::Emb(i) => {
                let rel = body.atoms[*i].rel;
                let src = self.plan.relation[rel];
                let rel_rows = self.ground.relations[rel].as_ref().expect("grounded").len;
                match src {
                    Some(src) => Op::Gather {
                        x: src,
                        index: Arc::new(
                            Csr::from_index(m.rows[*i].clone(), rel_rows).expect("rows in range"),
                        ),
                    },
                    None => Op::Const(Arc::new(Tensor::zeros(rows, 0))),
                }
            }
            ExprKind::Encode(items, key) => {
                let dict = &self.ground.dict;
                let lookup = key
                    .as_ref()
                    .and_then(|k| self.plan.codes.get(k))
                    .map(|t| nrp_sema::codes::Lookup::new(t));
                // A categorical encoder's values as their codes, once per distinct value.
                let mut coded: std::collections::HashMap<u32, Value> = Default::default();
                if let (Some(l), [Term::Var(x)]) = (&lookup, items.as_slice()) {
                    for &id in &m.vars[*x] {
                        coded
                            .entry(id)
                            .or_insert_with(|| Value::Int(l.code(dict.value(id)) as i64));
                    }
                }
                // The value of item `j` at match `k`.
                let cell = |k: usize, j: usize| match &items[j] {
                    Term::Var(x) if lookup.is_some() => &coded[&m.vars[*x][k]],
                    Term::Var(x) => dict.value(m.vars[*x][k]),
                    Term::Const(c) => c,
                };
                // Millions of matches convert in parallel inside the engine's pool; the
                // first non-numeric value (lowest match) is the one reported.
                let width = items.len().max(1);
                let mut data = vec![0f32; rows * items.len()];
                let chunk = 1 << 14;
                let convert = |(c, out): (usize, &mut [f32])| -> Result<(), usize> {
                    for (i, row) in out.chunks_mut(width).enumerate() {
                        for (j, x) in row.iter_mut().enumerate() {
                            *x = cell(c * chunk + i, j).encoded().ok_or(c)? as f32;
                        }
                    }
                    Ok(())
                };
                let first_bad = if crate::ground::in_pool() {
                    use rayon::prelude::*;
                    data.par_chunks_mut(chunk * width)
                        .enumerate()
                        .map(convert)
                        .filter_map(Result::err)
                        .min()
                } else {
                    data.chunks_mut(chunk * width)
                        .enumerate()
                        .map(convert)
                        .find_map(Result::err)
                };
                if let Some(c) = first_bad {
                    let (k, v) = (c * chunk..rows)
                        .flat_map(|k| (0..items.len()).map(move |j| (k, cell(k, j))))
                        .find(|(_, v)| v.encoded().is_none())
                        .expect("a chunk with a non-numeric value");
                    let d = Diagnostic::error(
                        format!(
                            "cannot encode the non-numeric value {:?} as an embedding",
                            v.to_string()
                        ),
                        e.span,
                    );
                    let d = match crate::locate(self.program, self.ground, space, k) {
                        Some(note) => d.with_note(note),
                        None => d,
                    };
                    return Err(d.with_note(nrp_sema::codes::ENCODE_HINT));
                }
                Op::Const(Arc::new(Tensor::new(rows, items.len(), data)))
            }
            ExprKind::Const(c) => {
                return Ok(self.plan.add(
                    Op::Const(Arc::new(Tensor::scalar(*c as f32))),
                    1,
                    1,
                    "constant",
                    span,
                    Space::One,
                ));
            }
            ExprKind::Fill(c) => {
                return Ok(self.plan.add(
                    Op::Const(Arc::new(Tensor::new(1, dim, vec![*c as f32; dim]))),
                    1,
                    dim,
                    "constant embedding",
                    span,
                    Space::One,
                ));
            }
            ExprKind::Param(module) => {
                let id = self
                    .plan
                    .add(Op::Param(*module), 1, dim, label, span, Space::One);
                self.plan.nodes[id].module = Some(*module);
                return Ok(id);
            }
            ExprKind::Neg(x) => Op::Unary(UnaryOp::Neg, self.expr(x, body, m, label, space)?),
            ExprKind::Binary(op, ae, be) => {
                let (a, b) = (
                    self.expr(ae, body, m, label, space)?,
                    self.expr(be, body, m, label, space)?,
                );
                let vectors = [ae, be]
                    .iter()
                    .all(|x| x.shape.as_ref().is_none_or(|s| s.is_vector()));
                if *op == BinOp::MatMul || !vectors {
                    return Ok(self.shaped_binary(
                        *op,
                        (a, ae),
                        (b, be),
                        e,
                        rows,
                        label,
                        span,
                        space,
                    ));
                }
                return Ok(self.binary(*op, a, b, dim, label, span, space));
            }
            // The same values with another shape: no node.
            ExprKind::Reshape(_, x) => return self.expr(x, body, m, label, space),
            ExprKind::Transpose(x) => {
                let id = self.expr(x, body, m, label, space)?;
                return Ok(self.transpose(id, x, label, span));
            }
            ExprKind::Chain(first, rest) => {
                // `((a op b) op c) …`, one node per operator, as nested binary nodes would
                // be; each intermediate spans the chain up to its right operand.
                let mut acc = self.expr(first, body, m, label, space)?;
                for (op, x) in rest {
                    let b = self.expr(x, body, m, label, space)?;
                    let d = match (self.plan.nodes[acc].dim, self.plan.nodes[b].dim) {
                        (1, d) | (d, _) => d,
                    };
                    let at = Some(first.span.to(x.span));
                    acc = self.binary(*op, acc, b, d, label, at, space);
                }
                return Ok(acc);
            }
            ExprKind::Func(Func::Concat, xs) => {
                let mut ids = vec![];
                for x in xs {
                    ids.push(self.expr(x, body, m, label, space)?);
                }
                Op::Concat(ids)
            }
            ExprKind::Func(f, xs) => {
                let x = self.expr(&xs[0], body, m, label, space)?;
                let op = match f {
                    Func::Exp => UnaryOp::Exp,
                    Func::Log => UnaryOp::Log,
                    Func::Sqrt => UnaryOp::Sqrt,
                    Func::Abs => UnaryOp::Abs,
                    Func::Relu => UnaryOp::Relu,
                    Func::Sigmoid => UnaryOp::Sigmoid,
                    Func::Tanh => UnaryOp::Tanh,
                    Func::Round => UnaryOp::Round,
                    Func::Concat => unreachable!("handled above"),
                };
                Op::Unary(op, x)
            }
            // A text encoder: per match, the buckets of its text's tokens (constants of the
            // grounding), and the mean of those rows of the module's table — one gather
            // reduction reading the `[buckets, dim]` parameter in place.
            ExprKind::Apply(module, xs)
                if matches!(
                    self.program.modules[*module].kind,
                    ModuleKind::HashText { .. }
                ) =>
            {
                let ModuleKind::HashText { buckets, dim: d } = self.program.modules[*module].kind
                else {
                    unreachable!("matched above")
                };
                let [arg] = xs.as_slice() else {
                    unreachable!("sema checks a text encoder's argument")
                };
                let ExprKind::Encode(items, _) = &arg.kind else {
                    unreachable!("sema checks a text encoder's argument")
                };
                let dict = &self.ground.dict;
                let of = |v: &Value| -> Vec<u32> {
                    nrp_sema::text::buckets_of(v, buckets)
                        .into_iter()
                        .map(|b| b as u32)
                        .collect()
                };
                // Each distinct value is tokenised once.
                let mut memo: std::collections::HashMap<u32, Vec<u32>> = Default::default();
                let constant = match &items[0] {
                    Term::Const(c) => Some(of(c)),
                    Term::Var(_) => None,
                };
                let mut indptr = Vec::with_capacity(rows + 1);
                indptr.push(0);
                let mut indices = vec![];
                for k in 0..rows {
                    match (&items[0], &constant) {
                        (_, Some(b)) => indices.extend_from_slice(b),
                        (Term::Var(x), None) => {
                            let id = m.vars[*x][k];
                            let b = memo.entry(id).or_insert_with(|| of(dict.value(id)));
                            indices.extend_from_slice(b);
                        }
                        (Term::Const(_), None) => unreachable!("a constant's buckets are known"),
                    }
                    indptr.push(indices.len());
                }
                let csr = Csr::new(rows, buckets, indptr, indices).expect("buckets in range");
                let table = self
                    .plan
                    .add(Op::Param(*module), buckets, d, label, span, Space::One);
                self.plan.nodes[table].module = Some(*module);
                Op::Reduce {
                    x: table,
                    csr: Arc::new(csr),
                    agg: Agg::Mean,
                    weights: None,
                }
            }
            ExprKind::Apply(module, xs) => {
                let mut args = vec![];
                for x in xs {
                    args.push(self.expr(x, body, m, label, space)?);
                }
                let x = args[0];
                match &self.program.modules[*module].kind {
                    ModuleKind::Linear { bias, .. } => Op::Linear {
                        module: *module,
                        x,
                        bias: *bias,
                    },
                    ModuleKind::LayerNorm { .. } | ModuleKind::Embedding { .. } => {
                        Op::Module { module: *module, x }
                    }
                    ModuleKind::HashText { .. } => unreachable!("handled above"),
                    ModuleKind::Dropout { p } => Op::Dropout { p: *p, x },
                    ModuleKind::ReLU => Op::Unary(UnaryOp::Relu, x),
                    ModuleKind::LeakyReLU { slope } => Op::Unary(UnaryOp::LeakyRelu(*slope), x),
                    ModuleKind::ELU { alpha } => Op::Unary(UnaryOp::Elu(*alpha), x),
                    ModuleKind::GELU => Op::Unary(UnaryOp::Gelu, x),
                    ModuleKind::Sigmoid => Op::Unary(UnaryOp::Sigmoid, x),
                    ModuleKind::Tanh => Op::Unary(UnaryOp::Tanh, x),
                    ModuleKind::Identity => return Ok(x),
                    ModuleKind::Softmax => Op::Softmax { log: false, x },
                    ModuleKind::LogSoftmax => Op::Softmax { log: true, x },
                    ModuleKind::OneHot { n } => Op::OneHot { n: *n, x },
                    ModuleKind::HeadSum { heads } => Op::HeadDot {
                        x,
                        y: None,
                        heads: *heads,
                    },
                    ModuleKind::Repeat { .. } => Op::HeadScale { x: None, a: x },
                    ModuleKind::ArgMax => Op::ArgMax(x),
                    ModuleKind::Tensor { .. } => unreachable!("a Tensor is read, not applied"),
                    ModuleKind::CrossEntropyLoss => Op::Loss {
                        kind: LossKind::CrossEntropy,
                        x,
                        y: args[1],
                    },
                    ModuleKind::MSELoss => Op::Loss {
                        kind: LossKind::Mse,
                        x,
                        y: args[1],
                    },
                    ModuleKind::L1Loss => Op::Loss {
                        kind: LossKind::L1,
                        x,
                        y: args[1],
                    },
                    ModuleKind::BCEWithLogitsLoss => Op::Loss {
                        kind: LossKind::BceWithLogits,
                        x,
                        y: args[1],
                    },
                    ModuleKind::BCELoss => Op::Loss {
                        kind: LossKind::Bce,
                        x,
                        y: args[1],
                    },
                    ModuleKind::NLLLoss => Op::Loss {
                        kind: LossKind::Nll,
                        x,
                        y: args[1],
                    },
                }
            }
        };
        // Concat and losses pair rows up: one-row operands (scalar constants) are repeated.
        let mut op = op;
        if matches!(op, Op::Concat(_) | Op::Loss { .. }) {
            let n = broadcast_rows(op.inputs().iter().map(|&i| self.plan.nodes[i].rows));
            for i in op.inputs_mut() {
                if n != 1 && self.plan.nodes[*i].rows == 1 {
                    let index = Arc::new(Csr::from_index(vec![0; n], 1).expect("row 0 exists"));
                    let d = self.plan.nodes[*i].dim;
                    *i = self
                        .plan
                        .add(Op::Gather { x: *i, index }, n, d, label, span, space);
                }
            }
        }
        // Row-wise operations keep their input's row count; scalars broadcast.
        let rows = match &op {
            Op::Const(t) => t.rows,
            Op::Gather { index, .. } => index.n_rows(),
            Op::Reduce { csr, .. } => csr.n_rows(),
            op => broadcast_rows(op.inputs().iter().map(|&i| self.plan.nodes[i].rows)),
        };
        let id = self.plan.add(op, rows, dim, label, span, space);
        if let ExprKind::Apply(module, _) = &e.kind {
            self.plan.nodes[id].module = Some(*module);
        }
        Ok(id)
    }
}

/// Bytes of `rows × dim` float32 values (no overflow: `u128`).
/// The code tables: `known`, and for every other key the table of the values its variable
/// takes in the matches of the rules planned (`nrp_sema::codes`).
fn code_tables(
    program: &Program,
    ground: &Ground,
    needed: &[RelId],
    known: &nrp_sema::codes::Codes,
) -> nrp_sema::codes::Codes {
    use std::collections::{BTreeMap, BTreeSet};
    let mut seen: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for &rel in needed {
        let (RelKind::Derived(rule), Some(gr)) = (&program.relations[rel].kind, &ground.rules[rel])
        else {
            continue;
        };
        for ((_, expr), m) in rule.bodies().into_iter().zip(&gr.bodies) {
            if let Some(e) = expr {
                nrp_sema::codes::keys(e, &mut |key, v| {
                    seen.entry(key.to_string())
                        .or_default()
                        .extend(m.vars[v].iter().copied())
                });
            }
        }
    }
    let seen = seen
        .into_iter()
        .map(|(k, ids)| {
            (
                k,
                ids.into_iter()
                    .map(|i| ground.dict.value(i).clone())
                    .collect(),
            )
        })
        .collect();
    nrp_sema::codes::complete(known, seen)
}

pub fn tensor_bytes(rows: usize, dim: usize) -> u128 {
    rows as u128 * dim as u128 * 4
}

/// Bytes of a node's values: its `rows × dim` float32 values, or its non-zeros when sparse.
pub fn value_bytes(node: &Node) -> u128 {
    match &node.sparse {
        Some(s) => tensor_bytes(s.nnz(), 1),
        None => tensor_bytes(node.rows, node.dim),
    }
}

/// What a node computes, for a message: the module it applies, or its label.
fn node_what(plan: &Plan, program: &Program, id: NodeId) -> String {
    let n = &plan.nodes[id];
    match n.module {
        Some(m) => {
            let module = &program.modules[m];
            format!("`{}` ({})", module.name, module.kind.describe())
        }
        None => match n.label.strip_prefix("matches of ") {
            Some(rel) => format!("the matches of `{}`", user_name(rel)),
            None => format!("`{}`", user_name(&n.label)),
        },
    }
}

/// A relation's name as written (`H#1` → `H`).
fn user_name(name: &str) -> &str {
    name.split(['#', ' ']).next().unwrap_or(name)
}

/// The node's place in the program: its expression, else its relation's definition.
fn node_span(plan: &Plan, program: &Program, id: NodeId) -> Option<Span> {
    let n = &plan.nodes[id];
    n.span.or(match n.space {
        Space::Facts(r) | Space::Matches(r, _) => Some(program.relations[r].span),
        Space::One => None,
    })
}

/// Refuses a `rows × dim` tensor for node `id` that does not fit in `budget` bytes, before
/// it is allocated.
pub fn check_tensor(
    plan: &Plan,
    program: &Program,
    id: NodeId,
    rows: usize,
    dim: usize,
    budget: u64,
) -> R<()> {
    let bytes = tensor_bytes(rows, dim);
    if bytes <= budget as u128 {
        return Ok(());
    }
    let message = format!(
        "{} would be a {rows} × {dim} tensor ({}), more than the memory limit of {}",
        node_what(plan, program, id),
        nrp_data::memory::format_bytes_f64(bytes as f64),
        nrp_data::memory::format_bytes(budget)
    );
    Err(match node_span(plan, program, id) {
        Some(s) => Diagnostic::error(message, s).with_label(format!("{rows} × {dim} values")),
        None => Diagnostic::global(message),
    })
}

/// What the plan's per-epoch tensors take: the values of every node that is not a
/// constant (constants are allocated already), twice when training (values and gradients).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochMemory {
    pub bytes: u128,
    /// The node with the most bytes.
    pub largest: Option<NodeId>,
}

/// [`EpochMemory`] of the nodes `targets` need.
pub fn epoch_memory(plan: &Plan, targets: &[NodeId], training: bool) -> EpochMemory {
    let mut m = EpochMemory::default();
    let mut largest = 0;
    for id in plan.topological(targets) {
        let n = &plan.nodes[id];
        if matches!(n.op, Op::Const(_)) {
            continue;
        }
        let b = value_bytes(n) * if training { 2 } else { 1 };
        m.bytes += b;
        if m.largest.is_none() || b > largest {
            largest = b;
            m.largest = Some(id);
        }
    }
    m
}

/// Refuses a plan whose per-epoch tensors ([`epoch_memory`]) do not fit in `budget` bytes:
/// before the first epoch allocates them.
pub fn check_epoch_memory(
    plan: &Plan,
    program: &Program,
    targets: &[NodeId],
    training: bool,
    budget: u64,
) -> R<EpochMemory> {
    let m = epoch_memory(plan, targets, training);
    if m.bytes <= budget as u128 {
        return Ok(m);
    }
    let id = m.largest.expect("some node takes the bytes");
    let n = &plan.nodes[id];
    let fmt = |b: u128| nrp_data::memory::format_bytes_f64(b as f64);
    let message = format!(
        "the tensors computed {} take {}, more than the memory limit of {}; the largest is {}, {} × {} ({})",
        if training {
            "every epoch (values and gradients)"
        } else {
            "to evaluate the program"
        },
        fmt(m.bytes),
        nrp_data::memory::format_bytes(budget),
        node_what(plan, program, id),
        n.rows,
        n.dim,
        fmt(value_bytes(n) * if training { 2 } else { 1 })
    );
    Err(match node_span(plan, program, id) {
        Some(s) => Diagnostic::error(message, s).with_label("the largest tensor"),
        None => Diagnostic::global(message),
    })
}

/// Rows of a row-wise result: one-row operands (scalar constants) broadcast, so the result
/// has the rows of the others — none when a match list is empty (not the scalar's one).
/// The tensor operator of an IR operator.
fn binary_op(op: BinOp) -> BinaryOp {
    match op {
        BinOp::Add => BinaryOp::Add,
        BinOp::Sub => BinaryOp::Sub,
        BinOp::Mul => BinaryOp::Mul,
        BinOp::Div => BinaryOp::Div,
        BinOp::MatMul => unreachable!("`@` is a per-row product, not element-wise"),
        BinOp::Pow => BinaryOp::Pow,
        BinOp::Eq => BinaryOp::Eq,
        BinOp::Ne => BinaryOp::Ne,
        BinOp::Lt => BinaryOp::Lt,
        BinOp::Le => BinaryOp::Le,
        BinOp::Gt => BinaryOp::Gt,
        BinOp::Ge => BinaryOp::Ge,
    }
}

pub fn broadcast_rows(rows: impl IntoIterator<Item = usize>) -> usize {
    rows.into_iter()
        .fold(1, |acc, r| if r == 1 { acc } else { r })
}

/// The nodes holding the given relations' embeddings.
pub fn targets(plan: &Plan, rels: &[RelId]) -> Vec<NodeId> {
    rels.iter().filter_map(|&r| plan.relation[r]).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    //! Fixtures for the rewrite rules' snapshot tests: a tiny in-memory database with
    //! `E(a, b, w)` (a weighted 3-cycle plus a chord) and `F(v, d, w)` (sparse features).
    use super::*;
    use nrp_data::{Database, Table, Value};

    pub fn database() -> Database {
        let v = |s: &str| Value::parse(s);
        let e = Table::from_rows(
            "E",
            vec!["a".into(), "b".into(), "w".into()],
            &[
                vec![v("1"), v("2"), v("0.5")],
                vec![v("2"), v("3"), v("2")],
                vec![v("3"), v("1"), v("1.5")],
                vec![v("1"), v("3"), v("1")],
            ],
        )
        .unwrap();
        let f = Table::from_rows(
            "F",
            vec!["v".into(), "d".into(), "w".into()],
            &[
                vec![v("1"), v("0"), v("1")],
                vec![v("1"), v("2"), v("0.5")],
                vec![v("2"), v("1"), v("2")],
                vec![v("3"), v("3"), v("1")],
            ],
        )
        .unwrap();
        Database::from_tables("test", vec![e, f]).unwrap()
    }

    pub fn program_of(text: &str) -> Program {
        let ast = nrp_syntax::parse(text).unwrap_or_else(|d| panic!("{}", d.message));
        nrp_sema::check(&ast, Some(&database())).unwrap_or_else(|d| panic!("{}", d.message))
    }

    /// The unoptimised plan of `text` for relation `rel`, and its target nodes.
    pub fn plan_of(text: &str, rel: &str) -> (Plan, Vec<NodeId>) {
        let program = program_of(text);
        let r = program.relation(rel).unwrap();
        let needed = program.closure(&[r]);
        let mut ground = Ground::new(&program, &database(), &needed).unwrap();
        let plan = build(&program, &mut ground, &needed, &Default::default()).unwrap();
        let t = targets(&plan, &[r]);
        (plan, t)
    }

    /// The plan after the rules that run before `rule` (see `rules::optimize`).
    pub fn optimized_until(text: &str, rel: &str, rule: &str) -> (Plan, Vec<NodeId>) {
        let program = program_of(text);
        let (mut plan, t) = plan_of(text, rel);
        let r = [program.relation(rel).unwrap()];
        for (name, f) in rules::ORDER {
            if *name == rule {
                break;
            }
            let t = targets(&plan, &r);
            with_ctx(text, |ctx| f(&mut plan, ctx, &t).unwrap());
        }
        let _ = t;
        let t = targets(&plan, &r);
        (plan, t)
    }

    /// Runs `f` with the rule context (program and grounding) of `text`.
    pub fn with_ctx<T>(text: &str, f: impl FnOnce(&rules::Ctx) -> T) -> T {
        let program = program_of(text);
        let needed = program.closure(
            &(0..program.relations.len())
                .filter(|&r| !program.relations[r].is_input())
                .collect::<Vec<_>>(),
        );
        let ground = Ground::new(&program, &database(), &needed).unwrap();
        f(&rules::Ctx {
            program: &program,
            ground: &ground,
            budget: u64::MAX,
        })
    }

    pub fn snapshot(plan: &Plan, targets: &[NodeId]) -> String {
        display::text(plan, None, targets)
    }

    /// The plan of `rel` just before the rule named `rule` (of [`rules::ORDER`]) and after
    /// it, as a rule's snapshot test shows them.
    pub fn before_after(text: &str, rel: &str, rule: &str) -> String {
        let (mut plan, targets) = optimized_until(text, rel, rule);
        let before = snapshot(&plan, &targets);
        let (_, apply) = rules::ORDER
            .iter()
            .find(|(name, _)| *name == rule)
            .expect("a rule of ORDER");
        with_ctx(text, |ctx| apply(&mut plan, ctx, &targets).unwrap());
        format!("{before}\n--- after ---\n{}", snapshot(&plan, &targets))
    }
}
