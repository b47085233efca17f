//! The backend boundary: the kernel set an execution device implements.
//!
//! Every kernel writes a caller-allocated output whose shape the caller has already set (its
//! previous contents are irrelevant and are fully overwritten unless a method says it
//! accumulates), so the autodiff tape can recycle buffers across epochs. Shapes are validated
//! by [`crate::Graph`] (returning errors); backends assert them.
//!
//! Only [`crate::Cpu`] exists now. A CUDA backend would implement `Backend<f32>` on device
//! buffers; the trait is deliberately free of rayon and of host-only types besides `Tensor`.

use crate::{CounterRng, Csr, EntryValues, Float, Segments, Tensor};

/// A dropout mask drawn from a counter-based stream: element `i` of a tensor (row-major) is
/// kept when draw `i` of `draws` (positioned at the tensor's first draw) is `>= p`, and kept
/// elements are multiplied by `scale`. Any element's draw can be computed on its own, so a
/// backend draws the mask in parallel and gets the same bits as a sequential fill.
#[derive(Clone, Debug)]
pub struct DropMask<T> {
    pub draws: CounterRng,
    pub p: f32,
    pub scale: T,
}

/// Element-wise unary functions (forward and backward kernels share the enum).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Relu,
    /// Negative slope (PyTorch default 0.01).
    LeakyRelu(f64),
    /// `alpha` (PyTorch default 1.0).
    Elu(f64),
    /// Exact erf form: `x · Φ(x)`.
    Gelu,
    Sigmoid,
    Tanh,
    /// `torch.round`: to the nearest integer, ties to even; a zero gradient.
    Round,
}

/// Element-wise binary operators with broadcasting of dimension-1 operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    /// Comparisons: 1.0 where they hold, else 0.0; no gradient.
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    /// `Eq Ne Lt Le Gt Ge`: 0/1 results with a zero gradient.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
}

/// Aggregations over a match list (per coordinate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
    Max,
    Min,
}

/// Element-wise losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointLoss {
    Mse,
    L1,
    BceWithLogits,
    /// `BCELoss` on probabilities in [0, 1]: each log clamped at -100, as PyTorch does.
    Bce,
}

/// PyTorch's `reduction` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// Mean over rows (cross-entropy) or over all elements (MSE, L1, BCE); `[1, 1]`.
    /// The mean over zero rows is defined as 0 (PyTorch gives NaN): a loss rule without
    /// matches contributes nothing.
    Mean,
    /// Per row (cross-entropy, `[n, 1]`) or per element (`[n, d]`).
    None,
}

pub trait Backend<T: Float>: Send + Sync {
    fn name(&self) -> &'static str;

    // ---- dense ----
    /// `out = op(a)·op(b)` (+ `out` when `accumulate`); `op` transposes when its flag is set.
    fn matmul(
        &self,
        a: &Tensor<T>,
        ta: bool,
        b: &Tensor<T>,
        tb: bool,
        out: &mut Tensor<T>,
        accumulate: bool,
    );
    /// `out[i, :] += v` for every row.
    fn add_row_vector(&self, out: &mut Tensor<T>, v: &[T]);
    /// Column sums (`[1, d]`), deterministic block order.
    fn col_sum(&self, x: &Tensor<T>, out: &mut [T]);
    /// Sum of all elements, accumulated in f64, deterministic.
    fn sum_all(&self, x: &Tensor<T>) -> f64;
    fn transpose(&self, x: &Tensor<T>, out: &mut Tensor<T>);
    fn fill(&self, out: &mut [T], v: T);
    /// `acc += x` (same shapes): gradient accumulation.
    fn add_assign(&self, acc: &mut Tensor<T>, x: &Tensor<T>);

    // ---- element-wise ----
    fn unary(&self, op: UnaryOp, x: &Tensor<T>, out: &mut Tensor<T>);
    fn unary_backward(
        &self,
        op: UnaryOp,
        x: &Tensor<T>,
        y: &Tensor<T>,
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    );
    /// Broadcasting binary op; `out` has the broadcast shape.
    fn binary(&self, op: BinaryOp, a: &Tensor<T>, b: &Tensor<T>, out: &mut Tensor<T>);
    /// Gradients wrt `a` and/or `b`, reduced to their (possibly broadcast) shapes.
    #[allow(clippy::too_many_arguments)]
    fn binary_backward(
        &self,
        op: BinaryOp,
        a: &Tensor<T>,
        b: &Tensor<T>,
        y: &Tensor<T>,
        dy: &Tensor<T>,
        da: Option<&mut Tensor<T>>,
        db: Option<&mut Tensor<T>>,
    );
    /// `out = x · scale` where `keep` is 1, else 0 (dropout forward and backward).
    fn mask_scale(&self, x: &Tensor<T>, keep: &[u8], scale: T, out: &mut Tensor<T>);
    /// `out = drop(act(x + b))` in one pass: `b` (one value per column) added to every row,
    /// ReLU when `relu`, then `mask` (when given), with `keep[i] = 1` for kept elements when
    /// `keep` is given.
    fn bias_act_dropout(
        &self,
        x: &Tensor<T>,
        bias: Option<&[T]>,
        relu: bool,
        mask: Option<&DropMask<T>>,
        out: &mut Tensor<T>,
        keep: Option<&mut [u8]>,
    );
    /// `dx = dy · scale` where `y > 0`, else 0: the backward of ReLU then dropout, read off
    /// their output (a dropped or non-positive element has `y = 0`).
    fn positive_scale(&self, y: &Tensor<T>, dy: &Tensor<T>, scale: T, dx: &mut Tensor<T>);
    /// Sums a full-shape gradient into a broadcast operand's shape.
    fn reduce_to(&self, full: &Tensor<T>, out: &mut Tensor<T>);

    // ---- sparse ----
    /// `out[i] = s_i · Σ_{k ∈ row i} v_k · x[idx_k]`.
    fn spmm(
        &self,
        csr: &Csr,
        vals: Option<&[T]>,
        row_scale: Option<&[T]>,
        x: &Tensor<T>,
        out: &mut Tensor<T>,
    );
    /// `out[i] = (Σ_{k ∈ row i} x[idx_k]) / n_i` with `n_i` the row's entry count, divided
    /// exactly (as PyTorch's scatter mean); rows without entries give 0.
    fn spmm_mean(&self, csr: &Csr, x: &Tensor<T>, out: &mut Tensor<T>);
    /// `dx[c] = Σ_{(i,k): idx_k = c} v_k · s_i · dy[i]` (transposed CSR, no atomics).
    fn spmm_t(
        &self,
        csr: &Csr,
        vals: EntryValues<T>,
        row_scale: Option<&[T]>,
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    );
    /// [`Backend::spmm_t`] added to `dx` (a gradient accumulator): rows of `dx` that no entry
    /// reaches are not touched, so a small scatter into a large shared input costs only its
    /// entries. Same bits as `spmm_t` into a fresh buffer followed by `add_assign`.
    fn spmm_t_add(
        &self,
        csr: &Csr,
        vals: EntryValues<T>,
        row_scale: Option<&[T]>,
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    );
    /// `dv_k = s_i · <dy[i], x[idx_k]>`.
    fn spmm_dvals(
        &self,
        csr: &Csr,
        row_scale: Option<&[T]>,
        x: &Tensor<T>,
        dy: &Tensor<T>,
        dvals: &mut [T],
    );
    /// `out[i, o] = Σ_{k ∈ row i} v_k · w[o, idx_k]`: sparse rows times `wᵀ`, with `w`
    /// `[d, n_cols]` (PyTorch's `[out, in]`) read in place, not transposed (`nn.Linear` on a
    /// sparse input). Each element is summed in CSR order from 0 (as [`Backend::spmm`] over
    /// `wᵀ`).
    fn sparse_linear(&self, csr: &Csr, vals: Option<&[T]>, w: &Tensor<T>, out: &mut Tensor<T>);
    /// Backward of [`Backend::sparse_linear`] wrt `w`: `dw[o, c] = Σ_{(i,k): idx_k = c} v_k ·
    /// dy[i, o]` in increasing row order, written in `dw`'s `[d, n_cols]` layout (columns
    /// without entries are 0).
    fn sparse_linear_dw(&self, csr: &Csr, vals: EntryValues<T>, dy: &Tensor<T>, dw: &mut Tensor<T>);
    /// Backward of [`Backend::sparse_linear`] wrt the entry values: `dv_k = <dy[i], w[:, idx_k]>`.
    fn sparse_linear_dvals(&self, csr: &Csr, w: &Tensor<T>, dy: &Tensor<T>, dvals: &mut [T]);
    /// `out[i] = x[idx[i]]`.
    fn gather_rows(&self, idx: &[u32], x: &Tensor<T>, out: &mut Tensor<T>);
    /// Dense per-entry segment sum (`x` is `[nnz, d]` in CSR order), scaled per row.
    fn segment_sum(
        &self,
        seg: &Segments,
        row_scale: Option<&[T]>,
        x: &Tensor<T>,
        out: &mut Tensor<T>,
    );
    /// `dx[k] = s_i · dy[i]` for the entries `k` of row `i`.
    fn segment_expand(
        &self,
        seg: &Segments,
        row_scale: Option<&[T]>,
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    );
    /// Segment max (`max`) or min per coordinate; input rows `x[k]` or `x[idx[k]]`; `arg`
    /// receives the winning entry (first on ties, `u32::MAX` for empty rows, whose output is 0).
    #[allow(clippy::too_many_arguments)]
    fn segment_extreme(
        &self,
        seg: &Segments,
        idx: Option<&[u32]>,
        max: bool,
        x: &Tensor<T>,
        out: &mut Tensor<T>,
        arg: &mut [u32],
    );
    /// Routes `dy` to the recorded entries; `gathered` is the CSR when the input was gathered.
    fn segment_extreme_backward(
        &self,
        seg: &Segments,
        gathered: Option<&Csr>,
        arg: &[u32],
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    );

    // ---- row-wise ----
    /// `out[r, c] = x[r, c] · a[r, c / (d / heads)]` (`a` is `[n, heads]`; no `x`: 1).
    fn head_scale(&self, x: Option<&Tensor<T>>, a: &Tensor<T>, out: &mut Tensor<T>);
    /// `out[r, h] = Σ_j x[r, hk + j] · y[r, hk + j]`, `k = d / heads` (`out` is `[n, heads]`;
    /// no `y`: 1).
    fn head_dot(&self, x: &Tensor<T>, y: Option<&Tensor<T>>, out: &mut Tensor<T>);
    /// `out[r, j] = x[r, map[j]]`: a fixed rearrangement of every row (a per-fact
    /// transpose, the broadcast of a shaped operand).
    fn col_gather(&self, x: &Tensor<T>, map: &[u32], out: &mut Tensor<T>);
    /// `dx[r, i] = Σ_{map[j] = i} g[r, j]`: the gradient of [`Backend::col_gather`].
    fn col_scatter(&self, g: &Tensor<T>, map: &[u32], dx: &mut Tensor<T>);
    /// Per row, `out[r] = a[r] @ b[r]` of `batch` `m × k` and `k × p` matrices (`bmkp`).
    fn row_matmul(
        &self,
        a: &Tensor<T>,
        b: &Tensor<T>,
        bmkp: (usize, usize, usize, usize),
        out: &mut Tensor<T>,
    );
    /// The gradients of [`Backend::row_matmul`]: `da = g @ bᵀ`, `db = aᵀ @ g` per row.
    #[allow(clippy::too_many_arguments)]
    fn row_matmul_backward(
        &self,
        a: &Tensor<T>,
        b: &Tensor<T>,
        g: &Tensor<T>,
        bmkp: (usize, usize, usize, usize),
        da: Option<&mut Tensor<T>>,
        db: Option<&mut Tensor<T>>,
    );
    fn softmax(&self, x: &Tensor<T>, out: &mut Tensor<T>, log: bool);
    fn softmax_backward(&self, y: &Tensor<T>, dy: &Tensor<T>, dx: &mut Tensor<T>, log: bool);
    #[allow(clippy::too_many_arguments)]
    fn layer_norm(
        &self,
        x: &Tensor<T>,
        w: Option<&[T]>,
        b: Option<&[T]>,
        eps: f64,
        out: &mut Tensor<T>,
        stats: &mut [T],
    );
    #[allow(clippy::too_many_arguments)]
    fn layer_norm_backward(
        &self,
        x: &Tensor<T>,
        w: Option<&[T]>,
        stats: &[T],
        dy: &Tensor<T>,
        dx: Option<&mut Tensor<T>>,
        dw: Option<&mut [T]>,
        db: Option<&mut [T]>,
    );
    fn concat(&self, xs: &[&Tensor<T>], out: &mut Tensor<T>);
    fn split_cols(&self, x: &Tensor<T>, start: usize, out: &mut Tensor<T>);

    // ---- losses ----
    fn cross_entropy(&self, x: &Tensor<T>, targets: &[u32], out: &mut [T]);
    fn cross_entropy_backward(
        &self,
        x: &Tensor<T>,
        targets: &[u32],
        row_grad: Option<&[T]>,
        g: T,
        dx: &mut Tensor<T>,
    );
    fn point_loss(&self, kind: PointLoss, a: &Tensor<T>, b: &Tensor<T>, out: &mut [T]);
    #[allow(clippy::too_many_arguments)]
    fn point_loss_backward(
        &self,
        kind: PointLoss,
        a: &Tensor<T>,
        b: &Tensor<T>,
        dy: Option<&[T]>,
        g: T,
        d: &mut [T],
        wrt_a: bool,
    );
}
