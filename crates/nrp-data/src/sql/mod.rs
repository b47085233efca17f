//! Grounding pushed down as SQL (`--ground sql`): the conjunction of a rule body over tables
//! of a SQL source — joins on shared variables, constants, repeated variables — as one
//! `SELECT` that the database evaluates, returning per match a *locator* of each atom's row
//! (SQLite's row id, PostgreSQL's `ctid`). The locators were recorded when nrp loaded the
//! table, on the same connection (PostgreSQL: in the same read-only snapshot), so each maps
//! to the fact nrp holds for that row; the engine then orders the matches as its own join
//! would (see `nrp-engine/src/ground/given.rs`), so results are identical.
//!
//! SQL `=` and nrp's equality (LANGUAGE.md §6: text that reads as a number is that number)
//! agree only on some cells, recorded per column at load time ([`Cells`]); a body that
//! compares any other column is grounded by nrp, and `--ground sql` says why in `explain
//! --sql`. Comparisons that can never hold in nrp (a number with text in PostgreSQL, where
//! `=` between them is a type error) are written `1 = 0`.
//!
//! One ANSI `SELECT … FROM t AS a0, u AS a1 WHERE …`; the dialects differ only in how a
//! table is qualified (`main."t"`, `"schema"."t"`) and in the locator (`rowid`, `ctid`),
//! and PostgreSQL's result is streamed by a binary `COPY (SELECT …) TO STDOUT`.

mod run;

use crate::{BoundRelation, DataError, Database, Source, Value};
use std::sync::Arc;

/// The SQL dialects nrp grounds in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// How a SQL source stores a column's cells, as far as SQL `=` agrees with nrp's equality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cells {
    /// PostgreSQL integer or float columns whose values nrp reads as numbers.
    Num,
    /// PostgreSQL text columns whose values nrp reads as strings (none reads as a number).
    Text,
    /// SQLite columns of integers, reals and non-numeric text: SQLite compares numbers
    /// numerically and text byte for byte, as nrp does.
    Dynamic,
    /// Anything else (number-like text, infinities, NULLs, dates, `numeric`, arrays).
    Opaque,
}

/// How SQL refers to a loaded table's rows, in load order.
#[derive(Clone, Debug)]
pub(crate) enum Locators {
    /// SQLite: the row id under this name (the ids are the table's row references).
    Rowid(&'static str),
    /// PostgreSQL: each row's `ctid` (block, tuple).
    Ctid(Vec<(u32, u16)>),
}

/// What SQL grounding needs of a loaded table.
#[derive(Clone, Debug)]
pub(crate) struct SqlRows {
    pub(crate) locators: Locators,
    /// Per table column.
    pub(crate) cells: Vec<Cells>,
}

/// One side of an equality: column `column` (of the table's content columns) of atom
/// `atom`, or a constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Column { atom: usize, column: usize },
    Const(Value),
}

/// A conjunction of atoms over bound relations (each read from a table of this database)
/// with equalities between their columns and constants.
#[derive(Clone, Debug)]
pub struct Conjunction {
    pub atoms: Vec<Arc<BoundRelation>>,
    pub equal: Vec<(Operand, Operand)>,
}

/// A conjunction as one SQL statement of a dialect.
#[derive(Clone, Debug)]
pub struct Query {
    pub dialect: Dialect,
    /// The statement sent (PostgreSQL: the `COPY` around the `SELECT`).
    pub text: String,
    atoms: Vec<Arc<BoundRelation>>,
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        // Shortest text that reads back as the same double, in a form both dialects read.
        Value::Float(x) => format!("{x:e}"),
        Value::Str(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

impl Database {
    /// The dialect SQL grounding uses for this source, if it is a SQL source.
    pub fn sql_dialect(&self) -> Option<Dialect> {
        match self.source {
            Source::Sqlite(_) => Some(Dialect::Sqlite),
            Source::Postgres(_) => Some(Dialect::Postgres),
            _ => None,
        }
    }

    /// The SQL statement that computes `c`'s matches, or why `c` cannot be pushed down (a
    /// sentence for `explain --sql`).
    pub fn sql_query(&self, c: &Conjunction) -> Result<Query, String> {
        let dialect = self
            .sql_dialect()
            .ok_or("the source is not a SQL database")?;
        if c.atoms.is_empty() {
            return Err("the body has no atom".into());
        }
        let mut from = vec![];
        let mut select = vec![];
        for (i, a) in c.atoms.iter().enumerate() {
            let t = a.source();
            let Some(sql) = &t.sql else {
                return Err(format!(
                    "`{}` is not a table with row locators (a view, a WITHOUT ROWID or \
                     partitioned table)",
                    t.name
                ));
            };
            let qualified = match (&self.source, dialect) {
                (Source::Postgres(pg), _) => {
                    format!("{}.{}", quote_ident(&pg.schema), quote_ident(&t.name))
                }
                _ => format!("main.{}", quote_ident(&t.name)),
            };
            from.push(format!("{qualified} AS a{i}"));
            select.push(match &sql.locators {
                Locators::Rowid(alias) => format!("a{i}.{alias}"),
                Locators::Ctid(_) => format!("a{i}.ctid"),
            });
        }
        let column = |atom: usize, col: usize| -> Result<(String, Cells), String> {
            let t = c.atoms[atom].source();
            let cells = t.sql.as_ref().map_or(Cells::Opaque, |s| s.cells[col]);
            if cells == Cells::Opaque {
                return Err(format!(
                    "column `{}` of `{}` holds cells SQL compares differently from nrp \
                     (number-like text, infinities, NULLs, or a type other than integer, \
                     float and text)",
                    t.columns[col], t.name
                ));
            }
            Ok((format!("a{atom}.{}", quote_ident(&t.columns[col])), cells))
        };
        let mut conds = vec![];
        for (l, r) in &c.equal {
            let cond = match (l, r) {
                (Operand::Column { atom, column: p }, Operand::Column { atom: b, column: q }) => {
                    let ((x, cx), (y, cy)) = (column(*atom, *p)?, column(*b, *q)?);
                    if cx == cy || dialect == Dialect::Sqlite {
                        format!("{x} = {y}")
                    } else {
                        "1 = 0".to_string()
                    }
                }
                (Operand::Column { atom, column: p }, Operand::Const(v))
                | (Operand::Const(v), Operand::Column { atom, column: p }) => {
                    let (x, cells) = column(*atom, *p)?;
                    let is_number = !matches!(v, Value::Str(_));
                    let holds = match v {
                        // A string that reads as a number is no cell's value in nrp.
                        Value::Str(s) if crate::parse_number(s).is_some() => false,
                        _ => match cells {
                            Cells::Num => is_number,
                            Cells::Text => !is_number,
                            _ => true,
                        },
                    };
                    if holds {
                        format!("{x} = {}", literal(v))
                    } else {
                        "1 = 0".to_string()
                    }
                }
                (Operand::Const(a), Operand::Const(b)) => {
                    if a == b { "1 = 1" } else { "1 = 0" }.to_string()
                }
            };
            conds.push(cond);
        }
        let mut text = format!("SELECT {} FROM {}", select.join(", "), from.join(", "));
        if !conds.is_empty() {
            text.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        if dialect == Dialect::Postgres {
            text = format!("COPY ({text}) TO STDOUT (FORMAT binary)");
        }
        Ok(Query {
            dialect,
            text,
            atoms: c.atoms.clone(),
        })
    }

    /// Runs `q`: per atom, the fact of each match (an index into its bound relation), in
    /// the database's order, with the duplicates a set projection makes. More than `max`
    /// matches is an error (the memory budget's room).
    pub fn sql_matches(&self, q: &Query, max: usize) -> Result<Vec<Vec<u32>>, DataError> {
        let located: Vec<Vec<u32>> = match &self.source {
            Source::Sqlite(db) => run::sqlite(db, q, max)?,
            Source::Postgres(db) => run::postgres(db, q, max)?,
            _ => return Err(DataError::new("SQL grounding needs a SQL database")),
        };
        // Table rows to facts.
        Ok(located
            .into_iter()
            .zip(&q.atoms)
            .map(|(rows, a)| {
                let fact = a.facts_of_rows();
                rows.into_iter().map(|r| fact[r as usize]).collect()
            })
            .collect())
    }
}

/// Maps locators to table rows (load order): a binary search when the locators increase in
/// load order (a table scan's order), else over a sorted copy.
pub(crate) struct RowIndex<K> {
    sorted: Vec<(K, u32)>,
}

impl<K: Ord + Copy> RowIndex<K> {
    pub(crate) fn new(keys: &[K]) -> RowIndex<K> {
        let mut sorted: Vec<(K, u32)> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        if !keys.windows(2).all(|w| w[0] < w[1]) {
            sorted.sort_unstable();
        }
        RowIndex { sorted }
    }

    pub(crate) fn row(&self, k: K) -> Option<u32> {
        self.sorted
            .binary_search_by(|(x, _)| x.cmp(&k))
            .ok()
            .map(|i| self.sorted[i].1)
    }
}
