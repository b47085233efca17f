//! SQLite sources: a small database made in a temp dir with rusqlite.

use std::path::PathBuf;

use nrp_data::{Column, Database, RowRef, Value};

struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str, sql: &str) -> TempDb {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("nrp-data-{}-{name}-{n}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(sql).unwrap();
        drop(conn);
        TempDb(path)
    }

    fn spec(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const SCHEMA: &str = r#"
CREATE TABLE node (id INTEGER PRIMARY KEY, label INTEGER, split TEXT, note TEXT);
INSERT INTO node VALUES (0, 3, 'train', NULL), (1, 4, 'val', 'x'), (2, 3, 'test', NULL), (3, 0, 'none', 'y');
CREATE TABLE edge (src INTEGER, dst INTEGER);
INSERT INTO edge VALUES (0, 1), (1, 0), (1, 2), (0, 1);
CREATE TABLE feat (id INTEGER, dim INTEGER, value REAL, PRIMARY KEY (id, dim)) WITHOUT ROWID;
INSERT INTO feat VALUES (0, 3, 0.25), (0, 0, 1.0), (1, 1, 2.0);
CREATE TABLE emb (id TEXT, v TEXT);
INSERT INTO emb VALUES ('a', '[1, 2]'), ('b', '[3, 4.5]');
CREATE TABLE nulls (k INTEGER, v REAL);
INSERT INTO nulls VALUES (1, 0.5), (2, NULL);
CREATE TABLE blobs (k INTEGER, b BLOB);
INSERT INTO blobs VALUES (1, x'00');
CREATE TABLE num (a TEXT, b REAL, c ANY);
INSERT INTO num VALUES ('1', 1.0, 7), ('1.0', 1, ' 8 '), ('x', 2.5, -0.0);
CREATE TABLE keyed (name TEXT PRIMARY KEY, v TEXT);
INSERT INTO keyed VALUES ('alice', 'oops');
CREATE TABLE "Odd ""name""" ("a b" INTEGER, "c""d" TEXT);
INSERT INTO "Odd ""name""" VALUES (1, 'z');
CREATE VIEW labelled AS SELECT id, label FROM node WHERE split != 'none';
CREATE VIEW dupview AS SELECT 1 AS a, 0.5 AS x UNION ALL SELECT 1, 0.75;
"#;

fn db() -> (TempDb, Database) {
    let t = TempDb::new("db", SCHEMA);
    let db = Database::open(t.spec()).unwrap();
    (t, db)
}

fn err<T: std::fmt::Debug>(r: Result<T, nrp_data::DataError>) -> String {
    r.unwrap_err().message
}

fn tuples(r: &nrp_data::BoundRelation) -> Vec<String> {
    (0..r.len())
        .map(|i| {
            r.tuple(i)
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn lists_tables_and_views() {
    let (t, db) = db();
    assert_eq!(
        db.table_names(),
        [
            "Odd \"name\"",
            "blobs",
            "dupview",
            "edge",
            "emb",
            "feat",
            "keyed",
            "labelled",
            "node",
            "nulls",
            "num"
        ]
    );
    assert_eq!(db.describe(), format!("SQLite database {}", t.spec()));
    assert_eq!(
        db.columns("node").unwrap(),
        ["id", "label", "split", "note"]
    );
    assert_eq!(db.columns("Odd \"name\"").unwrap(), ["a b", "c\"d"]);
    assert_eq!(tuples(&db.bind("odd \"NAME\"", 2, false).unwrap()), ["1,z"]);
}

#[test]
fn cells_are_typed_and_normalised() {
    let (_t, db) = db();
    let num = db.table("num").unwrap();
    assert_eq!(num.cells[1], Column::Float(vec![1.0, 1.0, 2.5]));
    assert_eq!(num.cells[2], Column::Int(vec![7, 8, 0]));
    assert_eq!(tuples(&db.bind("num", 1, false).unwrap()), ["1", "x"]);
    assert_eq!(tuples(&db.bind("num", 2, false).unwrap()), ["1,1", "x,2.5"]);
    let node = db.table("node").unwrap();
    assert!(matches!(node.cells[0], Column::Int(_)));
    assert_eq!(node.cells[2].get(1), Value::parse("val"));
}

#[test]
fn set_semantics_and_views() {
    let (_t, db) = db();
    assert_eq!(
        tuples(&db.bind("edge", 2, false).unwrap()),
        ["0,1", "1,0", "1,2"]
    );
    assert_eq!(
        tuples(&db.bind("labelled", 2, false).unwrap()),
        ["0,3", "1,4", "2,3"]
    );
    let l = db.bind("labelled", 1, true).unwrap();
    assert_eq!((l.dim, l.emb(1)), (1, &[4.0][..]));
    assert_eq!(l.row_ref(2), RowRef::Key("row 3".into()));
    assert_eq!(
        err(db.bind("dupview", 1, true)),
        "table `dupview` (a, x): row 1 and row 2 have the same content (1) under an embedding \
         binding (an e-relation holds one fact per content tuple)"
    );
}

#[test]
fn row_refs_are_keys() {
    let (_t, db) = db();
    let e = db.bind("edge", 2, false).unwrap();
    assert_eq!(e.row_ref(1).to_string(), "row id 2");
    let node = db.table("node").unwrap();
    assert_eq!(node.row_ref(2).to_string(), "primary key (id=2)");
    assert_eq!(
        err(db.bind("feat", 1, true)),
        "table `feat` (id, dim, value): primary key (id=0, dim=0) and primary key (id=0, dim=3) \
         have the same content (0) under an embedding binding (an e-relation holds one fact per \
         content tuple)"
    );
    let f = db.bind("feat", 2, true).unwrap();
    assert_eq!(f.embedding, [1.0, 0.25, 2.0]);
    assert_eq!(
        err(db.bind("keyed", 1, true)),
        "table `keyed` (name, v), primary key (name=\"alice\"), column `v`: embedding value \"oops\" is not a number"
    );
}

#[test]
fn null_and_blob_only_matter_in_bound_columns() {
    let (_t, db) = db();
    assert_eq!(db.bind("node", 3, false).unwrap().len(), 4);
    assert_eq!(
        err(db.bind("node", 4, false)),
        "table `node` (id, label, split, note), primary key (id=0), column `note`: NULL in a bound column"
    );
    assert_eq!(
        err(db.bind("node", 3, true)),
        "table `node` (id, label, split, note), primary key (id=0), column `note`: NULL in a bound column"
    );
    assert_eq!(db.bind("nulls", 1, false).unwrap().len(), 2);
    assert_eq!(
        err(db.bind("nulls", 1, true)),
        "table `nulls` (k, v), row id 2, column `v`: NULL in a bound column"
    );
    assert_eq!(
        err(db.bind("blobs", 2, false)),
        "table `blobs` (k, b), row id 1, column `b`: a BLOB in a bound column"
    );
    assert_eq!(
        db.table("blobs").unwrap().invalid_cell(1),
        Some((0, nrp_data::InvalidCell::Blob))
    );
}

#[test]
fn array_text_column() {
    let (_t, db) = db();
    let e = db.bind("emb", 1, true).unwrap();
    assert_eq!((e.dim, e.emb(1)), (2, &[3.0, 4.5][..]));
}

#[test]
fn errors_for_arity_and_missing_tables() {
    let (_t, db) = db();
    assert_eq!(
        err(db.bind("edge", 3, false)),
        "atom with 3 terms but table `edge` has 2 columns (src, dst)"
    );
    let e = err(db.bind("nope", 1, false));
    assert!(e.starts_with("no table `nope` in SQLite database "), "{e}");
    assert!(e.ends_with("(tables: Odd \"name\", blobs, dupview, edge, emb, feat, keyed, labelled, node, nulls, num)"), "{e}");
}

#[test]
fn corrupt_database_is_an_error_not_a_panic() {
    let path = std::env::temp_dir().join(format!("nrp-data-{}-corrupt.sqlite", std::process::id()));
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xAB, 4096));
    std::fs::write(&path, &bytes).unwrap();
    let r = Database::open(path.to_str().unwrap());
    let _ = std::fs::remove_file(&path);
    let e = err(r);
    assert!(e.starts_with("cannot open SQLite database "), "{e}");
}

#[test]
fn opened_read_only() {
    let t = TempDb::new(
        "ro",
        "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);",
    );
    let before = std::fs::read(&t.0).unwrap();
    let db = Database::open(t.spec()).unwrap();
    assert_eq!(db.bind("t", 1, false).unwrap().len(), 1);
    drop(db);
    assert_eq!(std::fs::read(&t.0).unwrap(), before);
}

/// A WAL-mode database is read without leaving `-wal`/`-shm` files, also from a read-only
/// folder; with a pending log in a read-only folder the error explains what to do.
#[cfg(unix)]
#[test]
fn wal_mode_databases_leave_no_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("nrp-data-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2);",
    )
    .unwrap();
    drop(conn); // the last connection checkpoints and removes the log
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(listing(), ["w.sqlite"]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let db = Database::open(path.to_str().unwrap()).unwrap();
    let rel = db.bind("t", 1, false).unwrap();
    assert_eq!(tuples(&rel).len(), 2);
    drop(db);
    assert_eq!(listing(), ["w.sqlite"]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
