//! The random-program generator's cases through every kind of source: each case's database
//! (in memory) is written as Parquet, as a SQLite file and (first cases) into a PostgreSQL
//! schema with `nrp_data::export`, read back, and evaluated with the reference evaluator;
//! every derived relation must be identical to the in-memory result (and an evaluation
//! error must occur for every source or for none).
//!
//! Through SQLite and PostgreSQL the engine also grounds every case twice, in nrp and with
//! SQL grounding (`GroundMode::Sql`, the database joining each body over tables): the
//! match lists of every rule and the evaluated relations must be identical, bit for bit.
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

/// What the engine computed, grounded `ground`.
#[derive(Debug)]
struct Grounded {
    /// Per relation, its match lists (`None`: computed by the database, or an input).
    rules: Vec<Option<String>>,
    /// The targets' facts (floats by their bits).
    outputs: String,
    /// Bodies the database joined, and relations it computed.
    pushed: usize,
    computed: usize,
}

impl Grounded {
    /// Same outputs, and the same match lists of every rule both grounded in nrp.
    fn same(&self, other: &Grounded) -> bool {
        self.outputs == other.outputs
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.is_none() || b.is_none() || a == b)
    }
}

/// The engine's match lists and evaluated relations, grounded `ground`. The targets are
/// the relations nothing reads, so that the database may compute the others.
fn engine(
    program: &nrp_sema::Program,
    db: &Database,
    seed: u64,
    ground: nrp_engine::GroundMode,
) -> Result<Grounded, String> {
    let params =
        nrp_params::init_parameters(&program.parameters(), seed).expect("small parameters");
    let mut read = vec![false; program.relations.len()];
    for r in &program.relations {
        if let nrp_sema::RelKind::Derived(rule) = &r.kind {
            rule.dependencies().into_iter().for_each(|d| read[d] = true);
        }
    }
    let targets: Vec<usize> = (0..program.relations.len())
        .filter(|&r| {
            !program.relations[r].is_input() && !program.relations[r].is_auxiliary() && !read[r]
        })
        .collect();
    let options = nrp_engine::EngineOptions {
        ground,
        ..Default::default()
    };
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let engine = nrp_engine::Engine::with_options(program, db, &targets, u64::MAX, &options)
            .map_err(|d| d.message)?;
        let pushed = (engine.ground.sql.iter().flatten())
            .filter(|p| p.statement.is_ok())
            .count();
        let computed = engine.ground.lifted.relations.iter().flatten().count();
        let rules = engine
            .ground
            .rules
            .iter()
            .map(|r| r.as_ref().map(|r| format!("{r:?}")))
            .collect();
        let mut outputs = String::new();
        let out = engine
            .evaluate(&cpu, &nrp_engine::Params::new(program, &params), &targets)
            .map_err(|d| d.message)?;
        for o in out {
            let bits: Vec<u32> = o.embeddings.iter().map(|x| x.to_bits()).collect();
            outputs.push_str(&format!("{:?} {bits:?} {:?}\n", o.rows, o.counts));
        }
        Ok(Grounded {
            rules,
            outputs,
            pushed,
            computed,
        })
    }))
    .unwrap_or_else(|_| Err("engine panicked".into()))
}

#[test]
fn random_programs_give_the_same_results_from_every_source() {
    let cases = env_u64("NRP_PROP_CASES").unwrap_or(400);
    let pg = pg_server::url();
    let tmp = TempDir(std::env::temp_dir().join(format!("nrp-rsrc-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let (mut compared, mut with_pg) = (0, 0);
    // Bodies joined by the database, per SQL source.
    let (mut pushed_lite, mut pushed_pg) = ((0, 0), (0, 0));
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
            if kind == "Parquet" {
                continue;
            }
            let Ok(p) = nrp_sema::check(&ast, Some(&db)) else {
                continue;
            };
            let nrp = engine(&p, &db, stmts, nrp_engine::GroundMode::InEngine);
            let sql = engine(&p, &db, stmts, nrp_engine::GroundMode::Sql);
            let same = match (&nrp, &sql) {
                (Ok(a), Ok(b)) => a.same(b),
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if let Ok(g) = &sql {
                let counts = if kind == "SQLite" {
                    &mut pushed_lite
                } else {
                    &mut pushed_pg
                };
                counts.0 += g.pushed;
                counts.1 += g.computed;
            }
            if !same {
                failures.push(format!(
                    "seed {seed}, {kind}, SQL grounding:\n{}\n--- in nrp\n{nrp:?}\n--- SQL\n{sql:?}",
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
    eprintln!(
        "{compared} cases; SQLite joined {} bodies and computed {} relations, PostgreSQL {} and {}",
        pushed_lite.0, pushed_lite.1, pushed_pg.0, pushed_pg.1
    );
    if pg.is_some() {
        assert!(with_pg > 30, "only {with_pg} cases through PostgreSQL");
        assert!(
            pushed_pg.0 > 20,
            "only {} bodies joined by PostgreSQL",
            pushed_pg.0
        );
        assert!(
            pushed_pg.1 > 2,
            "only {} relations computed by PostgreSQL",
            pushed_pg.1
        );
    }
    assert!(
        pushed_lite.0 as u64 > cases / 4,
        "only {} bodies joined by SQLite",
        pushed_lite.0
    );
    assert!(
        pushed_lite.1 as u64 > cases / 40,
        "only {} relations computed by SQLite",
        pushed_lite.1
    );
}
