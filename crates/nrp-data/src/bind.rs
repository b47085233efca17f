//! Binding an atom shape to a table (LANGUAGE.md §6).
//!
//! `T(t1..tk)` binds the first `k` columns as a *set*: duplicate content tuples collapse to
//! their first occurrence, and facts keep the table's row order. `T(t1..tk; e)` binds the
//! remaining columns as the embedding: all numeric (dimension = their count) or one column of
//! arrays `[0.1, 0.2]` (dimension = the array length, equal on every row; `[]` on every row
//! gives dimension 0). Two rows with the same content under an embedding are an error.

use std::hash::Hasher;
use std::sync::Arc;

use crate::table::{Column, DataError, InvalidCell, RowRef, Table, quote_if_string};
use crate::value::{Value, parse_number};

/// An input e-relation: facts `R(c1..ck; v)` with `v` in R^dim (`dim` = 0 without an
/// embedding binding).
#[derive(Debug, Clone)]
pub struct BoundRelation {
    pub table: String,
    /// `k`: the number of content columns.
    pub arity: usize,
    pub dim: usize,
    /// The names of the content columns (the table's first `k`).
    pub columns: Vec<String>,
    /// The names of the columns bound to the embedding (empty without one).
    pub embedding_columns: Vec<String>,
    /// `k` columns of `len()` cells each.
    pub content: Vec<Column>,
    /// Row-major, `len() * dim`.
    pub embedding: Vec<f64>,
    len: usize,
    source: Arc<Table>,
    /// The table row of each fact; `None` when fact `i` is row `i`.
    rows: Option<Vec<usize>>,
}

impl BoundRelation {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The content tuple of fact `i`.
    pub fn tuple(&self, i: usize) -> Vec<Value> {
        self.content.iter().map(|c| c.get(i)).collect()
    }

    /// The embedding of fact `i` (`dim` numbers).
    pub fn emb(&self, i: usize) -> &[f64] {
        &self.embedding[i * self.dim..(i + 1) * self.dim]
    }

    /// The table row fact `i` was read from (its first occurrence for a set projection).
    pub fn row(&self, i: usize) -> usize {
        match &self.rows {
            Some(r) => r[i],
            None => i,
        }
    }

    /// `fact[r]`: the fact table row `r` holds (for a set projection, the fact of the
    /// row's first occurrence). SQL grounding returns table rows.
    pub fn facts_of_rows(&self) -> Vec<u32> {
        let n = self.source.len();
        match &self.rows {
            None => (0..n as u32).collect(),
            Some(first) => {
                let mut fact = vec![u32::MAX; n];
                for (f, &r) in first.iter().enumerate() {
                    fact[r] = f as u32;
                }
                scan_duplicates(&self.source.cells[..self.arity], n, |a, b| {
                    fact[b] = fact[a];
                    true
                });
                fact
            }
        }
    }

    /// Where fact `i` came from, for messages ("line 7", "row id 7").
    pub fn row_ref(&self, i: usize) -> RowRef {
        self.source.row_ref(self.row(i))
    }

    /// The table the relation was bound from.
    pub fn source(&self) -> &Arc<Table> {
        &self.source
    }
}

/// The arity checks, done on the column names alone so that a wrong atom does not load a
/// large table first.
pub(crate) fn check_shape(
    table: &str,
    columns: &[String],
    terms: usize,
    embedding: bool,
) -> Result<(), DataError> {
    let n = columns.len();
    let desc = crate::table::list_columns(columns);
    let plural = |k: usize| if k == 1 { "" } else { "s" };
    if terms > n {
        let with = if embedding { " and an embedding" } else { "" };
        return Err(DataError::new(format!(
            "atom with {terms} term{}{with} but table `{table}` has {n} column{} ({desc})",
            plural(terms),
            plural(n)
        )));
    }
    if embedding && terms == n {
        return Err(DataError::new(format!(
            "atom with {terms} term{} and an embedding but table `{table}` has {n} column{} \
             ({desc}): no column left for the embedding",
            plural(terms),
            plural(n)
        )));
    }
    Ok(())
}

fn cell_error(t: &Table, row: usize, col: usize, msg: impl std::fmt::Display) -> DataError {
    DataError::new(format!(
        "{}, {}, column `{}`: {msg}",
        t.describe(),
        t.row_ref(row),
        t.columns[col]
    ))
}

pub(crate) fn bind(
    t: &Arc<Table>,
    terms: usize,
    embedding: bool,
) -> Result<BoundRelation, DataError> {
    check_shape(&t.name, &t.columns, terms, embedding)?;
    let ncols = t.columns.len();
    let bound = if embedding { ncols } else { terms };
    for c in 0..bound {
        if let Some((row, kind)) = t.invalid_cell(c) {
            if let InvalidCell::Unsupported(ty) = &kind {
                return Err(DataError::new(format!(
                    "{}, column `{}`: its type {ty} is not supported (nrp reads numbers, text, \
                     booleans, dates, timestamps and arrays of numbers); leave the column out \
                     of the atom's bound columns, or convert it in a view",
                    t.describe(),
                    t.columns[c]
                )));
            }
            return Err(cell_error(
                t,
                row,
                c,
                format_args!("{kind} in a bound column"),
            ));
        }
    }
    // An array column binds only as the single embedding column.
    for c in 0..bound {
        let Some(a) = t.array_column(c) else { continue };
        if embedding && c == terms && bound == terms + 1 {
            continue;
        }
        let why = if c < terms {
            "here it is a content column"
        } else {
            "here it is one of several embedding columns"
        };
        return Err(DataError::new(format!(
            "{}, column `{}` holds arrays ({}), which bind only as an embedding on their own \
             (the array column as the only column after the atom's terms); {why}",
            t.describe(),
            t.columns[c],
            a.type_name
        )));
    }
    let key = &t.cells[..terms];
    let n = t.len();
    let (rows, dim, emb) = if embedding {
        if let Some((first, dup)) = first_duplicate(key, n) {
            let tuple: Vec<String> = key.iter().map(|c| quote_if_string(&c.get(dup))).collect();
            return Err(DataError::new(format!(
                "{}: {} and {} have the same content ({}) under an embedding binding \
                 (an e-relation holds one fact per content tuple)",
                t.describe(),
                t.row_ref(first),
                t.row_ref(dup),
                tuple.join(", ")
            )));
        }
        let (dim, emb) = embedding_matrix(t, terms)?;
        (None, dim, emb)
    } else {
        (distinct_rows(key, n), 0, Vec::new())
    };
    let content: Vec<Column> = match &rows {
        None => key.to_vec(),
        Some(r) => key.iter().map(|c| c.gather(r)).collect(),
    };
    Ok(BoundRelation {
        table: t.name.clone(),
        arity: terms,
        dim,
        columns: t.columns[..terms].to_vec(),
        embedding_columns: t.columns[terms..bound].to_vec(),
        content,
        embedding: emb,
        len: rows.as_ref().map_or(n, |r| r.len()),
        source: t.clone(),
        rows,
    })
}

/// The embedding columns `first..` as a row-major matrix.
fn embedding_matrix(t: &Table, first: usize) -> Result<(usize, Vec<f64>), DataError> {
    let n = t.len();
    let cols = &t.cells[first..];
    if let Some(a) = t.array_column(first) {
        return typed_array_matrix(t, first, a);
    }
    if let [Column::Mixed(cells)] = cols {
        let first_text = cells.iter().find_map(|v| match v {
            Value::Str(s) => Some(s),
            _ => None,
        });
        if first_text.is_some_and(|s| s.trim_start().starts_with('[')) {
            return array_matrix(t, first, cells);
        }
    }
    let dim = cols.len();
    let mut emb = vec![0.0; n * dim];
    for (j, col) in cols.iter().enumerate() {
        match col {
            Column::Int(v) => v
                .iter()
                .enumerate()
                .for_each(|(i, &x)| emb[i * dim + j] = x as f64),
            Column::Float(v) => v
                .iter()
                .enumerate()
                .for_each(|(i, &x)| emb[i * dim + j] = x),
            Column::Mixed(v) => {
                for (i, x) in v.iter().enumerate() {
                    emb[i * dim + j] = match x {
                        Value::Int(x) => *x as f64,
                        Value::Float(x) => *x,
                        Value::Str(s) => {
                            return Err(cell_error(
                                t,
                                i,
                                first + j,
                                format_args!("embedding value {s:?} is not a number"),
                            ));
                        }
                    };
                }
            }
        }
    }
    Ok((dim, emb))
}

/// One column of arrays `[x, y, ..]`, all of one length.
fn array_matrix(t: &Table, col: usize, cells: &[Value]) -> Result<(usize, Vec<f64>), DataError> {
    let mut emb = Vec::new();
    let mut dim = None;
    for (i, v) in cells.iter().enumerate() {
        let bad = || {
            let shown = quote_if_string(v);
            cell_error(
                t,
                i,
                col,
                format_args!(
                    "embedding value {shown} is not an array of numbers like \"[0.5, 1]\""
                ),
            )
        };
        let Value::Str(s) = v else { return Err(bad()) };
        let inner = s
            .trim()
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .ok_or_else(bad)?;
        let before = emb.len();
        if !inner.trim().is_empty() {
            for item in inner.split(',') {
                emb.push(parse_number(item).ok_or_else(bad)?.1);
            }
        }
        let len = emb.len() - before;
        match dim {
            None => dim = Some((len, i)),
            Some((d, _)) if d == len => {}
            Some((d, r)) => {
                return Err(cell_error(
                    t,
                    i,
                    col,
                    format_args!(
                        "array of {len} number{}, but {} has {d}",
                        if len == 1 { "" } else { "s" },
                        t.row_ref(r)
                    ),
                ));
            }
        }
    }
    Ok((dim.map_or(0, |d| d.0), emb))
}

/// A typed array column (every cell is an array; NULLs were rejected before): the arrays
/// must be of one length.
fn typed_array_matrix(
    t: &Table,
    col: usize,
    a: &crate::table::ArrayColumn,
) -> Result<(usize, Vec<f64>), DataError> {
    let n = t.len();
    let dim = if n == 0 { 0 } else { a.cell(0).len() };
    if let Some(i) = (1..n).find(|&i| a.cell(i).len() != dim) {
        let len = a.cell(i).len();
        return Err(cell_error(
            t,
            i,
            col,
            format_args!(
                "array of {len} number{}, but {} has {dim}",
                if len == 1 { "" } else { "s" },
                t.row_ref(0)
            ),
        ));
    }
    Ok((dim, a.values[..a.offsets[n]].to_vec()))
}

/// FxHash's step: fast, and good enough once finished with [`fmix`].
#[inline]
fn mix(h: u64, v: u64) -> u64 {
    (h.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// MurmurHash3's finaliser, so that the high bits used for slots depend on every input bit.
#[inline]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A `Hasher` for the strings of `Mixed` columns (SipHash would dominate the dedup time).
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.0 = mix(self.0, u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        for &b in chunks.remainder() {
            self.0 = mix(self.0, b as u64);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = mix(self.0, i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = mix(self.0, i);
    }
    fn write_usize(&mut self, i: usize) {
        self.0 = mix(self.0, i as u64);
    }
}

fn row_eq(cols: &[Column], a: usize, b: usize) -> bool {
    cols.iter().all(|c| c.cell_eq(a, b))
}

/// Rows sorted strictly increasing (as exported tables often are) are distinct without
/// hashing.
fn strictly_sorted(cols: &[Column], n: usize) -> bool {
    (1..n).all(|i| {
        for c in cols {
            match c.cell_cmp(i - 1, i) {
                std::cmp::Ordering::Less => return true,
                std::cmp::Ordering::Greater => return false,
                std::cmp::Ordering::Equal => {}
            }
        }
        false
    })
}

/// Walks the rows with an open-addressing hash set of row indices, calling `seen(first, row)`
/// for each row whose content already occurred at `first`; stops when it returns false.
fn scan_duplicates(cols: &[Column], n: usize, mut seen: impl FnMut(usize, usize) -> bool) {
    let mut hashes = vec![0u64; n];
    for col in cols {
        match col {
            Column::Int(v) => hashes
                .iter_mut()
                .zip(v)
                .for_each(|(h, &x)| *h = mix(*h, x as u64)),
            // `+ 0.0` turns `-0.0` into `0.0`, which `==` treats as equal.
            Column::Float(v) => hashes
                .iter_mut()
                .zip(v)
                .for_each(|(h, &x)| *h = mix(*h, (x + 0.0).to_bits())),
            Column::Mixed(v) => hashes.iter_mut().zip(v).for_each(|(h, x)| {
                let mut f = Fx(*h);
                std::hash::Hash::hash(x, &mut f);
                *h = f.0;
            }),
        }
    }
    hashes.iter_mut().for_each(|h| *h = fmix(*h));
    // Load factor at most 2/3.
    let slots = (n + n / 2 + 1).next_power_of_two();
    let mask = slots - 1;
    const EMPTY: usize = usize::MAX;
    let mut table = vec![EMPTY; slots];
    for i in 0..n {
        let mut s = (hashes[i] as usize) & mask;
        loop {
            let j = table[s];
            if j == EMPTY {
                table[s] = i;
                break;
            }
            if hashes[j] == hashes[i] && row_eq(cols, j, i) {
                if !seen(j, i) {
                    return;
                }
                break;
            }
            s = (s + 1) & mask;
        }
    }
}

/// The first pair of rows `(first, later)` with equal content, if any.
fn first_duplicate(cols: &[Column], n: usize) -> Option<(usize, usize)> {
    if strictly_sorted(cols, n) {
        return None;
    }
    let mut dup = None;
    scan_duplicates(cols, n, |a, b| {
        dup = Some((a, b));
        false
    });
    dup
}

/// The rows that first hold each distinct content tuple, in row order; `None` when all rows
/// are distinct.
fn distinct_rows(cols: &[Column], n: usize) -> Option<Vec<usize>> {
    if strictly_sorted(cols, n) {
        return None;
    }
    let mut dup = vec![false; n];
    let mut any = false;
    scan_duplicates(cols, n, |_, b| {
        dup[b] = true;
        any = true;
        true
    });
    any.then(|| (0..n).filter(|&i| !dup[i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Column {
        Column::Int(v.to_vec())
    }

    #[test]
    fn duplicates_are_found_sorted_or_not() {
        let a = [ints(&[1, 1, 2, 2]), ints(&[1, 2, 1, 2])];
        assert_eq!(first_duplicate(&a, 4), None);
        assert_eq!(distinct_rows(&a, 4), None);
        let b = [ints(&[2, 1, 2, 1]), ints(&[1, 2, 1, 3])];
        assert_eq!(first_duplicate(&b, 4), Some((0, 2)));
        assert_eq!(distinct_rows(&b, 4), Some(vec![0, 1, 3]));
        // Zero columns: every row is the empty tuple.
        assert_eq!(first_duplicate(&[], 3), Some((0, 1)));
        assert_eq!(distinct_rows(&[], 3), Some(vec![0]));
        assert_eq!(distinct_rows(&[], 1), None);
        assert_eq!(distinct_rows(&[], 0), None);
    }

    #[test]
    fn mixed_and_float_columns_dedup_by_value() {
        let m = [Column::Mixed(vec![
            Value::parse("x"),
            Value::parse("1"),
            Value::parse("x"),
            Value::parse("1.0"),
        ])];
        assert_eq!(distinct_rows(&m, 4), Some(vec![0, 1]));
        let f = [Column::Float(vec![0.5, 1.5, 0.5])];
        assert_eq!(first_duplicate(&f, 3), Some((0, 2)));
        // Hand-made columns may hold both zeros; they are one value.
        let z = [Column::Float(vec![0.0, -0.0])];
        assert_eq!(first_duplicate(&z, 2), Some((0, 1)));
        let z = [Column::Float(vec![0.5, 0.0, 1.0, -0.0])];
        assert_eq!(distinct_rows(&z, 4), Some(vec![0, 1, 2]));
    }

    #[test]
    fn many_rows_with_colliding_slots() {
        // Enough rows to wrap the probe sequence; every value twice, shuffled.
        let n = 10_000i64;
        let v: Vec<i64> = (0..2 * n).map(|i| (i * 7919) % n).collect();
        let d = distinct_rows(&[ints(&v)], v.len()).unwrap();
        assert_eq!(d.len(), n as usize);
        let mut seen: Vec<i64> = d.iter().map(|&i| v[i]).collect();
        assert_eq!(d, (0..n as usize).collect::<Vec<_>>());
        seen.sort();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }
}
