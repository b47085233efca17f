//! The PostgreSQL server the tests use (shared by the test files that include it).
//!
//! `NRP_TEST_PG_URL` (a superuser's URL, as `scripts/pg-scratch.sh start` prints) names it.
//! Without it, a scratch cluster is started with that script for the test process (and
//! removed when the process ends) if the server binaries are installed. Without either the
//! tests FAIL, so that CI never passes without having run them; `NRP_TEST_NO_PG=1` skips
//! them explicitly (for machines without PostgreSQL), printing that it did.

#![allow(dead_code)]

use std::sync::OnceLock;

/// The server's URL, or `None` when `NRP_TEST_NO_PG=1` (the caller returns at once).
pub fn url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("NRP_TEST_PG_URL")
            && !u.is_empty()
        {
            return Some(u);
        }
        if std::env::var("NRP_TEST_NO_PG").is_ok_and(|v| v == "1") {
            eprintln!("PostgreSQL tests skipped: NRP_TEST_NO_PG=1");
            return None;
        }
        Some(scratch())
    })
    .clone()
}

/// Starts a scratch cluster for this test process (removed when it ends); panics with
/// what to do if that is impossible.
pub fn scratch() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-scratch.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(["start", "--owner-pid", &std::process::id().to_string()])
        .output()
        .expect("run scripts/pg-scratch.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout.lines().find_map(|l| {
        l.strip_prefix("export NRP_TEST_PG_URL='")
            .and_then(|r| r.strip_suffix('\''))
    });
    match url {
        Some(u) if out.status.success() => u.to_string(),
        _ => panic!(
            "the PostgreSQL tests need a server: set NRP_TEST_PG_URL (eval \"$(scripts/\
             pg-scratch.sh start)\"), or install PostgreSQL's server binaries so that the \
             tests start one, or set NRP_TEST_NO_PG=1 to skip them on this machine.\n\
             scripts/pg-scratch.sh said: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `(host, port, dbname)` of a `postgres://user:pw@host:port/dbname` URL.
pub fn parts(url: &str) -> (String, String, String) {
    let rest = url.split('@').nth(1).expect("URL with user@");
    let (hostport, db) = rest.split_once('/').expect("URL with /dbname");
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    let db = db.split('?').next().unwrap_or(db);
    (host.to_string(), port.to_string(), db.to_string())
}

/// `url` with `?schema=NAME` (or `&schema=NAME`).
pub fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={schema}")
}

/// A superuser connection.
pub fn admin(url: &str) -> postgres::Client {
    url.parse::<postgres::Config>()
        .expect("NRP_TEST_PG_URL parses")
        .connect(postgres::NoTls)
        .expect("connect to the test server")
}

/// A fresh, empty schema `name` (dropped first with everything in it), filled by `sql`
/// (run with `search_path` set to the schema).
pub fn schema(url: &str, name: &str, sql: &str) -> postgres::Client {
    let mut c = admin(url);
    let q = format!("\"{}\"", name.replace('"', "\"\""));
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {q} CASCADE; CREATE SCHEMA {q}; SET search_path TO {q}; {sql}"
    ))
    .unwrap_or_else(|e| panic!("setting up schema {name}: {e:?}"));
    c
}

/// A checksum of every table of the schema (names, rows in a fixed order).
pub fn checksum(c: &mut postgres::Client, schema: &str) -> String {
    let tables: Vec<String> = c
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut all = String::new();
    for t in tables {
        let row = c
            .query_one(
                &format!(
                    "SELECT '{t}:' || count(*) || ':' || \
                     coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') \
                     FROM \"{schema}\".\"{t}\" x"
                ),
                &[],
            )
            .unwrap();
        all.push_str(&row.get::<_, String>(0));
        all.push('\n');
    }
    all
}
