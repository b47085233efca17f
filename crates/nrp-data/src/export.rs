//! Writing a database's tables to another kind of source, so that one dataset can be read
//! through every source (the differential tests; `cargo run -p nrp-data --example export`).
//! Writing is the only thing nrp does to a PostgreSQL database that is not a read: it
//! happens here, on a connection of its own, never while a program runs.
//!
//! Column types are chosen so that the written table binds to the same facts as the one
//! read: an integer column becomes `INT64`, a column of numbers `DOUBLE`, a column of CSV
//! arrays (`"[0.5, 1]"` in every row) or a typed array column a list of `DOUBLE`, and any
//! other column text (numbers in it spelled in their shortest round-trip form, which reads
//! back to the same value). Tables with a cell that cannot be bound (SQL `NULL`, `BLOB`) are
//! refused: their other cells could not be told apart from written placeholders.

use std::path::Path;
use std::sync::Arc;

use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::Database;
use crate::table::{Column, DataError, Table};
use crate::value::{Value, parse_number};

/// How one column is written.
pub(crate) enum Kind {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Text(Vec<String>),
    /// Per row, its numbers.
    Arrays(Vec<Vec<f64>>),
}

/// CSV array text `[0.5, 1]` → its numbers.
fn parse_array(s: &str) -> Option<Vec<f64>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner
        .split(',')
        .map(|x| parse_number(x).map(|n| n.1))
        .collect()
}

/// The columns of `t`, typed for writing.
pub(crate) fn kinds(t: &Table) -> Result<Vec<Kind>, DataError> {
    let n = t.len();
    let mut out = Vec::with_capacity(t.columns.len());
    for (c, col) in t.cells.iter().enumerate() {
        if let Some((row, kind)) = t.invalid_cell(c) {
            return Err(DataError::new(format!(
                "{}, {}, column `{}`: {kind} cannot be exported",
                t.describe(),
                t.row_ref(row),
                t.columns[c]
            )));
        }
        if let Some(a) = t.array_column(c) {
            out.push(Kind::Arrays((0..n).map(|i| a.cell(i).to_vec()).collect()));
            continue;
        }
        out.push(match col {
            Column::Int(v) => Kind::Int(v.clone()),
            Column::Float(v) => Kind::Float(v.clone()),
            Column::Mixed(v) => {
                let arrays: Option<Vec<Vec<f64>>> = (n > 0)
                    .then(|| {
                        v.iter()
                            .map(|x| match x {
                                Value::Str(s) => parse_array(s),
                                _ => None,
                            })
                            .collect()
                    })
                    .flatten();
                match arrays {
                    Some(a) => Kind::Arrays(a),
                    None => Kind::Text(v.iter().map(|x| x.to_string()).collect()),
                }
            }
        });
    }
    Ok(out)
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::new(format!("cannot write {}: {e}", path.display()))
}

/// Writes `t` as the Parquet file `path` (one row group, uncompressed).
pub fn write_parquet(t: &Table, path: &Path) -> Result<(), DataError> {
    let kinds = kinds(t)?;
    let err = |e: parquet::errors::ParquetError| write_error(path, e);
    let mut fields = Vec::with_capacity(kinds.len());
    for (name, kind) in t.columns.iter().zip(&kinds) {
        let field = match kind {
            Kind::Int(_) => Type::primitive_type_builder(name, Physical::INT64)
                .with_repetition(Repetition::REQUIRED)
                .build(),
            Kind::Float(_) => Type::primitive_type_builder(name, Physical::DOUBLE)
                .with_repetition(Repetition::REQUIRED)
                .build(),
            Kind::Text(_) => Type::primitive_type_builder(name, Physical::BYTE_ARRAY)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::String))
                .with_converted_type(ConvertedType::UTF8)
                .build(),
            Kind::Arrays(_) => {
                let element = Type::primitive_type_builder("element", Physical::DOUBLE)
                    .with_repetition(Repetition::REQUIRED)
                    .build()
                    .map_err(err)?;
                let list = Type::group_type_builder("list")
                    .with_repetition(Repetition::REPEATED)
                    .with_fields(vec![Arc::new(element)])
                    .build()
                    .map_err(err)?;
                Type::group_type_builder(name)
                    .with_repetition(Repetition::REQUIRED)
                    .with_logical_type(Some(LogicalType::List))
                    .with_converted_type(ConvertedType::LIST)
                    .with_fields(vec![Arc::new(list)])
                    .build()
            }
        }
        .map_err(err)?;
        fields.push(Arc::new(field));
    }
    let schema = Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
        .map_err(err)?;
    let file = std::fs::File::create(path).map_err(|e| write_error(path, e))?;
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), props).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    for kind in &kinds {
        let mut col = group
            .next_column()
            .map_err(err)?
            .ok_or_else(|| write_error(path, "schema and columns disagree"))?;
        match kind {
            Kind::Int(v) => {
                col.typed::<Int64Type>()
                    .write_batch(v, None, None)
                    .map_err(err)?;
            }
            Kind::Float(v) => {
                col.typed::<DoubleType>()
                    .write_batch(v, None, None)
                    .map_err(err)?;
            }
            Kind::Text(v) => {
                let bytes: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&bytes, None, None)
                    .map_err(err)?;
            }
            Kind::Arrays(rows) => {
                // Definition level 1 = the list has this element, 0 = an empty list;
                // repetition level 0 starts a row's list.
                let mut values = Vec::new();
                let mut def = Vec::new();
                let mut rep = Vec::new();
                for r in rows {
                    if r.is_empty() {
                        def.push(0);
                        rep.push(0);
                    }
                    for (i, &x) in r.iter().enumerate() {
                        values.push(x);
                        def.push(1);
                        rep.push(if i == 0 { 0 } else { 1 });
                    }
                }
                col.typed::<DoubleType>()
                    .write_batch(&values, Some(&def), Some(&rep))
                    .map_err(err)?;
            }
        }
        col.close().map_err(err)?;
    }
    group.close().map_err(err)?;
    writer.close().map_err(err)?;
    Ok(())
}

/// Writes every table of `db` as `DIR/<table>.parquet` (`dir` must exist).
pub fn write_parquet_dir(db: &Database, dir: &Path) -> Result<(), DataError> {
    for name in db.table_names() {
        let t = db.table(&name)?;
        write_parquet(&t, &dir.join(format!("{name}.parquet")))?;
    }
    Ok(())
}

/// Writes every table of `db` into `schema` of the PostgreSQL database at `url` (the schema
/// is created if missing; tables of the same names are replaced): integer columns as
/// `bigint`, numbers as `double precision`, arrays as `double precision[]`, the rest as
/// `text`. One transaction: all tables or none.
pub fn write_postgres(db: &Database, url: &str, schema: &str) -> Result<(), DataError> {
    let tables: Vec<Arc<Table>> = db
        .table_names()
        .iter()
        .map(|n| db.table(n))
        .collect::<Result<_, _>>()?;
    let typed: Vec<(&Table, Vec<Kind>)> = tables
        .iter()
        .map(|t| Ok((&**t, kinds(t)?)))
        .collect::<Result<_, DataError>>()?;
    crate::pg::write_tables(url, schema, &typed)
}

/// Writes every table of `db` into a new SQLite database file `path` (which must not
/// exist): integer columns as `INTEGER`, numbers as `REAL`, text as `TEXT`, arrays as the
/// CSV text `[x, y]` (SQLite has no array type; nrp reads that text as an array).
pub fn write_sqlite(db: &Database, path: &Path) -> Result<(), DataError> {
    if path.exists() {
        return Err(write_error(path, "the file exists"));
    }
    let tables: Vec<Arc<Table>> = db
        .table_names()
        .iter()
        .map(|n| db.table(n))
        .collect::<Result<_, _>>()?;
    let tables: Vec<&Table> = tables.iter().map(|t| &**t).collect();
    write_sqlite_tables(path, &tables, false)
}

/// Writes `tables` (each under its name) into the SQLite file `path`, created if missing,
/// in one transaction: all tables or none. A table of the same name already in the file is
/// an error, or with `replace` dropped first. Column types as [`write_sqlite`].
pub fn write_sqlite_tables(path: &Path, tables: &[&Table], replace: bool) -> Result<(), DataError> {
    use rusqlite::types::Value as Cell;
    let err = |e: rusqlite::Error| write_error(path, e);
    let mut conn = rusqlite::Connection::open(path).map_err(err)?;
    let tx = conn.transaction().map_err(err)?;
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for t in tables {
        let name = &t.name;
        let exists: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE",
                [name],
                |r| r.get(0),
            )
            .map_err(err)?;
        if exists && !replace {
            return Err(write_error(
                path,
                format!("it already has a table `{name}` (give --replace to overwrite it)"),
            ));
        }
        if exists {
            tx.execute_batch(&format!("DROP TABLE {}", quote(name)))
                .map_err(err)?;
        }
        let kinds = kinds(t)?;
        let cols: Vec<String> = t
            .columns
            .iter()
            .zip(&kinds)
            .map(|(c, k)| {
                let ty = match k {
                    Kind::Int(_) => "INTEGER",
                    Kind::Float(_) => "REAL",
                    Kind::Text(_) | Kind::Arrays(_) => "TEXT",
                };
                format!("{} {ty}", quote(c))
            })
            .collect();
        tx.execute_batch(&format!(
            "CREATE TABLE {} ({})",
            quote(name),
            cols.join(", ")
        ))
        .map_err(err)?;
        let marks: Vec<&str> = kinds.iter().map(|_| "?").collect();
        let mut stmt = tx
            .prepare(&format!(
                "INSERT INTO {} VALUES ({})",
                quote(name),
                marks.join(", ")
            ))
            .map_err(err)?;
        for i in 0..t.len() {
            let row: Vec<Cell> = kinds
                .iter()
                .map(|k| match k {
                    Kind::Int(v) => Cell::Integer(v[i]),
                    Kind::Float(v) => Cell::Real(v[i]),
                    Kind::Text(v) => Cell::Text(v[i].clone()),
                    Kind::Arrays(v) => {
                        let items: Vec<String> = v[i]
                            .iter()
                            .map(|x| crate::value::format_float(*x))
                            .collect();
                        Cell::Text(format!("[{}]", items.join(", ")))
                    }
                })
                .collect();
            stmt.execute(rusqlite::params_from_iter(row)).map_err(err)?;
        }
    }
    tx.commit().map_err(err)?;
    Ok(())
}
