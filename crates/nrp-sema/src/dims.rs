//! Embedding-dimension inference and checking, relation by relation in dependency order.
//! A dimension is `None` when it depends on a database that was not given; checks that
//! need it are then skipped (`nrp check` without `--db`).

use crate::ir::*;
use crate::shape;
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
        let shape = result?;
        relations[rel].dim = shape.as_ref().and_then(Shape::numel);
        relations[rel].shape = shape;
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

/// A relation's shape: a vector of its dimension unless a rule gave it another.
fn rel_shape(r: &Relation) -> Option<Shape> {
    r.shape.clone().or_else(|| r.dim.map(Shape::vector))
}

fn infer_rule(
    rule: &mut CoreRule,
    rels: &[Relation],
    modules: &[Module],
    name: &str,
    limit: u64,
) -> R<Option<Shape>> {
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
    // A constant embedding (`Keys(v; 0)`) takes the shape the union's other branches bind;
    // a single value when none binds one.
    let fill = if is_union {
        bodies
            .iter()
            .map(|(b, _)| &b.atoms[0])
            .find(|a| a.emb_const.is_none() && a.binds_embedding)
            .map_or(Some(Shape::vector(1)), |a| rel_shape(&rels[a.rel]))
    } else {
        Some(Shape::vector(1))
    };
    let mut shape: Option<Option<Shape>> = None;
    for (body, expr) in bodies.iter_mut() {
        let (s, mut span) = match expr {
            _ if agg == Agg::Count => (
                Some(Shape::vector(1)),
                body.atoms.first().map(|a| a.span).unwrap_or_default(),
            ),
            Some(e) => (
                infer_expr(e, body, rels, modules, limit, fill.as_ref())?,
                e.span,
            ),
            None => (
                Some(Shape::vector(0)),
                body.atoms.first().map(|a| a.span).unwrap_or_default(),
            ),
        };
        // A union's branches share the head expression: point at the branch instead (for
        // several rules with one head, the branch atom spans its rule).
        if is_union && let Some(a) = body.atoms.first() {
            span = a.span;
        }
        match &shape {
            None => shape = Some(s),
            Some(prev) => {
                if let (Some(a), Some(b)) = (prev, &s)
                    && a != b
                {
                    let (da, db) = (a.numel().unwrap_or(0), b.numel().unwrap_or(0));
                    let (msg, what) = if da != db {
                        (
                            format!(
                                "`{name}` gets a {db}-dimensional embedding here but a {da}-dimensional one from its first rule or branch"
                            ),
                            "dimension",
                        )
                    } else {
                        (
                            format!(
                                "`{name}` gets an embedding of shape {b} here but of shape {a} from its first rule or branch"
                            ),
                            "shape",
                        )
                    };
                    return Err(Diagnostic::error(msg, span).with_note(format!(
                        "every rule and union branch of one relation must give embeddings of the same {what}"
                    )));
                }
                if prev.is_none() {
                    shape = Some(s);
                }
            }
        }
    }
    Ok(shape.flatten())
}

/// Whether `e` is one value for every fact (a `Tensor` parameter, reshaped or not): it has
/// no fact axis in a matrix product ([`shape::matmul_shape`]).
fn shared(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Param(_) => true,
        ExprKind::Reshape(_, x) | ExprKind::Transpose(x) => shared(x),
        _ => false,
    }
}

/// The shape of `a op b` when both are known or one is a single value; `None` otherwise.
/// `shared`: which operands are one value for every fact.
fn broadcast(
    op: BinOp,
    a: Option<Shape>,
    b: Option<Shape>,
    shared: (bool, bool),
    span: Span,
) -> R<Option<Shape>> {
    Ok(match (a, b) {
        (Some(x), Some(y)) if op == BinOp::MatMul => {
            Some(shape::matmul_shape(&x, &y, shared, span)?)
        }
        (Some(x), Some(y)) => Some(shape::broadcast(op.symbol(), &x, &y, span)?),
        (_, _) if op == BinOp::MatMul => None,
        // A single value broadcasts to the unknown side; anything else fixes the shape.
        (Some(x), None) | (None, Some(x)) => (x.numel() != Some(1)).then_some(x),
        (None, None) => None,
    })
}

/// `fill`: the shape of a union branch's constant embedding (`ExprKind::Fill`).
fn infer_expr(
    e: &mut Expr,
    body: &Body,
    rels: &[Relation],
    modules: &[Module],
    limit: u64,
    fill: Option<&Shape>,
) -> R<Option<Shape>> {
    let span = e.span;
    let overflow =
        || Diagnostic::error("the embedding dimension of this expression overflows", span);
    let s: Option<Shape> = match &mut e.kind {
        ExprKind::Emb(i) => rel_shape(&rels[body.atoms[*i].rel]),
        ExprKind::Encode(items, ..) => Some(Shape::vector(items.len())),
        ExprKind::Const(_) => Some(Shape::vector(1)),
        ExprKind::Fill(_) => fill.cloned(),
        ExprKind::Param(m) => match &modules[*m].kind {
            ModuleKind::Tensor { shape, .. } => {
                Some(Shape(crate::catalogue::tensor_fact_shape(shape)))
            }
            k => unreachable!("only a Tensor is a value, not {k:?}"),
        },
        ExprKind::Neg(x) => infer_expr(x, body, rels, modules, limit, fill)?,
        ExprKind::Binary(op, a, b) => {
            let sa = infer_expr(a, body, rels, modules, limit, fill)?;
            let sb = infer_expr(b, body, rels, modules, limit, fill)?;
            broadcast(*op, sa, sb, (shared(a), shared(b)), span)?
        }
        ExprKind::Chain(first, rest) => {
            let mut shapes = vec![infer_expr(first, body, rels, modules, limit, fill)?];
            for (_, x) in rest.iter_mut() {
                shapes.push(infer_expr(x, body, rels, modules, limit, fill)?);
            }
            let shaped = shapes.iter().flatten().any(|s| !s.is_vector())
                || rest.iter().any(|(op, _)| *op == BinOp::MatMul);
            if shaped {
                // Each step's shape matters to the engine (a broadcast or a product moves
                // data): nest the chain, `((a op b) op c)`, each step its own node.
                let s = nest_chain(e, shapes, limit)?;
                return set_shape(e, s, limit);
            }
            // Step by step, as `((a + b) + c)` would be: a mismatch names its operator and
            // spans the chain up to the offending operand.
            let start = first.span;
            let mut s = shapes[0].clone();
            for ((op, x), sx) in rest.iter().zip(shapes.into_iter().skip(1)) {
                s = broadcast(*op, s, sx, (false, false), start.to(x.span))?;
            }
            s
        }
        ExprKind::Func(Func::Concat, xs) => {
            let mut total = Some(0usize);
            for x in xs.iter_mut() {
                let s = infer_expr(x, body, rels, modules, limit, fill)?;
                let d = match s {
                    Some(s) if s.rank() > 1 => return Err(not_a_vector("`Concat`", &s, x.span)),
                    s => s.and_then(|s| s.numel()),
                };
                total = match (total, d) {
                    (Some(t), Some(d)) => Some(t.checked_add(d).ok_or_else(overflow)?),
                    _ => None,
                };
            }
            total.map(Shape::vector)
        }
        ExprKind::Func(_, xs) => infer_expr(&mut xs[0], body, rels, modules, limit, fill)?,
        ExprKind::Apply(m, xs) => {
            let module = &modules[*m];
            let keeps_shape = module.kind.is_elementwise();
            let mut ds = vec![];
            let mut first = None;
            for x in xs.iter_mut() {
                let s = infer_expr(x, body, rels, modules, limit, fill)?;
                if let Some(s) = &s
                    && s.rank() > 1
                    && !keeps_shape
                {
                    let what = format!("`{}` ({})", module.name, module.kind.describe());
                    return Err(not_a_vector(&what, s, x.span));
                }
                ds.push((s.as_ref().and_then(Shape::numel), x.span));
                first.get_or_insert(s);
            }
            let out = module_output(module, &ds, span)?;
            match first.flatten() {
                Some(s) if keeps_shape => Some(s),
                _ => out.map(Shape::vector),
            }
        }
        ExprKind::Reshape(r, x) => {
            let sx = infer_expr(x, body, rels, modules, limit, fill)?;
            match (sx, &*r) {
                (Some(sx), r) => Some(shape::reshape(r, &sx, span)?),
                // Without the input's shape only a fully given `view` is known.
                (None, Reshape::View(dims)) if dims.iter().all(|&d| d >= 0) => {
                    Some(Shape(dims.iter().map(|&d| d as usize).collect()))
                }
                (None, _) => None,
            }
        }
        ExprKind::Transpose(x) => {
            infer_expr(x, body, rels, modules, limit, fill)?.map(|s| shape::transpose(&s))
        }
    };
    set_shape(e, s, limit)
}

/// Records `s` as `e`'s shape and dimension, checking that one row of it fits the budget.
fn set_shape(e: &mut Expr, s: Option<Shape>, limit: u64) -> R<Option<Shape>> {
    let span = e.span;
    let overflow =
        || Diagnostic::error("the embedding dimension of this expression overflows", span);
    let d = match &s {
        Some(s) => Some(s.numel().ok_or_else(overflow)?),
        None => None,
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
    e.shape = s.clone();
    Ok(s)
}

fn not_a_vector(what: &str, s: &Shape, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("{what} takes vectors; this embedding has shape {s}"),
        span,
    )
    .with_note(format!(
        "`view({})(…)` flattens it",
        s.numel().unwrap_or_default()
    ))
}

/// `((a op1 b) op2 c) …` as nested binary nodes, each spanning from the chain's start, from
/// the operands' inferred `shapes`; every step but the last (which becomes `e`, whose
/// caller records it) gets its shape here. The last step's shape.
fn nest_chain(e: &mut Expr, shapes: Vec<Option<Shape>>, limit: u64) -> R<Option<Shape>> {
    let ExprKind::Chain(first, rest) = std::mem::replace(&mut e.kind, ExprKind::Const(0.0)) else {
        unreachable!("nest_chain of a chain")
    };
    let start = first.span;
    let mut shapes = shapes.into_iter();
    let mut s = shapes.next().flatten();
    let mut acc = *first;
    let last = rest.len();
    for (i, ((op, x), sx)) in rest.into_iter().zip(shapes).enumerate() {
        let span = start.to(x.span);
        // Only the first operand can be shared on the left: later ones are products.
        let left = i == 0 && shared(&acc);
        s = broadcast(op, s, sx, (left, shared(&x)), span)?;
        acc = Expr {
            kind: ExprKind::Binary(op, Box::new(acc), Box::new(x)),
            dim: None,
            shape: None,
            span,
        };
        if i + 1 < last {
            set_shape(&mut acc, s.clone(), limit)?;
        }
    }
    *e = acc;
    Ok(s)
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
        // One content column (checked with the rule: `crate::text`), any text.
        ModuleKind::HashText { dim, .. } => Some(dim),
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
