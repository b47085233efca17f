//! `Backend` for [`Cpu`]: thin delegation to the kernel modules.

use super::{Cpu, dense, elementwise as ew, loss, rowwise, shaped, sparse};
use crate::backend::{Backend, BinaryOp, DropMask, PointLoss, UnaryOp};
use crate::{Csr, EntryValues, Float, Segments, Tensor};

impl<T: Float> Backend<T> for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn matmul(
        &self,
        a: &Tensor<T>,
        ta: bool,
        b: &Tensor<T>,
        tb: bool,
        out: &mut Tensor<T>,
        acc: bool,
    ) {
        dense::matmul(self, a, ta, b, tb, out, acc)
    }
    fn add_row_vector(&self, out: &mut Tensor<T>, v: &[T]) {
        dense::add_row_vector(self, out, v)
    }
    fn col_sum(&self, x: &Tensor<T>, out: &mut [T]) {
        dense::col_sum(self, x, out)
    }
    fn sum_all(&self, x: &Tensor<T>) -> f64 {
        dense::sum_all(self, x)
    }
    fn transpose(&self, x: &Tensor<T>, out: &mut Tensor<T>) {
        dense::transpose(self, x, out)
    }
    fn fill(&self, out: &mut [T], v: T) {
        self.for_rows(out, 1, 1, |_, o| o.fill(v));
    }
    fn add_assign(&self, acc: &mut Tensor<T>, x: &Tensor<T>) {
        assert_eq!(acc.shape(), x.shape());
        self.for_rows(&mut acc.data, 1, 1, |s, o| {
            for (o, &v) in o.iter_mut().zip(&x.data[s..]) {
                *o += v;
            }
        });
    }
    fn unary(&self, op: UnaryOp, x: &Tensor<T>, out: &mut Tensor<T>) {
        ew::unary(self, op, x, out)
    }
    fn unary_backward(
        &self,
        op: UnaryOp,
        x: &Tensor<T>,
        y: &Tensor<T>,
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    ) {
        ew::unary_backward(self, op, x, y, dy, dx)
    }
    fn binary(&self, op: BinaryOp, a: &Tensor<T>, b: &Tensor<T>, out: &mut Tensor<T>) {
        ew::binary(self, op, a, b, out)
    }
    fn binary_backward(
        &self,
        op: BinaryOp,
        a: &Tensor<T>,
        b: &Tensor<T>,
        y: &Tensor<T>,
        dy: &Tensor<T>,
        da: Option<&mut Tensor<T>>,
        db: Option<&mut Tensor<T>>,
    ) {
        ew::binary_backward(self, op, a, b, y, dy, da, db)
    }
    fn mask_scale(&self, x: &Tensor<T>, keep: &[u8], scale: T, out: &mut Tensor<T>) {
        ew::mask_scale(self, x, keep, scale, out)
    }
    fn bias_act_dropout(
        &self,
        x: &Tensor<T>,
        bias: Option<&[T]>,
        relu: bool,
        mask: Option<&DropMask<T>>,
        out: &mut Tensor<T>,
        keep: Option<&mut [u8]>,
    ) {
        ew::bias_act_dropout(self, x, bias, relu, mask, out, keep)
    }
    fn positive_scale(&self, y: &Tensor<T>, dy: &Tensor<T>, scale: T, dx: &mut Tensor<T>) {
        ew::positive_scale(self, y, dy, scale, dx)
    }
    fn reduce_to(&self, full: &Tensor<T>, out: &mut Tensor<T>) {
        ew::reduce_to(self, full, out)
    }
    fn spmm(
        &self,
        csr: &Csr,
        vals: Option<&[T]>,
        s: Option<&[T]>,
        x: &Tensor<T>,
        out: &mut Tensor<T>,
    ) {
        sparse::spmm(self, csr, vals, s, x, out)
    }
    fn spmm_mean(&self, csr: &Csr, x: &Tensor<T>, out: &mut Tensor<T>) {
        sparse::spmm_mean(self, csr, x, out)
    }
    fn spmm_t(
        &self,
        csr: &Csr,
        vals: EntryValues<T>,
        s: Option<&[T]>,
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    ) {
        sparse::spmm_t(self, csr, vals, s, dy, dx, false)
    }
    fn spmm_t_add(
        &self,
        csr: &Csr,
        vals: EntryValues<T>,
        s: Option<&[T]>,
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    ) {
        sparse::spmm_t(self, csr, vals, s, dy, dx, true)
    }
    fn spmm_dvals(
        &self,
        csr: &Csr,
        s: Option<&[T]>,
        x: &Tensor<T>,
        dy: &Tensor<T>,
        dvals: &mut [T],
    ) {
        sparse::spmm_dvals(self, csr, s, x, dy, dvals)
    }
    fn sparse_linear(&self, csr: &Csr, vals: Option<&[T]>, w: &Tensor<T>, out: &mut Tensor<T>) {
        sparse::sparse_linear(self, csr, vals, w, out)
    }
    fn sparse_linear_dw(
        &self,
        csr: &Csr,
        vals: EntryValues<T>,
        dy: &Tensor<T>,
        dw: &mut Tensor<T>,
    ) {
        sparse::sparse_linear_dw(self, csr, vals, dy, dw)
    }
    fn sparse_linear_dvals(&self, csr: &Csr, w: &Tensor<T>, dy: &Tensor<T>, dvals: &mut [T]) {
        sparse::sparse_linear_dvals(self, csr, w, dy, dvals)
    }
    fn gather_rows(&self, idx: &[u32], x: &Tensor<T>, out: &mut Tensor<T>) {
        sparse::gather_rows(self, idx, x, out)
    }
    fn segment_sum(&self, seg: &Segments, s: Option<&[T]>, x: &Tensor<T>, out: &mut Tensor<T>) {
        sparse::segment_sum(self, seg, s, x, out)
    }
    fn segment_expand(&self, seg: &Segments, s: Option<&[T]>, dy: &Tensor<T>, dx: &mut Tensor<T>) {
        sparse::segment_expand(self, seg, s, dy, dx)
    }
    fn segment_extreme(
        &self,
        seg: &Segments,
        idx: Option<&[u32]>,
        max: bool,
        x: &Tensor<T>,
        out: &mut Tensor<T>,
        arg: &mut [u32],
    ) {
        sparse::segment_extreme(self, seg, idx, max, x, out, arg)
    }
    fn segment_extreme_backward(
        &self,
        seg: &Segments,
        gathered: Option<&Csr>,
        arg: &[u32],
        dy: &Tensor<T>,
        dx: &mut Tensor<T>,
    ) {
        sparse::segment_extreme_backward(self, seg, gathered, arg, dy, dx)
    }
    fn head_scale(&self, x: Option<&Tensor<T>>, a: &Tensor<T>, out: &mut Tensor<T>) {
        rowwise::head_scale(self, x, a, out)
    }
    fn head_dot(&self, x: &Tensor<T>, y: Option<&Tensor<T>>, out: &mut Tensor<T>) {
        rowwise::head_dot(self, x, y, out)
    }
    fn col_gather(&self, x: &Tensor<T>, map: &[u32], out: &mut Tensor<T>) {
        shaped::col_gather(self, x, map, out)
    }
    fn col_scatter(&self, g: &Tensor<T>, map: &[u32], dx: &mut Tensor<T>) {
        shaped::col_scatter(self, g, map, dx)
    }
    fn row_matmul(
        &self,
        a: &Tensor<T>,
        b: &Tensor<T>,
        bmkp: (usize, usize, usize, usize),
        out: &mut Tensor<T>,
    ) {
        shaped::row_matmul(self, a, b, bmkp, out)
    }
    fn row_matmul_backward(
        &self,
        a: &Tensor<T>,
        b: &Tensor<T>,
        g: &Tensor<T>,
        bmkp: (usize, usize, usize, usize),
        da: Option<&mut Tensor<T>>,
        db: Option<&mut Tensor<T>>,
    ) {
        shaped::row_matmul_backward(self, a, b, g, bmkp, da, db)
    }
    fn softmax(&self, x: &Tensor<T>, out: &mut Tensor<T>, log: bool) {
        rowwise::softmax(self, x, out, log)
    }
    fn softmax_backward(&self, y: &Tensor<T>, dy: &Tensor<T>, dx: &mut Tensor<T>, log: bool) {
        rowwise::softmax_backward(self, y, dy, dx, log)
    }
    fn layer_norm(
        &self,
        x: &Tensor<T>,
        w: Option<&[T]>,
        b: Option<&[T]>,
        eps: f64,
        out: &mut Tensor<T>,
        stats: &mut [T],
    ) {
        rowwise::layer_norm(self, x, w, b, eps, out, stats)
    }
    fn layer_norm_backward(
        &self,
        x: &Tensor<T>,
        w: Option<&[T]>,
        stats: &[T],
        dy: &Tensor<T>,
        dx: Option<&mut Tensor<T>>,
        dw: Option<&mut [T]>,
        db: Option<&mut [T]>,
    ) {
        rowwise::layer_norm_backward(self, x, w, stats, dy, dx, dw, db)
    }
    fn concat(&self, xs: &[&Tensor<T>], out: &mut Tensor<T>) {
        rowwise::concat(self, xs, out)
    }
    fn split_cols(&self, x: &Tensor<T>, start: usize, out: &mut Tensor<T>) {
        rowwise::split_cols(self, x, start, out)
    }
    fn cross_entropy(&self, x: &Tensor<T>, t: &[u32], out: &mut [T]) {
        loss::cross_entropy(self, x, t, out)
    }
    fn cross_entropy_backward(
        &self,
        x: &Tensor<T>,
        t: &[u32],
        rg: Option<&[T]>,
        g: T,
        dx: &mut Tensor<T>,
    ) {
        loss::cross_entropy_backward(self, x, t, rg, g, dx)
    }
    fn point_loss(&self, kind: PointLoss, a: &Tensor<T>, b: &Tensor<T>, out: &mut [T]) {
        loss::point_loss(self, kind, a, b, out)
    }
    fn point_loss_backward(
        &self,
        kind: PointLoss,
        a: &Tensor<T>,
        b: &Tensor<T>,
        dy: Option<&[T]>,
        g: T,
        d: &mut [T],
        wrt_a: bool,
    ) {
        loss::point_loss_backward(self, kind, a, b, dy, g, Some(d), wrt_a)
    }
}
