//! The dense tensor: a row-major matrix. A relation's embeddings are one row per fact; scalars
//! are `[1, 1]`, per-fact scalars `[n, 1]`.

use crate::Float;
use crate::error::{Result, shape_err};
use std::fmt;

#[derive(Clone, PartialEq)]
pub struct Tensor<T = f32> {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<T>,
}

impl<T: Float> Tensor<T> {
    /// Panics if `data.len() != rows * cols` (an internal invariant; use [`Tensor::try_new`] for
    /// data that comes from outside).
    pub fn new(rows: usize, cols: usize, data: Vec<T>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "Tensor::new: data length vs shape [{rows}, {cols}]"
        );
        Tensor { rows, cols, data }
    }

    pub fn try_new(rows: usize, cols: usize, data: Vec<T>) -> Result<Self> {
        if data.len() != rows * cols {
            return shape_err(
                "tensor",
                format!("{} values for shape [{rows}, {cols}]", data.len()),
            );
        }
        Ok(Tensor { rows, cols, data })
    }

    pub fn zeros(rows: usize, cols: usize) -> Self {
        Tensor {
            rows,
            cols,
            data: crate::alloc::zeroed(crate::alloc::elements(rows, cols)),
        }
    }

    pub fn full(rows: usize, cols: usize, v: T) -> Self {
        Tensor {
            rows,
            cols,
            data: crate::alloc::filled(crate::alloc::elements(rows, cols), v),
        }
    }

    pub fn scalar(v: T) -> Self {
        Tensor {
            rows: 1,
            cols: 1,
            data: vec![v],
        }
    }

    /// From nested rows; all rows must have the same length.
    pub fn from_rows<R: AsRef<[T]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return shape_err(
                    "from_rows",
                    format!("row {i} has {} values, row 0 has {cols}", r.len()),
                );
            }
            data.extend_from_slice(r);
        }
        Ok(Tensor {
            rows: rows.len(),
            cols,
            data,
        })
    }

    /// A `[n, 1]` column.
    pub fn column(v: Vec<T>) -> Self {
        Tensor {
            rows: v.len(),
            cols: 1,
            data: v,
        }
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        let c = self.cols;
        &mut self.data[i * c..(i + 1) * c]
    }

    #[inline]
    pub fn get(&self, i: usize, j: usize) -> T {
        self.data[i * self.cols + j]
    }

    /// The single value of a `[1, 1]` tensor.
    pub fn item(&self) -> Option<T> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    pub fn transpose(&self) -> Self {
        let mut out = Tensor::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                out.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        out
    }

    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        Tensor {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|&x| f(x)).collect(),
        }
    }

    /// Converts the element type (f32 <-> f64), e.g. to run gradient checks in f64.
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        Tensor {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|x| U::from_f64(x.to_f64())).collect(),
        }
    }

    /// Largest absolute element-wise difference (infinite when shapes differ).
    pub fn max_abs_diff(&self, o: &Tensor<T>) -> f64 {
        if self.shape() != o.shape() {
            return f64::INFINITY;
        }
        self.data
            .iter()
            .zip(&o.data)
            .map(|(a, b)| (a.to_f64() - b.to_f64()).abs())
            .fold(0.0, f64::max)
    }
}

impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>[{}, {}]", T::NAME, self.rows, self.cols)?;
        let show = self.rows.min(8);
        for i in 0..show {
            let r = self.row(i);
            let n = r.len().min(8);
            write!(
                f,
                "\n  {:?}{}",
                &r[..n],
                if r.len() > n { " .." } else { "" }
            )?;
        }
        if self.rows > show {
            write!(f, "\n  ..")?;
        }
        Ok(())
    }
}
