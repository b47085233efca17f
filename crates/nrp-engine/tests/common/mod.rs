//! Shared helpers of the engine's integration tests: in-memory databases, checked programs,
//! and the engine-vs-reference comparison of one relation's facts.
#![allow(dead_code)]

pub mod generator;

use nrp_data::{Database, Table, Value};
use nrp_engine::{Engine, Params};
use nrp_params::ParamMap;
use nrp_sema::{Program, RelId};
use nrp_tensor::Cpu;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A deterministic SplitMix64 generator (no dependencies, reproducible from a seed).
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// An index drawn with the given relative weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

/// A table from rows of cell texts (each parsed as `Value::parse` does for CSV cells).
pub fn table(name: &str, columns: &[&str], rows: &[&[&str]]) -> Table {
    let rows: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| r.iter().map(|c| Value::parse(c)).collect())
        .collect();
    Table::from_rows(name, columns.iter().map(|c| c.to_string()).collect(), &rows).unwrap()
}

pub fn database(tables: Vec<Table>) -> Database {
    Database::from_tables("test", tables).unwrap()
}

/// Parses and checks `text`, panicking with the diagnostic.
pub fn program(text: &str, db: &Database) -> Program {
    let ast = nrp_syntax::parse(text).unwrap_or_else(|d| panic!("parse: {}\n{text}", d.message));
    nrp_sema::check(&ast, Some(db)).unwrap_or_else(|d| panic!("check: {}\n{text}", d.message))
}

/// Whether an f32 engine value agrees with the f64 reference: both NaN, equal (infinities
/// included), or within `atol + rtol·|reference|`.
pub fn close(engine: f64, reference: f64, rtol: f64, atol: f64) -> bool {
    (engine.is_nan() && reference.is_nan())
        || engine == reference
        || (engine - reference).abs() <= atol + rtol * reference.abs()
}

/// The options every engine of this test binary is built with: what [`set_options`] gave,
/// else the rewrites that `NRP_DISABLE_RULES` names (bench/check_rules.sh runs the suites
/// with each rule switched off; the library itself reads no environment variable).
pub fn options() -> nrp_engine::EngineOptions {
    OPTIONS
        .get_or_init(|| {
            let spec = std::env::var("NRP_DISABLE_RULES").unwrap_or_default();
            nrp_engine::EngineOptions {
                disabled_rules: nrp_engine::plan::rules::parse_disabled(&spec)
                    .unwrap_or_else(|e| panic!("NRP_DISABLE_RULES: {e}")),
                ..Default::default()
            }
        })
        .clone()
}

static OPTIONS: std::sync::OnceLock<nrp_engine::EngineOptions> = std::sync::OnceLock::new();

/// Sets the options of [`options`] for this test binary (before any engine is built).
#[allow(dead_code)]
pub fn set_options(options: nrp_engine::EngineOptions) {
    OPTIONS
        .set(options)
        .expect("set_options runs before any engine is built");
}

/// The engine's facts of several relations (evaluation mode), a panic turned into an error.
pub fn engine_facts(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    rels: &[RelId],
    cpu: &Cpu,
) -> Result<Vec<nrp_engine::Output>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let engine =
            Engine::with_options(program, db, rels, u64::MAX, &options()).map_err(|d| d.message)?;
        engine
            .evaluate(cpu, &Params::new(program, params), rels)
            .map_err(|d| d.message)
    }))
    .unwrap_or_else(|p| Err(format!("engine PANIC: {}", panic_message(&p))))
}

/// The reference evaluator's facts, a panic turned into an error.
pub fn reference_facts(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    rels: &[RelId],
) -> Result<Vec<nrp_reference::Facts>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let out = nrp_reference::evaluate(program, db, params, rels).map_err(|d| d.message)?;
        Ok(rels
            .iter()
            .map(|&r| out[r].clone().expect("target evaluated"))
            .collect())
    }))
    .unwrap_or_else(|p| Err(format!("reference PANIC: {}", panic_message(&p))))
}

pub fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// How far f32 rounding may move each embedding coordinate of `rels`: the largest distance
/// between the exact reference and four runs of it with simulated f32 rounding
/// ([`nrp_reference::evaluate_perturbed`]: two random, one biased up, one biased down),
/// flattened per relation. Zero where a perturbed run fails.
pub fn rounding_spread(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    rels: &[RelId],
    exact: &[nrp_reference::Facts],
) -> Vec<Vec<f64>> {
    let mut spread: Vec<Vec<f64>> = exact
        .iter()
        .map(|f| vec![0.0; f.facts.len() * f.dim])
        .collect();
    for (seed, direction) in [(1, 0), (2, 0), (3, 1), (4, -1)] {
        let run = || nrp_reference::evaluate_perturbed(program, db, params, rels, seed, direction);
        let Ok(Ok(out)) = catch_unwind(AssertUnwindSafe(run)) else {
            continue;
        };
        for ((s, f), &r) in spread.iter_mut().zip(exact).zip(rels) {
            let Some(p) = &out[r] else { continue };
            let values = p.facts.values().flatten().zip(f.facts.values().flatten());
            for (x, (a, b)) in s.iter_mut().zip(values) {
                let d = if a.is_nan() && b.is_nan() || a == b {
                    0.0
                } else {
                    (a - b).abs()
                };
                *x = x.max(if d.is_nan() { f64::INFINITY } else { d });
            }
        }
    }
    spread
}

/// How many times the simulated rounding spread an f32 result may be off.
pub const SPREAD_FACTOR: f64 = 20.0;

/// Compares one relation: same content tuples in the same order, embeddings close
/// (`1e-5` relative plus `atol` absolute, plus [`SPREAD_FACTOR`] times the coordinate's
/// rounding spread when given).
pub fn compare_facts(
    name: &str,
    e: &nrp_engine::Output,
    r: &nrp_reference::Facts,
    atol: f64,
    spread: Option<&[f64]>,
) -> Result<(), String> {
    if e.rows.len() != r.facts.len() {
        let show = |rows: Vec<String>| rows.into_iter().take(8).collect::<Vec<_>>().join(" ");
        return Err(format!(
            "{name}: engine has {} facts, reference {}\n  engine:    {}\n  reference: {}",
            e.rows.len(),
            r.facts.len(),
            show(e.rows.iter().map(|t| format!("{t:?}")).collect()),
            show(r.facts.keys().map(|t| format!("{t:?}")).collect())
        ));
    }
    if e.dim != r.dim {
        return Err(format!(
            "{name}: engine dimension {}, reference {}",
            e.dim, r.dim
        ));
    }
    for (i, (tuple, emb)) in r.facts.iter().enumerate() {
        if &e.rows[i] != tuple {
            return Err(format!(
                "{name}: fact {i}: engine {:?}, reference {:?}",
                e.rows[i], tuple
            ));
        }
        let got = &e.embeddings[i * e.dim..(i + 1) * e.dim];
        for (k, (&x, &y)) in got.iter().zip(emb).enumerate() {
            let slack = spread.map_or(0.0, |s| SPREAD_FACTOR * s[i * e.dim + k]);
            if !close(x as f64, y, 1e-5, atol + slack) {
                let spread = spread
                    .map(|s| format!("\n  rounding spread: {:?}", &s[i * e.dim..(i + 1) * e.dim]));
                return Err(format!(
                    "{name}{tuple:?}: e{k}: engine {x:?}, reference {y:?}\n  engine:    {got:?}\n  reference: {emb:?}{}",
                    spread.unwrap_or_default()
                ));
            }
        }
    }
    Ok(())
}

/// Evaluates `rels` on both sides and compares them (errors must occur on both or neither).
/// Beyond `1e-5` relative and `atol` absolute, a value may differ by [`SPREAD_FACTOR`] times
/// its simulated f32 rounding spread (computed only when needed).
pub fn differential(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    rels: &[RelId],
    cpu: &Cpu,
    atol: f64,
) -> Result<(), String> {
    let r = reference_facts(program, db, params, rels);
    let e = engine_facts(program, db, params, rels, cpu);
    match (e, r) {
        (Ok(e), Ok(r)) => {
            let mut spread: Option<Vec<Vec<f64>>> = None;
            for (i, ((o, f), &rel)) in e.iter().zip(&r).zip(rels).enumerate() {
                let name = &program.relations[rel].name;
                if compare_facts(name, o, f, atol, None).is_err() {
                    let s = spread
                        .get_or_insert_with(|| rounding_spread(program, db, params, rels, &r));
                    compare_facts(name, o, f, atol, Some(&s[i]))?;
                }
            }
            Ok(())
        }
        (Err(a), Err(b)) => {
            if a.contains("PANIC") || b.contains("PANIC") {
                return Err(format!("engine: {a}\nreference: {b}"));
            }
            Ok(())
        }
        (Ok(_), Err(b)) => Err(format!("only the reference fails: {b}")),
        (Err(a), Ok(_)) => Err(format!("only the engine fails: {a}")),
    }
}
