//! `nrp explain PROGRAM --db SOURCE [--dot] [--sql]`: the grounding (join orders, measured
//! sizes) and the per-epoch tensor plan, or the plan as a Graphviz graph; with `--sql` also
//! the SQL statement of each rule body over tables (SQL sources).

use super::open_db;
use crate::args::Args;
use crate::{Failure, R, print_stdout, settings};
use nrp_session::program;

pub fn run(args: &Args) -> R<()> {
    let budget = settings::budget(args)?;
    let (source, ast) = program::read_program(&args.program)?;
    let db = open_db(args.required("db")?)?;
    let mut options = settings::options(args, &budget)?;
    options.engine.show_sql = args.flag("sql");
    settings::check_ground(&options, &db)?;
    let checked = program::check(&source, &ast, Some(&db), &options)?;
    let engine = nrp_session::session::explain_engine(&checked, &db, &options)
        .map_err(|d| Failure::from(program::render(Some(&checked), &options, &source, d)))?;
    if args.flag("dot") {
        let targets = nrp_engine::plan::targets(&engine.plan, &engine.rels);
        return print_stdout(&nrp_engine::plan::display::dot(
            &engine.plan,
            Some(&checked),
            &targets,
        ));
    }
    let mut out = format!("{}\n\n{}", source.name, engine.explain());
    if args.flag("sql") {
        match db.sql_dialect() {
            Some(_) => out.push_str(&format!("\n{}", engine.explain_sql())),
            None => out.push_str(&format!(
                "\nSQL grounding: none, {} is not a SQL database\n",
                db.describe()
            )),
        }
    }
    print_stdout(&out)
}
