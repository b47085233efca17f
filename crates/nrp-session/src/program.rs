//! The stages before a run: read and parse a program, check it against a database, and the
//! questions about a checked program that every command asks (which relations a run
//! needs, which derived relation a name denotes, how many matches grounding will make).

use crate::error::{Error, Result};
use crate::options::Options;
use nrp_data::Database;
use nrp_engine::estimate::RuleEstimate;
use nrp_sema::{Program, RelId, RelKind, Stmt};
use nrp_syntax::{Diagnostic, Source, ast};

/// The program file at `path`, read and parsed.
pub fn read_program(path: &str) -> Result<(Source, ast::Program)> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read program {path}: {e}"))?;
    let source = Source::new(path, text);
    let ast = parse(&source)?;
    Ok((source, ast))
}

/// Parses a source; a syntax error is rendered with its location.
pub fn parse(source: &Source) -> Result<ast::Program> {
    nrp_syntax::parse(&source.text).map_err(|d| Error::rendered(d.render(source)))
}

/// A diagnostic rendered against `source`: with the instantiation chain of a template
/// instance (when the program is known) and a note on the memory limit.
pub fn render(
    program: Option<&Program>,
    options: &Options,
    source: &Source,
    d: Diagnostic,
) -> Error {
    let d = options.budget.annotate(d);
    let d = match program {
        Some(p) => p.annotate(d),
        None => d,
    };
    Error::rendered(d.render(source))
}

/// Checks the program, binding every table when a database is given; parameters and
/// embedding widths are compared with the budget.
pub fn check(
    source: &Source,
    ast: &ast::Program,
    db: Option<&Database>,
    options: &Options,
) -> Result<Program> {
    nrp_sema::check_with(ast, db, &options.check_options())
        .map_err(|d| render(None, options, source, d))
}

/// [`check`] binding only the tables that the relations named `targets` depend on.
pub fn check_for(
    source: &Source,
    ast: &ast::Program,
    db: &Database,
    targets: &[&str],
    options: &Options,
) -> Result<Program> {
    nrp_sema::check_targets_with(ast, db, targets, &options.check_options())
        .map_err(|d| render(None, options, source, d))
}

/// The relations a run needs: losses, `?pred` heads and selection metrics (without the
/// fits' relations when `no_fit`).
pub fn statement_relations(program: &Program, no_fit: bool) -> Vec<RelId> {
    statements_relations(program.statements.iter(), no_fit)
}

/// [`statement_relations`] of some statements.
pub fn statements_relations<'a>(
    statements: impl Iterator<Item = &'a Stmt>,
    no_fit: bool,
) -> Vec<RelId> {
    let mut rels = vec![];
    for s in statements {
        match s {
            Stmt::Fit { .. } if no_fit => {}
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

/// The matches that grounding `rels` (all derived relations if `None`) on `db` is
/// estimated to make, refused when they do not fit in the budget (as grounding would refuse
/// them). The engine's program (acyclic sums pushed down) is estimated when `as_engine`,
/// else the program as written (as the reference evaluator enumerates it).
pub fn estimates(
    program: &Program,
    db: &Database,
    rels: Option<&[RelId]>,
    as_engine: bool,
    source: &Source,
    options: &Options,
) -> Result<(Program, Vec<RuleEstimate>)> {
    let grounded = if as_engine {
        nrp_engine::grounded_program(program, &options.engine).into_owned()
    } else {
        program.clone()
    };
    let needed = match rels {
        Some(rels) => grounded.closure(rels),
        None => grounded.order.clone(),
    };
    let estimates = nrp_engine::estimate::program(&grounded, db, options.budget.bytes, &needed)
        .map_err(|d| render(Some(program), options, source, d))?;
    Ok((grounded, estimates))
}

/// The derived relation a user names.
pub fn user_relation(program: &Program, name: &str, source: &Source) -> Result<RelId> {
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

/// Names of the parameters of modules used by the given relations.
pub fn used_parameters(program: &Program, rels: &[RelId]) -> Vec<String> {
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

/// The paper's default acceptance policy (`--accept`): a strictly positive minimum
/// coordinate, so every coordinate `> 0` — a `nan` coordinate is not positive, as
/// `x.min() > 0` is false in PyTorch — and every tuple of dimension 0.
pub fn accepted(mut e: impl Iterator<Item = f64>) -> bool {
    e.all(|x| x > 0.0)
}
