//! Execution: records the plan's nodes on an autodiff tape (`nrp_tensor::Graph`), in
//! dependency order, every epoch. Constants and match lists are borrowed from the plan, so
//! an epoch allocates only activations (recycled through the graph's buffer pool).

use crate::plan::{LossKind, NodeId, Op, Plan};
use nrp_params::{ParamMap, ParamTensor};
use nrp_sema::{Agg, ModuleKind, Program};
use nrp_tensor::{
    CounterRng, Cpu, Graph, ParamId, ParamSet, Reduce, Reduction, Tensor, TensorError, Var,
};

/// The program's learnable parameters as the tensor layer's named set, and each module's
/// `(weight, bias)` handles.
pub struct Params {
    pub set: ParamSet,
    pub modules: Vec<Option<(ParamId, Option<ParamId>)>>,
}

impl Params {
    pub fn new(program: &Program, values: &ParamMap) -> Params {
        let mut set = ParamSet::new();
        let mut modules = vec![None; program.modules.len()];
        for (id, m) in program.modules.iter().enumerate() {
            let specs = m.kind.params(&m.name);
            if specs.is_empty() {
                continue;
            }
            let mut ids = specs.iter().map(|s| {
                let t = &values[&s.name];
                // PyTorch shapes are kept in the checkpoint; the tensor layer is 2-D. A
                // `Tensor` value is one row, shared by every fact (its shape is sema's).
                let tensor = matches!(m.kind, ModuleKind::Tensor { .. });
                let (rows, cols) = match t.shape.as_slice() {
                    _ if tensor => (1, t.data.len()),
                    [r, c] => (*r, *c),
                    [n] => (1, *n),
                    _ => (1, t.data.len()),
                };
                set.add(s.name.clone(), Tensor::new(rows, cols, t.data.clone()))
            });
            let w = ids.next().expect("a module with parameters has a weight");
            modules[id] = Some((w, ids.next()));
        }
        Params { set, modules }
    }

    /// Current values with PyTorch shapes, for `--save`.
    pub fn to_map(&self, program: &Program) -> ParamMap {
        let mut out = ParamMap::new();
        for m in &program.modules {
            for s in m.kind.params(&m.name) {
                let id = self.set.id(&s.name).expect("every parameter is in the set");
                out.insert(
                    s.name.clone(),
                    ParamTensor {
                        shape: s.shape.clone(),
                        data: self.set.value(id).data.clone(),
                    },
                );
            }
        }
        out
    }
}

/// A kernel refused its input (an index out of range, a shape): at which node.
#[derive(Debug, Clone)]
pub struct ExecError {
    pub node: NodeId,
    pub error: TensorError,
}

/// Time spent per plan node over the epochs profiled (`NRP_PROFILE=1`): where an epoch goes,
/// in the plan's own terms.
#[derive(Default)]
pub struct Profile {
    pub forward_ns: Vec<u64>,
    pub backward_ns: Vec<u64>,
    /// The plan node that recorded each graph node of the latest epoch.
    owner: Vec<NodeId>,
    pub epochs: usize,
    /// The optimiser's updates (not a plan node), over the same epochs.
    pub optimizer_ns: u64,
}

impl Profile {
    /// Adds the backward times of the graph just run (its nodes as recorded by `forward`).
    pub fn add_backward(&mut self, graph_ns: &[u64]) {
        for (i, &ns) in graph_ns.iter().enumerate() {
            if let Some(&node) = self.owner.get(i) {
                self.backward_ns[node] += ns;
            }
        }
        self.epochs += 1;
    }

    /// The `top` most expensive nodes, one line each, as `nrp explain` labels them.
    pub fn report(&self, plan: &Plan, program: &Program, top: usize) -> String {
        use std::fmt::Write;
        let per = |ns: u64| ns as f64 / 1e6 / self.epochs.max(1) as f64;
        let total: u64 = self.forward_ns.iter().chain(&self.backward_ns).sum();
        let mut ids: Vec<NodeId> = (0..self.forward_ns.len()).collect();
        ids.sort_by_key(|&i| std::cmp::Reverse(self.forward_ns[i] + self.backward_ns[i]));
        let mut out = format!(
            "profile: {:.2} ms of kernels per epoch over {} epochs (forward + backward per node), \
             {:.2} ms of optimiser updates\n",
            per(total),
            self.epochs,
            per(self.optimizer_ns)
        );
        for &i in ids
            .iter()
            .filter(|&&i| self.forward_ns[i] + self.backward_ns[i] > 0)
            .take(top)
        {
            let n = &plan.nodes[i];
            let _ = writeln!(
                out,
                "  {:7.3} + {:7.3} ms  %{i} = {}  [{} × {}]  {}",
                per(self.forward_ns[i]),
                per(self.backward_ns[i]),
                crate::plan::display::describe(plan, Some(program), i),
                n.rows,
                n.dim,
                n.label
            );
        }
        out
    }
}

/// Records the nodes in `order` (dependencies first) on `g`. Dropout masks are drawn from
/// `rng` (only while `g` is training), each node's in row-major order.
pub fn forward<'a>(
    g: &mut Graph<'a>,
    plan: &'a Plan,
    program: &'a Program,
    params: Option<&'a Params>,
    order: &[NodeId],
    rng: &mut CounterRng,
) -> Result<Vec<Option<Var>>, ExecError> {
    forward_profiled(g, plan, program, params, order, rng, None)
}

/// [`forward`], timing each node into `profile` when given.
pub fn forward_profiled<'a>(
    g: &mut Graph<'a>,
    plan: &'a Plan,
    program: &'a Program,
    params: Option<&'a Params>,
    order: &[NodeId],
    rng: &mut CounterRng,
    mut profile: Option<&mut Profile>,
) -> Result<Vec<Option<Var>>, ExecError> {
    let mut vars: Vec<Option<Var>> = vec![None; plan.nodes.len()];
    if let Some(p) = profile.as_deref_mut() {
        p.forward_ns.resize(plan.nodes.len(), 0);
        p.backward_ns.resize(plan.nodes.len(), 0);
        p.owner.clear();
    }
    for &id in order {
        let t0 = profile.is_some().then(std::time::Instant::now);
        let node = &plan.nodes[id];
        let v = |i: NodeId| vars[i].expect("inputs are recorded first");
        let e = |error: TensorError| ExecError { node: id, error };
        let var = match &node.op {
            Op::Const(t) => g.constant(t),
            Op::Param(module) => {
                let params =
                    params.expect("parameter-free evaluation never meets a learnable module");
                let (w, _) =
                    params.modules[*module].expect("modules with parameters are registered");
                g.param(&params.set, w)
            }
            Op::Gather { x, index } => g.gather(index, v(*x)).map_err(e)?,
            Op::Unary(op, x) => g.unary(*op, v(*x)),
            Op::Binary(op, a, b) => g.binary(*op, v(*a), v(*b)).map_err(e)?,
            Op::Linear { module, x, bias } => {
                let params =
                    params.expect("parameter-free evaluation never meets a learnable module");
                let (w, b) =
                    params.modules[*module].expect("modules with parameters are registered");
                let wv = g.param(&params.set, w);
                let bv = if *bias {
                    b.map(|b| g.param(&params.set, b))
                } else {
                    None
                };
                match &plan.nodes[*x].sparse {
                    None => g.linear(v(*x), wv, bv).map_err(e)?,
                    Some(structure) => {
                        // Sparse rows times Wᵀ over the non-zeros, W read in place.
                        let xn = &plan.nodes[*x];
                        let out = match &xn.op {
                            Op::Const(vals) => {
                                let tv = xn.transposed_values(structure, &vals.data);
                                g.sparse_linear_const(structure, vals, tv, wv)
                            }
                            _ => g.sparse_linear(structure, Some(v(*x)), wv),
                        }
                        .map_err(e)?;
                        match bv {
                            Some(b) => g.add(out, b).map_err(e)?,
                            None => out,
                        }
                    }
                }
            }
            Op::Bias { module, x } => {
                let bv = bias_param(g, params, *module);
                g.add(v(*x), bv).map_err(e)?
            }
            Op::Activation { x, bias, relu, p } => {
                let bv = bias.map(|m| bias_param(g, params, m));
                g.bias_act_dropout(v(*x), bv, *relu, *p, rng).map_err(e)?
            }
            Op::HeadScale { x: Some(x), a } => g.head_scale(v(*x), v(*a)).map_err(e)?,
            Op::HeadScale { x: None, a } => {
                let k = node.dim / plan.nodes[*a].dim.max(1);
                g.repeat(v(*a), k)
            }
            Op::HeadDot {
                x,
                y: Some(y),
                heads,
            } => g.head_dot(v(*x), v(*y), *heads).map_err(e)?,
            Op::HeadDot { x, y: None, heads } => g.head_sum(v(*x), *heads).map_err(e)?,
            Op::ColGather { x, map } => g.col_gather(v(*x), map.clone()).map_err(e)?,
            Op::RowMatMul { a, b, bmkp } => g.row_matmul(v(*a), v(*b), *bmkp).map_err(e)?,
            Op::Densify(x) => g
                .to_dense(
                    plan.nodes[*x]
                        .sparse
                        .as_ref()
                        .expect("densify reads a sparse node"),
                    v(*x),
                )
                .map_err(e)?,
            Op::Module { module, x } => {
                let params =
                    params.expect("parameter-free evaluation never meets a learnable module");
                let (w, b) =
                    params.modules[*module].expect("modules with parameters are registered");
                let wv = g.param(&params.set, w);
                let bv = b.map(|b| g.param(&params.set, b));
                match program.modules[*module].kind {
                    ModuleKind::LayerNorm { .. } => {
                        g.layer_norm(v(*x), Some(wv), bv, 1e-5).map_err(e)?
                    }
                    ModuleKind::Embedding { .. } => g.embedding(wv, v(*x)).map_err(e)?,
                    ref k => unreachable!("{k:?} has no parameters"),
                }
            }
            Op::Dropout { p, x } => g.bias_act_dropout(v(*x), None, false, *p, rng).map_err(e)?,
            Op::Softmax { log: false, x } => g.softmax(v(*x)),
            Op::Softmax { log: true, x } => g.log_softmax(v(*x)),
            Op::OneHot { n, x } => g.one_hot(v(*x), *n).map_err(e)?,
            Op::ArgMax(x) => g.argmax(v(*x)),
            Op::Concat(xs) => g
                .concat(&xs.iter().map(|&x| v(x)).collect::<Vec<_>>())
                .map_err(e)?,
            Op::Loss { kind, x, y } => match kind {
                LossKind::CrossEntropy => {
                    g.cross_entropy(v(*x), v(*y), Reduction::None).map_err(e)?
                }
                LossKind::Mse => {
                    let el = g.mse(v(*x), v(*y), Reduction::None).map_err(e)?;
                    g.row_sum(el, true)
                }
                LossKind::L1 => {
                    let el = g.l1(v(*x), v(*y), Reduction::None).map_err(e)?;
                    g.row_sum(el, true)
                }
                LossKind::Nll => g.nll(v(*x), v(*y), Reduction::None).map_err(e)?,
                LossKind::Bce => {
                    let el = g.bce(v(*x), v(*y), Reduction::None).map_err(e)?;
                    g.row_sum(el, true)
                }
                LossKind::BceWithLogits => {
                    let el = g
                        .bce_with_logits(v(*x), v(*y), Reduction::None)
                        .map_err(e)?;
                    g.row_sum(el, true)
                }
            },
            Op::Reduce {
                x,
                csr,
                agg,
                weights,
            } => {
                let x = v(*x);
                match (agg, weights) {
                    (Agg::Sum, Some(w)) => {
                        let tv = node.transposed_values(csr, &w.data);
                        g.spmm_const(csr, x, w, tv).map_err(e)?
                    }
                    (Agg::Sum, None) => g.gather_reduce(csr, x, Reduce::Sum).map_err(e)?,
                    (Agg::Mean, None) => g.gather_reduce(csr, x, Reduce::Mean).map_err(e)?,
                    (Agg::Max, None) => g.gather_reduce(csr, x, Reduce::Max).map_err(e)?,
                    (Agg::Min, None) => g.gather_reduce(csr, x, Reduce::Min).map_err(e)?,
                    (agg, _) => {
                        unreachable!("{agg:?} reductions are built without weights or folded")
                    }
                }
            }
            Op::Stack { xs, place } => {
                debug_assert!(contiguous(plan, xs, place), "Plan::stack places in order");
                g.stack_rows(&xs.iter().map(|&x| v(x)).collect::<Vec<_>>())
                    .map_err(e)?
            }
        };
        vars[id] = Some(var);
        if let (Some(p), Some(t0)) = (profile.as_deref_mut(), t0) {
            p.forward_ns[id] += t0.elapsed().as_nanos() as u64;
            p.owner.resize(g.len(), id);
        }
    }
    Ok(vars)
}

/// A `Linear` module's bias as a graph leaf.
fn bias_param<'a>(g: &mut Graph<'a>, params: Option<&'a Params>, module: usize) -> Var {
    let params = params.expect("parameter-free evaluation never meets a learnable module");
    let (_, b) = params.modules[module].expect("modules with parameters are registered");
    g.param(
        &params.set,
        b.expect("a bias node belongs to a Linear with bias"),
    )
}

/// Whether each part of a stack lands in the next block of rows, in order, as
/// [`Plan::stack`] places them: stacking is then copying.
fn contiguous(plan: &Plan, xs: &[NodeId], place: &[std::sync::Arc<nrp_tensor::Csr>]) -> bool {
    let mut offset = 0;
    for (&x, p) in xs.iter().zip(place) {
        let n = plan.nodes[x].rows;
        let block = (0..p.n_rows()).all(|r| {
            let want = usize::from(r >= offset && r < offset + n);
            p.indptr()[r + 1] - p.indptr()[r] == want
                && (want == 0 || p.indices()[p.indptr()[r]] as usize == r - offset)
        });
        if !block {
            return false;
        }
        offset += n;
    }
    true
}

/// Evaluates parameter-free, dropout-free nodes once (for constant folding).
pub fn evaluate(
    plan: &Plan,
    program: &Program,
    targets: &[NodeId],
) -> Result<Vec<Tensor>, ExecError> {
    // The caller's pool (folding runs inside the engine's backend): kernels are
    // deterministic on any number of threads.
    let backend = Cpu::current();
    let mut g: Graph = Graph::new(&backend);
    g.set_training(false);
    let order = plan.topological(targets);
    // Not training: no draws.
    let vars = forward(&mut g, plan, program, None, &order, &mut CounterRng::new(0))?;
    if let [t] = targets {
        return Ok(vec![g.into_value(vars[*t].expect("evaluated"))]);
    }
    Ok(targets
        .iter()
        .map(|&t| g.value(vars[t].expect("evaluated")).clone())
        .collect())
}
