//! Match lists: segments (CSR row pointers) and CSR matrices sorted by head row.
//!
//! A rule's match list is a CSR whose row `i` lists the matches that aggregate into head row
//! `i`; `indices[k]` is the body row of match `k`. Built once per database, used every epoch.
//! The transpose (body row -> its matches, in head-row order) is built lazily, once, so that
//! backward passes are gathers/segment reductions as well, without atomics.

use crate::error::{Result, TensorError};
use std::sync::OnceLock;

/// The entry values of a sparse product as its transposed (backward) product reads them.
#[derive(Clone, Copy, Debug)]
pub enum EntryValues<'v, T> {
    /// Every value is 1.
    Ones,
    /// In CSR order: read through the transpose's entry map.
    Csr(&'v [T]),
    /// Already in the transpose's order ([`Csr::transpose_values`]).
    Transposed(&'v [T]),
}

/// Row pointers: row `i` owns entries `indptr[i]..indptr[i+1]`.
#[derive(Debug, Clone)]
pub struct Segments {
    indptr: Vec<usize>,
    /// Row boundaries of roughly equal work (entries + rows), for parallel loops.
    chunks: OnceLock<Vec<usize>>,
}

impl Segments {
    pub fn new(indptr: Vec<usize>) -> Result<Self> {
        if indptr.first() != Some(&0) {
            return Err(TensorError::Sparse("indptr must start with 0".into()));
        }
        if let Some(i) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(TensorError::Sparse(format!("indptr decreases at row {i}")));
        }
        if *indptr.last().unwrap() > u32::MAX as usize {
            return Err(TensorError::Sparse("more than u32::MAX entries".into()));
        }
        Ok(Segments {
            indptr,
            chunks: OnceLock::new(),
        })
    }

    /// Segments from per-row counts.
    pub fn from_counts(counts: impl IntoIterator<Item = usize>) -> Result<Self> {
        let mut indptr = vec![0];
        let mut acc = 0usize;
        for c in counts {
            acc += c;
            indptr.push(acc);
        }
        Segments::new(indptr)
    }

    /// `n` rows of one entry each (entry `i` belongs to row `i`).
    pub fn unit(n: usize) -> Self {
        Segments {
            indptr: (0..=n).collect(),
            chunks: OnceLock::new(),
        }
    }

    #[inline]
    pub fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    #[inline]
    pub fn nnz(&self) -> usize {
        self.indptr[self.indptr.len() - 1]
    }

    #[inline]
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    #[inline]
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.indptr[i]..self.indptr[i + 1]
    }

    /// Number of entries per row (`count(...)` of a match list), as `[n_rows]`.
    pub fn counts(&self) -> Vec<usize> {
        self.indptr.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// The row of every entry.
    pub fn row_of_entries(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.nnz());
        for i in 0..self.n_rows() {
            out.extend(std::iter::repeat_n(
                i as u32,
                self.indptr[i + 1] - self.indptr[i],
            ));
        }
        out
    }

    /// Partition of the rows into contiguous chunks of about equal work (each row costs
    /// its entries plus one). Only used to schedule row-independent loops, so results never
    /// depend on it.
    pub(crate) fn chunks(&self) -> &[usize] {
        self.chunks.get_or_init(|| {
            let n = self.n_rows();
            let work = self.nnz() + n;
            let target = (work / 64).max(4096);
            let mut b = vec![0];
            let mut acc = 0;
            for i in 0..n {
                acc += self.indptr[i + 1] - self.indptr[i] + 1;
                if acc >= target {
                    b.push(i + 1);
                    acc = 0;
                }
            }
            if *b.last().unwrap() != n {
                b.push(n);
            }
            b
        })
    }
}

/// A CSR matrix (structure only; per-entry values are tensors passed beside it, so they can be
/// constants or learnable). Rows are head rows, columns are rows of the gathered tensor.
#[derive(Debug)]
pub struct Csr {
    seg: Segments,
    n_cols: usize,
    indices: Vec<u32>,
    transpose: OnceLock<Transposed>,
}

/// Column-major view of a [`Csr`]: for every column `c`, the entries that read it, in
/// increasing (row, entry) order.
#[derive(Debug)]
pub struct Transposed {
    pub(crate) seg: Segments,
    /// Head row of each transposed entry.
    pub(crate) rows: Vec<u32>,
    /// Entry id (position in the CSR) of each transposed entry.
    pub(crate) entries: Vec<u32>,
}

impl Transposed {
    /// Row pointers over the columns of the CSR.
    pub fn segments(&self) -> &Segments {
        &self.seg
    }
    /// Head row of each transposed entry.
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }
    /// Position in the CSR of each transposed entry.
    pub fn entries(&self) -> &[u32] {
        &self.entries
    }
}

impl Csr {
    pub fn new(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
    ) -> Result<Self> {
        if indptr.len() != n_rows + 1 {
            return Err(TensorError::Sparse(format!(
                "indptr has {} entries for {n_rows} rows",
                indptr.len()
            )));
        }
        let seg = Segments::new(indptr)?;
        if seg.nnz() != indices.len() {
            return Err(TensorError::Sparse(format!(
                "indptr ends at {} but there are {} indices",
                seg.nnz(),
                indices.len()
            )));
        }
        if let Some(k) = indices.iter().position(|&c| c as usize >= n_cols) {
            return Err(TensorError::Sparse(format!(
                "entry {k} has column {} >= {n_cols} columns",
                indices[k]
            )));
        }
        Ok(Csr {
            seg,
            n_cols,
            indices,
            transpose: OnceLock::new(),
        })
    }

    /// A gather index: row `i` reads row `index[i]` of a tensor with `n_cols` rows.
    pub fn from_index(index: Vec<u32>, n_cols: usize) -> Result<Self> {
        let n = index.len();
        Csr::new(n, n_cols, (0..=n).collect(), index)
    }

    /// From (row, col) pairs in any order. Entries are ordered by row, stably; the returned
    /// permutation maps new entry positions to the input positions (to permute values).
    pub fn from_coo(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
    ) -> Result<(Self, Vec<u32>)> {
        if rows.len() != cols.len() {
            return Err(TensorError::Sparse(format!(
                "{} rows vs {} cols",
                rows.len(),
                cols.len()
            )));
        }
        if rows.len() > u32::MAX as usize {
            return Err(TensorError::Sparse("more than u32::MAX entries".into()));
        }
        let mut counts = vec![0usize; n_rows + 1];
        for (k, &r) in rows.iter().enumerate() {
            if r as usize >= n_rows {
                return Err(TensorError::Sparse(format!(
                    "entry {k} has row {r} >= {n_rows} rows"
                )));
            }
            counts[r as usize + 1] += 1;
        }
        for i in 0..n_rows {
            counts[i + 1] += counts[i];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut perm = vec![0u32; rows.len()];
        let mut indices = vec![0u32; rows.len()];
        for (k, (&r, &c)) in rows.iter().zip(cols).enumerate() {
            let p = next[r as usize];
            next[r as usize] += 1;
            perm[p] = k as u32;
            indices[p] = c;
        }
        Ok((Csr::new(n_rows, n_cols, indptr, indices)?, perm))
    }

    #[inline]
    pub fn n_rows(&self) -> usize {
        self.seg.n_rows()
    }
    #[inline]
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }
    #[inline]
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
    #[inline]
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }
    #[inline]
    pub fn indptr(&self) -> &[usize] {
        self.seg.indptr()
    }
    #[inline]
    pub fn segments(&self) -> &Segments {
        &self.seg
    }

    /// The transpose, built on first use (counting sort, O(nnz + n_cols)).
    /// Per-entry values (in CSR order) in the order of the transpose's entries: constant
    /// values permuted once, so a backward pass reads them in sequence
    /// ([`EntryValues::Transposed`]).
    pub fn transpose_values<T: Copy>(&self, vals: &[T]) -> Vec<T> {
        assert_eq!(vals.len(), self.nnz(), "one value per entry");
        self.transposed()
            .entries
            .iter()
            .map(|&k| vals[k as usize])
            .collect()
    }

    pub fn transposed(&self) -> &Transposed {
        self.transpose.get_or_init(|| {
            let mut counts = vec![0usize; self.n_cols + 1];
            for &c in &self.indices {
                counts[c as usize + 1] += 1;
            }
            for c in 0..self.n_cols {
                counts[c + 1] += counts[c];
            }
            let mut next = counts.clone();
            let nnz = self.nnz();
            let mut rows = vec![0u32; nnz];
            let mut entries = vec![0u32; nnz];
            for i in 0..self.n_rows() {
                for k in self.seg.range(i) {
                    let c = self.indices[k] as usize;
                    let p = next[c];
                    next[c] += 1;
                    rows[p] = i as u32;
                    entries[p] = k as u32;
                }
            }
            Transposed {
                seg: Segments {
                    indptr: counts,
                    chunks: OnceLock::new(),
                },
                rows,
                entries,
            }
        })
    }
}
