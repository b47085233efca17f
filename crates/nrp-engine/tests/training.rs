//! `?fit` through `nrp_engine::train::fit`: training lowers the loss (every optimiser, with
//! dropout, through joins), and `eval_every`, `patience` and `select` behave as documented
//! in `train.rs` and `nrp_sema::FitParams`.

mod common;

use common::*;
use nrp_data::{Database, Table, Value};
use nrp_engine::train::{self, FitReport};
use nrp_engine::{Engine, Params};
use nrp_sema::{FitParams, Program, Stmt};
use nrp_tensor::Cpu;

fn db() -> Database {
    let mut rng = Rng::new(5);
    let mut x = vec![];
    let mut t = vec![];
    let mut y = vec![];
    for v in 0..24 {
        let f: Vec<f64> = (0..3).map(|_| (rng.below(17) as f64 - 8.0) / 4.0).collect();
        // A learnable target: a fixed linear map of the features, and a class from its sign.
        let t0 = 0.5 * f[0] - f[1] + 0.25;
        let t1 = f[2] * 0.75 - 0.5 * f[0];
        x.push(vec![
            v.to_string(),
            f[0].to_string(),
            f[1].to_string(),
            f[2].to_string(),
        ]);
        t.push(vec![v.to_string(), t0.to_string(), t1.to_string()]);
        y.push(vec![
            v.to_string(),
            if t0 > 0.0 { "1" } else { "0" }.to_string(),
        ]);
    }
    let edges: Vec<Vec<String>> = (0..24)
        .flat_map(|v| [(v, (v + 1) % 24), (v, (v + 5) % 24)])
        .map(|(a, b)| vec![a.to_string(), b.to_string()])
        .collect();
    let table = |name: &str, cols: &[&str], rows: Vec<Vec<String>>| {
        let rows: Vec<Vec<Value>> = rows
            .iter()
            .map(|r| r.iter().map(|c| Value::parse(c)).collect())
            .collect();
        Table::from_rows(name, cols.iter().map(|c| c.to_string()).collect(), &rows).unwrap()
    };
    database(vec![
        table("X", &["v", "x0", "x1", "x2"], x),
        table("T", &["v", "t0", "t1"], t),
        table("Y", &["v", "y"], y),
        table("E", &["a", "b"], edges),
    ])
}

/// The program's first `?fit`: its loss relation and parameters.
fn first_fit(program: &Program) -> (usize, FitParams, nrp_syntax::Span) {
    program
        .statements
        .iter()
        .find_map(|s| match s {
            Stmt::Fit { loss, params, span } => Some((*loss, params.clone(), *span)),
            _ => None,
        })
        .expect("a ?fit")
}

struct Run {
    before: f64,
    after: f64,
    report: FitReport,
    /// (epoch, metrics) of every evaluated epoch, as `progress` saw them.
    evaluations: Vec<(usize, Vec<(String, f64)>)>,
    /// Every epoch's training loss.
    losses: Vec<f64>,
}

fn fit(text: &str) -> Run {
    let db = db();
    let program = program(text, &db);
    let (loss, fp, span) = first_fit(&program);
    let metrics = train::metric_relations(&program);
    let mut rels = vec![loss];
    rels.extend(&metrics);
    let engine = Engine::new(&program, &db, &rels).unwrap_or_else(|d| panic!("{}", d.message));
    let values = nrp_params::init_parameters(&program.parameters(), 1).unwrap();
    let mut params = Params::new(&program, &values);
    let cpu = Cpu::new(2).unwrap();
    let loss_of = |params: &Params| train::scalars(&engine, &cpu, params, &[loss]).unwrap()[0].1;
    let before = loss_of(&params);
    // The engine's loss before training is the reference's.
    let reference = nrp_reference::evaluate(&program, &db, &values, &[loss]).unwrap()[loss]
        .clone()
        .unwrap();
    let r0 = *reference.facts.values().next().unwrap().first().unwrap();
    assert!(
        close(before, r0, 1e-5, 1e-6),
        "loss before: engine {before}, reference {r0}"
    );
    let mut evaluations = vec![];
    let mut losses = vec![];
    let report = train::fit(
        &engine,
        &cpu,
        &mut params,
        loss,
        &fp,
        &metrics,
        0,
        span,
        &mut |e| {
            assert_eq!(e.epochs, fp.epochs);
            losses.push(e.loss);
            if let Some(m) = e.metrics {
                evaluations.push((e.epoch, m.to_vec()));
            }
        },
    )
    .unwrap_or_else(|d| panic!("{}", d.message));
    let after = loss_of(&params);
    // The trained weights give the same loss in the reference.
    let trained = params.to_map(&program);
    let reference = nrp_reference::evaluate(&program, &db, &trained, &[loss]).unwrap()[loss]
        .clone()
        .unwrap();
    let r1 = *reference.facts.values().next().unwrap().first().unwrap();
    assert!(
        close(after, r1, 1e-4, 1e-6),
        "loss after: engine {after}, reference {r1}"
    );
    Run {
        before,
        after,
        report,
        evaluations,
        losses,
    }
}

#[test]
fn training_lowers_the_loss_with_every_optimiser() {
    for opt in ["adam", "adamw", "sgd"] {
        let lr = if opt == "sgd" { 0.1 } else { 0.05 };
        let run = fit(&format!(
            "H(v; Linear(3, 2)(x)) :- X(v; x) .\n\
             ?fit <epochs=60, lr={lr}, optimizer={opt}, weight_decay=1e-4>\n\
             Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) ."
        ));
        assert_eq!(run.report.epochs, 60);
        assert!(
            run.after < 0.1 * run.before,
            "{opt}: loss {} -> {}",
            run.before,
            run.after
        );
        // The reported final loss is the last epoch's (before its step), and the loss fell
        // along the way.
        assert_eq!(run.report.final_loss, *run.losses.last().unwrap());
        assert!(run.losses[59] < run.losses[0]);
    }
}

#[test]
fn bce_nll_and_tensor_parameters_train() {
    // BCELoss on probabilities, NLLLoss on log-probabilities, and `Tensor` free parameters
    // (a gate and a bias shared by all facts) all receive gradients and learn.
    for text in [
        "P(v; Sigmoid(Linear(3, 1)(x))) :- X(v; x) .\n\
         ?fit <epochs=80, lr=0.05> Loss(; BCELoss()(p, [y])) :- P(v; p), Y(v, y) .",
        "P(v; LogSoftmax(1)(Linear(3, 2)(x))) :- X(v; x) .\n\
         ?fit <epochs=80, lr=0.05> Loss(; NLLLoss()(p, y)) :- P(v; p), Y(v; y) .",
        "Gate = Tensor(1, 0.1) .\nBias = Tensor(1, 2) .\n\
         H(v; Linear(3, 2)(x) * Sigmoid(Gate) * 4 + Bias) :- X(v; x) .\n\
         ?fit <epochs=80, lr=0.05> Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    ] {
        let run = fit(text);
        assert!(
            run.after < 0.5 * run.before,
            "loss {} -> {} in\n{text}",
            run.before,
            run.after
        );
    }
}

#[test]
fn training_through_joins_and_dropout_lowers_the_loss() {
    let run = fit("D(v; count()) :- E(_, v) .\n\
         N(u, v; 1 / sqrt(a * b)) :- E(u, v), D(u; a), D(v; b) .\n\
         H(v; Dropout(0.2)(ReLU()(Linear(3, 8)(sum(x * n))))) :- X(u; x), N(u, v; n) .\n\
         Out(v; Linear(8, 2)(h) + Linear(3, 2)(x)) :- H(v; h), X(v; x) .\n\
         ?fit <epochs=80, lr=0.03>\n\
         Loss(; CrossEntropyLoss()(o, y)) :- Out(v; o), Y(v; y) .\n\
         ?pred Acc(; mean((ArgMax()(o) == y) * 1.0)) :- Out(v; o), Y(v; y) .");
    assert!(
        run.after < 0.6 * run.before,
        "loss {} -> {}",
        run.before,
        run.after
    );
    // No `eval_every` and no `select`: never evaluated during training.
    assert!(run.evaluations.is_empty());
    assert_eq!(run.report.best_epoch, None);
    assert!(
        run.report.metrics[0].1 > 0.7,
        "accuracy {:?}",
        run.report.metrics
    );
}

#[test]
fn eval_every_evaluates_on_its_epochs_and_the_last() {
    let run = fit("H(v; Linear(3, 2)(x)) :- X(v; x) .\n\
         ?fit <epochs=10, lr=0.05, eval_every=3>\n\
         Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .\n\
         ?pred Err(; L1Loss()(h, t)) :- H(v; h), T(v; t) .");
    let epochs: Vec<usize> = run.evaluations.iter().map(|(e, _)| *e).collect();
    assert_eq!(epochs, [3, 6, 9, 10]);
    assert_eq!(run.report.epochs, 10);
    // Without `select` the weights are the last ones.
    assert_eq!(run.report.best_epoch, None);
    assert_eq!(run.report.metrics, run.evaluations.last().unwrap().1);
}

/// `patience = p`: training stops after `p` evaluations in a row without improvement of the
/// monitored value (here a constant metric: only the first evaluation "improves"); `p = 0`
/// stops at the first one, like `p = 1`. (It used to take `p + 1`.)
#[test]
fn patience_stops_after_that_many_evaluations_without_improvement() {
    for (eval_every, patience) in [(1, 0), (1, 3), (2, 3), (5, 1)] {
        let run = fit(&format!(
            "H(v; Linear(3, 2)(x)) :- X(v; x) .\n\
             ?fit <epochs=100, lr=0.05, eval_every={eval_every}, patience={patience}, select=Const>\n\
             Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .\n\
             ?pred Const(; count()) :- X(_; _) ."
        ));
        let epochs: Vec<usize> = run.evaluations.iter().map(|(e, _)| *e).collect();
        // The first evaluation improves; then `patience` without improvement (at least one).
        let stop = 1 + patience.max(1);
        let expected: Vec<usize> = (1..=stop).map(|k| k * eval_every).collect();
        assert_eq!(
            epochs, expected,
            "eval_every={eval_every}, patience={patience}"
        );
        assert_eq!(run.report.epochs, stop * eval_every);
        assert_eq!(run.report.best_epoch, Some(eval_every));
    }
    // Monitoring the training loss (no `select`): with plain gradient descent on a convex
    // loss it keeps falling, so no early stop; with a step so large that it diverges, the
    // first evaluation stays the best and training stops after `patience` more.
    let run = fit("H(v; Linear(3, 2)(x)) :- X(v; x) .\n\
         ?fit <epochs=30, lr=0.05, optimizer=sgd, patience=2>\n\
         Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .");
    assert!(
        run.losses.windows(2).all(|w| w[1] < w[0]),
        "{:?}",
        run.losses
    );
    assert_eq!(run.report.epochs, 30);
    let run = fit("H(v; Linear(3, 2)(x)) :- X(v; x) .\n\
         ?fit <epochs=30, lr=5, optimizer=sgd, patience=2>\n\
         Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .");
    assert!(
        run.losses.windows(2).all(|w| w[1] > w[0]),
        "{:?}",
        run.losses
    );
    assert_eq!(run.report.epochs, 3);
}

/// `select = M`: the weights of the evaluation with the largest `M` are kept, so the metric
/// reported after `fit` is the best one seen (exactly: the same weights, evaluated the same
/// way), at the first epoch that reached it.
#[test]
fn select_restores_the_best_evaluation() {
    // Trained towards `t`, scored against `t / 2`: the score rises, then falls.
    let run = fit("H(v; Linear(3, 2)(x)) :- X(v; x) .\n\
         ?fit <epochs=80, lr=0.05, select=Score>\n\
         Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .\n\
         Err(; L1Loss()(h, t * 0.5)) :- H(v; h), T(v; t) .\n\
         ?pred Score(; -e) :- Err(; e) .");
    let scores: Vec<(usize, f64)> = run.evaluations.iter().map(|(e, m)| (*e, m[0].1)).collect();
    assert_eq!(scores.len(), 80, "select implies eval_every=1");
    let best = scores
        .iter()
        .cloned()
        .fold((0, f64::NEG_INFINITY), |b, s| if s.1 > b.1 { s } else { b });
    assert!(
        best.0 < 80,
        "the score should peak before the end: {scores:?}"
    );
    assert_eq!(run.report.best_epoch, Some(best.0));
    assert_eq!(
        run.report.metrics[0].1, best.1,
        "the reported score is the best one seen"
    );
    assert!(run.report.metrics[0].1 > scores.last().unwrap().1);
}
