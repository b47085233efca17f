//! The library's options from the command line and the environment: the only place in nrp
//! that reads `NRP_DISABLE_RULES`, `NRP_TRACE` and `NRP_PROFILE`.
//!
//! Each piece is read when the command first needs it, so that errors keep their order
//! (a program's syntax error is reported before a bad `--template-depth`).

use crate::args::Args;
use crate::{Failure, R};
use nrp_session::{Budget, EngineOptions, Options};

/// `--memory-limit SIZE`, or the default share of the machine's memory.
pub fn budget(args: &Args) -> R<Budget> {
    match args.value("memory-limit") {
        Some(text) => Budget::parse(text, &format!("`--memory-limit {text}`"))
            .map_err(|e| Failure::from(format!("`--memory-limit`: {e}"))),
        None => Ok(Budget::machine("`--memory-limit SIZE` sets another")),
    }
}

/// The options of checking and grounding: the budget, `--template-depth` and the
/// engine's options from the environment.
pub fn options(args: &Args, budget: &Budget) -> R<Options> {
    let template_depth = args.number::<usize>("template-depth")?;
    if template_depth == Some(0) {
        return Err(Failure::from(
            "`--template-depth` must be at least 1".to_string(),
        ));
    }
    let mut engine = engine_options()?;
    if let Some(text) = args.value("ground") {
        engine.ground = nrp_engine::GroundMode::parse(text).ok_or_else(|| {
            Failure::from(format!("`--ground {text}`: expected `in-engine` or `sql`"))
        })?;
    }
    // Categorical encoders map strings as the weights were trained (`nrp_sema::codes`).
    if let Some(path) = args.value("load").or(args.value("resume")) {
        engine.codes =
            nrp_params::read_codes_file(std::path::Path::new(path)).map_err(Failure::from)?;
    }
    Ok(Options {
        seed: 0,
        threads: None,
        budget: budget.clone(),
        template_depth,
        engine,
    })
}

/// `--ground sql` needs a SQL source, whichever evaluator runs (`query --reference` too).
pub fn check_ground(options: &Options, db: &nrp_data::Database) -> R<()> {
    options
        .check_ground(db, "`--ground sql`")
        .map_err(Failure::from)
}

/// `NRP_DISABLE_RULES=a,b` (plan rewrites to skip, for measuring them), `NRP_TRACE`
/// (stage timings on stderr), `NRP_PROFILE=N` (the N most expensive plan nodes of each
/// fit; 30 when N does not parse).
pub fn engine_options() -> R<EngineOptions> {
    let disabled_rules = match std::env::var("NRP_DISABLE_RULES") {
        Ok(spec) => nrp_engine::plan::rules::parse_disabled(&spec)
            .map_err(|e| Failure::from(format!("NRP_DISABLE_RULES: {e}")))?,
        Err(_) => vec![],
    };
    Ok(EngineOptions {
        disabled_rules,
        trace: std::env::var_os("NRP_TRACE").is_some(),
        profile: std::env::var("NRP_PROFILE")
            .ok()
            .map(|v| v.parse::<usize>().unwrap_or(30)),
        ..EngineOptions::default()
    })
}

/// The CPU backend with `--threads N` (default: all cores); a count above the cores
/// warns on stderr.
pub fn backend(args: &Args) -> R<nrp_tensor::Cpu> {
    let threads = args.number::<usize>("threads")?;
    let (cpu, warning) =
        nrp_session::threads::backend(threads, nrp_session::threads::CLI).map_err(Failure::from)?;
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    Ok(cpu)
}

/// Parameters for a query or a run: from `--load` (or a `--resume` checkpoint), the rest
/// initialised from `--seed`; warnings about the file on stderr.
pub fn parameters(
    args: &Args,
    resume: Option<&str>,
    program: &nrp_sema::Program,
    needed: &[nrp_sema::RelId],
) -> R<nrp_params::ParamMap> {
    let seed = args.number::<u64>("seed")?.unwrap_or(0);
    let load = args.value("load").or(resume);
    let (values, warnings) = nrp_session::params::parameters(program, seed, load, needed)?;
    for w in warnings {
        eprintln!("{w}");
    }
    Ok(values)
}
