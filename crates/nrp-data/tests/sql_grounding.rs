//! `nrp_data::sql`: conjunctions as SQL in SQLite and PostgreSQL — the statement, quoting,
//! the snapshot, which columns are left to nrp and why, and the facts each match names.

#[path = "common/pg_server.rs"]
mod pg_server;

use nrp_data::sql::{Branch, Cmp, Conjunction, Operand, Relational};
use nrp_data::{Database, Value};

/// `edge(src, dst)` joined with `"No de"(id, "ki""nd")` on `dst = id`, `ki"nd = 'b'`.
fn join(db: &Database) -> Conjunction {
    let edge = db.bind("edge", 2, false).unwrap();
    let node = db.bind("No de", 2, false).unwrap();
    Conjunction {
        atoms: vec![edge, node],
        equal: vec![
            (
                Operand::Column { atom: 1, column: 0 },
                Operand::Column { atom: 0, column: 1 },
            ),
            (
                Operand::Column { atom: 1, column: 1 },
                Operand::Const(Value::Str("b".into())),
            ),
        ],
        compare: vec![],
    }
}

/// Each match as `(edge fact, node fact)`, sorted.
fn matches(db: &Database, c: &Conjunction) -> Vec<(u32, u32)> {
    let q = db.sql_query(c).unwrap();
    let facts = db.sql_matches(&q, 1000).unwrap();
    let mut m: Vec<(u32, u32)> = facts[0].iter().copied().zip(facts[1].clone()).collect();
    m.sort();
    m
}

const TABLES: &str = "CREATE TABLE edge (src integer, dst integer);
     INSERT INTO edge VALUES (1, 2), (2, 3), (3, 1), (1, 3);
     CREATE TABLE \"No de\" (id integer, \"ki\"\"nd\" text, code text);
     INSERT INTO \"No de\" VALUES (1, 'a', 'x'), (2, 'b', '007'), (3, 'b', 'y');
     CREATE VIEW v AS SELECT * FROM edge;";

/// Rows are facts in table order here: edges 0..4 = (1,2) (2,3) (3,1) (1,3).
const EXPECTED: [(u32, u32); 3] = [(0, 1), (1, 2), (3, 2)];

#[test]
fn sqlite_joins_quotes_and_leaves_number_like_text_to_nrp() {
    let dir = std::env::temp_dir().join(format!("nrp-sqlg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("db.sqlite");
    let _ = std::fs::remove_file(&file);
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch(&format!(
            "{TABLES} CREATE TABLE w (k text COLLATE NOCASE); \
             INSERT INTO w VALUES ('a'), ('A'), ('b');"
        ))
        .unwrap();
    let db = Database::open(file.to_str().unwrap()).unwrap();
    let c = join(&db);
    let q = db.sql_query(&c).unwrap();
    assert_eq!(
        q.text,
        "SELECT a0.rowid, a1.rowid FROM main.\"edge\" AS a0, main.\"No de\" AS a1 \
         WHERE a1.\"id\" COLLATE BINARY = a0.\"dst\" AND a1.\"ki\"\"nd\" COLLATE BINARY = 'b'"
    );
    assert_eq!(matches(&db, &c), EXPECTED);
    // Over the budget's room: an error, not a truncated list.
    let e = db.sql_matches(&q, 2).unwrap_err().message;
    assert!(e.contains("more than 2 matches"), "{e}");
    // `code` holds '007', which nrp reads as 7: SQL's `=` is not nrp's there.
    let node = db.bind("No de", 3, false).unwrap();
    let why = db
        .sql_query(&Conjunction {
            atoms: vec![node.clone()],
            equal: vec![(
                Operand::Column { atom: 0, column: 2 },
                Operand::Const(Value::Int(7)),
            )],
            compare: vec![],
        })
        .unwrap_err();
    assert!(why.contains("column `code` of `No de`"), "{why}");
    // A string constant that reads as a number is no cell's value: `1 = 0`.
    let q = db
        .sql_query(&Conjunction {
            atoms: vec![node],
            equal: vec![(
                Operand::Column { atom: 0, column: 1 },
                Operand::Const(Value::Str("3".into())),
            )],
            compare: vec![],
        })
        .unwrap();
    assert!(q.text.ends_with("WHERE 1 = 0"), "{}", q.text);
    // A view has no row ids.
    let v = db.bind("v", 2, false).unwrap();
    let why = db
        .sql_query(&Conjunction {
            atoms: vec![v],
            equal: vec![],
            compare: vec![],
        })
        .unwrap_err();
    assert!(
        why.contains("`v` is not a table with row locators"),
        "{why}"
    );
    // A column declared case-insensitive still compares byte for byte, as nrp does.
    let w = db.bind("w", 1, false).unwrap();
    let only_a = Conjunction {
        atoms: vec![w.clone()],
        equal: vec![(
            Operand::Column { atom: 0, column: 0 },
            Operand::Const(Value::Str("a".into())),
        )],
        compare: vec![],
    };
    let q = db.sql_query(&only_a).unwrap();
    assert_eq!(db.sql_matches(&q, 10).unwrap()[0], vec![0]);
    // Filters: text in byte order ('A' < 'a' < 'b').
    let below_b = Conjunction {
        atoms: vec![w],
        equal: vec![],
        compare: vec![(
            Operand::Column { atom: 0, column: 0 },
            Cmp::Lt,
            Operand::Const(Value::Str("b".into())),
        )],
    };
    let q = db.sql_query(&below_b).unwrap();
    let mut rows = db.sql_matches(&q, 10).unwrap()[0].clone();
    rows.sort();
    assert_eq!(rows, vec![0, 1]);
    // A relation the database computes: out-degrees, counted by SQLite.
    let edge = db.bind("edge", 2, false).unwrap();
    let out = Relational {
        branches: vec![Branch {
            body: Conjunction {
                atoms: vec![edge],
                equal: vec![],
                compare: vec![],
            },
            vars: vec![
                Operand::Column { atom: 0, column: 0 },
                Operand::Column { atom: 0, column: 1 },
            ],
            head: vec![0],
        }],
        count: true,
    };
    let sql = db.sql_relation("Out", &out).unwrap();
    assert!(sql.text().contains("COUNT(*) AS n"), "{}", sql.text());
    let b = db.bind_sql_relation("Out", &sql).unwrap();
    let facts: Vec<(Vec<Value>, Vec<f64>)> = (0..b.len())
        .map(|i| (b.tuple(i), b.emb(i).to_vec()))
        .collect();
    assert_eq!(
        facts,
        vec![
            (vec![Value::Int(1)], vec![2.0]),
            (vec![Value::Int(2)], vec![1.0]),
            (vec![Value::Int(3)], vec![1.0]),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn postgres_joins_in_the_snapshot_of_the_tables() {
    let Some(url) = pg_server::url() else { return };
    let mut c = pg_server::schema(&url, "nrp_sql_grounding", TABLES);
    let before = pg_server::checksum(&mut c, "nrp_sql_grounding");
    let db = Database::open(&pg_server::with_schema(&url, "nrp_sql_grounding")).unwrap();
    let conj = join(&db);
    let q = db.sql_query(&conj).unwrap();
    assert_eq!(
        q.text,
        "COPY (SELECT a0.ctid, a1.ctid FROM \"nrp_sql_grounding\".\"edge\" AS a0, \
         \"nrp_sql_grounding\".\"No de\" AS a1 WHERE a1.\"id\" = a0.\"dst\" AND \
         a1.\"ki\"\"nd\" = 'b') TO STDOUT (FORMAT binary)"
    );
    // Rows changed after the tables were read are not seen: the same snapshot.
    c.batch_execute(
        "INSERT INTO nrp_sql_grounding.edge VALUES (3, 3); \
         DELETE FROM nrp_sql_grounding.edge WHERE src = 2",
    )
    .unwrap();
    assert_eq!(matches(&db, &conj), EXPECTED);
    // A number compared with text is a type error in PostgreSQL and false in nrp.
    let edge = db.bind("edge", 2, false).unwrap();
    let q = db
        .sql_query(&Conjunction {
            atoms: vec![edge],
            equal: vec![(
                Operand::Column { atom: 0, column: 0 },
                Operand::Const(Value::Str("b".into())),
            )],
            compare: vec![],
        })
        .unwrap();
    assert!(q.text.contains("WHERE 1 = 0"), "{}", q.text);
    assert!(db.sql_matches(&q, 10).unwrap()[0].is_empty());
    drop(db);
    c.batch_execute(
        "DELETE FROM nrp_sql_grounding.edge WHERE src = 3 AND dst = 3; \
         INSERT INTO nrp_sql_grounding.edge VALUES (2, 3)",
    )
    .unwrap();
    // The rows are the same again (the order of a heap may differ; the checksum sorts).
    assert_eq!(before, pg_server::checksum(&mut c, "nrp_sql_grounding"));
}
