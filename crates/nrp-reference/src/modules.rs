//! The module catalogue in f64, one embedding at a time, with PyTorch's definitions.

use nrp_sema::{Module, ModuleKind};
use std::collections::HashMap;

type Weights<'a> = HashMap<&'a str, (&'a [usize], Vec<f64>)>;

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The value of a `Tensor` module: its parameter's elements.
pub fn tensor_value(module: &Module, w: &Weights) -> Result<Vec<f64>, String> {
    Ok(param(w, &format!("{}.weight", module.name))?.to_vec())
}

fn param<'w>(w: &'w Weights, name: &str) -> Result<&'w [f64], String> {
    w.get(name)
        .map(|(_, v)| v.as_slice())
        .ok_or_else(|| format!("parameter `{name}` is missing"))
}

/// CRC-32 of `zlib.crc32`, bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// `HashBucketTextEncoder`: the mean of the table rows `crc32(token) mod buckets` of the
/// text's whitespace-separated tokens (`<empty>` for none), summed in token order.
pub fn hash_text(text: &str, buckets: usize, dim: usize, table: &[f64]) -> Vec<f64> {
    let mut tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.is_empty() {
        tokens.push("<empty>");
    }
    let mut out = vec![0.0; dim];
    for t in &tokens {
        let b = crc32(t.as_bytes()) as usize % buckets;
        for (o, w) in out.iter_mut().zip(&table[b * dim..(b + 1) * dim]) {
            *o += w;
        }
    }
    out.iter().map(|o| o / tokens.len() as f64).collect()
}

/// A class index held in a 1-dimensional embedding: an integer in `0..n`.
fn index(x: &[f64], n: usize, module: &Module) -> Result<usize, String> {
    let v = x[0];
    if v.fract() != 0.0 || v < 0.0 || v >= n as f64 {
        return Err(format!(
            "`{}` ({}) needs an integer index in 0..{n}, got {v}",
            module.name,
            module.kind.describe()
        ));
    }
    Ok(v as usize)
}

/// Rounds one intermediate value (the identity, except under `evaluate_perturbed`, where it
/// simulates f32 rounding of the steps inside a module: the products and partial sums of a
/// dot product, a LayerNorm's mean and variance).
pub type Round<'r> = &'r dyn Fn(f64) -> f64;

fn log_sum_exp(x: &[f64], r: Round) -> f64 {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s = x.iter().fold(0.0, |s, v| r(s + r(r(v - m).exp())));
    r(m + r(s.ln()))
}

pub fn apply_rounded(
    module: &Module,
    args: &[Vec<f64>],
    w: &Weights,
    r: Round,
) -> Result<Vec<f64>, String> {
    let x = &args[0];
    let name = &module.name;
    Ok(match module.kind {
        ModuleKind::Linear {
            input,
            output,
            bias,
        } => {
            let weight = param(w, &format!("{name}.weight"))?;
            let b = if bias {
                Some(param(w, &format!("{name}.bias"))?)
            } else {
                None
            };
            (0..output)
                .map(|o| {
                    let row = &weight[o * input..(o + 1) * input];
                    let dot = row.iter().zip(x).fold(0.0, |s, (a, b)| r(s + r(a * b)));
                    r(dot + b.map_or(0.0, |b| b[o]))
                })
                .collect()
        }
        ModuleKind::HashText { .. } => unreachable!("evaluated from its text column"),
        ModuleKind::Embedding { num, dim } => {
            let i = index(x, num, module)?;
            param(w, &format!("{name}.weight"))?[i * dim..(i + 1) * dim].to_vec()
        }
        ModuleKind::LayerNorm { dim } => {
            let mean = r(x.iter().fold(0.0, |s, v| r(s + v)) / dim as f64);
            let centred: Vec<f64> = x.iter().map(|v| r(v - mean)).collect();
            let var = r(centred.iter().fold(0.0, |s, c| r(s + r(c * c))) / dim as f64);
            let (g, b) = (
                param(w, &format!("{name}.weight"))?,
                param(w, &format!("{name}.bias"))?,
            );
            let inv = r(1.0 / r(r(var + 1e-5).sqrt()));
            centred
                .iter()
                .enumerate()
                .map(|(i, c)| r(r(r(c * inv) * g[i]) + b[i]))
                .collect()
        }
        ModuleKind::Dropout { .. } | ModuleKind::Identity => x.clone(),
        ModuleKind::ReLU => x.iter().map(|v| v.max(0.0)).collect(),
        ModuleKind::LeakyReLU { slope } => x
            .iter()
            .map(|&v| if v >= 0.0 { v } else { v * slope })
            .collect(),
        ModuleKind::ELU { alpha } => x
            .iter()
            .map(|&v| if v > 0.0 { v } else { alpha * v.exp_m1() })
            .collect(),
        ModuleKind::GELU => x
            .iter()
            .map(|&v| 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2)))
            .collect(),
        ModuleKind::Sigmoid => x.iter().map(|&v| sigmoid(v)).collect(),
        ModuleKind::Tanh => x.iter().map(|v| v.tanh()).collect(),
        ModuleKind::Softmax => {
            let lse = log_sum_exp(x, r);
            x.iter().map(|v| r(r(v - lse).exp())).collect()
        }
        ModuleKind::LogSoftmax => {
            let lse = log_sum_exp(x, r);
            x.iter().map(|v| r(v - lse)).collect()
        }
        ModuleKind::OneHot { n } => {
            let mut v = vec![0.0; n];
            v[index(x, n, module)?] = 1.0;
            v
        }
        ModuleKind::HeadSum { heads } => {
            let block = x.len() / heads;
            (0..heads)
                .map(|h| x[h * block..(h + 1) * block].iter().sum())
                .collect()
        }
        ModuleKind::Repeat { repeats } => x
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, repeats))
            .collect(),
        ModuleKind::ArgMax => {
            // The first maximum; NaN counts as the largest value, as in `torch.argmax`.
            let mut best = 0;
            for (i, v) in x.iter().enumerate() {
                if x[best].is_nan() {
                    break;
                }
                if *v > x[best] || v.is_nan() {
                    best = i;
                }
            }
            vec![best as f64]
        }
        ModuleKind::CrossEntropyLoss => {
            let y = index(&args[1], x.len(), module)?;
            vec![r(log_sum_exp(x, r) - x[y])]
        }
        ModuleKind::MSELoss => vec![mean(x.iter().zip(&args[1]).map(|(p, y)| (p - y).powi(2)))],
        ModuleKind::L1Loss => vec![mean(x.iter().zip(&args[1]).map(|(p, y)| (p - y).abs()))],
        ModuleKind::Tensor { .. } => unreachable!("a Tensor is read, not applied"),
        ModuleKind::NLLLoss => {
            let y = index(&args[1], x.len(), module)?;
            vec![-x[y]]
        }
        ModuleKind::BCELoss => {
            // PyTorch requires probabilities and clamps each log at -100.
            if let Some(p) = x.iter().find(|p| !(0.0..=1.0).contains(*p)) {
                return Err(format!(
                    "`{name}` ({}) needs a probability in [0, 1], got {}",
                    module.kind.describe(),
                    nrp_data::format_float(*p)
                ));
            }
            vec![mean(x.iter().zip(&args[1]).map(|(&p, &y)| {
                (y - 1.0) * (-p).ln_1p().max(-100.0) - y * p.ln().max(-100.0)
            }))]
        }
        ModuleKind::BCEWithLogitsLoss => {
            // max(p, 0) - p*y + log(1 + exp(-|p|)): PyTorch's stable form.
            vec![mean(x.iter().zip(&args[1]).map(|(&p, &y)| {
                p.max(0.0) - p * y + (-p.abs()).exp().ln_1p()
            }))]
        }
    })
}

fn mean(it: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = it.len();
    it.sum::<f64>() / n as f64
}
