//! Header maps kept for the next request.
//!
//! Every HTTP/1 exchange builds two `HeaderMap`s: the client's request
//! head and the upstream's response head. Each is two allocations (its
//! index table and its entries), freed again a few microseconds later. A
//! map that has served is emptied and left with the worker thread instead,
//! and the next head on that thread is parsed into it: while the spares
//! last, a head of a usual size costs the allocator nothing for its map.
//! Only maps of a usual size are kept ([`MAX_KEPT_CAPACITY`] headers and
//! values, counting repeated names), and at most [`MAX_SPARE`] of them, so
//! a burst of large heads does not stay behind as memory. (Values removed
//! before a map is given back, the hop-by-hop headers, leave their room
//! behind unseen; the listener's `max_headers` bounds it.)

use std::cell::RefCell;

use http::HeaderMap;

/// Maps a worker thread keeps.
const MAX_SPARE: usize = 64;

/// The largest map kept, in headers (and in values, which count a name's
/// repeats): one grown by an unusually large head is let go.
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
    // `len` counts every value: a name repeated many times grows the map's
    // second vector, which `capacity` does not show.
    if capacity == 0 || capacity > MAX_KEPT_CAPACITY || map.len() > MAX_KEPT_CAPACITY {
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
    use http::header::{HOST, VIA};

    use super::*;

    fn spare() -> usize {
        SPARE.with(|s| s.borrow().len())
    }

    #[test]
    fn a_given_map_comes_back_empty_with_room() {
        let mut map = take(4);
        let room = map.capacity();
        map.insert(HOST, HeaderValue::from_static("a"));
        map.append(VIA, HeaderValue::from_static("1.1 a"));
        map.append(VIA, HeaderValue::from_static("1.1 b"));
        give(map);
        assert_eq!(spare(), 1);
        let again = take(3);
        assert!(again.is_empty(), "what it held is gone");
        assert_eq!(again.capacity(), room, "the same map, not a new one");
        assert_eq!(spare(), 0);
        give(again);
        let bigger = take(room * 2);
        assert_eq!(spare(), 0, "the spare was taken");
        assert!(
            bigger.capacity() >= room * 2,
            "and grown to the room asked for"
        );
    }

    #[test]
    fn a_map_holding_many_values_of_one_name_is_not_kept() {
        let mut map = take(4);
        for _ in 0..=MAX_KEPT_CAPACITY {
            map.append(VIA, HeaderValue::from_static("1.1 a"));
        }
        assert!(map.capacity() <= MAX_KEPT_CAPACITY, "one name: few entries");
        give(map);
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
