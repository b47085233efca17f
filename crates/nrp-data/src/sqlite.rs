//! SQLite sources: tables and views, read through `rusqlite` (SQLite compiled in).
//!
//! Column order is `PRAGMA table_info`'s. `INTEGER` cells are integers, `REAL` cells numbers
//! (normalised; an infinity becomes the string `inf`, as the text `inf` would), `TEXT` cells
//! are parsed like CSV cells (text that reads as a number is that number). `NULL` and `BLOB`
//! cells load as placeholders and are an error only when a binding uses their column.
//! Rows keep SQLite's scan order (row id for tables, primary key for `WITHOUT ROWID`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::Column;
use crate::sql::{Cells, Locators, SqlRows};
use crate::table::{ColumnBuilder, DataError, InvalidCell, RowRefs, Table};
use crate::value::parse_number;

pub(crate) struct Sqlite {
    pub(crate) path: PathBuf,
    // `Connection` is `Send` but not `Sync`; loads are serialised, which SQLite needs anyway.
    conn: Mutex<Connection>,
    pub(crate) tables: Vec<String>,
}

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// `"name"` with embedded quotes doubled: any table or column name is safe in SQL text.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `file:` URI of `path` opened as immutable (RFC 3986 escapes for the characters a URI
/// path cannot hold as they are).
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                uri.push(b as char)
            }
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Sqlite, DataError> {
        let mut head = [0u8; 20];
        let read = std::fs::File::open(path).and_then(|mut f| {
            use std::io::Read;
            let mut n = 0;
            while n < 20 {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            Ok(n)
        });
        match read {
            Err(e) => {
                return Err(DataError::new(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
            Ok(n) if n < 16 || &head[..16] != MAGIC => {
                let hint = if path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
                {
                    "; for CSV tables give the directory that holds the .csv files"
                } else {
                    ""
                };
                return Err(DataError::new(format!(
                    "database source {} is neither a directory of CSV files nor a SQLite database \
                     (its first bytes are not \"SQLite format 3\"){hint}",
                    path.display()
                )));
            }
            Ok(_) => {}
        }
        let err = |e: rusqlite::Error| {
            DataError::new(format!(
                "cannot open SQLite database {}: {e}",
                path.display()
            ))
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // A database in WAL mode (header bytes 18-19 are 2) makes even a read-only
        // connection create `-wal` and `-shm` files beside it (and fail in a read-only
        // folder). When no `-wal` file exists, every change is in the main file: open it as
        // immutable, which reads it without locks or side files.
        let wal_mode = head[18] == 2 || head[19] == 2;
        let mut wal_file = path.as_os_str().to_os_string();
        wal_file.push("-wal");
        let pending_log = std::path::Path::new(&wal_file).exists();
        let conn = if wal_mode && !pending_log {
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        } else {
            Connection::open_with_flags(path, flags)
        };
        let conn = conn.map_err(|e| {
            if wal_mode && pending_log {
                DataError::new(format!(
                    "cannot open SQLite database {}: {e}; it is in WAL mode with changes still in \
                     {} (a writer is running, or crashed), and SQLite needs write access to \
                     its folder to read them: let the writer finish, or checkpoint the log \
                     (`PRAGMA wal_checkpoint(TRUNCATE)`), or copy both files to a writable folder",
                    path.display(),
                    std::path::Path::new(&wal_file).display()
                ))
            } else {
                err(e)
            }
        })?;
        let tables = (|| {
            let mut stmt = conn.prepare(
                "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
            names.collect::<Result<Vec<String>, _>>()
        })()
        .map_err(err)?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            tables,
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic elsewhere cannot leave the connection half-changed (reads only).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, table: &str, e: rusqlite::Error) -> DataError {
        DataError::new(format!(
            "cannot read table `{table}` from SQLite database {}: {e}",
            self.path.display()
        ))
    }

    /// `(name, primary-key position)` per column, in table order.
    fn table_info(conn: &Connection, table: &str) -> rusqlite::Result<Vec<(String, i64)>> {
        let mut stmt =
            conn.prepare("SELECT name, pk FROM pragma_table_info(?1, 'main') ORDER BY cid")?;
        let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    pub(crate) fn columns(&self, table: &str) -> Result<Vec<String>, DataError> {
        let conn = self.conn();
        let info = Self::table_info(&conn, table).map_err(|e| self.error(table, e))?;
        Ok(info.into_iter().map(|c| c.0).collect())
    }

    pub(crate) fn load(&self, table: &str) -> Result<Table, DataError> {
        let conn = self.conn();
        self.load_with(&conn, table)
            .map_err(|e| self.error(table, e))
    }

    fn load_with(&self, conn: &Connection, table: &str) -> rusqlite::Result<Table> {
        let info = Self::table_info(conn, table)?;
        let columns: Vec<String> = info.iter().map(|c| c.0.clone()).collect();
        let ncols = columns.len();
        // Plain tables have a row id; `WITHOUT ROWID` tables, views and virtual tables do not
        // (`wr` is 1 for WITHOUT ROWID).
        let (kind, without_rowid): (String, i64) = conn.query_row(
            "SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
            [table],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut pk: Vec<(i64, usize)> = info
            .iter()
            .enumerate()
            .filter(|(_, c)| c.1 > 0)
            .map(|(i, c)| (c.1, i))
            .collect();
        pk.sort();
        let pk: Vec<usize> = pk.into_iter().map(|p| p.1).collect();
        let rowid_name = if kind == "table" && without_rowid == 0 {
            // A column may shadow one of the row id's names, but rarely all three.
            ["rowid", "_rowid_", "oid"]
                .into_iter()
                .find(|alias| !columns.iter().any(|c| c.eq_ignore_ascii_case(alias)))
        } else {
            None
        };
        let mut select: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        if let Some(r) = rowid_name {
            select.push(r.to_string());
        }
        let sql = format!(
            "SELECT {} FROM main.{}",
            select.join(", "),
            quote_ident(table)
        );
        let count: i64 = conn.query_row(
            &format!("SELECT count(*) FROM main.{}", quote_ident(table)),
            [],
            |r| r.get(0),
        )?;
        let capacity = usize::try_from(count).unwrap_or(0);
        let mut builders: Vec<ColumnBuilder> = (0..ncols)
            .map(|_| ColumnBuilder::with_capacity(capacity))
            .collect();
        let mut invalid: Vec<Option<(usize, InvalidCell)>> = vec![None; ncols];
        let mut rowids: Option<Vec<i64>> = rowid_name.map(|_| Vec::with_capacity(capacity));
        // Cells where SQL `=` and nrp's equality part (see `sql::Cells`).
        let mut opaque = vec![false; ncols];
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut n = 0usize;
        while let Some(row) = rows.next()? {
            for (c, b) in builders.iter_mut().enumerate() {
                let (o, bad) = push_cell(b, row.get_ref(c)?);
                opaque[c] |= o;
                if let Some(kind) = bad {
                    invalid[c].get_or_insert((n, kind));
                }
            }
            if let Some(ids) = &mut rowids {
                ids.push(row.get(ncols)?);
            }
            n += 1;
        }
        Ok(Table {
            name: table.to_string(),
            columns,
            cells: builders.into_iter().map(ColumnBuilder::finish).collect(),
            rows: n,
            refs: RowRefs::Sql { pk, rowids },
            invalid,
            arrays: Vec::new(),
            sql: rowid_name.map(|alias| SqlRows {
                locators: Locators::Rowid(alias),
                cells: opaque
                    .iter()
                    .map(|&o| if o { Cells::Opaque } else { Cells::Dynamic })
                    .collect(),
            }),
        })
    }

    /// The rows of `sql` (a relation SQL grounding computes: `ncols` columns of numbers and
    /// text), read as a table's cells are.
    pub(crate) fn load_query(
        &self,
        name: &str,
        sql: &str,
        ncols: usize,
    ) -> Result<(Vec<Column>, usize), DataError> {
        let conn = self.conn();
        let err = |e: rusqlite::Error| {
            DataError::new(format!(
                "computing `{name}` in SQLite database {} failed: {e}",
                self.path.display()
            ))
        };
        let mut builders: Vec<ColumnBuilder> = (0..ncols)
            .map(|_| ColumnBuilder::with_capacity(0))
            .collect();
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut n = 0usize;
        while let Some(row) = rows.next().map_err(err)? {
            for (c, b) in builders.iter_mut().enumerate() {
                if let (_, Some(bad)) = push_cell(b, row.get_ref(c).map_err(err)?) {
                    return Err(DataError::new(format!(
                        "computing `{name}` in SQLite database {}: row {} holds {bad:?}",
                        self.path.display(),
                        n + 1
                    )));
                }
            }
            n += 1;
        }
        Ok((builders.into_iter().map(ColumnBuilder::finish).collect(), n))
    }
}

/// Reads one SQLite cell as LANGUAGE.md §6 reads it; returns whether SQL compares it
/// differently from nrp (`sql::Cells::Opaque`) and why it cannot be bound, if it cannot.
fn push_cell(b: &mut ColumnBuilder, v: ValueRef<'_>) -> (bool, Option<InvalidCell>) {
    match v {
        ValueRef::Integer(i) => b.push_int(i),
        ValueRef::Real(x) if x.is_finite() => b.push_number(x),
        ValueRef::Real(x) => {
            b.push_str(if x > 0.0 { "inf" } else { "-inf" });
            return (true, None);
        }
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            let number = parse_number(&s);
            // Text nrp reads as a number, or not byte for byte, compares differently in SQL.
            let opaque = number.is_some() || matches!(s, Cow::Owned(_));
            match number {
                Some((Some(i), _)) => b.push_int(i),
                Some((None, x)) => b.push_number(x),
                None => b.push_str(&s),
            }
            return (opaque, None);
        }
        ValueRef::Null => {
            b.push_str("");
            return (true, Some(InvalidCell::Null));
        }
        ValueRef::Blob(_) => {
            b.push_str("");
            return (true, Some(InvalidCell::Blob));
        }
    }
    (false, None)
}
