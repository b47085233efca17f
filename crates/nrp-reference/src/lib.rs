//! The reference evaluator: a deliberately naive, obviously correct interpreter of the v1
//! semantics (LANGUAGE.md §3), in f64, forward only. It is the oracle the engine is tested
//! against, so it favours plainness over speed: nested-loop joins over every fact, one
//! expression evaluation per match, aggregation in a sorted map.

mod modules;

mod shaped;

use nrp_data::{Database, Value};
use nrp_params::ParamMap;
use nrp_sema::*;
use nrp_syntax::Diagnostic;
use std::collections::{BTreeMap, HashMap};

/// A computed e-relation: content tuple → embedding, sorted by content (numbers first).
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub arity: usize,
    pub dim: usize,
    pub facts: BTreeMap<Vec<Value>, Vec<f64>>,
}

/// Evaluation results by relation id (`None`: not needed for the targets).
pub type Results = Vec<Option<Facts>>;

type R<T> = Result<T, Diagnostic>;

/// Evaluates the relations `targets` depend on (inputs and derived), in dependency order.
/// Dropout is the identity (evaluation mode).
///
/// Content never depends on embeddings, so a relation whose embedding nothing reads (a
/// dependency used only for its content, `R4(v) :- T(v), R2()`) gets its facts but not its
/// embeddings: an evaluation error there (an index out of range) is not raised, as the
/// engine, which computes only what its targets read, does not raise it either. Such
/// relations hold zero embeddings and are never returned as targets.
pub fn evaluate(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    targets: &[RelId],
) -> R<Results> {
    evaluate_with(program, db, params, targets, None)
}

/// [`evaluate`] with every inexact intermediate value (each expression node's result, each
/// partial sum of an aggregation, each step inside a module: the products and partial sums
/// of a dot product, a LayerNorm's mean and variance, a log-sum-exp) multiplied by
/// `1 + u·2⁻²⁴`, `u` a hash of `seed`, the value and its position (one value, one
/// perturbation, however often it is computed), uniform in `[-1, 1]` for `direction == 0`
/// (stochastic arithmetic), in `[0, 1]` or `[-1, 0]` for a positive or negative `direction`
/// (like rounding away from or towards zero throughout: errors that accumulate, as in a
/// long f32 sum). A simulation of f32 rounding; integers up to 2^24 stay exact (as they are
/// in f32), so indices and comparisons of encodes do not move. How far this lands from
/// [`evaluate`] estimates how much an f32 evaluation of the same program may legitimately
/// differ from the exact one (a LayerNorm of a nearly constant vector, a cancellation, a
/// sum of thousands of terms): the differential tests scale their tolerance by it.
pub fn evaluate_perturbed(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    targets: &[RelId],
    seed: u64,
    direction: i8,
) -> R<Results> {
    evaluate_with(program, db, params, targets, Some((seed, direction)))
}

/// A `?pred` relation with its decoded columns (one per coordinate of each auxiliary
/// relation, at its written position), as LANGUAGE.md "Encoders and decoders" defines.
fn decoded(facts: &Facts, parts: &[(usize, &Facts)]) -> Facts {
    let mut out = BTreeMap::new();
    for (key, emb) in &facts.facts {
        let mut row = key.clone();
        // Positions are in written order, so inserting left to right shifts later ones by
        // the widths inserted before them.
        let mut shift = 0;
        for (pos, part) in parts {
            let values = &part.facts[key];
            let at = pos + shift;
            row.splice(
                at..at,
                values.iter().map(|&x| match x.is_finite() {
                    true => Value::from_f64(x),
                    // `nan`, `inf`: the engine's text for them.
                    false => Value::parse(&nrp_data::format_f32(x as f32)),
                }),
            );
            shift += values.len().saturating_sub(1);
        }
        out.insert(row, emb.clone());
    }
    Facts {
        arity: facts.arity + parts.iter().map(|(_, p)| p.dim).sum::<usize>(),
        dim: facts.dim,
        facts: out,
    }
}

fn evaluate_with(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    targets: &[RelId],
    noise: Option<(u64, i8)>,
) -> R<Results> {
    evaluate_coded(program, db, params, targets, noise, &codes::Codes::new())
}

/// [`evaluate`] with the code tables of a checkpoint (`nrp_sema::codes`): encoders whose
/// table is not given build theirs from the data, as the engine does.
pub fn evaluate_with_codes(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    targets: &[RelId],
    known_codes: &codes::Codes,
) -> R<Results> {
    evaluate_coded(program, db, params, targets, None, known_codes)
}

fn evaluate_coded(
    program: &Program,
    db: &Database,
    params: &ParamMap,
    targets: &[RelId],
    noise: Option<(u64, i8)>,
    known_codes: &codes::Codes,
) -> R<Results> {
    let noise = noise.map(|(seed, direction)| (std::cell::Cell::new(seed), direction));
    let weights: HashMap<&str, (&[usize], Vec<f64>)> = params
        .iter()
        .map(|(k, t)| {
            (
                k.as_str(),
                (
                    t.shape.as_slice(),
                    t.data.iter().map(|&x| x as f64).collect(),
                ),
            )
        })
        .collect();
    let mut out: Results = vec![None; program.relations.len()];
    let needed = program.closure(targets);
    for &rel in &needed {
        if let RelKind::Derived(rule) = &program.relations[rel].kind {
            for dep in rule.dependencies() {
                if program.relations[dep].is_input() && out[dep].is_none() {
                    out[dep] = Some(load_input(program, db, dep)?);
                }
            }
        }
    }
    let embedded = program.embeddings_read(targets);
    // Categorical encoders need their code tables before any embedding is computed: a
    // first pass finds the facts and collects the values each encoder sees in the rules
    // whose embeddings are computed (the engine's planned rules), then the second computes.
    let uses_codes = needed.iter().any(|&r| {
        let mut any = false;
        if let RelKind::Derived(rule) = &program.relations[r].kind {
            for (_, e) in rule.bodies() {
                e.into_iter()
                    .for_each(|e| codes::keys(e, &mut |_, _| any = true));
            }
        }
        any
    });
    let mut tables = known_codes.clone();
    for pass in [0, 1] {
        if pass == 0 && !uses_codes {
            continue;
        }
        let seen = std::cell::RefCell::new(BTreeMap::new());
        for &rel in &needed {
            let RelKind::Derived(rule) = &program.relations[rel].kind else {
                continue;
            };
            let facts = Evaluator {
                program,
                weights: &weights,
                rels: &out,
                noise: noise.as_ref().map(|(s, d)| (s, *d)),
                codes: &tables,
                seen: (pass == 0 && embedded[rel]).then_some(&seen),
            }
            .rule(rel, rule, pass == 1 && embedded[rel])?;
            out[rel] = Some(facts);
        }
        if pass == 0 {
            let seen: BTreeMap<String, std::collections::BTreeSet<Value>> = seen.into_inner();
            let seen = seen
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect();
            tables = codes::complete(known_codes, seen);
        }
    }
    for &t in targets {
        if program.relations[t].is_input() && out[t].is_none() {
            out[t] = Some(load_input(program, db, t)?);
        }
    }
    for &t in targets {
        let decodes = &program.relations[t].decodes;
        if let Some(facts) = &out[t]
            && !decodes.is_empty()
        {
            let parts: Vec<(usize, &Facts)> = decodes
                .iter()
                .map(|d| (d.pos, out[d.rel].as_ref().expect("decodes are evaluated")))
                .collect();
            out[t] = Some(decoded(facts, &parts));
        }
    }
    Ok(out)
}

fn load_input(program: &Program, db: &Database, rel: RelId) -> R<Facts> {
    let r = &program.relations[rel];
    let RelKind::Input(b) = &r.kind else {
        unreachable!("called for inputs")
    };
    let table = b.table.as_deref().unwrap_or(&r.name);
    let bound = db
        .bind(table, b.terms, b.embedding)
        .map_err(|e| Diagnostic::error(e.message, r.span))?;
    let facts = (0..bound.len())
        .map(|i| (bound.tuple(i), bound.emb(i).to_vec()))
        .collect();
    Ok(Facts {
        arity: bound.arity,
        dim: bound.dim,
        facts,
    })
}

struct Evaluator<'a> {
    program: &'a Program,
    weights: &'a HashMap<&'a str, (&'a [usize], Vec<f64>)>,
    rels: &'a Results,
    /// The generator state and direction of [`evaluate_perturbed`].
    noise: Option<(&'a std::cell::Cell<u64>, i8)>,
    /// Code tables of categorical encoders.
    codes: &'a codes::Codes,
    /// While the tables are collected: the values each encoder key sees.
    seen: Option<&'a std::cell::RefCell<BTreeMap<String, std::collections::BTreeSet<Value>>>>,
}

/// One match: a value for every body variable and the embedding of every atom.
struct Match<'m> {
    vars: Vec<Option<Value>>,
    embs: Vec<&'m [f64]>,
}

/// Running aggregate of one head tuple.
struct Acc {
    value: Vec<f64>,
    count: usize,
}

impl<'a> Evaluator<'a> {
    /// The facts of `rel`; their embeddings only when `embedded` (else zeros).
    fn rule(&self, rel: RelId, rule: &CoreRule, embedded: bool) -> R<Facts> {
        let relation = &self.program.relations[rel];
        let dim = relation.dim.expect("dimensions are known with a database");
        let agg = rule.agg();
        // A sum starts from +0.0, as PyTorch's reductions do (`sum`, `index_add_` into
        // zeros): a sum of `-0.0` alone is `0.0`. A transformation aggregates nothing.
        let from_zero =
            matches!(agg, Agg::Sum | Agg::Mean) && !matches!(rule, CoreRule::Transform { .. });
        let mut accs: BTreeMap<Vec<Value>, Acc> = BTreeMap::new();
        for (body, expr) in rule.bodies() {
            self.check_arithmetic(body)?;
            let mut matches = vec![];
            self.matches(
                body,
                0,
                &mut Match {
                    vars: vec![None; body.vars.len()],
                    embs: vec![],
                },
                &mut |m| matches.push((m.vars.clone(), m.embs.clone())),
            );
            for (vars, embs) in matches {
                let m = Match { vars, embs };
                if let (Some(seen), Some(e)) = (self.seen, expr) {
                    codes::keys(e, &mut |key, v| {
                        let value = m.vars[v].clone().expect("encoded variables are bound");
                        seen.borrow_mut()
                            .entry(key.to_string())
                            .or_default()
                            .insert(value);
                    });
                }
                let key: Vec<Value> = rule
                    .head()
                    .iter()
                    .map(|t| match t {
                        HeadTerm::Var(v) => m.vars[*v].clone().expect("head variables are bound"),
                        HeadTerm::Const(c) => c.clone(),
                    })
                    .collect();
                let value = match (agg, expr) {
                    (Agg::Count, _) | (_, None) => vec![],
                    _ if !embedded => vec![0.0; dim],
                    (_, Some(e)) => self.expr(e, body, &m).map_err(|d| {
                        d.with_note(match_note(self.program, relation, body, &m, &key))
                    })?,
                };
                match accs.get_mut(&key) {
                    None => {
                        let mut value = value;
                        if from_zero {
                            value.iter_mut().for_each(|x| *x += 0.0);
                        }
                        accs.insert(key, Acc { value, count: 1 });
                    }
                    Some(acc) => {
                        acc.count += 1;
                        for (a, x) in acc.value.iter_mut().zip(&value) {
                            *a = match agg {
                                Agg::Sum | Agg::Mean => *a + x,
                                // NaN propagates, as in PyTorch's `amax` / `amin`.
                                _ if a.is_nan() || x.is_nan() => f64::NAN,
                                Agg::Max => a.max(*x),
                                Agg::Min => a.min(*x),
                                Agg::Count => *a,
                            };
                        }
                        if matches!(agg, Agg::Sum | Agg::Mean) {
                            acc.value = self.round(std::mem::take(&mut acc.value));
                        }
                    }
                }
            }
        }
        let facts = accs
            .into_iter()
            .map(|(k, acc)| {
                let v = match agg {
                    Agg::Count => vec![acc.count as f64],
                    Agg::Mean => {
                        self.round(acc.value.iter().map(|x| x / acc.count as f64).collect())
                    }
                    _ => acc.value,
                };
                (k, v)
            })
            .collect();
        Ok(Facts {
            arity: relation.arity,
            dim,
            facts,
        })
    }

    /// Arithmetic in a filter computes with numbers: none of the values that a variable it
    /// reads can take — those at its positions in every atom that binds it, among the facts
    /// that agree with the atom's constants and repeated variables — may be a string.
    fn check_arithmetic(&self, body: &Body) -> R<()> {
        let mut vars: Vec<VarId> = body.filters.iter().flat_map(|f| f.arith_vars()).collect();
        vars.sort_unstable();
        vars.dedup();
        for v in vars {
            let mut common: Option<std::collections::BTreeSet<&Value>> = None;
            let mut first = None;
            for atom in &body.atoms {
                let Some(p) = atom.terms.iter().position(|t| *t == Term::Var(v)) else {
                    continue;
                };
                let facts = self.rels[atom.rel].as_ref().expect("evaluated first");
                let agrees = |tuple: &[Value]| {
                    atom.terms
                        .iter()
                        .zip(tuple)
                        .enumerate()
                        .all(|(k, (t, x))| match t {
                            Term::Const(c) => c == x,
                            // A repeated variable holds one value.
                            Term::Var(w) => atom.terms[..k]
                                .iter()
                                .zip(tuple)
                                .all(|(s, y)| s != &Term::Var(*w) || y == x),
                        })
                };
                let values = facts
                    .facts
                    .keys()
                    .filter(|t| agrees(t))
                    .map(|t| &t[p])
                    .collect();
                first.get_or_insert((atom, p, agrees));
                common = Some(match common {
                    None => values,
                    Some(c) => c.intersection(&values).copied().collect(),
                });
            }
            // In content order: the smallest string.
            let (Some(bad), Some((atom, p, agrees))) =
                (common.iter().flatten().find(|x| !x.is_number()), first)
            else {
                continue;
            };
            let facts = self.rels[atom.rel].as_ref().expect("evaluated first");
            let tuple = facts
                .facts
                .keys()
                .find(|t| agrees(t) && &&t[p] == bad)
                .expect("the value comes from a fact");
            let name = &self.program.relations[atom.rel].name;
            return Err(arithmetic_on_string(body, v, name, p, tuple));
        }
        Ok(())
    }

    /// Enumerates matches by nested loops over the atoms, then checks the filters.
    fn matches<'m>(
        &'m self,
        body: &Body,
        i: usize,
        m: &mut Match<'m>,
        emit: &mut dyn FnMut(&Match<'m>),
    ) {
        if i == body.atoms.len() {
            let value = |v: VarId| m.vars[v].as_ref().expect("filter variables occur in atoms");
            if body.filters.iter().all(|f| f.holds(&value)) {
                emit(m);
            }
            return;
        }
        let atom = &body.atoms[i];
        let facts = self.rels[atom.rel]
            .as_ref()
            .expect("dependencies are evaluated first");
        for (tuple, emb) in &facts.facts {
            let saved = m.vars.clone();
            let consistent = atom.terms.iter().zip(tuple).all(|(t, v)| match t {
                Term::Const(c) => c == v,
                Term::Var(x) => match &m.vars[*x] {
                    Some(bound) => bound == v,
                    None => {
                        m.vars[*x] = Some(v.clone());
                        true
                    }
                },
            });
            if consistent {
                m.embs.push(emb);
                self.matches(body, i + 1, m, emit);
                m.embs.pop();
            }
            m.vars = saved;
        }
    }

    /// Simulated rounding of [`evaluate_perturbed`] (identity otherwise), coordinate by
    /// coordinate.
    fn round(&self, mut v: Vec<f64>) -> Vec<f64> {
        for (j, x) in v.iter_mut().enumerate() {
            *x = self.round_scalar(*x, j as u64);
        }
        v
    }

    /// Simulated rounding of one value; `salt` tells apart the coordinates of a vector or
    /// the steps inside a module.
    fn round_scalar(&self, x: f64, salt: u64) -> f64 {
        let Some((state, direction)) = self.noise else {
            return x;
        };
        // Integers up to 2^24 are exact in f32; beyond, they round too.
        if x.fract() == 0.0 && x.abs() <= 16_777_216.0 {
            return x;
        }
        // A hash of the seed, the exact value and the salt (SplitMix64's finaliser): the
        // same value is always perturbed the same way, so that a result computed once per
        // fact and read by many matches (hoisted, as the engine does) carries one error, not
        // many independent ones that would average out; equal coordinates of one vector move
        // apart, as the rounding inside a LayerNorm's mean makes them.
        let mut z = state.get().wrapping_mul(0xD6E8_FEB8_6659_FD93)
            ^ x.to_bits().wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (salt + 1).wrapping_mul(0xA076_1D64_78BD_642F);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        let u = match direction {
            0 => 2.0 * u - 1.0,
            d if d > 0 => u,
            _ => -u,
        };
        x * (1.0 + u * f64::from(f32::EPSILON) / 2.0)
    }

    fn expr(&self, e: &Expr, body: &Body, m: &Match) -> R<Vec<f64>> {
        let v = self.expr_exact(e, body, m)?;
        Ok(match e.kind {
            ExprKind::Emb(_)
            | ExprKind::Encode(..)
            | ExprKind::Const(_)
            | ExprKind::Fill(_)
            | ExprKind::Param(_) => v,
            _ => self.round(v),
        })
    }

    /// One node, its operands rounded by `expr`.
    fn expr_exact(&self, e: &Expr, body: &Body, m: &Match) -> R<Vec<f64>> {
        Ok(match &e.kind {
            ExprKind::Emb(i) => m.embs[*i].to_vec(),
            ExprKind::Const(c) => vec![*c],
            ExprKind::Fill(c) => vec![*c; e.dim.expect("dimensions are known with a database")],
            ExprKind::Param(m) => modules::tensor_value(&self.program.modules[*m], self.weights)
                .map_err(|msg| Diagnostic::error(msg, e.span))?,
            ExprKind::Encode(items, key) => {
                let table = key.as_ref().and_then(|k| self.codes.get(k));
                let mut out = vec![];
                for t in items {
                    let v = match t {
                        Term::Var(x) => m.vars[*x].clone().expect("encoded variables are bound"),
                        Term::Const(c) => c.clone(),
                    };
                    // A categorical encoder's value: its position in the table, or the
                    // unseen bucket just past it.
                    let v = match table {
                        Some(t) => Value::Int(
                            t.iter()
                                .position(|s| *s == v.to_string())
                                .unwrap_or(t.len()) as i64,
                        ),
                        None => v,
                    };
                    match v.encoded() {
                        Some(x) => out.push(x),
                        None => {
                            return Err(Diagnostic::error(
                                format!(
                                    "cannot encode the non-numeric value {:?} as an embedding",
                                    v.to_string()
                                ),
                                e.span,
                            )
                            .with_note(codes::ENCODE_HINT));
                        }
                    }
                }
                out
            }
            ExprKind::Neg(x) => self.expr(x, body, m)?.iter().map(|v| -v).collect(),
            ExprKind::Binary(op, a, b) => {
                let (va, vb) = (self.expr(a, body, m)?, self.expr(b, body, m)?);
                let known = "shapes are known with a database";
                let (sa, sb) = (
                    a.shape.as_ref().expect(known),
                    b.shape.as_ref().expect(known),
                );
                match op {
                    BinOp::MatMul => shaped::matmul((&va, sa), (&vb, sb)),
                    _ if sa.is_vector() && sb.is_vector() => {
                        broadcast(&va, &vb, |x, y| op.apply(x, y))
                    }
                    _ => shaped::broadcast(
                        (&va, sa),
                        (&vb, sb),
                        e.shape.as_ref().expect(known),
                        |x, y| op.apply(x, y),
                    ),
                }
            }
            // The same values, another shape.
            ExprKind::Reshape(_, x) => self.expr(x, body, m)?,
            ExprKind::Transpose(x) => {
                let v = self.expr(x, body, m)?;
                shaped::transpose(
                    &v,
                    x.shape.as_ref().expect("shapes are known with a database"),
                )
            }
            ExprKind::Chain(first, rest) => {
                // `((a op b) op c) …`: every intermediate result rounds, as a node of its
                // own would; the last one rounds in `expr`.
                let mut acc = self.expr(first, body, m)?;
                for (i, (op, x)) in rest.iter().enumerate() {
                    let x = self.expr(x, body, m)?;
                    acc = broadcast(&acc, &x, |a, b| op.apply(a, b));
                    if i + 1 < rest.len() {
                        acc = self.round(acc);
                    }
                }
                acc
            }
            ExprKind::Func(Func::Concat, xs) => {
                let mut out = vec![];
                for x in xs {
                    out.extend(self.expr(x, body, m)?);
                }
                out
            }
            ExprKind::Func(f, xs) => {
                let x = self.expr(&xs[0], body, m)?;
                x.into_iter()
                    .map(|v| match f {
                        Func::Exp => v.exp(),
                        Func::Log => v.ln(),
                        Func::Sqrt => v.sqrt(),
                        Func::Abs => v.abs(),
                        Func::Relu => v.max(0.0),
                        Func::Sigmoid => modules::sigmoid(v),
                        Func::Tanh => v.tanh(),
                        Func::Round => v.round_ties_even(),
                        Func::Concat => unreachable!("handled above"),
                    })
                    .collect()
            }
            ExprKind::Apply(id, xs)
                if matches!(
                    self.program.modules[*id].kind,
                    nrp_sema::ModuleKind::HashText { .. }
                ) =>
            {
                let nrp_sema::ModuleKind::HashText { buckets, dim } =
                    self.program.modules[*id].kind
                else {
                    unreachable!("matched above")
                };
                let ExprKind::Encode(items, _) = &xs[0].kind else {
                    unreachable!("sema checks a text encoder's argument")
                };
                let v = match &items[0] {
                    Term::Var(x) => m.vars[*x].clone().expect("encoded variables are bound"),
                    Term::Const(c) => c.clone(),
                };
                let name = format!("{}.embed.weight", self.program.modules[*id].name);
                let table = self
                    .weights
                    .get(name.as_str())
                    .map(|(_, w)| w.as_slice())
                    .ok_or_else(|| {
                        Diagnostic::error(format!("parameter `{name}` is missing"), e.span)
                    })?;
                modules::hash_text(&v.to_string(), buckets, dim, table)
            }
            ExprKind::Apply(id, xs) => {
                let mut args = vec![];
                for x in xs {
                    args.push(self.expr(x, body, m)?);
                }
                let module = &self.program.modules[*id];
                // Inside a module, every step rounds (under `evaluate_perturbed`): a dot
                // product's error is relative to its terms, a LayerNorm's mean is inexact.
                let salt = std::cell::Cell::new(0u64);
                let round = |x: f64| {
                    salt.set(salt.get() + 1);
                    self.round_scalar(x, salt.get())
                };
                modules::apply_rounded(module, &args, self.weights, &round)
                    .map_err(|msg| Diagnostic::error(msg, e.span))?
            }
        })
    }
}

/// "in a rule for `H`, at the match v = 2, y = "x"": which match an evaluation error is
/// about (wildcards left out). After desugaring (several rules, an aggregation with
/// operations around it) the body may read an auxiliary relation: then the head tuple.
fn match_note(
    program: &Program,
    relation: &Relation,
    body: &Body,
    m: &Match,
    key: &[Value],
) -> String {
    let name = relation.name.split('#').next().unwrap_or_default();
    let show = |v: &Value| match v {
        Value::Str(s) => format!("{s:?}"),
        v => v.to_string(),
    };
    if body
        .atoms
        .iter()
        .any(|a| program.relations[a.rel].is_auxiliary())
    {
        let tuple: Vec<String> = key.iter().map(show).collect();
        return format!(
            "in a rule for `{name}`, for the tuple {name}({})",
            tuple.join(", ")
        );
    }
    let vars: Vec<String> = body
        .vars
        .iter()
        .zip(&m.vars)
        .filter(|(n, _)| !n.starts_with('_'))
        .filter_map(|(n, v)| v.as_ref().map(|v| format!("{n} = {}", show(v))))
        .collect();
    if vars.is_empty() {
        format!("in a rule for `{name}`")
    } else {
        format!("in a rule for `{name}`, at the match {}", vars.join(", "))
    }
}

/// Element-wise with a 1-dimensional operand broadcast (sema checked the dimensions).
fn broadcast(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    match (a.len(), b.len()) {
        (1, n) if n != 1 => b.iter().map(|&y| f(a[0], y)).collect(),
        (n, 1) if n != 1 => a.iter().map(|&x| f(x, b[0])).collect(),
        _ => a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nrp_data::Table;

    fn run(text: &str, rel: &str) -> Facts {
        let t = Table::from_rows(
            "T",
            vec!["k".into(), "x".into()],
            &[
                vec![Value::Int(1), Value::Float(-0.5)],
                vec![Value::Int(2), Value::Int(0)],
            ],
        )
        .unwrap();
        let db = Database::from_tables("test", vec![t]).unwrap();
        let ast = nrp_syntax::parse(text).unwrap();
        let program = nrp_sema::check(&ast, Some(&db)).unwrap();
        let id = program.relation(rel).unwrap();
        let params = nrp_params::init_parameters(&program.parameters(), 0).unwrap();
        evaluate(&program, &db, &params, &[id]).unwrap()[id]
            .clone()
            .unwrap()
    }

    fn bits(f: &Facts) -> Vec<u64> {
        f.facts.values().flatten().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn evaluation_errors_name_the_value_and_the_match() {
        let t = Table::from_rows(
            "T",
            vec!["k".into(), "x".into()],
            &[vec![Value::parse("a"), Value::Float(2.5)]],
        )
        .unwrap();
        let db = Database::from_tables("test", vec![t]).unwrap();
        let ast = nrp_syntax::parse("H(k; OneHot(3)(x)) :- T(k; x) .").unwrap();
        let program = nrp_sema::check(&ast, Some(&db)).unwrap();
        let id = program.relation("H").unwrap();
        let params = nrp_params::init_parameters(&program.parameters(), 0).unwrap();
        let e = evaluate(&program, &db, &params, &[id]).unwrap_err();
        assert_eq!(
            e.message,
            "`H.0` (OneHot(3)) needs an integer index in 0..3, got 2.5"
        );
        assert_eq!(e.notes, ["in a rule for `H`, at the match k = \"a\""]);
        // Around an aggregation: the head tuple.
        let ast = nrp_syntax::parse("H(k; OneHot(3)(sum(x))) :- T(k; x) .").unwrap();
        let program = nrp_sema::check(&ast, Some(&db)).unwrap();
        let id = program.relation("H").unwrap();
        let e = evaluate(&program, &db, &params, &[id]).unwrap_err();
        assert_eq!(e.notes, ["in a rule for `H`, for the tuple H(\"a\")"]);
    }

    #[test]
    fn sums_of_negative_zero_are_positive_zero_like_torch() {
        // k = 2 contributes the single match -1 * 0 = -0.0.
        let sum = run("S(k; sum(x * -1)) :- T(k; x), T(_, _) .", "S");
        assert_eq!(bits(&sum)[1], 0.0f64.to_bits());
        let mean = run("S(k; mean(x * -1)) :- T(k; x) , T(_, _) .", "S");
        assert_eq!(bits(&mean)[1], 0.0f64.to_bits());
        // A transformation is element-wise: -0.0 stays, as in PyTorch.
        let tr = run("S(k; x * -1) :- T(k; x) .", "S");
        assert_eq!(bits(&tr)[1], (-0.0f64).to_bits());
        // max / min pick a value.
        let max = run("S(k; max(x * -1)) :- T(k; x), T(_, _) .", "S");
        assert_eq!(bits(&max)[1], (-0.0f64).to_bits());
    }
}
