//! `nrp check PROGRAM [--db SOURCE]`: syntax, dimensions, fragments, the rules as nrp reads
//! them, and with a database the estimated matches of each rule.

use super::open_db;
use crate::args::Args;
use crate::{R, print_stdout, settings};
use nrp_session::{program, report};

pub fn run(args: &Args) -> R<()> {
    let budget = settings::budget(args)?;
    let (source, ast) = program::read_program(&args.program)?;
    let db = args.value("db").map(open_db).transpose()?;
    let options = settings::options(args, &budget)?;
    let checked = program::check(&source, &ast, db.as_ref(), &options)?;
    let estimated = match &db {
        Some(db) => Some(program::estimates(
            &checked, db, None, true, &source, &options,
        )?),
        None => None,
    };
    print_stdout(&report::check_report(
        &checked,
        &source,
        estimated.as_ref(),
        db.is_some(),
    ))
}
