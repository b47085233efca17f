//! Running a pushed-down conjunction: SQLite through its connection, PostgreSQL as a binary
//! `COPY` in the session's read-only transaction (the snapshot the tables were read in).
//! Each returns, per atom, the table row (load order) of every match.

use super::{Locators, Query, RowIndex};
use crate::table::{DataError, RowRefs, Table};
use std::io::BufReader;

fn too_many(max: usize) -> DataError {
    DataError::new(format!(
        "SQL grounding returned more than {max} matches for one rule body, more than the \
         memory limit has room for"
    ))
}

fn lost(table: &str) -> String {
    format!("a row of `{table}` that SQL grounding returned is not among the rows nrp read")
}

pub(super) fn sqlite(
    db: &crate::sqlite::Sqlite,
    q: &Query,
    max: usize,
) -> Result<Vec<Vec<u32>>, DataError> {
    let tables: Vec<&Table> = q.atoms.iter().map(|a| &**a.source()).collect();
    let index: Vec<RowIndex<i64>> = tables
        .iter()
        .map(|t| match (&t.refs, t.sql.as_ref().map(|s| &s.locators)) {
            (
                RowRefs::Sql {
                    rowids: Some(ids), ..
                },
                Some(Locators::Rowid(_)),
            ) => Ok(RowIndex::new(ids)),
            (_, Some(Locators::Numbered { .. })) => Ok(RowIndex::numbered(t.len())),
            _ => Err(DataError::new(format!("table `{}` has no row ids", t.name))),
        })
        .collect::<Result<_, _>>()?;
    let err = |e: rusqlite::Error| {
        DataError::new(format!(
            "SQL grounding in SQLite database {} failed: {e}",
            db.path.display()
        ))
    };
    let conn = db.conn();
    let mut stmt = conn.prepare(&q.text).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut out: Vec<Vec<u32>> = vec![vec![]; tables.len()];
    while let Some(row) = rows.next().map_err(err)? {
        if out[0].len() == max {
            return Err(too_many(max));
        }
        for (i, col) in out.iter_mut().enumerate() {
            let id: i64 = row.get(i).map_err(err)?;
            let r = index[i]
                .row(id)
                .ok_or_else(|| DataError::new(lost(&tables[i].name)))?;
            col.push(r);
        }
    }
    Ok(out)
}

pub(super) fn postgres(
    db: &crate::pg::Postgres,
    q: &Query,
    max: usize,
) -> Result<Vec<Vec<u32>>, DataError> {
    let tables: Vec<&Table> = q.atoms.iter().map(|a| &**a.source()).collect();
    // A table's rows by ctid; a computed relation's by number (`None`).
    let index: Vec<Option<RowIndex<(u32, u16)>>> = tables
        .iter()
        .map(|t| match t.sql.as_ref().map(|s| &s.locators) {
            Some(Locators::Ctid(ids)) => Ok(Some(RowIndex::new(ids))),
            Some(Locators::Numbered { .. }) => Ok(None),
            _ => Err(DataError::new(format!("table `{}` has no ctids", t.name))),
        })
        .collect::<Result<_, _>>()?;
    let err = |e: String| DataError::new(format!("SQL grounding in {} failed: {e}", db.describe()));
    let mut client = db.client();
    let reader = client
        .copy_out(&q.text)
        .map_err(|e| err(crate::pg::pg_message(&e)))?;
    let mut r = BufReader::with_capacity(1 << 16, reader);
    let mut out: Vec<Vec<u32>> = vec![vec![]; tables.len()];
    crate::pg::read_copy(&mut r, |_, mut fields| {
        if out[0].len() == max {
            return Err(too_many(max).message);
        }
        for (i, col) in out.iter_mut().enumerate() {
            let t = fields.next().flatten().ok_or("missing row locator")?;
            let row = match &index[i] {
                Some(index) => {
                    let [a, b, c, d, e, f] = t[..] else {
                        return Err("malformed ctid".into());
                    };
                    index.row((u32::from_be_bytes([a, b, c, d]), u16::from_be_bytes([e, f])))
                }
                None => {
                    let n = i64::from_be_bytes(t.try_into().map_err(|_| "malformed row number")?);
                    (1..=tables[i].len() as i64)
                        .contains(&n)
                        .then(|| (n - 1) as u32)
                }
            };
            col.push(row.ok_or_else(|| lost(&tables[i].name))?);
        }
        Ok(())
    })
    .map_err(err)?;
    Ok(out)
}
