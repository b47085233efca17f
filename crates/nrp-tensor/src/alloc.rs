//! Fallible allocation of the large buffers (tensor data, the buffer pool's fresh buffers,
//! optimiser state): a buffer the allocator refuses — under an address-space or cgroup
//! limit, or of a size that overflows — unwinds with an [`OutOfMemory`] payload instead of
//! aborting the process, so that the caller (the `nrp` command) can report it as an error.
//! Sizes are checked against the memory budget before the plan runs (`nrp-engine`); this is
//! the fallback for what those checks do not foresee.

/// The payload of the unwinding that a refused allocation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    /// The bytes asked for (saturated).
    pub bytes: u64,
}

/// `vec![value; len]`, unwinding with [`OutOfMemory`] when the allocator refuses.
pub fn filled<T: Clone>(len: usize, value: T) -> Vec<T> {
    let mut v = Vec::new();
    if v.try_reserve_exact(len).is_err() {
        let bytes = (len as u128 * std::mem::size_of::<T>() as u128).min(u64::MAX as u128);
        std::panic::panic_any(OutOfMemory {
            bytes: bytes as u64,
        });
    }
    v.resize(len, value);
    v
}

/// Element types whose all-zero bit pattern is the value zero.
///
/// # Safety
/// The all-zero bit pattern must be a valid value of the type (and equal its `Default`).
pub unsafe trait Zeroable: Copy {}

// SAFETY: zero bits are 0 (0.0 for the floats) for each of these.
unsafe impl Zeroable for f32 {}
unsafe impl Zeroable for f64 {}
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for u32 {}
unsafe impl Zeroable for u64 {}
unsafe impl Zeroable for usize {}

/// `vec![0; len]` — from zeroed pages, as `vec!` allocates it (fresh pages are not
/// written) — unwinding with [`OutOfMemory`] when the allocator refuses.
pub fn zeroed<T: Zeroable>(len: usize) -> Vec<T> {
    let refused = || -> ! {
        let bytes = (len as u128 * std::mem::size_of::<T>() as u128).min(u64::MAX as u128);
        std::panic::panic_any(OutOfMemory {
            bytes: bytes as u64,
        })
    };
    if len == 0 || std::mem::size_of::<T>() == 0 {
        return Vec::new();
    }
    let layout = std::alloc::Layout::array::<T>(len).unwrap_or_else(|_| refused());
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) } as *mut T;
    if ptr.is_null() {
        refused();
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `len` `T`s
    // (capacity `len`), and its `len` elements are zero bits: valid `T`s.
    unsafe { Vec::from_raw_parts(ptr, len, len) }
}

/// `rows * cols`, unwinding with [`OutOfMemory`] when the product overflows.
pub fn elements(rows: usize, cols: usize) -> usize {
    rows.checked_mul(cols)
        .unwrap_or_else(|| std::panic::panic_any(OutOfMemory { bytes: u64::MAX }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_allocations_unwind_with_their_size() {
        assert_eq!(filled(2, 7u32), vec![7, 7]);
        assert_eq!(zeroed::<f32>(3), vec![0.0; 3]);
        assert!(zeroed::<u8>(0).is_empty());
        let payload = std::panic::catch_unwind(|| zeroed::<f64>(usize::MAX / 4)).unwrap_err();
        assert!(payload.downcast_ref::<OutOfMemory>().is_some());
        let payload = std::panic::catch_unwind(|| filled(usize::MAX / 4, 0f32)).unwrap_err();
        let oom = payload
            .downcast_ref::<OutOfMemory>()
            .expect("an OutOfMemory payload");
        assert_eq!(oom.bytes, (usize::MAX / 4 * 4) as u64);
        let payload = std::panic::catch_unwind(|| elements(usize::MAX, 2)).unwrap_err();
        assert!(payload.downcast_ref::<OutOfMemory>().is_some());
    }
}
