//! `nrp query PROGRAM --db SOURCE --relation NAME`: one derived relation, by the engine or
//! (`--reference`) by the naive f64 evaluator, as CSV or JSON lines.

use super::open_db;
use crate::args::Args;
use crate::{Failure, R, output, print_stdout, settings};
use nrp_data::format_float;
use nrp_session::program::{self, accepted};
use nrp_syntax::Diagnostic;

pub fn run(args: &Args) -> R<()> {
    let budget = settings::budget(args)?;
    let (source, ast) = program::read_program(&args.program)?;
    let db = open_db(args.required("db")?)?;
    let name = args.required("relation")?;
    let format = output::Format::parse(args.value("format").unwrap_or("csv"))?;
    let options = settings::options(args, &budget)?;
    settings::check_ground(&options, &db)?;
    // Only the tables the relation depends on are needed (no label table to predict).
    let checked = program::check_for(&source, &ast, &db, &[name], &options)?;
    let rel = program::user_relation(&checked, name, &source)?;
    let needed = checked.closure(&[rel]);
    let params = settings::parameters(args, None, &checked, &needed)?;
    let accept = args.flag("accept");
    let render =
        |d: Diagnostic| Failure::from(program::render(Some(&checked), &options, &source, d));
    // Checked (and the pool started) with `--reference` too: a bad `--threads` is an error.
    let backend = settings::backend(args)?;
    let mut out = String::new();
    if args.flag("reference") {
        // The reference evaluator enumerates every match and holds every fact in f64:
        // refuse what would not fit.
        let (_, estimated) =
            program::estimates(&checked, &db, Some(&[rel]), false, &source, &options)?;
        nrp_engine::estimate::check_reference(&checked, &estimated, budget.bytes)
            .map_err(render)?;
        let results = nrp_reference::evaluate_with_codes(
            &checked,
            &db,
            &params,
            &[rel],
            &options.engine.codes,
        )
        .map_err(render)?;
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
            nrp_engine::Engine::with_options(&checked, &db, &[rel], budget.bytes, &options.engine)
                .map_err(render)?;
        let p = nrp_engine::Params::new(&checked, &params);
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
