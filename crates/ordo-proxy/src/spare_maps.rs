//! Header maps kept for the next request.
//!
//! Every HTTP/1 exchange builds two `HeaderMap`s: the client's request
//! head and the upstream's response head. Each is two allocations (its
//! index table and its entries), freed again a few microseconds later. A
//! map that has served is emptied and left with the worker thread instead,
//! and the next head on that thread is parsed into it: the allocator is
//! not asked at all while the spares last. Only maps of a usual size are
//! kept ([`MAX_KEPT_CAPACITY`]), and at most [`MAX_SPARE`] of them, so a
//! burst of large heads does not stay behind as memory.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps a worker thread keeps.
const MAX_SPARE: usize = 64;

/// The largest map kept, in headers: one grown by an unusually large head
/// is let go.
const MAX_KEPT_CAPACITY: usize = 48;

thread_local! {
    static SPARE: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for at least `capacity` headers: a spare one
/// when this thread has it.
#[inline]
pub(crate) fn take(capacity: usize) -> HeaderMap {
    let spare = SPARE.try_with(|s| s.borrow_mut().pop()).ok().flatten();
    match spare {
        Some(mut map) => {
            map.reserve(capacity);
            map
        }
        None => HeaderMap::with_capacity(capacity),
    }
}

/// Empties `map` and keeps it for this thread's next head, unless it holds
/// no allocation, is unusually large, or enough are kept already.
#[inline]
pub(crate) fn give(mut map: HeaderMap) {
    let capacity = map.capacity();
    if capacity == 0 || capacity > MAX_KEPT_CAPACITY {
        return;
    }
    map.clear();
    // A thread being torn down has no spares any more: the map is dropped.
    let _ = SPARE.try_with(|s| {
        let mut spare = s.borrow_mut();
        if spare.len() < MAX_SPARE {
            spare.push(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use http::header::HOST;

    use super::*;

    fn spare() -> usize {
        SPARE.with(|s| s.borrow().len())
    }

    #[test]
    fn a_given_map_comes_back_empty_with_room() {
        let mut map = take(4);
        map.insert(HOST, HeaderValue::from_static("a"));
        give(map);
        assert_eq!(spare(), 1);
        let again = take(10);
        assert!(again.is_empty(), "what it held is gone");
        assert!(again.capacity() >= 10, "and it has the room asked for");
        assert_eq!(spare(), 0);
    }

    #[test]
    fn empty_and_oversized_maps_are_not_kept() {
        give(HeaderMap::new());
        give(HeaderMap::with_capacity(MAX_KEPT_CAPACITY * 4));
        assert_eq!(spare(), 0);
    }

    #[test]
    fn a_thread_keeps_at_most_max_spare_maps() {
        for _ in 0..MAX_SPARE + 5 {
            give(HeaderMap::with_capacity(8));
        }
        assert_eq!(spare(), MAX_SPARE);
    }
}
