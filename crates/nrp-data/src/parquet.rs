//! Parquet sources: a directory of `.parquet` files, table `T` is `T.parquet`, read with the
//! `parquet` crate's record reader (no Arrow).
//!
//! Cell types, chosen so that a table exported to CSV (by pandas, or by `COPY … CSV`) and the
//! same table as Parquet bind to the same facts:
//! - integers (signed and unsigned, any width) are integers; `FLOAT`/`DOUBLE`/`FLOAT16` are
//!   numbers (normalised: `2.0` is the integer 2; an infinity becomes the string `inf`, NaN
//!   the string `nan`, as that text would); `DECIMAL` is its exact decimal value read as a
//!   number;
//! - strings (`UTF8`/`STRING`, `ENUM`, `JSON`) are parsed like CSV cells: text that reads as
//!   a number is that number;
//! - booleans are the integers 1 and 0 (the language's `True` and `False`);
//! - `DATE` is the text `YYYY-MM-DD`, `TIMESTAMP` the text `YYYY-MM-DD HH:MM:SS[.ffffff]`
//!   in UTC (trailing zeros of the fraction dropped, as PostgreSQL prints it), `TIME` the
//!   text `HH:MM:SS[.ffffff]`: ISO 8601 text sorts chronologically and is what a CSV export
//!   holds;
//! - a list of numbers is an *array column*: it binds only as an embedding, on its own
//!   (LANGUAGE.md §6: "a single column holding arrays");
//! - `NULL`, binary (`BYTE_ARRAY` without a string annotation) and a `NULL` inside a list
//!   load as placeholders and are an error only when a binding uses their column, as in
//!   SQLite; structs, maps and lists of non-numbers are columns of an unsupported type,
//!   likewise an error only when bound.
//!
//! Rows keep the file's order; data errors call them "row N" (1-based, as in the file).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, List};

use crate::table::{ArrayColumn, ColumnBuilder, DataError, InvalidCell, RowRefs, Table};
use crate::time::{format_date, format_time_micros, format_timestamp_micros};

fn open_error(path: &Path, table: &str, e: impl std::fmt::Display) -> DataError {
    DataError::new(format!(
        "cannot read table `{table}` (Parquet file {}): {e}",
        path.display()
    ))
}

thread_local! {
    static IN_READER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside the Parquet reader: a panic there is a malformed file that
/// the `parquet` crate did not reject cleanly, reported as a data error (a panic hook may
/// use this to stay quiet).
pub fn in_reader() -> bool {
    IN_READER.with(|f| f.get())
}

/// Runs `f` (a use of the `parquet` crate) turning a panic into a data error.
fn guarded<T>(
    path: &Path,
    table: &str,
    f: impl FnOnce() -> Result<T, DataError>,
) -> Result<T, DataError> {
    let was = IN_READER.with(|c| c.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_READER.with(|c| c.set(was));
    r.unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(open_error(
            path,
            table,
            format_args!("the file is malformed ({msg})"),
        ))
    })
}

fn open(path: &Path, table: &str) -> Result<SerializedFileReader<File>, DataError> {
    let file = File::open(path).map_err(|e| open_error(path, table, e))?;
    SerializedFileReader::new(file).map_err(|e| open_error(path, table, e))
}

/// The top-level column names of the file of `table` (reads the footer only).
pub(crate) fn read_header(path: &Path, table: &str) -> Result<Vec<String>, DataError> {
    guarded(path, table, || read_header_unguarded(path, table))
}

fn read_header_unguarded(path: &Path, table: &str) -> Result<Vec<String>, DataError> {
    let reader = open(path, table)?;
    let schema = reader.metadata().file_metadata().schema_descr();
    Ok(schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect())
}

/// One column while it loads.
struct Loader {
    cells: ColumnBuilder,
    /// Created at the column's first list cell.
    arrays: Option<ArrayColumn>,
    invalid: Option<(usize, InvalidCell)>,
}

impl Loader {
    fn mark(&mut self, row: usize, kind: InvalidCell) {
        self.invalid.get_or_insert((row, kind));
    }

    fn push(&mut self, row: usize, field: &Field) {
        match field {
            Field::Null => {
                self.mark(row, InvalidCell::Null);
                self.placeholder();
            }
            Field::Bool(b) => self.cells.push_int(*b as i64),
            Field::Byte(x) => self.cells.push_int(*x as i64),
            Field::Short(x) => self.cells.push_int(*x as i64),
            Field::Int(x) => self.cells.push_int(*x as i64),
            Field::Long(x) => self.cells.push_int(*x),
            Field::UByte(x) => self.cells.push_int(*x as i64),
            Field::UShort(x) => self.cells.push_int(*x as i64),
            Field::UInt(x) => self.cells.push_int(*x as i64),
            Field::ULong(x) => match i64::try_from(*x) {
                Ok(i) => self.cells.push_int(i),
                Err(_) => self.cells.push_text(&x.to_string()),
            },
            Field::Float16(x) => self.cells.push_typed_float(x.to_f64()),
            Field::Float(x) => self.cells.push_typed_float(*x as f64),
            Field::Double(x) => self.cells.push_typed_float(*x),
            Field::Decimal(d) => {
                let text = decimal_text(d.data(), d.scale());
                self.cells.push_text(&text)
            }
            Field::Str(s) => self.cells.push_text(s),
            Field::Bytes(_) => {
                self.mark(row, InvalidCell::Blob);
                self.placeholder();
            }
            Field::Date(days) => self.cells.push_str(&format_date(*days as i64)),
            Field::TimeMillis(ms) => self.cells.push_str(&format_time_micros(*ms as i64 * 1000)),
            Field::TimeMicros(us) => self.cells.push_str(&format_time_micros(*us)),
            Field::TimestampMillis(ms) => self
                .cells
                .push_str(&format_timestamp_micros(ms.saturating_mul(1000))),
            Field::TimestampMicros(us) => self.cells.push_str(&format_timestamp_micros(*us)),
            Field::ListInternal(list) => self.push_list(row, list),
            Field::Group(_) => {
                self.mark(
                    row,
                    InvalidCell::Unsupported(Arc::from("struct (a Parquet group)")),
                );
                self.placeholder();
            }
            Field::MapInternal(_) => {
                self.mark(row, InvalidCell::Unsupported(Arc::from("map")));
                self.placeholder();
            }
        }
    }

    /// A cell that holds nothing bindable (its column is marked invalid).
    fn placeholder(&mut self) {
        match &mut self.arrays {
            Some(a) => {
                a.end_cell();
                self.cells.push_int(0);
            }
            None => self.cells.push_str(""),
        }
    }

    fn push_list(&mut self, row: usize, list: &List) {
        if self.arrays.is_none() {
            let mut a = ArrayColumn::new("list");
            // Earlier rows (NULLs) become empty arrays.
            for _ in 0..row {
                a.end_cell();
            }
            self.arrays = Some(a);
            // Placeholders of earlier rows are strings; restart them as integers.
            self.cells = ColumnBuilder::with_capacity(0);
            for _ in 0..row {
                self.cells.push_int(0);
            }
        }
        let a = self.arrays.as_mut().expect("created above");
        for e in list.elements() {
            let x = match e {
                Field::Float(x) => *x as f64,
                Field::Double(x) => *x,
                Field::Float16(x) => x.to_f64(),
                Field::Byte(x) => *x as f64,
                Field::Short(x) => *x as f64,
                Field::Int(x) => *x as f64,
                Field::Long(x) => *x as f64,
                Field::UByte(x) => *x as f64,
                Field::UShort(x) => *x as f64,
                Field::UInt(x) => *x as f64,
                Field::ULong(x) => *x as f64,
                Field::Bool(b) => *b as u8 as f64,
                Field::Null => {
                    self.invalid.get_or_insert((row, InvalidCell::NullInArray));
                    continue;
                }
                other => {
                    let kind = format!("list of {}", field_kind(other));
                    self.invalid
                        .get_or_insert((row, InvalidCell::Unsupported(Arc::from(kind))));
                    continue;
                }
            };
            a.values.push(x);
        }
        if a.type_name == "list"
            && let Some(e) = list.elements().iter().find(|e| !matches!(e, Field::Null))
        {
            a.type_name = format!("list<{}>", field_kind(e));
        }
        a.end_cell();
        self.cells.push_int(0);
    }
}

fn field_kind(f: &Field) -> &'static str {
    match f {
        Field::Null => "null",
        Field::Bool(_) => "boolean",
        Field::Byte(_) | Field::Short(_) | Field::Int(_) => "int32",
        Field::Long(_) => "int64",
        Field::UByte(_) | Field::UShort(_) | Field::UInt(_) => "uint32",
        Field::ULong(_) => "uint64",
        Field::Float16(_) => "float16",
        Field::Float(_) => "float",
        Field::Double(_) => "double",
        Field::Decimal(_) => "decimal",
        Field::Str(_) => "string",
        Field::Bytes(_) => "binary",
        Field::Date(_) => "date",
        Field::TimeMillis(_) | Field::TimeMicros(_) => "time",
        Field::TimestampMillis(_) | Field::TimestampMicros(_) => "timestamp",
        Field::Group(_) => "struct",
        Field::ListInternal(_) => "list",
        Field::MapInternal(_) => "map",
    }
}

/// The decimal text of a big-endian two's-complement unscaled value with `scale` digits
/// after the point (`1234`, scale 2 → `12.34e0` spelled as `1234e-2`).
fn decimal_text(bytes: &[u8], scale: i32) -> String {
    // Up to 16 bytes fit an i128 exactly; longer (rare) values keep their leading bytes'
    // sign extension, which is all a 38-digit decimal needs.
    let mut v: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    for &b in bytes.iter().rev().take(16).rev() {
        v = (v << 8) | b as i128;
    }
    if scale == 0 {
        v.to_string()
    } else {
        format!("{v}e{}", -scale)
    }
}

/// Reads the whole file of `table`.
pub(crate) fn load(path: &Path, table: &str) -> Result<Table, DataError> {
    guarded(path, table, || load_unguarded(path, table))
}

fn load_unguarded(path: &Path, table: &str) -> Result<Table, DataError> {
    let reader = open(path, table)?;
    let meta = reader.metadata();
    let columns: Vec<String> = meta
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let capacity = usize::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    let mut loaders: Vec<Loader> = columns
        .iter()
        .map(|_| Loader {
            cells: ColumnBuilder::with_capacity(capacity),
            arrays: None,
            invalid: None,
        })
        .collect();
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| open_error(path, table, e))?;
    let mut n = 0usize;
    for row in rows {
        let row = row.map_err(|e| open_error(path, table, format_args!("row {}: {e}", n + 1)))?;
        for (c, (_, field)) in row.get_column_iter().enumerate() {
            if let Some(l) = loaders.get_mut(c) {
                l.push(n, field);
            }
        }
        n += 1;
    }
    let mut cells = Vec::with_capacity(loaders.len());
    let mut invalid = Vec::with_capacity(loaders.len());
    let mut arrays = Vec::with_capacity(loaders.len());
    for l in loaders {
        cells.push(l.cells.finish());
        invalid.push(l.invalid);
        arrays.push(l.arrays);
    }
    if arrays.iter().all(Option::is_none) {
        arrays.clear();
    }
    Ok(Table {
        name: table.to_string(),
        columns,
        cells,
        rows: n,
        refs: RowRefs::Sql {
            pk: Vec::new(),
            rowids: None,
        },
        invalid,
        arrays,
        sql: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_exactly() {
        assert_eq!(decimal_text(&[0x04, 0xD2], 2), "1234e-2");
        assert_eq!(decimal_text(&[0xFB, 0x2E], 0), "-1234");
        assert_eq!(
            crate::value::parse_number(&decimal_text(&[0x04, 0xD2], 2))
                .unwrap()
                .1,
            12.34
        );
    }
}
