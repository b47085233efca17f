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

#[derive(Default, Debug)]
pub struct Dict {
    values: Vec<Value>,
    ids: HashMap<Value, u32>,
    /// Fast paths for numbers (integer ids, float measurements): no SipHash, no `Value`.
    ints: FxMap<i64, u32>,
    floats: FxMap<u64, u32>,
    /// `rank[id]`: the value's position in content order, once frozen.
    rank: Vec<u32>,
}

impl Dict {
    pub fn intern(&mut self, v: &Value) -> u32 {
        match v {
            Value::Int(i) => return self.intern_int(*i),
            // Normalised floats are finite and not integral: their bits are canonical.
            Value::Float(x) => {
                if let Some(&id) = self.floats.get(&x.to_bits()) {
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

    pub fn intern_column(&mut self, c: &Column) -> Vec<u32> {
        match c {
            Column::Int(xs) => xs.iter().map(|&i| self.intern_int(i)).collect(),
            _ => (0..c.len()).map(|i| self.intern(&c.get(i))).collect(),
        }
    }

    /// The id of a value already interned.
    pub fn id(&self, v: &Value) -> Option<u32> {
        match v {
            Value::Int(i) => self.ints.get(i).copied(),
            Value::Float(x) => self.floats.get(&x.to_bits()).copied(),
            v => self.ids.get(v).copied(),
        }
    }

    /// Ranks every value in content order (numbers, then strings), so that comparisons are
    /// integer comparisons. Values interned later compare by value.
    pub fn freeze(&mut self) {
        // Each kind sorted by its own cheap key (millions of float measurements are common),
        // then integers and floats merged in numeric order, strings last.
        let (mut ints, mut floats, mut strs) = (vec![], vec![], vec![]);
        for (id, v) in self.values.iter().enumerate() {
            match v {
                Value::Int(i) => ints.push((*i, id as u32)),
                Value::Float(x) => floats.push((*x, id as u32)),
                Value::Str(_) => strs.push(id as u32),
            }
        }
        ints.sort_unstable();
        floats.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        strs.sort_unstable_by(|&a, &b| self.values[a as usize].cmp(&self.values[b as usize]));
        let mut order = Vec::with_capacity(self.values.len());
        let (mut i, mut f) = (0, 0);
        while i < ints.len() || f < floats.len() {
            let take_int = f == floats.len()
                || (i < ints.len()
                    && self.values[ints[i].1 as usize] < self.values[floats[f].1 as usize]);
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
        assert_eq!(d.intern_column(&Column::Int(vec![1, 2])), vec![a, 2]);
        assert_eq!(d.value(c), &Value::parse("x"));
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
