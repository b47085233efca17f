//! One dictionary of content values per grounding: joins compare `u32` ids, filters and
//! output read the values back.

use nrp_data::{Column, Value};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hash (FxHash's) for integer keys: interning millions of ids with
/// SipHash costs more than the join that uses them.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Integers below this are interned through a direct table (at most 16 MiB of it).
const SMALL_INTS: i64 = 1 << 22;

#[derive(Default, Debug)]
pub struct Dict {
    values: Vec<Value>,
    ids: HashMap<Value, u32>,
    /// Fast paths for numbers (integer ids, float measurements): no SipHash, no `Value`.
    ints: FxMap<i64, u32>,
    /// `small[i]`: the id of the integer `i` (`u32::MAX`: none yet), for `0 <= i <`
    /// [`SMALL_INTS`]: ids and keys, tens of millions of cells, skip the hash map.
    small: Vec<u32>,
    floats: FxMap<u64, u32>,
    /// Floats interned by [`Dict::intern_columns`], ascending, and their ids: millions of
    /// distinct measurements are sorted once instead of hashed one by one.
    sorted_floats: Vec<f64>,
    sorted_float_ids: Vec<u32>,
    /// `rank[id]`: the value's position in content order, once frozen.
    rank: Vec<u32>,
}

impl Dict {
    pub fn intern(&mut self, v: &Value) -> u32 {
        match v {
            Value::Int(i) => return self.intern_int(*i),
            // Normalised floats are finite and not integral: their bits are canonical.
            Value::Float(x) => {
                if let Some(id) = self.float_id(*x) {
                    return id;
                }
                let id = self.push(v.clone());
                self.floats.insert(x.to_bits(), id);
                return id;
            }
            Value::Str(_) => {}
        }
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.push(v.clone());
        self.ids.insert(v.clone(), id);
        id
    }

    fn intern_int(&mut self, i: i64) -> u32 {
        if (0..SMALL_INTS).contains(&i) {
            let i = i as usize;
            if i >= self.small.len() {
                self.small.resize(
                    (i + 1).max(2 * self.small.len()).min(SMALL_INTS as usize),
                    u32::MAX,
                );
            }
            if self.small[i] == u32::MAX {
                self.small[i] = self.push(Value::Int(i as i64));
            }
            return self.small[i];
        }
        if let Some(&id) = self.ints.get(&i) {
            return id;
        }
        let id = self.push(Value::Int(i));
        self.ints.insert(i, id);
        id
    }

    fn push(&mut self, v: Value) -> u32 {
        let id = u32::try_from(self.values.len()).expect("fewer than 2^32 distinct values");
        self.values.push(v);
        id
    }

    fn float_id(&self, x: f64) -> Option<u32> {
        if let Some(&id) = self.floats.get(&x.to_bits()) {
            return Some(id);
        }
        let at = self
            .sorted_floats
            .partition_point(|y| y.total_cmp(&x).is_lt());
        (self.sorted_floats.get(at) == Some(&x)).then(|| self.sorted_float_ids[at])
    }

    /// Interns whole columns. The non-integral cells of float columns are interned together
    /// by sorting (a radix sort of their bits), not hashing: a table of dense features has
    /// millions of distinct values, and a hash lookup per cell misses the cache every time.
    pub fn intern_columns(&mut self, cols: &[&Column]) -> Vec<Vec<u32>> {
        let batch = self.sorted_floats.is_empty();
        let mut keys: Vec<u64> = vec![];
        let mut cells: Vec<u64> = vec![];
        let mut out: Vec<Vec<u32>> = Vec::with_capacity(cols.len());
        for (j, c) in cols.iter().enumerate() {
            out.push(match c {
                Column::Int(xs) => xs.iter().map(|&i| self.intern_int(i)).collect(),
                Column::Float(xs) if batch => xs
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        if is_float_cell(x) {
                            keys.push(order_key(x));
                            cells.push(((j as u64) << 40) | i as u64);
                            u32::MAX
                        } else {
                            self.intern(&Value::from_f64(x))
                        }
                    })
                    .collect(),
                _ => (0..c.len()).map(|i| self.intern(&c.get(i))).collect(),
            });
        }
        radix_sort(&mut keys, &mut cells);
        // Each distinct value (a run of equal keys) gets a provisional number `p`; new values
        // then take ids in order of first occurrence, so that reading a table's values in
        // row order (encodes, ranks) walks the dictionary forwards instead of at random.
        // `run_id[p]`: its id (`u32::MAX` until first seen), 4 bytes per value: the pass
        // below reads it at random, once per cell.
        let (mut run_x, mut run_id): (Vec<f64>, Vec<u32>) = (vec![], vec![]);
        let mut i = 0;
        while i < keys.len() {
            let p = run_id.len() as u32;
            let x = from_order_key(keys[i]);
            // Every earlier batch value is below: only the hash map can hold `x` already.
            run_x.push(x);
            run_id.push(self.floats.get(&x.to_bits()).copied().unwrap_or(u32::MAX));
            while i < keys.len() && keys[i] == order_key(x) {
                out[(cells[i] >> 40) as usize][(cells[i] & ((1 << 40) - 1)) as usize] = p;
                i += 1;
            }
        }
        drop((keys, cells));
        self.values
            .reserve(run_id.iter().filter(|&&id| id == u32::MAX).count());
        // Only a batch collected floats (`run_id` is empty otherwise).
        for (c, o) in cols.iter().zip(out.iter_mut()).filter(|_| batch) {
            let Column::Float(xs) = c else { continue };
            const AHEAD: usize = 16;
            for k in 0..xs.len() {
                if let Some(&q) = o.get(k + AHEAD) {
                    nrp_tensor::prefetch(run_id.as_ptr().wrapping_add(q as usize), 1);
                }
                if is_float_cell(xs[k]) {
                    let id = &mut run_id[o[k] as usize];
                    if *id == u32::MAX {
                        *id = self.push(Value::Float(xs[k]));
                    }
                    o[k] = *id;
                }
            }
        }
        for (x, id) in run_x.into_iter().zip(run_id) {
            if self.floats.get(&x.to_bits()) != Some(&id) {
                self.sorted_floats.push(x);
                self.sorted_float_ids.push(id);
            }
        }
        out
    }

    /// The id of a value already interned.
    pub fn id(&self, v: &Value) -> Option<u32> {
        match v {
            Value::Int(i) if (0..SMALL_INTS).contains(i) => self
                .small
                .get(*i as usize)
                .copied()
                .filter(|&id| id != u32::MAX),
            Value::Int(i) => self.ints.get(i).copied(),
            Value::Float(x) => self.float_id(*x),
            v => self.ids.get(v).copied(),
        }
    }

    /// Ranks every value in content order (numbers, then strings), so that comparisons are
    /// integer comparisons. Values interned later compare by value.
    pub fn freeze(&mut self) {
        // Each kind sorted by its own cheap key, then integers and floats merged in numeric
        // order, strings last. The floats of `intern_columns` are sorted already (millions of
        // measurements are common); those interned one by one are sorted and merged in.
        let (mut ints, mut others, mut strs) = (vec![], vec![], vec![]);
        for (id, v) in self.values.iter().enumerate() {
            match v {
                Value::Int(i) => ints.push((*i, id as u32)),
                Value::Float(x) if self.floats.contains_key(&x.to_bits()) => {
                    others.push((*x, id as u32))
                }
                Value::Float(_) => {}
                Value::Str(_) => strs.push(id as u32),
            }
        }
        ints.sort_unstable();
        others.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        strs.sort_unstable_by(|&a, &b| self.values[a as usize].cmp(&self.values[b as usize]));
        let batch = self
            .sorted_floats
            .iter()
            .copied()
            .zip(self.sorted_float_ids.iter().copied());
        let floats = merge(batch, others, |a, b| a.0 < b.0);
        let mut order = Vec::with_capacity(self.values.len());
        let (mut i, mut f) = (0, 0);
        while i < ints.len() || f < floats.len() {
            // Floats here are not integral, so an integer never equals one and the f64
            // comparison is exact (beyond 2^53 the rounded integer is still on its side).
            let take_int =
                f == floats.len() || (i < ints.len() && (ints[i].0 as f64) < floats[f].0);
            if take_int {
                order.push(ints[i].1);
                i += 1;
            } else {
                order.push(floats[f].1);
                f += 1;
            }
        }
        order.extend(strs);
        self.rank = vec![0; self.values.len()];
        for (r, &id) in order.iter().enumerate() {
            self.rank[id as usize] = r as u32;
        }
    }

    /// Content order of two ids.
    pub fn cmp(&self, a: u32, b: u32) -> std::cmp::Ordering {
        match (self.rank.get(a as usize), self.rank.get(b as usize)) {
            (Some(x), Some(y)) => x.cmp(y),
            _ => self.values[a as usize].cmp(&self.values[b as usize]),
        }
    }

    /// The rank of an id (its position in content order), when frozen.
    pub fn rank(&self, id: u32) -> Option<u32> {
        self.rank.get(id as usize).copied()
    }

    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Whether `x` is interned as a float (not integral: integral floats are integers).
fn is_float_cell(x: f64) -> bool {
    matches!(Value::from_f64(x), Value::Float(_))
}

/// The union of two ascending sequences, ascending.
fn merge<T: Copy>(
    a: impl IntoIterator<Item = T>,
    b: impl IntoIterator<Item = T>,
    less: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    let mut out = Vec::with_capacity(a.size_hint().0 + b.size_hint().0);
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => !less(y, x),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.push(if take_a { a.next() } else { b.next() }.expect("peeked"));
    }
}

/// The bits of a float as an unsigned integer in the float's order (negatives reversed).
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

fn from_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Sorts `keys` ascending, carrying `vals` along: least significant byte first, skipping
/// the bytes every key shares (the sign and exponent of values of one scale). Stable.
/// Inside a pool of several threads (the engine's), the most significant varying byte
/// splits the keys first and the buckets sort in parallel: same order, fewer seconds for
/// the tens of millions of cells of a dense feature table.
fn radix_sort(keys: &mut Vec<u64>, vals: &mut Vec<u64>) {
    use rayon::prelude::*;
    let n = keys.len();
    if crate::ground::pool_threads() == 1 || n < 1 << 16 {
        return lsd_sort(keys, vals);
    }
    let counts = keys.par_chunks(1 << 16).map(byte_counts).reduce(
        || [[0usize; 256]; 8],
        |mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.iter_mut().zip(y).for_each(|(p, q)| *p += q);
            }
            a
        },
    );
    let Some(top) = (0..8).rev().find(|&d| !counts[d].contains(&n)) else {
        return; // all keys equal
    };
    let (mut k2, mut v2) = (vec![0u64; n], vec![0u64; n]);
    scatter(keys, vals, &mut k2, &mut v2, top, &counts[top]);
    let mut buckets = vec![];
    let (mut kr, mut vr) = (&mut k2[..], &mut v2[..]);
    for &c in &counts[top] {
        let (k, krest) = kr.split_at_mut(c);
        let (v, vrest) = vr.split_at_mut(c);
        if c > 1 {
            buckets.push((k, v));
        }
        (kr, vr) = (krest, vrest);
    }
    buckets.into_par_iter().for_each(|(k, v)| {
        let (mut kb, mut vb) = (k.to_vec(), v.to_vec());
        lsd_sort(&mut kb, &mut vb);
        k.copy_from_slice(&kb);
        v.copy_from_slice(&vb);
    });
    *keys = k2;
    *vals = v2;
}

/// Occurrences of each value of each byte.
fn byte_counts(keys: &[u64]) -> [[usize; 256]; 8] {
    let mut counts = [[0usize; 256]; 8];
    for &k in keys {
        for (d, c) in counts.iter_mut().enumerate() {
            c[(k >> (8 * d)) as usize & 255] += 1;
        }
    }
    counts
}

/// One stable counting pass on byte `d`.
fn scatter(keys: &[u64], vals: &[u64], k2: &mut [u64], v2: &mut [u64], d: usize, c: &[usize; 256]) {
    let mut start = [0usize; 256];
    for b in 1..256 {
        start[b] = start[b - 1] + c[b - 1];
    }
    for (&k, &v) in keys.iter().zip(vals) {
        let b = (k >> (8 * d)) as usize & 255;
        k2[start[b]] = k;
        v2[start[b]] = v;
        start[b] += 1;
    }
}

fn lsd_sort(keys: &mut Vec<u64>, vals: &mut Vec<u64>) {
    let n = keys.len();
    let counts = byte_counts(keys);
    let (mut k2, mut v2) = (vec![0u64; n], vec![0u64; n]);
    for (d, c) in counts.iter().enumerate() {
        if c.contains(&n) {
            continue;
        }
        scatter(keys, vals, &mut k2, &mut v2, d, c);
        std::mem::swap(keys, &mut k2);
        std::mem::swap(vals, &mut v2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_an_id() {
        let mut d = Dict::default();
        let a = d.intern(&Value::parse("1"));
        let b = d.intern(&Value::parse("1.0"));
        let c = d.intern(&Value::parse("x"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            d.intern_columns(&[&Column::Int(vec![1, 2])]),
            vec![vec![a, 2]]
        );
        assert_eq!(d.value(c), &Value::parse("x"));
    }

    #[test]
    fn float_columns_intern_by_sorting() {
        let mut d = Dict::default();
        let xs = vec![0.5, -2.25, 3.0, 0.5, -0.0, 1e-300, -1e300, 0.1, -2.25];
        let ids = d.intern_columns(&[&Column::Float(xs.clone()), &Column::Int(vec![3, 0])]);
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(d.value(ids[0][i]), &Value::from_f64(x), "cell {i}");
            assert_eq!(d.id(&Value::from_f64(x)), Some(ids[0][i]));
            assert_eq!(d.intern(&Value::from_f64(x)), ids[0][i]);
        }
        assert_eq!(ids[0][0], ids[0][3]);
        assert_eq!(ids[0][1], ids[0][8]);
        assert_eq!(ids[1], vec![ids[0][2], ids[0][4]]);
        assert_eq!(d.len(), 7);
        // A second batch and later single values find the first batch's ids.
        let again = d.intern_columns(&[&Column::Float(vec![0.1, 7.5])]);
        assert_eq!(again[0][0], ids[0][7]);
        assert_eq!(d.value(again[0][1]), &Value::Float(7.5));
        let mut keys: Vec<u64> = xs.iter().map(|&x| order_key(x)).collect();
        let mut at: Vec<u64> = (0..keys.len() as u64).collect();
        radix_sort(&mut keys, &mut at);
        let sorted: Vec<f64> = keys.iter().map(|&k| from_order_key(k)).collect();
        let mut want = xs.clone();
        want.sort_by(f64::total_cmp);
        assert_eq!(sorted, want);
        assert_eq!(at[0], 6);
    }

    /// The parallel split (inside a pool) gives the sequential, stable order.
    #[test]
    fn radix_sort_in_a_pool_is_the_sequential_sort() {
        let mut z = 0x1234_5678u64;
        let keys: Vec<u64> = (0..200_000)
            .map(|i| {
                z = z
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Few distinct values (stability shows) spread over the top bytes.
                let x = ((z >> 33) % 5000) as f64 * if i % 3 == 0 { -0.37 } else { 1.9 };
                order_key(x)
            })
            .collect();
        let (mut k1, mut v1) = (keys.clone(), (0..keys.len() as u64).collect::<Vec<_>>());
        lsd_sort(&mut k1, &mut v1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let (mut k2, mut v2) = (keys.clone(), (0..keys.len() as u64).collect::<Vec<_>>());
        pool.install(|| radix_sort(&mut k2, &mut v2));
        assert!(k1.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((k1, v1), (k2, v2));
    }

    #[test]
    fn freeze_ranks_in_content_order() {
        let mut d = Dict::default();
        let texts = [
            "b", "2.5", "-3", "a", "10", "-0.5", "2", "1e300", "-1e300", "3",
        ];
        let ids: Vec<u32> = texts.iter().map(|t| d.intern(&Value::parse(t))).collect();
        assert_eq!(d.intern(&Value::parse("2.5")), ids[1]);
        d.freeze();
        let mut by_rank: Vec<&str> = texts.to_vec();
        by_rank.sort_by_key(|t| d.rank(d.id(&Value::parse(t)).unwrap()).unwrap());
        assert_eq!(
            by_rank,
            [
                "-1e300", "-3", "-0.5", "2", "2.5", "3", "10", "1e300", "a", "b"
            ]
        );
    }
}
