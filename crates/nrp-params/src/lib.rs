//! Parameters of learnable modules: PyTorch-identical initialisation and safetensors
//! checkpoints (LANGUAGE.md §3 "Parameter names", §7).
//!
//! - [`TorchRng`] is PyTorch's CPU generator (mt19937 seeded as `torch.manual_seed`), with
//!   `uniform_` and `normal_` reproduced bit for bit, and [`init_tensor`] fills a tensor the way
//!   `nn.Linear`, `nn.Embedding` and `nn.LayerNorm` do. So `torch.manual_seed(s)` followed by
//!   module construction, and nrp's initialisation with seed `s` in the same order (module by
//!   module, weight before bias, one generator), give the same float32 weights.
//!   PyTorch's results depend on the CPU build it dispatches to; [`CpuCapability::Avx2`]
//!   (the default, any x86-64 with AVX2 or AVX-512) and [`CpuCapability::Default`] are both
//!   reproduced. Verified against torch 2.15 by `tests/torch_parity.rs` (fixtures from
//!   `tests/fixtures/make_fixtures.py`).
//! - [`read_safetensors`] / [`write_safetensors`] read and write checkpoints; writes are atomic
//!   and byte-identical to what the Python `safetensors` library writes for the same F32
//!   tensors (and at most one metadata entry; Python orders several in hash order).
//! - [`json`] is the small JSON library used for the safetensors header and `--json` output.
//!
//! The crate has no dependencies and never panics on bad input.

mod checkpoint;
mod init;
pub mod json;
mod rng;
mod safetensors;

pub use checkpoint::{
    CODES_PREFIX, Checkpoint, Codes, FitProgress, OPTIMIZER_PREFIX, read_codes, read_codes_file,
    resolve_save_target,
};
pub use init::{Loaded, ParamSpec, init_parameters, load_parameters};
pub use rng::{CpuCapability, TorchRng};
pub use safetensors::{
    bf16_to_f32, f16_to_f32, parse_safetensors, read_safetensors, read_safetensors_bytes,
    serialize_safetensors, write_safetensors,
};

use std::collections::BTreeMap;
use std::fmt;

/// A dense f32 parameter tensor with a PyTorch shape (row-major). `Linear.weight` is `[out, in]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl ParamTensor {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        ParamTensor {
            shape: shape.to_vec(),
            data: vec![0.0; numel(shape)],
        }
    }

    /// A tensor of zeros, or `None` when the allocator refuses its memory (or its size
    /// overflows) instead of aborting the process.
    pub fn try_zeros(shape: &[usize]) -> Option<Self> {
        let n = checked_numel(shape)?;
        let mut data = Vec::new();
        data.try_reserve_exact(n).ok()?;
        data.resize(n, 0.0);
        Some(ParamTensor {
            shape: shape.to_vec(),
            data,
        })
    }

    /// Wraps `data`; `None` when its length is not the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Option<Self> {
        let n = checked_numel(&shape)?;
        (n == data.len()).then_some(ParamTensor { shape, data })
    }

    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Number of elements of a shape (1 for `[]`), `None` when the product overflows `usize`.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Product of a shape for shapes that must fit in memory anyway.
fn numel(shape: &[usize]) -> usize {
    checked_numel(shape).unwrap_or(usize::MAX)
}

/// An error reading or writing parameters; the message names the file and the tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub message: String,
}

impl ParamError {
    pub fn new(message: impl Into<String>) -> Self {
        ParamError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParamError {}

/// A named set of tensors, ordered by name: the checkpoint.
pub type ParamMap = BTreeMap<String, ParamTensor>;

/// How a parameter is initialised, as PyTorch's module constructors do.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// `nn.Linear` weight: `kaiming_uniform_(a=sqrt(5))`, i.e. U(-b, b) with
    /// b = sqrt(3) * sqrt(2 / (1 + 5)) / sqrt(fan_in), computed in f64 exactly as
    /// `torch.nn.init` does (this is 1/sqrt(fan_in) up to the last bit of the f64).
    /// A tensor with no elements draws nothing, like PyTorch's no-op for zero-element tensors.
    KaimingUniform { fan_in: usize },
    /// U(-bound, bound): `nn.Linear` bias with bound = 1/sqrt(fan_in) (0 if fan_in == 0);
    /// see [`Init::linear_bias`].
    Uniform { bound: f64 },
    /// N(mean, std): `nn.Embedding.weight` is N(0, 1).
    Normal { mean: f64, std: f64 },
    /// All ones (`LayerNorm.weight`); draws nothing.
    Ones,
    /// All zeros (`LayerNorm.bias`); draws nothing.
    Zeros,
    /// Every element `value` (`nn.init.constant_`, RelaNN's `Tensor(shape, fill)`); draws
    /// nothing.
    Constant(f64),
}

impl Init {
    /// `nn.Linear(fan_in, ..)`'s bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bound 0 when
    /// fan_in is 0.
    pub fn linear_bias(fan_in: usize) -> Init {
        let bound = if fan_in > 0 {
            1.0 / (fan_in as f64).sqrt()
        } else {
            0.0
        };
        Init::Uniform { bound }
    }

    /// `nn.Embedding` weight: N(0, 1).
    pub fn embedding() -> Init {
        Init::Normal {
            mean: 0.0,
            std: 1.0,
        }
    }
}

/// The bound `kaiming_uniform_(w, a=sqrt(5))` uses, with Python's f64 operation order:
/// `gain = sqrt(2 / (1 + a**2)); std = gain / sqrt(fan); bound = sqrt(3) * std`.
pub fn kaiming_uniform_bound(fan_in: usize) -> f64 {
    let a = 5.0f64.sqrt();
    // `a ** 2` is `pow(a, 2.0)`, which is correctly rounded, like `a * a`.
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let std = gain / (fan_in as f64).sqrt();
    3.0f64.sqrt() * std
}

/// A tensor of `shape` initialised by `init`, drawing from `rng` exactly as PyTorch's
/// in-place initialiser (`uniform_`, `normal_`, `fill_`) on a new contiguous float32 tensor.
///
/// The shape must fit in memory: callers validate sizes from user programs first
/// (see [`checked_numel`]); allocation failure aborts like any `Vec` allocation.
pub fn init_tensor(rng: &mut TorchRng, shape: &[usize], init: &Init) -> ParamTensor {
    fill(rng, ParamTensor::zeros(shape), init)
}

/// [`init_tensor`], or an error naming the bytes when the allocator refuses the tensor's
/// memory (a size beyond what the process may allocate) instead of aborting.
pub fn try_init_tensor(
    rng: &mut TorchRng,
    shape: &[usize],
    init: &Init,
) -> Result<ParamTensor, ParamError> {
    let t = ParamTensor::try_zeros(shape).ok_or_else(|| {
        let bytes = shape
            .iter()
            .try_fold(4u128, |acc, &d| acc.checked_mul(d as u128));
        ParamError::new(match bytes {
            Some(b) => format!("cannot allocate {b} bytes for a tensor of shape {shape:?}"),
            None => format!("a tensor of shape {shape:?} does not fit in memory"),
        })
    })?;
    Ok(fill(rng, t, init))
}

fn fill(rng: &mut TorchRng, mut t: ParamTensor, init: &Init) -> ParamTensor {
    match *init {
        Init::KaimingUniform { fan_in } => {
            if !t.data.is_empty() {
                let bound = if fan_in > 0 {
                    kaiming_uniform_bound(fan_in)
                } else {
                    // Unreachable from `nn.Linear` (fan_in 0 means no elements); PyTorch would
                    // divide by zero. Degrade to a zero bound rather than fail.
                    0.0
                };
                rng.fill_uniform(&mut t.data, -bound, bound);
            }
        }
        Init::Uniform { bound } => {
            // `nn.Linear` passes the Python int 0 when fan_in is 0, and `-0` is +0 there;
            // -0.0 as `from` would turn the (all-zero) draws into -0.0.
            let from = if bound == 0.0 { 0.0 } else { -bound };
            rng.fill_uniform(&mut t.data, from, bound);
        }
        Init::Normal { mean, std } => rng.fill_normal(&mut t.data, mean, std),
        Init::Ones => t.data.fill(1.0),
        Init::Zeros => {}
        Init::Constant(v) => t.data.fill(v as f32),
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaiming_bound_is_one_over_sqrt_fan_in() {
        for fan_in in [1usize, 2, 3, 16, 1433, 100000] {
            let b = kaiming_uniform_bound(fan_in);
            let want = 1.0 / (fan_in as f64).sqrt();
            assert!((b - want).abs() <= 4.0 * f64::EPSILON * want, "{fan_in}");
        }
    }

    #[test]
    fn ones_zeros_draw_nothing() {
        let mut a = TorchRng::new(1);
        let t = init_tensor(&mut a, &[3], &Init::Ones);
        assert_eq!(t.data, vec![1.0; 3]);
        let t = init_tensor(&mut a, &[2, 2], &Init::Zeros);
        assert_eq!(t.data, vec![0.0; 4]);
        assert_eq!(a.random(), TorchRng::new(1).random());
    }

    #[test]
    fn param_tensor_new_checks_length() {
        assert!(ParamTensor::new(vec![2, 3], vec![0.0; 6]).is_some());
        assert!(ParamTensor::new(vec![2, 3], vec![0.0; 5]).is_none());
        assert!(ParamTensor::new(vec![], vec![1.0]).is_some());
        assert!(ParamTensor::new(vec![usize::MAX, 3], vec![]).is_none());
    }
}
