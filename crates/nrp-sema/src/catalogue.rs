//! The v1 module catalogue (LANGUAGE.md §2): constructor names, their arguments in PyTorch's
//! order and names, and validation of argument values.

use crate::ir::ModuleKind;
use nrp_syntax::{Diagnostic, Span};

/// Whether `name` is a catalogue constructor.
pub fn is_constructor(name: &str) -> bool {
    spec(name).is_some()
}

/// `Tensor(shape…[, fill])`, a free parameter (its arguments are a shape, not a signature).
pub fn is_tensor(name: &str) -> bool {
    name == "Tensor"
}

/// Whether the module can be built without arguments (so `ReLU(z)` may mean `ReLU()(z)`).
pub fn has_no_required_args(name: &str) -> bool {
    spec(name).is_some_and(|s| s.iter().all(|(_, default)| default.is_some()))
}

type Spec = &'static [(&'static str, Option<f64>)];

fn spec(name: &str) -> Option<Spec> {
    Some(match name {
        "Linear" => &[
            ("in_features", None),
            ("out_features", None),
            ("bias", Some(1.0)),
        ],
        "Embedding" => &[("num_embeddings", None), ("embedding_dim", None)],
        // RelaNN's text encoder (`crate::text`), also called `HashBucket` there.
        "HashBucketTextEncoder" | "HashBucket" => {
            &[("num_buckets", Some(1024.0)), ("dim", Some(16.0))]
        }
        "LayerNorm" => &[("normalized_shape", None)],
        "Dropout" => &[("p", Some(0.5))],
        "LeakyReLU" => &[("negative_slope", Some(0.01))],
        "ELU" => &[("alpha", Some(1.0))],
        "Softmax" | "LogSoftmax" | "ArgMax" => &[("dim", Some(-1.0))],
        "OneHot" => &[("num_classes", None)],
        // nrp extensions for multi-head models (docs/LANGUAGE.md, "Extensions").
        "HeadSum" => &[("heads", None)],
        "Repeat" => &[("repeats", None)],
        "ReLU" | "GELU" | "Sigmoid" | "Tanh" | "Identity" | "CrossEntropyLoss" | "MSELoss"
        | "L1Loss" | "BCEWithLogitsLoss" | "BCELoss" | "NLLLoss" => &[],
        _ => return None,
    })
}

/// A constructor argument after constant evaluation.
pub struct CtorArg {
    pub name: Option<(String, Span)>,
    pub value: f64,
    pub span: Span,
}

/// An argument of `Tensor(…)`: its value, and whether it was written as a decimal literal
/// (`3.0`, `-0.5`, `1e-3`), which makes a last argument the fill value.
pub struct TensorArg {
    pub value: f64,
    pub decimal: bool,
    pub span: Span,
}

/// `Tensor(shape…[, fill])` as RelaNN reads it: with two or more arguments and the last a
/// decimal literal, that one is the constant fill and the rest the shape; otherwise all
/// are the shape and the fill is 0. The value is shared by every fact; its per-fact shape is
/// [`tensor_fact_shape`].
/// The shape a `Tensor` parameter has in an expression, where it broadcasts over the facts:
/// the shape as written, except that a leading 1 of a shape of rank two or more is the
/// (broadcast) fact axis, as RelaNN's `(1, d)` tensors meet `(E, d)` embeddings: `Tensor(d)`
/// and `Tensor(1, d)` are vectors, `Tensor(a, b)` a matrix, `Tensor(1, a, b)` one too.
pub fn tensor_fact_shape(shape: &[usize]) -> Vec<usize> {
    match shape {
        [1, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        all => all.to_vec(),
    }
}

pub fn tensor(args: &[TensorArg], call_span: Span) -> Result<ModuleKind, Diagnostic> {
    let (shape_args, fill) = match args {
        [] => {
            return Err(Diagnostic::error(
                "`Tensor` needs a shape: `Tensor(1)` is a scalar, `Tensor(1, 16)` a vector",
                call_span,
            ));
        }
        [rest @ .., last] if !rest.is_empty() && last.decimal => (rest, last.value),
        all => (all, 0.0),
    };
    let mut shape = vec![];
    for a in shape_args {
        // An integral value computed by arithmetic (`d / h`) is an extent, as in RelaNN.
        if a.value.fract() != 0.0 || !(1.0..=1e9).contains(&a.value) {
            return Err(Diagnostic::error(
                format!(
                    "the shape of `Tensor` is made of positive integers, got {}",
                    nrp_data::format_float(a.value)
                ),
                a.span,
            ));
        }
        shape.push(a.value as usize);
    }
    Ok(ModuleKind::Tensor { shape, fill })
}

/// Builds a module from constructor arguments, checking them as PyTorch would.
pub fn construct(name: &str, args: &[CtorArg], call_span: Span) -> Result<ModuleKind, Diagnostic> {
    let spec = spec(name)
        .ok_or_else(|| Diagnostic::error(format!("unknown module `{name}`"), call_span))?;
    let mut values: Vec<Option<(f64, Span)>> = vec![None; spec.len()];
    let signature = || {
        let ps: Vec<String> = spec
            .iter()
            .map(|(n, d)| match d {
                Some(d) => format!(
                    "{n}={}",
                    if *n == "bias" {
                        if *d != 0.0 {
                            "True".to_string()
                        } else {
                            "False".to_string()
                        }
                    } else {
                        d.to_string()
                    }
                ),
                None => n.to_string(),
            })
            .collect();
        format!("{name}({})", ps.join(", "))
    };
    let mut positional = 0;
    for a in args {
        let slot = match &a.name {
            None => {
                if positional >= spec.len() {
                    return Err(Diagnostic::error(
                        format!("too many arguments for `{name}`"),
                        a.span,
                    )
                    .with_note(format!("signature: {}", signature())));
                }
                positional += 1;
                positional - 1
            }
            Some((kw, kspan)) => spec.iter().position(|(n, _)| n == kw).ok_or_else(|| {
                Diagnostic::error(format!("`{name}` has no argument `{kw}`"), *kspan)
                    .with_note(format!("signature: {}", signature()))
            })?,
        };
        if values[slot].is_some() {
            return Err(Diagnostic::error(
                format!("argument `{}` of `{name}` given twice", spec[slot].0),
                a.span,
            ));
        }
        values[slot] = Some((a.value, a.span));
    }
    let mut get = |i: usize| -> Result<(f64, Span), Diagnostic> {
        match values[i].take() {
            Some(v) => Ok(v),
            None => match spec[i].1 {
                Some(d) => Ok((d, call_span)),
                None => Err(Diagnostic::error(
                    format!("`{name}` needs its argument `{}`", spec[i].0),
                    call_span,
                )
                .with_note(format!("signature: {}", signature()))),
            },
        }
    };
    let size = |(v, span): (f64, Span), what: &str| -> Result<usize, Diagnostic> {
        if v.fract() != 0.0 || !(1.0..=1e9).contains(&v) {
            return Err(Diagnostic::error(
                format!("`{what}` of `{name}` must be a positive integer, got {v}"),
                span,
            ));
        }
        Ok(v as usize)
    };
    let axis = |(v, span): (f64, Span)| -> Result<(), Diagnostic> {
        if v != 1.0 && v != -1.0 {
            return Err(Diagnostic::error(
                format!("`{name}` works over the embedding axis: `dim` must be 1 or -1, got {v}"),
                span,
            ));
        }
        Ok(())
    };
    Ok(match name {
        "Linear" => {
            let input = size(get(0)?, "in_features")?;
            let output = size(get(1)?, "out_features")?;
            let (b, span) = get(2)?;
            if b != 0.0 && b != 1.0 {
                return Err(Diagnostic::error(
                    format!("`bias` of `Linear` is `True` or `False`, got {b}"),
                    span,
                ));
            }
            ModuleKind::Linear {
                input,
                output,
                bias: b != 0.0,
            }
        }
        "Embedding" => ModuleKind::Embedding {
            num: size(get(0)?, "num_embeddings")?,
            dim: size(get(1)?, "embedding_dim")?,
        },
        "HashBucketTextEncoder" | "HashBucket" => ModuleKind::HashText {
            buckets: size(get(0)?, "num_buckets")?,
            dim: size(get(1)?, "dim")?,
        },
        "LayerNorm" => ModuleKind::LayerNorm {
            dim: size(get(0)?, "normalized_shape")?,
        },
        "Dropout" => {
            let (p, span) = get(0)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(Diagnostic::error(
                    format!("dropout probability has to be between 0 and 1, but got {p}"),
                    span,
                ));
            }
            ModuleKind::Dropout { p }
        }
        "LeakyReLU" => ModuleKind::LeakyReLU { slope: get(0)?.0 },
        "ELU" => ModuleKind::ELU { alpha: get(0)?.0 },
        "Softmax" => {
            axis(get(0)?)?;
            ModuleKind::Softmax
        }
        "LogSoftmax" => {
            axis(get(0)?)?;
            ModuleKind::LogSoftmax
        }
        "ArgMax" => {
            axis(get(0)?)?;
            ModuleKind::ArgMax
        }
        "OneHot" => ModuleKind::OneHot {
            n: size(get(0)?, "num_classes")?,
        },
        "HeadSum" => ModuleKind::HeadSum {
            heads: size(get(0)?, "heads")?,
        },
        "Repeat" => ModuleKind::Repeat {
            repeats: size(get(0)?, "repeats")?,
        },
        "ReLU" => ModuleKind::ReLU,
        "GELU" => ModuleKind::GELU,
        "Sigmoid" => ModuleKind::Sigmoid,
        "Tanh" => ModuleKind::Tanh,
        "Identity" => ModuleKind::Identity,
        "CrossEntropyLoss" => ModuleKind::CrossEntropyLoss,
        "MSELoss" => ModuleKind::MSELoss,
        "L1Loss" => ModuleKind::L1Loss,
        "BCEWithLogitsLoss" => ModuleKind::BCEWithLogitsLoss,
        "BCELoss" => ModuleKind::BCELoss,
        "NLLLoss" => ModuleKind::NLLLoss,
        _ => unreachable!("spec() covers every name"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(v: f64) -> CtorArg {
        CtorArg {
            name: None,
            value: v,
            span: Span::default(),
        }
    }
    fn kw(n: &str, v: f64) -> CtorArg {
        CtorArg {
            name: Some((n.into(), Span::default())),
            value: v,
            span: Span::default(),
        }
    }

    #[test]
    fn linear_takes_pytorch_arguments() {
        assert_eq!(
            construct("Linear", &[arg(4.0), arg(2.0)], Span::default()).unwrap(),
            ModuleKind::Linear {
                input: 4,
                output: 2,
                bias: true
            }
        );
        assert_eq!(
            construct("Linear", &[arg(4.0), arg(2.0), arg(0.0)], Span::default()).unwrap(),
            ModuleKind::Linear {
                input: 4,
                output: 2,
                bias: false
            }
        );
        assert_eq!(
            construct(
                "Linear",
                &[
                    kw("out_features", 2.0),
                    kw("in_features", 4.0),
                    kw("bias", 0.0)
                ],
                Span::default()
            )
            .unwrap(),
            ModuleKind::Linear {
                input: 4,
                output: 2,
                bias: false
            }
        );
    }

    #[test]
    fn tensor_reads_a_last_decimal_literal_as_the_fill() {
        let t = |args: &[(f64, bool)]| {
            let args: Vec<TensorArg> = args
                .iter()
                .map(|&(value, decimal)| TensorArg {
                    value,
                    decimal,
                    span: Span::default(),
                })
                .collect();
            tensor(&args, Span::default()).map_err(|d| d.message)
        };
        let ok = |shape: &[usize], fill: f64| {
            Ok(ModuleKind::Tensor {
                shape: shape.to_vec(),
                fill,
            })
        };
        assert_eq!(t(&[(1.0, false)]), ok(&[1], 0.0));
        // One argument is always the shape, a decimal too (RelaNN: `Tensor(1.0)` is `(1,)`).
        assert_eq!(t(&[(1.0, true)]), ok(&[1], 0.0));
        assert_eq!(t(&[(1.0, false), (2.0, true)]), ok(&[1], 2.0));
        assert_eq!(t(&[(3.0, false), (0.5, true)]), ok(&[3], 0.5));
        assert_eq!(t(&[(1.0, false), (16.0, false)]), ok(&[1, 16], 0.0));
        assert_eq!(
            t(&[(1.0, false), (16.0, false), (-1.0, true)]),
            ok(&[1, 16], -1.0)
        );
        // An integral value computed by arithmetic (`d / h`) is an extent.
        assert_eq!(t(&[(1.0, false), (4.0, false)]), ok(&[1, 4], 0.0));
        assert!(t(&[]).unwrap_err().contains("needs a shape"));
        assert_eq!(t(&[(2.0, false), (3.0, false)]), ok(&[2, 3], 0.0));
        assert_eq!(tensor_fact_shape(&[1, 16]), vec![16]);
        assert_eq!(tensor_fact_shape(&[1]), vec![1]);
        assert_eq!(tensor_fact_shape(&[2, 3]), vec![2, 3]);
        assert_eq!(tensor_fact_shape(&[1, 2, 3]), vec![2, 3]);
        assert!(
            t(&[(2.5, false)])
                .unwrap_err()
                .contains("positive integers, got 2.5")
        );
        assert!(
            t(&[(0.0, false)])
                .unwrap_err()
                .contains("positive integers, got 0")
        );
    }

    #[test]
    fn bad_arguments_are_explained() {
        let e = |name: &str, args: &[CtorArg]| {
            construct(name, args, Span::default()).unwrap_err().message
        };
        assert_eq!(
            e("Linear", &[arg(4.0)]),
            "`Linear` needs its argument `out_features`"
        );
        assert_eq!(
            e("Linear", &[arg(4.5), arg(2.0)]),
            "`in_features` of `Linear` must be a positive integer, got 4.5"
        );
        assert_eq!(
            e("Linear", &[arg(4.0), arg(2.0), kw("bais", 0.0)]),
            "`Linear` has no argument `bais`"
        );
        assert_eq!(e("ReLU", &[arg(1.0)]), "too many arguments for `ReLU`");
        assert_eq!(
            e("Softmax", &[arg(0.0)]),
            "`Softmax` works over the embedding axis: `dim` must be 1 or -1, got 0"
        );
        assert_eq!(
            e("Dropout", &[arg(1.5)]),
            "dropout probability has to be between 0 and 1, but got 1.5"
        );
    }
}
