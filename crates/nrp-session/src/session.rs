//! An incremental session, as RelaNN's `Session`: texts are given one after the other, and
//! each `run` adds its statements to what the session has (LANGUAGE.md, "Extensions":
//! sessions).
//!
//! - Definitions accumulate. A later text may redefine a constant, a named module, a
//!   template definition or a function (same name and template parameters): the new
//!   definition replaces the old one. A plain rule adds a union branch, as in one program
//!   text, unless the session already has the identical rule (a notebook cell run again).
//! - `?pred R …` evaluates `R`; a later `?pred` of the same head replaces the earlier one
//!   (it re-evaluates, it does not become a second union branch). A later `?fit` of the
//!   same loss head likewise replaces its rule, and trains again.
//! - `?fit` continues from the session's current weights (with a fresh optimiser, as each
//!   `?fit` of a program does).
//! - Parameters are kept by name: after a text is checked, every parameter of the program is
//!   initialised from the seed in program order (exactly as for the concatenated texts),
//!   then those the session already has with the same shape keep their value.
//! - Tables may be added or replaced between texts ([`Session::set_table`]); every run
//!   grounds afresh on the current tables.
//!
//! A text that fails to parse or check changes nothing. A failure while its statements
//! run keeps the weights (and history) of the fits that completed, not the text.

use crate::error::{Error, Result};
use crate::options::Options;
use crate::program::{self, render};
use nrp_data::{Database, Table};
use nrp_engine::train::{self, Epoch, FitReport, FitStart, Flow};
use nrp_engine::{Engine, Output, Params};
use nrp_params::{Checkpoint, ParamMap, ParamTensor};
use nrp_sema::{Program, RelId, Stmt};
use nrp_syntax::{Source, ast};
use std::path::Path;

/// One epoch of a fit, as [`Session::history`] keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// 0-based: the session's `?fit` statements in the order they ran.
    pub fit: usize,
    /// The loss relation's name.
    pub loss_name: String,
    /// 1-based epoch of that fit.
    pub epoch: usize,
    pub loss: f64,
    /// The zero-ary metrics evaluated after this epoch (empty when it was not evaluated).
    pub metrics: Vec<(String, f64)>,
    /// Milliseconds of the training step (forward, backward, optimiser step).
    pub step_ms: f64,
}

/// What one `run` produced.
#[derive(Default)]
pub struct RunReport {
    /// Each `?pred` of the text, in order: its name and facts.
    pub predictions: Vec<(String, Output)>,
    /// Each `?fit` of the text, in order.
    pub fits: Vec<FitReport>,
}

/// A text given to the session: its name in messages, and its statements as parsed alone
/// (spans into `text`).
#[derive(Clone)]
struct Chunk {
    name: String,
    text: String,
    statements: Vec<ast::Statement>,
}

pub struct Session {
    options: Options,
    backend: nrp_tensor::Cpu,
    db: Database,
    chunks: Vec<Chunk>,
    /// Current values of every parameter the session has seen (trained, loaded or set).
    params: ParamMap,
    history: Vec<EpochRecord>,
    fits: usize,
    runs: usize,
}

/// How a statement's place is taken by a later one.
#[derive(PartialEq)]
enum Key {
    /// `name = …`, `def name(…)`: same name and template parameters.
    Def(String),
    Function(String),
    Pred(String),
    Fit(String),
    /// A plain rule: only an identical rule is the same.
    Rule(Box<ast::Statement>),
}

fn key(s: &ast::Statement) -> Key {
    let bare = without_spans(s);
    match bare {
        ast::Statement::Def(d) => Key::Def(format!("{}{:?}", d.name.name, d.tparams)),
        ast::Statement::Function(f) => Key::Function(format!("{}{:?}", f.name.name, f.tparams)),
        ast::Statement::Pred(r) => Key::Pred(r.head.name.name),
        ast::Statement::Fit(f) => Key::Fit(f.rule.head.name.name),
        rule @ ast::Statement::Rule(_) => Key::Rule(Box::new(rule)),
    }
}

fn without_spans(s: &ast::Statement) -> ast::Statement {
    let mut s = s.clone();
    s.for_each_span(&mut |span| *span = Default::default());
    s
}

/// The head name of a statement that runs (`?pred`, `?fit`).
fn statement_head(s: &ast::Statement) -> Option<&str> {
    match s {
        ast::Statement::Pred(r) => Some(&r.head.name.name),
        ast::Statement::Fit(f) => Some(&f.rule.head.name.name),
        _ => None,
    }
}

impl Session {
    /// A session over `db`: starts the worker threads (a count above the cores is returned
    /// as a warning by [`crate::threads::backend`]; here the caller decides and passes the
    /// backend).
    pub fn new(db: Database, options: Options, backend: nrp_tensor::Cpu) -> Session {
        Session {
            options,
            backend,
            db,
            chunks: vec![],
            params: ParamMap::new(),
            history: vec![],
            fits: 0,
            runs: 0,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Adds a table, or replaces the table of that name (the source is never written).
    pub fn set_table(&mut self, table: Table) {
        self.db.set_table(table);
    }

    /// Every epoch of every fit so far.
    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    /// The session's current parameters by name (PyTorch shapes).
    pub fn parameters(&self) -> &ParamMap {
        &self.params
    }

    /// Sets parameters by name. A name the session knows must keep its shape; names it does
    /// not know yet are kept for the modules defined later. Nothing changes on an error.
    pub fn set_parameters(&mut self, values: ParamMap) -> Result<()> {
        for (name, t) in &values {
            let expected: usize = t.shape.iter().product();
            if t.data.len() != expected {
                return Err(format!(
                    "parameter `{name}`: {} values for shape {:?}",
                    t.data.len(),
                    t.shape
                )
                .into());
            }
            if let Some(old) = self.params.get(name)
                && old.shape != t.shape
            {
                return Err(format!(
                    "parameter `{name}` has shape {:?}, not {:?}",
                    old.shape, t.shape
                )
                .into());
            }
        }
        self.params.extend(values);
        Ok(())
    }

    /// Writes the current parameters to a safetensors file (atomically; the names and
    /// shapes of PyTorch, as `nrp run --save` writes them).
    pub fn save(&self, path: &Path) -> Result<()> {
        let target = nrp_params::resolve_save_target(path)?;
        Checkpoint {
            weights: self.params.clone(),
            progress: None,
            codes: self.options.engine.codes.clone(),
        }
        .write(&target)
        .map_err(|e| format!("cannot save {}: {e}", path.display()).into())
    }

    /// Reads parameters from a safetensors file (optimiser state ignored), as
    /// [`Session::set_parameters`].
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let mut values = nrp_params::read_safetensors(path).map_err(|e| Error::from(e.message))?;
        values.retain(|k, _| !k.starts_with(nrp_params::OPTIMIZER_PREFIX));
        let codes = nrp_params::read_codes_file(path).map_err(Error::from)?;
        self.set_parameters(values)?;
        self.options.engine.codes = codes;
        Ok(())
    }

    /// The session's texts as one source, and its program (statements in the order given).
    fn assemble(&self, extra: Option<&Chunk>) -> (Source, ast::Program, Vec<usize>) {
        let chunks: Vec<&Chunk> = self.chunks.iter().chain(extra).collect();
        let parts: Vec<(&str, &str)> = chunks
            .iter()
            .map(|c| (c.name.as_str(), c.text.as_str()))
            .collect();
        let (source, offsets) = Source::concat(&parts);
        let mut statements = vec![];
        for (c, &offset) in chunks.iter().zip(&offsets) {
            for s in &c.statements {
                let mut s = s.clone();
                s.for_each_span(&mut |span| {
                    span.start += offset;
                    span.end += offset;
                });
                statements.push(s);
            }
        }
        (source, ast::Program { statements }, offsets)
    }

    /// Every parameter of `program`: the session's value where it has one of that shape,
    /// else initialised from the seed (in program order, as for one text).
    fn values_for(&self, program: &Program) -> Result<ParamMap> {
        let mut values = crate::params::init(program, self.options.seed)?;
        for (name, t) in values.iter_mut() {
            if let Some(old) = self.params.get(name)
                && old.shape == t.shape
            {
                *t = old.clone();
            }
        }
        Ok(values)
    }

    /// Runs a text: adds its definitions and runs its `?fit` and `?pred` statements in order
    /// (see the module's documentation for redefinitions). `name` is what messages call the
    /// text (default `<run N>`). After every epoch `control` is asked whether to go on;
    /// [`Flow::Stop`] ends the fit after that epoch, keeps its weights, and fails with an
    /// [`Error`] marked `interrupted`.
    pub fn run(
        &mut self,
        text: &str,
        name: Option<&str>,
        control: &mut dyn FnMut(&Epoch) -> Flow,
    ) -> Result<RunReport> {
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| format!("<run {}>", self.runs + 1));
        let text = text.strip_prefix('\u{feff}').unwrap_or(text).to_string();
        let own = Source::new(name.clone(), text.clone());
        let parsed = program::parse(&own)?;
        // What the text replaces, and the rules the session has already.
        let mut kept = self.chunks.clone();
        let mut statements = vec![];
        for s in parsed.statements {
            match key(&s) {
                Key::Rule(rule) => {
                    let known = kept
                        .iter()
                        .flat_map(|c| &c.statements)
                        .any(|e| matches!(key(e), Key::Rule(r) if r == rule));
                    if known {
                        continue;
                    }
                }
                k => {
                    for c in &mut kept {
                        c.statements.retain(|e| key(e) != k);
                    }
                }
            }
            statements.push(s);
        }
        let chunk = Chunk {
            name,
            text,
            statements,
        };
        let runs: Vec<&ast::Statement> = chunk
            .statements
            .iter()
            .filter(|s| statement_head(s).is_some())
            .collect();
        let has_fit = runs.iter().any(|s| matches!(s, ast::Statement::Fit(_)));
        let before = std::mem::replace(&mut self.chunks, kept);
        let (source, ast, offsets) = self.assemble(Some(&chunk));
        let start = *offsets.last().expect("the new text is a part");
        // Bind the tables of what the text runs (metrics too, when it trains), or else of
        // the relations it defines.
        let mut targets: Vec<&str> = runs.iter().filter_map(|s| statement_head(s)).collect();
        if has_fit {
            targets.extend(ast.statements.iter().filter_map(|s| match s {
                ast::Statement::Pred(r) if r.head.terms.is_empty() => {
                    Some(r.head.name.name.as_str())
                }
                _ => None,
            }));
        }
        if targets.is_empty() {
            targets.extend(chunk.statements.iter().filter_map(|s| match s {
                ast::Statement::Rule(r) => Some(r.head.name.name.as_str()),
                _ => None,
            }));
        }
        let checked = self
            .backend
            .install(|| program::check_for(&source, &ast, &self.db, &targets, &self.options));
        let program = match checked.and_then(|p| self.values_for(&p).map(|v| (p, v))) {
            Ok(p) => p,
            Err(e) => {
                self.chunks = before;
                return Err(e);
            }
        };
        let (program, values) = program;
        let result = self.execute(&program, &source, values, start, control);
        match result {
            Ok(report) => {
                self.chunks.push(chunk);
                self.runs += 1;
                Ok(report)
            }
            Err(e) => {
                self.chunks = before;
                Err(e)
            }
        }
    }

    /// Runs the statements of `program` that start at or after byte `start` of `source`.
    fn execute(
        &mut self,
        program: &Program,
        source: &Source,
        values: ParamMap,
        start: usize,
        control: &mut dyn FnMut(&Epoch) -> Flow,
    ) -> Result<RunReport> {
        let stmt_start = |s: &Stmt| match s {
            Stmt::Fit { span, .. } | Stmt::Pred { span, .. } => span.start,
        };
        let new: Vec<&Stmt> = program
            .statements
            .iter()
            .filter(|s| stmt_start(s) >= start)
            .collect();
        let has_fit = new.iter().any(|s| matches!(s, Stmt::Fit { .. }));
        let metrics = if has_fit {
            train::metric_relations(program)
        } else {
            vec![]
        };
        let mut rels = program::statements_relations(new.iter().copied(), false);
        rels.extend(&metrics);
        rels.sort_unstable();
        rels.dedup();
        let mut report = RunReport::default();
        // The program's parameters are the session's from now on (new modules initialised).
        for (k, v) in &values {
            self.params.insert(k.clone(), v.clone());
        }
        if rels.is_empty() {
            return Ok(report);
        }
        let err = |d| render(Some(program), &self.options, source, d);
        let engine = self
            .backend
            .install(|| {
                Engine::with_options(
                    program,
                    &self.db,
                    &rels,
                    self.options.budget.bytes,
                    &self.options.engine,
                )
            })
            .map_err(err)?;
        // Code tables built now stay: later texts and `save` map strings the same way.
        let codes = engine.codes().clone();
        self.options.engine.codes = codes;
        let mut params = Params::new(program, &values);
        for stmt in new {
            match stmt {
                Stmt::Fit {
                    loss,
                    params: fp,
                    span,
                } => {
                    let fit = self.fits;
                    let loss_name = program.relations[*loss].name.clone();
                    let first = self.history.len();
                    let history = &mut self.history;
                    let fitted = train::fit_with(
                        &engine,
                        &self.backend,
                        &mut params,
                        *loss,
                        fp,
                        &metrics,
                        self.options.seed,
                        *span,
                        FitStart::default(),
                        &mut |e, _| {
                            history.push(EpochRecord {
                                fit,
                                loss_name: loss_name.clone(),
                                epoch: e.epoch,
                                loss: e.loss,
                                metrics: e.metrics.map(<[_]>::to_vec).unwrap_or_default(),
                                step_ms: f64::NAN,
                            });
                            control(e)
                        },
                    );
                    let fitted =
                        fitted.map_err(|d| render(Some(program), &self.options, source, d))?;
                    for (r, ms) in self.history[first..].iter_mut().zip(&fitted.step_ms) {
                        r.step_ms = *ms;
                    }
                    self.fits += 1;
                    for (k, v) in params.to_map(program) {
                        self.params.insert(k, v);
                    }
                    let interrupted = fitted.interrupted;
                    report.fits.push(fitted);
                    if interrupted {
                        return Err(Error::interrupted(format!(
                            "interrupted during training: ?fit {loss_name} stopped after epoch {}; its weights are kept\n",
                            self.history.last().map_or(0, |r| r.epoch)
                        )));
                    }
                }
                Stmt::Pred { rel, .. } => {
                    let o = self
                        .backend
                        .install(|| engine.evaluate(&self.backend, &params, &[*rel]))
                        .map_err(|d| render(Some(program), &self.options, source, d))?
                        .pop()
                        .expect("one relation");
                    report
                        .predictions
                        .push((program.relations[*rel].name.clone(), o));
                }
            }
        }
        Ok(report)
    }

    /// A derived relation as the session's program and current weights define it now, on
    /// the current tables.
    pub fn relation(&self, name: &str) -> Result<Output> {
        let (source, ast, _) = self.assemble(None);
        let program = self
            .backend
            .install(|| program::check_for(&source, &ast, &self.db, &[name], &self.options))?;
        let rel = program::user_relation(&program, name, &source)?;
        let values = self.values_for(&program)?;
        let err = |d| render(Some(&program), &self.options, &source, d);
        let engine = self
            .backend
            .install(|| {
                Engine::with_options(
                    &program,
                    &self.db,
                    &[rel],
                    self.options.budget.bytes,
                    &self.options.engine,
                )
            })
            .map_err(err)?;
        let params = Params::new(&program, &values);
        let o = self
            .backend
            .install(|| engine.evaluate(&self.backend, &params, &[rel]))
            .map_err(err)?;
        Ok(o.into_iter().next().expect("one relation"))
    }

    /// The session's program checked against every table, as `nrp check --db` reports it.
    pub fn check(&self) -> Result<String> {
        let (source, ast, _) = self.assemble(None);
        self.backend.install(|| {
            let program = program::check(&source, &ast, Some(&self.db), &self.options)?;
            let estimated =
                program::estimates(&program, &self.db, None, true, &source, &self.options)?;
            Ok(crate::report::check_report(
                &program,
                &source,
                Some(&estimated),
                true,
            ))
        })
    }

    /// The grounding and the tensor plan of the session's statements (or of every derived
    /// relation when it has none), as `nrp explain` prints them.
    pub fn explain(&self) -> Result<String> {
        let (source, ast, _) = self.assemble(None);
        self.backend.install(|| {
            let program = program::check(&source, &ast, Some(&self.db), &self.options)?;
            let engine = explain_engine(&program, &self.db, &self.options)
                .map_err(|d| render(Some(&program), &self.options, &source, d))?;
            Ok(engine.explain())
        })
    }

    /// The names of the session's texts, in order.
    pub fn texts(&self) -> Vec<&str> {
        self.chunks.iter().map(|c| c.name.as_str()).collect()
    }
}

/// The engine `explain` describes: the statements' relations, or every derived relation
/// when there are none.
pub fn explain_engine<'p>(
    program: &'p Program,
    db: &Database,
    options: &Options,
) -> std::result::Result<Engine<'p>, nrp_syntax::Diagnostic> {
    let rels = program::statement_relations(program, false);
    let rels: Vec<RelId> = if rels.is_empty() {
        program
            .order
            .iter()
            .copied()
            .filter(|&r| !program.relations[r].is_auxiliary())
            .collect()
    } else {
        rels
    };
    Engine::with_options(program, db, &rels, options.budget.bytes, &options.engine)
}

/// A parameter tensor from a shape and values (checked by [`Session::set_parameters`]).
pub fn tensor(shape: Vec<usize>, data: Vec<f32>) -> ParamTensor {
    ParamTensor { shape, data }
}
