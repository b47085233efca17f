//! Minimal cases of disagreements between the engine and the reference evaluator found by
//! the random differential test (`random_programs.rs`), each kept as a regression test.

mod common;

use common::*;
use nrp_data::Table;

/// Every user-visible derived relation of `text` agrees (all at once and one by one).
fn agree(tables: Vec<Table>, text: &str) {
    let db = database(tables);
    let program = program(text, &db);
    let params = nrp_params::init_parameters(&program.parameters(), 0).unwrap();
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let rels: Vec<usize> = (0..program.relations.len())
        .filter(|&r| !program.relations[r].is_input() && !program.relations[r].is_auxiliary())
        .collect();
    differential(&program, &db, &params, &rels, &cpu, 1e-5)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    for r in rels {
        differential(&program, &db, &params, &[r], &cpu, 1e-5)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

/// A scalar constant (one row) combined with an empty match list had one row, not zero: the
/// broadcast to the matches then read a row that does not exist.
#[test]
fn scalar_broadcast_over_no_matches() {
    agree(
        vec![
            table("T", &["c0", "x0"], &[&["1", "0.5"]]),
            table("S", &["c0", "c1"], &[&["0", "0"]]),
        ],
        "R(v; sum(1 + Linear(1, 1)([v]))) :- T(v; z), S(v, _) .\n\
         H(v; 2 * z) :- T(v; z), S(v, _) .",
    );
}

/// `Concat` and losses pair rows up; a scalar operand (one row) was not repeated per match.
#[test]
fn scalar_operands_of_concat_and_losses() {
    agree(
        vec![
            table("T", &["c0", "x0"], &[&["1", "0.5"], &["2", "1.5"]]),
            table("S", &["c0"], &[&["3"]]),
        ],
        "L(; MSELoss()(1.5, z)) :- T(v; z) .\n\
         C(v; Concat(1.5, z, 2)) :- T(v; z) .\n\
         E(v; Concat(1.5, Linear(1, 2)([v]))) :- T(v; z), S(v) .\n\
         B(; BCEWithLogitsLoss()(Sigmoid()(1.5), z)) :- T(_; z) .",
    );
}

/// With a single match, a per-match operand has one row and was taken for a scalar: the
/// loss (or `Concat`) was hoisted to the facts of the other operand's atom, whose row
/// count differs.
#[test]
fn single_match_operand_is_not_a_scalar() {
    agree(
        vec![table(
            "E",
            &["c0", "c1", "x0"],
            &[&["0", "3", "-0.5"], &["1", "1", "-1.25"]],
        )],
        "L(; MSELoss()(Linear(1, 1)(z), 0.5 / [v])) :- E(v, v; z) .\n\
         C(v; Concat(Linear(1, 1)(z), [v])) :- E(v, v; z) .",
    );
}

/// A dependency read only for its content: an error in its embedding (an index out of range)
/// is not raised, since nothing reads that embedding (the engine never computes it; the
/// reference used to compute every embedding of the closure).
#[test]
fn unread_embeddings_raise_no_error() {
    agree(
        vec![
            table("E", &["c0", "c1", "x0"], &[&["3", "3", "-1"]]),
            table("T", &["c0", "c1"], &[&["2", "3"]]),
        ],
        "R2(; max(OneHot(3)([v]))) :- E(v, v, _) .\n\
         R4(v) :- T(v, w), R2() .\n\
         R5(v; count()) :- T(v, w), R2(; z) .",
    );
}

/// The same for an encode of a non-numeric value, which the engine checked while planning
/// every relation of the closure.
#[test]
fn unread_encodes_raise_no_error() {
    agree(
        vec![
            table("T0", &["c0"], &[&["b"], &["1"]]),
            table("E", &["c0", "c1"], &[&["0", "1"]]),
        ],
        "R1(v; sum(OneHot(2)([v]))) :- T0(v) .\n\
         R6(; mean(Concat(2, [w]) + 0.5)) :- E(0, w), R1(u; z) .",
    );
}

/// max/min aggregations propagate NaN whatever its position among the matches (as PyTorch's
/// `amax`/`amin`); the engine kept a NaN only when it came first, the reference never did.
/// `ArgMax` takes NaN for the largest value, as `torch.argmax`.
#[test]
fn nan_propagates_through_max_and_min() {
    agree(
        vec![table("T", &["c0"], &[&["0"], &["1"], &["2"]])],
        "Max(; max([v, 1] / [v, v])) :- T(v) .\n\
         Min(; min([v, 1] / [v, v])) :- T(v) .\n\
         MaxLast(; max(Concat(2 - [v], 1) / (2 - [v]))) :- T(v) .\n\
         MinLast(g; min((2 - [v]) / (2 - [v]))) :- T(v), T(g) .\n\
         Arg(v; ArgMax()(Concat([1], [v] / [v], [2]))) :- T(v) .",
    );
}

/// LayerNorm of a constant row is exactly its bias (zero variance, as PyTorch's Welford
/// moments give): the mean `sum · (1/d)` was off by an ulp (3 · 1 · 0.33333334 ≠ 1), which
/// the normalisation amplified by 1/sqrt(eps) ≈ 316 (an error of 4e-5 where 0 is exact).
#[test]
fn layer_norm_of_a_constant_row_is_its_bias() {
    let db = database(vec![table("T", &["v"], &[&["1"], &["22"], &["3"]])]);
    let text = "N(v; LayerNorm(3)(tanh([v, v, v]))) :- T(v) .\nM(v; LayerNorm(3)([v, v, v] * 0.7)) :- T(v) .";
    let program = program(text, &db);
    let params = nrp_params::init_parameters(&program.parameters(), 0).unwrap();
    let rels = [
        program.relation("N").unwrap(),
        program.relation("M").unwrap(),
    ];
    let out = engine_facts(
        &program,
        &db,
        &params,
        &rels,
        &nrp_tensor::Cpu::new(1).unwrap(),
    )
    .unwrap();
    for o in out {
        assert!(o.embeddings.iter().all(|&x| x == 0.0), "{:?}", o.embeddings);
    }
}

/// `HeadSum(h)` and `Repeat(r)` were products with constant 0/1 matrices in the engine, so
/// an infinite coordinate turned every other output of the row into NaN (∞ · 0), where the
/// reference (and PyTorch's `view(n, h, k).sum(-1)` / `repeat_interleave`) keep it in its
/// block: `HeadSum(2)([0.5, ∞])` was `[NaN, ∞]` instead of `[0.5, ∞]`. They are block sums
/// and copies now.
#[test]
fn head_sum_and_repeat_keep_infinities_in_their_block() {
    agree(
        vec![table("T", &["c0", "x0"], &[&["1", "0.5"], &["2", "1.5"]])],
        "A(v; HeadSum(2)(Concat(z, 1 / ([v] - 1)))) :- T(v; z) .\n\
         B(v; Repeat(2)(Concat(z, 1 / ([v] - 1)))) :- T(v; z) .",
    );
}

/// A sum over very many matches (a zero-ary `mean` or loss over a large table) accumulates
/// in f32 one term after another, so its error grows with the number of terms (here 2e-5
/// relative for a mean of 300k squares; 3e-3 for a loss over 10^5 matches with terms near
/// 10^4, where partial sums pass 2^24), where PyTorch's cascade summation stays near 1e-7:
/// the engine misses the 1e-5 target on such sums. (The random tests allow it: their
/// simulated f32 rounding accumulates the same way.)
#[test]
#[ignore = "bug: long segment sums accumulate sequentially in f32 (error grows with the number of matches)"]
fn long_sums_are_accurate() {
    let mut rng = Rng::new(1);
    let rows: Vec<Vec<nrp_data::Value>> = (0..300_000)
        .map(|i| {
            vec![
                nrp_data::Value::Int(i),
                nrp_data::Value::from_f64(0.3 + rng.unit()),
            ]
        })
        .collect();
    let t = nrp_data::Table::from_rows("V", vec!["v".into(), "x".into()], &rows).unwrap();
    let db = database(vec![t]);
    let text = "S(; sum(x)) :- V(_; x) .\nM(; mean(x * x)) :- V(_; x) .";
    let program = program(text, &db);
    let params = nrp_params::init_parameters(&program.parameters(), 0).unwrap();
    let rels = [
        program.relation("S").unwrap(),
        program.relation("M").unwrap(),
    ];
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let e = engine_facts(&program, &db, &params, &rels, &cpu).unwrap();
    let r = reference_facts(&program, &db, &params, &rels).unwrap();
    for (o, f) in e.iter().zip(&r) {
        compare_facts("S/M", o, f, 0.0, None).unwrap();
    }
}

/// The seventh session's rewrites against the reference, with learnable modules (so nothing
/// folds): `fuse_heads` (per-head scores `HeadSum(2)(q * k)`, weights on values
/// `v * Repeat(2)(a)`) and `compose_reduce` (a mean of means: 6 composed entries against
/// 4 + 4 matches). The plan is checked to use both.
#[test]
fn fused_heads_and_composed_means_agree() {
    let e = table(
        "E",
        &["a", "b", "w"],
        &[
            &["1", "2", "0.5"],
            &["2", "3", "-1.5"],
            &["3", "1", "2"],
            &["1", "3", "0.25"],
        ],
    );
    let text = "Q = Linear(1, 4) .\n\
         S(a, b; HeadSum(2)(Q([w]) * Linear(1, 4)([b]))) :- E(a, b, w) .\n\
         Att(b; sum(Linear(1, 4)([a]) * Repeat(2)(exp(s) * [w]))) :- E(a, b, w), S(a, b; s) .\n\
         X(a, b; Linear(1, 4)([w])) :- E(a, b, w) .\n\
         M1(b; mean(x)) :- X(a, b; x) .\n\
         M2(a; mean(z)) :- E(a, b, _), M1(b; z) .\n\
         Out(b; x + y) :- Att(b; x), M2(b; y) .";
    let db = database(vec![e.clone()]);
    let program = program(text, &db);
    let out = program.relation("Out").unwrap();
    let engine = nrp_engine::Engine::new(&program, &db, &[out]).unwrap();
    let targets = nrp_engine::plan::targets(&engine.plan, &engine.rels);
    let plan = nrp_engine::plan::display::text(&engine.plan, Some(&program), &targets);
    for op in ["head_dot(2)", "head_scale", "weighted"] {
        assert!(plan.contains(op), "no {op} in\n{plan}");
    }
    agree(vec![e], text);
}
