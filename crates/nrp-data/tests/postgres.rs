//! PostgreSQL sources against a real server (see `common/pg_server.rs` for which one):
//! types, row references, quoting, views, the read-only session and every bad input.

#[path = "common/pg_server.rs"]
mod pg_server;

use std::time::{Duration, Instant};

use nrp_data::{Database, Value};
use pg_server::{admin, checksum, schema, url, with_schema};

fn err<T: std::fmt::Debug>(r: Result<T, nrp_data::DataError>) -> String {
    r.unwrap_err().message
}

const TYPES: &str = "
    CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE DOMAIN score AS integer;
    CREATE TABLE t (
        id integer PRIMARY KEY, s smallint, b bigint, r real, d double precision,
        n numeric(10, 2), txt text, vc varchar(10), flag boolean, day date,
        at timestamp, atz timestamptz, m mood, sc score, u uuid, tm time,
        emb real[], emb8 double precision[]
    );
    INSERT INTO t VALUES
      (1, 2, 9007199254740993, 0.5, 2.25, 12.34, 'alice', '7', true, '2000-01-01',
       '2023-11-14 22:13:20.5', '2023-11-14 23:13:20.5+01', 'happy', 5,
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '01:02:03', '{0.5, 1.5}', '{1, 2, 3}'),
      (2, -3, -7, 1e30, -0.125, -0.05, 'bob', ' 2.50 ', false, '1969-12-31',
       '1969-12-31 23:59:59.999999', '1970-01-01 00:00:00+00', 'sad', -1,
       '00000000-0000-0000-0000-000000000000', '23:59:59.5', '{-1, 0.25}', '{4, 5, 6}');
";

fn col(t: &nrp_data::Table, name: &str) -> Vec<String> {
    let c = t.columns.iter().position(|c| c == name).unwrap();
    (0..t.len())
        .map(|i| t.cells[c].get(i).to_string())
        .collect()
}

#[test]
fn types_read_as_documented() {
    let Some(url) = url() else { return };
    schema(&url, "nrp_types", TYPES);
    let db = Database::open(&with_schema(&url, "nrp_types")).unwrap();
    assert!(db.describe().starts_with("PostgreSQL database postgres://"));
    assert!(
        db.describe().ends_with(", schema nrp_types"),
        "{}",
        db.describe()
    );
    assert_eq!(db.table_names(), ["t"]);
    let t = db.table("t").unwrap();
    assert_eq!(col(&t, "id"), ["1", "2"]);
    assert_eq!(col(&t, "s"), ["2", "-3"]);
    assert_eq!(col(&t, "b"), ["9007199254740993", "-7"]);
    assert_eq!(col(&t, "r"), ["0.5", "1.0000000150474662e+30"]);
    assert_eq!(col(&t, "d"), ["2.25", "-0.125"]);
    assert_eq!(col(&t, "n"), ["12.34", "-0.05"]);
    assert_eq!(col(&t, "txt"), ["alice", "bob"]);
    // Text that reads as a number is that number, as in CSV.
    assert_eq!(col(&t, "vc"), ["7", "2.5"]);
    assert!(matches!(t.cells[6].get(0), Value::Str(_)));
    assert_eq!(col(&t, "flag"), ["1", "0"]);
    assert_eq!(col(&t, "day"), ["2000-01-01", "1969-12-31"]);
    assert_eq!(
        col(&t, "at"),
        ["2023-11-14 22:13:20.5", "1969-12-31 23:59:59.999999"]
    );
    assert_eq!(
        col(&t, "atz"),
        ["2023-11-14 22:13:20.5", "1970-01-01 00:00:00"]
    );
    assert_eq!(col(&t, "m"), ["happy", "sad"]);
    assert_eq!(col(&t, "sc"), ["5", "-1"]);
    assert_eq!(
        col(&t, "u"),
        [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "00000000-0000-0000-0000-000000000000"
        ]
    );
    assert_eq!(col(&t, "tm"), ["01:02:03", "23:59:59.5"]);
    assert_eq!(t.array_cell(16, 1), Some(&[-1.0, 0.25][..]));
    assert_eq!(t.array_cell(17, 0), Some(&[1.0, 2.0, 3.0][..]));
    // Rows are named by primary key.
    assert_eq!(t.row_ref(1).to_string(), "primary key (id=2)");
    // The whole table binds with the double array as the embedding… of a view, since an
    // array column binds only alone after the content columns.
    let e = err(db.bind("t", 17, true));
    assert!(
        e.contains("column `emb` holds arrays (real[]), which bind only as an embedding"),
        "{e}"
    );
}

#[test]
fn arrays_bind_as_embeddings_and_views_are_tables() {
    let Some(url) = url() else { return };
    schema(
        &url,
        "nrp_views",
        "CREATE TABLE feat (id integer PRIMARY KEY, label text, x real[]);
         INSERT INTO feat VALUES (1, 'a', '{0.5, 1}'), (2, 'b', '{2, -3}'), (3, 'a', '{0, 0}');
         CREATE VIEW labelled AS SELECT id, label FROM feat WHERE label = 'a';
         CREATE MATERIALIZED VIEW wide AS SELECT id, x[1] AS x1, x[2] AS x2 FROM feat;",
    );
    let db = Database::open(&with_schema(&url, "nrp_views")).unwrap();
    assert_eq!(db.table_names(), ["feat", "labelled", "wide"]);
    let r = db.bind("feat", 2, true).unwrap();
    assert_eq!((r.len(), r.dim), (3, 2));
    assert_eq!(r.emb(1), [2.0, -3.0]);
    let r = db.bind("labelled", 2, false).unwrap();
    assert_eq!(r.len(), 2);
    let r = db.bind("wide", 1, true).unwrap();
    assert_eq!(r.emb(0), [0.5, 1.0]);
    // Case-insensitive resolution as for other sources.
    assert_eq!(db.resolve("FEAT").unwrap().as_deref(), Some("feat"));
}

#[test]
fn nulls_and_unsupported_types_are_errors_naming_table_key_and_column() {
    let Some(url) = url() else { return };
    schema(
        &url,
        "nrp_nulls",
        "CREATE TABLE k (a integer, b text, c real[], PRIMARY KEY (a, b));
         INSERT INTO k VALUES (1, 'x', '{1, 2}'), (2, 'y z', NULL);
         CREATE TABLE nokey (v integer, w integer);
         INSERT INTO nokey VALUES (1, 2), (3, NULL);
         CREATE TABLE bin (id integer PRIMARY KEY, blob bytea, pt point);
         INSERT INTO bin VALUES (1, '\\x00', '(1,2)');
         CREATE TABLE elem (id integer PRIMARY KEY, e real[]);
         INSERT INTO elem VALUES (1, '{1, NULL}');
         CREATE TABLE multi (id integer PRIMARY KEY, e real[]);
         INSERT INTO multi VALUES (1, '{{1, 2}, {3, 4}}');
         CREATE VIEW nullview AS SELECT 1 AS a, NULL::integer AS b;",
    );
    let db = Database::open(&with_schema(&url, "nrp_nulls")).unwrap();
    let e = err(db.bind("k", 2, true));
    assert_eq!(
        e,
        "table `k` (a, b, c), primary key (a=2, b=\"y z\"), column `c`: NULL in a bound column"
    );
    // Without a primary key: the ctid.
    let e = err(db.bind("nokey", 2, false));
    assert_eq!(
        e,
        "table `nokey` (v, w), ctid (0,2), column `w`: NULL in a bound column"
    );
    assert_eq!(db.bind("nokey", 1, false).unwrap().len(), 2);
    // Views: the row's position.
    let e = err(db.bind("nullview", 2, false));
    assert_eq!(
        e,
        "table `nullview` (a, b), row 1, column `b`: NULL in a bound column"
    );
    // Unsupported types load, and are an error when bound.
    assert_eq!(db.bind("bin", 1, false).unwrap().len(), 1);
    let e = err(db.bind("bin", 2, false));
    assert!(
        e.starts_with("table `bin` (id, blob, pt), column `blob`: its type bytea is not supported"),
        "{e}"
    );
    let e = err(db.bind("elem", 1, true));
    assert!(
        e.ends_with(
            "primary key (id=1), column `e`: an array with a NULL element in a bound column"
        ),
        "{e}"
    );
    let e = err(db.bind("multi", 1, true));
    assert!(
        e.contains("2-dimensional array is not supported") || e.contains("2-dimensional array"),
        "{e}"
    );
}

#[test]
fn every_identifier_is_quoted() {
    let Some(url) = url() else { return };
    schema(
        &url,
        "nrp \"quoted\"; schema",
        "CREATE TABLE \"Robert'); DROP TABLE x;--\" (\"we\"\"ird col\" integer, \"select\" text);
         INSERT INTO \"Robert'); DROP TABLE x;--\" VALUES (1, 'a'), (2, 'b');
         CREATE TABLE x (keep integer);",
    );
    let u = with_schema(&url, "nrp%20%22quoted%22%3B%20schema");
    let db = Database::open(&u).unwrap();
    assert_eq!(db.table_names(), ["Robert'); DROP TABLE x;--", "x"]);
    let r = db.bind("Robert'); DROP TABLE x;--", 2, false).unwrap();
    assert_eq!(r.columns, ["we\"ird col", "select"]);
    assert_eq!(r.len(), 2);
    // A name that is not a table never reaches SQL.
    let e = err(db.bind("x; DROP TABLE x", 1, false));
    assert!(
        e.starts_with("no table `x; DROP TABLE x` in PostgreSQL database"),
        "{e}"
    );
    assert_eq!(db.table_names().len(), 2);
}

#[test]
fn the_session_is_read_only_and_sees_one_snapshot() {
    let Some(url) = url() else { return };
    let mut c = schema(
        &url,
        "nrp_snapshot",
        "CREATE TABLE a (v integer); INSERT INTO a VALUES (1);
         CREATE TABLE b (v integer); INSERT INTO b VALUES (1);",
    );
    let before = checksum(&mut c, "nrp_snapshot");
    let db = Database::open(&with_schema(&url, "nrp_snapshot")).unwrap();
    assert_eq!(db.bind("a", 1, false).unwrap().len(), 1);
    // Rows added after the first read are not seen: one snapshot for the whole run.
    c.batch_execute("INSERT INTO nrp_snapshot.b VALUES (2)")
        .unwrap();
    assert_eq!(db.bind("b", 1, false).unwrap().len(), 1);
    // The session's transaction is read-only.
    let rows = c
        .query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nrp' \
             AND state = 'idle in transaction'",
            &[],
        )
        .unwrap();
    assert!(rows[0].get::<_, i64>(0) >= 1);
    drop(db);
    c.batch_execute("DELETE FROM nrp_snapshot.b WHERE v = 2")
        .unwrap();
    assert_eq!(before, checksum(&mut c, "nrp_snapshot"));
}

#[test]
fn a_table_dropped_after_opening_is_a_clear_error() {
    let Some(url) = url() else { return };
    let mut c = schema(
        &url,
        "nrp_dropped",
        "CREATE TABLE gone (v integer); INSERT INTO gone VALUES (1);",
    );
    let db = Database::open(&with_schema(&url, "nrp_dropped")).unwrap();
    c.batch_execute("DROP TABLE nrp_dropped.gone").unwrap();
    let e = err(db.bind("gone", 1, false));
    assert!(
        e.starts_with("cannot read table `gone` from PostgreSQL database")
            && e.contains("it no longer exists"),
        "{e}"
    );
}

#[test]
fn statement_timeout_is_a_clear_error() {
    let Some(url) = url() else { return };
    schema(
        &url,
        "nrp_slow",
        "CREATE VIEW slow AS SELECT v FROM (SELECT 1 AS v, pg_sleep(5)) s;",
    );
    let u = with_schema(&url, "nrp_slow");
    let sep = if u.contains('?') { '&' } else { '?' };
    let u = format!("{u}{sep}options=-c%20statement_timeout%3D300");
    let db = Database::open(&u).unwrap();
    let start = Instant::now();
    let e = err(db.bind("slow", 1, false));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(
        e.starts_with("cannot read table `slow` from PostgreSQL database")
            && e.contains("canceling statement due to statement timeout"),
        "{e}"
    );
}

#[test]
fn wrong_password_unknown_schema_and_bad_urls() {
    let Some(url) = url() else { return };
    let mut c = admin(&url);
    c.batch_execute(
        "DROP ROLE IF EXISTS nrp_reader; CREATE ROLE nrp_reader LOGIN PASSWORD 'right-pw'",
    )
    .unwrap();
    // The server's host and port from the admin URL.
    let hostport = url
        .split('@')
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let bad = format!("postgres://nrp_reader:wrong-pw-123@{hostport}/nrp");
    let e = err(Database::open(&bad));
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("wrong-pw-123"), "{e}");
    let good = format!("postgres://nrp_reader:right-pw@{hostport}/nrp");
    let db = Database::open(&good).unwrap();
    assert!(!db.describe().contains("right-pw"));
    assert!(!format!("{db:?}").contains("right-pw"));
    let e = err(Database::open(&format!("{good}?schema=no_such_schema")));
    assert!(e.ends_with("has no schema `no_such_schema`"), "{e}");
    assert!(!e.contains("right-pw"), "{e}");
    let e = err(Database::open(
        "postgres://u:pw-in-bad-url@host:notaport/db",
    ));
    assert!(e.starts_with("cannot read the PostgreSQL URL"), "{e}");
    assert!(!e.contains("pw-in-bad-url"), "{e}");
    let e = err(Database::open("mysql://u:pw-other@host/db"));
    assert!(!e.contains("pw-other"), "{e}");
}

#[test]
fn unreachable_and_silent_servers_time_out() {
    // A closed port: refused at once.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = err(Database::open(&format!(
        "postgres://u:secret-pw@127.0.0.1:{port}/db"
    )));
    assert!(
        e.starts_with("cannot connect to PostgreSQL database postgres://u@127.0.0.1:"),
        "{e}"
    );
    assert!(!e.contains("secret-pw"), "{e}");
    // A server that accepts and never answers: the connect timeout bounds the wait.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let start = Instant::now();
    let e = err(Database::open(&format!(
        "postgres://u:secret-pw@127.0.0.1:{port}/db?connect_timeout=1"
    )));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(e.contains("no answer within 1 s"), "{e}");
    assert!(!e.contains("secret-pw"), "{e}");
    drop(l);
}
