//! The same data through different kinds of source gives the same results.
//!
//! Every golden case under `tests/programs/` whose database is a `db/` directory of CSV files
//! is copied twice into a temporary folder; in the second copy `db/` is converted
//! (`nrp_data::export`) to Parquet, to a SQLite file, or to a schema of the PostgreSQL test
//! server (`--db db` then names it). Each of the case's commands then runs in both copies,
//! and stdout, the exit status, stderr of successful commands and every file the commands
//! write must be identical. (Error messages name rows differently — CSV by file line, the
//! others by row number or key — so only their exit status is compared.)
//!
//! SQLite and PostgreSQL run a second time with SQL grounding (`--ground sql` added to
//! every `run`, `query` and `explain`): the database joins each body over tables, and the
//! results must still be those from CSV; `explain --sql` counts the bodies it joined.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use nrp_data::Database;

#[path = "../../nrp-data/tests/common/pg_server.rs"]
mod pg_server;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs")
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nrp-kinds-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` (relative path → bytes), `db/` and the exported SQLite file left
/// out.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == "db" || rel == "nrp-export.sqlite" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

struct Outcome {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn run(dir: &Path, words: &[String]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_nrp"))
        .args(&words[1..])
        .current_dir(dir)
        .output()
        .expect("run nrp");
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// Converts `dir/db` (CSV) to Parquet in place; the commands keep `--db db`.
fn to_parquet(_case: &str, db_dir: &Path) -> Option<String> {
    let db = Database::open(db_dir.to_str().unwrap()).unwrap();
    let out = db_dir.with_file_name("db.parquet-tmp");
    std::fs::create_dir_all(&out).unwrap();
    nrp_data::export::write_parquet_dir(&db, &out)
        .unwrap_or_else(|e| panic!("{}: {e}", db_dir.display()));
    drop(db);
    std::fs::remove_dir_all(db_dir).unwrap();
    std::fs::rename(&out, db_dir).unwrap();
    let db = Database::open(db_dir.to_str().unwrap()).unwrap();
    assert!(
        db.describe().starts_with("Parquet directory"),
        "{}",
        db.describe()
    );
    None
}

/// Runs every `--db db` command of every golden case with a CSV `db/` through both kinds
/// of source; returns the number of commands compared.
/// `prepare(case, db_dir)` makes the second copy's database and returns what `--db` becomes
/// (`None`: it stays `db`).
fn compare_cases(prepare: &dyn Fn(&str, &Path) -> Option<String>, kind: &str) -> usize {
    compare_grounding(prepare, kind, false).0
}

/// [`compare_cases`], the second copy grounded in SQL when `sql`; also returns the rule
/// bodies the database joined and the relations it computed (as `explain --sql` lists
/// them).
fn compare_grounding(
    prepare: &dyn Fn(&str, &Path) -> Option<String>,
    kind: &str,
    sql: bool,
) -> (usize, (usize, usize)) {
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("db").is_dir() && e.path().join("cmds").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.len() > 20,
        "golden cases with a db/ directory: {names:?}"
    );
    let tmp = TempDir::new(kind);
    let mut compared = 0;
    let mut pushed = (0, 0);
    let mut failures = Vec::new();
    for name in &names {
        let case = cases_dir().join(name);
        let a = tmp.0.join(name).join("csv");
        let b = tmp.0.join(name).join(kind);
        copy_dir(&case, &a);
        copy_dir(&case, &b);
        let db_arg = prepare(name, &b.join("db"));
        let cmds = std::fs::read_to_string(case.join("cmds")).unwrap();
        let mut listed = false;
        for line in cmds
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let words = common::split(line);
            if !words.windows(2).any(|w| w[0] == "--db" && w[1] == "db") {
                continue;
            }
            let x = run(&a, &words);
            let mut other: Vec<String> = match &db_arg {
                None => words.clone(),
                Some(spec) => {
                    let mut w = words.clone();
                    for i in 1..w.len() {
                        if w[i - 1] == "--db" && w[i] == "db" {
                            w[i] = spec.clone();
                        }
                    }
                    w
                }
            };
            let grounds = ["run", "query", "explain"].contains(&words[1].as_str());
            if sql && grounds {
                other.extend(["--ground".to_string(), "sql".to_string()]);
            }
            let y = run(&b, &other);
            if sql && !listed && grounds && y.code == Some(0) {
                // Once per case: the bodies of its program the database joins.
                listed = true;
                let at = other.iter().position(|w| w == "--db").unwrap() + 1;
                let explain: Vec<String> = ["nrp", "explain", &other[2], "--db", &other[at]]
                    .iter()
                    .map(|w| w.to_string())
                    .chain(["--ground", "sql", "--sql"].map(String::from))
                    .collect();
                let listing = run(&b, &explain).stdout;
                pushed.0 += listing
                    .lines()
                    .filter(|l| l.contains(": SELECT ") || l.contains(": COPY ("))
                    .count();
                pushed.1 += listing
                    .lines()
                    .filter(|l| l.contains(": computed by the database: "))
                    .count();
            }
            compared += 1;
            let mut diffs = Vec::new();
            if x.code != y.code {
                diffs.push(format!("exit {:?} vs {:?}", x.code, y.code));
            }
            if x.stdout != y.stdout {
                diffs.push(format!(
                    "stdout:\n--- csv\n{}--- {kind}\n{}",
                    x.stdout, y.stdout
                ));
            }
            if x.code == Some(0) && x.stderr != y.stderr {
                diffs.push(format!(
                    "stderr:\n--- csv\n{}--- {kind}\n{}",
                    x.stderr, y.stderr
                ));
            }
            if !diffs.is_empty() {
                failures.push(format!("{name}: `{line}`: {}", diffs.join("\n")));
            }
        }
        let (fa, fb) = (files(&a), files(&b));
        if fa != fb {
            let keys: Vec<&String> = fa
                .keys()
                .chain(fb.keys())
                .filter(|k| fa.get(*k) != fb.get(*k))
                .collect();
            failures.push(format!("{name}: written files differ: {keys:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} difference(s) between CSV and {kind}:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    (compared, pushed)
}

#[test]
fn golden_cases_give_the_same_results_from_parquet() {
    let n = compare_cases(&to_parquet, "parquet");
    assert!(n > 300, "only {n} commands compared");
}

/// Writes `db_dir` (CSV) as the SQLite file `nrp-export.sqlite` beside it.
fn to_sqlite(_case: &str, db_dir: &Path) -> Option<String> {
    let db = Database::open(db_dir.to_str().unwrap()).unwrap();
    let file = db_dir.with_file_name("nrp-export.sqlite");
    nrp_data::export::write_sqlite(&db, &file)
        .unwrap_or_else(|e| panic!("{}: {e}", db_dir.display()));
    Some("nrp-export.sqlite".into())
}

#[test]
fn golden_cases_give_the_same_results_from_sqlite() {
    let n = compare_cases(&to_sqlite, "sqlite");
    assert!(n > 300, "only {n} commands compared");
}

/// Loads `db_dir` (CSV) into the schema `golden_<case>` of the test server.
fn to_postgres(url: &str, case: &str, db_dir: &Path) -> Option<String> {
    let db = Database::open(db_dir.to_str().unwrap()).unwrap();
    let schema = format!("golden_{}", case.replace('-', "_"));
    nrp_data::export::write_postgres(&db, url, &schema)
        .unwrap_or_else(|e| panic!("{}: {e}", db_dir.display()));
    Some(pg_server::with_schema(url, &schema))
}

#[test]
fn golden_cases_give_the_same_results_from_postgresql() {
    let Some(url) = pg_server::url() else { return };
    let n = compare_cases(&|case, dir| to_postgres(&url, case, dir), "postgres");
    assert!(n > 300, "only {n} commands compared");
}

#[test]
fn golden_cases_give_the_same_results_with_sql_grounding_in_sqlite() {
    let (n, (pushed, computed)) = compare_grounding(&to_sqlite, "sqlite-sql", true);
    assert!(n > 300, "only {n} commands compared");
    eprintln!("{n} commands; {pushed} rule bodies joined, {computed} relations computed by SQLite");
    // Scans of one relation are left to nrp (nothing for the database to do).
    assert!(pushed > 80, "only {pushed} rule bodies joined by SQLite");
    assert!(
        computed >= 8,
        "only {computed} relations computed by SQLite"
    );
}

#[test]
fn golden_cases_give_the_same_results_with_sql_grounding_in_postgresql() {
    let Some(url) = pg_server::url() else { return };
    let (n, (pushed, computed)) = compare_grounding(
        &|case, dir| to_postgres(&url, &format!("{case}-sql"), dir),
        "postgres-sql",
        true,
    );
    assert!(n > 300, "only {n} commands compared");
    eprintln!(
        "{n} commands; {pushed} rule bodies joined, {computed} relations computed by PostgreSQL"
    );
    assert!(
        pushed > 80,
        "only {pushed} rule bodies joined by PostgreSQL"
    );
    assert!(
        computed >= 8,
        "only {computed} relations computed by PostgreSQL"
    );
}
