//! Buffer reuse across epochs. An epoch records the same ops with the same shapes, so handing
//! last epoch's buffers to the next graph avoids the allocator and, for large tensors, the
//! page faults of fresh memory.

use crate::{Float, Tensor};

#[derive(Debug, Default)]
pub struct BufferPool<T = f32> {
    free: Vec<Vec<T>>,
}

impl<T: Float> BufferPool<T> {
    pub fn new() -> Self {
        BufferPool { free: Vec::new() }
    }

    /// A tensor of the given shape with unspecified (initialised) contents: the smallest free
    /// buffer that fits, or a fresh zeroed one.
    pub fn take(&mut self, rows: usize, cols: usize) -> Tensor<T> {
        let len = rows * cols;
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        let data = match best {
            Some(i) => {
                let mut v = self.free.swap_remove(i);
                v.resize(len, T::ZERO);
                v
            }
            None => vec![T::ZERO; len],
        };
        Tensor { rows, cols, data }
    }

    /// A zero-filled tensor.
    pub fn zeros(&mut self, rows: usize, cols: usize) -> Tensor<T> {
        let mut t = self.take(rows, cols);
        t.data.fill(T::ZERO);
        t
    }

    pub fn give(&mut self, t: Tensor<T>) {
        if t.data.capacity() > 0 {
            self.free.push(t.data);
        }
    }

    pub fn give_vec(&mut self, v: Vec<T>) {
        if v.capacity() > 0 {
            self.free.push(v);
        }
    }

    /// Returns every gradient buffer (after the optimiser step).
    pub fn recycle(&mut self, grads: crate::Grads<T>) {
        for t in grads.into_tensors() {
            self.give(t);
        }
    }

    /// Number of buffers held, and their total capacity in elements.
    pub fn stats(&self) -> (usize, usize) {
        (
            self.free.len(),
            self.free.iter().map(|v| v.capacity()).sum(),
        )
    }
}
