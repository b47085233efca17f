//! Relations the database computes (`--ground sql`): a derived relation whose rule is
//! relational — one body over tables (or other such relations), a head of body variables,
//! and no embedding or `count()` — is one SQL query: the grouping into head rows and the
//! count happen in the database, which returns the head tuples (and counts) only; nrp
//! reads the result as it reads a table. The query numbers its rows (`ROW_NUMBER()` over
//! the head columns, which are distinct), so a later body can join it in SQL and name its
//! rows: the relation's locator is that number (`Locators::Numbered`).
//!
//! Matches are distinct bindings of every body variable (relations are sets), so the count
//! is over `SELECT DISTINCT` of all of them; every column read must compare in SQL as in
//! nrp (`Cells`), and every filter must be written exactly, or the rule stays in nrp.

use super::{Cells, Conjunction, Dialect, Locators, Operand, SqlRows};
use crate::table::{DataError, RowRefs, Table};
use crate::{BoundRelation, Database, Source};
use std::sync::Arc;

/// A relational rule: its body, each body variable's first column, the head (indices into
/// `vars`), and whether the relation's embedding is `count()` (else it has none).
#[derive(Clone, Debug)]
pub struct Relational {
    pub body: Conjunction,
    pub vars: Vec<Operand>,
    pub head: Vec<usize>,
    pub count: bool,
}

/// A relation the database computes: the numbered subquery, and how its columns compare.
#[derive(Clone, Debug)]
pub struct RelationSql {
    /// `(SELECT q.*, ROW_NUMBER() OVER (ORDER BY …) AS nrp_row FROM (…) AS q)`.
    pub text: String,
    arity: usize,
    count: bool,
    cells: Vec<Cells>,
}

impl Database {
    /// The SQL that computes `r`, or why it cannot (a sentence for `explain --sql`).
    pub fn sql_relation(&self, r: &Relational) -> Result<RelationSql, String> {
        let dialect = self
            .sql_dialect()
            .ok_or("the source is not a SQL database")?;
        if r.head.is_empty() {
            return Err("its head has no terms".into());
        }
        let (_, from, conds) = self.sql_body(&r.body, true)?;
        let vars: Vec<(String, Cells)> = r
            .vars
            .iter()
            .map(|o| match o {
                Operand::Column { atom, column } => self.sql_column(&r.body, *atom, *column),
                Operand::Const(_) => Err("a variable without a column".to_string()),
            })
            .collect::<Result<_, _>>()?;
        let mut inner = format!("FROM {}", from.join(", "));
        if !conds.is_empty() {
            inner.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        let head = |prefix: &str, name: &dyn Fn(usize) -> String| -> Vec<String> {
            r.head
                .iter()
                .enumerate()
                .map(|(j, &v)| format!("{prefix}{} AS c{j}", name(v)))
                .collect()
        };
        let with = super::with_clause(&r.body);
        let query = if r.count {
            // One row per match, then per head tuple the number of matches.
            let distinct: Vec<String> = vars
                .iter()
                .enumerate()
                .map(|(v, (x, _))| format!("{x} AS v{v}"))
                .collect();
            let group: Vec<String> = r.head.iter().map(|v| format!("m.v{v}")).collect();
            format!(
                "SELECT {}, COUNT(*) AS n FROM ({with}SELECT DISTINCT {} {inner}) AS m GROUP BY {}",
                head("m.", &|v| format!("v{v}")).join(", "),
                distinct.join(", "),
                group.join(", ")
            )
        } else {
            format!(
                "{with}SELECT DISTINCT {} {inner}",
                head("", &|v| vars[v].0.clone()).join(", ")
            )
        };
        let order: Vec<String> = (0..r.head.len()).map(|j| format!("q.c{j}")).collect();
        let text = format!(
            "(SELECT q.*, ROW_NUMBER() OVER (ORDER BY {}) AS nrp_row FROM ({query}) AS q)",
            order.join(", ")
        );
        let mut cells: Vec<Cells> = r.head.iter().map(|&v| vars[v].1).collect();
        if r.count {
            cells.push(match dialect {
                Dialect::Postgres => Cells::Num,
                Dialect::Sqlite => Cells::Dynamic,
            });
        }
        Ok(RelationSql {
            text,
            arity: r.head.len(),
            count: r.count,
            cells,
        })
    }

    /// Runs `r` and binds its result as relation `name` (`count`: the count is its
    /// embedding), in the same snapshot the tables were read in.
    pub fn bind_sql_relation(
        &self,
        name: &str,
        r: &RelationSql,
    ) -> Result<Arc<BoundRelation>, DataError> {
        let mut columns: Vec<String> = (0..r.arity).map(|j| format!("c{j}")).collect();
        if r.count {
            columns.push("n".into());
        }
        let list: Vec<String> = columns.iter().map(|c| format!("r.{c}")).collect();
        let select = format!(
            "SELECT {} FROM {} AS r ORDER BY r.nrp_row",
            list.join(", "),
            r.text
        );
        let (cells, rows) = match &self.source {
            Source::Sqlite(db) => db.load_query(name, &select, columns.len())?,
            Source::Postgres(db) => db.load_query(name, &select)?,
            _ => {
                return Err(DataError::new(
                    "a relation computed by SQL needs a SQL database",
                ));
            }
        };
        let invalid = vec![None; columns.len()];
        let table = Arc::new(Table {
            name: name.to_string(),
            columns,
            cells,
            rows,
            refs: RowRefs::Sql {
                pk: vec![],
                rowids: None,
            },
            invalid,
            arrays: vec![],
            sql: Some(SqlRows {
                locators: Locators::Numbered {
                    from: r.text.clone(),
                },
                cells: r.cells.clone(),
            }),
        });
        crate::bind::bind(&table, r.arity, r.count).map(Arc::new)
    }
}
