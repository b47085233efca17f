//! Plan nodes for embeddings with a shape. Rows hold each fact's tensor flattened, so a
//! `view`, `unsqueeze` or `squeeze` is no node at all; a transpose or a broadcast that moves
//! values is one column map (`Op::ColGather`); `@` is a per-row matrix product
//! (`Op::RowMatMul`), whose `(1, k) @ (k, 1)` case is a dot product per row.

use super::{Builder, NodeId, Op, Space};
use nrp_sema::{BinOp, Expr, Shape, shape};
use nrp_syntax::Span;
use nrp_tensor::Csr;
use std::sync::Arc;

fn known(e: &Expr) -> &Shape {
    e.shape.as_ref().expect("shapes are known with a database")
}

impl Builder<'_> {
    /// `x` rearranged by `map` (no node when there is none).
    fn col_gather(
        &mut self,
        x: NodeId,
        map: Option<Vec<u32>>,
        label: &str,
        span: Option<Span>,
    ) -> NodeId {
        let Some(map) = map else { return x };
        let (rows, space, from) = (
            self.plan.nodes[x].rows,
            self.plan.nodes[x].space,
            self.plan.nodes[x].dim,
        );
        let dim = map.len();
        // Each value repeated `k` times in place (`(h,) → (h, k)`): `Repeat(k)`, which
        // `fuse_heads` folds into a following product.
        let repeat = from > 0 && dim.is_multiple_of(from) && {
            let k = dim / from;
            map.iter().enumerate().all(|(j, &s)| s as usize == j / k)
        };
        let op = if repeat {
            Op::HeadScale { x: None, a: x }
        } else {
            Op::ColGather { x, map: map.into() }
        };
        self.plan.add(op, rows, dim, label, span, space)
    }

    /// A per-fact transpose of `x`, whose expression is `xe`.
    pub(super) fn transpose(
        &mut self,
        x: NodeId,
        xe: &Expr,
        label: &str,
        span: Option<Span>,
    ) -> NodeId {
        self.col_gather(x, shape::transpose_map(known(xe)), label, span)
    }

    /// `a op b` of shaped operands (expressions `ae`, `be`; the result `e`): each operand
    /// broadcast to the result's shape where values must move, then the element-wise node,
    /// or the per-row product of `@`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn shaped_binary(
        &mut self,
        op: BinOp,
        (a, ae): (NodeId, &Expr),
        (b, be): (NodeId, &Expr),
        e: &Expr,
        rows: usize,
        label: &str,
        span: Option<Span>,
        space: Space,
    ) -> NodeId {
        let out = known(e);
        let dim = out.numel().expect("a known dimension");
        if op == BinOp::MatMul {
            let (_, bmkp) = shape::matmul(known(ae), known(be), span.unwrap_or_default())
                .expect("checked by sema");
            let (a, b) = (self.repeat_rows(a, rows), self.repeat_rows(b, rows));
            let op = match bmkp {
                // `(h, 1, k) @ (h, k, 1)`: a dot product per head, `HeadSum(h)(a * b)`'s
                // fused kernel.
                (heads, 1, _, 1) => Op::HeadDot {
                    x: a,
                    y: Some(b),
                    heads,
                },
                _ => Op::RowMatMul { a, b, bmkp },
            };
            return self.plan.add(op, rows, dim, label, span, space);
        }
        let a = self.col_gather(a, shape::broadcast_map(known(ae), out), label, span);
        let b = self.col_gather(b, shape::broadcast_map(known(be), out), label, span);
        self.binary(op, a, b, dim, label, span, space)
    }

    /// `x` with `rows` rows: a single row (a `Tensor` parameter, a constant) repeated.
    fn repeat_rows(&mut self, x: NodeId, rows: usize) -> NodeId {
        let n = &self.plan.nodes[x];
        if n.rows == rows {
            return x;
        }
        debug_assert_eq!(n.rows, 1, "only a single row broadcasts");
        let (dim, label, span, space) = (n.dim, n.label.clone(), n.span, n.space);
        let index = Arc::new(Csr::from_index(vec![0; rows], 1).expect("row 0 of 1"));
        self.plan
            .add(Op::Gather { x, index }, rows, dim, label, span, space)
    }
}
