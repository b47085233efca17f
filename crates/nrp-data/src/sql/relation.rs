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

use super::{Cells, Conjunction, Cte, Dialect, Locators, Operand, SqlRows};
use crate::table::{Column, DataError, RowRefs, Table};
use crate::{BoundRelation, Database, Source, Value};
use std::sync::Arc;

/// One body of a relational rule: the conjunction, each body variable's first column, and
/// the head (indices into `vars`).
#[derive(Clone, Debug)]
pub struct Branch {
    pub body: Conjunction,
    pub vars: Vec<Operand>,
    pub head: Vec<usize>,
}

/// A relational rule: its bodies (several: a union of their head tuples), and whether the
/// relation's embedding is `count()` (one body only; else it has none).
#[derive(Clone, Debug)]
pub struct Relational {
    pub branches: Vec<Branch>,
    pub count: bool,
}

/// A relation the database computes: its numbered query as the last of the common table
/// expressions it needs, and how its columns compare.
#[derive(Clone, Debug)]
pub struct RelationSql {
    ctes: Vec<Cte>,
    /// Per column (the count last), its SQL type.
    types: Vec<&'static str>,
    arity: usize,
    count: bool,
    cells: Vec<Cells>,
}

impl RelationSql {
    /// The statement that computes the relation (for `explain --sql`).
    pub fn text(&self) -> String {
        let own = self.ctes.last().map_or("", |e| e.name.as_str());
        format!("{}SELECT * FROM {own}", super::with_clause(&self.ctes))
    }
}

impl Database {
    /// The SQL that computes `r` (named `name` in statements that read it), or why it
    /// cannot (a sentence for `explain --sql`).
    pub fn sql_relation(&self, name: &str, r: &Relational) -> Result<RelationSql, String> {
        let dialect = self
            .sql_dialect()
            .ok_or("the source is not a SQL database")?;
        let arity = r.branches.first().map_or(0, |b| b.head.len());
        if arity == 0 {
            return Err("its head has no terms".into());
        }
        if r.count && r.branches.len() != 1 {
            return Err("it counts over a union".into());
        }
        let mut queries = vec![];
        let mut ctes: Vec<Cte> = vec![];
        // Per head column: how it compares, and its type (a union's branches must agree).
        let mut columns: Vec<Option<(Cells, &'static str)>> = vec![None; arity];
        for b in &r.branches {
            let super::SqlBody { from, conds, .. } = self.sql_body(&b.body, true)?;
            let vars: Vec<(String, Cells, &'static str)> = b
                .vars
                .iter()
                .map(|o| match o {
                    Operand::Column { atom, column } => {
                        let (x, cells) = self.sql_column(&b.body, *atom, *column)?;
                        let ty = match &b.body.atoms[*atom].source().cells[*column] {
                            Column::Int(_) => "bigint",
                            Column::Float(_) => "double precision",
                            Column::Mixed(_) => "text",
                        };
                        Ok((x, cells, ty))
                    }
                    Operand::Const(_) => Err("a variable without a column".to_string()),
                })
                .collect::<Result<_, String>>()?;
            for (j, &v) in b.head.iter().enumerate() {
                let here = (vars[v].1, vars[v].2);
                match columns[j] {
                    None => columns[j] = Some(here),
                    Some(c) if c == here => {}
                    Some(_) => {
                        return Err(format!(
                            "the branches of its union give column {} values of different types",
                            j + 1
                        ));
                    }
                }
            }
            let mut inner = format!("FROM {}", from.join(", "));
            if !conds.is_empty() {
                inner.push_str(&format!(" WHERE {}", conds.join(" AND ")));
            }
            for e in super::ctes(&b.body) {
                if !ctes.iter().any(|o| o.name == e.name) {
                    ctes.push(e);
                }
            }
            queries.push(if r.count {
                // One row per match, then per head tuple the number of matches.
                let distinct: Vec<String> = vars
                    .iter()
                    .enumerate()
                    .map(|(v, (x, ..))| format!("{x} AS v{v}"))
                    .collect();
                let head: Vec<String> = b
                    .head
                    .iter()
                    .enumerate()
                    .map(|(j, v)| format!("m.v{v} AS c{j}"))
                    .collect();
                let group: Vec<String> = b.head.iter().map(|v| format!("m.v{v}")).collect();
                // Rows of relations the database computed are distinct already: over only
                // those, every row combination is one match.
                let sets = (0..b.body.atoms.len()).all(|i| super::ctes_of(&b.body, i).is_some());
                format!(
                    "SELECT {}, COUNT(*) AS n FROM (SELECT {}{} {inner}) AS m GROUP BY {}",
                    head.join(", "),
                    if sets { "" } else { "DISTINCT " },
                    distinct.join(", "),
                    group.join(", ")
                )
            } else {
                // A union's branches meet in one type per column (PostgreSQL would widen
                // an integer to a float otherwise).
                let cast = dialect == Dialect::Postgres && r.branches.len() > 1;
                let head: Vec<String> = b
                    .head
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| match cast {
                        true => format!("CAST({} AS {}) AS c{j}", vars[v].0, vars[v].2),
                        false => format!("{} AS c{j}", vars[v].0),
                    })
                    .collect();
                // `UNION` removes repeats across and within its branches.
                let distinct = if r.branches.len() > 1 {
                    ""
                } else {
                    "DISTINCT "
                };
                format!("SELECT {distinct}{} {inner}", head.join(", "))
            });
        }
        let query = queries.join(" UNION ");
        let order: Vec<String> = (0..arity).map(|j| format!("q.c{j}")).collect();
        ctes.push(Cte {
            name: super::quote_ident(&format!("nrp:{name}")),
            definition: format!(
                "SELECT q.*, ROW_NUMBER() OVER (ORDER BY {}) AS nrp_row FROM ({query}) AS q",
                order.join(", ")
            ),
        });
        let mut cells: Vec<Cells> = columns.iter().map(|c| c.expect("every column").0).collect();
        let mut types: Vec<&'static str> =
            columns.iter().map(|c| c.expect("every column").1).collect();
        if r.count {
            types.push("bigint");
            cells.push(match dialect {
                Dialect::Postgres => Cells::Num,
                Dialect::Sqlite => Cells::Dynamic,
            });
        }
        Ok(RelationSql {
            ctes,
            types,
            arity,
            count: r.count,
            cells,
        })
    }

    /// `r` as a relation without rows: what a statement reading it needs (its query, how
    /// its columns compare and their types), for relations computed inside other queries.
    pub fn sql_relation_placeholder(&self, name: &str, r: &RelationSql) -> Arc<BoundRelation> {
        let cells = r
            .types
            .iter()
            .map(|t| match *t {
                "bigint" => Column::Int(vec![]),
                "double precision" => Column::Float(vec![]),
                _ => Column::Mixed(vec![]),
            })
            .collect();
        let table = Arc::new(self.computed_table(name, r, cells, 0));
        Arc::new(crate::bind::bind(&table, r.arity, r.count).expect("columns of the shape"))
    }

    fn computed_table(
        &self,
        name: &str,
        r: &RelationSql,
        cells: Vec<Column>,
        rows: usize,
    ) -> Table {
        let mut columns: Vec<String> = (0..r.arity).map(|j| format!("c{j}")).collect();
        if r.count {
            columns.push("n".into());
        }
        Table {
            name: name.to_string(),
            invalid: vec![None; columns.len()],
            columns,
            cells,
            rows,
            refs: RowRefs::Sql {
                pk: vec![],
                rowids: None,
            },
            arrays: vec![],
            sql: Some(SqlRows {
                locators: Locators::Numbered {
                    ctes: r.ctes.clone(),
                },
                cells: r.cells.clone(),
            }),
        }
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
        // Rows in the database's order, then put in number order here (a scatter, not a
        // second sort in the database).
        let own = r.ctes.last().map_or("", |e| e.name.as_str());
        let list: Vec<String> = columns.iter().map(|c| format!("r.{c}")).collect();
        let select = format!(
            "{}SELECT {}, r.nrp_row FROM {own} AS r",
            super::with_clause(&r.ctes),
            list.join(", ")
        );
        let (mut cells, rows) = match &self.source {
            Source::Sqlite(db) => db.load_query(name, &select, columns.len() + 1)?,
            Source::Postgres(db) => db.load_query(name, &select)?,
            _ => {
                return Err(DataError::new(
                    "a relation computed by SQL needs a SQL database",
                ));
            }
        };
        let numbers = cells.pop().expect("the row numbers");
        let mut order = vec![usize::MAX; rows];
        for i in 0..rows {
            match numbers.get(i) {
                Value::Int(k) if (1..=rows as i64).contains(&k) => order[k as usize - 1] = i,
                v => {
                    return Err(DataError::new(format!(
                        "computing `{name}`: the database numbered a row {v}"
                    )));
                }
            }
        }
        if order.contains(&usize::MAX) {
            return Err(DataError::new(format!(
                "computing `{name}`: the database numbered two rows alike"
            )));
        }
        let cells: Vec<Column> = cells.iter().map(|c| c.gather(&order)).collect();
        let table = Arc::new(self.computed_table(name, r, cells, rows));
        crate::bind::bind(&table, r.arity, r.count).map(Arc::new)
    }
}
