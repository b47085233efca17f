//! Loaded tables: typed columns, row references and the error helpers that name them.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::value::Value;

/// A data error: one complete, human-readable message naming table, row and column where
/// they apply.
#[derive(Debug, Clone, PartialEq)]
pub struct DataError {
    pub message: String,
}

impl DataError {
    pub fn new(message: impl Into<String>) -> DataError {
        DataError {
            message: message.into(),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DataError {}

/// Where a row came from, for messages. CSV: the file line where the record starts (the
/// header is line 1). SQL: the primary key, the row id, or for views the 1-based row number;
/// the string is the whole phrase ("row id 7", "primary key (a=1, b=2)", "row 3").
#[derive(Debug, Clone, PartialEq)]
pub enum RowRef {
    Line(u64),
    Key(String),
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowRef::Line(n) => write!(f, "line {n}"),
            RowRef::Key(k) => f.write_str(k),
        }
    }
}

/// One content column, typed for memory: a column of integers costs 8 bytes a cell, not the
/// 24 of a [`Value`]. `Int` holds only integers, `Float` only numbers (each exactly
/// representable as `f64`), `Mixed` anything (it is chosen when a cell is a string).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Mixed(Vec<Value>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Mixed(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A typed column holding `values` (normalised; the narrowest type that fits).
    pub fn from_values(values: impl IntoIterator<Item = Value>) -> Column {
        let values = values.into_iter();
        let mut b = ColumnBuilder::with_capacity(values.size_hint().0);
        for v in values {
            b.push_value(&v);
        }
        b.finish()
    }

    /// The cell as a (normalised) value. Panics if `i >= len()`, like slice indexing.
    pub fn get(&self, i: usize) -> Value {
        match self {
            Column::Int(v) => Value::Int(v[i]),
            Column::Float(v) => Value::from_f64(v[i]),
            Column::Mixed(v) => v[i].clone(),
        }
    }

    /// The cell as a number, `None` for a string.
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        match self {
            Column::Int(v) => Some(v[i] as f64),
            Column::Float(v) => Some(v[i]),
            Column::Mixed(v) => v[i].as_f64(),
        }
    }

    /// The cells at `rows`, in that order, keeping the column's type.
    pub fn gather(&self, rows: &[usize]) -> Column {
        match self {
            Column::Int(v) => Column::Int(rows.iter().map(|&r| v[r]).collect()),
            Column::Float(v) => Column::Float(rows.iter().map(|&r| v[r]).collect()),
            Column::Mixed(v) => Column::Mixed(rows.iter().map(|&r| v[r].clone()).collect()),
        }
    }

    /// Whether cells `a` and `b` hold the same value. Values are normalised on the way in,
    /// so equal numbers have equal representations (no `-0.0`, no integral floats in `Mixed`).
    #[inline]
    pub(crate) fn cell_eq(&self, a: usize, b: usize) -> bool {
        match self {
            Column::Int(v) => v[a] == v[b],
            Column::Float(v) => v[a] == v[b],
            Column::Mixed(v) => v[a] == v[b],
        }
    }

    #[inline]
    pub(crate) fn cell_cmp(&self, a: usize, b: usize) -> std::cmp::Ordering {
        match self {
            Column::Int(v) => v[a].cmp(&v[b]),
            // `==` first: a hand-made column may hold both zeros.
            Column::Float(v) if v[a] == v[b] => std::cmp::Ordering::Equal,
            Column::Float(v) => v[a].total_cmp(&v[b]),
            Column::Mixed(v) => v[a].cmp(&v[b]),
        }
    }
}

/// A cell that cannot be bound (SQL `NULL` or `BLOB`, a `NULL` inside an array, or any
/// cell of a column whose type nrp does not read). It is kept in the table as an empty
/// string so that unused columns may hold it; binding the column is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidCell {
    Null,
    Blob,
    /// An array (list) cell with a `NULL` element.
    NullInArray,
    /// A column of a type nrp cannot read; the type's name as the source spells it.
    Unsupported(Arc<str>),
}

impl fmt::Display for InvalidCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidCell::Null => f.write_str("NULL"),
            InvalidCell::Blob => f.write_str("a BLOB"),
            InvalidCell::NullInArray => f.write_str("an array with a NULL element"),
            InvalidCell::Unsupported(ty) => write!(f, "a value of unsupported type {ty}"),
        }
    }
}

/// A column of numeric arrays (Parquet lists, PostgreSQL `REAL[]`): cell `i` is
/// `values[offsets[i]..offsets[i + 1]]`. It binds only as an embedding (LANGUAGE.md §6);
/// its cells in [`Table::cells`] are placeholders.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ArrayColumn {
    pub(crate) offsets: Vec<usize>,
    pub(crate) values: Vec<f64>,
    /// How the source spells the type, for messages (`list<double>`, `real[]`).
    pub(crate) type_name: String,
}

impl ArrayColumn {
    pub(crate) fn new(type_name: impl Into<String>) -> ArrayColumn {
        ArrayColumn {
            offsets: vec![0],
            values: Vec::new(),
            type_name: type_name.into(),
        }
    }

    /// Ends the current cell (its values were pushed onto `values`).
    pub(crate) fn end_cell(&mut self) {
        self.offsets.push(self.values.len());
    }

    pub(crate) fn cell(&self, i: usize) -> &[f64] {
        &self.values[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// How a table's rows are referred to in messages. Kept compact: a 10M-row CSV table
/// stores nothing per row unless some record spans several lines or blank lines were skipped.
#[derive(Debug, Clone)]
pub(crate) enum RowRefs {
    /// Row `i` starts on `lines[i]`, or on line `i + 2` when `lines` is `None`.
    Lines(Option<Vec<u64>>),
    /// A SQL table: the primary-key columns when declared (and free of NULLs), else the row
    /// id, else the 1-based row number.
    Sql {
        pk: Vec<usize>,
        rowids: Option<Vec<i64>>,
    },
    /// A PostgreSQL table without a primary key: each row's `ctid` (block, tuple).
    Ctid(Vec<(u32, u16)>),
}

/// A loaded table: its column names and typed cells, in table order.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    pub cells: Vec<Column>,
    pub(crate) rows: usize,
    pub(crate) refs: RowRefs,
    /// Per column: the first cell that cannot be bound, if any.
    pub(crate) invalid: Vec<Option<(usize, InvalidCell)>>,
    /// Per column, the arrays of an array column; empty when the table has none.
    pub(crate) arrays: Vec<Option<ArrayColumn>>,
    /// What SQL grounding needs of a SQL source's table: row locators and how its cells
    /// compare (`None`: not a table SQL grounding can refer to).
    pub(crate) sql: Option<crate::sql::SqlRows>,
}

impl Table {
    /// An in-memory table (tests, generated data). Rows are referred to as "row 1", "row 2"...
    /// Fails unless there is one column of cells per name, all of one length.
    pub fn new(
        name: impl Into<String>,
        columns: Vec<String>,
        cells: Vec<Column>,
    ) -> Result<Table, DataError> {
        let name = name.into();
        let rows = cells.first().map_or(0, Column::len);
        if columns.len() != cells.len() || cells.iter().any(|c| c.len() != rows) {
            let lens: Vec<String> = cells.iter().map(|c| c.len().to_string()).collect();
            return Err(DataError::new(format!(
                "{}: {} column names but cells of lengths [{}]",
                describe_table(&name, &columns),
                columns.len(),
                lens.join(", ")
            )));
        }
        let invalid = vec![None; columns.len()];
        Ok(Table {
            name,
            columns,
            cells,
            rows,
            refs: RowRefs::Sql {
                pk: Vec::new(),
                rowids: None,
            },
            invalid,
            arrays: Vec::new(),
            sql: None,
        })
    }

    /// An in-memory table from rows of values; see [`Table::new`].
    pub fn from_rows(
        name: impl Into<String>,
        columns: Vec<String>,
        rows: &[Vec<Value>],
    ) -> Result<Table, DataError> {
        let name = name.into();
        let mut builders: Vec<ColumnBuilder> = columns
            .iter()
            .map(|_| ColumnBuilder::with_capacity(rows.len()))
            .collect();
        for (i, row) in rows.iter().enumerate() {
            if row.len() != columns.len() {
                return Err(DataError::new(format!(
                    "{}, row {}: {} values for {} columns",
                    describe_table(&name, &columns),
                    i + 1,
                    row.len(),
                    columns.len()
                )));
            }
            builders
                .iter_mut()
                .zip(row)
                .for_each(|(b, v)| b.push_value(v));
        }
        let cells = builders.into_iter().map(ColumnBuilder::finish).collect();
        Table::new(name, columns, cells)
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Where row `i` came from, for messages.
    pub fn row_ref(&self, i: usize) -> RowRef {
        match &self.refs {
            RowRefs::Lines(None) => RowRef::Line(i as u64 + 2),
            RowRefs::Lines(Some(lines)) => RowRef::Line(lines[i]),
            RowRefs::Sql { pk, rowids } => {
                if !pk.is_empty() && pk.iter().all(|&c| self.invalid[c].is_none()) {
                    let parts: Vec<String> = pk
                        .iter()
                        .map(|&c| {
                            format!(
                                "{}={}",
                                self.columns[c],
                                quote_if_string(&self.cells[c].get(i))
                            )
                        })
                        .collect();
                    RowRef::Key(format!("primary key ({})", parts.join(", ")))
                } else if let Some(ids) = rowids {
                    RowRef::Key(format!("row id {}", ids[i]))
                } else {
                    RowRef::Key(format!("row {}", i + 1))
                }
            }
            RowRefs::Ctid(ids) => {
                let (block, tuple) = ids[i];
                RowRef::Key(format!("ctid ({block},{tuple})"))
            }
        }
    }

    /// The first cell of column `col` that cannot be bound (SQL `NULL` / `BLOB`), if any.
    pub fn invalid_cell(&self, col: usize) -> Option<(usize, InvalidCell)> {
        self.invalid.get(col).cloned().flatten()
    }

    /// The arrays of column `col` when it is an array column.
    pub(crate) fn array_column(&self, col: usize) -> Option<&ArrayColumn> {
        self.arrays.get(col).and_then(Option::as_ref)
    }

    /// Whether column `col` holds arrays (Parquet lists, PostgreSQL arrays).
    pub fn is_array_column(&self, col: usize) -> bool {
        self.array_column(col).is_some()
    }

    /// The numbers of array cell `row` of column `col` (`None` if it is no array column).
    pub fn array_cell(&self, col: usize, row: usize) -> Option<&[f64]> {
        Some(self.array_column(col)?.cell(row))
    }

    /// "table `edge` (src, dst)": the phrase every message about this table starts with.
    pub fn describe(&self) -> String {
        describe_table(&self.name, &self.columns)
    }
}

/// "table `edge` (src, dst)"; a wide table lists its first columns and the count.
pub(crate) fn describe_table(name: &str, columns: &[String]) -> String {
    format!("table `{name}` ({})", list_columns(columns))
}

pub(crate) fn list_columns(columns: &[String]) -> String {
    const SHOWN: usize = 8;
    if columns.len() <= SHOWN + 2 {
        columns.join(", ")
    } else {
        format!(
            "{}, …, {}: {} columns",
            columns[..SHOWN].join(", "),
            columns[columns.len() - 1],
            columns.len()
        )
    }
}

/// Values in messages: strings quoted so that `"1 "` and `1` or an empty string are visible.
pub(crate) fn quote_if_string(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Accumulates one column while a table loads, choosing the narrowest [`Column`] type.
/// Strings are interned per column: categorical columns (`split`, `element`) then cost one
/// allocation per distinct value.
pub(crate) struct ColumnBuilder {
    col: Column,
    strings: HashSet<Arc<str>>,
}

/// Integers up to 2^53 in magnitude convert to `f64` exactly; larger ones force `Mixed`
/// next to floats so that no integer is rounded.
#[inline]
fn exact_in_f64(i: i64) -> bool {
    i.unsigned_abs() <= 1 << 53
}

impl ColumnBuilder {
    pub(crate) fn with_capacity(n: usize) -> ColumnBuilder {
        ColumnBuilder {
            col: Column::Int(Vec::with_capacity(n)),
            strings: HashSet::new(),
        }
    }

    #[inline]
    pub(crate) fn push_int(&mut self, i: i64) {
        match &mut self.col {
            Column::Int(v) => v.push(i),
            Column::Float(v) if exact_in_f64(i) => v.push(i as f64),
            Column::Float(_) => {
                self.make_mixed();
                self.push_int(i)
            }
            Column::Mixed(v) => v.push(Value::Int(i)),
        }
    }

    /// `x` must be finite and not integral-in-`i64` (callers normalise first).
    #[inline]
    pub(crate) fn push_float(&mut self, x: f64) {
        match &mut self.col {
            Column::Float(v) => v.push(x),
            Column::Int(v) => {
                if v.iter().all(|&i| exact_in_f64(i)) {
                    let mut f = Vec::with_capacity(v.capacity());
                    f.extend(v.iter().map(|&i| i as f64));
                    f.push(x);
                    self.col = Column::Float(f);
                } else {
                    self.make_mixed();
                    self.push_float(x)
                }
            }
            Column::Mixed(v) => v.push(Value::Float(x)),
        }
    }

    /// Any number; normalises it as [`Value::from_f64`] does.
    pub(crate) fn push_number(&mut self, x: f64) {
        match Value::from_f64(x) {
            Value::Int(i) => self.push_int(i),
            _ => self.push_float(x),
        }
    }

    /// Any value, normalised again (a hand-made `Value::Float(2.0)` becomes `Int(2)`).
    pub(crate) fn push_value(&mut self, v: &Value) {
        match v {
            Value::Int(i) => self.push_int(*i),
            Value::Float(x) if x.is_finite() => self.push_number(*x),
            // A non-finite float is not a number here (see `parse_number`).
            Value::Float(x) => self.push_str(&x.to_string()),
            Value::Str(s) => self.push_str(s),
        }
    }

    /// A text cell as a CSV file holds it: a number when it reads as one
    /// ([`crate::value::parse_number`]), else a string.
    pub(crate) fn push_text(&mut self, s: &str) {
        match crate::value::parse_number(s) {
            Some((Some(i), _)) => self.push_int(i),
            Some((None, x)) => self.push_number(x),
            None => self.push_str(s),
        }
    }

    /// A float of a typed source (Parquet, PostgreSQL): a number, or for an infinity or NaN
    /// the text a CSV export holds (`inf`, `nan`), which does not read as a number.
    pub(crate) fn push_typed_float(&mut self, x: f64) {
        if x.is_finite() {
            self.push_number(x)
        } else {
            self.push_str(&crate::value::format_float(x))
        }
    }

    /// A string cell (already known not to be a number).
    pub(crate) fn push_str(&mut self, s: &str) {
        let s = match self.strings.get(s) {
            Some(a) => a.clone(),
            None => {
                let a: Arc<str> = Arc::from(s);
                self.strings.insert(a.clone());
                a
            }
        };
        if !matches!(self.col, Column::Mixed(_)) {
            self.make_mixed();
        }
        if let Column::Mixed(v) = &mut self.col {
            v.push(Value::Str(s));
        }
    }

    /// Appends the cells of `other` (parsed after this one), as pushing them one by one
    /// would: same-typed columns are joined, any other pair is pushed cell by cell.
    pub(crate) fn append(&mut self, other: ColumnBuilder) {
        match (&mut self.col, other.col) {
            (Column::Int(a), Column::Int(b)) => a.extend(b),
            (Column::Float(a), Column::Float(b)) => a.extend(b),
            (_, b) => {
                for i in 0..b.len() {
                    self.push_value(&b.get(i));
                }
            }
        }
    }

    fn make_mixed(&mut self) {
        let mixed = match &self.col {
            Column::Int(v) => {
                let mut m = Vec::with_capacity(v.capacity());
                m.extend(v.iter().map(|&i| Value::Int(i)));
                m
            }
            Column::Float(v) => {
                let mut m = Vec::with_capacity(v.capacity());
                m.extend(v.iter().map(|&x| Value::from_f64(x)));
                m
            }
            Column::Mixed(_) => return,
        };
        self.col = Column::Mixed(mixed);
    }

    pub(crate) fn finish(self) -> Column {
        let mut col = self.col;
        match &mut col {
            Column::Int(v) => v.shrink_to_fit(),
            Column::Float(v) => v.shrink_to_fit(),
            Column::Mixed(v) => v.shrink_to_fit(),
        }
        col
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_picks_the_narrowest_type() {
        let mut b = ColumnBuilder::with_capacity(0);
        b.push_int(1);
        b.push_int(2);
        assert_eq!(b.finish(), Column::Int(vec![1, 2]));

        let mut b = ColumnBuilder::with_capacity(0);
        b.push_int(1);
        b.push_float(2.5);
        b.push_int(3);
        assert_eq!(b.finish(), Column::Float(vec![1.0, 2.5, 3.0]));

        let mut b = ColumnBuilder::with_capacity(0);
        b.push_int(1);
        b.push_float(2.5);
        b.push_str("x");
        let c = b.finish();
        assert_eq!(
            c,
            Column::Mixed(vec![Value::Int(1), Value::Float(2.5), Value::parse("x")])
        );
        assert_eq!(c.get(0), Value::Int(1));
    }

    #[test]
    fn large_integers_are_not_rounded_next_to_floats() {
        let big = (1i64 << 60) + 1;
        let mut b = ColumnBuilder::with_capacity(0);
        b.push_int(big);
        b.push_float(0.5);
        let c = b.finish();
        assert_eq!(c.get(0), Value::Int(big));

        let mut b = ColumnBuilder::with_capacity(0);
        b.push_float(0.5);
        b.push_int(big);
        assert_eq!(b.finish().get(1), Value::Int(big));
    }

    #[test]
    fn float_cells_read_back_normalised() {
        let mut b = ColumnBuilder::with_capacity(0);
        b.push_number(0.5);
        b.push_number(-0.0);
        b.push_number(2.0);
        let c = b.finish();
        assert_eq!(c, Column::Float(vec![0.5, 0.0, 2.0]));
        assert!(matches!(c.get(1), Value::Int(0)));
        assert!(matches!(c.get(2), Value::Int(2)));
    }

    #[test]
    fn wide_column_lists_are_shortened() {
        let cols: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        assert_eq!(
            list_columns(&cols),
            "c0, c1, c2, c3, c4, c5, c6, c7, …, c19: 20 columns"
        );
        assert_eq!(describe_table("t", &cols[..2]), "table `t` (c0, c1)");
    }
}
