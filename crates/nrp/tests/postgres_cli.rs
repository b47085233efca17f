//! `nrp` against a real PostgreSQL server (see crates/nrp-data/tests/common/pg_server.rs):
//! GCN on Cora gives the same results from CSV, Parquet and PostgreSQL; a password never
//! appears in any output; bad input exits 1 with one message and leaves the database as it
//! was.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[path = "../../nrp-data/tests/common/pg_server.rs"]
mod pg_server;

use pg_server::{admin, checksum, schema, url, with_schema};

mod common;
use common::root;

fn nrp(args: &[&str]) -> Output {
    common::nrp(&root(), args)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// stdout without the line that reports timings.
fn results(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("trained "))
        .collect::<Vec<_>>()
        .join("\n")
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Cora in schema `cli_cora`, readable by the role `nrp_cli` (password below).
const PASSWORD: &str = "Zq81-top-secret";

fn cora(url: &str) -> String {
    let db = nrp_data::Database::open(root().join("examples/data/cora").to_str().unwrap()).unwrap();
    let mut c = schema(url, "cli_cora", "");
    nrp_data::export::write_postgres(&db, url, "cli_cora").unwrap();
    c.batch_execute(&format!(
        "DROP OWNED BY nrp_cli; DROP ROLE IF EXISTS nrp_cli;
         CREATE ROLE nrp_cli LOGIN PASSWORD '{PASSWORD}';
         GRANT USAGE ON SCHEMA cli_cora TO nrp_cli;
         GRANT SELECT ON ALL TABLES IN SCHEMA cli_cora TO nrp_cli;"
    ))
    .or_else(|_| {
        c.batch_execute(&format!(
            "CREATE ROLE nrp_cli LOGIN PASSWORD '{PASSWORD}';
             GRANT USAGE ON SCHEMA cli_cora TO nrp_cli;
             GRANT SELECT ON ALL TABLES IN SCHEMA cli_cora TO nrp_cli;"
        ))
    })
    .unwrap();
    let hostport = url
        .split('@')
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap();
    let dbname = url
        .rsplit('/')
        .next()
        .and_then(|d| d.split('?').next())
        .unwrap();
    format!("postgres://nrp_cli:{PASSWORD}@{hostport}/{dbname}?schema=cli_cora")
}

#[test]
fn gcn_cora_from_csv_parquet_and_postgresql_agree_and_the_password_stays_secret() {
    let Some(url) = url() else { return };
    let pg = cora(&url);
    let mut admin_conn = admin(&url);
    let before = checksum(&mut admin_conn, "cli_cora");

    let tmp = TempDir(std::env::temp_dir().join(format!("nrp-pgcli-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0).unwrap();
    let csv =
        nrp_data::Database::open(root().join("examples/data/cora").to_str().unwrap()).unwrap();
    nrp_data::export::write_parquet_dir(&csv, &tmp.0).unwrap();

    let program = "examples/gcn-cora.nrp";
    let run = |db: &str| nrp(&["run", program, "--db", db, "--threads", "2"]);
    let a = run("examples/data/cora");
    let b = run(tmp.0.to_str().unwrap());
    let c = run(&pg);
    assert!(a.status.success(), "{}", text(&a));
    assert!(results(&a).contains("TestAcc = "), "{}", results(&a));
    assert_eq!(results(&a), results(&b), "CSV vs Parquet");
    assert_eq!(results(&a), results(&c), "CSV vs PostgreSQL");
    assert!(!text(&c).contains(PASSWORD));
    // The server joining the bodies over tables (SQL grounding): the same trained model.
    let d = nrp(&[
        "run",
        program,
        "--db",
        &pg,
        "--threads",
        "2",
        "--ground",
        "sql",
    ]);
    assert_eq!(
        results(&a),
        results(&d),
        "CSV vs PostgreSQL with --ground sql"
    );

    // Every command, its --json and its errors: no password.
    let bad_pw = pg.replace(PASSWORD, "Wrong-pw-77");
    let outputs = [
        nrp(&["check", program, "--db", &pg]),
        nrp(&["explain", program, "--db", &pg]),
        nrp(&["run", program, "--db", &pg, "--json", "--threads", "2"]),
        nrp(&["query", program, "--db", &pg, "--relation", "Train"]),
        nrp(&[
            "query",
            program,
            "--db",
            &pg,
            "--relation",
            "NoSuchRelation",
        ]),
        nrp(&["check", program, "--db", &pg, "--no-such-flag"]),
        nrp(&["run", "--db", &pg]),
        nrp(&["check", "no-such-program.nrp", "--db", &pg]),
        nrp(&["explain", program, "--db", &pg, "--ground", "sql", "--sql"]),
    ];
    for o in &outputs {
        let t = text(o);
        assert!(!t.contains(PASSWORD), "password shown:\n{t}");
        assert!(!t.contains("top-secret"), "password shown:\n{t}");
    }
    assert!(outputs[0].status.success(), "{}", text(&outputs[0]));
    assert!(outputs[1].status.success(), "{}", text(&outputs[1]));
    assert!(outputs[2].status.success(), "{}", text(&outputs[2]));
    let sql = String::from_utf8_lossy(&outputs[8].stdout);
    assert!(
        sql.contains(": COPY (SELECT a0.ctid"),
        "{}",
        text(&outputs[8])
    );
    // GCN's degrees are counted by the database, and the normalisation's body joins them
    // there (the results above are those of CSV).
    assert!(
        sql.contains(
            "Deg: computed by the database: WITH \"nrp:Deg\" AS (SELECT q.*, ROW_NUMBER()"
        ) && sql.contains("COUNT(*) AS n")
            && sql.contains("Norm: COPY (WITH \"nrp:Deg\" AS"),
        "{}",
        text(&outputs[8])
    );
    assert!(
        !String::from_utf8_lossy(&outputs[1].stdout).contains("computed by the database"),
        "in-engine grounding computes nothing in the database: {}",
        text(&outputs[1])
    );
    assert!(
        String::from_utf8_lossy(&outputs[2].stdout).contains("\"test_acc\""),
        "{}",
        text(&outputs[2])
    );
    // The password from a password file (libpq's format), and never from one that others
    // may read.
    let no_pw = pg.replace(&format!(":{PASSWORD}@"), "@");
    let dir = TempDir(std::env::temp_dir().join(format!("nrp-pgpass-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let pass = dir.0.join("pgpass");
    std::fs::write(&pass, format!("# test\n*:*:*:nrp_cli:{PASSWORD}\n")).unwrap();
    let check_with = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(mode)).unwrap();
        Command::new(env!("CARGO_BIN_EXE_nrp"))
            .args(["check", program, "--db", &no_pw])
            .current_dir(root())
            .env("PGPASSFILE", &pass)
            .env_remove("PGPASSWORD")
            .output()
            .unwrap()
    };
    let private = check_with(0o600);
    assert!(private.status.success(), "{}", text(&private));
    let shared = check_with(0o644);
    assert_eq!(shared.status.code(), Some(1), "{}", text(&shared));
    assert!(!text(&shared).contains(PASSWORD), "{}", text(&shared));

    let wrong = nrp(&["run", program, "--db", &bad_pw]);
    assert_eq!(wrong.status.code(), Some(1));
    let t = text(&wrong);
    assert!(!t.contains("Wrong-pw-77"), "{t}");
    assert!(t.contains("password authentication failed"), "{t}");
    assert_eq!(
        String::from_utf8_lossy(&wrong.stderr).lines().count(),
        1,
        "{t}"
    );

    // Nothing nrp did changed the database.
    assert_eq!(before, checksum(&mut admin_conn, "cli_cora"));
}

#[test]
fn a_server_that_goes_away_mid_run_is_one_clear_error() {
    let Some(url) = url() else { return };
    let mut c = schema(
        &url,
        "cli_gone",
        "CREATE TABLE e (a integer, b integer); INSERT INTO e VALUES (1, 2), (2, 3);
         CREATE VIEW slow AS SELECT a, b FROM e, pg_sleep(30);",
    );
    let before = checksum(&mut c, "cli_gone");
    let tmp = TempDir(std::env::temp_dir().join(format!("nrp-pggone-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0).unwrap();
    let program = tmp.0.join("p.nrp");
    std::fs::write(&program, "P(x, y) :- Slow(x, y) .\n").unwrap();
    let db = with_schema(&url, "cli_gone");
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_nrp"))
        .args([
            "query",
            program.to_str().unwrap(),
            "--db",
            &db,
            "--relation",
            "P",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until its COPY runs, then end its backend as an administrator (or a crash) would.
    let mut killed = 0;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let rows = c
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'nrp' AND query LIKE 'COPY (SELECT%cli_gone%'",
                &[],
            )
            .unwrap();
        killed = rows.len();
        if killed > 0 {
            break;
        }
    }
    assert_eq!(killed, 1);
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // One error: at the atom that reads the table, with the server's reason — or, when the
    // socket closes before the client reads the server's last message (a race in the
    // server's shutdown of the backend), that the connection closed.
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(
        err.contains("error: cannot read table `slow` from PostgreSQL database")
            && (err.contains("terminating connection due to administrator command")
                || err.contains("connection closed")),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(before, checksum(&mut c, "cli_gone"));
}
