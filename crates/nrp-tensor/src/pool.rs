//! Buffer reuse across epochs. An epoch records the same ops with the same shapes, so handing
//! last epoch's buffers to the next graph avoids the allocator and, for large tensors, the
//! page faults of fresh memory.

use crate::{Float, Tensor};

/// A buffer no graph took for this many graphs in a row is released, so the pool tracks what
/// the current mix of graphs (e.g. alternating train and eval passes) needs.
const MAX_IDLE: u32 = 3;

/// Free buffers of one element type, each with the number of graphs that ended without
/// taking it.
#[derive(Debug)]
struct FreeList<E> {
    free: Vec<(Vec<E>, u32)>,
    fresh: usize,
}

impl<E> Default for FreeList<E> {
    fn default() -> Self {
        FreeList {
            free: Vec::new(),
            fresh: 0,
        }
    }
}

impl<E: Copy + Default + crate::alloc::Zeroable> FreeList<E> {
    /// The smallest free buffer that fits (contents unspecified), or a fresh zeroed one.
    fn take(&mut self, len: usize) -> Vec<E> {
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, (v, _))| v.capacity() >= len)
            .min_by_key(|(_, (v, _))| v.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                let (mut v, _) = self.free.swap_remove(i);
                v.resize(len, E::default());
                v
            }
            None => {
                self.fresh += 1;
                crate::alloc::zeroed(len)
            }
        }
    }

    fn give(&mut self, v: Vec<E>) {
        if v.capacity() > 0 {
            self.free.push((v, 0));
        }
    }

    fn end_graph(&mut self) {
        self.free.retain_mut(|(_, idle)| {
            *idle += 1;
            *idle <= MAX_IDLE
        });
    }

    fn bytes(&self) -> usize {
        self.free.iter().map(|(v, _)| v.capacity()).sum::<usize>() * std::mem::size_of::<E>()
    }
}

/// Recycled buffers: tensor data, plus the index (`u32`) and mask (`u8`) arrays that ops save
/// for their backward pass (segment max/min winners, dropout keep masks).
#[derive(Debug, Default)]
pub struct BufferPool<T = f32> {
    data: FreeList<T>,
    index: FreeList<u32>,
    mask: FreeList<u8>,
}

impl<T: Float> BufferPool<T> {
    pub fn new() -> Self {
        BufferPool {
            data: FreeList::default(),
            index: FreeList::default(),
            mask: FreeList::default(),
        }
    }

    /// A tensor of the given shape with unspecified (initialised) contents: the smallest free
    /// buffer that fits, or a fresh zeroed one.
    pub fn take(&mut self, rows: usize, cols: usize) -> Tensor<T> {
        Tensor {
            rows,
            cols,
            data: self.data.take(crate::alloc::elements(rows, cols)),
        }
    }

    /// A zero-filled tensor.
    pub fn zeros(&mut self, rows: usize, cols: usize) -> Tensor<T> {
        let mut t = self.take(rows, cols);
        t.data.fill(T::ZERO);
        t
    }

    pub fn give(&mut self, t: Tensor<T>) {
        self.data.give(t.data);
    }

    pub fn give_vec(&mut self, v: Vec<T>) {
        self.data.give(v);
    }

    /// A `u32` array of `len` (contents unspecified).
    pub(crate) fn take_index(&mut self, len: usize) -> Vec<u32> {
        self.index.take(len)
    }

    pub(crate) fn give_index(&mut self, v: Vec<u32>) {
        self.index.give(v);
    }

    /// A byte array of `len` (contents unspecified).
    pub(crate) fn take_mask(&mut self, len: usize) -> Vec<u8> {
        self.mask.take(len)
    }

    pub(crate) fn give_mask(&mut self, v: Vec<u8>) {
        self.mask.give(v);
    }

    /// Called when a graph ends (before its buffers come back): ages the buffers it did not
    /// take and releases those idle for too long.
    pub(crate) fn end_graph(&mut self) {
        self.data.end_graph();
        self.index.end_graph();
        self.mask.end_graph();
    }

    /// Returns every gradient buffer (after the optimiser step).
    pub fn recycle(&mut self, grads: crate::Grads<T>) {
        for t in grads.into_tensors() {
            self.give(t);
        }
    }

    /// How many buffers had to be allocated so far (no growth per epoch once warm).
    pub fn fresh_allocations(&self) -> usize {
        self.data.fresh + self.index.fresh + self.mask.fresh
    }

    /// Number of buffers held, and their total size in bytes.
    pub fn stats(&self) -> (usize, usize) {
        (
            self.data.free.len() + self.index.free.len() + self.mask.free.len(),
            self.data.bytes() + self.index.bytes() + self.mask.bytes(),
        )
    }
}
