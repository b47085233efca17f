//! `nrp`: run, check, explain and query Neuro-Relational Programs (LANGUAGE.md §7).
//!
//! Exit status 0 on success, 1 on a user error (program, data, arguments) with a message on
//! stderr that names `file:line:column`, or table, row and column. Never a stack trace.

mod args;
mod interrupt;
mod memory;
mod output;
mod run;

use args::{Args, USAGE};
use memory::Budget;
use nrp_data::{Database, format_float};
use nrp_sema::{Program, RelId, RelKind, display};
use nrp_syntax::{Diagnostic, Source};
use std::io::Write;
use std::process::ExitCode;

/// A user-facing failure, already rendered (exit status 1 unless [`Failure::with_code`]).
pub struct Failure(String);

/// A failure with another exit status (130: interrupted).
pub struct CodedFailure(pub Failure, pub u8);

impl Failure {
    pub fn with_code(self, code: u8) -> CodedFailure {
        CodedFailure(self, code)
    }
}

impl From<Failure> for CodedFailure {
    fn from(f: Failure) -> CodedFailure {
        f.with_code(1)
    }
}

impl From<String> for CodedFailure {
    fn from(s: String) -> CodedFailure {
        Failure::from(s).with_code(1)
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure(format!("error: {s}\n"))
    }
}

type R<T> = Result<T, Failure>;

fn main() -> ExitCode {
    // A panic is a bug in nrp; say so in one line instead of a stack trace.
    std::panic::set_hook(Box::new(|info| {
        // A refused allocation unwinds to `main`, which reports it.
        if info
            .payload()
            .downcast_ref::<nrp_tensor::OutOfMemory>()
            .is_some()
        {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "nrp: internal error{at}: {} (this is a bug in nrp; please report it)",
            msg.unwrap_or_default()
        );
    }));
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(1);
        }
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("nrp {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let result = match Args::parse(&argv) {
        // A buffer the allocator refuses unwinds with `OutOfMemory` (nrp_tensor::alloc):
        // a user error, not a crash. Any other panic goes on unwinding (a bug).
        Ok(args) => match std::panic::catch_unwind(|| run(&args)) {
            Ok(result) => result,
            Err(payload) => match payload.downcast_ref::<nrp_tensor::OutOfMemory>() {
                Some(oom) => Err(memory::out_of_memory(oom.bytes).with_code(1)),
                None => std::panic::resume_unwind(payload),
            },
        },
        Err(e) => Err(Failure(format!("error: {e}\n\n{USAGE}")).with_code(1)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CodedFailure(Failure(msg), code)) => {
            eprint!("{msg}");
            ExitCode::from(code)
        }
    }
}

fn run(args: &Args) -> Result<(), CodedFailure> {
    let user = |r: R<()>| r.map_err(|f| f.with_code(1));
    match args.command.as_str() {
        "check" => user(cmd_check(args)),
        "query" => user(cmd_query(args)),
        "run" => run::cmd_run(args),
        "explain" => user(cmd_explain(args)),
        other => user(Err(
            format!("`nrp {other}` is not available in this build").into()
        )),
    }
}

/// The program text, parsed.
pub(crate) fn load_program(path: &str) -> R<(Source, nrp_syntax::ast::Program)> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read program {path}: {e}"))?;
    let source = Source::new(path, text);
    let ast = nrp_syntax::parse(&source.text).map_err(|d| Failure(d.render(&source)))?;
    Ok((source, ast))
}

pub(crate) fn open_db(spec: &str) -> R<Database> {
    Database::open(spec).map_err(|e| Failure::from(e.message))
}

/// Checks the program, with its parameters and embedding widths against the budget.
pub(crate) fn check_program(
    source: &Source,
    ast: &nrp_syntax::ast::Program,
    db: Option<&Database>,
    budget: &Budget,
) -> R<Program> {
    let options = nrp_sema::CheckOptions {
        memory_limit: budget.bytes,
    };
    nrp_sema::check_with(ast, db, &options).map_err(|d| Failure(budget.annotate(d).render(source)))
}

/// The matches that grounding `rels` (all derived relations if `None`) on `db` is
/// estimated to make, refused when they do not fit in the budget (as grounding would refuse
/// them). The engine's program (acyclic sums pushed down) is estimated when `as_engine`,
/// else the program as written (as the reference evaluator enumerates it).
fn estimates(
    program: &Program,
    db: &Database,
    rels: Option<&[RelId]>,
    as_engine: bool,
    source: &Source,
    budget: &Budget,
) -> R<(Program, Vec<nrp_engine::estimate::RuleEstimate>)> {
    let grounded = if as_engine {
        nrp_engine::grounded_program(program).into_owned()
    } else {
        program.clone()
    };
    let needed = match rels {
        Some(rels) => grounded.closure(rels),
        None => grounded.order.clone(),
    };
    let estimates = nrp_engine::estimate::program(&grounded, db, budget.bytes, &needed)
        .map_err(|d| Failure(budget.annotate(d).render(source)))?;
    Ok((grounded, estimates))
}

/// [`check_program`] binding only the tables that `targets` depend on.
pub(crate) fn check_program_for(
    source: &Source,
    ast: &nrp_syntax::ast::Program,
    db: &Database,
    targets: &[&str],
    budget: &Budget,
) -> R<Program> {
    let options = nrp_sema::CheckOptions {
        memory_limit: budget.bytes,
    };
    nrp_sema::check_targets_with(ast, db, targets, &options)
        .map_err(|d| Failure(budget.annotate(d).render(source)))
}

fn cmd_check(args: &Args) -> R<()> {
    let budget = Budget::from_args(args)?;
    let (source, ast) = load_program(&args.program)?;
    let db = args.value("db").map(open_db).transpose()?;
    let program = check_program(&source, &ast, db.as_ref(), &budget)?;
    let estimated = match &db {
        Some(db) => Some(estimates(&program, db, None, true, &source, &budget)?),
        None => None,
    };
    let fragments = program.fragments.names();
    let mut out = format!(
        "{}: ok\nfragments: {}\n\nrelations:\n{}",
        source.name,
        if fragments.is_empty() {
            "(none)".to_string()
        } else {
            fragments.join(", ")
        },
        display::relations(&program)
    );
    if !program.modules.is_empty() {
        out.push_str(&format!("\nmodules:\n{}", display::modules(&program)));
    }
    out.push_str(&format!("\nrules:\n{}", display::rules(&program)));
    if let Some((grounded, estimates)) = &estimated {
        out.push_str(&format!(
            "\nestimated matches (before grounding, from table sizes and distinct values):\n{}",
            estimate_table(grounded, estimates)
        ));
    }
    if db.is_none() && program.relations.iter().any(|r| r.dim.is_none()) {
        out.push_str("\n(no --db given: dimensions shown as ? depend on the database)\n");
    }
    print_stdout(&out)
}

/// One line per derived relation as grounded: its estimated matches, what they take, facts.
fn estimate_table(program: &Program, estimates: &[nrp_engine::estimate::RuleEstimate]) -> String {
    use nrp_data::memory::{format_bytes_f64, format_count};
    let mut rows = vec![[
        "relation".to_string(),
        "matches".into(),
        "bytes".into(),
        "facts".into(),
    ]];
    for e in estimates {
        rows.push([
            program.relations[e.rel].name.clone(),
            format_count(e.bodies.iter().map(|b| b.matches).sum()),
            format_bytes_f64(e.bytes),
            format_count(e.facts),
        ]);
    }
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    rows.iter()
        .map(|r| {
            format!(
                "  {:w0$}  {:w1$}  {:w2$}  {}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
        })
        .collect()
}

/// The derived relation a user names on the command line.
fn user_relation(program: &Program, name: &str, source: &Source) -> R<RelId> {
    if let Some(id) = program
        .relation(name)
        .filter(|&id| !program.relations[id].is_auxiliary())
    {
        return Ok(id);
    }
    if program
        .relations
        .iter()
        .any(|r| r.name == name && r.is_input())
    {
        return Err(format!(
            "`{name}` is an input table, not a relation derived by the program {}",
            source.name
        )
        .into());
    }
    let mut names: Vec<&str> = program
        .relations
        .iter()
        .filter(|r| !r.is_input() && !r.is_auxiliary())
        .map(|r| r.name.as_str())
        .collect();
    names.sort();
    Err(format!(
        "no rule of {} derives `{name}` (derived relations: {})",
        source.name,
        names.join(", ")
    )
    .into())
}

/// Parameters for a query: from `--load`, the rest initialised from `--seed` with a warning.
pub(crate) fn parameters(
    args: &Args,
    resume: Option<&str>,
    program: &Program,
    needed: &[RelId],
) -> R<nrp_params::ParamMap> {
    let seed = args.number::<u64>("seed")?.unwrap_or(0);
    let (params, initialised) = match args.value("load").or(resume) {
        Some(path) => {
            let loaded =
                nrp_sema::params::load_parameters(program, std::path::Path::new(path), seed)
                    .map_err(Failure::from)?;
            if !loaded.ignored.is_empty() {
                eprintln!(
                    "warning: {path}: ignoring tensors no module of the program owns: {}",
                    loaded.ignored.join(", ")
                );
            }
            (loaded.params, loaded.initialised)
        }
        None => {
            let params =
                nrp_sema::params::try_init_parameters(program, seed).map_err(Failure::from)?;
            let names = params.keys().cloned().collect();
            (params, names)
        }
    };
    let used = used_parameters(program, needed);
    let uninitialised: Vec<&String> = initialised
        .iter()
        .filter(|n| used.iter().any(|u| u == *n))
        .collect();
    if !uninitialised.is_empty() {
        let list: Vec<&str> = uninitialised.iter().map(|s| s.as_str()).collect();
        eprintln!(
            "warning: parameters not given by --load are initialised from --seed {seed}: {}",
            list.join(", ")
        );
    }
    Ok(params)
}

/// Names of the parameters of modules used by the given relations.
fn used_parameters(program: &Program, rels: &[RelId]) -> Vec<String> {
    let mut out = vec![];
    for &r in rels {
        if let RelKind::Derived(rule) = &program.relations[r].kind {
            for (_, e) in rule.bodies() {
                for m in e.map(|e| e.modules()).unwrap_or_default() {
                    let module = &program.modules[m];
                    out.extend(module.kind.params(&module.name).into_iter().map(|p| p.name));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn cmd_query(args: &Args) -> R<()> {
    let budget = Budget::from_args(args)?;
    let (source, ast) = load_program(&args.program)?;
    let db = open_db(args.required("db")?)?;
    let name = args.required("relation")?;
    let format = output::Format::parse(args.value("format").unwrap_or("csv"))?;
    // Only the tables the relation depends on are needed (no label table to predict).
    let program = check_program_for(&source, &ast, &db, &[name], &budget)?;
    let rel = user_relation(&program, name, &source)?;
    let needed = program.closure(&[rel]);
    let params = parameters(args, None, &program, &needed)?;
    let accept = args.flag("accept");
    let render = |d: Diagnostic| Failure(budget.annotate(d).render(&source));
    let mut out = String::new();
    if args.flag("reference") {
        // The reference evaluator enumerates every match and holds every fact in f64:
        // refuse what would not fit.
        let (_, estimated) = estimates(&program, &db, Some(&[rel]), false, &source, &budget)?;
        nrp_engine::estimate::check_reference(&program, &estimated, budget.bytes)
            .map_err(|d| Failure(budget.annotate(d).render(&source)))?;
        let results = nrp_reference::evaluate(&program, &db, &params, &[rel]).map_err(render)?;
        let facts = results[rel].as_ref().expect("target evaluated");
        let rows = facts
            .facts
            .iter()
            .filter(|(_, e)| !accept || accepted(e.iter().copied()))
            .map(|(k, e)| output::Row {
                content: k.as_slice(),
                embedding: if accept {
                    vec![]
                } else {
                    e.iter().map(|&x| format_float(x)).collect()
                },
            });
        output::write_rows(
            format,
            facts.arity,
            if accept { 0 } else { facts.dim },
            rows,
            &mut out,
        );
    } else {
        let backend = backend(args)?;
        let engine =
            nrp_engine::Engine::with_budget(&program, &db, &[rel], budget.bytes).map_err(render)?;
        let p = nrp_engine::Params::new(&program, &params);
        let o = engine
            .evaluate(&backend, &p, &[rel])
            .map_err(render)?
            .pop()
            .expect("one relation");
        let emb = |i: usize| &o.embeddings[i * o.dim..(i + 1) * o.dim];
        let rows = (0..o.rows.len())
            .filter(|&i| !accept || accepted(emb(i).iter().map(|&x| x as f64)))
            .map(|i| output::Row {
                content: o.rows[i].as_slice(),
                embedding: if accept { vec![] } else { o.formatted(i) },
            });
        output::write_rows(
            format,
            o.arity,
            if accept { 0 } else { o.dim },
            rows,
            &mut out,
        );
    }
    print_stdout(&out)
}

fn cmd_explain(args: &Args) -> R<()> {
    let budget = Budget::from_args(args)?;
    let (source, ast) = load_program(&args.program)?;
    let db = open_db(args.required("db")?)?;
    let program = check_program(&source, &ast, Some(&db), &budget)?;
    let rels = run::statement_relations(&program, false);
    let rels = if rels.is_empty() {
        program
            .order
            .iter()
            .copied()
            .filter(|&r| !program.relations[r].is_auxiliary())
            .collect()
    } else {
        rels
    };
    let engine = nrp_engine::Engine::with_budget(&program, &db, &rels, budget.bytes)
        .map_err(|d| Failure(budget.annotate(d).render(&source)))?;
    if args.flag("dot") {
        let targets = nrp_engine::plan::targets(&engine.plan, &rels);
        return print_stdout(&nrp_engine::plan::display::dot(
            &engine.plan,
            Some(&program),
            &targets,
        ));
    }
    print_stdout(&format!("{}\n\n{}", source.name, engine.explain()))
}

/// The paper's default acceptance policy: a strictly positive minimum coordinate (every
/// tuple of dimension 0).
fn accepted(e: impl Iterator<Item = f64>) -> bool {
    output::accepted(e)
}

/// The CPU backend with `--threads N` (default: all cores).
pub(crate) fn backend(args: &Args) -> R<nrp_tensor::Cpu> {
    let threads = match args.number::<usize>("threads")? {
        Some(0) => return Err("`--threads` must be at least 1".to_string().into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    nrp_tensor::Cpu::new(threads)
        .map_err(|e| Failure::from(format!("cannot start {threads} threads: {e}")))
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn print_stdout(s: &str) -> R<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("cannot write output: {e}").into()),
    }
}
