//! Rewrites of the ground plan, one per module, applied in this order:
//!
//! 1. [`hoist`] — a row-wise operation on one atom's gathered embedding runs once per fact,
//!    then is gathered (LANGUAGE.md §3: "evaluated once per fact of that atom").
//! 2. [`onehot_sum`] — `sum(w * OneHot(n)(k))` with constant `w`, `k` is a scatter into a
//!    `[heads, n]` constant, never a per-match `[matches, n]` tensor.
//! 3. [`fold`] — every node that reads no parameter and draws no dropout mask is computed
//!    once, at grounding.
//! 4. [`factor_split`] — constant per-match factors of a `sum` become the match list's
//!    weights (the fused weighted SpMM of `sum(z * w)`).
//! 5. [`gather_through`] — a reduction (or gather) of a gather reads the source directly;
//!    one-match-per-head reductions become gathers; identity gathers vanish.
//! 6. [`merge_sums`] — sums of sums over the same facts (several rules of one head, a
//!    union) become one weighted sum.
//! 7. [`linear_pushdown`] — `Lin(Σ w x)` becomes `Σ w Lin(x)` when `Lin` shrinks the
//!    dimension (then [`gather_through`] again tidies up).
//! 8. [`cse`] — nodes with the same operation on the same inputs are computed once.
//! 9. [`sparsify`] — mostly-zero constants are kept as their non-zeros, and the operations
//!    that preserve zeros run on those only.
//! 10. [`fuse_mean`] — a sum divided by its match counts is one mean kernel (the division
//!     in the same pass).
//! 11. [`compose_reduce`] — a sum or mean of a sum or mean that nothing else reads is one
//!     weighted sum over the product of the two match lists, when that is smaller.
//! 12. [`fuse_activation`] — a bias, a ReLU and a dropout in a row are one pass.
//! 13. [`fuse_heads`] — `x * Repeat(k)(a)` and `HeadSum(h)(x * y)` (attention weights on
//!     values, per-head scores) are one pass each, not a GEMM with a 0/1 block matrix.
//!
//! Each rule is a function `Plan -> Plan` over the nodes reachable from the targets, with
//! snapshot tests of the plan before and after.
//!
//! Every rule is an optimisation, never needed for the result:
//! [`crate::EngineOptions::disabled_rules`] (the command line's `NRP_DISABLE_RULES=hoist,sparsify,…`;
//! names as in [`ORDER`]; `cleanup` is the second [`gather_through`] pass, `all` skips every
//! rule) skips the named rules, so that the
//! benchmark can measure each rule's own effect (bench/README.md) and tests can check that
//! results stay the same without it. An unknown name is an error. Rules before
//! [`sparsify`] ([`onehot_sum`], [`fold`]) may already leave constants in sparse form, and
//! only [`sparsify`] gives their dense readers a dense copy: with `sparsify` disabled, every
//! sparse constant is made dense at the end instead (nothing sparse runs per epoch).

pub mod compose_reduce;
pub mod cse;
pub mod factor_split;
pub mod fold;
pub mod fuse_activation;
pub mod fuse_heads;
pub mod fuse_mean;
pub mod gather_through;
pub mod hoist;
pub mod linear_pushdown;
pub mod merge_sums;
pub mod onehot_sum;
pub mod sparsify;

use super::{NodeId, Plan};
use crate::ground::Ground;
use nrp_sema::{Program, RelId};
use nrp_syntax::Diagnostic;

/// What the rules may consult besides the plan.
pub struct Ctx<'a> {
    pub program: &'a Program,
    pub ground: &'a Ground,
    /// The memory budget in bytes: a constant folded at grounding must fit in it.
    pub budget: u64,
}

type Rule = fn(&mut Plan, &Ctx, &[NodeId]) -> Result<(), Diagnostic>;

/// The rules in the order they run.
pub const ORDER: &[(&str, Rule)] = &[
    ("hoist", |p, _, t| {
        hoist::apply(p, t);
        Ok(())
    }),
    ("onehot_sum", onehot_sum::apply),
    ("fold", fold::apply),
    ("factor_split", |p, _, t| {
        factor_split::apply(p, t);
        Ok(())
    }),
    ("gather_through", |p, _, t| {
        gather_through::apply(p, t);
        Ok(())
    }),
    ("merge_sums", |p, _, t| {
        merge_sums::apply(p, t);
        Ok(())
    }),
    ("linear_pushdown", |p, _, t| {
        linear_pushdown::apply(p, t);
        Ok(())
    }),
    ("cleanup", |p, _, t| {
        gather_through::apply(p, t);
        Ok(())
    }),
    ("cse", |p, _, t| {
        cse::apply(p, t);
        Ok(())
    }),
    ("sparsify", |p, _, t| {
        sparsify::apply(p, t);
        Ok(())
    }),
    ("fuse_mean", |p, _, t| {
        fuse_mean::apply(p, t);
        Ok(())
    }),
    ("compose_reduce", |p, _, t| {
        compose_reduce::apply(p, t);
        Ok(())
    }),
    ("fuse_activation", |p, _, t| {
        fuse_activation::apply(p, t);
        Ok(())
    }),
    ("fuse_heads", |p, _, t| {
        fuse_heads::apply(p, t);
        Ok(())
    }),
];

/// Rewrites applied outside this module that the same option switches off (they check it
/// themselves): `eliminate`, the aggregation push-down before grounding.
pub const OTHER_RULES: &[&str] = &["eliminate"];

/// The rules named in `spec` (comma- or space-separated; `all` = every rule of [`ORDER`],
/// not [`OTHER_RULES`]), or an error naming an unknown one.
pub fn parse_disabled(spec: &str) -> Result<Vec<&'static str>, String> {
    let mut out = vec![];
    for name in spec
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if name == "all" {
            out.extend(ORDER.iter().map(|(n, _)| *n));
        } else if let Some((n, _)) = ORDER.iter().find(|(n, _)| *n == name) {
            out.push(*n);
        } else if let Some(n) = OTHER_RULES.iter().find(|n| **n == name) {
            out.push(*n);
        } else {
            let mut known: Vec<&str> = ORDER.iter().map(|(n, _)| *n).collect();
            known.extend(OTHER_RULES);
            return Err(format!(
                "unknown rule `{name}` (rules: {}, all)",
                known.join(", ")
            ));
        }
    }
    Ok(out)
}

/// Applies every rule to the plan of the relations `rels`, except those that `options`
/// disable.
pub fn optimize(
    plan: &mut Plan,
    program: &Program,
    ground: &Ground,
    rels: &[RelId],
    options: &crate::EngineOptions,
) -> Result<(), Diagnostic> {
    optimize_except(plan, program, ground, rels, &options.disabled_rules)
}

/// Applies the rules of [`ORDER`] not named in `disabled`.
pub fn optimize_except(
    plan: &mut Plan,
    program: &Program,
    ground: &Ground,
    rels: &[RelId],
    disabled: &[&str],
) -> Result<(), Diagnostic> {
    let ctx = Ctx {
        program,
        ground,
        budget: ground.budget,
    };
    let mut t = std::time::Instant::now();
    for (name, rule) in ORDER {
        if disabled.contains(name) {
            crate::trace(ground.trace, &format!("{name} (disabled)"), &mut t);
            continue;
        }
        let targets = super::targets(plan, rels);
        rule(plan, &ctx, &targets)?;
        crate::trace(ground.trace, name, &mut t);
    }
    if disabled.contains(&"sparsify") {
        densify_constants(plan);
    }
    Ok(())
}

/// Replaces every sparse constant by its dense matrix (what `sparsify` disabled means).
fn densify_constants(plan: &mut Plan) {
    for n in &mut plan.nodes {
        if let (Some(s), super::Op::Const(v)) = (&n.sparse, &n.op) {
            n.op = super::Op::Const(std::sync::Arc::new(super::sparse::to_dense(s, &v.data)));
            n.sparse = None;
        }
    }
    debug_assert!(
        plan.nodes.iter().all(|n| n.sparse.is_none()),
        "only constants are sparse before `sparsify`"
    );
}

/// Replaces every reference to node `from` by `to` (relation nodes included).
pub(crate) fn redirect(plan: &mut Plan, from: NodeId, to: NodeId) {
    for n in &mut plan.nodes {
        for i in n.op.inputs_mut() {
            if *i == from {
                *i = to;
            }
        }
    }
    for r in plan.relation.iter_mut().flatten() {
        if *r == from {
            *r = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_rules_parse() {
        assert_eq!(parse_disabled("").unwrap(), Vec::<&str>::new());
        assert_eq!(
            parse_disabled("hoist, sparsify").unwrap(),
            vec!["hoist", "sparsify"]
        );
        assert_eq!(parse_disabled("all").unwrap().len(), ORDER.len());
        assert_eq!(
            parse_disabled("eliminate,fold").unwrap(),
            vec!["eliminate", "fold"]
        );
        let e = parse_disabled("hoist,nope").unwrap_err();
        assert!(e.contains("`nope`") && e.contains("linear_pushdown"), "{e}");
    }
}
