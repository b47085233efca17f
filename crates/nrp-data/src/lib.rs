//! Database sources and the binding rules of LANGUAGE.md §6.
//!
//! A [`Database`] opens a source (a directory of CSV files, a SQLite file), lists its tables,
//! and *binds* an atom shape `T(t1..tk)` / `T(t1..tk; e)` to a [`BoundRelation`]: the first
//! `k` columns as content, and for an embedding binding all remaining columns (numeric, or a
//! single array column) as a dense `f64` matrix. Every data error names the table, the row
//! (CSV file line, header = line 1; SQL primary key / rowid) and the column.
//!
//! Tables and bindings are loaded once and cached; a `Database` is `Send + Sync`, and
//! concurrent requests for one table wait for a single load. The list of tables is read when
//! the source is opened. Decisions the language leaves open are documented where they are
//! made: the CSV dialect in `csv`, SQL cell types and row references in `sqlite`, set
//! projection order and array embeddings in `bind`.

mod bind;
mod catalogue;
mod csv;
pub mod export;
pub mod memory;
mod parquet;
mod pg;
pub mod sql;
mod sqlite;
mod table;
mod time;
pub mod value;

pub use bind::BoundRelation;
pub use catalogue::Catalogue;
pub use parquet::in_reader as in_parquet_reader;
pub use table::{Column, DataError, InvalidCell, RowRef, Table};
pub use time::iso_seconds;
pub use value::{Value, format_f32, format_float, parse_number};

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

enum Source {
    Csv(PathBuf),
    Parquet(PathBuf),
    Sqlite(sqlite::Sqlite),
    Postgres(pg::Postgres),
    /// Tables given at construction; they sit in the table cache from the start.
    Memory,
}

/// A load shared by every caller that asks for the same thing (errors are cached too: the
/// same request fails the same way).
type Slot<T> = Arc<OnceLock<Result<Arc<T>, DataError>>>;

/// A per-key cache whose loads run outside the map's lock.
struct Cache<K, T>(Mutex<HashMap<K, Slot<T>>>);

impl<K: Hash + Eq, T> Cache<K, T> {
    fn new() -> Self {
        Cache(Mutex::new(HashMap::new()))
    }

    fn get_or_load(
        &self,
        key: K,
        load: impl FnOnce() -> Result<T, DataError>,
    ) -> Result<Arc<T>, DataError> {
        let slot = {
            // Nothing panics while the lock is held, but a poisoned map is still consistent.
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key).or_default().clone()
        };
        slot.get_or_init(|| load().map(Arc::new)).clone()
    }

    fn insert(&self, key: K, value: Arc<T>) {
        let slot = OnceLock::new();
        let _ = slot.set(Ok(value));
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, Arc::new(slot));
    }

    /// Forgets every entry whose key `drop` selects (loaded or failed alike).
    fn forget(&self, drop: impl Fn(&K) -> bool) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|k, _| !drop(k));
    }

    fn get_loaded(&self, key: &K) -> Option<Arc<T>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)?.get()?.as_ref().ok().cloned()
    }
}

/// A database source: its tables, loaded on demand, and the relations bound from them.
pub struct Database {
    spec: String,
    source: Source,
    /// Sorted table names.
    names: Vec<String>,
    tables: Cache<String, Table>,
    bindings: Cache<(String, usize, bool), BoundRelation>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("source", &self.describe())
            .field("tables", &self.names)
            .finish()
    }
}

impl Database {
    /// Opens `spec`: a directory of CSV files (table `T` is `T.csv`, header row required) or
    /// of Parquet files (`T.parquet`; a directory holding both kinds is an error), a SQLite
    /// file (any other existing file; its magic bytes are checked), or a PostgreSQL URL
    /// `postgres://…` (see the `pg` module). Only table names are read here.
    pub fn open(spec: &str) -> Result<Database, DataError> {
        let scheme = spec.split_once("://").map(|s| s.0.to_ascii_lowercase());
        if matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
            // The URL may hold a password: messages show `describe()`, never `spec`.
            let db = pg::Postgres::open(spec)?;
            let names = db.tables.clone();
            let shown = db.describe();
            return Ok(Database {
                spec: shown,
                source: Source::Postgres(db),
                names,
                tables: Cache::new(),
                bindings: Cache::new(),
            });
        }
        if let Some(scheme) = scheme
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            // Not echoed: a URL may hold a password.
            return Err(DataError::new(format!(
                "database sources of the kind `{scheme}://` are not supported; --db takes a \
                 directory of CSV or Parquet files, a SQLite file, or a postgres:// URL"
            )));
        }
        let path = Path::new(spec);
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::new(format!(
                    "database source {spec} does not exist"
                )));
            }
            Err(e) => {
                return Err(DataError::new(format!(
                    "cannot read database source {spec}: {e}"
                )));
            }
        };
        let (source, names) = if meta.is_dir() {
            let csv = dir_tables(path, "csv")?;
            let parquet = dir_tables(path, "parquet")?;
            match (csv.is_empty(), parquet.is_empty()) {
                (_, true) => (Source::Csv(path.to_path_buf()), csv),
                (true, false) => (Source::Parquet(path.to_path_buf()), parquet),
                (false, false) => {
                    return Err(DataError::new(format!(
                        "database source {spec} holds both .csv files ({}) and .parquet files \
                         ({}); a directory is one source of one kind: put them in separate \
                         directories",
                        csv.join(", "),
                        parquet.join(", ")
                    )));
                }
            }
        } else if meta.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        {
            return Err(DataError::new(format!(
                "database source {spec} is a Parquet file; give the directory that holds the \
                 .parquet files (table `T` is `T.parquet`)"
            )));
        } else if meta.is_file() {
            let db = sqlite::Sqlite::open(path)?;
            let names = db.tables.clone();
            (Source::Sqlite(db), names)
        } else {
            return Err(DataError::new(format!(
                "database source {spec} is neither a directory of CSV files nor a SQLite file"
            )));
        };
        Ok(Database {
            spec: spec.to_string(),
            source,
            names,
            tables: Cache::new(),
            bindings: Cache::new(),
        })
    }

    /// An in-memory database of the given tables (tests, generated data); `name` is what
    /// messages call it. Fails if two tables have the same name.
    pub fn from_tables(name: &str, tables: Vec<Table>) -> Result<Database, DataError> {
        let cache = Cache::new();
        let mut names = Vec::new();
        for t in tables {
            if names.contains(&t.name) {
                return Err(DataError::new(format!(
                    "two tables named `{}` in database {name}",
                    t.name
                )));
            }
            names.push(t.name.clone());
            cache.insert(t.name.clone(), Arc::new(t));
        }
        names.sort();
        Ok(Database {
            spec: name.to_string(),
            source: Source::Memory,
            names,
            tables: cache,
            bindings: Cache::new(),
        })
    }

    /// "CSV directory data/cora" / "SQLite database data/cora.sqlite" /
    /// "in-memory database NAME".
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Csv(_) => format!("CSV directory {}", self.spec),
            Source::Parquet(_) => format!("Parquet directory {}", self.spec),
            Source::Sqlite(_) => format!("SQLite database {}", self.spec),
            Source::Postgres(db) => db.describe(),
            Source::Memory => format!("in-memory database {}", self.spec),
        }
    }

    /// The table names, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Adds `table`, or replaces the table of that exact name (a file's table included:
    /// the file is not read or written). Relations bound from the old table are forgotten,
    /// so the next [`Database::bind`] reads the new one. The source itself is never
    /// written: this changes what this `Database` serves.
    pub fn set_table(&mut self, table: Table) {
        let name = table.name.clone();
        self.bindings.forget(|(t, _, _)| *t == name);
        if let Err(i) = self.names.binary_search(&name) {
            self.names.insert(i, name.clone());
        }
        self.tables.insert(name, Arc::new(table));
    }

    /// The table a relation name denotes (§6): the exact name, else the unique table whose
    /// name matches ignoring case; `Ok(None)` if none; an error if several match.
    pub fn resolve(&self, relation: &str) -> Result<Option<String>, DataError> {
        if self.names.iter().any(|n| n == relation) {
            return Ok(Some(relation.to_string()));
        }
        let lower = relation.to_lowercase();
        let matches: Vec<&String> = self
            .names
            .iter()
            .filter(|n| n.to_lowercase() == lower)
            .collect();
        match matches.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.to_string())),
            several => Err(DataError::new(format!(
                "relation `{relation}` matches several tables of {} when case is ignored ({}); \
                 use the exact name",
                self.describe(),
                several
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Resolves `table`, or fails listing the tables there are.
    fn resolve_existing(&self, table: &str) -> Result<String, DataError> {
        match self.resolve(table)? {
            Some(name) => Ok(name),
            None => {
                let list = if self.names.is_empty() {
                    "it has no tables".to_string()
                } else {
                    format!("tables: {}", self.names.join(", "))
                };
                Err(DataError::new(format!(
                    "no table `{table}` in {} ({list})",
                    self.describe()
                )))
            }
        }
    }

    fn csv_path(dir: &Path, table: &str) -> PathBuf {
        dir.join(format!("{table}.csv"))
    }

    fn parquet_path(dir: &Path, table: &str) -> PathBuf {
        dir.join(format!("{table}.parquet"))
    }

    /// The column names of a table, in table order. Cheap: reads a CSV file's header only.
    pub fn columns(&self, table: &str) -> Result<Vec<String>, DataError> {
        let name = self.resolve_existing(table)?;
        if let Some(t) = self.tables.get_loaded(&name) {
            return Ok(t.columns.clone());
        }
        match &self.source {
            Source::Csv(dir) => csv::read_header(&Self::csv_path(dir, &name), &name),
            Source::Parquet(dir) => parquet::read_header(&Self::parquet_path(dir, &name), &name),
            Source::Sqlite(db) => db.columns(&name),
            Source::Postgres(db) => db.columns(&name),
            Source::Memory => Ok(self.table(&name)?.columns.clone()),
        }
    }

    /// The whole table, loaded once and cached.
    pub fn table(&self, table: &str) -> Result<Arc<Table>, DataError> {
        let name = self.resolve_existing(table)?;
        self.tables
            .get_or_load(name.clone(), || match &self.source {
                Source::Csv(dir) => csv::load(&Self::csv_path(dir, &name), &name),
                Source::Parquet(dir) => parquet::load(&Self::parquet_path(dir, &name), &name),
                Source::Sqlite(db) => db.load(&name),
                Source::Postgres(db) => db.load(&name),
                Source::Memory => Err(DataError::new(format!("table `{name}` is not in memory"))),
            })
    }

    /// Binds the atom shape `table(t1..t_terms)` (`embedding` false) or
    /// `table(t1..t_terms; e)` (`embedding` true) per LANGUAGE.md §6; cached per shape.
    pub fn bind(
        &self,
        table: &str,
        terms: usize,
        embedding: bool,
    ) -> Result<Arc<BoundRelation>, DataError> {
        let name = self.resolve_existing(table)?;
        self.bindings
            .get_or_load((name.clone(), terms, embedding), || {
                // A wrong arity is reported without loading the table.
                bind::check_shape(&name, &self.columns(&name)?, terms, embedding)?;
                bind::bind(&self.table(&name)?, terms, embedding)
            })
    }
}

/// The tables of a directory: its `*.EXT` files (`csv`, `parquet`), hidden files
/// (`._x.csv`) left out.
fn dir_tables(dir: &Path, ext: &str) -> Result<Vec<String>, DataError> {
    let err =
        |e: std::io::Error| DataError::new(format!("cannot read directory {}: {e}", dir.display()));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let Some(file) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(ext).and_then(|f| f.strip_suffix('.')) else {
            continue;
        };
        if stem.is_empty() || stem.starts_with('.') {
            continue;
        }
        // Follows symbolic links; a directory named `x.csv` is not a table.
        if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        names.push(stem.to_string());
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_table_adds_and_replaces_and_rebinds() {
        let t = |rows: &[i64]| {
            Table::new("T", vec!["a".into()], vec![Column::Int(rows.to_vec())]).unwrap()
        };
        let mut db = Database::from_tables("mem", vec![t(&[1, 2])]).unwrap();
        assert_eq!(db.bind("T", 1, false).unwrap().len(), 2);
        db.set_table(t(&[1, 2, 3]));
        assert_eq!(db.bind("T", 1, false).unwrap().len(), 3);
        let u = Table::new("U", vec!["x".into()], vec![Column::Int(vec![7])]).unwrap();
        db.set_table(u);
        assert_eq!(db.table_names(), vec!["T".to_string(), "U".to_string()]);
        assert_eq!(db.bind("u", 1, false).unwrap().len(), 1);
    }

    #[test]
    fn database_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Database>();
        check::<Table>();
        check::<BoundRelation>();
    }
}
