//! Differential property test: random small databases and random valid programs over them,
//! evaluated by the engine (f32, grounding + plan rewrites + fused kernels) and by the
//! reference evaluator (naive f64) with the same parameters. Every derived relation must
//! have the same content tuples in the same order and embeddings within 1e-5 relative
//! (plus a small absolute slack for f32 rounding); a runtime error (an index out of range,
//! a non-numeric encode) must occur on both sides or on neither.
//!
//! No dependencies: a SplitMix64 generator drives everything, so a case is its seed.
//! - `NRP_PROP_SEED=s` replays case `s` alone and prints its database and program;
//! - `NRP_PROP_CASES=n` (default 3000) and `NRP_PROP_START=k` (default 0) choose the seeds;
//! - a failure prints its seed and a shrunk case (statements and rows removed while it
//!   still fails).
//!
//! The generator covers: conjunctions with shared and repeated variables, constants (also
//! spelled `1.0` and `"1"`), wildcards, filters, unions `|`, several rules per head, every
//! aggregation, encodes, arithmetic with broadcasting, element-wise functions, Linear (with
//! and without bias), Embedding, OneHot, LayerNorm, activations, Softmax/LogSoftmax,
//! Dropout, Concat, ArgMax, comparisons `== != < <= > >=`, flat chains `a + b - c`,
//! arithmetic in filters (`x * 2 - y > 1`, also on strings: an error on both sides),
//! `Tensor` free parameters, constant embeddings in union branches (`A(v; 0) | B(v; z)`),
//! named and composite modules, named constants,
//! post-aggregation transforms, losses, chains of derived relations, triangles and
//! 4-cycles, zero-ary and dimension-0 relations, projections of tables onto fewer columns.

mod common;

use common::Rng;
use common::generator::*;
use nrp_tensor::Cpu;
use std::collections::BTreeMap;

#[test]
fn engine_agrees_with_reference_on_random_programs() {
    let cpu = Cpu::new(2).unwrap();
    if let Some(seed) = env_u64("NRP_PROP_SEED") {
        let case = generate(seed);
        eprintln!("seed {seed}\n{}", case.describe());
        match check_case(&case, &cpu) {
            Outcome::Disagree(e) => {
                let small = shrink(&case, &cpu);
                panic!(
                    "seed {seed}: {e}\nshrunk case:\n{}\n{:?}",
                    small.describe(),
                    check_case(&small, &cpu)
                );
            }
            o => eprintln!("{o:?}"),
        }
        return;
    }
    let start = env_u64("NRP_PROP_START").unwrap_or(0);
    let cases = env_u64("NRP_PROP_CASES").unwrap_or(3000);
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    let (mut agreed, mut errored, mut facts, mut nonempty) = (0usize, 0usize, 0usize, 0usize);
    let mut failures = vec![];
    for seed in start..start + cases {
        let case = generate(seed);
        match check_case(&case, &cpu) {
            Outcome::Rejected(m) => {
                // Group messages by their text before the first backquote (names differ).
                let key: String = m
                    .split('`')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(60)
                    .collect();
                *rejected.entry(key).or_default() += 1;
            }
            Outcome::Agree {
                facts: f,
                errored: e,
            } => {
                agreed += 1;
                errored += usize::from(e);
                facts += f;
                nonempty += usize::from(f > 0);
            }
            Outcome::Disagree(e) => {
                failures.push((seed, e));
                if failures.len() >= 3 {
                    break;
                }
            }
        }
    }
    let total_rejected: usize = rejected.values().sum();
    eprintln!(
        "{cases} cases from seed {start}: {agreed} agree ({nonempty} with facts, {facts} facts; {errored} with runtime errors on both sides), {total_rejected} rejected by sema"
    );
    for (m, n) in &rejected {
        eprintln!("  rejected {n:>5}: {m}");
    }
    if let Some((seed, e)) = failures.first() {
        let small = shrink(&generate(*seed), &cpu);
        let others: Vec<String> = failures[1..].iter().map(|(s, _)| s.to_string()).collect();
        panic!(
            "seed {seed} (replay: NRP_PROP_SEED={seed}): {e}\nshrunk case:\n{}\n{:?}\nother failing seeds: {}",
            small.describe(),
            check_case(&small, &cpu),
            others.join(", ")
        );
    }
    // The generator must stay useful: most programs valid, most with facts.
    assert!(
        total_rejected * 4 < cases as usize,
        "too many programs rejected: {total_rejected}"
    );
    assert!(
        nonempty * 2 > agreed,
        "too few cases with facts: {nonempty} of {agreed}"
    );
}

#[test]
fn engine_gradients_agree_with_finite_differences_on_random_programs() {
    let cpu = Cpu::new(2).unwrap();
    let (start, cases) = match env_u64("NRP_PROP_SEED") {
        Some(seed) => (seed, 1),
        None => (
            env_u64("NRP_PROP_START").unwrap_or(0),
            env_u64("NRP_PROP_CASES").map_or(1000, |n| n / 3),
        ),
    };
    let mut checked = 0;
    let mut cases_with_facts = 0;
    for seed in start..start + cases {
        let case = generate_with_loss(seed);
        let mut rng = Rng::new(seed);
        match check_gradients(&case, &cpu, &mut rng, 8) {
            Ok(n) => {
                checked += n;
                cases_with_facts += usize::from(n > 0);
            }
            Err(e) => panic!(
                "gradient case {seed} (replay: NRP_PROP_SEED={seed}): {e}\n{}",
                case.describe()
            ),
        }
    }
    eprintln!(
        "{cases} gradient cases from seed {start}: {checked} gradient entries checked in {cases_with_facts} cases"
    );
    assert!(
        cases < 100 || checked > cases as usize,
        "too few gradients checked: {checked}"
    );
}

/// Fewer, larger cases: hundreds of rows and matches, embeddings 8 to 64 wide, so that the
/// kernels' multi-threaded and fixed-width paths run. `NRP_PROP_BIG_SEED=s` replays one.
#[test]
fn engine_agrees_with_reference_on_larger_random_programs() {
    let cpu = Cpu::new(2).unwrap();
    let (start, cases) = match env_u64("NRP_PROP_BIG_SEED") {
        Some(seed) => (seed, 1),
        None => (
            env_u64("NRP_PROP_START").unwrap_or(0),
            env_u64("NRP_PROP_CASES").map_or(40, |n| (n / 75).max(1)),
        ),
    };
    let (mut agreed, mut facts) = (0, 0);
    for seed in start..start + cases {
        let case = generate_big(seed);
        match check_case(&case, &cpu) {
            Outcome::Disagree(e) => panic!(
                "big case {seed} (replay: NRP_PROP_BIG_SEED={seed}): {e}\n{}",
                case.describe()
            ),
            Outcome::Agree { facts: f, .. } => {
                agreed += 1;
                facts += f;
            }
            Outcome::Rejected(_) => {}
        }
    }
    eprintln!("{cases} big cases from seed {start}: {agreed} agree, {facts} facts");
    assert!(
        cases < 20 || facts > 20 * cases as usize,
        "too few facts: {facts}"
    );
}

/// Gradients of larger random loss programs (wide embeddings, hundreds of matches: the
/// fixed-width and threaded backward kernels). `NRP_PROP_BIG_SEED=s` replays one.
#[test]
fn engine_gradients_agree_on_larger_random_programs() {
    let cpu = Cpu::new(2).unwrap();
    let (start, cases) = match env_u64("NRP_PROP_BIG_SEED") {
        Some(seed) => (seed, 1),
        None => (
            env_u64("NRP_PROP_START").unwrap_or(0),
            env_u64("NRP_PROP_CASES").map_or(40, |n| (n / 75).max(1)),
        ),
    };
    let mut checked = 0;
    for seed in start..start + cases {
        let case = generate_big_with_loss(seed);
        match check_gradients(&case, &cpu, &mut Rng::new(seed), 3) {
            Ok(n) => checked += n,
            Err(e) => panic!(
                "big gradient case {seed} (replay: NRP_PROP_BIG_SEED={seed}): {e}\n{}",
                case.describe()
            ),
        }
    }
    eprintln!("{cases} big gradient cases from seed {start}: {checked} gradient entries checked");
    assert!(
        cases < 10 || 2 * checked >= cases as usize,
        "too few gradients checked: {checked}"
    );
}
