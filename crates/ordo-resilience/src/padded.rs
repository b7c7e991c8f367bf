//! Cache-line padding for atomics that different cores write.

use std::ops::Deref;

/// Keeps `T` on its own cache line (128 bytes covers the adjacent-line
/// prefetcher of x86 and the 128-byte lines of some ARM cores), so that
/// writes to one hot atomic do not slow down reads of its neighbours.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> Deref for Padded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
