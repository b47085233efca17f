//! Sparse matrices as a structure (a CSR over columns) plus `[nnz, 1]` values: the row
//! operations that preserve zeros, computed on the non-zeros. Used to build and fold sparse
//! constants (bag-of-words features) and to plan the per-epoch sparse operations.

use nrp_tensor::{Csr, Tensor};

/// At most this share of non-zeros for a matrix to be kept sparse.
pub const DENSITY: f64 = 0.25;
/// Smaller matrices are not worth it.
pub const MIN_SIZE: usize = 4096;

/// Whether a `rows × cols` matrix with `nnz` non-zeros should be sparse.
pub fn worth_it(rows: usize, cols: usize, nnz: usize) -> bool {
    cols >= 2 && rows * cols >= MIN_SIZE && (nnz as f64) <= DENSITY * (rows * cols) as f64
}

/// The non-zeros of a dense matrix.
pub fn from_dense(t: &Tensor) -> (Csr, Tensor) {
    let mut indptr = vec![0usize];
    let mut indices = vec![];
    let mut values = vec![];
    for r in 0..t.rows {
        for (c, &x) in t.row(r).iter().enumerate() {
            if x != 0.0 {
                indices.push(c as u32);
                values.push(x);
            }
        }
        indptr.push(indices.len());
    }
    let n = values.len();
    (
        Csr::new(t.rows, t.cols, indptr, indices).expect("row-major non-zeros"),
        Tensor::new(n, 1, values),
    )
}

pub fn to_dense(s: &Csr, values: &[f32]) -> Tensor {
    let d = s.n_cols();
    let mut out = vec![0f32; s.n_rows() * d];
    for r in 0..s.n_rows() {
        for k in s.segments().range(r) {
            out[r * d + s.indices()[k] as usize] += values[k];
        }
    }
    Tensor::new(s.n_rows(), d, out)
}

/// Rows `index` of a sparse matrix: the new structure and, per new entry, the old entry.
pub fn gather_rows(s: &Csr, index: &[u32]) -> (Csr, Vec<u32>) {
    let mut indptr = vec![0usize];
    let mut cols = vec![];
    let mut entries = vec![];
    for &r in index {
        for k in s.segments().range(r as usize) {
            cols.push(s.indices()[k]);
            entries.push(k as u32);
        }
        indptr.push(cols.len());
    }
    (
        Csr::new(index.len(), s.n_cols(), indptr, cols).expect("selected rows"),
        entries,
    )
}

/// The structure of `C · S` (C a weighted match list over S's rows) and, per output entry,
/// the input entries and weights that sum into it. `None` when the product is dense.
pub fn product(c: &Csr, w: Option<&[f32]>, s: &Csr) -> Option<(Csr, Csr, Tensor)> {
    let dim = s.n_cols();
    let mut slot = vec![u32::MAX; dim]; // output entry of each column in the current row
    let mut indptr = vec![0usize];
    let mut cols: Vec<u32> = vec![];
    let mut contrib: Vec<Vec<(u32, f32)>> = vec![];
    for h in 0..c.n_rows() {
        let start = cols.len();
        for e in c.segments().range(h) {
            let we = w.map_or(1.0, |w| w[e]);
            let j = c.indices()[e] as usize;
            for k in s.segments().range(j) {
                let col = s.indices()[k] as usize;
                if slot[col] == u32::MAX {
                    slot[col] = cols.len() as u32;
                    cols.push(col as u32);
                    contrib.push(vec![]);
                }
                contrib[slot[col] as usize].push((k as u32, we));
            }
        }
        for &col in &cols[start..] {
            slot[col as usize] = u32::MAX;
        }
        indptr.push(cols.len());
        if cols.len() > MIN_SIZE && (cols.len() as f64) > DENSITY * ((h + 1) * dim) as f64 {
            return None;
        }
    }
    let structure = Csr::new(c.n_rows(), dim, indptr, cols).ok()?;
    let mut map_ptr = vec![0usize];
    let mut map_idx = vec![];
    let mut map_w = vec![];
    for list in &contrib {
        for &(k, we) in list {
            map_idx.push(k);
            map_w.push(we);
        }
        map_ptr.push(map_idx.len());
    }
    let n = map_w.len();
    let map = Csr::new(contrib.len(), s.nnz(), map_ptr, map_idx).ok()?;
    Some((structure, map, Tensor::new(n, 1, map_w)))
}

/// `out[e] = Σ_{k ∈ map[e]} w_k · values[map.indices[k]]`.
pub fn apply_map(map: &Csr, w: &[f32], values: &[f32]) -> Vec<f32> {
    (0..map.n_rows())
        .map(|e| {
            map.segments()
                .range(e)
                .map(|k| w[k] * values[map.indices()[k] as usize])
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_matches_dense_product() {
        // S: 3 × 4 sparse; C: 2 × 3 weighted.
        let s = Csr::new(3, 4, vec![0, 2, 3, 4], vec![0, 3, 1, 3]).unwrap();
        let sv = [1.0, 2.0, 3.0, 4.0];
        let c = Csr::new(2, 3, vec![0, 2, 3], vec![0, 2, 1]).unwrap();
        let w = [0.5, 2.0, -1.0];
        let (structure, map, mw) = product(&c, Some(&w), &s).unwrap();
        let out = to_dense(&structure, &apply_map(&map, &mw.data, &sv));
        // Row 0 = 0.5·S0 + 2·S2 = [0.5, 0, 0, 1 + 8]; row 1 = −S1 = [0, −3, 0, 0].
        assert_eq!(out.data, vec![0.5, 0.0, 0.0, 9.0, 0.0, -3.0, 0.0, 0.0]);
        let (g, entries) = gather_rows(&s, &[2, 0]);
        assert_eq!(g.indices(), &[3, 0, 3]);
        assert_eq!(entries, vec![3, 0, 1]);
    }
}
