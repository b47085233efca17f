//! The nrp engine: ground once, then run fused kernels every epoch (DESIGN.md).
//!
//! `Engine::new` grounds the relations a run needs (`ground`), builds the tensor plan over
//! the match lists and optimises it (`plan`); `exec` records the plan on an autodiff tape;
//! `train` runs `?fit`.

pub mod decode;
mod eliminate;
pub mod estimate;
pub mod exec;
pub mod ground;
mod intern;
pub mod plan;
pub mod train;

pub use exec::{ExecError, Params};
pub use ground::sql::GroundMode;
pub use intern::Dict;

use ground::Ground;
use nrp_data::{Database, Value};
use nrp_sema::{Program, RelId};
use nrp_syntax::Diagnostic;
use nrp_tensor::{BufferPool, Cpu, Graph};
use plan::{Plan, Space};
use std::time::Instant;

/// Hands the heap's free pages back to the OS. glibc serves blocks below its (adaptive,
/// up to 32 MiB) mmap threshold from the heap and keeps them when freed: the match lists
/// of a 2 M-edge graph, freed after planning, would otherwise stay in the process's
/// resident memory for the whole of training.
fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's `malloc_trim` only releases memory that is free.
        unsafe { malloc_trim(0) };
    }
}

pub struct Engine<'p> {
    /// The program as run: the checked one, with acyclic sums pushed down into
    /// intermediate relations (`eliminate`); relation ids of the original stay valid.
    pub program: std::borrow::Cow<'p, Program>,
    pub ground: Ground,
    pub plan: Plan,
    /// The relations the run needs (targets of the plan).
    pub rels: Vec<RelId>,
    /// Seconds spent reading, grounding and constant folding.
    pub load_seconds: f64,
    /// The memory budget in bytes (`u64::MAX`: none).
    pub budget: u64,
    /// Bytes the tables and match lists took at grounding (as the budget counts them).
    pub grounding_bytes: u64,
    /// What the per-epoch tensors take.
    pub epoch_memory: plan::EpochMemory,
    /// The options it was built with (training reads `profile`).
    pub options: EngineOptions,
}

/// How an engine is built and trains, beyond the program and the data: the rewrites to
/// skip and the diagnostics to print. The library reads no environment variable; the
/// command line fills this from `NRP_DISABLE_RULES`, `NRP_TRACE` and `NRP_PROFILE`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Rewrites to skip: names of [`plan::rules::ORDER`] and of
    /// [`plan::rules::OTHER_RULES`] (`eliminate`), as [`plan::rules::parse_disabled`] reads
    /// them. Every rewrite is an optimisation: results stay the same without it.
    pub disabled_rules: Vec<&'static str>,
    /// Stage timings (and resident memory) on stderr while the engine is built.
    pub trace: bool,
    /// Times every plan node while training and prints the `n` most expensive at the end
    /// of each fit (stderr).
    pub profile: Option<usize>,
    /// Where rule bodies over input relations are joined (`--ground`).
    pub ground: ground::sql::GroundMode,
    /// Writes the SQL of SQL grounding even when not grounding in SQL (`explain --sql`).
    pub show_sql: bool,
    /// Code tables of categorical encoders from a checkpoint (`nrp_sema::codes`); the
    /// engine builds the others from the data ([`Engine::codes`]).
    pub codes: nrp_sema::codes::Codes,
}

impl EngineOptions {
    /// Whether the rewrite `name` is switched off.
    pub fn disabled(&self, name: &str) -> bool {
        self.disabled_rules.contains(&name)
    }
}

/// The program as the engine grounds it: acyclic sums pushed down into intermediate
/// relations (`eliminate`) unless `options` disable `eliminate`.
pub fn grounded_program<'p>(
    program: &'p Program,
    options: &EngineOptions,
) -> std::borrow::Cow<'p, Program> {
    if options.disabled("eliminate") {
        std::borrow::Cow::Borrowed(program)
    } else {
        std::borrow::Cow::Owned(eliminate::eliminate(program))
    }
}

/// A relation's facts: content values (sorted) and f32 embeddings (row-major).
pub struct Output {
    pub arity: usize,
    pub dim: usize,
    pub rows: Vec<Vec<Value>>,
    pub embeddings: Vec<f32>,
    /// For a `count(...)` relation, the exact counts (the f32 embeddings round above 2^24).
    pub counts: Option<Vec<u64>>,
}

impl Output {
    /// Row `i`'s embedding as output text: shortest round-trip floats, and a `count(...)`
    /// relation's exact integer count.
    pub fn formatted(&self, i: usize) -> Vec<String> {
        if let Some(c) = &self.counts {
            return vec![format!("{}.0", c[i])];
        }
        self.embeddings[i * self.dim..(i + 1) * self.dim]
            .iter()
            .map(|&x| nrp_data::format_f32(x))
            .collect()
    }
}

impl<'p> Engine<'p> {
    /// Grounds and plans everything the relations `rels` depend on (no memory budget).
    pub fn new(
        program: &'p Program,
        db: &Database,
        rels: &[RelId],
    ) -> Result<Engine<'p>, Diagnostic> {
        Engine::with_budget(program, db, rels, u64::MAX)
    }

    /// [`Engine::new`] within a memory budget of `budget` bytes: a rule whose estimated
    /// match list does not fit is refused before it is grounded, grounding stops when the
    /// matches found pass the budget, and a plan whose tensors (folded constants, or those
    /// of one epoch) do not fit is refused before they are allocated.
    pub fn with_budget(
        program: &'p Program,
        db: &Database,
        rels: &[RelId],
        budget: u64,
    ) -> Result<Engine<'p>, Diagnostic> {
        Engine::with_options(program, db, rels, budget, &EngineOptions::default())
    }

    /// [`Engine::with_budget`] with [`EngineOptions`] (rewrites to skip, tracing).
    pub fn with_options(
        program: &'p Program,
        db: &Database,
        rels: &[RelId],
        budget: u64,
        options: &EngineOptions,
    ) -> Result<Engine<'p>, Diagnostic> {
        Engine::build(program, rels, budget, options, |p, rels| {
            Ground::read(p, db, rels, options, budget)
        })
    }

    /// [`Engine::new`] taking the database, whose tables are freed as soon as the input
    /// relations are read: grounding and planning then have that memory (the tables of a
    /// 2 M-edge graph are the size of its match lists).
    pub fn from_database(
        program: &'p Program,
        db: Database,
        rels: &[RelId],
        budget: u64,
        options: &EngineOptions,
    ) -> Result<Engine<'p>, Diagnostic> {
        let on = options.trace;
        Engine::build(program, rels, budget, options, move |p, rels| {
            let inputs = Ground::read(p, &db, rels, options, budget);
            let mut t = Instant::now();
            drop(db);
            trace(on, "  free the tables", &mut t);
            inputs
        })
    }

    fn build(
        program: &'p Program,
        rels: &[RelId],
        budget: u64,
        options: &EngineOptions,
        read: impl FnOnce(&mut std::borrow::Cow<'p, Program>, &[RelId]) -> Result<Ground, Diagnostic>,
    ) -> Result<Engine<'p>, Diagnostic> {
        let start = Instant::now();
        let mut t = Instant::now();
        let on = options.trace;
        let mut program = grounded_program(program, options);
        // Reading may make relations the database computed inputs of the program.
        let mut ground = read(&mut program, rels)?;
        let needed = program.closure(rels);
        ground.budget = budget;
        ground.derive(&program, &needed)?;
        let grounding_bytes = ground.held();
        trace(on, "ground", &mut t);
        // Embeddings are planned only where read: a relation needed for its content alone
        // computes none (nor raises their errors, as the reference does).
        let read = program.embeddings_read(rels);
        let embedded: Vec<RelId> = needed.iter().copied().filter(|&r| read[r]).collect();
        let mut plan = plan::build(&program, &mut ground, &embedded, &options.codes)?;
        trace(on, "build plan", &mut t);
        plan::rules::optimize(&mut plan, &program, &ground, rels, options)?;
        t = Instant::now(); // each rewrite traced its own time
        let training = program
            .statements
            .iter()
            .any(|s| matches!(s, nrp_sema::Stmt::Fit { loss, .. } if rels.contains(loss)));
        let targets = plan::targets(&plan, rels);
        let epoch_memory = plan::check_epoch_memory(&plan, &program, &targets, training, budget)?;
        ground.release_planned();
        return_free_memory();
        trace(on, "free match lists and input embeddings", &mut t);
        Ok(Engine {
            program,
            ground,
            plan,
            rels: rels.to_vec(),
            load_seconds: start.elapsed().as_secs_f64(),
            budget,
            grounding_bytes,
            epoch_memory,
            options: options.clone(),
        })
    }

    /// Evaluates relations in evaluation mode (no dropout, no gradients).
    pub fn evaluate(
        &self,
        backend: &Cpu,
        params: &Params,
        rels: &[RelId],
    ) -> Result<Vec<Output>, Diagnostic> {
        self.evaluate_pooled(backend, params, rels, &mut BufferPool::new())
    }

    /// [`Engine::evaluate`] taking its buffers from `pool` and returning them there (the
    /// training loop evaluates every few epochs without asking the OS for fresh pages).
    pub fn evaluate_pooled(
        &self,
        backend: &Cpu,
        params: &Params,
        rels: &[RelId],
        pool: &mut BufferPool<f32>,
    ) -> Result<Vec<Output>, Diagnostic> {
        let mut g: Graph = Graph::with_pool(backend, std::mem::take(pool));
        g.set_training(false);
        // Decoded columns come from auxiliary relations, evaluated with their relation.
        let decoded: Vec<RelId> = rels
            .iter()
            .flat_map(|&r| self.program.relations[r].decodes.iter().map(|d| d.rel))
            .collect();
        let all: Vec<RelId> = rels.iter().copied().chain(decoded).collect();
        let targets = plan::targets(&self.plan, &all);
        let order = self.plan.topological(&targets);
        // Inside the pool: one hand-off for the whole evaluation instead of one per kernel.
        let vars = backend
            .install(|| {
                exec::forward(
                    &mut g,
                    &self.plan,
                    &self.program,
                    Some(params),
                    &order,
                    // Not training: no draws.
                    &mut nrp_tensor::CounterRng::new(0),
                )
            })
            .map_err(|e| self.error(e))?;
        let output = |r: RelId| {
            let rel = self.ground.relations[r].as_ref().expect("grounded");
            let dim = self.program.relations[r].dim.unwrap_or(0);
            let embeddings = match self.plan.relation[r] {
                Some(n) => g.value(vars[n].expect("evaluated")).data.clone(),
                None => vec![],
            };
            let rows = (0..rel.len)
                .map(|i| ground::row_values(&self.ground.dict, rel, i))
                .collect();
            // The exact counts stand for the embeddings when no rewrite changed them.
            let counts = self.plan.counts.get(&r).filter(|c| {
                c.len() == embeddings.len()
                    && c.iter().zip(&embeddings).all(|(&n, &x)| n as f32 == x)
            });
            Output {
                arity: rel.arity,
                dim,
                rows,
                counts: counts.map(|c| c.to_vec()),
                embeddings,
            }
        };
        let outputs = rels
            .iter()
            .map(|&r| {
                let mut o = output(r);
                let decodes = &self.program.relations[r].decodes;
                if !decodes.is_empty() {
                    let parts: Vec<(usize, Output)> =
                        decodes.iter().map(|d| (d.pos, output(d.rel))).collect();
                    decode::merge(&mut o, &parts);
                }
                o
            })
            .collect();
        *pool = g.into_pool();
        Ok(outputs)
    }

    /// The code tables the engine used: those of [`EngineOptions::codes`] and those it
    /// built from the data (to save with the weights).
    pub fn codes(&self) -> &nrp_sema::codes::Codes {
        &self.plan.codes
    }

    /// A kernel error as a located diagnostic naming the fact or match.
    pub fn error(&self, e: ExecError) -> Diagnostic {
        runtime_error(&self.program, &self.ground, &self.plan, e)
    }

    /// For a zero-ary relation (a metric) whose single body joins exactly one input table
    /// with derived relations: `(matches, table, facts of the table)` when fewer matches
    /// than the table's facts were found, i.e. the metric averages over only part of its
    /// labels (nodes without a prediction drop out of the join).
    pub fn coverage(&self, rel: RelId) -> Option<(usize, String, usize)> {
        let r = &self.program.relations[rel];
        let nrp_sema::RelKind::Derived(rule) = &r.kind else {
            return None;
        };
        let bodies = rule.bodies();
        let gr = self.ground.rules[rel].as_ref()?;
        if r.arity != 0 || bodies.len() != 1 || gr.reports.len() != 1 {
            return None;
        }
        let report = &gr.reports[0];
        let inputs: Vec<(usize, usize)> = bodies[0]
            .0
            .atoms
            .iter()
            .enumerate()
            .filter(|(_, a)| self.program.relations[a.rel].is_input())
            .map(|(i, a)| (i, a.rel))
            .collect();
        let [(atom, table)] = inputs[..] else {
            return None;
        };
        let size = *report.atom_sizes.get(atom)?;
        (bodies[0].0.atoms.len() > 1 && report.matches < size).then(|| {
            (
                report.matches,
                self.program.relations[table].name.clone(),
                size,
            )
        })
    }

    /// `nrp explain --sql`: each rule body's SQL statement, or why nrp joins it.
    pub fn explain_sql(&self) -> String {
        use std::fmt::Write;
        let mut out = String::from(
            "SQL grounding (relations the database computes; one statement per rule body over \
             tables):\n",
        );
        for &r in &self.program.closure(&self.rels) {
            let rel = &self.program.relations[r];
            if let Some(Some(Ok(sql))) = self.ground.lifted.statements.get(r) {
                let how = if self.ground.lifted.computed.get(r) == Some(&true) {
                    "computed by the database"
                } else {
                    "computed by the database with `--ground sql`"
                };
                let _ = writeln!(out, "  {}: {how}: {sql}", rel.name);
            } else if let Some(Some(Err(why))) = self.ground.lifted.statements.get(r) {
                let _ = writeln!(out, "  {}: computed by nrp: {why}", rel.name);
            }
            let pushed = &self.ground.sql[r];
            for (k, p) in pushed.iter().enumerate() {
                let branch = if pushed.len() > 1 {
                    format!(" (branch {})", k + 1)
                } else {
                    String::new()
                };
                let _ = match &p.statement {
                    Ok(sql) => writeln!(out, "  {}{branch}: {sql}", rel.name),
                    Err(why) => writeln!(out, "  {}{branch}: in nrp, {why}", rel.name),
                };
            }
        }
        out
    }

    /// `nrp explain`: the grounded rules with their cardinalities, then the tensor plan.
    pub fn explain(&self) -> String {
        use std::fmt::Write;
        let mut out = String::from(
            "grounding (generic join; sizes measured, matches also estimated before the join):\n",
        );
        for &r in &self.program.closure(&self.rels) {
            let rel = &self.program.relations[r];
            let facts = self.ground.relations[r].as_ref().map_or(0, |g| g.len);
            match &self.ground.rules[r] {
                None => {
                    let kind = if self.ground.lifted.is_lifted(r) {
                        "computed by the database (SQL)"
                    } else {
                        "input"
                    };
                    let _ = writeln!(out, "  {} — {kind}, {facts} facts", rel.name);
                }
                Some(gr) => {
                    let _ = writeln!(out, "  {} — {} facts", rel.name, facts);
                    let nrp_sema::RelKind::Derived(rule) = &rel.kind else {
                        continue;
                    };
                    for (k, ((body, _), report)) in
                        rule.bodies().into_iter().zip(&gr.reports).enumerate()
                    {
                        let atoms: Vec<String> = body
                            .atoms
                            .iter()
                            .zip(&report.atom_sizes)
                            .map(|(a, n)| format!("{} ({n})", self.program.relations[a.rel].name))
                            .collect();
                        let branch = if gr.bodies.len() > 1 {
                            format!("branch {}: ", k + 1)
                        } else {
                            String::new()
                        };
                        let _ = writeln!(
                            out,
                            "      {branch}{} ⋈ order [{}] → {} matches (estimated {})",
                            atoms.join(" ⋈ "),
                            report.var_order.join(", "),
                            report.matches,
                            nrp_data::memory::format_count(report.estimate)
                        );
                    }
                }
            }
        }
        let limit = if self.budget == u64::MAX {
            "no memory limit".to_string()
        } else {
            format!(
                "memory limit {}",
                nrp_data::memory::format_bytes(self.budget)
            )
        };
        let _ =
            writeln!(
                out,
                "\nmemory ({limit}): {} of tables and match lists at grounding, {} of tensors {}",
                nrp_data::memory::format_bytes(self.grounding_bytes),
                nrp_data::memory::format_bytes_f64(self.epoch_memory.bytes as f64),
                if self.program.statements.iter().any(
                    |s| matches!(s, nrp_sema::Stmt::Fit { loss, .. } if self.rels.contains(loss))
                ) {
                    "per epoch (values and gradients)"
                } else {
                    "to evaluate"
                }
            );
        out.push_str("\ntensor plan (per epoch; constants folded at grounding):\n");
        out.push_str(&plan::display::text(
            &self.plan,
            Some(&self.program),
            &plan::targets(&self.plan, &self.rels),
        ));
        out
    }
}

/// Stage timings on stderr when `on` ([`EngineOptions::trace`]; a profiling aid; restarts
/// the clock).
pub fn trace(on: bool, what: &str, t: &mut Instant) {
    if on {
        // Resident and peak memory (Linux), to see which stage holds what.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(String::from("?"), |v| format!("{:.0}", v / 1024.0))
        };
        eprintln!(
            "[trace] {what}: {:.2} ms (rss {} MB, peak {} MB)",
            t.elapsed().as_secs_f64() * 1e3,
            kb("VmRSS:"),
            kb("VmHWM:")
        );
    }
    *t = Instant::now();
}

/// "in a rule for `H`, at the match v = 1, w = 2" / "for the tuple H(1)".
pub fn locate(program: &Program, ground: &Ground, space: Space, row: usize) -> Option<String> {
    let user_name = |r: RelId| {
        program.relations[r]
            .name
            .split('#')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    match space {
        Space::One => None,
        Space::Facts(r) => {
            let rel = ground.relations[r].as_ref()?;
            (row < rel.len).then(|| {
                let vals: Vec<String> = ground::row_values(&ground.dict, rel, row)
                    .iter()
                    .map(quoted)
                    .collect();
                let tuple = format!("{}({})", user_name(r), vals.join(", "));
                // A relation the database computed is still one of the program's rules.
                if program.relations[r].is_input() && !ground.lifted.is_lifted(r) {
                    format!("for the fact {tuple}")
                } else {
                    format!("in a rule for `{}`, for the tuple {tuple}", user_name(r))
                }
            })
        }
        Space::Matches(r, b) => {
            let nrp_sema::RelKind::Derived(rule) = &program.relations[r].kind else {
                return None;
            };
            let (body, _) = rule.bodies().into_iter().nth(b)?;
            let m = ground.matches(program, r, b)?;
            if row >= m.len() {
                return None;
            }
            let vars: Vec<String> = body
                .vars
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.starts_with('_'))
                .map(|(v, n)| format!("{n} = {}", quoted(ground.dict.value(m.vars[v][row]))))
                .collect();
            Some(format!(
                "in a rule for `{}`, at the match {}",
                user_name(r),
                vars.join(", ")
            ))
        }
    }
}

/// The relation in whose rule an inline module (`<Head>.<n>`, LANGUAGE.md §3) is written.
fn owner(program: &Program, module: Option<nrp_sema::ModuleId>) -> Option<RelId> {
    let name = &program.modules[module?].name;
    let (head, n) = name.rsplit_once('.')?;
    n.parse::<usize>().ok()?;
    program.relation(head)
}

fn space_rel(space: Space) -> Option<RelId> {
    match space {
        Space::Facts(r) | Space::Matches(r, _) => Some(r),
        Space::One => None,
    }
}

/// A relation's name without the `#` suffix of desugared auxiliaries.
fn base_name(program: &Program, r: RelId) -> &str {
    program.relations[r]
        .name
        .split('#')
        .next()
        .unwrap_or_default()
}

fn quoted(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        v => v.to_string(),
    }
}

/// A kernel error as the user reads it: which module refused which value, and where.
pub fn runtime_error(program: &Program, ground: &Ground, plan: &Plan, e: ExecError) -> Diagnostic {
    let node = &plan.nodes[e.node];
    let (message, row) = match (&e.error, node.module) {
        (
            nrp_tensor::TensorError::Index {
                row, value, limit, ..
            },
            Some(m),
        ) => {
            let module = &program.modules[m];
            (
                format!(
                    "`{}` ({}) needs an integer index in 0..{limit}, got {}",
                    module.name,
                    module.kind.describe(),
                    Value::from_f64(*value)
                ),
                Some(*row),
            )
        }
        (
            nrp_tensor::TensorError::Domain {
                row,
                value,
                expected,
                ..
            },
            Some(m),
        ) => {
            let module = &program.modules[m];
            (
                format!(
                    "`{}` ({}) needs {expected}, got {}",
                    module.name,
                    module.kind.describe(),
                    nrp_data::format_f32(*value as f32)
                ),
                Some(*row),
            )
        }
        (err, _) => (err.to_string(), None),
    };
    let d = match node.span {
        Some(s) => Diagnostic::error(message, s),
        None => Diagnostic::global(message),
    };
    match row.and_then(|r| locate(program, ground, node.space, r)) {
        Some(note) => d.with_note(match (owner(program, node.module), space_rel(node.space)) {
            // A module on one atom's embedding runs once per fact of that atom (hoisted), so
            // the row is the atom's: say whose rule the failing expression is in.
            (Some(o), Some(r)) if base_name(program, o) != base_name(program, r) => {
                let inner = format!("in a rule for `{}`, ", base_name(program, r));
                format!(
                    "in a rule for `{}`, evaluated once per fact of `{}`, {}",
                    base_name(program, o),
                    base_name(program, r),
                    note.strip_prefix(&inner).unwrap_or(&note)
                )
            }
            _ => note,
        }),
        None => d,
    }
}
