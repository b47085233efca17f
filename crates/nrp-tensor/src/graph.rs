//! Reverse-mode autodiff: a tape recorded every epoch.
//!
//! ```text
//! let mut g = Graph::with_pool(&cpu, pool);          // pool: last epoch's buffers
//! let x  = g.constant(&features);                      // borrowed, never copied
//! let w1 = g.param(&params, lin1_w);                   // leaf whose gradient is kept
//! let h  = g.linear(x, w1, Some(b1))?;
//! let h  = g.spmm(&adj, h, Some(norm))?;               // sum(z * w) over a match list
//! let loss = g.cross_entropy(h, y, Reduction::Mean)?;
//! let grads = g.backward(loss)?;
//! let pool = g.into_pool();                            // releases the borrows of params
//! adam.step(&mut params, &grads);
//! pool.recycle(grads);
//! ```
//! Nodes hold their forward value; ops that need saved state (argmax of a segment max, layer
//! norm statistics, dropout masks) keep it in the node. Backward visits nodes in reverse and
//! computes input gradients only for inputs that depend on a parameter or a grad-requiring
//! leaf, so e.g. the gradient wrt the input features of a first layer is never formed.

use crate::backend::{Backend, BinaryOp, DropMask, PointLoss, Reduce, Reduction, UnaryOp};
use crate::cpu::loss::class_indices;
use crate::cpu::sparse::mean_scale;
use crate::error::{Result, TensorError, shape_err};
use crate::optim::{ParamId, ParamSet};
use crate::pool::BufferPool;
use crate::{CounterRng, Csr, EntryValues, Float, Segments, Tensor};
use std::sync::Arc;

/// How [`Graph::sparse_linear`] computes with a weight `[d, n_in]` and `nnz` entries. Both
/// routes sum the same products in the same order (the same bits); which is faster depends
/// on how many entries there are per column of the weight (measured with
/// `examples/bench.rs sparse-linear`, see README.md).
#[derive(Clone, Copy)]
struct SparseLinearRoute {
    /// Forward and value gradient read the weight's columns in place (each entry reads `d`
    /// scattered values); otherwise through a transposed copy (one contiguous row per entry),
    /// which pays for itself from about one entry per 8 columns.
    in_place: bool,
    /// The weight gradient is written in place (zeroed, then the columns with entries);
    /// otherwise summed into a transposed buffer and transposed back, which is faster once
    /// most columns have entries.
    dw_in_place: bool,
}

impl SparseLinearRoute {
    fn new(nnz: usize, n_in: usize) -> Self {
        SparseLinearRoute {
            in_place: nnz.saturating_mul(8) <= n_in,
            dw_in_place: nnz < n_in,
        }
    }
}

/// A handle to a node of a [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var(u32);

impl Var {
    pub fn index(self) -> usize {
        self.0 as usize
    }
    /// The handle of the `i`-th recorded node.
    pub fn from_index(i: usize) -> Var {
        Var(i as u32)
    }
}

enum Val<'a, T> {
    Owned(Tensor<T>),
    Borrowed(&'a Tensor<T>),
    Shared(Arc<Tensor<T>>),
}

impl<T> Val<'_, T> {
    fn get(&self) -> &Tensor<T> {
        match self {
            Val::Owned(t) => t,
            Val::Borrowed(t) => t,
            Val::Shared(t) => t,
        }
    }
}

enum CsrRef<'a> {
    Borrowed(&'a Csr),
    Owned(Box<Csr>),
}

impl CsrRef<'_> {
    fn get(&self) -> &Csr {
        match self {
            CsrRef::Borrowed(c) => c,
            CsrRef::Owned(c) => c,
        }
    }
}

enum Op<'a, T> {
    Leaf,
    Unary(UnaryOp, Var),
    Binary(BinaryOp, Var, Var),
    MatMul {
        a: Var,
        ta: bool,
        b: Var,
        tb: bool,
    },
    Linear {
        x: Var,
        w: Var,
        b: Option<Var>,
    },
    Transpose(Var),
    /// `out[r, j] = x[r, map[j]]` (a shaped embedding's transpose or broadcast).
    ColGather {
        x: Var,
        map: Arc<[u32]>,
    },
    /// Per row, `batch` products of an `m × k` by a `k × p` matrix (`bmkp`).
    RowMatMul {
        a: Var,
        b: Var,
        bmkp: (usize, usize, usize, usize),
    },
    /// `x ⊙ Repeat(d / heads)(a)` (no `x`: `Repeat(d / heads)(a)`).
    HeadScale {
        x: Option<Var>,
        a: Var,
    },
    /// `HeadSum(heads)(x ⊙ y)` (no `y`: `HeadSum(heads)(x)`).
    HeadDot {
        x: Var,
        y: Option<Var>,
    },
    SpMM {
        csr: CsrRef<'a>,
        x: Var,
        vals: Option<Var>,
        /// Constant `vals` in the transpose's order, for the backward pass.
        transposed: Option<&'a [T]>,
    },
    /// `Σ_k v_k · w[:, idx_k]` per row: `nn.Linear` (no bias) on sparse rows, `w` read in
    /// place.
    SparseLinear {
        csr: &'a Csr,
        vals: Option<Var>,
        w: Var,
        /// Constant `vals` in the transpose's order, for the backward pass.
        transposed: Option<&'a [T]>,
    },
    /// A gathered mean divided exactly; `counts` (`[n, 1]`, 1 for empty rows) divides the
    /// gradient the same way.
    SpMMMean {
        csr: &'a Csr,
        x: Var,
        counts: Tensor<T>,
    },
    Gather {
        csr: CsrRef<'a>,
        x: Var,
    },
    ToDense {
        csr: &'a Csr,
        vals: Var,
    },
    SegSum {
        seg: &'a Segments,
        x: Var,
        scale: Option<Vec<T>>,
    },
    SegExtreme {
        seg: &'a Segments,
        csr: Option<&'a Csr>,
        x: Var,
        arg: Vec<u32>,
    },
    Softmax {
        x: Var,
        log: bool,
    },
    LayerNorm {
        x: Var,
        w: Option<Var>,
        b: Option<Var>,
        stats: Vec<T>,
    },
    Concat(Vec<Var>),
    StackRows(Vec<Var>),
    Dropout {
        x: Var,
        keep: Vec<u8>,
        scale: T,
    },
    /// `keep` is empty with ReLU (the output tells what was kept) or without dropout.
    BiasActDropout {
        x: Var,
        bias: Option<Var>,
        relu: bool,
        keep: Vec<u8>,
        scale: T,
    },
    SumAll {
        x: Var,
        mean: bool,
    },
    RowSum {
        x: Var,
        mean: bool,
    },
    CrossEntropy {
        x: Var,
        targets: Vec<u32>,
        reduction: Reduction,
    },
    /// `NLLLoss`: `−x[i, t_i]`.
    Nll {
        x: Var,
        targets: Vec<u32>,
        reduction: Reduction,
    },
    PointLoss {
        kind: PointLoss,
        a: Var,
        b: Var,
        reduction: Reduction,
    },
}

struct Node<'a, T> {
    val: Val<'a, T>,
    op: Op<'a, T>,
    /// Depends on a parameter or grad-requiring leaf.
    grad: bool,
    param: Option<ParamId>,
}

pub struct Graph<'a, T: Float = f32, B: Backend<T> = crate::Cpu> {
    backend: &'a B,
    nodes: Vec<Node<'a, T>>,
    pool: BufferPool<T>,
    training: bool,
    /// When set, [`Graph::backward`] adds each node's backward time (ns) at its index.
    backward_ns: Option<Vec<u64>>,
}

/// Gradients from [`Graph::backward`]: per parameter of the [`ParamSet`], and per
/// grad-requiring leaf made with [`Graph::input`].
pub struct Grads<T = f32> {
    params: Vec<Option<Tensor<T>>>,
    leaves: Vec<(Var, Tensor<T>)>,
    param_vars: Vec<(Var, ParamId)>,
}

impl<T: Float> Grads<T> {
    /// Gradient of a parameter (`None` if the loss does not depend on it).
    pub fn param(&self, id: ParamId) -> Option<&Tensor<T>> {
        self.params.get(id.index()).and_then(|g| g.as_ref())
    }

    /// Gradient of a leaf by handle (a parameter leaf gives its parameter's total gradient).
    pub fn get(&self, v: Var) -> Option<&Tensor<T>> {
        if let Some((_, t)) = self.leaves.iter().find(|(w, _)| *w == v) {
            return Some(t);
        }
        let (_, id) = self.param_vars.iter().find(|(w, _)| *w == v)?;
        self.param(*id)
    }

    pub(crate) fn into_tensors(self) -> impl Iterator<Item = Tensor<T>> {
        self.params
            .into_iter()
            .flatten()
            .chain(self.leaves.into_iter().map(|(_, t)| t))
    }
}

/// The factor of a kept element under dropout with probability `p` (`1/(1-p)`; 0 when
/// every element is dropped), or an error for `p` outside `[0, 1]`.
fn dropout_scale<T: Float>(p: f64) -> Result<T> {
    if !(0.0..=1.0).contains(&p) {
        return Err(TensorError::Invalid(format!(
            "dropout probability {p} outside [0, 1]"
        )));
    }
    Ok(if p >= 1.0 {
        T::ZERO
    } else {
        T::from_f64(1.0 / (1.0 - p))
    })
}

impl<'a, T: Float, B: Backend<T>> Graph<'a, T, B> {
    pub fn new(backend: &'a B) -> Self {
        Self::with_pool(backend, BufferPool::new())
    }

    /// A graph that takes its buffers from `pool` (e.g. the previous epoch's).
    pub fn with_pool(backend: &'a B, pool: BufferPool<T>) -> Self {
        Graph {
            backend,
            nodes: Vec::with_capacity(128),
            pool,
            training: true,
            backward_ns: None,
        }
    }

    /// Times each node's backward step from now on (see [`Graph::backward_ns`]).
    pub fn profile_backward(&mut self) {
        self.backward_ns = Some(Vec::new());
    }

    /// Nanoseconds of the backward step of each node, by node index (profiling only).
    pub fn backward_ns(&self) -> Option<&[u64]> {
        self.backward_ns.as_deref()
    }

    /// Ends the graph, returning every buffer it owns to the pool.
    pub fn into_pool(mut self) -> BufferPool<T> {
        self.pool.end_graph();
        for n in std::mem::take(&mut self.nodes) {
            if let Val::Owned(t) = n.val {
                self.pool.give(t);
            }
            match n.op {
                Op::SegExtreme { arg, .. } => self.pool.give_index(arg),
                Op::SpMMMean { counts, .. } => self.pool.give(counts),
                Op::Dropout { keep, .. } | Op::BiasActDropout { keep, .. } => {
                    self.pool.give_mask(keep)
                }
                Op::LayerNorm { stats, .. } => self.pool.give_vec(stats),
                Op::SegSum { scale: Some(s), .. } => self.pool.give_vec(s),
                _ => {}
            }
        }
        self.pool
    }

    pub fn backend(&self) -> &'a B {
        self.backend
    }

    /// Training mode (default `true`): dropout is active.
    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }

    pub fn training(&self) -> bool {
        self.training
    }

    pub fn value(&self, v: Var) -> &Tensor<T> {
        self.nodes[v.index()].val.get()
    }

    /// Moves `v`'s value out of a graph that is done (a copy if it is not the graph's own):
    /// results of millions of values are not copied to be kept.
    pub fn into_value(mut self, v: Var) -> Tensor<T>
    where
        T: Clone,
    {
        match std::mem::replace(
            &mut self.nodes[v.index()].val,
            Val::Owned(Tensor::new(0, 0, vec![])),
        ) {
            Val::Owned(t) => t,
            Val::Borrowed(t) => t.clone(),
            Val::Shared(t) => Arc::unwrap_or_clone(t),
        }
    }

    pub fn shape(&self, v: Var) -> (usize, usize) {
        self.value(v).shape()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn push(&mut self, val: Val<'a, T>, op: Op<'a, T>, grad: bool) -> Var {
        let id = u32::try_from(self.nodes.len()).expect("graph larger than u32::MAX nodes");
        self.nodes.push(Node {
            val,
            op,
            grad,
            param: None,
        });
        Var(id)
    }

    fn g(&self, v: Var) -> bool {
        self.nodes[v.index()].grad
    }

    fn alloc(&mut self, rows: usize, cols: usize) -> Tensor<T> {
        self.pool.take(rows, cols)
    }

    /// `1/count` per row of `seg`, in a pooled buffer.
    fn mean_scale(&mut self, seg: &Segments) -> Vec<T> {
        let mut v = self.pool.take(seg.n_rows(), 1).data;
        mean_scale(seg, &mut v);
        v
    }

    // ------------------------------------------------------------------ leaves

    /// A constant, borrowed for the graph's lifetime (no copy).
    pub fn constant(&mut self, t: &'a Tensor<T>) -> Var {
        self.push(Val::Borrowed(t), Op::Leaf, false)
    }

    pub fn constant_owned(&mut self, t: Tensor<T>) -> Var {
        self.push(Val::Owned(t), Op::Leaf, false)
    }

    pub fn constant_shared(&mut self, t: Arc<Tensor<T>>) -> Var {
        self.push(Val::Shared(t), Op::Leaf, false)
    }

    /// A `[1, 1]` constant.
    pub fn scalar(&mut self, v: T) -> Var {
        let mut t = self.alloc(1, 1);
        t.data[0] = v;
        self.push(Val::Owned(t), Op::Leaf, false)
    }

    /// A leaf whose gradient [`Grads::get`] returns when `requires_grad`.
    pub fn input(&mut self, t: &'a Tensor<T>, requires_grad: bool) -> Var {
        self.push(Val::Borrowed(t), Op::Leaf, requires_grad)
    }

    /// A learnable parameter of `params` (borrowed; its gradient goes to [`Grads::param`]).
    pub fn param(&mut self, params: &'a ParamSet<T>, id: ParamId) -> Var {
        let v = self.push(Val::Borrowed(params.value(id)), Op::Leaf, true);
        self.nodes[v.index()].param = Some(id);
        v
    }

    // ------------------------------------------------------------------ element-wise

    pub fn unary(&mut self, op: UnaryOp, x: Var) -> Var {
        let (r, c) = self.shape(x);
        let mut out = self.alloc(r, c);
        self.backend.unary(op, self.value(x), &mut out);
        let grad = self.g(x);
        self.push(Val::Owned(out), Op::Unary(op, x), grad)
    }

    pub fn neg(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Neg, x)
    }
    pub fn exp(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Exp, x)
    }
    pub fn log(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Log, x)
    }
    pub fn sqrt(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Sqrt, x)
    }
    pub fn abs(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Abs, x)
    }
    pub fn relu(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Relu, x)
    }
    pub fn leaky_relu(&mut self, x: Var, slope: f64) -> Var {
        self.unary(UnaryOp::LeakyRelu(slope), x)
    }
    pub fn elu(&mut self, x: Var, alpha: f64) -> Var {
        self.unary(UnaryOp::Elu(alpha), x)
    }
    pub fn gelu(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Gelu, x)
    }
    pub fn sigmoid(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Sigmoid, x)
    }
    pub fn tanh(&mut self, x: Var) -> Var {
        self.unary(UnaryOp::Tanh, x)
    }

    /// `a op b` with broadcasting of dimension-1 operands (`[n,1]`/`[1,d]`/`[1,1]` with `[n,d]`).
    pub fn binary(&mut self, op: BinaryOp, a: Var, b: Var) -> Result<Var> {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let Some((r, c)) = crate::cpu::elementwise::broadcast_shape(sa, sb) else {
            return shape_err(
                "element-wise",
                format!("[{}, {}] vs [{}, {}]", sa.0, sa.1, sb.0, sb.1),
            );
        };
        let mut out = self.alloc(r, c);
        self.backend
            .binary(op, self.value(a), self.value(b), &mut out);
        let grad = !op.is_comparison() && (self.g(a) || self.g(b));
        Ok(self.push(Val::Owned(out), Op::Binary(op, a, b), grad))
    }

    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Div, a, b)
    }
    pub fn pow(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Pow, a, b)
    }
    /// 1.0 where equal, else 0.0 (no gradient).
    pub fn eq(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryOp::Eq, a, b)
    }

    // ------------------------------------------------------------------ dense

    /// `op(a) · op(b)`; `ta`/`tb` transpose an operand.
    pub fn matmul_t(&mut self, a: Var, ta: bool, b: Var, tb: bool) -> Result<Var> {
        let (ra, ca) = self.shape(a);
        let (rb, cb) = self.shape(b);
        let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
        let (k2, n) = if tb { (cb, rb) } else { (rb, cb) };
        if k != k2 {
            return shape_err("matmul", format!("[{m}, {k}] · [{k2}, {n}]"));
        }
        let mut out = self.alloc(m, n);
        self.backend
            .matmul(self.value(a), ta, self.value(b), tb, &mut out, false);
        let grad = self.g(a) || self.g(b);
        Ok(self.push(Val::Owned(out), Op::MatMul { a, ta, b, tb }, grad))
    }

    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.matmul_t(a, false, b, false)
    }

    /// `nn.Linear`: `x · wᵀ + b` with `w` `[out, in]` and `b` holding `out` values.
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let (n, i) = self.shape(x);
        let (o, i2) = self.shape(w);
        if i != i2 {
            return shape_err(
                "linear",
                format!("input has {i} features, weight is [{o}, {i2}]"),
            );
        }
        if let Some(b) = b
            && self.value(b).len() != o
        {
            return shape_err(
                "linear",
                format!("bias has {} values for {o} outputs", self.value(b).len()),
            );
        }
        let mut out = self.alloc(n, o);
        self.backend
            .matmul(self.value(x), false, self.value(w), true, &mut out, false);
        if let Some(b) = b {
            self.backend.add_row_vector(&mut out, &self.value(b).data);
        }
        let grad = self.g(x) || self.g(w) || b.is_some_and(|b| self.g(b));
        Ok(self.push(Val::Owned(out), Op::Linear { x, w, b }, grad))
    }

    pub fn transpose(&mut self, x: Var) -> Var {
        let (r, c) = self.shape(x);
        let mut out = self.alloc(c, r);
        self.backend.transpose(self.value(x), &mut out);
        let grad = self.g(x);
        self.push(Val::Owned(out), Op::Transpose(x), grad)
    }

    /// `out[r, j] = x[r, map[j]]`: every row rearranged by the same map (a per-fact
    /// transpose, the broadcast of a shaped operand). Backward sums into the sources.
    pub fn col_gather(&mut self, x: Var, map: Arc<[u32]>) -> Result<Var> {
        let (r, c) = self.shape(x);
        if let Some(&j) = map.iter().find(|&&j| j as usize >= c) {
            return shape_err("col_gather", format!("column {j} of a [{r}, {c}] tensor"));
        }
        let mut out = self.alloc(r, map.len());
        self.backend.col_gather(self.value(x), &map, &mut out);
        let grad = self.g(x);
        Ok(self.push(Val::Owned(out), Op::ColGather { x, map }, grad))
    }

    /// Per row, `a[r] @ b[r]` with `a`'s rows `batch` `m × k` and `b`'s `batch` `k × p`
    /// matrices (row-major): `@` between per-fact matrices.
    pub fn row_matmul(
        &mut self,
        a: Var,
        b: Var,
        bmkp: (usize, usize, usize, usize),
    ) -> Result<Var> {
        let (batch, m, k, p) = bmkp;
        let ((ra, ca), (rb, cb)) = (self.shape(a), self.shape(b));
        if ra != rb || ca != batch * m * k || cb != batch * k * p {
            return shape_err(
                "row_matmul",
                format!("[{ra}, {ca}] @ [{rb}, {cb}] as {batch} × ({m}×{k} @ {k}×{p}) per row"),
            );
        }
        let mut out = self.alloc(ra, batch * m * p);
        self.backend
            .row_matmul(self.value(a), self.value(b), bmkp, &mut out);
        let grad = self.g(a) || self.g(b);
        Ok(self.push(Val::Owned(out), Op::RowMatMul { a, b, bmkp }, grad))
    }

    // ------------------------------------------------------------------ sparse

    /// `out[i] = Σ_{k ∈ row i} v_k · x[idx_k]`: the fused gather–multiply–reduce of
    /// `sum(z * w)` over a match list. `vals` is `[nnz, 1]` (constant or learnable) or `None`
    /// for 1.
    pub fn spmm(&mut self, csr: &'a Csr, x: Var, vals: Option<Var>) -> Result<Var> {
        self.spmm_impl(CsrRef::Borrowed(csr), x, vals, None)
    }

    /// [`Graph::spmm`] with constant values, given also in the transpose's order
    /// ([`Csr::transpose_values`]), so that the backward pass reads them in sequence.
    pub fn spmm_const(
        &mut self,
        csr: &'a Csr,
        x: Var,
        vals: &'a Tensor<T>,
        transposed: &'a [T],
    ) -> Result<Var> {
        if transposed.len() != vals.len() {
            return shape_err(
                "spmm",
                format!("{} transposed values for {}", transposed.len(), vals.len()),
            );
        }
        let v = self.constant(vals);
        self.spmm_impl(CsrRef::Borrowed(csr), x, Some(v), Some(transposed))
    }

    fn spmm_impl(
        &mut self,
        csr: CsrRef<'a>,
        x: Var,
        vals: Option<Var>,
        transposed: Option<&'a [T]>,
    ) -> Result<Var> {
        let c = csr.get();
        let (r, d) = self.shape(x);
        if r != c.n_cols() {
            return shape_err(
                "spmm",
                format!("match list reads {} rows, tensor has {r}", c.n_cols()),
            );
        }
        if let Some(v) = vals
            && self.shape(v) != (c.nnz(), 1)
        {
            let (vr, vc) = self.shape(v);
            return shape_err(
                "spmm",
                format!("values are [{vr}, {vc}], expected [{}, 1]", c.nnz()),
            );
        }
        let mut out = self.alloc(c.n_rows(), d);
        let vd = vals.map(|v| &self.value(v).data[..]);
        self.backend.spmm(c, vd, None, self.value(x), &mut out);
        let grad = self.g(x) || vals.is_some_and(|v| self.g(v));
        let op = Op::SpMM {
            csr,
            x,
            vals,
            transposed,
        };
        Ok(self.push(Val::Owned(out), op, grad))
    }

    /// `nn.Linear` without bias on sparse rows: `out[i, o] = Σ_{k ∈ row i} v_k · w[o, idx_k]`,
    /// i.e. `S · wᵀ` for the `[n_rows, n_cols]` matrix `S` of `csr` and `vals`, with `w`
    /// `[d, n_cols]` (PyTorch's `[out, in]`). `vals` is `[nnz, 1]` (constant or learnable) or
    /// `None` for 1. The same bits as `spmm(csr, transpose(w), vals)`, without the transposed
    /// copy of `w` (when the rows are sparse enough) or of its gradient.
    pub fn sparse_linear(&mut self, csr: &'a Csr, vals: Option<Var>, w: Var) -> Result<Var> {
        self.sparse_linear_impl(csr, vals, None, w)
    }

    /// [`Graph::sparse_linear`] with constant values, given also in the transpose's order
    /// ([`Csr::transpose_values`]), so that the backward pass reads them in sequence.
    pub fn sparse_linear_const(
        &mut self,
        csr: &'a Csr,
        vals: &'a Tensor<T>,
        transposed: &'a [T],
        w: Var,
    ) -> Result<Var> {
        if transposed.len() != vals.len() {
            return shape_err(
                "sparse linear",
                format!("{} transposed values for {}", transposed.len(), vals.len()),
            );
        }
        let v = self.constant(vals);
        self.sparse_linear_impl(csr, Some(v), Some(transposed), w)
    }

    fn sparse_linear_impl(
        &mut self,
        csr: &'a Csr,
        vals: Option<Var>,
        transposed: Option<&'a [T]>,
        w: Var,
    ) -> Result<Var> {
        let (d, n_in) = self.shape(w);
        if n_in != csr.n_cols() {
            return shape_err(
                "linear",
                format!(
                    "input has {} features, weight is [{d}, {n_in}]",
                    csr.n_cols()
                ),
            );
        }
        if let Some(v) = vals
            && self.shape(v) != (csr.nnz(), 1)
        {
            let (vr, vc) = self.shape(v);
            return shape_err(
                "sparse linear",
                format!("values are [{vr}, {vc}], expected [{}, 1]", csr.nnz()),
            );
        }
        let mut out = self.alloc(csr.n_rows(), d);
        if SparseLinearRoute::new(csr.nnz(), n_in).in_place {
            let vd = vals.map(|v| &self.value(v).data[..]);
            self.backend.sparse_linear(csr, vd, self.value(w), &mut out);
        } else {
            let wt = self.transposed_copy(w);
            let vd = vals.map(|v| &self.value(v).data[..]);
            self.backend.spmm(csr, vd, None, &wt, &mut out);
            self.pool.give(wt);
        }
        let grad = self.g(w) || vals.is_some_and(|v| self.g(v));
        let op = Op::SparseLinear {
            csr,
            vals,
            w,
            transposed,
        };
        Ok(self.push(Val::Owned(out), op, grad))
    }

    /// `xᵀ` in a pooled buffer (not a node: for a kernel that reads rows of `xᵀ`).
    fn transposed_copy(&mut self, x: Var) -> Tensor<T> {
        let (r, c) = self.shape(x);
        let mut t = self.pool.take(c, r);
        self.backend.transpose(self.value(x), &mut t);
        t
    }

    /// `index_select`: `out[i] = x[csr.indices[i]]` for a one-entry-per-row CSR
    /// ([`Csr::from_index`]); backward is a segment sum through the transpose, built once.
    pub fn gather(&mut self, index: &'a Csr, x: Var) -> Result<Var> {
        self.gather_impl(CsrRef::Borrowed(index), x)
    }

    fn gather_impl(&mut self, csr: CsrRef<'a>, x: Var) -> Result<Var> {
        let c = csr.get();
        let (r, d) = self.shape(x);
        if c.nnz() != c.n_rows() {
            return Err(TensorError::Invalid(
                "gather needs one entry per row (Csr::from_index)".into(),
            ));
        }
        if r != c.n_cols() {
            return shape_err(
                "gather",
                format!("index reads {} rows, tensor has {r}", c.n_cols()),
            );
        }
        let mut out = self.alloc(c.n_rows(), d);
        self.backend
            .gather_rows(c.indices(), self.value(x), &mut out);
        let grad = self.g(x);
        Ok(self.push(Val::Owned(out), Op::Gather { csr, x }, grad))
    }

    /// A sparse matrix as a dense one: `out[r, csr.indices[k]] += vals[k]` for the entries k
    /// of row r (`vals` is `[nnz, 1]`). Backward reads the gradient back at the entries.
    pub fn to_dense(&mut self, csr: &'a Csr, vals: Var) -> Result<Var> {
        if self.shape(vals) != (csr.nnz(), 1) {
            let (vr, vc) = self.shape(vals);
            return shape_err(
                "to_dense",
                format!("values are [{vr}, {vc}], expected [{}, 1]", csr.nnz()),
            );
        }
        let (n, d) = (csr.n_rows(), csr.n_cols());
        let mut out = self.alloc(n, d);
        out.data.iter_mut().for_each(|x| *x = T::ZERO);
        let v = &self.value(vals).data;
        for r in 0..n {
            let row = &mut out.data[r * d..(r + 1) * d];
            for k in csr.segments().range(r) {
                row[csr.indices()[k] as usize] += v[k];
            }
        }
        let grad = self.g(vals);
        Ok(self.push(Val::Owned(out), Op::ToDense { csr, vals }, grad))
    }

    /// Segment reduction of a dense per-match tensor `x` (`[nnz, d]`, rows in CSR order) into
    /// `[n_rows, d]`. Rows without matches give 0 (all reductions).
    pub fn segment_reduce(&mut self, seg: &'a Segments, x: Var, op: Reduce) -> Result<Var> {
        let (r, d) = self.shape(x);
        if r != seg.nnz() {
            return shape_err(
                "segment reduce",
                format!("{} matches, tensor has {r} rows", seg.nnz()),
            );
        }
        let grad = self.g(x);
        let mut out = self.alloc(seg.n_rows(), d);
        match op {
            Reduce::Sum | Reduce::Mean => {
                let scale = (op == Reduce::Mean).then(|| self.mean_scale(seg));
                self.backend
                    .segment_sum(seg, scale.as_deref(), self.value(x), &mut out);
                Ok(self.push(Val::Owned(out), Op::SegSum { seg, x, scale }, grad))
            }
            Reduce::Max | Reduce::Min => {
                let mut arg = self.pool.take_index(seg.n_rows() * d);
                self.backend.segment_extreme(
                    seg,
                    None,
                    op == Reduce::Max,
                    self.value(x),
                    &mut out,
                    &mut arg,
                );
                Ok(self.push(
                    Val::Owned(out),
                    Op::SegExtreme {
                        seg,
                        csr: None,
                        x,
                        arg,
                    },
                    grad,
                ))
            }
        }
    }

    /// Fused gather + segment reduction: `out[i] = reduce_{k ∈ row i} x[idx_k]` without
    /// materialising the per-match rows. Rows without matches give 0.
    pub fn gather_reduce(&mut self, csr: &'a Csr, x: Var, op: Reduce) -> Result<Var> {
        if op == Reduce::Sum {
            return self.spmm_impl(CsrRef::Borrowed(csr), x, None, None);
        }
        let (r, d) = self.shape(x);
        if r != csr.n_cols() {
            return shape_err(
                "gather reduce",
                format!("match list reads {} rows, tensor has {r}", csr.n_cols()),
            );
        }
        if op == Reduce::Mean {
            return Ok(self.gather_mean(csr, x));
        }
        let mut out = self.alloc(csr.n_rows(), d);
        let mut arg = self.pool.take_index(csr.n_rows() * d);
        self.backend.segment_extreme(
            csr.segments(),
            Some(csr.indices()),
            op == Reduce::Max,
            self.value(x),
            &mut out,
            &mut arg,
        );
        let grad = self.g(x);
        let seg = csr.segments();
        Ok(self.push(
            Val::Owned(out),
            Op::SegExtreme {
                seg,
                csr: Some(csr),
                x,
                arg,
            },
            grad,
        ))
    }

    /// `out[h] = Σ_k x[idx_k] / n_h`: the sum divided by the count, exactly (a scale by
    /// `1/n_h` can differ in the last bit), in the same pass over the rows. Shapes are
    /// checked by the caller.
    fn gather_mean(&mut self, csr: &'a Csr, x: Var) -> Var {
        let mut out = self.alloc(csr.n_rows(), self.shape(x).1);
        self.backend.spmm_mean(csr, self.value(x), &mut out);
        let grad = self.g(x);
        let mut counts = self.alloc(csr.n_rows(), 1);
        for (c, w) in counts.data.iter_mut().zip(csr.indptr().windows(2)) {
            *c = T::from_usize((w[1] - w[0]).max(1));
        }
        self.push(Val::Owned(out), Op::SpMMMean { csr, x, counts }, grad)
    }

    /// `count(...)`: matches per head row, `[n, 1]` (a constant).
    pub fn count(&mut self, seg: &Segments) -> Var {
        let mut out = self.alloc(seg.n_rows(), 1);
        for (o, w) in out.data.iter_mut().zip(seg.indptr().windows(2)) {
            *o = T::from_usize(w[1] - w[0]);
        }
        self.constant_owned(out)
    }

    // ------------------------------------------------------------------ row-wise

    /// Multi-head attention weights applied to values: `out[r, c] = x[r, c] · a[r, c / k]`
    /// with `a` `[n, heads]` and `k = d / heads` (each head owns `k` consecutive coordinates),
    /// i.e. `x ⊙ Repeat(k)(a)` without the repeated matrix.
    pub fn head_scale(&mut self, x: Var, a: Var) -> Result<Var> {
        let ((n, d), (na, heads)) = (self.shape(x), self.shape(a));
        if na != n || heads == 0 || !d.is_multiple_of(heads) {
            return shape_err(
                "head_scale",
                format!("[{n}, {d}] by head weights [{na}, {heads}]"),
            );
        }
        Ok(self.head_scale_impl(Some(x), a, d))
    }

    /// `Repeat(k)`: each coordinate `k` times in a row, `out[r, c] = a[r, c / k]`.
    pub fn repeat(&mut self, a: Var, k: usize) -> Var {
        let d = self.shape(a).1 * k;
        self.head_scale_impl(None, a, d)
    }

    fn head_scale_impl(&mut self, x: Option<Var>, a: Var, d: usize) -> Var {
        let mut out = self.alloc(self.shape(a).0, d);
        let xv = x.map(|x| self.value(x));
        self.backend.head_scale(xv, self.value(a), &mut out);
        let grad = x.is_some_and(|x| self.g(x)) || self.g(a);
        self.push(Val::Owned(out), Op::HeadScale { x, a }, grad)
    }

    /// Per-head dot products: `out[r, h] = Σ_{j<k} x[r, hk+j] · y[r, hk+j]`, `k = d / heads`,
    /// i.e. `HeadSum(heads)(x ⊙ y)` without the product.
    pub fn head_dot(&mut self, x: Var, y: Var, heads: usize) -> Result<Var> {
        let (n, d) = self.shape(x);
        if self.shape(y) != (n, d) {
            let (ny, dy) = self.shape(y);
            return shape_err("head_dot", format!("[{n}, {d}] · [{ny}, {dy}]"));
        }
        self.head_dot_impl(x, Some(y), heads)
    }

    /// `HeadSum(heads)`: the sum of each of `heads` consecutive blocks of a row.
    pub fn head_sum(&mut self, x: Var, heads: usize) -> Result<Var> {
        self.head_dot_impl(x, None, heads)
    }

    fn head_dot_impl(&mut self, x: Var, y: Option<Var>, heads: usize) -> Result<Var> {
        let (n, d) = self.shape(x);
        if heads == 0 || !d.is_multiple_of(heads) {
            let op = if y.is_some() { "head_dot" } else { "head_sum" };
            return shape_err(op, format!("{d} coordinates in {heads} heads"));
        }
        let mut out = self.alloc(n, heads);
        let yv = y.map(|y| self.value(y));
        self.backend.head_dot(self.value(x), yv, &mut out);
        let grad = self.g(x) || y.is_some_and(|y| self.g(y));
        Ok(self.push(Val::Owned(out), Op::HeadDot { x, y }, grad))
    }

    pub fn softmax(&mut self, x: Var) -> Var {
        self.softmax_impl(x, false)
    }

    pub fn log_softmax(&mut self, x: Var) -> Var {
        self.softmax_impl(x, true)
    }

    fn softmax_impl(&mut self, x: Var, log: bool) -> Var {
        let (r, c) = self.shape(x);
        let mut out = self.alloc(r, c);
        self.backend.softmax(self.value(x), &mut out, log);
        let grad = self.g(x);
        self.push(Val::Owned(out), Op::Softmax { x, log }, grad)
    }

    /// Layer norm over each row (eps as given; PyTorch's default is 1e-5), with optional
    /// `weight`/`bias` holding `d` values each.
    pub fn layer_norm(&mut self, x: Var, w: Option<Var>, b: Option<Var>, eps: f64) -> Result<Var> {
        let (r, d) = self.shape(x);
        for p in [w, b].into_iter().flatten() {
            if self.value(p).len() != d {
                return shape_err(
                    "layer_norm",
                    format!(
                        "parameter has {} values for {d} features",
                        self.value(p).len()
                    ),
                );
            }
        }
        let mut out = self.alloc(r, d);
        let mut stats = self.pool.take(2 * r, 1).data;
        let wd = w.map(|w| &self.value(w).data[..]);
        let bd = b.map(|b| &self.value(b).data[..]);
        self.backend
            .layer_norm(self.value(x), wd, bd, eps, &mut out, &mut stats);
        let grad = self.g(x) || w.is_some_and(|w| self.g(w)) || b.is_some_and(|b| self.g(b));
        Ok(self.push(Val::Owned(out), Op::LayerNorm { x, w, b, stats }, grad))
    }

    /// Column-wise concatenation (all inputs with the same number of rows).
    pub fn concat(&mut self, xs: &[Var]) -> Result<Var> {
        let Some(&first) = xs.first() else {
            return Err(TensorError::Invalid("concat of nothing".into()));
        };
        let r = self.shape(first).0;
        if let Some(&bad) = xs.iter().find(|&&v| self.shape(v).0 != r) {
            return shape_err("concat", format!("{} rows vs {r}", self.shape(bad).0));
        }
        let c: usize = xs.iter().map(|&v| self.shape(v).1).sum();
        let mut out = self.alloc(r, c);
        let vals: Vec<&Tensor<T>> = xs.iter().map(|&v| self.value(v)).collect();
        self.backend.concat(&vals, &mut out);
        let grad = xs.iter().any(|&v| self.g(v));
        Ok(self.push(Val::Owned(out), Op::Concat(xs.to_vec()), grad))
    }

    /// The rows of `xs` one after the other (`torch.cat(xs, dim=0)`): row-major data
    /// concatenated, so forward and backward are copies.
    pub fn stack_rows(&mut self, xs: &[Var]) -> Result<Var> {
        let Some(&first) = xs.first() else {
            return Err(TensorError::Invalid("stack of nothing".into()));
        };
        let c = self.shape(first).1;
        if let Some(&bad) = xs.iter().find(|&&v| self.shape(v).1 != c) {
            return shape_err(
                "stack_rows",
                format!("{} columns vs {c}", self.shape(bad).1),
            );
        }
        let r: usize = xs.iter().map(|&v| self.shape(v).0).sum();
        let mut out = self.alloc(r, c);
        let mut off = 0;
        for &v in xs {
            let part = &self.value(v).data;
            out.data[off..off + part.len()].copy_from_slice(part);
            off += part.len();
        }
        let grad = xs.iter().any(|&v| self.g(v));
        Ok(self.push(Val::Owned(out), Op::StackRows(xs.to_vec()), grad))
    }

    /// `nn.Embedding`: rows of `weight` (`[num, dim]`) selected by the integer indices held in
    /// `indices` (`[n, 1]`). Backward scatter-adds into the weight rows, deterministically.
    pub fn embedding(&mut self, weight: Var, indices: Var) -> Result<Var> {
        let num = self.shape(weight).0;
        let idx = class_indices("Embedding", self.value(indices), num)?;
        let csr = Csr::from_index(idx, num)?;
        self.gather_impl(CsrRef::Owned(Box::new(csr)), weight)
    }

    /// `OneHot(n)` of integer indices held in `[rows, 1]` (a constant).
    pub fn one_hot(&mut self, indices: Var, n: usize) -> Result<Var> {
        let idx = class_indices("OneHot", self.value(indices), n)?;
        let mut out = self.pool.zeros(idx.len(), n);
        for (i, &k) in idx.iter().enumerate() {
            out.data[i * n + k as usize] = T::ONE;
        }
        Ok(self.constant_owned(out))
    }

    /// Index of the first maximum per row as `[n, 1]` (a constant).
    pub fn argmax(&mut self, x: Var) -> Var {
        let mut out = self.alloc(self.shape(x).0, 1);
        crate::cpu::rowwise::argmax(self.value(x), &mut out.data);
        self.constant_owned(out)
    }

    /// Dropout with probability `p`, mask drawn from `uniform` (values in `[0, 1)`; an element
    /// is kept when its draw is `>= p`), scaled by `1/(1-p)`. Identity when not training.
    pub fn dropout(&mut self, x: Var, p: f64, uniform: &mut dyn FnMut() -> f32) -> Result<Var> {
        self.dropout_fill(x, p, &mut |buf: &mut [f32]| {
            buf.iter_mut().for_each(|u| *u = uniform())
        })
    }

    /// [`Graph::dropout`] with a bulk source: `fill` writes uniform `[0, 1)` draws into the
    /// whole slice (row-major order), so a vectorised RNG costs no call per element.
    pub fn dropout_fill(
        &mut self,
        x: Var,
        p: f64,
        fill: &mut dyn FnMut(&mut [f32]),
    ) -> Result<Var> {
        let scale = dropout_scale::<T>(p)?;
        if !self.training || p == 0.0 {
            return Ok(x);
        }
        let (r, c) = self.shape(x);
        // One fused pass over the caller's draws: scale or zero each element, and record a
        // one-byte keep mask (4x smaller than a float mask) only when a gradient will need it.
        let pf = p as f32;
        let need_keep = self.g(x);
        let mut keep = if need_keep {
            self.pool.take_mask(r * c)
        } else {
            Vec::new()
        };
        let mut out = self.alloc(r, c);
        let xs = &self.nodes[x.index()].val.get().data;
        const BLOCK: usize = 1024;
        let mut draws = [0f32; BLOCK];
        for (b, (o, xv)) in out.data.chunks_mut(BLOCK).zip(xs.chunks(BLOCK)).enumerate() {
            let d = &mut draws[..o.len()];
            fill(d);
            for ((o, &v), &u) in o.iter_mut().zip(xv).zip(d.iter()) {
                *o = v * if u >= pf { scale } else { T::ZERO };
            }
            if need_keep {
                let k = &mut keep[b * BLOCK..b * BLOCK + d.len()];
                for (k, &u) in k.iter_mut().zip(d.iter()) {
                    *k = (u >= pf) as u8;
                }
            }
        }
        let grad = self.g(x);
        Ok(self.push(Val::Owned(out), Op::Dropout { x, keep, scale }, grad))
    }

    /// `dropout(act(x + b))` in one pass: `b` (`[1, cols]`) added to every row, ReLU when
    /// `relu`, then dropout with probability `p` (kept elements scaled by `1/(1-p)`), its mask
    /// drawn in parallel from `rng` (the draws `rng.fill` would give; the stream moves past
    /// them). No mask outside training or with `p = 0`. Behind ReLU the gradient is read off
    /// the output, so only dropout without ReLU keeps a one-byte mask.
    pub fn bias_act_dropout(
        &mut self,
        x: Var,
        bias: Option<Var>,
        relu: bool,
        p: f64,
        rng: &mut CounterRng,
    ) -> Result<Var> {
        let kept_scale = dropout_scale::<T>(p)?;
        let (r, c) = self.shape(x);
        if let Some(b) = bias
            && self.shape(b) != (1, c)
        {
            let (br, bc) = self.shape(b);
            return shape_err(
                "bias",
                format!("bias is [{br}, {bc}], rows have {c} columns"),
            );
        }
        let drop = self.training && p > 0.0;
        if !drop && !relu {
            return match bias {
                Some(b) => self.add(x, b),
                None => Ok(x),
            };
        }
        let scale = if drop { kept_scale } else { T::ONE };
        let mask = drop.then(|| DropMask {
            draws: rng.reserve((r * c) as u64),
            p: p as f32,
            scale,
        });
        let grad = self.g(x) || bias.is_some_and(|b| self.g(b));
        let mut keep = if drop && !relu && grad {
            self.pool.take_mask(r * c)
        } else {
            Vec::new()
        };
        let mut out = self.alloc(r, c);
        self.backend.bias_act_dropout(
            self.value(x),
            bias.map(|b| &self.value(b).data[..]),
            relu,
            mask.as_ref(),
            &mut out,
            (!keep.is_empty()).then_some(&mut keep[..]),
        );
        let op = Op::BiasActDropout {
            x,
            bias,
            relu,
            keep,
            scale,
        };
        Ok(self.push(Val::Owned(out), op, grad))
    }

    // ------------------------------------------------------------------ reductions

    /// Sum of all elements, `[1, 1]`.
    pub fn sum_all(&mut self, x: Var) -> Var {
        self.sum_all_impl(x, false)
    }

    /// Mean of all elements, `[1, 1]` (0 for an empty tensor).
    pub fn mean_all(&mut self, x: Var) -> Var {
        self.sum_all_impl(x, true)
    }

    fn sum_all_impl(&mut self, x: Var, mean: bool) -> Var {
        let xv = self.value(x);
        let n = xv.len();
        let s = self.backend.sum_all(xv);
        let v = if mean {
            if n == 0 { 0.0 } else { s / n as f64 }
        } else {
            s
        };
        let mut out = self.alloc(1, 1);
        out.data[0] = T::from_f64(v);
        let grad = self.g(x);
        self.push(Val::Owned(out), Op::SumAll { x, mean }, grad)
    }

    /// Per-row sum (or mean) over the columns, `[n, 1]`.
    pub fn row_sum(&mut self, x: Var, mean: bool) -> Var {
        let (r, c) = self.shape(x);
        let mut out = self.alloc(r, 1);
        let xv = self.value(x);
        let inv = if c == 0 {
            T::ZERO
        } else {
            T::ONE / T::from_usize(c)
        };
        for (i, o) in out.data.iter_mut().enumerate() {
            let s: T = xv.row(i).iter().copied().sum();
            *o = if mean { s * inv } else { s };
        }
        let grad = self.g(x);
        self.push(Val::Owned(out), Op::RowSum { x, mean }, grad)
    }

    // ------------------------------------------------------------------ losses

    /// `CrossEntropyLoss` on logits `[n, c]` and class indices `[n, 1]`.
    pub fn cross_entropy(
        &mut self,
        logits: Var,
        targets: Var,
        reduction: Reduction,
    ) -> Result<Var> {
        let (n, c) = self.shape(logits);
        if self.shape(targets).0 != n {
            return shape_err(
                "CrossEntropyLoss",
                format!("{} targets for {n} rows", self.shape(targets).0),
            );
        }
        let t = class_indices("CrossEntropyLoss", self.value(targets), c)?;
        let mut rows = self.alloc(n, 1);
        self.backend
            .cross_entropy(self.value(logits), &t, &mut rows.data);
        let out = self.reduce_loss(rows, reduction);
        let grad = self.g(logits);
        Ok(self.push(
            Val::Owned(out),
            Op::CrossEntropy {
                x: logits,
                targets: t,
                reduction,
            },
            grad,
        ))
    }

    /// `NLLLoss` on `[n, c]` inputs (log-probabilities) and class indices `[n, 1]`: row i's
    /// loss is `−x[i, t_i]`.
    pub fn nll(&mut self, x: Var, targets: Var, reduction: Reduction) -> Result<Var> {
        let (n, c) = self.shape(x);
        if self.shape(targets).0 != n {
            return shape_err(
                "NLLLoss",
                format!("{} targets for {n} rows", self.shape(targets).0),
            );
        }
        let t = class_indices("NLLLoss", self.value(targets), c)?;
        let mut rows = self.alloc(n, 1);
        let xv = self.value(x);
        for (i, o) in rows.data.iter_mut().enumerate() {
            *o = -xv.data[i * c + t[i] as usize];
        }
        let out = self.reduce_loss(rows, reduction);
        let grad = self.g(x);
        Ok(self.push(
            Val::Owned(out),
            Op::Nll {
                x,
                targets: t,
                reduction,
            },
            grad,
        ))
    }

    /// `BCELoss(probabilities, targets)`: every probability must lie in [0, 1], as PyTorch
    /// requires (`Domain` names the first that does not).
    pub fn bce(&mut self, p: Var, targets: Var, reduction: Reduction) -> Result<Var> {
        let v = self.value(p);
        if let Some(k) = v.data.iter().position(|&x| !(x >= T::ZERO && x <= T::ONE)) {
            return Err(crate::TensorError::Domain {
                op: "BCELoss",
                row: k / v.cols.max(1),
                value: v.data[k].to_f64(),
                expected: "a probability in [0, 1]",
            });
        }
        self.point_loss(PointLoss::Bce, p, targets, reduction)
    }

    pub fn mse(&mut self, a: Var, b: Var, reduction: Reduction) -> Result<Var> {
        self.point_loss(PointLoss::Mse, a, b, reduction)
    }

    pub fn l1(&mut self, a: Var, b: Var, reduction: Reduction) -> Result<Var> {
        self.point_loss(PointLoss::L1, a, b, reduction)
    }

    /// `BCEWithLogitsLoss(logits, targets)`.
    pub fn bce_with_logits(
        &mut self,
        logits: Var,
        targets: Var,
        reduction: Reduction,
    ) -> Result<Var> {
        self.point_loss(PointLoss::BceWithLogits, logits, targets, reduction)
    }

    fn point_loss(&mut self, kind: PointLoss, a: Var, b: Var, reduction: Reduction) -> Result<Var> {
        let (sa, sb) = (self.shape(a), self.shape(b));
        if sa != sb {
            return shape_err(
                "loss",
                format!("[{}, {}] vs [{}, {}]", sa.0, sa.1, sb.0, sb.1),
            );
        }
        let mut el = self.alloc(sa.0, sa.1);
        self.backend
            .point_loss(kind, self.value(a), self.value(b), &mut el.data);
        let out = self.reduce_loss(el, reduction);
        let grad = self.g(a) || self.g(b);
        Ok(self.push(
            Val::Owned(out),
            Op::PointLoss {
                kind,
                a,
                b,
                reduction,
            },
            grad,
        ))
    }

    fn reduce_loss(&mut self, el: Tensor<T>, reduction: Reduction) -> Tensor<T> {
        match reduction {
            Reduction::None => el,
            Reduction::Mean => {
                let n = el.len();
                let s = self.backend.sum_all(&el);
                self.pool.give(el);
                let mut out = self.alloc(1, 1);
                out.data[0] = T::from_f64(if n == 0 { 0.0 } else { s / n as f64 });
                out
            }
        }
    }

    // ------------------------------------------------------------------ backward

    /// Reverse pass from `loss` (seeded with ones, so a non-scalar output means its sum).
    pub fn backward(&mut self, loss: Var) -> Result<Grads<T>> {
        let n = loss.index() + 1;
        let mut grads: Vec<Option<Tensor<T>>> = (0..n).map(|_| None).collect();
        let mut out = Grads {
            params: Vec::new(),
            leaves: Vec::new(),
            param_vars: Vec::new(),
        };
        if !self.g(loss) {
            return Ok(out);
        }
        let (r, c) = self.shape(loss);
        let mut seed = self.alloc(r, c);
        seed.data.fill(T::ONE);
        grads[loss.index()] = Some(seed);

        for i in (0..n).rev() {
            let Some(g) = grads[i].take() else { continue };
            let node = &self.nodes[i];
            if let Op::Leaf = node.op {
                match node.param {
                    Some(id) => {
                        out.param_vars.push((Var(i as u32), id));
                        if out.params.len() <= id.index() {
                            out.params.resize_with(id.index() + 1, || None);
                        }
                        match &mut out.params[id.index()] {
                            Some(acc) => {
                                self.backend.add_assign(acc, &g);
                                self.pool.give(g);
                            }
                            slot => *slot = Some(g),
                        }
                    }
                    None => out.leaves.push((Var(i as u32), g)),
                }
                continue;
            }
            let t0 = self.backward_ns.is_some().then(std::time::Instant::now);
            self.backward_node(i, &g, &mut grads);
            self.pool.give(g);
            if let (Some(t0), Some(ns)) = (t0, self.backward_ns.as_mut()) {
                if ns.len() < n {
                    ns.resize(n, 0);
                }
                ns[i] += t0.elapsed().as_nanos() as u64;
            }
        }
        Ok(out)
    }

    /// Adds `t` into the gradient slot of `v`.
    fn acc(&mut self, grads: &mut [Option<Tensor<T>>], v: Var, t: Tensor<T>) {
        match &mut grads[v.index()] {
            Some(a) => {
                self.backend.add_assign(a, &t);
                self.pool.give(t);
            }
            slot => *slot = Some(t),
        }
    }

    /// Scatters `dy` into `v`'s gradient through the transpose of `csr`
    /// ([`Backend::spmm_t`]); `vals` are the entries' values: none (ones), in the
    /// transpose's order, or the value of a graph node in CSR order. Into `v`'s accumulator
    /// when it has one, so that a small scatter into a large input shared by many
    /// consumers (a table's rows read by one rule per edge type) touches only the rows it
    /// reaches.
    fn scatter_grad(
        &mut self,
        grads: &mut [Option<Tensor<T>>],
        v: Var,
        csr: &Csr,
        vals: (Option<&[T]>, Option<Var>),
        dy: &Tensor<T>,
    ) {
        if !self.g(v) {
            return;
        }
        let fresh = grads[v.index()].is_none();
        if fresh {
            let (r, c) = self.shape(v);
            grads[v.index()] = Some(self.pool.take(r, c));
        }
        let vd = match vals {
            (Some(t), _) => EntryValues::Transposed(t),
            (None, Some(x)) => EntryValues::Csr(&self.value(x).data[..]),
            (None, None) => EntryValues::Ones,
        };
        let acc = grads[v.index()].as_mut().expect("allocated above");
        if fresh {
            self.backend.spmm_t(csr, vd, None, dy, acc);
        } else {
            self.backend.spmm_t_add(csr, vd, None, dy, acc);
        }
    }

    /// A gradient buffer shaped like `v`, when `v` needs one.
    fn grad_buf(&mut self, v: Var) -> Option<Tensor<T>> {
        if self.g(v) {
            let (r, c) = self.shape(v);
            Some(self.alloc(r, c))
        } else {
            None
        }
    }

    fn backward_node(&mut self, i: usize, g: &Tensor<T>, grads: &mut [Option<Tensor<T>>]) {
        let be = self.backend;
        // Take the op out so that the node values can be borrowed while buffers are allocated.
        let op = std::mem::replace(&mut self.nodes[i].op, Op::Leaf);
        match &op {
            Op::Leaf => {}
            Op::Unary(u, x) => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.unary_backward(*u, self.value(*x), self.value(Var(i as u32)), g, &mut dx);
                    self.acc(grads, *x, dx);
                }
            }
            Op::Binary(b, x, y) => {
                let mut da = self.grad_buf(*x);
                let mut db = self.grad_buf(*y);
                be.binary_backward(
                    *b,
                    self.value(*x),
                    self.value(*y),
                    self.value(Var(i as u32)),
                    g,
                    da.as_mut(),
                    db.as_mut(),
                );
                if let Some(da) = da {
                    self.acc(grads, *x, da);
                }
                if let Some(db) = db {
                    self.acc(grads, *y, db);
                }
            }
            Op::MatMul { a, ta, b, tb } => {
                if let Some(mut da) = self.grad_buf(*a) {
                    if *ta {
                        be.matmul(self.value(*b), *tb, g, true, &mut da, false);
                    } else {
                        be.matmul(g, false, self.value(*b), !*tb, &mut da, false);
                    }
                    self.acc(grads, *a, da);
                }
                if let Some(mut db) = self.grad_buf(*b) {
                    if *tb {
                        be.matmul(g, true, self.value(*a), *ta, &mut db, false);
                    } else {
                        be.matmul(self.value(*a), !*ta, g, false, &mut db, false);
                    }
                    self.acc(grads, *b, db);
                }
            }
            Op::Linear { x, w, b } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.matmul(g, false, self.value(*w), false, &mut dx, false);
                    self.acc(grads, *x, dx);
                }
                if let Some(mut dw) = self.grad_buf(*w) {
                    be.matmul(g, true, self.value(*x), false, &mut dw, false);
                    self.acc(grads, *w, dw);
                }
                if let Some(b) = b
                    && let Some(mut db) = self.grad_buf(*b)
                {
                    be.col_sum(g, &mut db.data);
                    self.acc(grads, *b, db);
                }
            }
            Op::Transpose(x) => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.transpose(g, &mut dx);
                    self.acc(grads, *x, dx);
                }
            }
            Op::ColGather { x, map } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.col_scatter(g, map, &mut dx);
                    self.acc(grads, *x, dx);
                }
            }
            Op::RowMatMul { a, b, bmkp } => {
                let mut da = self.grad_buf(*a);
                let mut db = self.grad_buf(*b);
                be.row_matmul_backward(
                    self.value(*a),
                    self.value(*b),
                    g,
                    *bmkp,
                    da.as_mut(),
                    db.as_mut(),
                );
                if let Some(da) = da {
                    self.acc(grads, *a, da);
                }
                if let Some(db) = db {
                    self.acc(grads, *b, db);
                }
            }
            Op::SpMM {
                csr,
                x,
                vals,
                transposed,
            } => {
                let c = csr.get();
                self.scatter_grad(grads, *x, c, (transposed.as_deref(), *vals), g);
                if let Some(v) = vals
                    && let Some(mut dv) = self.grad_buf(*v)
                {
                    be.spmm_dvals(c, None, self.value(*x), g, &mut dv.data);
                    self.acc(grads, *v, dv);
                }
            }
            Op::SparseLinear {
                csr,
                vals,
                w,
                transposed,
            } => {
                let route = SparseLinearRoute::new(csr.nnz(), csr.n_cols());
                if let Some(mut dw) = self.grad_buf(*w) {
                    let mut dwt = (!route.dw_in_place).then(|| self.alloc(dw.cols, dw.rows));
                    let vd = match (transposed, vals) {
                        (Some(t), _) => EntryValues::Transposed(t),
                        (None, Some(v)) => EntryValues::Csr(&self.value(*v).data[..]),
                        (None, None) => EntryValues::Ones,
                    };
                    match dwt.as_mut() {
                        None => be.sparse_linear_dw(csr, vd, g, &mut dw),
                        Some(dwt) => {
                            be.spmm_t(csr, vd, None, g, dwt);
                            be.transpose(dwt, &mut dw);
                        }
                    }
                    if let Some(dwt) = dwt {
                        self.pool.give(dwt);
                    }
                    self.acc(grads, *w, dw);
                }
                if let Some(v) = vals
                    && let Some(mut dv) = self.grad_buf(*v)
                {
                    if route.in_place {
                        be.sparse_linear_dvals(csr, self.value(*w), g, &mut dv.data);
                    } else {
                        let wt = self.transposed_copy(*w);
                        be.spmm_dvals(csr, None, &wt, g, &mut dv.data);
                        self.pool.give(wt);
                    }
                    self.acc(grads, *v, dv);
                }
            }
            Op::SpMMMean { csr, x, counts } => {
                if self.g(*x) {
                    // Divided as the forward pass divides, then summed through the transpose.
                    let mut per_head = self.alloc(g.rows, g.cols);
                    be.binary(BinaryOp::Div, g, counts, &mut per_head);
                    self.scatter_grad(grads, *x, csr, (None, None), &per_head);
                    self.pool.give(per_head);
                }
            }
            Op::Gather { csr, x } => self.scatter_grad(grads, *x, csr.get(), (None, None), g),
            Op::ToDense { csr, vals } => {
                if let Some(mut dv) = self.grad_buf(*vals) {
                    let d = csr.n_cols();
                    for r in 0..csr.n_rows() {
                        for k in csr.segments().range(r) {
                            dv.data[k] = g.data[r * d + csr.indices()[k] as usize];
                        }
                    }
                    self.acc(grads, *vals, dv);
                }
            }
            Op::SegSum { seg, x, scale } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.segment_expand(seg, scale.as_deref(), g, &mut dx);
                    self.acc(grads, *x, dx);
                }
            }
            Op::SegExtreme { seg, csr, x, arg } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.segment_extreme_backward(seg, *csr, arg, g, &mut dx);
                    self.acc(grads, *x, dx);
                }
            }
            Op::HeadScale { x, a } => {
                if let Some(x) = x
                    && let Some(mut dx) = self.grad_buf(*x)
                {
                    be.head_scale(Some(g), self.value(*a), &mut dx);
                    self.acc(grads, *x, dx);
                }
                if let Some(mut da) = self.grad_buf(*a) {
                    be.head_dot(g, x.map(|x| self.value(x)), &mut da);
                    self.acc(grads, *a, da);
                }
            }
            Op::HeadDot { x, y } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.head_scale(y.map(|y| self.value(y)), g, &mut dx);
                    self.acc(grads, *x, dx);
                }
                if let Some(y) = y
                    && let Some(mut dy) = self.grad_buf(*y)
                {
                    be.head_scale(Some(self.value(*x)), g, &mut dy);
                    self.acc(grads, *y, dy);
                }
            }
            Op::Softmax { x, log } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.softmax_backward(self.value(Var(i as u32)), g, &mut dx, *log);
                    self.acc(grads, *x, dx);
                }
            }
            Op::LayerNorm { x, w, b, stats } => {
                let mut dx = self.grad_buf(*x);
                let mut dw = w.and_then(|w| self.grad_buf(w));
                let mut db = b.and_then(|b| self.grad_buf(b));
                let wd = w.map(|w| &self.value(w).data[..]);
                be.layer_norm_backward(
                    self.value(*x),
                    wd,
                    stats,
                    g,
                    dx.as_mut(),
                    dw.as_mut().map(|t| &mut t.data[..]),
                    db.as_mut().map(|t| &mut t.data[..]),
                );
                if let Some(dx) = dx {
                    self.acc(grads, *x, dx);
                }
                if let (Some(w), Some(dw)) = (w, dw) {
                    self.acc(grads, *w, dw);
                }
                if let (Some(b), Some(db)) = (b, db) {
                    self.acc(grads, *b, db);
                }
            }
            Op::Concat(xs) => {
                let mut off = 0;
                for &x in xs {
                    let w = self.shape(x).1;
                    if let Some(mut dx) = self.grad_buf(x) {
                        be.split_cols(g, off, &mut dx);
                        self.acc(grads, x, dx);
                    }
                    off += w;
                }
            }
            Op::StackRows(xs) => {
                let mut off = 0;
                for &x in xs {
                    let n = self.value(x).len();
                    if let Some(mut dx) = self.grad_buf(x) {
                        dx.data.copy_from_slice(&g.data[off..off + n]);
                        self.acc(grads, x, dx);
                    }
                    off += n;
                }
            }
            Op::Dropout { x, keep, scale } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    be.mask_scale(g, keep, *scale, &mut dx);
                    self.acc(grads, *x, dx);
                }
            }
            Op::BiasActDropout {
                x,
                bias,
                relu,
                keep,
                scale,
            } => {
                let db_needed = bias.filter(|&b| self.g(b));
                if self.g(*x) || db_needed.is_some() {
                    let mut dz = self.alloc(g.rows, g.cols);
                    if *relu {
                        be.positive_scale(self.value(Var(i as u32)), g, *scale, &mut dz);
                    } else {
                        be.mask_scale(g, keep, *scale, &mut dz);
                    }
                    if let Some(b) = db_needed {
                        let mut db = self.alloc(1, g.cols);
                        be.col_sum(&dz, &mut db.data);
                        self.acc(grads, b, db);
                    }
                    if self.g(*x) {
                        self.acc(grads, *x, dz);
                    } else {
                        self.pool.give(dz);
                    }
                }
            }
            Op::SumAll { x, mean } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    let n = dx.len();
                    let v = if *mean {
                        g.data[0] / T::from_usize(n.max(1))
                    } else {
                        g.data[0]
                    };
                    be.fill(&mut dx.data, v);
                    self.acc(grads, *x, dx);
                }
            }
            Op::RowSum { x, mean } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    let c = dx.cols;
                    let s = if *mean && c > 0 {
                        T::ONE / T::from_usize(c)
                    } else {
                        T::ONE
                    };
                    for (row, &gv) in dx.data.chunks_exact_mut(c.max(1)).zip(&g.data) {
                        row.fill(gv * s);
                    }
                    self.acc(grads, *x, dx);
                }
            }
            Op::CrossEntropy {
                x,
                targets,
                reduction,
            } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    let n = dx.rows;
                    match reduction {
                        Reduction::Mean => {
                            let gs = if n == 0 {
                                T::ZERO
                            } else {
                                g.data[0] / T::from_usize(n)
                            };
                            be.cross_entropy_backward(self.value(*x), targets, None, gs, &mut dx);
                        }
                        Reduction::None => be.cross_entropy_backward(
                            self.value(*x),
                            targets,
                            Some(&g.data),
                            T::ZERO,
                            &mut dx,
                        ),
                    }
                    self.acc(grads, *x, dx);
                }
            }
            Op::Nll {
                x,
                targets,
                reduction,
            } => {
                if let Some(mut dx) = self.grad_buf(*x) {
                    let (n, c) = (dx.rows, dx.cols);
                    dx.data.fill(T::ZERO);
                    for (i, &t) in targets.iter().enumerate() {
                        let gi = match reduction {
                            Reduction::Mean => g.data[0] / T::from_usize(n),
                            Reduction::None => g.data[i],
                        };
                        dx.data[i * c + t as usize] = -gi;
                    }
                    self.acc(grads, *x, dx);
                }
            }
            Op::PointLoss {
                kind,
                a,
                b,
                reduction,
            } => {
                let n = self.value(*a).len();
                let (dy, gs) = match reduction {
                    Reduction::Mean => (
                        None,
                        if n == 0 {
                            T::ZERO
                        } else {
                            g.data[0] / T::from_usize(n)
                        },
                    ),
                    Reduction::None => (Some(&g.data[..]), T::ZERO),
                };
                for (v, wrt_a) in [(*a, true), (*b, false)] {
                    if let Some(mut d) = self.grad_buf(v) {
                        be.point_loss_backward(
                            *kind,
                            self.value(*a),
                            self.value(*b),
                            dy,
                            gs,
                            &mut d.data,
                            wrt_a,
                        );
                        self.acc(grads, v, d);
                    }
                }
            }
        }
        self.nodes[i].op = op;
    }
}
