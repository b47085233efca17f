//! Embedding-dimension inference and checking, relation by relation in dependency order.
//! A dimension is `None` when it depends on a database that was not given; checks that
//! need it are then skipped (`nrp check` without `--db`).

use crate::ir::*;
use nrp_syntax::{Diagnostic, Span};

type R<T> = Result<T, Diagnostic>;

/// `limit`: the memory budget in bytes; an expression of which one row (`dim` float32
/// values) needs more is an error, as is a dimension that overflows.
pub fn infer(relations: &mut [Relation], modules: &[Module], order: &[RelId], limit: u64) -> R<()> {
    for &rel in order {
        let RelKind::Derived(mut rule) =
            std::mem::replace(&mut relations[rel].kind, RelKind::Input(placeholder()))
        else {
            continue;
        };
        let name = relations[rel]
            .name
            .split('#')
            .next()
            .unwrap_or_default()
            .to_string();
        let result = infer_rule(&mut rule, relations, modules, &name, limit);
        relations[rel].kind = RelKind::Derived(rule);
        relations[rel].dim = result?;
    }
    Ok(())
}

fn placeholder() -> InputBinding {
    InputBinding {
        table: None,
        terms: 0,
        embedding: false,
    }
}

fn infer_rule(
    rule: &mut CoreRule,
    rels: &[Relation],
    modules: &[Module],
    name: &str,
    limit: u64,
) -> R<Option<usize>> {
    let agg = rule.agg();
    let is_union = matches!(rule, CoreRule::Union { .. });
    let mut bodies: Vec<(&Body, Option<&mut Expr>)> = match rule {
        CoreRule::Transform { body, expr, .. } | CoreRule::Conj { body, expr, .. } => {
            vec![(&*body, expr.as_mut())]
        }
        CoreRule::Union { branches, .. } => branches
            .iter_mut()
            .map(|b| (&b.body, b.expr.as_mut()))
            .collect(),
    };
    // A constant embedding (`Keys(v; 0)`) takes the dimension the union's other branches
    // bind; 1 when none binds one.
    let fill = if is_union {
        bodies
            .iter()
            .map(|(b, _)| &b.atoms[0])
            .find(|a| a.emb_const.is_none() && a.binds_embedding)
            .map_or(Some(1), |a| rels[a.rel].dim)
    } else {
        Some(1)
    };
    let mut dim: Option<Option<usize>> = None;
    let mut first_span = Span::default();
    for (body, expr) in bodies.iter_mut() {
        let (d, mut span) = match expr {
            _ if agg == Agg::Count => (
                Some(1),
                body.atoms.first().map(|a| a.span).unwrap_or_default(),
            ),
            Some(e) => (infer_expr(e, body, rels, modules, limit, fill)?, e.span),
            None => (
                Some(0),
                body.atoms.first().map(|a| a.span).unwrap_or_default(),
            ),
        };
        // A union's branches share the head expression: point at the branch instead (for
        // several rules with one head, the branch atom spans its rule).
        if is_union && let Some(a) = body.atoms.first() {
            span = a.span;
        }
        match dim {
            None => {
                dim = Some(d);
                first_span = span;
            }
            Some(prev) => {
                if let (Some(a), Some(b)) = (prev, d)
                    && a != b
                {
                    let _ = first_span;
                    return Err(Diagnostic::error(
                        format!("`{name}` gets a {b}-dimensional embedding here but a {a}-dimensional one from its first rule or branch"),
                        span,
                    )
                    .with_note("every rule and union branch of one relation must give embeddings of the same dimension"));
                }
                if prev.is_none() {
                    dim = Some(d);
                }
            }
        }
    }
    Ok(dim.flatten())
}

fn broadcast(op: &str, a: Option<usize>, b: Option<usize>, span: Span) -> R<Option<usize>> {
    Ok(match (a, b) {
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(1), Some(y)) => Some(y),
        (Some(x), Some(1)) => Some(x),
        (Some(x), Some(y)) => {
            return Err(Diagnostic::error(
                format!("dimension mismatch in `{op}`: the left operand is {x}-dimensional, the right one {y}-dimensional"),
                span,
            )
            .with_note("element-wise operators need equal dimensions; only a 1-dimensional operand broadcasts"));
        }
        (Some(1), None) | (None, Some(1)) | (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x),
    })
}

/// `fill`: the dimension of a union branch's constant embedding (`ExprKind::Fill`).
fn infer_expr(
    e: &mut Expr,
    body: &Body,
    rels: &[Relation],
    modules: &[Module],
    limit: u64,
    fill: Option<usize>,
) -> R<Option<usize>> {
    let span = e.span;
    let overflow =
        || Diagnostic::error("the embedding dimension of this expression overflows", span);
    let d = match &mut e.kind {
        ExprKind::Emb(i) => rels[body.atoms[*i].rel].dim,
        ExprKind::Encode(items) => Some(items.len()),
        ExprKind::Const(_) => Some(1),
        ExprKind::Fill(_) => fill,
        ExprKind::Param(m) => match &modules[*m].kind {
            ModuleKind::Tensor { shape, .. } => shape.last().copied(),
            k => unreachable!("only a Tensor is a value, not {k:?}"),
        },
        ExprKind::Neg(x) => infer_expr(x, body, rels, modules, limit, fill)?,
        ExprKind::Binary(op, a, b) => {
            let da = infer_expr(a, body, rels, modules, limit, fill)?;
            let db = infer_expr(b, body, rels, modules, limit, fill)?;
            broadcast(op.symbol(), da, db, span)?
        }
        ExprKind::Chain(first, rest) => {
            // Step by step, as `((a + b) + c)` would be: a mismatch names its operator and
            // spans the chain up to the offending operand.
            let mut d = infer_expr(first, body, rels, modules, limit, fill)?;
            let start = first.span;
            for (op, x) in rest.iter_mut() {
                let dx = infer_expr(x, body, rels, modules, limit, fill)?;
                d = broadcast(op.symbol(), d, dx, start.to(x.span))?;
            }
            d
        }
        ExprKind::Func(Func::Concat, xs) => {
            let mut total = Some(0usize);
            for x in xs.iter_mut() {
                let d = infer_expr(x, body, rels, modules, limit, fill)?;
                total = match (total, d) {
                    (Some(t), Some(d)) => Some(t.checked_add(d).ok_or_else(overflow)?),
                    _ => None,
                };
            }
            total
        }
        ExprKind::Func(_, xs) => infer_expr(&mut xs[0], body, rels, modules, limit, fill)?,
        ExprKind::Apply(m, xs) => {
            let mut ds = vec![];
            for x in xs.iter_mut() {
                ds.push((infer_expr(x, body, rels, modules, limit, fill)?, x.span));
            }
            let module = &modules[*m];
            module_output(module, &ds, span)?
        }
    };
    // One row of this expression must fit in the budget (rows × dim is checked when the
    // database fixes the rows, before the plan allocates anything).
    if let Some(d) = d
        && (d as u128) * 4 > limit as u128
    {
        return Err(Diagnostic::error(
            format!(
                "one row of this {d}-dimensional embedding needs {}, more than the memory limit of {}",
                nrp_data::memory::format_bytes_f64(d as f64 * 4.0),
                nrp_data::memory::format_bytes(limit)
            ),
            span,
        ));
    }
    e.dim = d;
    Ok(d)
}

fn module_output(
    module: &Module,
    inputs: &[(Option<usize>, Span)],
    span: Span,
) -> R<Option<usize>> {
    let name = &module.name;
    let what = module.kind.describe();
    let expect = |(d, s): (Option<usize>, Span), want: usize, role: &str| -> R<()> {
        match d {
            Some(d) if d != want => Err(Diagnostic::error(
                format!("`{name}` ({what}) expects {role} of dimension {want}, got {d}"),
                s,
            )),
            _ => Ok(()),
        }
    };
    // Indices and class targets: one number per embedding.
    let expect_index = |(d, s): (Option<usize>, Span), role: &str| -> R<()> {
        match d {
            Some(d) if d != 1 => Err(Diagnostic::error(
                format!(
                    "`{name}` ({what}) takes {role} held in a 1-dimensional embedding, got a {d}-dimensional one"
                ),
                s,
            )),
            _ => Ok(()),
        }
    };
    let x = inputs[0];
    Ok(match module.kind {
        ModuleKind::Linear { input, output, .. } => {
            expect(x, input, "an input")?;
            Some(output)
        }
        ModuleKind::Embedding { dim, .. } => {
            expect_index(x, "an integer index")?;
            Some(dim)
        }
        ModuleKind::LayerNorm { dim } => {
            expect(x, dim, "an input")?;
            Some(dim)
        }
        ModuleKind::OneHot { n } => {
            expect_index(x, "an integer index")?;
            Some(n)
        }
        ModuleKind::HeadSum { heads } => {
            if let Some(d) = x.0
                && d % heads != 0
            {
                return Err(Diagnostic::error(
                    format!(
                        "`{name}` ({what}) splits its input into {heads} equal blocks; a {d}-dimensional input does not split"
                    ),
                    x.1,
                ));
            }
            Some(heads)
        }
        ModuleKind::Repeat { repeats } => match x.0 {
            Some(d) => Some(d.checked_mul(repeats).ok_or_else(|| {
                Diagnostic::error(
                    format!(
                        "`{name}` ({what}) of a {d}-dimensional input: the dimension overflows"
                    ),
                    span,
                )
            })?),
            None => None,
        },
        ModuleKind::ArgMax => Some(1),
        ModuleKind::CrossEntropyLoss | ModuleKind::NLLLoss => {
            expect_index(inputs[1], "a class-index target")?;
            Some(1)
        }
        ModuleKind::MSELoss
        | ModuleKind::L1Loss
        | ModuleKind::BCEWithLogitsLoss
        | ModuleKind::BCELoss => {
            let y = inputs[1];
            if let (Some(a), Some(b)) = (x.0, y.0)
                && a != b
            {
                return Err(Diagnostic::error(
                    format!(
                        "`{name}` ({what}) needs input and target of the same dimension, got {a} and {b}"
                    ),
                    span,
                ));
            }
            Some(1)
        }
        ModuleKind::Dropout { .. }
        | ModuleKind::ReLU
        | ModuleKind::LeakyReLU { .. }
        | ModuleKind::ELU { .. }
        | ModuleKind::GELU
        | ModuleKind::Sigmoid
        | ModuleKind::Tanh
        | ModuleKind::Softmax
        | ModuleKind::LogSoftmax
        | ModuleKind::Identity => x.0,
        ModuleKind::Tensor { .. } => unreachable!("a Tensor is read, not applied"),
    })
}
