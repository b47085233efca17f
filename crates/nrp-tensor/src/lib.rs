//! `nrp-tensor`: the tensor layer of nrp.
//!
//! - [`Tensor`]: a row-major 2-D `f32` (or `f64`, for gradient checks) matrix.
//! - [`Csr`], [`Segments`]: match lists sorted by head row, with a lazily built transpose.
//! - [`Backend`]: the kernel set (forward and backward), implemented by [`Cpu`] on rayon.
//! - [`Graph`]: the per-epoch autodiff tape; [`BufferPool`] recycles its buffers.
//! - [`ParamSet`], [`Adam`], [`Sgd`]: named parameters and PyTorch-exact optimisers.
//!
//! See README.md for the determinism contract and measurements.

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

pub use backend::{Backend, BinaryOp, PointLoss, Reduce, Reduction, UnaryOp};
pub use cpu::Cpu;
pub use cpu::elementwise::broadcast_shape;
pub use error::{Result, TensorError};
pub use float::Float;
pub use graph::{Grads, Graph, Var};
pub use optim::{Adam, Optimizer, ParamId, ParamSet, Parameter, Sgd};
pub use pool::BufferPool;
pub use rng::CounterRng;
pub use sparse::{Csr, Segments, Transposed};
pub use tensor::Tensor;
