//! Parquet sources: every column type nrp reads, the data errors, and the round trip of
//! `nrp_data::export::write_parquet`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nrp_data::{Database, Value};
use parquet::data_type::Int64Type;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nrp-parquet-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn spec(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Three rows of every type: see `types_read_as_documented` for the values.
fn write_types(path: &Path) {
    let schema = parse_message_type(
        "message m {
            REQUIRED INT32 id;
            OPTIONAL DOUBLE x;
            REQUIRED BOOLEAN flag;
            REQUIRED BYTE_ARRAY name (UTF8);
            REQUIRED INT32 day (DATE);
            REQUIRED INT64 at (TIMESTAMP(MICROS,true));
            REQUIRED INT32 price (DECIMAL(9,2));
            REQUIRED BYTE_ARRAY raw;
            REQUIRED INT64 big;
            OPTIONAL group emb (LIST) { REPEATED group list { OPTIONAL FLOAT element; } }
        }",
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(file, Arc::new(schema), props).unwrap();
    let mut g = w.next_row_group().unwrap();
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&[1, 2, 3], None, None)
        .unwrap();
    c.close().unwrap();
    // x: 0.5, NULL, 2.0
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<DoubleType>()
        .write_batch(&[0.5, 2.0], Some(&[1, 0, 1]), None)
        .unwrap();
    c.close().unwrap();
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<BoolType>()
        .write_batch(&[true, false, true], None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = g.next_column().unwrap().unwrap();
    let names: Vec<ByteArray> = ["alice", "7", "2.50"]
        .iter()
        .map(|s| ByteArray::from(*s))
        .collect();
    c.typed::<ByteArrayType>()
        .write_batch(&names, None, None)
        .unwrap();
    c.close().unwrap();
    // Days since 1970: 2000-01-01, 1969-12-31, 2024-02-29.
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&[10_957, -1, 19_782], None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<Int64Type>()
        .write_batch(&[0, 1_700_000_000_500_000, -1], None, None)
        .unwrap();
    c.close().unwrap();
    // 12.34, -0.05, 100.00
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&[1234, -5, 10_000], None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = g.next_column().unwrap().unwrap();
    let raw: Vec<ByteArray> = [&b"\x00\x01"[..], b"", b"x"]
        .iter()
        .map(|s| ByteArray::from(s.to_vec()))
        .collect();
    c.typed::<ByteArrayType>()
        .write_batch(&raw, None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<Int64Type>()
        .write_batch(&[(1 << 60) + 1, -7, 0], None, None)
        .unwrap();
    c.close().unwrap();
    // emb: [0.5, 1.5], [-1, 0.25], [2, NULL]
    // def levels: 3 = element present, 2 = NULL element, 1 = empty list, 0 = NULL list.
    let mut c = g.next_column().unwrap().unwrap();
    c.typed::<FloatType>()
        .write_batch(
            &[0.5, 1.5, -1.0, 0.25, 2.0],
            Some(&[3, 3, 3, 3, 3, 2]),
            Some(&[0, 1, 0, 1, 0, 1]),
        )
        .unwrap();
    c.close().unwrap();
    g.close().unwrap();
    w.close().unwrap();
}

fn err<T: std::fmt::Debug>(r: Result<T, nrp_data::DataError>) -> String {
    r.unwrap_err().message
}

#[test]
fn types_read_as_documented() {
    let d = TempDir::new("types");
    write_types(&d.0.join("t.parquet"));
    let db = Database::open(d.spec()).unwrap();
    assert_eq!(db.describe(), format!("Parquet directory {}", d.spec()));
    assert_eq!(db.table_names(), ["t"]);
    assert_eq!(
        db.columns("t").unwrap(),
        [
            "id", "x", "flag", "name", "day", "at", "price", "raw", "big", "emb"
        ]
    );
    let t = db.table("t").unwrap();
    let col = |name: &str| -> Vec<String> {
        let c = t.columns.iter().position(|c| c == name).unwrap();
        (0..t.len())
            .map(|i| t.cells[c].get(i).to_string())
            .collect()
    };
    assert_eq!(col("id"), ["1", "2", "3"]);
    assert_eq!(col("flag"), ["1", "0", "1"]);
    // Text that reads as a number is that number, as in CSV.
    assert_eq!(col("name"), ["alice", "7", "2.5"]);
    assert!(matches!(t.cells[3].get(1), Value::Int(7)));
    assert_eq!(col("day"), ["2000-01-01", "1969-12-31", "2024-02-29"]);
    assert_eq!(
        col("at"),
        [
            "1970-01-01 00:00:00",
            "2023-11-14 22:13:20.5",
            "1969-12-31 23:59:59.999999"
        ]
    );
    assert_eq!(col("price"), ["12.34", "-0.05", "100"]);
    assert_eq!(
        col("big"),
        [((1i64 << 60) + 1).to_string(), "-7".into(), "0".into()]
    );
    assert!(t.is_array_column(9));
    assert_eq!(t.array_cell(9, 0), Some(&[0.5, 1.5][..]));

    // A projection that avoids the bad columns binds.
    let r = db.bind("t", 1, false).unwrap();
    assert_eq!(r.len(), 3);

    // NULL, binary, NULL inside a list: errors naming table, row and column.
    let e = err(db.bind("t", 2, false));
    assert!(
        e.contains("table `t` (") && e.contains("row 2, column `x`: NULL in a bound column"),
        "{e}"
    );
    assert_eq!(t.invalid_cell(7), Some((0, nrp_data::InvalidCell::Blob)));
    // The first bad column bound is reported.
    let e = err(db.bind("t", 10, false));
    assert!(e.contains("row 2, column `x`: NULL"), "{e}");
}

#[test]
fn list_columns_bind_as_embeddings() {
    let d = TempDir::new("lists");
    let t = nrp_data::Table::from_rows(
        "E",
        vec!["id".into(), "v".into()],
        &[
            vec![Value::Int(1), Value::parse("[0.5, 1.5]")],
            vec![Value::Int(2), Value::parse("[-1, 0.25]")],
        ],
    )
    .unwrap();
    nrp_data::export::write_parquet(&t, &d.0.join("E.parquet")).unwrap();
    let db = Database::open(d.spec()).unwrap();
    let r = db.bind("E", 1, true).unwrap();
    assert_eq!(r.dim, 2);
    assert_eq!(r.emb(1), [-1.0, 0.25]);
    assert_eq!(r.embedding_columns, ["v"]);
    let e = err(db.bind("E", 2, false));
    assert!(
        e.contains("column `v` holds arrays (list<double>), which bind only as an embedding"),
        "{e}"
    );

    // Arrays of different lengths.
    let t = nrp_data::Table::from_rows(
        "F",
        vec!["id".into(), "v".into()],
        &[
            vec![Value::Int(1), Value::parse("[0.5, 1.5]")],
            vec![Value::Int(2), Value::parse("[1]")],
        ],
    )
    .unwrap();
    nrp_data::export::write_parquet(&t, &d.0.join("F.parquet")).unwrap();
    let db = Database::open(d.spec()).unwrap();
    let e = err(db.bind("F", 1, true));
    assert!(
        e.contains("row 2, column `v`: array of 1 number, but row 1 has 2"),
        "{e}"
    );
}

#[test]
fn null_inside_a_list_is_an_error_when_bound() {
    let d = TempDir::new("nullelem");
    write_types(&d.0.join("t.parquet"));
    let db = Database::open(d.spec()).unwrap();
    // Binding `emb` reports `x` (NULL) first, so the element error is checked on the table.
    let t = db.table("t").unwrap();
    assert_eq!(
        t.invalid_cell(9),
        Some((2, nrp_data::InvalidCell::NullInArray))
    );
}

#[test]
fn directories_of_both_kinds_and_single_files_are_refused() {
    let d = TempDir::new("mixed");
    write_types(&d.0.join("t.parquet"));
    std::fs::write(d.0.join("u.csv"), "a\n1\n").unwrap();
    let e = err(Database::open(d.spec()));
    assert!(
        e.contains("holds both .csv files (u) and .parquet files (t)"),
        "{e}"
    );
    let file = d.0.join("t.parquet");
    let e = err(Database::open(file.to_str().unwrap()));
    assert!(e.contains("is a Parquet file; give the directory"), "{e}");
}

#[test]
fn a_corrupt_file_is_a_data_error() {
    let d = TempDir::new("corrupt");
    std::fs::write(d.0.join("t.parquet"), b"PAR1 this is not parquet PAR1").unwrap();
    let db = Database::open(d.spec()).unwrap();
    let e = err(db.bind("t", 1, false));
    assert!(e.starts_with("cannot read table `t` (Parquet file "), "{e}");
}

#[test]
fn export_round_trips_the_csv_fixtures() {
    let csv = Database::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/csv")).unwrap();
    let d = TempDir::new("roundtrip");
    nrp_data::export::write_parquet_dir(&csv, &d.0).unwrap();
    let pq = Database::open(d.spec()).unwrap();
    assert_eq!(csv.table_names(), pq.table_names());
    for name in csv.table_names() {
        let (a, b) = (csv.table(&name).unwrap(), pq.table(&name).unwrap());
        assert_eq!(a.columns, b.columns, "{name}");
        assert_eq!(a.len(), b.len(), "{name}");
        for (c, (ca, cb)) in a.cells.iter().zip(&b.cells).enumerate() {
            for i in 0..a.len() {
                if b.is_array_column(c) {
                    // CSV array text becomes a list of the same numbers.
                    let text = ca.get(i).to_string();
                    let numbers: Vec<f64> = text
                        .trim_matches(|ch| ch == '[' || ch == ']')
                        .split(',')
                        .filter(|x| !x.trim().is_empty())
                        .map(|x| x.trim().parse().unwrap())
                        .collect();
                    assert_eq!(Some(&numbers[..]), b.array_cell(c, i), "{name} row {i}");
                } else {
                    assert_eq!(ca.get(i), cb.get(i), "{name} row {i}");
                }
            }
        }
    }
}

#[test]
fn damaged_files_are_data_errors_never_panics() {
    let d = TempDir::new("damaged");
    let t = nrp_data::Table::from_rows(
        "t",
        vec!["id".into(), "name".into(), "v".into()],
        &(0..50)
            .map(|i| {
                vec![
                    Value::Int(i),
                    Value::parse(&format!("n{i}")),
                    Value::parse(&format!("[{i}, 0.5]")),
                ]
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let good = d.0.join("good.parquet");
    nrp_data::export::write_parquet(&t, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::remove_file(&good).unwrap();
    let path = d.0.join("t.parquet");
    let mut errors = 0;
    let mut mutants: Vec<Vec<u8>> = (0..bytes.len())
        .step_by(13)
        .map(|n| bytes[..n].to_vec())
        .collect();
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x5A;
        mutants.push(b);
    }
    for b in mutants {
        std::fs::write(&path, &b).unwrap();
        let db = Database::open(d.spec()).unwrap();
        // Either it reads (a byte that did not matter) or it is a data error naming the file.
        if let Err(e) = db.bind("t", 2, true) {
            assert!(
                e.message
                    .starts_with("cannot read table `t` (Parquet file ")
                    || e.message.starts_with("table `t`"),
                "{}",
                e.message
            );
            errors += 1;
        }
    }
    assert!(errors > 10);
}
