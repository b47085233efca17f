//! `nrp run`: statements in program order (LANGUAGE.md §5) — `?fit` trains, `?pred`
//! evaluates: zero-ary results print as `Name = value`, others go to `--out DIR/Name.csv`.
//! With `--json` the last stdout line is one JSON object describing the run.

use crate::args::Args;
use crate::{
    Failure, R, backend, check_program, load_program, open_db, output, parameters, print_stdout,
};
use nrp_data::format_f32;
use nrp_engine::train::{self, Epoch, FitReport, median};
use nrp_engine::{Engine, Params};
use nrp_params::json::Value as Json;
use nrp_sema::{Program, RelId, Stmt};
use std::io::IsTerminal;
use std::time::Instant;

/// The relations a run needs: losses, `?pred` heads and selection metrics.
pub fn statement_relations(program: &Program) -> Vec<RelId> {
    let mut rels = vec![];
    for s in &program.statements {
        match s {
            Stmt::Fit { loss, params, .. } => {
                rels.push(*loss);
                rels.extend(params.select);
            }
            Stmt::Pred { rel, .. } => rels.push(*rel),
        }
    }
    rels.sort_unstable();
    rels.dedup();
    rels
}

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

pub fn cmd_run(args: &Args) -> R<()> {
    let start = Instant::now();
    let mut t = Instant::now();
    let (source, ast) = load_program(&args.program)?;
    let backend = backend(args)?;
    // Tables are read, and the program grounded below, inside the backend's pool: loading
    // uses the threads asked for, and no more.
    let (db, program) = backend.install(|| {
        let db = open_db(args.required("db")?)?;
        let program = check_program(&source, &ast, Some(&db))?;
        Ok::<_, Failure>((db, program))
    })?;
    nrp_engine::trace("parse, check, read and bind tables", &mut t);
    let render = |d: nrp_syntax::Diagnostic| Failure(d.render(&source));
    let seed = args.number::<u64>("seed")?.unwrap_or(0);
    let rels = statement_relations(&program);
    let values = parameters(args, &program, &program.closure(&rels))?;
    let out_dir = args.value("out").map(std::path::PathBuf::from);
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create --out directory {}: {e}", dir.display()))?;
    }
    // The engine holds what it needs; the tables read from the database are not kept.
    let engine = backend
        .install(|| Engine::from_database(&program, db, &rels))
        .map_err(render)?;
    let load_seconds = start.elapsed().as_secs_f64();
    let mut params = Params::new(&program, &values);
    let metrics = train::metric_relations(&program);
    let json_mode = args.flag("json");
    let mut fits: Vec<FitReport> = vec![];
    let mut results: Vec<(String, f64)> = vec![];
    let mut stdout = String::new();
    for stmt in &program.statements {
        match stmt {
            Stmt::Fit {
                loss,
                params: fp,
                span,
            } => {
                let mut progress = Progress::new(&program.relations[*loss].name);
                let report = train::fit(
                    &engine,
                    &backend,
                    &mut params,
                    *loss,
                    fp,
                    &metrics,
                    seed,
                    *span,
                    &mut |e| progress.epoch(e),
                )
                .map_err(render)?;
                progress.finish(&report);
                fits.push(report);
            }
            Stmt::Pred { rel, .. } => {
                let r = &program.relations[*rel];
                let o = engine
                    .evaluate(&backend, &params, &[*rel])
                    .map_err(render)?
                    .pop()
                    .expect("one relation");
                if r.arity == 0 {
                    let value = match (o.rows.len(), o.dim) {
                        (0, _) => "(no fact)".to_string(),
                        (_, 0) => "true".to_string(),
                        (_, 1) => format_f32(o.embeddings[0]),
                        _ => format!(
                            "[{}]",
                            o.embeddings
                                .iter()
                                .map(|&x| format_f32(x))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    if o.dim == 1 && !o.rows.is_empty() {
                        results.push((r.name.clone(), o.embeddings[0] as f64));
                    }
                    stdout.push_str(&format!("{} = {value}\n", r.name));
                } else if let Some(dir) = &out_dir {
                    let mut csv = String::new();
                    let rows = (0..o.rows.len()).map(|i| output::Row {
                        content: o.rows[i].as_slice(),
                        embedding: o.embeddings[i * o.dim..(i + 1) * o.dim]
                            .iter()
                            .map(|&x| format_f32(x))
                            .collect(),
                    });
                    output::write_rows(output::Format::Csv, o.arity, o.dim, rows, &mut csv);
                    let path = dir.join(format!("{}.csv", r.name));
                    std::fs::write(&path, csv)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
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
            }
        }
    }
    if let Some(path) = args.value("save") {
        nrp_params::write_safetensors(std::path::Path::new(path), &params.to_map(&program), &[])
            .map_err(|e| format!("cannot save --save {path}: {}", e.message))?;
        stdout.push_str(&format!("saved parameters to {path}\n"));
    }
    if json_mode {
        stdout.push_str(&json_line(&fits, &results, load_seconds, args, seed));
        stdout.push('\n');
    }
    print_stdout(&stdout)
}

fn json_line(
    fits: &[FitReport],
    results: &[(String, f64)],
    load_seconds: f64,
    args: &Args,
    seed: u64,
) -> String {
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
            num(fits.iter().map(|f| f.train_seconds).sum()),
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
