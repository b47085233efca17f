//! Buffer reuse across epochs. An epoch records the same ops with the same shapes, so handing
//! last epoch's buffers to the next graph avoids the allocator and, for large tensors, the
//! page faults of fresh memory.

use crate::{Float, Tensor};

#[derive(Debug, Default)]
pub struct BufferPool<T = f32> {
    /// Free buffers with the number of graphs that ended without taking them.
    free: Vec<(Vec<T>, u32)>,
    /// Buffers allocated because no free one fitted (for tests and diagnostics).
    fresh: usize,
}

/// A buffer no graph took for this many graphs in a row is released, so the pool tracks what
/// the current mix of graphs (e.g. alternating train and eval passes) needs.
const MAX_IDLE: u32 = 3;

impl<T: Float> BufferPool<T> {
    pub fn new() -> Self {
        BufferPool {
            free: Vec::new(),
            fresh: 0,
        }
    }

    /// A tensor of the given shape with unspecified (initialised) contents: the smallest free
    /// buffer that fits, or a fresh zeroed one.
    pub fn take(&mut self, rows: usize, cols: usize) -> Tensor<T> {
        let len = rows * cols;
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, (v, _))| v.capacity() >= len)
            .min_by_key(|(_, (v, _))| v.capacity())
            .map(|(i, _)| i);
        let data = match best {
            Some(i) => {
                let (mut v, _) = self.free.swap_remove(i);
                v.resize(len, T::ZERO);
                v
            }
            None => {
                self.fresh += 1;
                vec![T::ZERO; len]
            }
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
        self.give_vec(t.data);
    }

    pub fn give_vec(&mut self, v: Vec<T>) {
        if v.capacity() > 0 {
            self.free.push((v, 0));
        }
    }

    /// Called when a graph ends (before its buffers come back): ages the buffers it did not
    /// take and releases those idle for too long.
    pub(crate) fn end_graph(&mut self) {
        self.free.retain_mut(|(_, idle)| {
            *idle += 1;
            *idle <= MAX_IDLE
        });
    }

    /// Returns every gradient buffer (after the optimiser step).
    pub fn recycle(&mut self, grads: crate::Grads<T>) {
        for t in grads.into_tensors() {
            self.give(t);
        }
    }

    /// How many buffers `take` had to allocate so far (0 growth per epoch once warm).
    pub fn fresh_allocations(&self) -> usize {
        self.fresh
    }

    /// Number of buffers held, and their total capacity in elements.
    pub fn stats(&self) -> (usize, usize) {
        (
            self.free.len(),
            self.free.iter().map(|(v, _)| v.capacity()).sum(),
        )
    }
}
