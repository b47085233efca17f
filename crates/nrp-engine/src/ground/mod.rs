//! Grounding: all relational work, once per database. Every relation's content is computed
//! (interned columns, rows sorted by content), and every rule body yields its *match list*:
//! for each match, the row of each body atom, the values of the body variables and the head
//! row it aggregates into, sorted by head row. None of this depends on learnable
//! parameters (the derived content is a union of conjunctive queries), so it is done once.

mod given;
mod head;
pub mod join;
pub mod lift;
pub mod sql;

use crate::estimate;
use crate::intern::Dict;
use nrp_data::memory::{format_bytes, format_bytes_f64, format_count};
use nrp_data::{Database, Value};
use nrp_sema::{CoreRule, HeadTerm, Program, RelId, RelKind, Term};
use nrp_syntax::Diagnostic;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A relation's content: `arity` interned columns; rows sorted by content value order.
#[derive(Clone, Debug, Default)]
pub struct GroundRelation {
    pub arity: usize,
    pub cols: Vec<Vec<u32>>,
    pub len: usize,
}

impl GroundRelation {
    pub fn tuple(&self, row: usize) -> Vec<u32> {
        self.cols.iter().map(|c| c[row]).collect()
    }
}

/// The matches of one body (a conjunction, or one branch of a union), sorted by head row.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    /// `rows[i][m]`: the row of body atom `i` in match `m`.
    pub rows: Vec<Vec<u32>>,
    /// `vars[v][m]`: the interned value of body variable `v` in match `m` (no values for a
    /// wildcard that neither the head, a filter nor the expression reads).
    pub vars: Vec<Vec<u32>>,
    /// `head[m]`: the head row match `m` aggregates into (non-decreasing).
    pub head: Vec<u32>,
}

impl Matches {
    pub fn len(&self) -> usize {
        self.head.len()
    }
    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }
}

/// How one rule was grounded, for `nrp explain`.
#[derive(Clone, Debug, Default)]
pub struct JoinReport {
    /// Variable order of the generic join, by name.
    pub var_order: Vec<String>,
    /// Facts of each atom after constant and repeated-variable filters.
    pub atom_sizes: Vec<usize>,
    pub matches: usize,
    /// The matches estimated before the join (`estimate::body` over the atom sizes).
    pub estimate: f64,
}

#[derive(Clone, Debug, Default)]
pub struct GroundRule {
    /// One per body (branch), in the core rule's order.
    pub bodies: Vec<Matches>,
    pub reports: Vec<JoinReport>,
}

/// The grounded program: content of every needed relation and match lists of every rule.
pub struct Ground {
    pub dict: Dict,
    pub relations: Vec<Option<GroundRelation>>,
    pub rules: Vec<Option<GroundRule>>,
    /// Input relations' embeddings (row-major `len * dim`, in f32 as the plan holds them).
    pub input_embeddings: Vec<Option<Vec<f32>>>,
    /// The memory budget in bytes (`u64::MAX`: none). A rule whose estimated match list,
    /// with what is [`Ground::held`] already, does not fit is refused before it is joined,
    /// and a join stops when its matches pass it.
    pub budget: u64,
    /// Bytes held by the input relations and the match lists grounded so far (as
    /// `estimate::bytes_per_match` counts them).
    held: AtomicU64,
    /// Stage timings on stderr ([`crate::EngineOptions::trace`]).
    pub trace: bool,
    /// Per relation, each body's SQL push-down (empty unless SQL grounding was asked for).
    pub sql: Vec<Vec<sql::Pushed>>,
    /// The relations the database computed, and the queries (`explain --sql`).
    pub lifted: lift::Lifted,
}

type R<T> = Result<T, Diagnostic>;

impl Ground {
    /// Grounds the relations `needed` (dependencies first, as `Program::closure` gives them).
    pub fn new(program: &Program, db: &Database, needed: &[RelId]) -> R<Ground> {
        let mut g = Ground::inputs(program, db, needed)?;
        g.derive(program, needed)?;
        Ok(g)
    }

    /// Bytes held by the input relations and the match lists grounded so far.
    pub fn held(&self) -> u64 {
        self.held.load(Relaxed)
    }

    /// Reads the input relations that `needed` depends on (interned, sorted): after this
    /// the database is no longer read, and a caller that owns it can free its tables.
    pub fn inputs(program: &Program, db: &Database, needed: &[RelId]) -> R<Ground> {
        Ground::inputs_with(
            program,
            db,
            needed,
            &crate::EngineOptions::default(),
            u64::MAX,
        )
    }

    /// [`Ground::inputs`], timing its stages on stderr (`options.trace`); with SQL
    /// grounding (`options.ground`) the database also computes the matches of the bodies
    /// over input relations, within `budget` (`options.show_sql`: their statements are
    /// only written, for `explain --sql`).
    pub fn inputs_with(
        program: &Program,
        db: &Database,
        needed: &[RelId],
        options: &crate::EngineOptions,
        budget: u64,
    ) -> R<Ground> {
        Ground::inputs_lifted(
            program,
            db,
            needed,
            options,
            budget,
            lift::Lifted::default(),
        )
    }

    /// Reads what the relations `rels` need: with SQL grounding the database first
    /// computes the relational rules (`lift`, which makes them inputs of `program`), then
    /// [`Ground::inputs_with`].
    pub fn read(
        program: &mut std::borrow::Cow<'_, Program>,
        db: &Database,
        rels: &[RelId],
        options: &crate::EngineOptions,
        budget: u64,
    ) -> R<Ground> {
        let run = options.ground == sql::GroundMode::Sql;
        let lifted = if run || options.show_sql {
            let mut t = std::time::Instant::now();
            let l = lift::lift(program, db, rels, run)?;
            crate::trace(options.trace, "  SQL relations", &mut t);
            l
        } else {
            lift::Lifted::default()
        };
        let needed = program.closure(rels);
        Ground::inputs_lifted(program, db, &needed, options, budget, lifted)
    }

    fn inputs_lifted(
        program: &Program,
        db: &Database,
        needed: &[RelId],
        options: &crate::EngineOptions,
        budget: u64,
        lifted: lift::Lifted,
    ) -> R<Ground> {
        let trace = options.trace;
        let run_sql = options.ground == sql::GroundMode::Sql;
        let n = program.relations.len();
        let mut g = Ground {
            dict: Dict::default(),
            relations: vec![None; n],
            rules: vec![None; n],
            input_embeddings: vec![None; n],
            budget,
            held: AtomicU64::new(0),
            trace,
            sql: vec![vec![]; n],
            lifted,
        };
        // Inputs first, then every constant of the rules, then content ranks: from here on
        // comparing two values is comparing two integers.
        let mut inputs: Vec<RelId> = needed.to_vec();
        for &rel in needed {
            if let RelKind::Derived(rule) = &program.relations[rel].kind {
                inputs.extend(rule.dependencies());
            }
        }
        // Tables a computed relation was read from are read as without it, and interned
        // before it: every value keeps the id it has with in-engine grounding.
        inputs.extend(&g.lifted.tables);
        inputs.retain(|&r| program.relations[r].is_input());
        inputs.sort_unstable_by_key(|&r| (g.lifted.is_lifted(r), r));
        inputs.dedup();
        let mut t = std::time::Instant::now();
        let mut loaded = vec![];
        for &rel in &inputs {
            loaded.push(g.load_input(program, db, rel)?);
        }
        // All input columns in one call: float columns are interned together by sorting.
        let all: Vec<&nrp_data::Column> = loaded.iter().flat_map(|b| b.content.iter()).collect();
        let mut cols = g.dict.intern_columns(&all).into_iter();
        for (&rel, bound) in inputs.iter().zip(&loaded) {
            g.relations[rel] = Some(GroundRelation {
                arity: bound.arity,
                cols: cols.by_ref().take(bound.arity).collect(),
                len: bound.len(),
            });
        }
        // The constants of every rule as without computed relations, in the same order.
        let (order, rules) = (
            std::mem::take(&mut g.lifted.order),
            std::mem::take(&mut g.lifted.rules),
        );
        for &rel in if order.is_empty() { needed } else { &order } {
            let rule = match &program.relations[rel].kind {
                RelKind::Derived(rule) => Some(rule),
                RelKind::Input(_) => rules.get(rel).and_then(Option::as_ref),
            };
            if let Some(rule) = rule {
                g.intern_constants(rule);
            }
        }
        (g.lifted.order, g.lifted.rules) = (order, rules);
        crate::trace(trace, "  intern inputs", &mut t);
        g.dict.freeze();
        crate::trace(trace, "  rank values", &mut t);
        let mut held = 0u64;
        let keep = run_sql || options.show_sql;
        let mut bound: Vec<Option<std::sync::Arc<nrp_data::BoundRelation>>> = vec![None; n];
        let mut order: Vec<Option<Vec<u32>>> = vec![None; n];
        for (rel, b) in inputs.into_iter().zip(loaded) {
            let perm = g.sort_input(rel, &b);
            held += 4 * (b.len() * (b.arity + b.dim)) as u64;
            if keep {
                // Fact (load order) to row (content order).
                let mut row = vec![0u32; perm.len()];
                for (r, &f) in perm.iter().enumerate() {
                    row[f as usize] = r as u32;
                }
                order[rel] = Some(row);
                bound[rel] = Some(b);
            }
        }
        g.held = AtomicU64::new(held);
        crate::trace(trace, "  sort inputs", &mut t);
        if keep {
            g.push_down(program, db, needed, &bound, &order, run_sql)?;
            crate::trace(trace, "  SQL grounding", &mut t);
        }
        Ok(g)
    }

    /// Grounds the derived relations of `needed` (inputs are read already), level by
    /// level: a rule's level is above that of every relation it reads, so the rules of one
    /// level are independent. Inside a thread pool (the backend's, with more than one
    /// thread) they ground in parallel; results do not depend on the schedule.
    pub fn derive(&mut self, program: &Program, needed: &[RelId]) -> R<()> {
        use rayon::prelude::*;
        let mut t = std::time::Instant::now();
        let mut level = vec![0usize; program.relations.len()];
        let mut derived: Vec<(RelId, &CoreRule)> = vec![];
        for &rel in needed {
            if let RelKind::Derived(rule) = &program.relations[rel].kind {
                level[rel] = 1 + rule
                    .dependencies()
                    .iter()
                    .map(|&d| level[d])
                    .max()
                    .unwrap_or(0);
                derived.push((rel, rule));
            }
        }
        let parallel = in_pool();
        let mut done: Vec<(RelId, &CoreRule)> = vec![];
        let top = derived.iter().map(|&(r, _)| level[r]).max().unwrap_or(0);
        for l in 1..=top {
            let batch: Vec<(RelId, &CoreRule)> = derived
                .iter()
                .copied()
                .filter(|&(r, _)| level[r] == l)
                .collect();
            let this = &*self;
            let twins: Vec<Option<RelId>> = batch
                .iter()
                .map(|&(_, rule)| {
                    done.iter()
                        .find(|&&(_, earlier)| this.same_grounding(rule, earlier))
                        .map(|&(r, _)| r)
                })
                .collect();
            let ground = |(&(rel, rule), twin): (&(RelId, &CoreRule), &Option<RelId>)| match twin {
                Some(t) => Ok(this.copy_of(*t, rule, program)),
                None => this.ground_rule(program, rel, rule, true),
            };
            let grounded: Vec<(GroundRelation, GroundRule)> = if parallel && batch.len() > 1 {
                batch.par_iter().zip(&twins).map(ground).collect::<R<_>>()?
            } else {
                batch.iter().zip(&twins).map(ground).collect::<R<_>>()?
            };
            done.extend(batch.iter().copied());
            for (&(rel, _), (relation, ground)) in batch.iter().zip(grounded) {
                self.relations[rel] = Some(relation);
                self.rules[rel] = Some(ground);
            }
            let names: Vec<&str> = batch
                .iter()
                .map(|&(r, _)| &*program.relations[r].name)
                .collect();
            crate::trace(self.trace, &format!("  rules {}", names.join(", ")), &mut t);
        }
        self.release_given();
        Ok(())
    }

    fn load_input(
        &self,
        program: &Program,
        db: &Database,
        rel: RelId,
    ) -> R<std::sync::Arc<nrp_data::BoundRelation>> {
        if let Some(b) = self.lifted.relations.get(rel).and_then(Option::clone) {
            return Ok(b);
        }
        let r = &program.relations[rel];
        let RelKind::Input(b) = &r.kind else {
            unreachable!("inputs only")
        };
        let table = b.table.as_deref().unwrap_or(&r.name);
        db.bind(table, b.terms, b.embedding)
            .map_err(|e| Diagnostic::error(e.message, r.span))
    }

    /// Rows sorted by content, so that every relation has the same row order convention.
    /// Returns the permutation: row `r` of the sorted relation is fact `perm[r]`.
    fn sort_input(&mut self, rel: RelId, bound: &nrp_data::BoundRelation) -> Vec<u32> {
        let r = self.relations[rel].as_mut().expect("loaded");
        let dict = &self.dict;
        // Content order is rank order (the dictionary is frozen): compare integers, and
        // skip the sort for tables stored in order already (ids, then dimensions).
        let ranks: Vec<Vec<u32>> = r
            .cols
            .iter()
            .map(|c| c.iter().map(|&id| dict.rank(id).expect("frozen")).collect())
            .collect();
        let key_cmp = |a: usize, b: usize| {
            ranks
                .iter()
                .map(|c| c[a].cmp(&c[b]))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        let sorted = (1..r.len).all(|i| key_cmp(i - 1, i).is_le());
        let perm: Vec<u32> = if sorted {
            (0..r.len as u32).collect()
        } else {
            let mut perm: Vec<u32> = (0..r.len as u32).collect();
            perm.sort_unstable_by(|&a, &b| key_cmp(a as usize, b as usize));
            for c in r.cols.iter_mut() {
                *c = perm.iter().map(|&p| c[p as usize]).collect();
            }
            perm
        };
        if bound.dim > 0 {
            let mut e = Vec::with_capacity(r.len * bound.dim);
            for &p in &perm {
                // f32 as the plan's constants hold them (half the memory of the f64 table).
                e.extend(bound.emb(p as usize).iter().map(|&x| x as f32));
            }
            self.input_embeddings[rel] = Some(e);
        }
        perm
    }

    fn intern_constants(&mut self, rule: &CoreRule) {
        for t in rule.head() {
            if let HeadTerm::Const(c) = t {
                self.dict.intern(c);
            }
        }
        for (body, _) in rule.bodies() {
            // Filter arithmetic reads values, not ids: only plain sides are interned.
            let terms = body.atoms.iter().flat_map(|a| a.terms.iter()).chain(
                body.filters
                    .iter()
                    .flat_map(|f| [f.lhs.term(), f.rhs.term()])
                    .flatten(),
            );
            for t in terms {
                if let Term::Const(c) = t {
                    self.dict.intern(c);
                }
            }
        }
    }

    /// Frees what only planning reads — the match lists and the input embeddings (the plan
    /// has its CSRs and constants by now): on a 2 M-edge graph they are the largest thing
    /// held. [`Ground::matches`] rebuilds a match list on demand.
    pub fn release_planned(&mut self) {
        for m in self
            .rules
            .iter_mut()
            .flatten()
            .flat_map(|r| r.bodies.iter_mut())
        {
            *m = Matches::default();
        }
        self.input_embeddings.iter_mut().for_each(|e| *e = None);
    }

    /// The match list of body `b` of relation `rel`'s rule, re-grounded (deterministically:
    /// the same rows in the same order) when [`Ground::release_planned`] freed it. For error
    /// messages, which are rare.
    pub fn matches(
        &self,
        program: &Program,
        rel: RelId,
        b: usize,
    ) -> Option<std::borrow::Cow<'_, Matches>> {
        let gr = self.rules[rel].as_ref()?;
        let kept = gr.bodies.get(b)?;
        if kept.len() == gr.reports.get(b)?.matches {
            return Some(std::borrow::Cow::Borrowed(kept));
        }
        let RelKind::Derived(rule) = &program.relations[rel].kind else {
            return None;
        };
        let (_, mut again) = self.ground_rule(program, rel, rule, false).ok()?;
        (b < again.bodies.len()).then(|| std::borrow::Cow::Owned(again.bodies.swap_remove(b)))
    }

    /// Whether `rule` grounds to what the grounded `earlier` did: the same head and bodies
    /// (terms, filters, recorded variables) over relations of equal content. Layers of a GCN
    /// read one normalised adjacency through feature relations of the same nodes: the
    /// second layer's match list of millions is then a copy, not a join.
    fn same_grounding(&self, rule: &CoreRule, earlier: &CoreRule) -> bool {
        let (a, b) = (rule.bodies(), earlier.bodies());
        let same_content = |x: RelId, y: RelId| {
            x == y
                || matches!(
                    (&self.relations[x], &self.relations[y]),
                    (Some(p), Some(q)) if p.len == q.len && p.cols == q.cols
                )
        };
        rule.head() == earlier.head()
            && a.len() == b.len()
            && a.iter().zip(&b).all(|(&(x, ex), &(y, ey))| {
                x.vars.len() == y.vars.len()
                    && x.filters == y.filters
                    && x.atoms.len() == y.atoms.len()
                    && x.atoms
                        .iter()
                        .zip(&y.atoms)
                        .all(|(p, q)| p.terms == q.terms && same_content(p.rel, q.rel))
                    && recorded(rule.head(), x, ex) == recorded(earlier.head(), y, ey)
            })
    }

    /// The grounding of `rule`, copied from its twin `earlier` (see `same_grounding`);
    /// explain's variable order is named in `rule`'s words.
    fn copy_of(
        &self,
        earlier: RelId,
        rule: &CoreRule,
        program: &Program,
    ) -> (GroundRelation, GroundRule) {
        let mut g = self.rules[earlier].clone().expect("grounded");
        let RelKind::Derived(twin) = &program.relations[earlier].kind else {
            unreachable!("a derived relation")
        };
        // A copy is held as much as the original.
        for (m, (body, expr)) in g.bodies.iter().zip(twin.bodies()) {
            let bytes = estimate::body_bytes_per_match(twin, body, expr).held;
            self.held.fetch_add(bytes * m.len() as u64, Relaxed);
        }
        for ((report, (body, _)), (twin_body, _)) in
            g.reports.iter_mut().zip(rule.bodies()).zip(twin.bodies())
        {
            for name in &mut report.var_order {
                if let Some(v) = twin_body.vars.iter().position(|n| n == name) {
                    *name = body.vars[v].clone();
                }
            }
        }
        (self.relations[earlier].clone().expect("grounded"), g)
    }

    /// Grounds `rule` (of relation `rel`) within the budget (`guarded`; re-grounding for a
    /// message is not), adding its match lists to what is held.
    fn ground_rule(
        &self,
        program: &Program,
        rel: RelId,
        rule: &CoreRule,
        guarded: bool,
    ) -> R<(GroundRelation, GroundRule)> {
        let head = rule.head();
        let k = head.len();
        let id = |c: &Value| {
            self.dict
                .id(c)
                .expect("constants are interned before grounding")
        };
        let mut bodies = vec![];
        let mut reports = vec![];
        for (body, expr) in rule.bodies() {
            let record = recorded(head, body, expr);
            let atoms: Vec<&GroundRelation> = body
                .atoms
                .iter()
                .map(|a| {
                    self.relations[a.rel]
                        .as_ref()
                        .expect("dependencies are grounded first")
                })
                .collect();
            let consts: Vec<Vec<Option<u32>>> = body
                .atoms
                .iter()
                .map(|a| {
                    a.terms
                        .iter()
                        .map(|t| {
                            if let Term::Const(c) = t {
                                Some(id(c))
                            } else {
                                None
                            }
                        })
                        .collect()
                })
                .collect();
            let bytes = estimate::body_bytes_per_match(rule, body, expr);
            let guard = if guarded {
                join::Guard {
                    budget: self.budget,
                    held: &self.held,
                    bytes_per_match: bytes.total(),
                }
            } else {
                join::Guard::unlimited(&self.held)
            };
            let given = self.given(rel, bodies.len());
            let (m, report) = join::join(body, &atoms, &consts, &record, &self.dict, &guard, given)
                .map_err(|o| self.overrun(program, rel, body, bytes.total(), o))?;
            if guarded {
                self.held.fetch_add(bytes.held * m.len() as u64, Relaxed);
            }
            bodies.push(m);
            reports.push(report);
        }
        // The head tuple of every match (flat), then matches ordered by content rank.
        let total: usize = bodies.iter().map(Matches::len).sum();
        let mut ids = Vec::with_capacity(total * k);
        for m in &bodies {
            for i in 0..m.len() {
                for t in head {
                    ids.push(match t {
                        HeadTerm::Var(v) => m.vars[*v][i],
                        HeadTerm::Const(c) => id(c),
                    });
                }
            }
        }
        let ranks: Vec<u32> = ids
            .iter()
            .map(|&x| self.dict.rank(x).expect("every value is ranked"))
            .collect();
        let head::HeadRows {
            cols,
            head_row,
            rows,
        } = head::head_rows(&ids, &ranks, k, total, self.dict.len());
        let mut offset = 0;
        for m in &mut bodies {
            let len = m.len();
            sort_by_head(m, &head_row[offset..offset + len], rows);
            offset += len;
        }
        Ok((
            GroundRelation {
                arity: k,
                cols,
                len: rows,
            },
            GroundRule { bodies, reports },
        ))
    }

    /// A join that the budget has no room for, as the user reads it: which rule, how many
    /// matches (estimated, or found so far), what they take and what the limit is.
    fn overrun(
        &self,
        program: &Program,
        rel: RelId,
        body: &nrp_sema::Body,
        bytes_per_match: u64,
        overrun: join::Overrun,
    ) -> Diagnostic {
        let name = estimate::user_name(program, rel);
        let span = estimate::body_span(program, rel, body);
        let room = |max: usize| estimate::Room {
            max,
            ..estimate::Room::new(self.budget, self.held(), bytes_per_match)
        };
        match overrun {
            join::Overrun::Estimate { estimate, max } => {
                estimate::over_estimate(program, rel, body, &estimate, &room(max))
            }
            join::Overrun::Grounded {
                matches,
                estimate,
                max,
            } => Diagnostic::error(
                format!(
                    "grounding the rule for `{name}` stopped after {matches} matches ({}), {}",
                    format_bytes_f64(matches as f64 * bytes_per_match as f64),
                    room(max).too_many()
                ),
                span,
            )
            .with_label(format!(
                "estimated {} matches, found more",
                format_count(estimate)
            ))
            .with_note(room(max).note()),
            join::Overrun::NotNumeric { var, atom, row } => {
                let a = &body.atoms[atom];
                let rel = self.relations[a.rel].as_ref().expect("grounded");
                let tuple = row_values(&self.dict, rel, row as usize);
                let position = a
                    .terms
                    .iter()
                    .position(|t| *t == Term::Var(var))
                    .expect("the atom binds the variable");
                nrp_sema::arithmetic_on_string(
                    body,
                    var,
                    &program.relations[a.rel].name,
                    position,
                    &tuple,
                )
            }
            join::Overrun::Given(message) => Diagnostic::error(message, span),
            join::Overrun::Alloc { matches, bytes } => Diagnostic::error(
                format!(
                    "out of memory grounding the rule for `{name}`: cannot allocate {} after {matches} matches",
                    format_bytes(bytes)
                ),
                span,
            )
            .with_note(format!(
                "the memory limit is {}; a smaller `--memory-limit` stops grounding before memory runs out",
                format_bytes(self.budget)
            )),
        }
    }
}

/// `record[v]`: whether body variable `v` is read after grounding (named, or read by the
/// head, a filter or the expression): a wildcard nothing reads keeps no column.
pub(crate) fn recorded(
    head: &[HeadTerm],
    body: &nrp_sema::Body,
    expr: Option<&nrp_sema::Expr>,
) -> Vec<bool> {
    let mut record: Vec<bool> = body.vars.iter().map(|n| !n.starts_with('_')).collect();
    let mut read = |t: &Term| {
        if let Term::Var(v) = t {
            record[*v] = true;
        }
    };
    for f in &body.filters {
        for v in f.vars() {
            read(&Term::Var(v));
        }
    }
    if let Some(e) = expr {
        e.walk(&mut |e| {
            if let nrp_sema::ExprKind::Encode(items, ..) = &e.kind {
                items.iter().for_each(&mut read);
            }
        });
    }
    for t in head {
        if let HeadTerm::Var(v) = t {
            record[*v] = true;
        }
    }
    record
}

/// Whether grounding may use rayon: only inside a pool (the backend's, sized by
/// `--threads`), never rayon's global pool of every core.
pub(crate) fn in_pool() -> bool {
    rayon::current_thread_index().is_some()
}

/// The threads grounding may use: the pool's inside one, else one.
pub(crate) fn pool_threads() -> usize {
    nrp_tensor::Cpu::current().threads()
}

/// `starts[b]..starts[b + 1]`: where bucket `b` lands in a stable counting sort of `keys`
/// (each below `buckets`).
pub(crate) fn bucket_starts(keys: impl Iterator<Item = u32>, buckets: usize) -> Vec<u32> {
    let mut starts = vec![0u32; buckets + 1];
    for k in keys {
        starts[k as usize + 1] += 1;
    }
    for b in 0..buckets {
        starts[b + 1] += starts[b];
    }
    starts
}

/// Orders a match list by head row, keeping the join's order within one head (a stable
/// counting sort).
fn sort_by_head(m: &mut Matches, head: &[u32], rows: usize) {
    use rayon::prelude::*;
    if head.windows(2).all(|w| w[0] <= w[1]) {
        m.head = head.to_vec();
        return;
    }
    let mut start = bucket_starts(head.iter().copied(), rows);
    m.head = Vec::with_capacity(head.len());
    for r in 0..rows {
        m.head.resize(start[r + 1] as usize, r as u32);
    }
    let mut perm = vec![0u32; head.len()];
    for (i, &h) in head.iter().enumerate() {
        perm[start[h as usize] as usize] = i as u32;
        start[h as usize] += 1;
    }
    // Each column is an independent gather of millions of values.
    let apply = |v: &mut Vec<u32>| *v = perm.iter().map(|&p| v[p as usize]).collect();
    let cols = m
        .rows
        .iter_mut()
        .chain(m.vars.iter_mut().filter(|v| !v.is_empty()));
    if in_pool() {
        cols.collect::<Vec<_>>().into_par_iter().for_each(apply);
    } else {
        cols.for_each(apply);
    }
}

/// The content values of a row, for output.
pub fn row_values(dict: &Dict, rel: &GroundRelation, row: usize) -> Vec<Value> {
    rel.cols
        .iter()
        .map(|c| dict.value(c[row]).clone())
        .collect()
}
