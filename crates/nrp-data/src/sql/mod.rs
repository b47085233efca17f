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

mod relation;
mod run;

pub use relation::{Branch, RelationSql, Relational};

use crate::{BoundRelation, DataError, Database, Source, Value};
use std::cmp::Ordering;
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
    /// A relation the database computes ([`Relational`]): the common table expressions it
    /// needs, its own last (`name AS (…)`); its `nrp_row` column numbers the rows 1, 2, …
    /// in load order.
    Numbered { ctes: Vec<Cte> },
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

/// A comparison of a filter (`x < y`, `c != "a"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            Cmp::Eq => o.is_eq(),
            Cmp::Ne => o.is_ne(),
            Cmp::Lt => o.is_lt(),
            Cmp::Le => o.is_le(),
            Cmp::Gt => o.is_gt(),
            Cmp::Ge => o.is_ge(),
        }
    }
}

/// A conjunction of atoms over bound relations (each read from a table of this database,
/// or computed by it) with equalities between their columns and constants, and the body's
/// filters between plain terms.
#[derive(Clone, Debug)]
pub struct Conjunction {
    pub atoms: Vec<Arc<BoundRelation>>,
    pub equal: Vec<(Operand, Operand)>,
    pub compare: Vec<(Operand, Cmp, Operand)>,
}

/// A conjunction as one SQL statement of a dialect.
#[derive(Clone, Debug)]
pub struct Query {
    pub dialect: Dialect,
    /// The statement sent (PostgreSQL: the `COPY` around the `SELECT`).
    pub text: String,
    atoms: Vec<Arc<BoundRelation>>,
}

/// A body in SQL: each atom's locator, the `FROM` list and the `WHERE` conditions.
struct SqlBody {
    select: Vec<String>,
    from: Vec<String>,
    conds: Vec<String>,
}

/// One computed relation as a common table expression: `name AS (definition)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cte {
    pub name: String,
    pub definition: String,
}

/// The computed relation atom `i` of `c` reads: its expressions, its own last.
fn ctes_of(c: &Conjunction, i: usize) -> Option<&[Cte]> {
    match &c.atoms[i].source().sql {
        Some(SqlRows {
            locators: Locators::Numbered { ctes },
            ..
        }) => Some(ctes),
        _ => None,
    }
}

/// Every computed relation `c` reads, each once, after those it reads: a statement's
/// `WITH` list (PostgreSQL computes an expression read twice once).
fn ctes(c: &Conjunction) -> Vec<Cte> {
    let mut out: Vec<Cte> = vec![];
    for i in 0..c.atoms.len() {
        for e in ctes_of(c, i).unwrap_or_default() {
            if !out.iter().any(|o| o.name == e.name) {
                out.push(e.clone());
            }
        }
    }
    out
}

/// `WITH a AS (…), b AS (…) ` for `ctes` (empty for none).
fn with_clause(ctes: &[Cte]) -> String {
    let list: Vec<String> = ctes
        .iter()
        .map(|e| format!("{} AS ({})", e.name, e.definition))
        .collect();
    if list.is_empty() {
        String::new()
    } else {
        format!("WITH {} ", list.join(", "))
    }
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
    /// sentence for `explain --sql`). A filter SQL would not evaluate as nrp does is left
    /// out (nrp checks every filter on the returned matches).
    pub fn sql_query(&self, c: &Conjunction) -> Result<Query, String> {
        let dialect = self
            .sql_dialect()
            .ok_or("the source is not a SQL database")?;
        let SqlBody {
            select,
            from,
            conds,
        } = self.sql_body(c, false)?;
        let mut text = format!(
            "{}SELECT {} FROM {}",
            with_clause(&ctes(c)),
            select.join(", "),
            from.join(", ")
        );
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

    /// The locator of each atom, the `FROM` list and the `WHERE` conditions of `c`; with
    /// `exact`, a filter SQL would evaluate differently from nrp is an error instead of
    /// being left out.
    fn sql_body(&self, c: &Conjunction, exact: bool) -> Result<SqlBody, String> {
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
            let qualified = match (&self.source, &sql.locators) {
                (_, Locators::Numbered { ctes }) => {
                    ctes.last().map_or_else(String::new, |e| e.name.clone())
                }
                (Source::Postgres(pg), _) => {
                    format!("{}.{}", quote_ident(&pg.schema), quote_ident(&t.name))
                }
                _ => format!("main.{}", quote_ident(&t.name)),
            };
            from.push(format!("{qualified} AS a{i}"));
            select.push(match &sql.locators {
                Locators::Rowid(alias) => format!("a{i}.{alias}"),
                Locators::Ctid(_) => format!("a{i}.ctid"),
                Locators::Numbered { .. } => format!("a{i}.nrp_row"),
            });
        }
        let mut conds = vec![];
        for (l, r) in &c.equal {
            conds.push(self.sql_compare(c, l, Cmp::Eq, r)?);
        }
        for (l, op, r) in &c.compare {
            match self.sql_compare(c, l, *op, r) {
                Ok(cond) => conds.push(cond),
                Err(why) if exact => return Err(why),
                Err(_) => {}
            }
        }
        Ok(SqlBody {
            select,
            from,
            conds,
        })
    }

    /// Column `col` of atom `atom` in SQL, with how its cells compare; an error for cells
    /// SQL compares differently from nrp.
    fn sql_column(
        &self,
        c: &Conjunction,
        atom: usize,
        col: usize,
    ) -> Result<(String, Cells), String> {
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
    }

    /// `l op r` as a SQL condition that holds exactly where nrp's comparison does (values
    /// order as LANGUAGE.md §6 orders them: numbers by value, before strings, strings byte
    /// for byte), or why it cannot be written so.
    fn sql_compare(
        &self,
        c: &Conjunction,
        l: &Operand,
        op: Cmp,
        r: &Operand,
    ) -> Result<String, String> {
        let dialect = self.sql_dialect().ok_or("not a SQL database")?;
        let fixed = |holds: bool| if holds { "1 = 1" } else { "1 = 0" }.to_string();
        // A side's SQL, and whether its values are numbers (`None`: either, SQLite's).
        let side = |o: &Operand| -> Result<(String, Option<bool>), String> {
            match o {
                Operand::Column { atom, column } => {
                    let (x, cells) = self.sql_column(c, *atom, *column)?;
                    Ok((
                        x,
                        match cells {
                            Cells::Num => Some(true),
                            Cells::Text => Some(false),
                            _ => None,
                        },
                    ))
                }
                Operand::Const(Value::Str(s)) if crate::parse_number(s).is_some() => Err(format!(
                    "the string \"{s}\" reads as a number in a table, so SQL and nrp compare \
                     it differently"
                )),
                Operand::Const(v) => Ok((literal(v), Some(!matches!(v, Value::Str(_))))),
            }
        };
        let number_like = |o: &Operand| matches!(o, Operand::Const(Value::Str(s)) if crate::parse_number(s).is_some());
        match (l, r) {
            (Operand::Const(a), Operand::Const(b)) => return Ok(fixed(op.holds(a.cmp(b)))),
            // No cell is such a string (nrp reads it as a number).
            _ if (number_like(l) || number_like(r)) && matches!(op, Cmp::Eq | Cmp::Ne) => {
                return Ok(fixed(op == Cmp::Ne));
            }
            _ => {}
        }
        let ((x, xn), (y, yn)) = (side(l)?, side(r)?);
        Ok(match (xn, yn) {
            // Numbers order before strings in nrp; PostgreSQL cannot compare them at all.
            (Some(a), Some(b)) if a != b => {
                fixed(op.holds(if a { Ordering::Less } else { Ordering::Greater }))
            }
            // Byte order; (in)equality needs no collation (deterministic ones agree on it).
            (Some(false), _) | (_, Some(false))
                if dialect == Dialect::Postgres && !matches!(op, Cmp::Eq | Cmp::Ne) =>
            {
                format!("{x} COLLATE \"C\" {} {y}", op.sql())
            }
            // SQLite orders numbers before text and text by the column's collation.
            _ if dialect == Dialect::Sqlite => format!("{x} COLLATE BINARY {} {y}", op.sql()),
            _ => format!("{x} {} {y}", op.sql()),
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

impl RowIndex<i64> {
    /// Rows numbered 1..=n in load order (a relation the database computes).
    pub(crate) fn numbered(n: usize) -> RowIndex<i64> {
        RowIndex {
            sorted: (0..n as u32).map(|r| (r as i64 + 1, r)).collect(),
        }
    }
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
