//! The random-program generator's cases through every kind of source: each case's database
//! (in memory) is written as Parquet, as a SQLite file and (first cases) into a PostgreSQL
//! schema with `nrp_data::export`, read back, and evaluated with the reference evaluator;
//! every derived relation must be identical to the in-memory result (and an evaluation
//! error must occur for every source or for none).
//!
//! `NRP_PROP_CASES` (default 400) sets the number of seeds; PostgreSQL takes the first 60.

mod common;

#[path = "../../nrp-data/tests/common/pg_server.rs"]
mod pg_server;

use common::generator::*;
use nrp_data::Database;

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The reference results as text (`NaN`s compare equal this way), or `Err` for an error.
fn evaluate(program: &nrp_sema::Program, db: &Database, seed: u64) -> Result<String, String> {
    let params =
        nrp_params::init_parameters(&program.parameters(), seed).expect("small parameters");
    let targets: Vec<usize> = (0..program.relations.len())
        .filter(|&r| !program.relations[r].is_input() && !program.relations[r].is_auxiliary())
        .collect();
    match nrp_reference::evaluate(program, db, &params, &targets) {
        Ok(out) => Ok(targets.iter().map(|&t| format!("{:?}\n", out[t])).collect()),
        Err(e) => Err(e.message),
    }
}

#[test]
fn random_programs_give_the_same_results_from_every_source() {
    let cases = env_u64("NRP_PROP_CASES").unwrap_or(400);
    let pg = pg_server::url();
    let tmp = TempDir(std::env::temp_dir().join(format!("nrp-rsrc-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let (mut compared, mut with_pg) = (0, 0);
    let mut failures = Vec::new();
    for seed in 0..cases {
        let case = generate(seed);
        let Ok(ast) = nrp_syntax::parse(&case.text()) else {
            continue;
        };
        let mem = case.database();
        let Ok(program) = nrp_sema::check(&ast, Some(&mem)) else {
            continue;
        };
        let stmts = seed;
        let expected = evaluate(&program, &mem, stmts);
        let dir = tmp.0.join(seed.to_string());
        let pq = dir.join("parquet");
        std::fs::create_dir_all(&pq).unwrap();
        nrp_data::export::write_parquet_dir(&mem, &pq).unwrap();
        let lite = dir.join("db.sqlite");
        nrp_data::export::write_sqlite(&mem, &lite).unwrap();
        let mut sources = vec![
            ("Parquet", pq.to_str().unwrap().to_string()),
            ("SQLite", lite.to_str().unwrap().to_string()),
        ];
        if let Some(url) = &pg
            && seed < 60
        {
            let schema = format!("random_{seed}");
            pg_server::schema(url, &schema, "");
            nrp_data::export::write_postgres(&mem, url, &schema).unwrap();
            sources.push(("PostgreSQL", pg_server::with_schema(url, &schema)));
            with_pg += 1;
        }
        for (kind, spec) in sources {
            let db = Database::open(&spec).unwrap();
            // Checking against the source itself must accept the program too.
            let got = match nrp_sema::check(&ast, Some(&db)) {
                Ok(p) => evaluate(&p, &db, stmts),
                Err(d) => Err(format!("check: {}", d.message)),
            };
            let same = match (&expected, &got) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !same {
                failures.push(format!(
                    "seed {seed}, {kind}:\n{}\n--- memory\n{expected:?}\n--- {kind}\n{got:?}",
                    case.describe()
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        compared += 1;
    }
    assert!(
        failures.is_empty(),
        "{} difference(s):\n{}",
        failures.len(),
        failures[..failures.len().min(3)].join("\n\n")
    );
    assert!(
        compared * 2 > cases as usize,
        "only {compared} cases compared"
    );
    if pg.is_some() {
        assert!(with_pg > 30, "only {with_pg} cases through PostgreSQL");
    }
}
