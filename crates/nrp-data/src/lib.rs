//! Database sources and the binding rules of LANGUAGE.md §6.
//!
//! A [`Database`] opens a source (a directory of CSV files, a SQLite file), lists its tables,
//! and *binds* an atom shape `T(t1..tk)` / `T(t1..tk; e)` to a [`BoundRelation`]: the first
//! `k` columns as content, and for an embedding binding all remaining columns (numeric, or a
//! single array column) as a dense `f64` matrix. Every data error names the table, the row
//! (CSV file line, header = line 1; SQL primary key / rowid) and the column.

pub mod value;

pub use value::{Value, format_f32, format_float, parse_number};
