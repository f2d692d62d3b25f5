//! Building a large `BTreeMap` with full nodes and without a second copy of it.
//!
//! A map grown by `insert` in key order (a list from the API server, a folder's Services)
//! keeps its nodes about half empty; `collect` packs them, but only after holding the entries
//! in a `Vec`, a stable sort's scratch of up to as many again, and the map, all at once: at
//! 100k EndpointSlices that was about 18 MB over what the map keeps, the peak of a speaker's
//! start. [`MapBuilder`] buffers a bounded share of the entries and merges them into the map
//! with `BTreeMap::append`, which rebuilds full nodes from the two sorted maps, freeing the
//! old nodes as it goes.

use std::collections::BTreeMap;

/// A map built from a sequence of inserts and removes, the last one for a key winning, as if
/// applied one by one to a `BTreeMap`; the map it gives has full nodes.
#[derive(Debug)]
pub struct MapBuilder<K, V> {
    map: BTreeMap<K, V>,
    /// Operations not yet merged, in order; `None` removes.
    pending: Vec<(K, Option<V>)>,
}

impl<K, V> Default for MapBuilder<K, V> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
            pending: Vec::new(),
        }
    }
}

/// Operations buffered before a merge, at least: merging walks the whole map, so the buffer
/// also grows with it (an eighth), keeping the total work linear.
const MIN_PENDING: usize = 1024;

impl<K: Ord, V> MapBuilder<K, V> {
    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: K, value: V) {
        self.push(key, Some(value));
    }

    /// Removes `key`, whatever was set before.
    pub fn remove(&mut self, key: K) {
        self.push(key, None);
    }

    fn push(&mut self, key: K, op: Option<V>) {
        self.pending.push((key, op));
        if self.pending.len() >= MIN_PENDING.max(self.map.len() / 8) {
            self.merge();
        }
    }

    /// The map.
    pub fn finish(mut self) -> BTreeMap<K, V> {
        self.merge();
        self.map
    }

    fn merge(&mut self) {
        // Stable: of a key's operations, the last one is the one kept below.
        self.pending.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sets = Vec::with_capacity(self.pending.len());
        let mut ops = self.pending.drain(..).peekable();
        while let Some((key, op)) = ops.next() {
            if ops.peek().is_some_and(|(next, _)| *next == key) {
                continue;
            }
            match op {
                Some(value) => sets.push((key, value)),
                None => {
                    self.map.remove(&key);
                }
            }
        }
        // Sorted, one per key: `collect` keeps them as they are.
        let mut batch: BTreeMap<K, V> = sets.into_iter().collect();
        self.map.append(&mut batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible sequence of keys with repeats, without a random-number crate.
    fn keys(n: usize, modulo: u64) -> impl Iterator<Item = u64> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n).map(move |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % modulo
        })
    }

    #[test]
    fn the_built_map_is_the_map_the_operations_make_one_by_one() {
        // sizes below, at and well past a merge, keys repeating, every fifth operation a remove
        for (n, modulo) in [
            (0, 10),
            (10, 5),
            (1024, 2000),
            (1025, 700),
            (50_000, 30_000),
        ] {
            let mut built = MapBuilder::default();
            let mut naive = BTreeMap::new();
            for (i, key) in keys(n, modulo).enumerate() {
                if i % 5 == 4 {
                    built.remove(key);
                    naive.remove(&key);
                } else {
                    built.insert(key, i);
                    naive.insert(key, i);
                }
            }
            assert_eq!(built.finish(), naive, "{n} operations on {modulo} keys");
        }
    }

    #[test]
    fn in_one_batch_the_last_operation_on_a_key_wins() {
        let mut built = MapBuilder::default();
        built.insert("a", 1);
        built.insert("b", 1);
        built.insert("a", 2);
        built.remove("b");
        built.remove("c");
        built.insert("c", 3);
        assert_eq!(built.finish(), BTreeMap::from([("a", 2), ("c", 3)]));
    }
}
