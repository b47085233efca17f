//! What checking a program needs to know of a database, as a trait: its tables, the
//! table a relation name denotes, and the embedding dimension of an atom shape (checked
//! against the data, so that a data error is reported where the atom is written). The
//! expansion of bounded sets also enumerates the rows of their guard tables.
//!
//! nrp-sema and nrp-expand see a database only through this trait; [`Database`] (CSV
//! directories, SQLite files, in-memory tables) implements it, and a source that knows
//! its schemas without loading rows can too.

use crate::{DataError, Database, Table};
use std::sync::Arc;

pub trait Catalogue: Sync {
    /// "CSV directory data/cora": what messages call the source.
    fn describe(&self) -> String;
    /// The table names, sorted.
    fn table_names(&self) -> Vec<String>;
    /// The table a relation name denotes (LANGUAGE.md §6): the exact name, else the unique
    /// table whose name matches ignoring case; `Ok(None)` if none; an error if several.
    fn resolve(&self, relation: &str) -> Result<Option<String>, DataError>;
    /// The embedding dimension of `table(t1..t_terms)` (`embedding` false: 0) or
    /// `table(t1..t_terms; e)`, or the data error that binding it raises.
    fn embedding_dim(&self, table: &str, terms: usize, embedding: bool)
    -> Result<usize, DataError>;
    /// The rows of a guard table of a bounded set.
    fn guard_rows(&self, table: &str) -> Result<Arc<Table>, DataError>;
}

impl Catalogue for Database {
    fn describe(&self) -> String {
        Database::describe(self)
    }

    fn table_names(&self) -> Vec<String> {
        Database::table_names(self)
    }

    fn resolve(&self, relation: &str) -> Result<Option<String>, DataError> {
        Database::resolve(self, relation)
    }

    fn embedding_dim(
        &self,
        table: &str,
        terms: usize,
        embedding: bool,
    ) -> Result<usize, DataError> {
        self.bind(table, terms, embedding).map(|b| b.dim)
    }

    fn guard_rows(&self, table: &str) -> Result<Arc<Table>, DataError> {
        self.table(table)
    }
}
