//! Database sources end to end: opening, resolution, binding and every data error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nrp_data::{Column, Database, RowRef, Value};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nrp-data-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, file: &str, text: &str) -> &TempDir {
        std::fs::write(self.0.join(file), text).unwrap();
        self
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn spec(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn open(&self) -> Database {
        Database::open(self.spec()).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err<T: std::fmt::Debug>(r: Result<T, nrp_data::DataError>) -> String {
    r.unwrap_err().message
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
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

fn fixtures() -> Database {
    Database::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/csv")).unwrap()
}

#[test]
fn csv_directory_lists_tables_sorted() {
    let d = TempDir::new("list");
    d.write("b.csv", "x\n1\n")
        .write("a.csv", "x\n1\n")
        .write("._a.csv", "junk")
        .write("notes.txt", "");
    std::fs::create_dir(d.path().join("dir.csv")).unwrap();
    let db = d.open();
    assert_eq!(db.table_names(), ["a", "b"]);
    assert_eq!(db.describe(), format!("CSV directory {}", d.spec()));
}

#[test]
fn missing_table_lists_the_tables() {
    let db = fixtures();
    let e = err(db.bind("Nodes", 1, false));
    assert!(e.starts_with("no table `Nodes` in CSV directory "), "{e}");
    assert!(
        e.ends_with("(tables: array, edge, feature, node, quoting, wide)"),
        "{e}"
    );
    assert_eq!(db.resolve("Nodes").unwrap(), None);
    let empty = TempDir::new("empty");
    assert_has(
        &err(empty.open().table("t")),
        &["no table `t`", "(it has no tables)"],
    );
}

#[test]
fn arity_errors_name_table_and_columns() {
    let db = fixtures();
    assert_eq!(
        err(db.bind("edge", 3, false)),
        "atom with 3 terms but table `edge` has 2 columns (src, dst)"
    );
    assert_eq!(
        err(db.bind("edge", 3, true)),
        "atom with 3 terms and an embedding but table `edge` has 2 columns (src, dst)"
    );
    assert_eq!(
        err(db.bind("edge", 2, true)),
        "atom with 2 terms and an embedding but table `edge` has 2 columns (src, dst): \
         no column left for the embedding"
    );
}

#[test]
fn non_numeric_embedding_value_names_row_and_column() {
    let db = fixtures();
    // node.csv: id,label,split
    assert_eq!(
        err(db.bind("node", 2, true)),
        "table `node` (id, label, split), line 2, column `split`: embedding value \"train\" is not a number"
    );
    let d = TempDir::new("nonnum");
    d.write("f.csv", "id,a,b\n0,1,2\n1,0.5,\n");
    assert_eq!(
        err(d.open().bind("f", 1, true)),
        "table `f` (id, a, b), line 3, column `b`: embedding value \"\" is not a number"
    );
}

#[test]
fn duplicate_content_under_an_embedding_names_both_rows() {
    let db = fixtures();
    // feature.csv: id,dim,value with several dims per id.
    let e = err(db.bind("feature", 1, true));
    assert_eq!(
        e,
        "table `feature` (id, dim, value): line 2 and line 3 have the same content (0) \
         under an embedding binding (an e-relation holds one fact per content tuple)"
    );
    // Unsorted rows go through the hash path; "1" and "1.0" are one value.
    let d = TempDir::new("dup");
    d.write("t.csv", "k,name,v\n2,b,0\n1.0,a,0\n3,c,0\n1,a,0\n");
    assert_eq!(
        err(d.open().bind("t", 2, true)),
        "table `t` (k, name, v): line 3 and line 5 have the same content (1, \"a\") \
         under an embedding binding (an e-relation holds one fact per content tuple)"
    );
}

#[test]
fn malformed_csv_names_file_and_line() {
    let d = TempDir::new("malformed");
    d.write("edge.csv", "src,dst\n0,1\n1,2,3\n")
        .write("q.csv", "a,b\n1,\"x\n2,3\n");
    let db = d.open();
    let e = err(db.bind("edge", 2, false));
    assert_has(
        &e,
        &[
            "malformed CSV in table `edge`",
            "edge.csv",
            "line 3: 3 fields, but the header has 2 (src, dst)",
        ],
    );
    let e = err(db.table("q"));
    assert_has(
        &e,
        &["q.csv", "line 2: unterminated quoted field in column `b`"],
    );
    // The header alone is still readable.
    assert_eq!(db.columns("edge").unwrap(), ["src", "dst"]);
}

#[test]
fn unreadable_files_and_sources_give_os_errors() {
    let d = TempDir::new("unreadable");
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.path().join("nowhere"), d.path().join("gone.csv")).unwrap();
    let db = d.open();
    #[cfg(unix)]
    {
        let e = err(db.table("gone"));
        assert_has(
            &e,
            &[
                "cannot read table `gone` (",
                "gone.csv): No such file or directory",
            ],
        );
        assert_has(
            &err(db.columns("gone")),
            &["gone.csv): No such file or directory"],
        );
    }
    let missing = d.path().join("missing");
    assert_eq!(
        err(Database::open(missing.to_str().unwrap())),
        format!("database source {} does not exist", missing.display())
    );
    // A socket folder that does not exist: refused at once, whatever runs on this machine.
    let e = err(Database::open(
        "postgres://user:secret@/db?host=/nonexistent-nrp-socket-dir",
    ));
    assert_has(
        &e,
        &[
            "cannot connect to PostgreSQL database postgres://user@",
            "No such file or directory",
        ],
    );
    assert!(!e.contains("secret"));
    let e = err(Database::open("mysql://user:secret@localhost/db"));
    assert_has(&e, &["`mysql://` are not supported"]);
    assert!(!e.contains("secret"));
    d.write("plain.txt", "hello, I am not a database\n");
    let e = err(Database::open(d.path().join("plain.txt").to_str().unwrap()));
    assert_has(
        &e,
        &["plain.txt is neither a directory of CSV files nor a SQLite database"],
    );
    d.write("edge.csv", "a\n1\n");
    let e = err(Database::open(d.path().join("edge.csv").to_str().unwrap()));
    assert_has(
        &e,
        &[
            "edge.csv is neither",
            "give the directory that holds the .csv files",
        ],
    );
    d.write("empty.db", "");
    let e = err(Database::open(d.path().join("empty.db").to_str().unwrap()));
    assert_has(
        &e,
        &["empty.db is neither a directory of CSV files nor a SQLite database"],
    );
}

#[test]
fn empty_csv_file_is_an_error() {
    let d = TempDir::new("emptycsv");
    d.write("t.csv", "");
    let db = d.open();
    assert_has(
        &err(db.table("t")),
        &[
            "table `t`",
            "t.csv) is empty: a CSV table needs a header row",
        ],
    );
    assert_has(&err(db.columns("t")), &["is empty"]);
}

#[test]
fn quoting_bom_and_crlf_through_the_database() {
    let db = fixtures();
    let t = db.table("quoting").unwrap();
    assert_eq!(t.columns, ["id", "text"]);
    let text: Vec<String> = (0..t.len())
        .map(|i| t.cells[1].get(i).to_string())
        .collect();
    assert_eq!(text, ["a,b", "say \"hi\"", "two\r\nlines", "", "7"]);
    assert_eq!(t.cells[1].get(4), Value::Int(7));
    let lines: Vec<RowRef> = (0..t.len()).map(|i| t.row_ref(i)).collect();
    assert_eq!(
        lines,
        [
            RowRef::Line(2),
            RowRef::Line(3),
            RowRef::Line(4),
            RowRef::Line(6),
            RowRef::Line(7)
        ]
    );
    assert_eq!(t.row_ref(3).to_string(), "line 6");
}

#[test]
fn set_projection_keeps_first_occurrences_in_row_order() {
    let db = fixtures();
    // node.csv has labels 3,4,3,0,4,... : projected onto (id) nothing collapses.
    let ids = db.bind("node", 1, false).unwrap();
    assert_eq!(ids.len(), 6);
    let d = TempDir::new("proj");
    d.write("t.csv", "a,b,c\n2,x,1\n1,y,1\n2.0,z,1\n1,y,2\n\"1\",y,3\n");
    let db = d.open();
    let a = db.bind("t", 1, false).unwrap();
    assert_eq!(tuples(&a), ["2", "1"]);
    assert_eq!(a.row_ref(1), RowRef::Line(3));
    let ab = db.bind("t", 2, false).unwrap();
    assert_eq!(tuples(&ab), ["2,x", "1,y", "2,z"]);
    // Set semantics also with every column bound.
    let abc = db.bind("t", 3, false).unwrap();
    assert_eq!(tuples(&abc), ["2,x,1", "1,y,1", "2,z,1", "1,y,2", "1,y,3"]);
    d.write("u.csv", "a,b\n1,1.0\n1.0,1\n");
    let db = d.open();
    assert_eq!(tuples(&db.bind("u", 2, false).unwrap()), ["1,1"]);
    // Zero terms: one empty tuple when the table has rows.
    assert_eq!(db.bind("u", 0, false).unwrap().len(), 1);
    assert_eq!(db.bind("u", 0, false).unwrap().arity, 0);
    // Cached: the same shape gives the same relation.
    assert!(Arc::ptr_eq(
        &db.bind("u", 2, false).unwrap(),
        &db.bind("U", 2, false).unwrap()
    ));
}

#[test]
fn wide_tables_bind_all_remaining_columns() {
    let db = fixtures();
    let w = db.bind("wide", 1, true).unwrap();
    assert_eq!((w.arity, w.dim, w.len()), (1, 4, 3));
    assert_eq!(w.embedding_columns, ["f0", "f1", "f2", "f3"]);
    assert_eq!(w.emb(0), [0.0, 1.0, 0.5, -2.0]);
    assert_eq!(w.emb(2), [1e-3, 0.0, 0.0, 3.0]);
    assert_eq!(w.tuple(1), [Value::parse("b")]);
    // Fewer content columns: the embedding grows.
    let w0 = db.bind("wide", 0, true);
    assert!(err(w0).contains("line 2 and line 3 have the same content ()"));
    let f = db.bind("feature", 2, true).unwrap();
    assert_eq!((f.arity, f.dim), (2, 1));
    assert_eq!(f.emb(1), [0.25]);
}

#[test]
fn array_columns() {
    let db = fixtures();
    let a = db.bind("array", 1, true).unwrap();
    assert_eq!((a.arity, a.dim, a.len()), (1, 3, 3));
    assert_eq!(a.emb(0), [0.1, 0.2, 0.3]);
    assert_eq!(a.emb(1), [1.0, -2.0, 3e-2]);
    let d = TempDir::new("arrays");
    d.write("len.csv", "id,v\n0,\"[1, 2]\"\n1,\"[1,2,3]\"\n")
        .write("bad.csv", "id,v\n0,\"[1, 2]\"\n1,\"[1, x]\"\n")
        .write("num.csv", "id,v\n0,\"[1, 2]\"\n1,5\n")
        .write("empty.csv", "id,v\n0,[]\n1,[ ]\n")
        .write("one.csv", "id,v\n0,3\n1,4\n");
    let db = d.open();
    assert_eq!(
        err(db.bind("len", 1, true)),
        "table `len` (id, v), line 3, column `v`: array of 3 numbers, but line 2 has 2"
    );
    assert_eq!(
        err(db.bind("bad", 1, true)),
        "table `bad` (id, v), line 3, column `v`: embedding value \"[1, x]\" is not an array of numbers like \"[0.5, 1]\""
    );
    assert_eq!(
        err(db.bind("num", 1, true)),
        "table `num` (id, v), line 3, column `v`: embedding value 5 is not an array of numbers like \"[0.5, 1]\""
    );
    let e = db.bind("empty", 1, true).unwrap();
    assert_eq!((e.dim, e.len(), e.embedding.len()), (0, 2, 0));
    assert_eq!(e.emb(1), [] as [f64; 0]);
    // A single numeric column is a 1-wide feature table.
    assert_eq!(db.bind("one", 1, true).unwrap().emb(1), [4.0]);
}

#[test]
fn case_insensitive_resolution_and_ambiguity() {
    let d = TempDir::new("case");
    d.write("Edge.csv", "a\n1\n")
        .write("EDGE.csv", "a\n2\n")
        .write("Node.csv", "a\n3\n");
    let db = d.open();
    assert_eq!(db.resolve("Edge").unwrap().as_deref(), Some("Edge"));
    assert_eq!(db.resolve("EDGE").unwrap().as_deref(), Some("EDGE"));
    assert_eq!(db.resolve("node").unwrap().as_deref(), Some("Node"));
    assert_eq!(db.resolve("NODE").unwrap().as_deref(), Some("Node"));
    assert_eq!(db.bind("node", 1, false).unwrap().tuple(0), [Value::Int(3)]);
    let e = err(db.resolve("edge"));
    assert_has(
        &e,
        &[
            "relation `edge` matches several tables",
            "(`EDGE`, `Edge`)",
            "use the exact name",
        ],
    );
    assert_eq!(err(db.bind("edge", 1, false)), e);
}

#[test]
fn large_header_is_read_in_pieces() {
    let d = TempDir::new("header");
    let names: Vec<String> = (0..30_000).map(|i| format!("column_{i}")).collect();
    let row: Vec<String> = (0..30_000).map(|i| i.to_string()).collect();
    d.write(
        "w.csv",
        &format!("{}\n{}\n", names.join(","), row.join(",")),
    );
    let db = d.open();
    assert_eq!(db.columns("w").unwrap(), names);
    let w = db.bind("w", 1, true).unwrap();
    assert_eq!(w.dim, 29_999);
    assert_eq!(w.emb(0)[29_998], 29_999.0);
    // A quoted header name with a line break, straddling the first 64 KiB read.
    let long = "x".repeat(70_000);
    d.write("q.csv", &format!("a,\"{long}\n{long}\"\n1,2\n"));
    assert_eq!(
        d.open().columns("q").unwrap(),
        ["a".to_string(), format!("{long}\n{long}")]
    );
    // Long column lists are shortened in messages.
    assert_has(
        &err(db.bind("w", 30_001, false)),
        &["column_0, column_1,", "…, column_29999: 30000 columns"],
    );
}

#[test]
fn concurrent_binds_share_one_load() {
    let db = Arc::new(fixtures());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || db.bind("feature", 3, false).unwrap())
        })
        .collect();
    let rels: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(rels.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
}

#[test]
fn typed_columns_from_csv() {
    let db = fixtures();
    let f = db.table("feature").unwrap();
    assert!(matches!(f.cells[0], Column::Int(_)));
    assert!(matches!(f.cells[2], Column::Float(_)));
    assert!(matches!(
        db.table("node").unwrap().cells[2],
        Column::Mixed(_)
    ));
}

// ---- real data ---------------------------------------------------------------------------

const SHARED_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

fn real(name: &str) -> Option<Database> {
    let dir = Path::new(SHARED_DATA).join(name);
    if !dir.is_dir() {
        eprintln!("skipping: {} not found", dir.display());
        return None;
    }
    Some(Database::open(dir.to_str().unwrap()).unwrap())
}

#[test]
fn cora_binds_as_the_readme_says() {
    let Some(db) = real("cora") else { return };
    assert_eq!(db.table_names(), ["edge", "feature", "node"]);
    let f = db.bind("Feature", 3, false).unwrap();
    assert_eq!((f.len(), f.arity, f.dim), (49216, 3, 0));
    let fv = db.bind("feature", 2, true).unwrap();
    assert_eq!((fv.len(), fv.dim), (49216, 1));
    assert!(fv.embedding.iter().all(|&x| x == 1.0));
    let max_dim = (0..fv.len()).map(|i| fv.content[1].get(i)).max().unwrap();
    assert_eq!(max_dim, Value::Int(1432));
    assert_eq!(db.bind("edge", 2, false).unwrap().len(), 10556);
    let node = db.bind("node", 3, false).unwrap();
    assert_eq!(node.len(), 2708);
    let labels = db.bind("node", 2, true).err().unwrap().message;
    assert_has(
        &labels,
        &[
            "table `node` (id, label, split), line 2, column `split`",
            "\"train\"",
        ],
    );
    let y = db.bind("node", 1, true);
    assert!(y.is_err());
    assert_eq!(db.bind("node", 1, false).unwrap().len(), 2708);
    let dup = db.bind("feature", 1, true).err().unwrap().message;
    assert_has(&dup, &["line 2 and line 3 have the same content (0)"]);
    assert_eq!(db.bind("node", 2, false).unwrap().len(), 2708);
}

#[test]
fn mutagenesis_strings_and_decimals() {
    let Some(db) = real("reldb-mutagenesis") else {
        return;
    };
    let atom = db.table("atom").unwrap();
    assert_eq!(
        atom.columns,
        ["atom_id", "molecule_id", "element", "type", "charge"]
    );
    assert!(matches!(atom.cells[4], Column::Float(_)));
    let mol = db.bind("molecule", 1, false).unwrap();
    assert_eq!(mol.len(), 188);
    let e = db.bind("molecule", 1, true).err().unwrap().message;
    assert_has(
        &e,
        &[
            "column `mutagenic`",
            "embedding value \"yes\" is not a number",
        ],
    );
}

// ---- in-memory tables ----------------------------------------------------------------------

#[test]
fn in_memory_tables_bind_like_files() {
    let v = |s: &str| Value::parse(s);
    let edge = nrp_data::Table::from_rows(
        "Edge",
        vec!["src".into(), "dst".into(), "w".into()],
        &[
            vec![v("0"), v("1"), v("0.5")],
            vec![v("1.0"), v("0"), v("2")],
            vec![v("0"), v("1"), v("1")],
        ],
    )
    .unwrap();
    assert!(matches!(edge.cells[0], Column::Int(_)));
    assert!(matches!(edge.cells[2], Column::Float(_)));
    let node = nrp_data::Table::new(
        "node",
        vec!["id".into()],
        vec![Column::from_values([v("a"), v("b")])],
    )
    .unwrap();
    let db = Database::from_tables("test", vec![edge, node]).unwrap();
    assert_eq!(db.table_names(), ["Edge", "node"]);
    assert_eq!(db.describe(), "in-memory database test");
    assert_eq!(db.columns("edge").unwrap(), ["src", "dst", "w"]);
    assert_eq!(tuples(&db.bind("edge", 2, false).unwrap()), ["0,1", "1,0"]);
    assert_eq!(
        err(db.bind("edge", 2, true)),
        "table `Edge` (src, dst, w): row 1 and row 3 have the same content (0, 1) under an embedding \
         binding (an e-relation holds one fact per content tuple)"
    );
    assert_eq!(db.bind("node", 1, false).unwrap().len(), 2);
    let bad = nrp_data::Table::new(
        "t",
        vec!["a".into(), "b".into()],
        vec![Column::Int(vec![1]), Column::Int(vec![])],
    );
    assert_eq!(
        err(bad),
        "table `t` (a, b): 2 column names but cells of lengths [1, 0]"
    );
    let bad = nrp_data::Table::from_rows("t", vec!["a".into()], &[vec![]]);
    assert_eq!(err(bad), "table `t` (a), row 1: 0 values for 1 columns");
    let t = || nrp_data::Table::from_rows("t", vec!["a".into()], &[]).unwrap();
    assert_eq!(
        err(Database::from_tables("x", vec![t(), t()])),
        "two tables named `t` in database x"
    );
}
