//! `nrp run`: statements in program order (LANGUAGE.md §5) — `?fit` trains, `?pred`
//! evaluates: zero-ary results print as `Name = value`, others go to `--out DIR/Name.csv`.
//! With `--json` the last stdout line is one JSON object describing the run.

use super::open_db;
use crate::args::Args;
use crate::settings::{self, backend, parameters};
use crate::{CodedFailure, Failure, R, output, print_stdout};
use nrp_engine::train::{self, Epoch, FitReport, FitStart, Flow, median};
use nrp_engine::{Engine, Params};
use nrp_params::json::Value as Json;
use nrp_params::{Checkpoint, FitProgress};
use nrp_sema::{Program, RelId, Stmt};
use nrp_session::program::{self, statement_relations};
use nrp_tensor::OptimState;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// `TestAcc` → `test_acc`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Where the run's weights go: `--save` (checked before anything is loaded), or a rescue
/// file when an error or Ctrl-C would otherwise lose trained weights.
struct Saver {
    target: Option<std::path::PathBuf>,
    shown: String,
    every: Option<usize>,
    program_path: String,
}

impl Saver {
    fn new(args: &Args) -> R<Saver> {
        let target = args
            .value("save")
            .map(|p| nrp_params::resolve_save_target(Path::new(p)))
            .transpose()
            .map_err(Failure::from)?;
        let every = args.number::<usize>("save-every")?;
        match every {
            Some(0) => return Err("`--save-every` must be at least 1".to_string().into()),
            Some(_) if target.is_none() => {
                return Err(
                    "`--save-every N` writes to the file of `--save FILE`; give both"
                        .to_string()
                        .into(),
                );
            }
            _ => {}
        }
        Ok(Saver {
            target,
            shown: args.value("save").unwrap_or_default().to_string(),
            every,
            program_path: args.program.clone(),
        })
    }

    /// Saves to `--save`, if given.
    fn save(&self, checkpoint: &Checkpoint) -> R<bool> {
        let Some(path) = &self.target else {
            return Ok(false);
        };
        checkpoint
            .write(path)
            .map_err(|e| format!("cannot save --save {}: {e}", self.shown))?;
        Ok(true)
    }

    /// Saves to `--save`, or else to a rescue file next to the program's name in the
    /// current folder (the system's temporary folder when that is not writable); returns
    /// where the weights went.
    fn rescue(&self, checkpoint: &Checkpoint) -> Result<String, String> {
        if let Some(path) = &self.target {
            checkpoint.write(path)?;
            return Ok(self.shown.clone());
        }
        let stem = Path::new(&self.program_path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "nrp".into());
        let name = format!("{stem}.rescue.safetensors");
        let mut last_error = String::new();
        for dir in [std::path::PathBuf::from("."), std::env::temp_dir()] {
            let path = dir.join(&name);
            match nrp_params::resolve_save_target(&path).and_then(|p| checkpoint.write(&p)) {
                Ok(()) => return Ok(path.display().to_string()),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }
}

/// Weights and fit progress as a checkpoint.
fn checkpoint(
    program: &Program,
    engine: &Engine,
    params: &Params,
    progress: Option<(usize, usize, &str, &OptimState<f32>, u64)>,
) -> Checkpoint {
    Checkpoint {
        weights: params.to_map(program),
        codes: engine.codes().clone(),
        progress: progress.map(|(fit, epoch, optimizer, state, rng)| FitProgress {
            fit,
            epoch,
            optimizer: optimizer.to_string(),
            slots: state.slots.clone(),
            steps: state.steps.clone(),
            rng,
        }),
    }
}

pub fn run(args: &Args) -> Result<(), CodedFailure> {
    let start = Instant::now();
    let mut t = Instant::now();
    let budget = settings::budget(args)?;
    let (source, ast) = program::read_program(&args.program)?;
    // Every flag about weights is checked before the data is read: a bad --save path is
    // reported now, not after the training.
    let saver = Saver::new(args)?;
    let no_fit = args.flag("no-fit");
    let resume = match args.value("resume") {
        Some(_) if args.value("load").is_some() => {
            return Err(
                "give either `--resume FILE` (weights and optimiser state) or `--load FILE`, not both"
                    .to_string()
                    .into(),
            );
        }
        Some(_) if no_fit => {
            return Err("`--resume` continues training; `--no-fit` skips it"
                .to_string()
                .into());
        }
        Some(path) => Some(
            Checkpoint::read(Path::new(path))
                .map_err(|e| Failure::from(format!("--resume {e}")))?,
        ),
        None => None,
    };
    if no_fit && args.value("load").is_none() {
        return Err(
            "`--no-fit` evaluates trained weights: give them with `--load FILE`"
                .to_string()
                .into(),
        );
    }
    let write_db = args.value("write-db").map(std::path::PathBuf::from);
    if let Some(p) = &write_db {
        check_write_db(p, args)?;
    } else if args.flag("replace") {
        return Err(Failure::from("`--replace` goes with `--write-db FILE`".to_string()).into());
    }
    let backend = backend(args)?;
    // Tables are read, and the program grounded below, inside the backend's pool: loading
    // uses the threads asked for, and no more.
    let (db, program, options) = backend.install(|| {
        let db = open_db(args.required("db")?)?;
        let options = settings::options(args, &budget)?;
        settings::check_ground(&options, &db)?;
        let program = if no_fit {
            // Evaluation only: the tables the `?pred` statements depend on.
            let preds: Vec<&str> = ast
                .statements
                .iter()
                .filter_map(|s| match s {
                    nrp_syntax::ast::Statement::Pred(r) => Some(r.head.name.name.as_str()),
                    _ => None,
                })
                .collect();
            program::check_for(&source, &ast, &db, &preds, &options)?
        } else {
            program::check(&source, &ast, Some(&db), &options)?
        };
        Ok::<_, Failure>((db, program, options))
    })?;
    let (db, program, options) = (db, program, options);
    nrp_engine::trace(
        options.engine.trace,
        "parse, check, read and bind tables",
        &mut t,
    );
    let render = |d: nrp_syntax::Diagnostic| {
        Failure::from(program::render(Some(&program), &options, &source, d))
    };
    let seed = args.number::<u64>("seed")?.unwrap_or(0);
    let rels = statement_relations(&program, no_fit);
    let values = parameters(
        args,
        args.value("resume"),
        &program,
        &program.closure(&rels),
    )?;
    let out_dir = args.value("out").map(std::path::PathBuf::from);
    // A folder this run creates is removed again if the run fails (it is then empty).
    let out_created = out_dir.as_ref().is_some_and(|d| !d.exists());
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create --out directory {}: {e}", dir.display()))?;
    }
    // The engine holds what it needs; the tables read from the database are not kept.
    let remove_out_dir = || {
        if let (true, Some(dir)) = (out_created, &out_dir) {
            let _ = std::fs::remove_dir(dir);
        }
    };
    let engine = backend
        .install(|| Engine::from_database(&program, db, &rels, budget.bytes, &options.engine))
        .map_err(|d| {
            remove_out_dir();
            render(d)
        })?;
    let load_seconds = start.elapsed().as_secs_f64();
    let mut params = Params::new(&program, &values);
    let metrics = train::metric_relations(&program);
    if let Some(p) = args.value("plot") {
        // Its folder is checked before anything runs, as `--metrics`'s is.
        super::metrics::MetricsLog::new(p).map_err(|e| e.replace("--metrics", "--plot"))?;
    }
    let mut state = RunState {
        db_tables: write_db.as_ref().map(|_| vec![]),
        // `--plot` keeps the same rows as `--metrics`.
        metrics_log: args
            .value("metrics")
            .or(args.value("plot"))
            .map(super::metrics::MetricsLog::new)
            .transpose()?,
        ..RunState::default()
    };
    let outcome = run_statements(
        &program,
        &engine,
        &backend,
        &mut params,
        &metrics,
        seed,
        no_fit,
        resume.as_ref().and_then(|c| c.progress.as_ref()),
        &saver,
        out_dir.as_deref(),
        &mut state,
    );
    let outcome = match outcome {
        Err(Stop::Error(d)) => Err(render(d)),
        Err(Stop::Failure(f)) => Err(f),
        Err(Stop::Interrupted) => Err(Failure(String::new())),
        Ok(()) => Ok(()),
    };
    let interrupted = crate::interrupt::requested();
    // The curve of the epochs that ran, whatever ended the run.
    let write_log = |log: &super::metrics::MetricsLog| -> Result<(), String> {
        if args.value("metrics").is_some() {
            log.write()?;
        }
        if let Some(p) = args.value("plot") {
            super::metrics::plot(log, p)?;
        }
        Ok(())
    };
    let outcome = match (&state.metrics_log, outcome) {
        (Some(log), Ok(())) => write_log(log).map_err(Failure::from),
        (Some(log), Err(Failure(mut m))) => {
            if let Err(e) = write_log(log) {
                m.push_str(&format!("error: {e}\n"));
            }
            Err(Failure(m))
        }
        (None, o) => o,
    };
    if outcome.is_err() || interrupted {
        let unwritten = !state.out_files.is_empty();
        let _ = state.finish_out_files(false);
        remove_out_dir();
        // Trained weights are never lost: save what the fits produced before reporting.
        let mut msg = match outcome {
            Err(Failure(m)) => m,
            Ok(()) => String::new(),
        };
        if unwritten {
            msg.push_str("note: the run failed, so no --out file was written\n");
        }
        if let Some(ck) = &state.unsaved {
            match saver.rescue(ck) {
                Ok(at) => msg.push_str(&format!(
                    "note: the trained weights were saved to {at} (evaluate with `--load {at} --no-fit`, continue with `--resume {at}`)\n"
                )),
                Err(e) => msg.push_str(&format!(
                    "error: the trained weights could not be saved: {e}\n"
                )),
            }
        } else if let Some(at) = &state.saved_to {
            msg.push_str(&format!("note: the trained weights are saved in {at}\n"));
        }
        let _ = print_stdout(&state.stdout);
        if interrupted {
            return Err(Failure(format!(
                "interrupted{}\n{msg}",
                if state.fits.is_empty() {
                    ""
                } else {
                    " during training"
                }
            ))
            .with_code(130));
        }
        return Err(Failure(msg).into());
    }
    let mut stdout = std::mem::take(&mut state.stdout);
    state.finish_out_files(true)?;
    if let (Some(path), Some(tables)) = (&write_db, &state.db_tables) {
        let refs: Vec<&nrp_data::Table> = tables.iter().collect();
        let existed = path.exists();
        nrp_data::export::write_sqlite_tables(path, &refs, args.flag("replace")).map_err(|e| {
            // One transaction: an existing file is unchanged; a new one is not left empty.
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            Failure::from(e.to_string())
        })?;
        stdout.push_str(&format!(
            "wrote {} relation{} to {}\n",
            tables.len(),
            if tables.len() == 1 { "" } else { "s" },
            path.display()
        ));
    }
    if saver.target.is_some() {
        if state.saved_to.is_none() {
            saver.save(&checkpoint(&program, &engine, &params, None))?;
        }
        stdout.push_str(&format!("saved parameters to {}\n", saver.shown));
    }
    if args.flag("json") {
        stdout.push_str(&json_line(&state, load_seconds, args, seed));
        stdout.push('\n');
    }
    Ok(print_stdout(&stdout)?)
}

/// Why the statements stopped early.
enum Stop {
    Error(nrp_syntax::Diagnostic),
    Failure(Failure),
    Interrupted,
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Failure(f)
    }
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Failure(Failure::from(s))
    }
}

/// What the statements produced so far (kept when one fails).
#[derive(Default)]
struct RunState {
    fits: Vec<FitReport>,
    results: Vec<(String, f64)>,
    /// Metrics that cover fewer facts than their label table: (name, matches, facts).
    coverage: Vec<(String, f64, f64)>,
    stdout: String,
    /// Trained weights not yet written anywhere.
    unsaved: Option<Checkpoint>,
    /// Where the latest trained weights were saved.
    saved_to: Option<String>,
    /// `--metrics`: the epochs so far.
    metrics_log: Option<super::metrics::MetricsLog>,
    /// `--write-db`: the non-zero-ary `?pred` relations, written when the run succeeds.
    db_tables: Option<Vec<nrp_data::Table>>,
    /// `--out`: (temporary, final) paths of the relations written so far; renamed when the
    /// run succeeds, removed when it fails, so a failed run leaves no partial output.
    out_files: Vec<(std::path::PathBuf, std::path::PathBuf)>,
}

impl RunState {
    /// Moves the `--out` files to their names (success) or removes them (failure).
    fn finish_out_files(&mut self, success: bool) -> Result<(), String> {
        for (tmp, path) in std::mem::take(&mut self.out_files) {
            if success {
                std::fs::rename(&tmp, &path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            } else {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn run_statements(
    program: &Program,
    engine: &Engine,
    backend: &nrp_tensor::Cpu,
    params: &mut Params,
    metrics: &[RelId],
    seed: u64,
    no_fit: bool,
    resume: Option<&FitProgress>,
    saver: &Saver,
    out_dir: Option<&Path>,
    state: &mut RunState,
) -> Result<(), Stop> {
    let mut fit_index = 0;
    for (stmt_index, stmt) in program.statements.iter().enumerate() {
        if crate::interrupt::requested() {
            return Err(Stop::Interrupted);
        }
        match stmt {
            Stmt::Fit { loss, .. } if no_fit => {
                eprintln!("skipping ?fit {} (--no-fit)", program.relations[*loss].name);
            }
            Stmt::Fit {
                loss,
                params: fp,
                span,
            } => {
                let index = fit_index;
                fit_index += 1;
                let mut start = FitStart::default();
                if let Some(r) = resume {
                    if index < r.fit || (index == r.fit && r.epoch >= fp.epochs) {
                        eprintln!(
                            "skipping ?fit {}: --resume checkpoint is past it",
                            program.relations[*loss].name
                        );
                        continue;
                    }
                    if index == r.fit {
                        if r.optimizer != train::optimizer_name(fp) {
                            return Err(format!(
                                "--resume: the checkpoint holds {} state, this ?fit uses {}",
                                r.optimizer,
                                train::optimizer_name(fp)
                            )
                            .into());
                        }
                        start = FitStart {
                            done: r.epoch,
                            optimizer: Some(OptimState {
                                slots: r.slots.clone(),
                                steps: r.steps.clone(),
                            }),
                            rng_counter: Some(r.rng),
                        };
                        eprintln!(
                            "resuming ?fit {} after epoch {}",
                            program.relations[*loss].name, r.epoch
                        );
                    }
                }
                // From the first fit on, Ctrl-C stops at the end of an epoch and saves.
                crate::interrupt::install();
                let mut progress = Progress::new(&program.relations[*loss].name);
                let optimizer = train::optimizer_name(fp);
                let mut periodic_error = None;
                let fit_no = state.fits.len() + 1;
                let mut log = state.metrics_log.take();
                if let Some(log) = &mut log {
                    log.start_fit();
                }
                let report = train::fit_with(
                    engine,
                    backend,
                    params,
                    *loss,
                    fp,
                    metrics,
                    seed,
                    *span,
                    start,
                    &mut |e, snap| {
                        progress.epoch(e);
                        if let Some(log) = &mut log {
                            log.epoch(fit_no, e);
                        }
                        if let Some(n) = saver.every
                            && e.epoch % n == 0
                            && e.epoch < e.epochs
                        {
                            let state = snap.optimizer.export_state(&snap.params.set);
                            let ck = checkpoint(
                                program,
                                engine,
                                snap.params,
                                Some((index, e.epoch, optimizer, &state, snap.rng_counter)),
                            );
                            if let Err(err) = saver.save(&ck) {
                                periodic_error = Some(err);
                                return Flow::Stop;
                            }
                        }
                        if crate::interrupt::requested() {
                            Flow::Stop
                        } else {
                            Flow::Continue
                        }
                    },
                );
                state.metrics_log = log;
                let report = report.map_err(Stop::Error)?;
                if let Some(log) = &mut state.metrics_log {
                    log.end_fit(&report);
                }
                progress.finish(&report);
                // An interrupted fit's checkpoint can be resumed: weights, optimiser state,
                // dropout stream. A completed one (early stopping included) is plain weights,
                // as PyTorch writes them; when later fits follow, its metadata marks it done,
                // so that --resume moves on (each ?fit starts a fresh optimiser).
                let later_fit = program.statements[stmt_index + 1..]
                    .iter()
                    .any(|s| matches!(s, Stmt::Fit { .. }));
                let empty = OptimState::default();
                let progress = if report.interrupted {
                    Some((
                        index,
                        report.epochs,
                        optimizer,
                        &report.optimizer_state,
                        report.rng_counter,
                    ))
                } else if later_fit {
                    Some((index, fp.epochs, optimizer, &empty, report.rng_counter))
                } else {
                    None
                };
                let ck = checkpoint(program, engine, params, progress);
                state.fits.push(report);
                if let Some(err) = periodic_error {
                    state.unsaved = Some(ck);
                    return Err(Stop::Failure(err));
                }
                match saver.save(&ck) {
                    Ok(true) => {
                        state.unsaved = None;
                        state.saved_to = Some(saver.shown.clone());
                    }
                    Ok(false) => state.unsaved = Some(ck),
                    Err(f) => {
                        state.unsaved = Some(ck);
                        return Err(Stop::Failure(f));
                    }
                }
                if crate::interrupt::requested() {
                    return Err(Stop::Interrupted);
                }
            }
            Stmt::Pred { rel, .. } => {
                let o = engine
                    .evaluate(backend, params, &[*rel])
                    .map_err(Stop::Error)?
                    .pop()
                    .expect("one relation");
                pred_output(program, engine, *rel, &o, out_dir, state)?;
            }
        }
    }
    Ok(())
}

/// Prints a zero-ary `?pred` result, or writes a relation to `--out`.
fn pred_output(
    program: &Program,
    engine: &Engine,
    rel: RelId,
    o: &nrp_engine::Output,
    out_dir: Option<&Path>,
    state: &mut RunState,
) -> Result<(), Stop> {
    let r = &program.relations[rel];
    let stdout = &mut state.stdout;
    if o.arity == 0 {
        let value = match (o.rows.len(), o.dim) {
            (0, _) => "(no fact)".to_string(),
            (_, 0) => "true".to_string(),
            (_, 1) => o.formatted(0).remove(0),
            _ => format!("[{}]", o.formatted(0).join(", ")),
        };
        if let Some((matches, table, facts)) = engine.coverage(rel) {
            eprintln!(
                "warning: {} covers {matches} of the {facts} facts of {table}: the others have no match in its body",
                r.name
            );
            state
                .coverage
                .push((r.name.clone(), matches as f64, facts as f64));
        }
        if o.dim == 1 && !o.rows.is_empty() {
            let exact = o.counts.as_ref().map(|c| c[0] as f64);
            state
                .results
                .push((r.name.clone(), exact.unwrap_or(o.embeddings[0] as f64)));
        }
        stdout.push_str(&format!("{} = {value}\n", r.name));
        return Ok(());
    }
    if let Some(tables) = &mut state.db_tables {
        tables.push(relation_table(&r.name, o).map_err(|e| Failure::from(e.to_string()))?);
        if out_dir.is_none() {
            state
                .stdout
                .push_str(&format!("{}: {} facts\n", r.name, o.rows.len()));
            return Ok(());
        }
    }
    let stdout = &mut state.stdout;
    if let Some(dir) = out_dir {
        let mut csv = String::new();
        let rows = (0..o.rows.len()).map(|i| output::Row {
            content: o.rows[i].as_slice(),
            embedding: o.formatted(i),
        });
        output::write_rows(output::Format::Csv, o.arity, o.dim, rows, &mut csv);
        let path = dir.join(format!("{}.csv", r.name));
        let tmp = dir.join(format!(".{}.csv.nrp-partial", r.name));
        std::fs::write(&tmp, csv).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        state.out_files.push((tmp, path.clone()));
        stdout.push_str(&format!(
            "{}: {} facts -> {}\n",
            r.name,
            o.rows.len(),
            path.display()
        ));
    } else {
        stdout.push_str(&format!(
            "{}: {} facts (give --out DIR to write them)\n",
            r.name,
            o.rows.len()
        ));
    }
    Ok(())
}

/// A predicted relation as a table of `nrp query`'s columns (`c0…`, `e0…`).
fn relation_table(
    name: &str,
    o: &nrp_engine::Output,
) -> Result<nrp_data::Table, nrp_data::DataError> {
    let rows: Vec<Vec<nrp_data::Value>> = (0..o.rows.len())
        .map(|i| {
            let emb = match &o.counts {
                Some(c) => vec![nrp_data::Value::Int(c[i] as i64)],
                None => o.embeddings[i * o.dim..(i + 1) * o.dim]
                    .iter()
                    .map(|&x| nrp_data::Value::Float(x as f64))
                    .collect(),
            };
            o.rows[i].iter().cloned().chain(emb).collect()
        })
        .collect();
    nrp_data::Table::from_rows(name, output::header(o.arity, o.dim), &rows)
}

/// `--write-db FILE`: its folder exists, and it is not the input database.
fn check_write_db(path: &Path, args: &Args) -> R<()> {
    let parent = path.parent().filter(|d| !d.as_os_str().is_empty());
    if parent.is_some_and(|d| !d.is_dir()) {
        return Err(format!("--write-db {}: its folder does not exist", path.display()).into());
    }
    if path.is_dir() {
        return Err(format!("--write-db {}: is a directory", path.display()).into());
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some(db) = args.value("db")
        && same(path, Path::new(db))
    {
        return Err(format!(
            "--write-db {}: that is the input database, which nrp never writes",
            path.display()
        )
        .into());
    }
    Ok(())
}

fn json_line(state: &RunState, load_seconds: f64, args: &Args, seed: u64) -> String {
    let (fits, results) = (&state.fits, &state.results);
    let steps: Vec<f64> = fits
        .iter()
        .flat_map(|f| f.step_ms.iter().copied())
        .collect();
    let epochs_incl: Vec<f64> = fits
        .iter()
        .flat_map(|f| f.epoch_ms.iter().copied())
        .collect();
    let num = |x: f64| {
        if x.is_finite() {
            Json::Number(x)
        } else {
            Json::Null
        }
    };
    let mut obj: Vec<(String, Json)> = vec![
        (
            "epochs".into(),
            Json::Number(fits.iter().map(|f| f.epochs).sum::<usize>() as f64),
        ),
        ("ms_per_epoch".into(), num(median(&steps))),
        ("ms_per_epoch_incl_eval".into(), num(median(&epochs_incl))),
        (
            "total_train_seconds".into(),
            num(fits.iter().map(|f| f.train_seconds).sum::<f64>() + 0.0),
        ),
        ("load_seconds".into(), num(load_seconds)),
        (
            "threads".into(),
            Json::Number(
                args.number::<usize>("threads")
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                    as f64,
            ),
        ),
        ("seed".into(), Json::Number(seed as f64)),
    ];
    if let Some(last) = fits.last() {
        obj.push(("final_loss".into(), num(last.final_loss)));
        obj.push((
            "best_epoch".into(),
            last.best_epoch
                .map_or(Json::Null, |e| Json::Number(e as f64)),
        ));
    }
    let metrics: Vec<(String, Json)> = results.iter().map(|(n, v)| (n.clone(), num(*v))).collect();
    for (n, v) in results {
        let key = snake(n);
        if !obj.iter().any(|(k, _)| *k == key) {
            obj.push((key, num(*v)));
        }
    }
    obj.push(("metrics".into(), Json::Object(metrics)));
    if !state.coverage.is_empty() {
        // `{"TestAcc": {"matches": 78, "facts": 120, "table": ...}}`: metrics over part of
        // their labels.
        let partial = state
            .coverage
            .iter()
            .map(|(n, m, f)| {
                (
                    n.clone(),
                    Json::Object(vec![
                        ("matches".into(), Json::Number(*m)),
                        ("facts".into(), Json::Number(*f)),
                    ]),
                )
            })
            .collect();
        obj.push(("partial_metrics".into(), Json::Object(partial)));
    }
    if let Some(mb) = peak_rss_mb() {
        obj.push(("peak_rss_mb".into(), num(mb)));
    }
    Json::Object(obj).to_compact()
}

/// Training progress on stderr: a bar redrawn in place on a terminal, plain lines otherwise.
struct Progress {
    tty: bool,
    name: String,
    last_line: usize,
}

impl Progress {
    fn new(name: &str) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            name: name.to_string(),
            last_line: 0,
        }
    }

    fn line(&self, e: &Epoch) -> String {
        let mut s = format!(
            "epoch {:>4}/{} {} {:.4}",
            e.epoch, e.epochs, self.name, e.loss
        );
        if let Some(ms) = e.metrics {
            for (n, v) in ms {
                s.push_str(&format!("  {n} {v:.4}"));
            }
        }
        s
    }

    fn epoch(&mut self, e: &Epoch) {
        if self.tty {
            let width = 24;
            let done = e.epoch * width / e.epochs.max(1);
            eprint!(
                "\r[{}{}] {}\x1b[K",
                "#".repeat(done),
                " ".repeat(width - done),
                self.line(e)
            );
        } else {
            let every = (e.epochs / 10).max(1);
            if e.epoch.is_multiple_of(every) || e.epoch == e.epochs {
                eprintln!("{}", self.line(e));
                self.last_line = e.epoch;
            }
        }
    }

    fn finish(&self, r: &FitReport) {
        if self.tty {
            eprintln!();
        }
        let best = r
            .best_epoch
            .map(|b| format!(", kept the weights of epoch {b}"))
            .unwrap_or_default();
        eprintln!(
            "trained {} epochs in {:.2} s ({:.2} ms per step){best}",
            r.epochs,
            r.train_seconds,
            median(&r.step_ms)
        );
    }
}
