//! Gradient checks through the engine: for one small program per module kind and per plan
//! construct, the engine's parameter gradients (the plan recorded by `exec::forward` on an
//! autodiff tape, then `backward`) against central finite differences of the same loss
//! computed by the f64 reference evaluator (one parameter entry perturbed at a time).
//!
//! Tolerance: the engine computes in f32 (relative error of a few 1e-7 per operation, a
//! few 1e-6 after a dozen), the central difference with step `h = 1e-3` in f64 has a
//! truncation error `h²·|f'''|/6` (about 1e-7 for these smooth, order-1 functions). A
//! gradient passes when `|engine − fd| ≤ 1e-4 + 1e-3·|fd|`: loose enough for f32, tight
//! enough that a wrong factor, a missing term or a gradient sent to the wrong row fails.
//! Entries at a kink (ReLU at 0, a tie of max/min, |x| at 0) have no derivative: where the
//! one-sided differences disagree with each other the entry is skipped, and each program
//! must check most of its entries.

mod common;

use common::*;
use nrp_data::Database;
use nrp_engine::{Engine, Params, exec};
use nrp_params::ParamMap;
use nrp_sema::Program;
use nrp_tensor::{CounterRng, Cpu, Graph};

const H: f32 = 1e-3;
const ATOL: f64 = 1e-4;
const RTOL: f64 = 1e-3;

fn db() -> Database {
    database(vec![
        table(
            "X",
            &["v", "x0", "x1", "x2"],
            &[
                &["0", "0.5", "-1.25", "0.75"],
                &["1", "-0.375", "0.625", "1.5"],
                &["2", "1.125", "0.25", "-0.875"],
                &["3", "-1.5", "-0.5", "0.3125"],
                &["4", "0.875", "1.75", "-0.1875"],
            ],
        ),
        table(
            "E",
            &["a", "b", "w"],
            &[
                &["0", "1", "0.5"],
                &["1", "2", "1.5"],
                &["2", "0", "-0.75"],
                &["0", "3", "1.25"],
                &["3", "4", "0.25"],
                &["4", "1", "-1.5"],
                &["2", "4", "2"],
                &["1", "0", "0.75"],
                &["3", "3", "1"],
            ],
        ),
        table(
            "Y",
            &["v", "y"],
            &[
                &["0", "0"],
                &["1", "2"],
                &["2", "1"],
                &["3", "0"],
                &["4", "1"],
            ],
        ),
        table(
            "T",
            &["v", "t0", "t1"],
            &[
                &["0", "0.5", "-1"],
                &["1", "1.5", "0.25"],
                &["2", "-0.75", "0.5"],
                &["3", "0", "1"],
                &["4", "2", "-0.5"],
            ],
        ),
        table(
            "B",
            &["v", "b0", "b1"],
            &[
                &["0", "1", "0"],
                &["1", "0", "0"],
                &["2", "1", "1"],
                &["3", "0", "1"],
                &["4", "1", "0"],
            ],
        ),
        table(
            "C",
            &["v", "dept", "age"],
            &[
                &["0", "sales", "0.5"],
                &["1", "eng", "-1.25"],
                &["2", "sales", "0.75"],
                &["3", "ops", "1.5"],
                &["4", "eng", "-0.25"],
            ],
        ),
        table(
            "Doc",
            &["v", "text"],
            &[
                &["0", "graph neural graph"],
                &["1", ""],
                &["2", "attention"],
                &["3", "neural  nets for graphs"],
                &["4", "attention"],
            ],
        ),
        table(
            "K",
            &["v", "k"],
            &[
                &["0", "3"],
                &["1", "0"],
                &["2", "2"],
                &["3", "1"],
                &["4", "3"],
            ],
        ),
    ])
}

/// The loss value and the gradient of every parameter (zeros where the loss does not
/// depend on it), from the engine in evaluation mode.
fn engine_gradients(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    loss: usize,
) -> (f64, Vec<(String, Vec<f64>)>) {
    let engine = Engine::new(program, db, &[loss]).unwrap_or_else(|d| panic!("{}", d.message));
    let p = Params::new(program, params);
    let cpu = Cpu::new(1).unwrap();
    let mut g: Graph = Graph::new(&cpu);
    g.set_training(false);
    let node = engine.plan.relation[loss].expect("the loss has a plan node");
    let order = engine.plan.topological(&[node]);
    // Not training: no draws.
    let mut rng = CounterRng::new(0);
    let vars = exec::forward(&mut g, &engine.plan, program, Some(&p), &order, &mut rng)
        .unwrap_or_else(|e| panic!("{}", engine.error(e).message));
    assert_eq!(rng.counter(), 0);
    let lv = vars[node].unwrap();
    let value = g.value(lv).data[0] as f64;
    let grads = g.backward(lv).unwrap();
    let out = p
        .set
        .iter()
        .map(|(id, param)| {
            let n = param.value.data.len();
            let gr = grads
                .param(id)
                .map_or(vec![0.0; n], |t| t.data.iter().map(|&x| x as f64).collect());
            (param.name.clone(), gr)
        })
        .collect();
    (value, out)
}

fn reference_loss(program: &Program, db: &Database, params: &ParamMap, loss: usize) -> f64 {
    let out = nrp_reference::evaluate(program, db, params, &[loss])
        .unwrap_or_else(|d| panic!("{}", d.message));
    let facts = out[loss].as_ref().unwrap();
    assert_eq!(facts.facts.len(), 1, "the loss has one fact");
    facts.facts.values().next().unwrap()[0]
}

/// Checks every parameter entry of `text`'s loss relation `Loss`; returns how many were
/// checked and how many skipped at kinks.
fn gradcheck(text: &str) -> (usize, usize) {
    let db = db();
    let program = program(text, &db);
    let loss = program.relation("Loss").expect("a relation `Loss`");
    let params = nrp_params::init_parameters(&program.parameters(), 7).unwrap();
    assert!(!params.is_empty(), "the program has parameters");
    let (value, grads) = engine_gradients(&program, &db, &params, loss);
    let center = reference_loss(&program, &db, &params, loss);
    assert!(
        close(value, center, 1e-5, 1e-6),
        "loss: engine {value}, reference {center}\n{text}"
    );
    let (mut checked, mut skipped) = (0, 0);
    let mut failures = vec![];
    for (name, grad) in &grads {
        for (j, &g) in grad.iter().enumerate() {
            let mut plus = params.clone();
            let mut minus = params.clone();
            let p0 = params[name].data[j];
            plus.get_mut(name).unwrap().data[j] = p0 + H;
            minus.get_mut(name).unwrap().data[j] = p0 - H;
            let (hp, hm) = ((p0 + H) as f64 - p0 as f64, p0 as f64 - (p0 - H) as f64);
            let (lp, lm) = (
                reference_loss(&program, &db, &plus, loss),
                reference_loss(&program, &db, &minus, loss),
            );
            let fd = (lp - lm) / (hp + hm);
            let (fwd, bwd) = ((lp - center) / hp, (center - lm) / hm);
            if (fwd - bwd).abs() > 0.05 * (1.0 + fd.abs()) {
                skipped += 1; // a kink: no derivative here
                continue;
            }
            checked += 1;
            if (g - fd).abs() > ATOL + RTOL * fd.abs() {
                failures.push(format!(
                    "{name}[{j}]: engine {g:.7}, finite difference {fd:.7}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} gradients disagree in\n{text}\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked > 0 && skipped * 5 <= checked,
        "{checked} checked, {skipped} skipped at kinks:\n{text}"
    );
    (checked, skipped)
}

#[test]
fn linear_with_and_without_bias() {
    gradcheck("H(v; Linear(3, 2)(x)) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .");
    gradcheck(
        "H(v; Linear(3, 2, bias=False)(x)) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    // Named, composite, shared by two applications.
    gradcheck(
        "Lin = Linear(3, 3) .\nMlp = Linear(4, 2)(Tanh()(Linear(3, 4)(inp))) .\n\
         H(v; Mlp(Lin(x)) + Mlp(Lin(x * 0.5))) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
}

/// A `Linear` on one-hot rows is one sparse product reading the weight in place (R-GCN's first
/// layer, `Linear(n, d)(OneHot(n)([u]))`): per fact, under a mean over matches, and on one-hot
/// rows scaled by an embedding (learnable values, which get their gradient too).
#[test]
fn linear_on_sparse_one_hot_rows() {
    for text in [
        "H(v; Linear(1024, 2)(OneHot(1024)([k]))) :- K(v, k) .
Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
        "F(o; mean(Linear(1024, 2, False)(OneHot(1024)([a])))) :- E(a, o, _) .
         Loss(; MSELoss()(f, t)) :- F(v; f), T(v; t) .",
        "Emb = Embedding(4, 1) .
H(v; Linear(1024, 2)(OneHot(1024)([k]) * Emb([k]))) :- K(v, k) .
         Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    ] {
        let db = db();
        let program = program(text, &db);
        let loss = program.relation("Loss").unwrap();
        let engine =
            Engine::new(&program, &db, &[loss]).unwrap_or_else(|d| panic!("{}", d.message));
        let plan = &engine.plan;
        let node = plan.relation[loss].unwrap();
        assert!(
            plan.topological(&[node]).iter().any(|&i| matches!(
                plan.nodes[i].op,
                nrp_engine::plan::Op::Linear { x, .. } if plan.nodes[x].sparse.is_some()
            )),
            "no Linear on sparse rows in the plan of\n{text}"
        );
        gradcheck(text);
    }
}

#[test]
fn embedding() {
    gradcheck(
        "H(v; Embedding(4, 2)([k])) :- K(v, k) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    // An index used twice, and an embedding combined with a Linear.
    gradcheck(
        "Emb = Embedding(4, 3) .\nH(v; Linear(3, 2)(Emb([k]) * x) + Linear(3, 2, bias=False)(Emb([k]) * 2)) :- K(v, k), X(v; x) .\n\
         Loss(; L1Loss()(h + Linear(3, 2)(h2), t)) :- H(v; h), T(v; t), X(v; h2) .",
    );
}

/// Encoders in brackets: an `Embedding` over the codes of a string column (its rows get the
/// gradients of the matches whose value has that code), a `Linear` over a numeric column,
/// a named encoder of both kinds in one bracket, and a composite encoder.
#[test]
fn encoders_in_brackets() {
    gradcheck(
        "H(v; [Embedding(3, 2)(d)]) :- C(v, d, _) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    gradcheck(
        "H(v; [Linear(1, 2)(a)]) :- C(v, _, a) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    gradcheck(
        "D = Embedding(3, 1) .\nA = Linear(1, 1) .\n\
         H(v; Tanh()([D(d), A(a)])) :- C(v, d, a) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    gradcheck(
        "Enc = Linear(4, 2)(Sigmoid()(Embedding(3, 4)(x))) .\n\
         H(v; [Enc(d)] * [a]) :- C(v, d, a) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
}

/// `HashBucketTextEncoder`: the mean of the token buckets' rows of its table (a mean
/// gather reduction reading the parameter in place; repeated tokens and buckets shared by
/// several tokens and texts), named and inline, under a nonlinearity and a join.
#[test]
fn text_encoder() {
    gradcheck(
        "H(v; [HashBucketTextEncoder(5, 2)(text)]) :- Doc(v, text) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    gradcheck(
        "Enc = HashBucketTextEncoder(3, 2) .\n\
         H(v; Tanh()([Enc(text)]) * [Enc(d)]) :- Doc(v, text), C(v, d, _) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
}

#[test]
fn layer_norm() {
    gradcheck(
        "H(v; LayerNorm(3)(Linear(3, 3)(x))) :- X(v; x) .\nLoss(; MSELoss()(Linear(3, 2)(h), t)) :- H(v; h), T(v; t) .",
    );
}

#[test]
fn every_activation_and_function() {
    for act in [
        "ReLU()",
        "LeakyReLU(0.1)",
        "ELU()",
        "ELU(0.5)",
        "GELU()",
        "Sigmoid()",
        "Tanh()",
        "Identity()",
        "exp",
        "abs",
        "relu",
        "sigmoid",
        "tanh",
    ] {
        gradcheck(&format!(
            "H(v; Linear(3, 2)({act}(Linear(3, 3)(x)))) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) ."
        ));
    }
    // log and sqrt need positive arguments.
    for f in ["log", "sqrt"] {
        gradcheck(&format!(
            "H(v; Linear(3, 2)({f}(abs(Linear(3, 3)(x)) + 0.5))) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) ."
        ));
    }
}

#[test]
fn softmax_and_log_softmax() {
    gradcheck(
        "H(v; Softmax(-1)(Linear(3, 2)(x))) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    gradcheck(
        "H(v; LogSoftmax(dim=1)(Linear(3, 3)(x))) :- X(v; x) .\nLoss(; MSELoss()(Linear(3, 2)(h), t)) :- H(v; h), T(v; t) .",
    );
}

#[test]
fn concat() {
    gradcheck(
        "H(v; Linear(6, 2)(Concat(Linear(3, 2)(x), x, [v]))) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
}

#[test]
fn arithmetic_with_broadcasting() {
    for e in [
        "a + b",
        "a - b",
        "a * b",
        "a / (abs(b) + 1)",
        "a ** 2",
        "(abs(a) + 0.5) ** b",
        "2 ** a",
        "-a * 3 + 1",
        "a * c",
        "c / (a * a + 1)",
        "(a - c) * [v]",
    ] {
        gradcheck(&format!(
            "H(v; {e}) :- A(v; a), Bx(v; b), C(v; c) .\n\
             A(v; Linear(3, 2)(x)) :- X(v; x) .\nBx(v; Linear(3, 2)(x * x)) :- X(v; x) .\nC(v; Linear(3, 1)(x)) :- X(v; x) .\n\
             Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) ."
        ));
    }
}

#[test]
fn every_aggregation() {
    for agg in ["sum", "mean", "max", "min"] {
        // Over a join (hoisted module, a gathered second operand).
        gradcheck(&format!(
            "H(v; {agg}(Linear(3, 2)(x) * [w])) :- X(u; x), E(u, v, w) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) ."
        ));
        // Zero-ary, and with a post-aggregation transform.
        gradcheck(&format!(
            "Loss(; {agg}(Tanh()(Linear(3, 1)(x)))) :- X(_; x) ."
        ));
        gradcheck(&format!(
            "H(v; Linear(2, 2)(ReLU()({agg}(Linear(3, 2)(x))))) :- X(u; x), E(u, v, _) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) ."
        ));
    }
    // count inside a transform.
    gradcheck(
        "H(v; Linear(1, 2)(count())) :- E(_, v, _) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
}

#[test]
fn factor_split_weighted_sums() {
    // sum(z * w) with a constant per-match weight (edge weight, folded normalisation): one
    // weighted SpMM; mean folds 1/count into the weights.
    for agg in ["sum", "mean"] {
        gradcheck(&format!(
            "D(v; count()) :- E(_, v, _) .\nN(u, v; w / sqrt(a * b)) :- E(u, v; w), D(u; a), D(v; b) .\n\
             H(v; {agg}(Linear(3, 2)(x) * n)) :- X(u; x), N(u, v; n) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) ."
        ));
    }
    // Two layers (a GCN), Linear pushed below the sum, bias after it.
    gradcheck(
        "D(v; count()) :- E(_, v, _) .\nN(u, v; 1 / sqrt(a * b)) :- E(u, v, _), D(u; a), D(v; b) .\n\
         H1(v; ReLU()(Linear(3, 4)(sum(x * n)))) :- X(u; x), N(u, v; n) .\n\
         H2(v; Linear(4, 3)(sum(h * n))) :- H1(u; h), N(u, v; n) .\n\
         Loss(; CrossEntropyLoss()(h, y)) :- H2(v; h), Y(v; y) .",
    );
}

#[test]
fn unions_and_several_rules() {
    for agg in ["sum", "mean", "max", "min"] {
        gradcheck(&format!(
            "P(v; Linear(3, 2)(x)) :- X(v; x) .\nQ(v; Tanh()(Linear(3, 2)(x))) :- X(u; x), E(u, v, _) .\n\
             U(v; {agg}(t * 2 + 1)) :- P(v; z) | Q(v; w) .\nLoss(; MSELoss()(h, t)) :- U(v; h), T(v; t) ."
        ));
    }
    gradcheck(
        "S(v; Linear(3, 2)(x)) :- X(v; x) .\nS(v; max(Linear(3, 2)(x))) :- X(u; x), E(u, v, _) .\nS(v; Linear(1, 2)([v])) :- K(v, _) .\n\
         Loss(; MSELoss()(h, t)) :- S(v; h), T(v; t) .",
    );
    // Post-aggregation transform of a union.
    gradcheck(
        "Lin = Linear(3, 2) .\nU(v; Lin(sum(t)) * 2) :- X(v; z) | X(v; w) .\nLoss(; MSELoss()(h, t)) :- U(v; h), T(v; t) .",
    );
}

#[test]
fn triangles_and_two_hops() {
    gradcheck(
        "F(v; Linear(3, 1)(x)) :- X(v; x) .\n\
         Tri(a; sum(p * q * r)) :- E(a, b, _), E(b, c, _), E(c, a, _), F(a; p), F(b; q), F(c; r) .\n\
         Two(x; sum(p * q)) :- E(x, y, _), E(y, z, _), F(y; p), F(z; q) .\n\
         Loss(; sum(m)) :- Tri(_; m) | Two(_; m) .",
    );
}

#[test]
fn every_loss() {
    gradcheck("Loss(; CrossEntropyLoss()(Linear(3, 3)(x), y)) :- X(v; x), Y(v; y) .");
    gradcheck("Loss(; MSELoss()(Linear(3, 2)(x), t)) :- X(v; x), T(v; t) .");
    gradcheck("Loss(; L1Loss()(Linear(3, 2)(x), t)) :- X(v; x), T(v; t) .");
    gradcheck("Loss(; BCEWithLogitsLoss()(Linear(3, 2)(x), b)) :- X(v; x), B(v; b) .");
    gradcheck("Loss(; BCELoss()(Sigmoid(Linear(3, 2)(x)), b)) :- X(v; x), B(v; b) .");
    gradcheck("Loss(; NLLLoss()(LogSoftmax(1)(Linear(3, 3)(x)), y)) :- X(v; x), Y(v; y) .");
    // Not on log-probabilities: NLL reads the target's entry of anything.
    gradcheck("Loss(; NLLLoss()(Linear(3, 3)(x), y)) :- X(v; x), Y(v; y) .");
    gradcheck(
        "Loss(; BCELoss()(Sigmoid(Linear(3, 2)(x)), Sigmoid()(Linear(3, 2)(x)))) :- X(v; x) .",
    );
    // Targets that depend on parameters too.
    gradcheck("Loss(; MSELoss()(Linear(3, 2)(x), Sigmoid()(Linear(3, 2)(x)))) :- X(v; x) .");
    gradcheck(
        "Loss(; BCEWithLogitsLoss()(Linear(3, 2)(x), Sigmoid()(Linear(3, 2)(x)))) :- X(v; x) .",
    );
    // A loss over a join (several matches per fact).
    gradcheck(
        "F(v; Linear(3, 3)(x)) :- X(v; x) .\nLoss(; CrossEntropyLoss()(f, y)) :- F(u; f), E(u, v, _), Y(v; y) .",
    );
}

#[test]
fn tensor_parameters() {
    // A scalar and a vector, named and inline, per fact, inside an aggregation over a join
    // (one row broadcast to every match) and after it.
    gradcheck(
        "Gate = Tensor(1, 0.5) .\nB = Tensor(1, 2) .\n\
         H(v; Linear(3, 2)(x) * Sigmoid(Gate) + B) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    gradcheck(
        "Gate = Tensor(1, 0.5) .\nV = Tensor(3, 0.25) .\n\
         H(b; Linear(3, 2)(sum(x * V * [w] * Gate)) * Tensor(1, 2.0)) :- X(a; x), E(a, b, w) .\n\
         Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
    // Matrices shared by every fact: per fact `x @ W`, and RelaNN's bilinear score
    // `x @ M @ transpose(y)` over a join (one row repeated to every match).
    gradcheck(
        "W = Tensor(3, 2, 0.5) .\nM = Tensor(3, 3, -0.25) .\n\
         S(b; sum(view(1)(x @ M @ transpose(y)) * [w])) :- X(a; x), E(a, b, w), X(b; y) .\n\
         H(v; x @ W + Linear(1, 2)(s)) :- X(v; x), S(v; s) .\n\
         Loss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
}

#[test]
fn round_passes_no_gradient() {
    // `round` is piecewise constant: the parameters reach the loss only through `x * w`.
    let (checked, _) =
        gradcheck("Loss(; sum(round(Linear(3, 1)(x) * 4) + Linear(3, 1)(x))) :- X(v; x) .");
    assert!(checked > 0);
}

#[test]
fn dropout_is_the_identity_in_evaluation() {
    let db = db();
    let program = program(
        "H(v; Dropout(0.5)(x)) :- X(v; x) .\nG(v; x) :- X(v; x) .",
        &db,
    );
    let params = nrp_params::init_parameters(&program.parameters(), 0).unwrap();
    let (h, g) = (
        program.relation("H").unwrap(),
        program.relation("G").unwrap(),
    );
    let out = engine_facts(&program, &db, &params, &[h, g], &Cpu::new(1).unwrap()).unwrap();
    assert_eq!(out[0].embeddings, out[1].embeddings);
    gradcheck(
        "H(v; Linear(3, 2)(Dropout(0.3)(Linear(3, 3)(x)))) :- X(v; x) .\nLoss(; MSELoss()(h, t)) :- H(v; h), T(v; t) .",
    );
}

/// In training, kept entries are scaled by 1/(1-p), dropped ones are 0, an entry is kept
/// exactly when its uniform draw is at least p, and the gradient flows through kept entries
/// only, with the same scale. Dense features and a sparse (one-hot) constant alike.
#[test]
fn dropout_in_training_scales_kept_entries() {
    let db = db();
    for (text, p) in [
        (
            "Lin = Linear(3, 3) .\nH(v; Dropout(0.25)(Lin(x))) :- X(v; x) .\nLoss(; sum(h)) :- H(_; h) .",
            0.25,
        ),
        (
            "Lin = Linear(4, 3) .\nH(v; Lin(Dropout(0.5)(OneHot(4)([k])))) :- K(v, k) .\nLoss(; sum(h)) :- H(_; h) .",
            0.5,
        ),
    ] {
        let program = program(text, &db);
        let loss = program.relation("Loss").unwrap();
        let params = nrp_params::init_parameters(&program.parameters(), 3).unwrap();
        let engine = Engine::new(&program, &db, &[loss]).unwrap();
        let p_set = Params::new(&program, &params);
        let cpu = Cpu::new(1).unwrap();
        let mut g: Graph = Graph::new(&cpu);
        g.set_training(true);
        let node = engine.plan.relation[loss].unwrap();
        let order = engine.plan.topological(&[node]);
        let mut rng = CounterRng::new(11);
        let vars = exec::forward(
            &mut g,
            &engine.plan,
            &program,
            Some(&p_set),
            &order,
            &mut rng,
        )
        .unwrap();
        // The draws the masks were made of: the stream from its start.
        let mut draws = vec![0f32; rng.counter() as usize];
        CounterRng::new(11).fill(&mut draws);
        // The loss relation is 3-dimensional; backward seeds every coordinate with 1.
        let loss_value: f64 = g
            .value(vars[node].unwrap())
            .data
            .iter()
            .map(|&x| x as f64)
            .sum();
        let grads = g.backward(vars[node].unwrap()).unwrap();
        let kept = draws.iter().filter(|&&u| u >= p as f32).count();
        assert!(
            !draws.is_empty() && kept > 0 && kept < draws.len(),
            "{kept} of {} kept:\n{text}",
            draws.len()
        );
        // Expected loss with the same draws, computed by hand from the reference's pre-dropout values.
        let scale = 1.0 / (1.0 - p);
        let w = &params["Lin.weight"].data;
        let bias = &params["Lin.bias"].data;
        let (out_dim, in_dim) = (params["Lin.weight"].shape[0], params["Lin.weight"].shape[1]);
        let mut expected = 0.0f64;
        let mut bias_grad = vec![0.0f64; out_dim];
        let mut weight_grad = vec![0.0f64; out_dim * in_dim];
        if text.contains("Dropout(0.25)(Lin(x))") {
            // Dropout after Lin: each output entry in draw order (rows of X in content order).
            let xs: Vec<[f64; 3]> = vec![
                [0.5, -1.25, 0.75],
                [-0.375, 0.625, 1.5],
                [1.125, 0.25, -0.875],
                [-1.5, -0.5, 0.3125],
                [0.875, 1.75, -0.1875],
            ];
            assert_eq!(draws.len(), xs.len() * out_dim);
            for (r, x) in xs.iter().enumerate() {
                for o in 0..out_dim {
                    let pre: f64 = (0..in_dim)
                        .map(|i| w[o * in_dim + i] as f64 * x[i])
                        .sum::<f64>()
                        + bias[o] as f64;
                    if draws[r * out_dim + o] >= p as f32 {
                        expected += scale * pre;
                        bias_grad[o] += scale;
                        for i in 0..in_dim {
                            weight_grad[o * in_dim + i] += scale * x[i];
                        }
                    }
                }
            }
        } else {
            // Dropout on the one-hot features: only the non-zeros are drawn (a sparse
            // constant) or every entry (dense); either way an entry survives with its draw.
            let ks = [3usize, 0, 2, 1, 3];
            let dense = draws.len() == ks.len() * in_dim;
            assert!(dense || draws.len() == ks.len(), "{} draws", draws.len());
            for (r, &k) in ks.iter().enumerate() {
                let u = if dense {
                    draws[r * in_dim + k]
                } else {
                    draws[r]
                };
                let feature = if u >= p as f32 { scale } else { 0.0 };
                for o in 0..out_dim {
                    expected += w[o * in_dim + k] as f64 * feature + bias[o] as f64;
                    bias_grad[o] += 1.0;
                    weight_grad[o * in_dim + k] += feature;
                }
            }
        }
        assert!(
            close(loss_value, expected, 1e-5, 1e-5),
            "loss {loss_value}, expected {expected}:\n{text}"
        );
        for (id, param) in p_set.set.iter() {
            let want = if param.name.ends_with("bias") {
                &bias_grad
            } else {
                &weight_grad
            };
            let got = grads.param(id).unwrap();
            for (a, b) in got.data.iter().zip(want) {
                assert!(
                    close(*a as f64, *b, 1e-5, 1e-5),
                    "{}: {:?} vs {:?}\n{text}",
                    param.name,
                    got.data,
                    want
                );
            }
        }
    }
}
