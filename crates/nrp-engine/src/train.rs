//! `?fit`: full-batch gradient descent on a zero-ary loss relation (LANGUAGE.md §4).
//!
//! Every epoch records the plan on a fresh tape in training mode (dropout on), runs the
//! backward pass and one optimiser step. Every `eval_every` epochs the zero-ary `?pred`
//! relations are evaluated (dropout off); with `select` the weights of the best evaluation
//! are kept, with `patience` training stops after that many evaluations without
//! improvement. Same seed and thread count give identical numbers.

use crate::Engine;
use crate::exec::{self, Params};
use nrp_sema::{FitParams, Optimizer as Opt, Program, RelId};
use nrp_syntax::{Diagnostic, Span};
use nrp_tensor::{Adam, BufferPool, CounterRng, Cpu, Graph, OptimState, Optimizer, ParamSet, Sgd};
use std::time::Instant;

/// What one epoch reports to the progress display.
pub struct Epoch<'a> {
    pub epoch: usize,
    pub epochs: usize,
    pub loss: f64,
    /// The latest evaluation (`None` when this epoch was not evaluated).
    pub metrics: Option<&'a [(String, f64)]>,
}

#[derive(Debug, Clone, Default)]
pub struct FitReport {
    pub epochs: usize,
    pub train_seconds: f64,
    /// Milliseconds of each training step (forward, loss, backward, optimiser step).
    pub step_ms: Vec<f64>,
    /// Milliseconds of each epoch including its evaluation, if any.
    pub epoch_ms: Vec<f64>,
    /// The (1-based) epoch whose weights were kept by `select`.
    pub best_epoch: Option<usize>,
    pub final_loss: f64,
    /// The last evaluation of the zero-ary `?pred` relations (after restoring the best).
    pub metrics: Vec<(String, f64)>,
    /// Training stopped early because the caller asked it to ([`Flow::Stop`]).
    pub interrupted: bool,
    /// The optimiser's state at the end, for a resumable checkpoint.
    pub optimizer_state: OptimState<f32>,
    /// Position of the dropout stream at the end.
    pub rng_counter: u64,
}

/// What the caller of [`fit_with`] wants after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop now (Ctrl-C): the fit ends as after its last epoch (`select` restores the best
    /// weights seen so far) and reports `interrupted`.
    Stop,
}

/// Where a fit starts: from scratch, or resumed from a checkpoint.
#[derive(Clone, Debug, Default)]
pub struct FitStart {
    /// Epochs already completed (training runs epochs `done + 1 ..= epochs`).
    pub done: usize,
    /// The optimiser state to continue from.
    pub optimizer: Option<OptimState<f32>>,
    /// Position of the dropout stream to continue from.
    pub rng_counter: Option<u64>,
}

/// The state of a fit after an epoch, for a checkpoint.
pub struct Snapshot<'a> {
    pub params: &'a Params,
    pub optimizer: &'a dyn Optimizer<f32>,
    /// Position of the dropout stream.
    pub rng_counter: u64,
}

/// The name checkpoints give the optimiser of a fit.
pub fn optimizer_name(fp: &FitParams) -> &'static str {
    match fp.optimizer {
        Opt::Adam => "adam",
        Opt::AdamW => "adamw",
        Opt::Sgd => "sgd",
    }
}

pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Values of zero-ary, one-dimensional relations (NaN when a relation has no fact).
pub fn scalars(
    engine: &Engine,
    backend: &Cpu,
    params: &Params,
    rels: &[RelId],
) -> Result<Vec<(String, f64)>, Diagnostic> {
    scalars_pooled(engine, backend, params, rels, &mut BufferPool::new())
}

/// [`scalars`] with the buffers of `pool` (the training loop's).
fn scalars_pooled(
    engine: &Engine,
    backend: &Cpu,
    params: &Params,
    rels: &[RelId],
    pool: &mut BufferPool<f32>,
) -> Result<Vec<(String, f64)>, Diagnostic> {
    let outs = engine.evaluate_pooled(backend, params, rels, pool)?;
    Ok(rels
        .iter()
        .zip(outs)
        .map(|(&r, o)| {
            (
                engine.program.relations[r].name.clone(),
                o.embeddings.first().map_or(f64::NAN, |&x| x as f64),
            )
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
pub fn fit(
    engine: &Engine,
    backend: &Cpu,
    params: &mut Params,
    loss: RelId,
    fp: &FitParams,
    metrics: &[RelId],
    seed: u64,
    span: Span,
    progress: &mut dyn FnMut(&Epoch),
) -> Result<FitReport, Diagnostic> {
    fit_with(
        engine,
        backend,
        params,
        loss,
        fp,
        metrics,
        seed,
        span,
        FitStart::default(),
        &mut |e, _| {
            progress(e);
            Flow::Continue
        },
    )
}

/// [`fit`] from `start`, asking `control` after every epoch (with the current weights and
/// optimiser, for periodic checkpoints) whether to go on.
#[allow(clippy::too_many_arguments)]
pub fn fit_with(
    engine: &Engine,
    backend: &Cpu,
    params: &mut Params,
    loss: RelId,
    fp: &FitParams,
    metrics: &[RelId],
    seed: u64,
    span: Span,
    start: FitStart,
    control: &mut dyn FnMut(&Epoch, &Snapshot) -> Flow,
) -> Result<FitReport, Diagnostic> {
    let program: &Program = &engine.program;
    let loss_name = &program.relations[loss].name;
    let Some(loss_node) = engine.plan.relation[loss] else {
        return Err(Diagnostic::error(
            format!("the loss relation `{loss_name}` has no embedding to minimise"),
            span,
        ));
    };
    if engine.plan.nodes[loss_node].rows == 0 {
        return Err(Diagnostic::error(
            format!(
                "the loss relation `{loss_name}` has no fact: its body has no matches in this database"
            ),
            span,
        ));
    }
    // Weight decay only on the named modules' parameters when `decay` lists some.
    if !fp.decay.is_empty() {
        let ids: Vec<_> = params
            .set
            .iter()
            .map(|(id, p)| (id, p.name.clone()))
            .collect();
        for (id, name) in ids {
            let decayed = fp.decay.iter().any(|m| name.starts_with(&format!("{m}.")));
            params
                .set
                .set_weight_decay(id, Some(if decayed { fp.weight_decay } else { 0.0 }));
        }
    }
    let mut optimizer: Box<dyn Optimizer<f32> + Send> = match fp.optimizer {
        Opt::Adam => Box::new(Adam::new(fp.lr, fp.weight_decay)),
        Opt::AdamW => Box::new(Adam::adamw(fp.lr, fp.weight_decay)),
        Opt::Sgd => Box::new(Sgd::new(fp.lr, fp.momentum, fp.weight_decay)),
    };
    if let Some(state) = &start.optimizer {
        optimizer
            .import_state(&params.set, state)
            .map_err(|e| Diagnostic::error(format!("cannot resume: {e}"), span))?;
    }
    // Dropout masks: a counter-based generator (vectorised; ~0.3 ns a draw), seeded per fit.
    let mut rng = CounterRng::new(fp.seed.unwrap_or(seed).wrapping_add(0x9E37_79B9));
    let order = engine.plan.topological(&[loss_node]);
    let select = fp.select;
    let mut report = FitReport::default();
    let mut best: Option<(f64, ParamSet)> = None;
    let mut since_best = 0usize;
    let mut pool: BufferPool<f32> = BufferPool::new();
    let started = Instant::now();
    let mut latest: Vec<(String, f64)> = vec![];
    // `profile = Some(n)`: time every plan node, print the n most expensive at the end.
    let profile_top = engine.options.profile;
    let mut profile = profile_top.map(|_| exec::Profile::default());
    // Dropout masks of a resumed fit continue where the interrupted run's would have.
    if let Some(counter) = start.rng_counter {
        rng = CounterRng::with_counter(rng.seed(), counter);
    }
    for epoch in start.done + 1..=fp.epochs {
        let t0 = Instant::now();
        // The whole step (optimiser update included) runs inside the pool: one hand-off per
        // epoch instead of one per kernel.
        let (loss_value, grads, next_pool) = backend.install(|| {
            let mut g: Graph = Graph::with_pool(backend, std::mem::take(&mut pool));
            g.set_training(true);
            if profile.is_some() {
                g.profile_backward();
            }
            let vars = exec::forward_profiled(
                &mut g,
                &engine.plan,
                program,
                Some(params),
                &order,
                &mut rng,
                profile.as_mut(),
            )
            .map_err(|e| engine.error(e))?;
            let loss_var = vars[loss_node].expect("loss recorded");
            let loss_value = g.value(loss_var).data[0] as f64;
            let grads = g
                .backward(loss_var)
                .map_err(|e| Diagnostic::error(e.to_string(), span))?;
            if let (Some(p), Some(ns)) = (profile.as_mut(), g.backward_ns()) {
                p.add_backward(ns);
            }
            let pool = g.into_pool();
            let t_step = profile.is_some().then(Instant::now);
            optimizer.step(&mut params.set, &grads);
            if let (Some(p), Some(t)) = (profile.as_mut(), t_step) {
                p.optimizer_ns += t.elapsed().as_nanos() as u64;
            }
            Ok::<_, Diagnostic>((loss_value, grads, pool))
        })?;
        pool = next_pool;
        pool.recycle(grads);
        report.step_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        report.final_loss = loss_value;
        report.epochs = epoch;

        let evaluate_now = fp.eval_every > 0 && (epoch % fp.eval_every == 0 || epoch == fp.epochs);
        let mut evaluated = false;
        if evaluate_now && (!metrics.is_empty() || fp.patience.is_some()) {
            latest = scalars_pooled(engine, backend, params, metrics, &mut pool)?;
            evaluated = true;
            // The monitored value: the selection metric (maximised) or the loss (minimised).
            let score = match select {
                Some(s) => latest
                    .iter()
                    .find(|(n, _)| *n == program.relations[s].name)
                    .map_or(f64::NAN, |m| m.1),
                None => -loss_value,
            };
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, params.set.clone()));
                report.best_epoch = Some(epoch);
                since_best = 0;
            } else {
                since_best += 1;
            }
        }
        report.epoch_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let flow = control(
            &Epoch {
                epoch,
                epochs: fp.epochs,
                loss: loss_value,
                metrics: evaluated.then_some(latest.as_slice()),
            },
            &Snapshot {
                params,
                optimizer: optimizer.as_ref(),
                rng_counter: rng.counter(),
            },
        );
        if flow == Flow::Stop {
            report.interrupted = true;
            break;
        }
        // `patience = p`: stop after p evaluations in a row without improvement (at least
        // one), as Keras' and Lightning's early stopping count them.
        if let Some(p) = fp.patience
            && since_best >= p.max(1)
        {
            break;
        }
    }
    if select.is_some()
        && let Some((_, set)) = best
    {
        params.set = set;
    } else if select.is_none() {
        report.best_epoch = None;
    }
    report.train_seconds = started.elapsed().as_secs_f64();
    report.optimizer_state = optimizer.export_state(&params.set);
    report.rng_counter = rng.counter();
    if let (Some(p), Some(top)) = (&profile, profile_top) {
        eprint!("{}", p.report(&engine.plan, program, top));
    }
    if !metrics.is_empty() {
        report.metrics = scalars_pooled(engine, backend, params, metrics, &mut pool)?;
    }
    Ok(report)
}

/// The zero-ary, one-dimensional `?pred` relations of a program (metrics).
pub fn metric_relations(program: &nrp_sema::Program) -> Vec<RelId> {
    let mut out = vec![];
    for s in &program.statements {
        if let nrp_sema::Stmt::Pred { rel, .. } = s {
            let r = &program.relations[*rel];
            if r.arity == 0 && r.dim == Some(1) && !out.contains(rel) {
                out.push(*rel);
            }
        }
    }
    out
}
