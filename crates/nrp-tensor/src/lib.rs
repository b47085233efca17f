//! `nrp-tensor`: the tensor layer of nrp.
//!
//! - [`Tensor`]: a row-major 2-D `f32` (or `f64`, for gradient checks) matrix.
//! - [`Csr`], [`Segments`]: match lists sorted by head row, with a lazily built transpose.
//! - [`Backend`]: the kernel set (forward and backward), implemented by [`Cpu`] on rayon.
//! - [`Graph`]: the per-epoch autodiff tape; [`BufferPool`] recycles its buffers.
//! - [`ParamSet`], [`Adam`], [`Sgd`]: named parameters and PyTorch-exact optimisers.
//!
//! See README.md for the determinism contract and measurements.
//!
//! One training epoch as an engine records it (a one-layer GCN on a 3-node graph):
//!
//! ```
//! use nrp_tensor::*;
//!
//! # fn main() -> nrp_tensor::Result<()> {
//! let cpu = Cpu::new(2)?;
//! // Grounded once: match list (head row <- body rows) and constant per-match weights.
//! let adj = Csr::new(3, 3, vec![0, 2, 3, 5], vec![0, 1, 1, 0, 2])?;
//! let norm = Tensor::column(vec![0.5, 0.5, 1.0, 0.3, 0.7]);
//! let x = Tensor::new(3, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
//! let y = Tensor::column(vec![0.0, 1.0, 1.0]);
//!
//! let mut params = ParamSet::new();
//! let w = params.add("Lin1.weight", Tensor::new(2, 2, vec![0.1, -0.2, 0.3, 0.4]));
//! let b = params.add("Lin1.bias", Tensor::zeros(1, 2));
//! params.set_weight_decay(b, Some(0.0)); // per-parameter decay, as PyTorch param groups
//! let mut opt = Adam::new(0.01, 5e-4);
//! let mut pool = BufferPool::new();
//! let mut rng = CounterRng::new(0);
//!
//! for _epoch in 0..3 {
//!     let mut g: Graph = Graph::with_pool(&cpu, pool); // Graph<f32, Cpu>
//!     let (xv, nv, yv) = (g.constant(&x), g.constant(&norm), g.constant(&y));
//!     let (wv, bv) = (g.param(&params, w), g.param(&params, b));
//!     let h = g.linear(xv, wv, Some(bv))?; // x·wᵀ + b
//!     let h = g.spmm(&adj, h, Some(nv))?; // sum(z * w) over the match list, fused
//!     let h = g.dropout_fill(h, 0.5, &mut |buf: &mut [f32]| rng.fill(buf))?;
//!     let loss = g.cross_entropy(h, yv, Reduction::Mean)?;
//!     assert!(g.value(loss).item().unwrap().is_finite());
//!     let grads = g.backward(loss)?;
//!     pool = g.into_pool(); // ends the graph's borrows of `params`
//!     opt.step(&mut params, &grads);
//!     pool.recycle(grads);
//! }
//! # Ok(())
//! # }
//! ```

pub mod alloc;
pub mod backend;
pub mod cpu;
mod error;
pub mod float;
mod graph;
pub mod optim;
mod pool;
pub mod rng;
pub mod sparse;
mod tensor;

pub use alloc::OutOfMemory;
pub use backend::{Backend, BinaryOp, DropMask, PointLoss, Reduce, Reduction, UnaryOp};
pub use cpu::Cpu;
pub use cpu::elementwise::broadcast_shape;
pub use cpu::simd::prefetch;
pub use error::{Result, TensorError};
pub use float::Float;
pub use graph::{Grads, Graph, Var};
pub use optim::{Adam, OptimState, Optimizer, ParamId, ParamSet, Parameter, Sgd};
pub use pool::BufferPool;
pub use rng::CounterRng;
pub use sparse::{Csr, EntryValues, Segments, Transposed};
pub use tensor::Tensor;
