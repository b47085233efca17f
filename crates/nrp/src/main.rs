//! `nrp`: run, check, explain and query Neuro-Relational Programs (LANGUAGE.md §7).
//!
//! Exit status 0 on success, 1 on a user error (program, data, arguments) with a message on
//! stderr that names `file:line:column`, or table, row and column. Never a stack trace.

mod args;
mod interrupt;
mod memory;
mod output;
mod run;

use args::{Args, Invocation};
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
        // A malformed Parquet file that the reader rejects by panicking: nrp-data reports
        // it as a data error.
        if nrp_data::in_parquet_reader() {
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
    if matches!(argv.first().map(String::as_str), Some("-V" | "--version")) {
        println!("nrp {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let result = match Args::parse(&argv) {
        Ok(Invocation::Help(text)) => print_stdout(&text).map_err(|f| f.with_code(1)),
        // A buffer the allocator refuses unwinds with `OutOfMemory` (nrp_tensor::alloc):
        // a user error, not a crash. Any other panic goes on unwinding (a bug).
        Ok(Invocation::Run(args)) => match std::panic::catch_unwind(|| run(&args)) {
            Ok(result) => result,
            Err(payload) => match payload.downcast_ref::<nrp_tensor::OutOfMemory>() {
                Some(oom) => Err(memory::out_of_memory(oom.bytes).with_code(1)),
                None => std::panic::resume_unwind(payload),
            },
        },
        // No arguments at all: the overview alone, as `nrp --help` prints it.
        Err(_) if argv.is_empty() => Err(Failure(args::top_help()).with_code(1)),
        Err(e) => Err(Failure(format!("error: {}\n\n{}", e.message, e.usage)).with_code(1)),
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
    args: &Args,
) -> R<Program> {
    let options = check_options(budget, args)?;
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
        .map_err(|d| Failure(program.annotate(budget.annotate(d)).render(source)))?;
    Ok((grounded, estimates))
}

/// The memory budget and `--template-depth`.
fn check_options(budget: &Budget, args: &Args) -> R<nrp_sema::CheckOptions> {
    let mut expand = nrp_expand::Options::default();
    if let Some(n) = args
        .number::<usize>("template-depth")
        .map_err(Failure::from)?
    {
        if n == 0 {
            return Err(Failure::from(
                "`--template-depth` must be at least 1".to_string(),
            ));
        }
        expand.max_depth = n;
    }
    Ok(nrp_sema::CheckOptions {
        memory_limit: budget.bytes,
        expand,
    })
}

/// [`check_program`] binding only the tables that `targets` depend on.
pub(crate) fn check_program_for(
    source: &Source,
    ast: &nrp_syntax::ast::Program,
    db: &Database,
    targets: &[&str],
    budget: &Budget,
    args: &Args,
) -> R<Program> {
    let options = check_options(budget, args)?;
    nrp_sema::check_targets_with(ast, db, targets, &options)
        .map_err(|d| Failure(budget.annotate(d).render(source)))
}

fn cmd_check(args: &Args) -> R<()> {
    let budget = Budget::from_args(args)?;
    let (source, ast) = load_program(&args.program)?;
    let db = args.value("db").map(open_db).transpose()?;
    let program = check_program(&source, &ast, db.as_ref(), &budget, args)?;
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
    if !program.instances.is_empty() {
        out.push_str(&format!(
            "\ninstances ({}):\n{}",
            program.instances.len(),
            nrp_expand::describe_instances(&program.instances, &source)
        ));
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

/// Parameters for a query or a run: from `--load`, the rest initialised from `--seed`.
///
/// Without `--load` that is what the user asked for, and nothing is said. With `--load`,
/// one warning line names (some of) the used parameters the file did not give.
pub(crate) fn parameters(
    args: &Args,
    resume: Option<&str>,
    program: &Program,
    needed: &[RelId],
) -> R<nrp_params::ParamMap> {
    let seed = args.number::<u64>("seed")?.unwrap_or(0);
    let Some(path) = args.value("load").or(resume) else {
        return nrp_sema::params::try_init_parameters(program, seed).map_err(Failure::from);
    };
    let loaded = nrp_sema::params::load_parameters(program, std::path::Path::new(path), seed)
        .map_err(Failure::from)?;
    if !loaded.ignored.is_empty() {
        eprintln!(
            "warning: {path}: ignoring tensors no module of the program owns: {}",
            name_list(&loaded.ignored)
        );
    }
    let used = used_parameters(program, needed);
    let missing: Vec<String> = used
        .iter()
        .filter(|u| loaded.initialised.contains(u))
        .cloned()
        .collect();
    if let Some(w) = missing_warning(path, seed, used.len(), &missing) {
        eprintln!("{w}");
    }
    Ok(loaded.params)
}

/// The one warning line about used parameters that `--load FILE` did not give.
fn missing_warning(path: &str, seed: u64, used: usize, missing: &[String]) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let n = missing.len();
    let which = if n == used {
        format!("none of the {used} parameters used is in {path}")
    } else {
        format!(
            "{n} of the {used} parameters used {} not in {path}",
            if n == 1 { "is" } else { "are" }
        )
    };
    Some(format!(
        "warning: {which}; initialised from --seed {seed}: {}",
        name_list(missing)
    ))
}

/// At most five names, then how many more.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
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
    let program = check_program_for(&source, &ast, &db, &[name], &budget, args)?;
    let rel = user_relation(&program, name, &source)?;
    let needed = program.closure(&[rel]);
    let params = parameters(args, None, &program, &needed)?;
    let accept = args.flag("accept");
    let render = |d: Diagnostic| Failure(program.annotate(budget.annotate(d)).render(&source));
    // Checked (and the pool started) with `--reference` too: a bad `--threads` is an error.
    let backend = backend(args)?;
    let mut out = String::new();
    if args.flag("reference") {
        // The reference evaluator enumerates every match and holds every fact in f64:
        // refuse what would not fit.
        let (_, estimated) = estimates(&program, &db, Some(&[rel]), false, &source, &budget)?;
        nrp_engine::estimate::check_reference(&program, &estimated, budget.bytes)
            .map_err(render)?;
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
    let program = check_program(&source, &ast, Some(&db), &budget, args)?;
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
        .map_err(|d| Failure(program.annotate(budget.annotate(d)).render(&source)))?;
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
    let available = available_cores();
    let threads = match args.number::<usize>("threads")? {
        Some(n) => {
            if let Some(w) = check_threads(n, available)? {
                eprintln!("{w}");
            }
            n
        }
        None => available,
    };
    nrp_tensor::Cpu::new(threads)
        .map_err(|e| Failure::from(format!("cannot start {threads} threads: {e}")))
}

pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The most threads `--threads` may ask for: four per available core, and at least 64 (a
/// larger number is a typing error, and each thread reserves a stack).
pub(crate) fn max_threads(available: usize) -> usize {
    (4 * available).max(64)
}

/// Checks `--threads n`: an error for 0 or above [`max_threads`], a warning above the
/// available cores.
fn check_threads(n: usize, available: usize) -> Result<Option<String>, String> {
    let max = max_threads(available);
    if n == 0 {
        return Err("`--threads` must be at least 1".into());
    }
    if n > max {
        return Err(format!(
            "`--threads {n}` is more than nrp allows here: at most {max} \
             (4 per available core, at least 64; {available} {} available)",
            cores(available)
        ));
    }
    Ok((n > available).then(|| {
        format!(
            "warning: --threads {n} is more than the {available} {} available; runs will be slower",
            cores(available)
        )
    }))
}

fn cores(n: usize) -> &'static str {
    if n == 1 { "core" } else { "cores" }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_above_the_cores_warn_and_above_the_cap_fail() {
        assert_eq!(check_threads(2, 2), Ok(None));
        assert_eq!(check_threads(1, 16), Ok(None));
        assert_eq!(
            check_threads(64, 2).unwrap().unwrap(),
            "warning: --threads 64 is more than the 2 cores available; runs will be slower"
        );
        assert_eq!(
            check_threads(2, 1).unwrap().unwrap(),
            "warning: --threads 2 is more than the 1 core available; runs will be slower"
        );
        assert_eq!(
            check_threads(65, 2).unwrap_err(),
            "`--threads 65` is more than nrp allows here: at most 64 (4 per available core, at least 64; 2 cores available)"
        );
        assert_eq!(
            check_threads(128, 32),
            Ok(Some(
                "warning: --threads 128 is more than the 32 cores available; runs will be slower"
                    .into()
            ))
        );
        assert!(check_threads(129, 32).is_err());
        assert_eq!(
            check_threads(0, 2).unwrap_err(),
            "`--threads` must be at least 1"
        );
    }

    #[test]
    fn missing_parameters_warning_is_one_short_line() {
        let names = |n: usize| (0..n).map(|i| format!("L{i}.weight")).collect::<Vec<_>>();
        assert_eq!(missing_warning("w.st", 0, 3, &[]), None);
        assert_eq!(
            missing_warning("w.st", 0, 3, &names(1)).unwrap(),
            "warning: 1 of the 3 parameters used is not in w.st; initialised from --seed 0: L0.weight"
        );
        assert_eq!(
            missing_warning("w.st", 7, 2, &names(2)).unwrap(),
            "warning: none of the 2 parameters used is in w.st; initialised from --seed 7: L0.weight, L1.weight"
        );
        let w = missing_warning("w.st", 0, 5000, &names(4000)).unwrap();
        assert_eq!(
            w,
            "warning: 4000 of the 5000 parameters used are not in w.st; initialised from --seed 0: \
             L0.weight, L1.weight, L2.weight, L3.weight, L4.weight and 3995 more"
        );
    }
}
