//! The ground plan as text (`nrp explain`, snapshot tests) and as Graphviz (`--dot`).

use super::{LossKind, NodeId, Op, Plan};
use nrp_sema::Program;
use std::fmt::Write;

/// One node's operation as `nrp explain` prints it (`reduce sum %3 over 13264 matches`).
pub fn describe(plan: &Plan, program: Option<&Program>, id: NodeId) -> String {
    let n = &plan.nodes[id];
    let r = |i: &NodeId| format!("%{i}");
    match &n.op {
        Op::Const(_) => "const".into(),
        Op::Param(module) => match program {
            Some(p) => format!("param {}.weight", p.modules[*module].name),
            None => format!("param module#{module}"),
        },
        Op::Gather { x, index } => format!("gather {} by {} rows", r(x), index.n_rows()),
        Op::Unary(op, x) => format!("{op:?} {}", r(x)).to_lowercase(),
        Op::Binary(op, a, b) => format!("{} {} {}", format!("{op:?}").to_lowercase(), r(a), r(b)),
        Op::Linear { module, x, bias } => {
            let name = program.map_or(format!("module#{module}"), |p| {
                p.modules[*module].name.clone()
            });
            format!("{name}{} {}", if *bias { "" } else { " (no bias)" }, r(x))
        }
        Op::Bias { module, x } => {
            let name = program.map_or(format!("module#{module}"), |p| {
                p.modules[*module].name.clone()
            });
            format!("{name}.bias + {}", r(x))
        }
        Op::Densify(x) => format!("densify {}", r(x)),
        Op::ColGather { x, map } => format!("col_gather {} to {} columns", r(x), map.len()),
        Op::RowMatMul {
            a,
            b,
            bmkp: (batch, m, k, p),
        } => format!("row_matmul({batch} × {m}×{k} @ {k}×{p}) {} {}", r(a), r(b)),
        Op::HeadScale { x: Some(x), a } => format!("head_scale {} by {}", r(x), r(a)),
        Op::HeadScale { x: None, a } => {
            format!("repeat({}) {}", n.dim / plan.nodes[*a].dim.max(1), r(a))
        }
        Op::HeadDot {
            x,
            y: Some(y),
            heads,
        } => format!("head_dot({heads}) {} {}", r(x), r(y)),
        Op::HeadDot { x, y: None, heads } => format!("head_sum({heads}) {}", r(x)),
        Op::Module { module, x } => match program {
            Some(p) => format!(
                "{} {} {}",
                p.modules[*module].name,
                p.modules[*module].kind.describe(),
                r(x)
            ),
            None => format!("module#{module} {}", r(x)),
        },
        Op::Dropout { p, x } => format!("dropout({p}) {}", r(x)),
        Op::Activation { x, bias, relu, p } => {
            let mut s = r(x);
            if let Some(m) = bias {
                let name = program.map_or(format!("module#{m}"), |p| p.modules[*m].name.clone());
                s = format!("{name}.bias + {s}");
            }
            if *relu {
                s = format!("relu({s})");
            }
            if *p > 0.0 {
                s = format!("dropout({p}) {s}");
            }
            s
        }
        Op::Softmax { log, x } => {
            format!("{} {}", if *log { "log_softmax" } else { "softmax" }, r(x))
        }
        Op::OneHot { n, x } => format!("one_hot({n}) {}", r(x)),
        Op::ArgMax(x) => format!("argmax {}", r(x)),
        Op::Concat(xs) => format!("concat {}", xs.iter().map(r).collect::<Vec<_>>().join(" ")),
        Op::Loss { kind, x, y } => {
            let k = match kind {
                LossKind::CrossEntropy => "cross_entropy",
                LossKind::Mse => "mse",
                LossKind::L1 => "l1",
                LossKind::BceWithLogits => "bce_with_logits",
                LossKind::Bce => "bce",
                LossKind::Nll => "nll",
            };
            format!("{k} {} {}", r(x), r(y))
        }
        Op::Reduce {
            x,
            csr,
            agg,
            weights,
        } => format!(
            "reduce {} {} over {} matches{}",
            agg.name(),
            r(x),
            csr.nnz(),
            if weights.is_some() { ", weighted" } else { "" }
        ),
        Op::Stack { xs, .. } => format!("stack {}", xs.iter().map(r).collect::<Vec<_>>().join(" ")),
    }
}

/// One line per node reachable from `targets`, inputs first:
/// `%7 = reduce sum %3 over 13264 matches, weighted   [2708 × 16]  A1`.
pub fn text(plan: &Plan, program: Option<&Program>, targets: &[NodeId]) -> String {
    let order = plan.topological(targets);
    let lines: Vec<(String, String)> = order
        .iter()
        .map(|&id| {
            let n = &plan.nodes[id];
            let sparse = n
                .sparse
                .as_ref()
                .map(|c| format!(" sparse, {} nnz", c.nnz()))
                .unwrap_or_default();
            (
                format!("%{id} = {}", describe(plan, program, id)),
                format!("[{} × {}{sparse}]  {}", n.rows, n.dim, n.label),
            )
        })
        .collect();
    let width = lines
        .iter()
        .map(|(a, _)| a.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (a, b) in lines {
        let _ = writeln!(out, "  {a:<width$}  {b}");
    }
    out
}

/// Graphviz: one box per node, edges from inputs.
pub fn dot(plan: &Plan, program: Option<&Program>, targets: &[NodeId]) -> String {
    let mut out = String::from(
        "digraph plan {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for id in plan.topological(targets) {
        let n = &plan.nodes[id];
        let label = format!(
            "%{id} {}\\n[{} × {}] {}",
            describe(plan, program, id),
            n.rows,
            n.dim,
            n.label
        )
        .replace('"', "\\\"");
        let _ = writeln!(out, "  n{id} [label=\"{label}\"];");
        for i in n.op.inputs() {
            let _ = writeln!(out, "  n{i} -> n{id};");
        }
    }
    out.push_str("}\n");
    out
}
